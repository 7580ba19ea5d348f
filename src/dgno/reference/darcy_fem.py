"""P1 finite elements (scikit-fem) for -div(a grad u) = f on the unit square, u = 0 on the boundary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import skfem
from skfem.helpers import dot, grad

from dgno.fields.base import Field


def _at_quadrature(f: Field | float, basis: skfem.Basis) -> np.ndarray:
    """A field or a constant at the quadrature points of ``basis``: (n_elem, n_qp)."""
    x = np.moveaxis(np.asarray(basis.global_coordinates()), 0, -1)  # (n_elem, n_qp, 2)
    if callable(f):
        return np.asarray(f(x), dtype=float)
    return np.full(x.shape[:-1], float(f))


@skfem.BilinearForm
def _stiffness(u, v, w):
    return w["a"] * dot(grad(u), grad(v))


@skfem.LinearForm
def _load(v, w):
    return w["f"] * v


@dataclass(frozen=True)
class DarcyFEM:
    """Conforming P1 elements on the uniform n x n grid, each square cut into two triangles.

    The coefficient and the source are evaluated at the quadrature points (``intorder``), so a
    piecewise-constant a whose interfaces lie on mesh lines is integrated exactly. For a
    nearest-node field of the N x N output grid the pixel edges are mesh lines when
    n - 1 = (N - 1) * m with m even.

    Order of accuracy: 2 in L2, 1 in H1 (smooth a and f).
    """

    intorder: int = 4
    order: ClassVar[float] = 2.0
    refine_parity: ClassVar[str] = "even"  # pixel edges of a nearest-node field are mesh lines

    def basis(self, n: int) -> skfem.Basis:
        t = np.linspace(0.0, 1.0, n)
        return skfem.Basis(skfem.MeshTri.init_tensor(t, t), skfem.ElementTriP1(), intorder=self.intorder)

    def solve_dofs(self, a: Field, f: Field | float, basis: skfem.Basis) -> np.ndarray:
        """The P1 degrees of freedom (one per mesh vertex)."""
        stiffness = _stiffness.assemble(basis, a=_at_quadrature(a, basis))
        load = _load.assemble(basis, f=_at_quadrature(f, basis))
        return skfem.solve(*skfem.condense(stiffness, load, D=basis.get_dofs()))

    def solve(self, a: Field, f: Field | float, n: int) -> np.ndarray:
        """Nodal solution (n, n) on the unit-square grid ('ij' indexing), zero on the boundary."""
        if n < 3:
            raise ValueError(f"need at least 3 nodes per side, got {n}")
        basis = self.basis(n)
        dofs = self.solve_dofs(a, f, basis)
        ij = np.rint(basis.mesh.p * (n - 1)).astype(np.int64)  # (2, n_vertices)
        u = np.empty((n, n))
        u[ij[0], ij[1]] = dofs
        return u
