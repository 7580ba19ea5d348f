"""Training and validation data as tensors; physics-only runs never read training solutions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dgno.errors import DgnoError
from dgno.reference.dataset import Dataset, load_h5
from dgno.training.stream import H5Rows, load_h5_rows, should_stream


@dataclass
class TrainData:
    a: Tensor | H5Rows  # (N, *grid_a) training inputs (H5Rows: streamed from train.h5)
    u: Tensor | H5Rows | None  # (N, *grid_u) only when some samples are labeled
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
                       n_labeled: int = 0, memory_budget_mb: float | None = None) -> TrainData:
    """train.h5 (inputs; solutions only for the first ``n_labeled``) and val.h5 of ``folder`` as tensors.

    Training arrays larger than ``memory_budget_mb`` (None: 2048 MB; 0: always) stay in train.h5 and are read batch
    by batch (:class:`~dgno.training.stream.H5Rows`); validation arrays are always loaded.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DgnoError(f"data.dir {folder}: no such folder (generate it with 'dgno generate')")
    labeled = n_labeled > 0
    stream = should_stream(folder / "train.h5", n=n_train, with_u=labeled, memory_budget_mb=memory_budget_mb)
    train = (load_h5_rows if stream else load_h5)(folder / "train.h5", require_u=labeled, read_u=labeled)
    val = load_h5(folder / "val.h5", require_u=True)
    for ds, name in ((train, "train.h5"), (val, "val.h5")):
        check_preset(ds, preset, str(folder / name))
    n = len(train) if n_train is None else n_train
    for ds, name in ((train, "train.h5"), (val, "val.h5")):
        if len(ds) == 0:
            raise DgnoError(f"{folder / name}: holds no samples")
    if not 1 <= n <= len(train):
        raise DgnoError(f"data.n_train={n_train} but {folder / 'train.h5'} holds {len(train)} inputs")
    if not 0 <= n_labeled <= n:
        raise DgnoError(f"data.n_labeled={n_labeled} must be in [0, {n}] (the training inputs)")
    if labeled and tuple(train.u.shape[1:]) != tuple(val.u.shape[1:]):
        raise DgnoError(f"{folder}: the solutions of train.h5 {tuple(train.u.shape[1:])} and val.h5 "
                        f"{tuple(val.u.shape[1:])} differ in shape")
    if not np.array_equal(train.x_a, val.x_a) or not np.array_equal(train.x_u, val.x_u):
        raise DgnoError(f"{folder}: train.h5 and val.h5 use different grids")
    mask = torch.zeros(n, dtype=torch.bool)
    mask[:n_labeled] = True
    triangles = val.extras.get("triangles")
    as_t = torch.from_numpy
    return TrainData(
        a=train.a.first(n) if stream else as_t(train.a[:n]),
        u=(train.u.first(n) if stream else as_t(train.u[:n])) if labeled else None,
        labeled=mask,
        x_a=as_t(train.x_a),
        x_u=as_t(train.x_u),
        val_a=as_t(val.a),
        val_u=as_t(val.u),
        preset=train.attrs.get("preset"),
        triangles=None if triangles is None else as_t(np.asarray(triangles, dtype=np.int64)),
    )
