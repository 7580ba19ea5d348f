"""Darcy flow -div(a grad u) = f on the unit square, u = 0 on the boundary."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from dgno.nn.multionet import Jet
from dgno.pdes.base import Constraint, FieldSpec, InputSpec, field_output, unit_box
from dgno.weak.assembly import WeakPoints
from dgno.weak.layouts import BallLayout, WeakOptions


def sine_multiplier(x: Tensor, order: int) -> Jet:
    """M(x, y) = sin(pi x) sin(pi y), zero on the boundary of the unit square, with derivatives.

    x: (N, 2) -> value (N,), grad (N, 2), hess (N, 2, 2) (as ``order`` asks).
    """
    sx, sy = torch.sin(math.pi * x[:, 0]), torch.sin(math.pi * x[:, 1])
    cx, cy = torch.cos(math.pi * x[:, 0]), torch.cos(math.pi * x[:, 1])
    grad = hess = None
    if order >= 1:
        grad = math.pi * torch.stack([cx * sy, sx * cy], dim=-1)  # (N, 2)
    if order >= 2:
        dxy = math.pi**2 * cx * cy
        hess = torch.stack(
            [torch.stack([-(math.pi**2) * sx * sy, dxy], -1), torch.stack([dxy, -(math.pi**2) * sx * sy], -1)], -2
        )  # (N, 2, 2)
    return Jet(sx * sy, grad, hess)


def nearest_node(a_nodes: Tensor, x: Tensor) -> Tensor:
    """Value of the nearest of the n x n nodes (the two-phase convention): (B, n, n), (N, 2) -> (B, N)."""
    n = a_nodes.shape[-1]
    ij = torch.round(x * (n - 1)).long().clamp_(0, n - 1)  # (N, 2)
    return a_nodes[:, ij[:, 0], ij[:, 1]]


def _catmull_rom(t: Tensor) -> Tensor:
    """Cubic-convolution weights (Keys, a = -1/2; third order) of the 4 nodes around t in [0, 1): (N,) -> (N, 4)."""
    t2, t3 = t * t, t * t * t
    weights = [(-t3 + 2 * t2 - t) / 2, (3 * t3 - 5 * t2 + 2) / 2, (-3 * t3 + 4 * t2 + t) / 2, (t3 - t2) / 2]
    return torch.stack(weights, -1)


def bicubic(a_nodes: Tensor, x: Tensor) -> Tensor:
    """Bicubic (Catmull-Rom) interpolation of nodal values: (B, n, n), (N, 2) -> (B, N).

    Third-order accurate for smooth fields, exact at the nodes; one ghost layer on each side comes
    from cubic extrapolation f_-1 = 3 f_0 - 3 f_1 + f_2 (Keys 1981), so the order holds up to the
    boundary.
    """
    n = a_nodes.shape[-1]
    ghost_lo = 3 * a_nodes[:, :1] - 3 * a_nodes[:, 1:2] + a_nodes[:, 2:3]  # (B, 1, n)
    ghost_hi = 3 * a_nodes[:, -1:] - 3 * a_nodes[:, -2:-1] + a_nodes[:, -3:-2]
    f = torch.cat([ghost_lo, a_nodes, ghost_hi], 1)  # (B, n + 2, n)
    f = torch.cat([3 * f[:, :, :1] - 3 * f[:, :, 1:2] + f[:, :, 2:3], f,
                   3 * f[:, :, -1:] - 3 * f[:, :, -2:-1] + f[:, :, -3:-2]], 2)  # (B, n + 2, n + 2)
    s = x * (n - 1)  # (N, 2) in node units
    i0 = s.floor().long().clamp_(0, n - 2)  # (N, 2) the node left of / below each point
    w = _catmull_rom(s - i0)  # (N, 2, 4) weights along x and y
    out = 0
    for i in range(4):  # padded index of node i0 - 1 + i is i0 + i
        rows = f[:, i0[:, 0] + i]  # (B, N, n + 2)
        for j in range(4):
            cols = (i0[:, 1] + j).expand(f.shape[0], -1)[..., None]  # (B, N, 1)
            out = out + w[:, 0, i] * w[:, 1, j] * rows.gather(2, cols)[..., 0]
    return out  # (B, N)


def read_coefficient(a_nodes: Tensor, x: Tensor, interpolation: str) -> Tensor:
    """Nodal a (B, n, n) at points (N, 2) -> (B, N), by 'nearest' node or 'bicubic' interpolation."""
    if interpolation == "nearest":
        return nearest_node(a_nodes, x)
    if interpolation == "bicubic":
        return bicubic(a_nodes, x)
    raise ValueError(f"interpolation must be 'nearest' or 'bicubic', got {interpolation!r}")


_SQUARE = unit_box(2)
_ZERO_ON_BOUNDARY = Constraint(sine_multiplier)


class _DarcyProblem:
    """What both Darcy forms share: the unit square, a positive interior coefficient, u = 0 on the boundary."""

    domain = _SQUARE
    input = InputSpec("coefficient", positive=True)
    outputs = (field_output("u"),)
    interpolation: str

    def weak_layout(self, options: WeakOptions) -> BallLayout:
        return BallLayout.build(options, lower=self.domain.lower, upper=self.domain.upper)

    def coefficient(self, a_nodes: Tensor, x: Tensor) -> Tensor:
        return read_coefficient(a_nodes, x, self.interpolation)

    # ---------------------------------------------------- what the grid baselines (PINO, FNO, ...) read
    source: float
    grid_schemes = ("fd", "fd-central")  # the residuals of grid_residual (GRID_RESIDUALS), by name

    def grid_input(self, a_nodes: Tensor, x_a: Tensor, x_u: Tensor) -> Tensor:
        """The coefficient on the solution grid (the FNO's input): a itself, u living on a's n x n nodes.

        a_nodes (B, n, n), x_a (n, n, 2), x_u (n, n, 2) -> (B, n, n); ValueError on another solution grid.
        """
        if tuple(a_nodes.shape[1:]) != tuple(x_u.shape[:-1]):
            raise ValueError(f"a grid model of Darcy predicts on its input grid {tuple(a_nodes.shape[1:])} only, "
                             f"not on {tuple(x_u.shape[:-1])}")
        return a_nodes

    def grid_residual(self, u: Tensor, a_nodes: Tensor, x_u: Tensor, scheme: str = "fd") -> Tensor:
        """The finite-difference residual ``scheme`` of GRID_RESIDUALS at inner nodes: u, a (B, n, n) -> (B, m, m).

        "fd": :func:`darcy_fd_residual` (m = n - 2); "fd-central": :func:`darcy_fd_residual_central` (m = n - 4).
        """
        if scheme not in GRID_RESIDUALS:
            raise ValueError(f"unknown grid residual {scheme!r}; choose one of {', '.join(GRID_RESIDUALS)}")
        if u.shape != a_nodes.shape:
            raise ValueError(f"the grid residual needs u and a on the same grid, got {tuple(u.shape)}, "
                             f"{tuple(a_nodes.shape)}")
        return GRID_RESIDUALS[scheme](u, a_nodes, self.source)

    def grid_solution(self, a_nodes: Tensor, x_u: Tensor) -> Tensor:
        """The exact solution of the "fd" grid residual (:func:`darcy_fd_solve`): (B, n, n) -> (B, n, n)."""
        return darcy_fd_solve(a_nodes, self.source)


@dataclass(frozen=True)
class Darcy(_DarcyProblem):
    """Standard weak form for smooth a: r_j = <a grad u . grad w_j - f w_j>_j (ball averages).

    The residual term is sum_j r_j^2 per sample; u = sin(pi x) sin(pi y) N(x) is exact on the boundary.
    """

    source: float = 10.0
    interpolation: str = "bicubic"  # how a is read between nodes: "bicubic" or "nearest"

    fields = (FieldSpec("u", order=1, constraint=_ZERO_ON_BOUNDARY),)
    terms = ("weak",)

    def residuals(self, fields: dict[str, Jet], a: Tensor, points: WeakPoints) -> dict[str, Tensor]:
        u = fields["u"]
        flux = a[..., None] * u.grad  # (B, P, Q, 2)
        weak = points.average((flux * points.grad_v).sum(-1) - self.source * points.v)  # (B, P)
        return {"weak": (weak**2).sum(-1)}


@dataclass(frozen=True)
class DarcyMixed(_DarcyProblem):
    """Mixed form for two-phase a: flux s = a grad u as its own network (continuous normal flux).

    weak:         r_j = <s . grad w_j - f w_j>_j, term sum_j r_j^2
    constitutive: c_j = <|s - a grad u|^2>_j,      term sum_j c_j
    """

    source: float = 10.0
    interpolation: str = "nearest"

    fields = (
        FieldSpec("u", order=1, constraint=_ZERO_ON_BOUNDARY),
        FieldSpec("s1", order=0),
        FieldSpec("s2", order=0),
    )
    terms = ("weak", "constitutive")

    def residuals(self, fields: dict[str, Jet], a: Tensor, points: WeakPoints) -> dict[str, Tensor]:
        s = torch.stack([fields["s1"].value, fields["s2"].value], dim=-1)  # (B, P, Q, 2)
        weak = points.average((s * points.grad_v).sum(-1) - self.source * points.v)  # (B, P)
        mismatch = ((s - a[..., None] * fields["u"].grad) ** 2).sum(-1)  # (B, P, Q)
        return {"weak": (weak**2).sum(-1), "constitutive": points.average(mismatch).sum(-1)}


def darcy_fd_residual(u: Tensor, a: Tensor, source: float = 10.0) -> Tensor:
    """Strong-form finite-difference residual of -div(a grad u) = f at the interior nodes of a grid.

    u, a: nodal values (B, n, n) on the unit square ('ij' indexing, h = 1/(n - 1)) -> (B, n - 2, n - 2).
    The same 5-point scheme with harmonic-mean faces as :class:`dgno.reference.DarcyFD`, so the
    reference solution on that grid has zero residual; differentiable in u and a (the residual of
    the grid-based physics-informed baselines, PINO and PI-DeepONet on the grid).
    """
    h2 = (1.0 / (u.shape[-1] - 1)) ** 2
    kx = 2 * a[:, 1:, :] * a[:, :-1, :] / (a[:, 1:, :] + a[:, :-1, :])  # (B, n-1, n) faces i+1/2
    ky = 2 * a[:, :, 1:] * a[:, :, :-1] / (a[:, :, 1:] + a[:, :, :-1])  # (B, n, n-1) faces j+1/2
    dx = u[:, 1:, :] - u[:, :-1, :]  # (B, n-1, n)
    dy = u[:, :, 1:] - u[:, :, :-1]  # (B, n, n-1)
    fx, fy = kx * dx, ky * dy  # fluxes times h
    div = (fx[:, 1:, 1:-1] - fx[:, :-1, 1:-1]) + (fy[:, 1:-1, 1:] - fy[:, 1:-1, :-1])  # (B, n-2, n-2)
    return -div / h2 - source


def darcy_fd_residual_central(u: Tensor, a: Tensor, source: float = 10.0) -> Tensor:
    """The reference baselines' finite-difference residual (digest §9.1): (B, n, n) -> (B, n - 4, n - 4).

    Central differences of u, times a at the nodes, central differences again:
    r = -(D_x(a D_x u) + D_y(a D_y u)) - f on the nodes two away from the boundary (25 x 25 of 29 x 29).
    Second order for smooth a, but its stencil spans 2h and couples only every other node, and across
    a jump of a it is not conservative; kept to reproduce the reference's PINO and PI-DeepONet.
    """
    two_h = 2.0 / (u.shape[-1] - 1)
    fx = a[:, 1:-1, :] * (u[:, 2:, :] - u[:, :-2, :]) / two_h  # (B, n-2, n) at rows 1..n-2
    fy = a[:, :, 1:-1] * (u[:, :, 2:] - u[:, :, :-2]) / two_h  # (B, n, n-2) at columns 1..n-2
    div = (fx[:, 2:, 2:-2] - fx[:, :-2, 2:-2]) / two_h + (fy[:, 2:-2, 2:] - fy[:, 2:-2, :-2]) / two_h
    return -div - source


# the grid residuals of the grid baselines (physics.residual), by name
GRID_RESIDUALS = {"fd": darcy_fd_residual, "fd-central": darcy_fd_residual_central}


def darcy_fd_solve(a: Tensor, source: float = 10.0) -> Tensor:
    """The grid solution of :func:`darcy_fd_residual` = 0: nodal a (B, n, n) -> u (B, n, n), zero on the boundary.

    What a grid-residual physics-informed model (PINO, PI-DeepONet on the grid) converges to at
    best; its distance to a finer reference solution is the floor of those methods' error.
    """
    b, n = a.shape[0], a.shape[-1]
    m = n - 2
    basis = torch.zeros(m * m, n, n, dtype=a.dtype, device=a.device)
    basis[:, 1:-1, 1:-1] = torch.eye(m * m, dtype=a.dtype, device=a.device).reshape(m * m, m, m)
    u = torch.zeros_like(a)
    for k in range(b):  # the residual is affine in u: its columns on the unit vectors give the matrix
        cols = darcy_fd_residual(basis, a[k].expand(m * m, n, n), 0.0).reshape(m * m, m * m)  # (unknown, row)
        rhs = torch.full((m * m,), float(source), dtype=a.dtype, device=a.device)
        u[k, 1:-1, 1:-1] = torch.linalg.solve(cols.T, rhs).reshape(m, m)
    return u
