"""Viscous Burgers u_t + u u_x = nu u_xx on x in [-1, 1], t in [0, 1], u(+-1, t) = 0, u(x, 0) = a(x).

The input a is the initial condition: it has no decoder of its own, p(a | beta) compares u(x, 0) with a at
the input nodes. The weak form is the reference's: weak in x on fixed time levels, strong in t,

    r_j = < (u_t + u u_x) w_j + nu u_x w_j' >_j = 0,

with 1-D Wendland test functions w_j of support [c_j - R, c_j + R] at time t_j (the viscous term integrated
by parts, w_j vanishing at the ends). u = cos(pi x / 2) N(x, t) is zero at x = +-1 exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from dgno.nn.multionet import Jet
from dgno.pdes.base import BoundaryPart, Constraint, Domain, FieldSpec, InputSpec, field_output
from dgno.weak.assembly import WeakPoints
from dgno.weak.layouts import SliceLayout, WeakOptions

NU = 0.1 / math.pi


def cosine_multiplier(x: Tensor, order: int) -> Jet:
    """M(x, t) = cos(pi x / 2), zero at x = +-1, with derivatives.

    x (N, 2) -> value (N,), grad (N, 2), hess (N, 2, 2) (as ``order`` asks)."""
    k = math.pi / 2
    c, s = torch.cos(k * x[:, 0]), torch.sin(k * x[:, 0])
    grad = hess = None
    if order >= 1:
        grad = torch.stack([-k * s, torch.zeros_like(s)], dim=-1)  # (N, 2)
    if order >= 2:
        hess = torch.zeros(*x.shape[:1], 2, 2, dtype=x.dtype, device=x.device)  # (N, 2, 2)
        hess[:, 0, 0] = -k * k * c
    return Jet(c, grad, hess)


def _at_time_zero(x: Tensor) -> Tensor:
    """Input nodes x (N, 1) -> the points (x, 0) (N, 2) where u equals the initial condition."""
    return torch.cat([x, torch.zeros_like(x)], dim=-1)


def _edge(x_value: float):
    def sample(n: int, generator: torch.Generator) -> Tensor:  # (n, 2) points (x_value, t), t ~ U[0, 1]
        t = torch.rand(n, 1, generator=generator, dtype=torch.float64, device=generator.device)
        return torch.cat([torch.full_like(t, x_value), t], dim=-1)
    return sample


def _initial(n: int, generator: torch.Generator) -> Tensor:  # (n, 2) points (x, 0), x ~ U[-1, 1]
    x = 2 * torch.rand(n, 1, generator=generator, dtype=torch.float64, device=generator.device) - 1
    return torch.cat([x, torch.zeros_like(x)], dim=-1)


DOMAIN = Domain(
    lower=(-1.0, 0.0),
    upper=(1.0, 1.0),
    axis_names=("x", "t"),
    boundaries=(
        BoundaryPart("left", _edge(-1.0)), BoundaryPart("right", _edge(1.0)), BoundaryPart("initial", _initial)
    ),
)


@dataclass(frozen=True)
class Burgers:
    """Burgers' equation in space-time (x, t): weak in x at ``levels`` time levels, strong in t."""

    nu: float = NU

    domain = DOMAIN
    input = InputSpec("initial", output="u", at=_at_time_zero)
    fields = (FieldSpec("u", order=1, constraint=Constraint(cosine_multiplier)),)
    outputs = (field_output("u"),)
    terms = ("weak",)

    def __post_init__(self) -> None:
        if not self.nu > 0:
            raise ValueError(f"Burgers: nu must be positive, got {self.nu}")

    def weak_layout(self, options: WeakOptions) -> SliceLayout:
        """``options.particles`` x-particles at each of ``options.levels`` equally spaced times in [0, 1]."""
        if options.levels < 1:
            raise ValueError(f"Burgers needs physics.levels >= 1, got {options.levels}")
        levels = tuple(torch.linspace(0.0, 1.0, options.levels, dtype=torch.float64).tolist())
        return SliceLayout.build(options, lower=(-1.0,), upper=(1.0,), levels=levels, axis=1)

    def coefficient(self, a: Tensor, x: Tensor) -> None:
        return None  # the residual does not read a: it enters through u(x, 0) only

    def residuals(self, fields: dict[str, Jet], a: Tensor | None, points: WeakPoints) -> dict[str, Tensor]:
        u = fields["u"]
        u_x, u_t = u.grad[..., 0], u.grad[..., 1]  # (B, P, Q)
        dv_dx = points.grad_v[..., 0]  # (P, Q)
        weak = points.average((u_t + u.value * u_x) * points.v + self.nu * u_x * dv_dx)  # (B, P)
        return {"weak": (weak**2).sum(-1)}

    def strong_residual(self, fields: dict[str, Jet], a: Tensor | None) -> Tensor:
        """u_t + u u_x - nu u_xx at collocation points (needs order 2): Jets over (B, N) -> (B, N)."""
        u = fields["u"]
        return u.grad[..., 1] + u.value * u.grad[..., 0] - self.nu * u.hess[..., 0, 0]

    # ------------------------------------------------------- what the grid baselines (PINO, FNO) read
    grid_schemes = ("fd",)  # the finite-difference residuals of grid_residual, by name

    def grid_input(self, a: Tensor, x_a: Tensor, x_u: Tensor) -> Tensor:
        """The initial condition as a field on the space-time grid: a(x) at every node, the same at all times.

        a (B, n_a) at the ascending nodes x_a (n_a, 1); x_u (*grid_u, 2) holds (x, t) -> (B, *grid_u), by linear
        interpolation in x (exact where the grid's x are input nodes, as in the data: x_u[i, j] = (x_j, t_i)).
        """
        return interpolate_1d(a, x_a[:, 0], x_u[..., 0].reshape(-1)).reshape(a.shape[0], *x_u.shape[:-1])

    def grid_residual(self, u: Tensor, a: Tensor | None, x_u: Tensor, scheme: str = "fd") -> Tensor:
        """Second-order finite-difference residual of u_t + u u_x - nu u_xx on the (t, x) grid.

        u (B, T, X) at the times t_0 .. t_{T-1} -> (B, T - 1, X - 2) at the rows 1 .. T - 1 and the inner columns.

        Rows 1 .. T - 2: central differences in t and x (:func:`burgers_fd_residual`); row T - 1 (t = 1): u_t by the
        second-order backward difference (3 u_{T-1} - 4 u_{T-2} + u_{T-3}) / (2 dt), which closes the system (central
        differences alone leave one time row free, the leapfrog scheme's computational mode). Row 0 (t = 0) belongs
        to the initial condition, not to the PDE: a is only C^1 there. x_u (T, X, 2) must be the uniform grid
        x_u[i, j] = (x_j, t_i); ``a`` is not read (it enters through u(x, 0) only).
        """
        if scheme not in self.grid_schemes:
            raise ValueError(f"Burgers: unknown grid residual {scheme!r}; choose one of {', '.join(self.grid_schemes)}")
        dx, dt = _uniform_steps(x_u)
        central = burgers_fd_residual(u, nu=self.nu, dx=dx, dt=dt)  # (B, T - 2, X - 2)
        last = u[:, -1, 1:-1]  # (B, X - 2)
        u_t = (3 * last - 4 * u[:, -2, 1:-1] + u[:, -3, 1:-1]) / (2 * dt)
        u_x = (u[:, -1, 2:] - u[:, -1, :-2]) / (2 * dx)
        u_xx = (u[:, -1, 2:] - 2 * last + u[:, -1, :-2]) / dx**2
        final = u_t + last * u_x - self.nu * u_xx  # (B, X - 2)
        return torch.cat([central, final[:, None]], dim=1)


