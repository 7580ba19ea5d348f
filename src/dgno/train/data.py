"""Training and validation data as tensors; physics-only runs never read training solutions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dgno.errors import DgnoError
from dgno.reference.dataset import Dataset, load_h5


@dataclass
class TrainData:
    a: Tensor  # (N, *grid_a) training inputs
    u: Tensor | None  # (N, *grid_u) only when some samples are labeled
    labeled: Tensor  # (N,) bool
    x_a: Tensor  # (*grid_a, d)
    x_u: Tensor  # (*grid_u, d)
    val_a: Tensor  # (M, *grid_a)
    val_u: Tensor  # (M, *grid_u[, C])
    preset: str | None
    triangles: Tensor | None = None  # (T, 3) vertex indices of x_u when the solution lives on a mesh


def check_preset(ds: Dataset, expected: str | None, source: str) -> None:
    found = ds.attrs.get("preset")
    if expected is not None and found != expected:
        raise DgnoError(f"{source}: data preset is {found!r}, but the config expects {expected!r}")


def load_training_data(folder: str | Path, *, preset: str | None = None, n_train: int | None = None,
                       n_labeled: int = 0) -> TrainData:
    """train.h5 (inputs; solutions only for the first ``n_labeled``) and val.h5 of ``folder`` as tensors."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DgnoError(f"data.dir {folder}: no such folder (generate it with 'dgno generate')")
    labeled = n_labeled > 0
    train = load_h5(folder / "train.h5", require_u=labeled, read_u=labeled)
    val = load_h5(folder / "val.h5", require_u=True)
    for ds, name in ((train, "train.h5"), (val, "val.h5")):
        check_preset(ds, preset, str(folder / name))
    n = len(train) if n_train is None else n_train
    if not 1 <= n <= len(train):
        raise DgnoError(f"data.n_train={n_train} but {folder / 'train.h5'} holds {len(train)} inputs")
    if n_labeled > n:
        raise DgnoError(f"data.n_labeled={n_labeled} exceeds the {n} training inputs")
    if not np.array_equal(train.x_a, val.x_a) or not np.array_equal(train.x_u, val.x_u):
        raise DgnoError(f"{folder}: train.h5 and val.h5 use different grids")
    mask = torch.zeros(n, dtype=torch.bool)
    mask[:n_labeled] = True
    triangles = val.extras.get("triangles")
    as_t = torch.from_numpy
    return TrainData(
        a=as_t(train.a[:n]),
        u=as_t(train.u[:n]) if labeled else None,
        labeled=mask,
        x_a=as_t(train.x_a),
        x_u=as_t(train.x_u),
        val_a=as_t(val.a),
        val_u=as_t(val.u),
        preset=train.attrs.get("preset"),
        triangles=None if triangles is None else as_t(np.asarray(triangles, dtype=np.int64)),
    )
