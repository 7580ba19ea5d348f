"""Complete, atomic checkpoints: model, optimiser, scheduler, step, RNG states, config, version."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from dgno.atomic import atomic_path
from dgno.errors import DgnoError


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any], *, keep_previous: bool = False) -> Path:
    """torch.save to a temporary file in the same folder, then rename (never a half-written file).

    ``keep_previous`` first renames an existing ``<name>.pt`` to ``<name>.prev.pt``, so that a run can still resume
    from the one before if the newest is ever lost or damaged (see dgno.training.loop.load_resumable).
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
        if keep_previous and path.exists():
            os.replace(path, path.with_name(f"{path.stem}.prev{path.suffix}"))
    return path


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with weights_only=True (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise DgnoError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated or foreign file: report it in one line
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise DgnoError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {reason})") from None
