"""Training from Python: ``run = dgno.train("darcy_pwc_quick", out="runs/nb")``, then ``op = run.load()``."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dgno.config.schema import Config, load_config
from dgno.operator import Operator, load


@dataclass(frozen=True)
class Run:
    """A finished training: its folder (config, checkpoints, metrics, plots, calibration) and its summary."""

    path: Path
    summary: dict[str, Any]

    def load(self, *, checkpoint: str = "best", device: str = "cpu") -> Operator:
        """The trained operator (:func:`dgno.load` of this run)."""
        return load(self.path, checkpoint=checkpoint, device=device)


def train(config: str | os.PathLike | Config, *, out: str | os.PathLike, overrides: Sequence[str] = (),
          resume: bool = False, progress: bool = False, log: Callable[[str], None] = print) -> Run:
    """Train the model of a config (what ``dgno train CONFIG OVERRIDES --out OUT`` does).

    Parameters
    ----------
    config : path, shipped config name, or Config
        A YAML file, the name of a shipped config (``"darcy_pwc_quick"``; :func:`dgno.config.shipped_configs`), or a
        :class:`~dgno.config.schema.Config` object.
    out : path
        The run folder to write.
    overrides : list of str
        Dotted overrides, e.g. ``["train.max_minutes=2", "data.dir=data/pwc"]``.
    resume : bool
        Continue from ``OUT/last.pt``.

    Returns
    -------
    Run
        ``run.path``, ``run.summary`` (steps, seconds, best validation error, ...) and ``run.load()``.
    """
    from dgno.config.build import run_training
    from dgno.config.schema import apply_overrides, check_config, from_dict, to_dict

    if isinstance(config, Config):
        cfg = check_config(from_dict(Config, apply_overrides(to_dict(config), list(overrides))))
    else:
        cfg = load_config(config, list(overrides))
    summary = run_training(cfg, out, resume=resume, progress=progress, log=log)
    return Run(Path(out), summary)
