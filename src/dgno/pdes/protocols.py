"""What the baselines ask of a problem, declared: typed protocols instead of attribute probes.

A problem (:class:`dgno.pdes.base.Problem`) serves DGNO with its weak form alone. The baselines of ``dgno bench``
need more, and each extra is one of these protocols; ``isinstance(problem, GridProblem)`` says whether a problem
has it (runtime-checkable: the methods must be there), and a type checker checks the signatures.

- :class:`GridProblem`: a finite-difference residual on the data's grid (PI-DeepONet, PI-MultiONet, PINO).
- :class:`OwnGridProblem`: the grid models run on a grid of the problem's own (Stokes: the channel's regular grid),
  not on the solution's nodes.
- :class:`GridBoundaryProblem`: boundary residuals on that grid (Stokes: no slip, inflow, outflow).
- :class:`StrongFormProblem` / :class:`StrongBoundaryProblem`: the pointwise residual of the PDE at collocation
  points (and at the boundary points), for the physics-informed operator networks.
- :class:`GridSolutionProblem`: the grid system's exact solution, the floor of a grid method (a linear PDE).
- :class:`SolutionFieldsProblem`: the fields a baseline predicts, when they are not the outputs themselves.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

from dgno.nn import Jet
from dgno.pdes.base import FieldSpec


@runtime_checkable
class GridProblem(Protocol):
    grid_schemes: tuple[str, ...]  # the names of grid_residual's schemes, e.g. ("fd", "fd-central")

    def grid_input(self, a: Tensor, x_a: Tensor, x_u: Tensor) -> Tensor:
        """The input on the grid of the solution (B, *grid[, c_in]) for a grid network."""
        ...

    def grid_residual(self, u: Tensor, a: Tensor | None, x_u: Tensor, scheme: str = "fd") -> Tensor:
        """The PDE's residual of grid values u (B, *grid[, C]) on the grid x_u: (B, ...)."""
        ...


@runtime_checkable
class OwnGridProblem(Protocol):
    def grid_nodes(self, x_u: Tensor) -> Tensor:
        """The grid (*grid_g, d) that the grid models work on, given the solution's nodes x_u."""
        ...


@runtime_checkable
class GridBoundaryProblem(Protocol):
    def grid_boundary_residuals(self, u: Tensor, a: Tensor, x_g: Tensor) -> dict[str, Tensor]:
        """Named boundary residuals (B, ...) of grid values u on the problem's grid."""
        ...


@runtime_checkable
class StrongFormProblem(Protocol):
    def strong_residual(self, fields: dict[str, Jet], a: Tensor | None) -> Tensor:
        """The pointwise residual (B, N) of the fields' jets at collocation points."""
        ...


@runtime_checkable
class StrongBoundaryProblem(Protocol):
    def strong_boundary_residuals(self, fields: dict[str, dict[str, Jet]], a: Tensor) -> dict[str, Tensor]:
        """Named pointwise residuals at the boundary parts' points (fields per boundary part)."""
        ...


@runtime_checkable
class GridSolutionProblem(Protocol):
    def grid_solution(self, a: Tensor, x_u: Tensor) -> Tensor:
        """The exact solution of the grid system for inputs a: (B, *grid)."""
        ...


@runtime_checkable
class SolutionFieldsProblem(Protocol):
    solution_fields: tuple[FieldSpec, ...]  # one per output, in the outputs' order