def interpolate_1d(values: Tensor, nodes: Tensor, x: Tensor) -> Tensor:
    """Piecewise-linear interpolation of nodal values: (B, n) at ascending nodes (n,), at points x (N,) -> (B, N).

    Exact at the nodes; constant extrapolation outside [nodes[0], nodes[-1]].
    """
    i = torch.searchsorted(nodes.contiguous(), x.contiguous()).clamp_(1, nodes.shape[0] - 1)  # (N,) right node
    x0, x1 = nodes[i - 1], nodes[i]
    w = ((x - x0) / (x1 - x0)).clamp_(0.0, 1.0)  # (N,) weight of the right node
    return values[:, i - 1] * (1 - w) + values[:, i] * w


def _uniform_steps(x_u: Tensor) -> tuple[float, float]:
    """(dx, dt) of a uniform space-time grid x_u (T, X, 2) with x_u[i, j] = (x_j, t_i); ValueError otherwise."""
    if x_u.dim() != 3 or x_u.shape[-1] != 2 or min(x_u.shape[:2]) < 3:
        raise ValueError(f"Burgers grid residual: x_u must be a (T, X, 2) grid with T, X >= 3, got {tuple(x_u.shape)}")
    x, t = x_u[0, :, 0], x_u[:, 0, 1]  # (X,), (T,)
    dx, dt = x.diff(), t.diff()  # (X - 1,), (T - 1,)
    tol = 1e-4 * min(dx.abs().mean().item(), dt.abs().mean().item())
    if (
        dx.min() <= 0
        or dt.min() <= 0
        or (dx - dx.mean()).abs().max() > tol
        or (dt - dt.mean()).abs().max() > tol
        or (x_u[..., 0] - x).abs().max() > tol  # x constant down the columns
        or (x_u[..., 1] - t[:, None]).abs().max() > tol  # t constant along the rows
    ):
        raise ValueError("Burgers grid residual: x_u must be a uniform grid with x_u[i, j] = (x_j, t_i)")
    return dx.mean().item(), dt.mean().item()


def burgers_fd_residual(u: Tensor, *, nu: float = NU, dx: float, dt: float) -> Tensor:
    """Finite-difference residual of u_t + u u_x - nu u_xx on a (t, x) grid: (B, T, X) -> (B, T - 2, X - 2).

    Central differences in t and x (second order) at the interior nodes; the residual of PINO on Burgers.
    """
    u_t = (u[:, 2:, 1:-1] - u[:, :-2, 1:-1]) / (2 * dt)
    c = u[:, 1:-1, 1:-1]
    u_x = (u[:, 1:-1, 2:] - u[:, 1:-1, :-2]) / (2 * dx)
    u_xx = (u[:, 1:-1, 2:] - 2 * c + u[:, 1:-1, :-2]) / dx**2
    return u_t + c * u_x - nu * u_xx
