"""Finite differences for -div(a grad u) = f on the unit square, u = 0 on the boundary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from dgno.fields.base import Field, unit_square_nodes


def as_nodal(f: Field | float, x: np.ndarray) -> np.ndarray:
    """A field or a constant evaluated at points x (..., 2)."""
    if callable(f):
        return np.asarray(f(x), dtype=float)
    return np.full(x.shape[:-1], float(f))


@dataclass(frozen=True)
class DarcyFD:
    """Vertex-centred 5-point scheme with harmonic-mean face coefficients.

    Unknowns are the nodal values on the n x n grid, h = 1/(n - 1). The flux through the face
    between neighbouring nodes P and E uses a_PE = 2 a_P a_E / (a_P + a_E), the exact conductance
    of two layers of a_P and a_E in series, so the scheme is second order in L2 for smooth a and
    stays conservative and accurate for piecewise-constant a whose interfaces lie on the faces
    of the control volumes (the lines halfway between nodes). For a nearest-node field of the
    N x N output grid that is the case when n - 1 = (N - 1) * m with m odd.

    Order of accuracy: 2 (discrete L2, smooth a and f).
    """

    order: ClassVar[float] = 2.0
    refine_parity: ClassVar[str] = "odd"  # pixel edges of a nearest-node field fall halfway

    def solve(self, a: Field, f: Field | float, n: int) -> np.ndarray:
        """Nodal solution (n, n) on the unit-square grid ('ij' indexing), zero on the boundary."""
        if n < 3:
            raise ValueError(f"need at least 3 nodes per side, got {n}")
        x = unit_square_nodes(n)  # (n, n, 2)
        an = as_nodal(a, x)  # (n, n)
        h2 = (1.0 / (n - 1)) ** 2
        kx = 2 * an[1:, :] * an[:-1, :] / (an[1:, :] + an[:-1, :]) / h2  # (n-1, n) faces i+1/2
        ky = 2 * an[:, 1:] * an[:, :-1] / (an[:, 1:] + an[:, :-1]) / h2  # (n, n-1) faces j+1/2
        m = n - 2  # interior unknowns per side, numbered k = (i-1) * m + (j-1)
        west, east = kx[:-1, 1:-1], kx[1:, 1:-1]  # (m, m) faces i-1/2 and i+1/2 of node (i, j)
        south, north = ky[1:-1, :-1], ky[1:-1, 1:]  # (m, m) faces j-1/2 and j+1/2
        idx = np.arange(m * m).reshape(m, m)
        rows = [idx.ravel()]
        cols = [idx.ravel()]
        vals = [(west + east + south + north).ravel()]
        for coef, src, dst in (
            (east[:-1, :], idx[:-1, :], idx[1:, :]),  # (i, j) -> (i+1, j)
            (north[:, :-1], idx[:, :-1], idx[:, 1:]),  # (i, j) -> (i, j+1)
        ):
            rows += [src.ravel(), dst.ravel()]
            cols += [dst.ravel(), src.ravel()]
            vals += [-coef.ravel(), -coef.ravel()]
        matrix = sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * m,) * 2
        )
        rhs = as_nodal(f, x[1:-1, 1:-1]).ravel()
        u = np.zeros((n, n))
        u[1:-1, 1:-1] = spsolve(matrix, rhs, permc_spec="MMD_AT_PLUS_A").reshape(m, m)
        return u
