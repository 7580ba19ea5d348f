"""Complete, atomic checkpoints: model, optimiser, scheduler, step, RNG states, config, version."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from dgno.errors import DgnoError


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """torch.save to a temporary file in the same folder, then rename (never a half-written file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
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
