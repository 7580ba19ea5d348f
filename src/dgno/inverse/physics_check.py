"""The physics check of an inversion: how far is the decoded solution of a posterior draw from the PDE's solution
for the same draw's input?

For draws k of the latent, the input a_k = E[a | beta_k] (Darcy: the coefficient; Burgers: the initial condition
u(x, 0)) is re-solved with the reference solver that made the data, u_ref(a_k), and compared with the decoded
G_u(beta_k) on the data's grid: relative L2 per draw. A small number says that the posterior's draws are
(approximately) solutions of the PDE, not only fits to the observations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dgno.fields.base import Field
from dgno.inverse.grids import NodalField


@dataclass(frozen=True)
class ReferenceSolve:
    """u for nodal values of the input: a (*grid_a) -> u (*grid_u[, C]) on the data's grid.

    ``solve(field)`` is a data preset's solve, returning (a at its nodes, u at its nodes) as in data generation;
    the nodal values become a field by :class:`NodalField` with ``method`` ("nearest": each node owns the pixel
    around it, the convention of two-phase inputs; "cubic" for smooth inputs).
    """

    solve: Callable[[Field], tuple[np.ndarray, np.ndarray]]
    x_a: np.ndarray  # (*grid_a, d_a)
    method: str = "cubic"

    def __call__(self, a_nodes: np.ndarray) -> np.ndarray:
        return np.asarray(self.solve(NodalField(self.x_a, np.asarray(a_nodes, dtype=float), self.method))[1],
                          dtype=float)


def reference_solve(preset, x_a: np.ndarray, *, piecewise_constant: bool) -> ReferenceSolve | None:
    """The re-solve of a data preset (an object with ``solve(field) -> (a, u)``), or None when it has none."""
    solve = getattr(preset, "solve", None)
    if not callable(solve):
        return None
    return ReferenceSolve(solve, np.asarray(x_a, dtype=float), "nearest" if piecewise_constant else "cubic")


def physics_check(model_u: np.ndarray, a_draws: np.ndarray, resolve: Callable[[np.ndarray], np.ndarray] | None,
                  n: int) -> dict:
    """Re-solve n posterior draws (evenly spaced over the draws) and compare.

    model_u (S, n_u, C): the decoded outputs of the draws at the data's nodes; a_draws (S, *grid_a). Returns
    ``model_error_u_mean``, ``_max``, ``_n`` and the seconds spent, or a note when there is no solver.
    """
    if n == 0:
        return {}
    if resolve is None:
        return {"physics_check": "skipped: no reference solver for this data (give --data of a known preset)"}
    pick = np.linspace(0, len(a_draws) - 1, min(n, len(a_draws))).round().astype(int)
    t0 = time.perf_counter()
    errs = []
    for k in pick:
        u_ref = resolve(a_draws[k])
        if u_ref.size != model_u[k].size:
            return {"physics_check": f"skipped: the reference solve gives {u_ref.shape}, the model "
                                     f"{model_u[k].shape}"}
        u = model_u[k].reshape(u_ref.shape)
        errs.append(float(np.linalg.norm(u - u_ref) / np.linalg.norm(u_ref)))
    return {"model_error_u_mean": float(np.mean(errs)), "model_error_u_max": float(np.max(errs)),
            "model_error_n": len(errs), "physics_check_seconds": time.perf_counter() - t0}
