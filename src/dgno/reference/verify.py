"""Independent re-solves of stored data: how well does a file's u solve the PDE for its a?"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from dgno.fields import NearestNodeField
from dgno.fields.base import Field
from dgno.reference.darcy_fd import DarcyFD
from dgno.reference.darcy_fem import DarcyFEM
from dgno.reference.dataset import Dataset


@dataclass(frozen=True)
class CubicNodalField:
    """Tensor-product cubic interpolation of values at the n x n nodes (for smooth coefficients)."""

    values: np.ndarray  # (n, n)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        t = np.linspace(0.0, 1.0, self.values.shape[0])
        interp = RegularGridInterpolator((t, t), self.values, method="cubic")
        x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
        return interp(x.reshape(-1, 2)).reshape(x.shape[:-1])


def nodal_coefficient(values: np.ndarray, interp: str) -> Field:
    """The coefficient field of nodal values: 'nearest' node (two-phase) or 'cubic' (smooth)."""
    if interp == "nearest":
        return NearestNodeField(values)
    if interp == "cubic":
        return CubicNodalField(values)
    raise ValueError(f"interp must be 'nearest' or 'cubic', got {interp!r}")


def default_interp(ds: Dataset) -> str:
    """Nearest node for two-phase data (the reference's convention), cubic otherwise."""
    return "nearest" if ds.attrs.get("field", {}).get("type") == "TwoPhaseField" else "cubic"


def _resolve_one(task: tuple[DarcyFD | DarcyFEM, int, float, np.ndarray, str]) -> np.ndarray:
    solver, refine, source, a_nodes, interp = task
    n = a_nodes.shape[0]
    u = solver.solve(nodal_coefficient(a_nodes, interp), source, (n - 1) * refine + 1)
    return u[::refine, ::refine]


def resolve(
    ds: Dataset,
    *,
    solver: DarcyFD | DarcyFEM,
    refine: int,
    interp: str,
    indices: Sequence[int],
    workers: int = 1,
) -> np.ndarray:
    """Re-solve the samples ``indices`` of ``ds`` from their nodal a: (len(indices), n, n)."""
    source = float(ds.attrs.get("source_f", 10.0))
    tasks = [(solver, refine, source, ds.a[i], interp) for i in indices]
    if workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return np.stack(list(pool.map(_resolve_one, tasks)))
    return np.stack([_resolve_one(t) for t in tasks])


def relative_l2(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per-sample relative L2 error over all non-sample axes: (N, ...) -> (N,)."""
    axes = tuple(range(1, true.ndim))
    return np.sqrt(((pred - true) ** 2).sum(axes) / (true**2).sum(axes))
