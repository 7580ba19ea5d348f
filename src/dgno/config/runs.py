"""Run folders: reload a trained model from its resolved config and a checkpoint (names -> objects, so here)."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from dgno.config.build import DTYPES, build_model
from dgno.config.schema import Config, from_dict
from dgno.errors import DgnoError
from dgno.models import DGNO
from dgno.reference.dataset import Dataset
from dgno.training.checkpoint import load_checkpoint


def load_run(run: str | Path, *, checkpoint: str = "best", device: str = "cpu") -> tuple[Config, DGNO, dict]:
    """(config, model in eval mode, checkpoint) of a run folder written by ``dgno train``."""
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise DgnoError(f"{run}: not a run folder (no config.yaml)")
    try:
        cfg = from_dict(Config, yaml.safe_load((run / "config.yaml").read_text()))
    except yaml.YAMLError as exc:
        raise DgnoError(f"{run / 'config.yaml'}: invalid YAML ({exc})") from None
    ck = load_checkpoint(run / f"{checkpoint}.pt", map_location=device)
    state = ck.get("ema", ck["model"])  # a run with train.ema: the averaged weights are the validated model
    model = build_model(cfg, x_a=state["x_a"], a_mean=state["a_mean"], a_std=state["a_std"])
    model.load_state_dict(state)
    dtype = DTYPES.get(cfg.train.dtype, torch.float32)
    if dtype != torch.float32:  # a float64 run as trained (Module.to(float32) would also make complex weights real)
        model.to(dtype=dtype)
    model.to(device).eval()
    return cfg, model, ck


def check_compatible(model: DGNO, ds: Dataset, ck: dict, source: str) -> None:
    """The data must be on the model's input grid and, when both say, of the run's preset."""
    if tuple(ds.x_a.shape) != tuple(model.x_a.shape) or not torch.allclose(
        torch.as_tensor(ds.x_a, dtype=model.x_a.dtype), model.x_a.cpu(), atol=1e-9
    ):
        raise DgnoError(f"{source}: input grid {tuple(ds.x_a.shape)} differs from the model's {tuple(model.x_a.shape)}")
    want, found = ck.get("data_preset"), ds.attrs.get("preset")
    if want and found and not (found == want or found.startswith(want)):
        raise DgnoError(f"{source}: data preset {found!r} does not match the run's {want!r}")
