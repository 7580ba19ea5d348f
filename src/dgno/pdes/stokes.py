"""Stokes flow around a cylinder: -mu Lap u + grad p = 0, div u = 0 in the channel [0, 2] x [0, 1] minus the disk of
radius 0.1 centred at (0.5, 0.6), mu = 0.01 (the reference's §2.5).

Fields, as in the reference: a stream function psi (velocity u = psi_y, v = -psi_x, divergence-free by
construction; its second derivatives give the velocity gradient, from the shared trunk's forward-mode jets), the
pressure p and the symmetric stress (s11, s22, s12) as their own networks (the mixed form). Virtual observables:

- ``weak``: the momentum equations tested with compactly supported functions w_j on particles kept inside the
  fluid, r_j = <s11 w_x + s12 w_y>_j and <s12 w_x + s22 w_y>_j (div s = 0 weakly; no body force);
- ``constitutive``: the stress law at every quadrature point, s = -p I + mu (grad u + grad u^T):
  <(-p + 2 mu u_x - s11)^2 + (-p + 2 mu v_y - s22)^2 + (mu (u_y + v_x) - s12)^2>_j;
- ``trace``: <(p + (s11 + s22) / 2)^2>_j (the trace of the law for divergence-free u).

Boundary conditions are penalties at random boundary points (no multiplier carries no-slip on a wall and a hole
for a stream function and a lift of an arbitrary inflow at once), each a term with its own precision:

- ``wall``: u = v = 0 on y = 0, y = 1 and on the cylinder;
- ``inflow``: v = 0 at x = 0 (u = a(y) there is the input's own likelihood: the input is read as u at the 256
  inflow points, like Burgers' initial condition);
- ``outflow``: the classical do-nothing condition mu du/dn - p n = 0 at x = 2, i.e. -p + mu u_x = 0 and
  mu v_x = 0: the condition of the reference data's solver (dgno.reference.stokes, docs/stokes.md), under which
  p ~ 0 at x = 2 where the flow is developed (the reference's soft p = 0). The symmetric-stress condition
  s n = 0 would also force the shear to vanish there, which a developed channel flow cannot meet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from dgno.nn.multionet import Jet
from dgno.pdes.base import BoundaryPart, Domain, FieldSpec, InputSpec, Output, field_output
from dgno.weak.assembly import WeakPoints
from dgno.weak.layouts import BallLayout, WeakOptions, WithBoundary

MU = 0.01
CENTER = (0.5, 0.6)
RADIUS = 0.1
LENGTH, HEIGHT = 2.0, 1.0


def in_fluid(x: Tensor) -> Tensor:
    """Points (N, 2) outside the cylinder (the box is checked by the domain): (N,) bool."""
    return (x[..., 0] - CENTER[0]) ** 2 + (x[..., 1] - CENTER[1]) ** 2 > RADIUS**2


def _uniform(n: int, generator: torch.Generator) -> Tensor:
    return torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device)


def _inflow(n: int, generator: torch.Generator) -> Tensor:
    y = _uniform(n, generator)
    return torch.stack([torch.zeros_like(y), y], dim=-1)


def _outflow(n: int, generator: torch.Generator) -> Tensor:
    y = _uniform(n, generator)
    return torch.stack([torch.full_like(y, LENGTH), y], dim=-1)


def _walls(n: int, generator: torch.Generator) -> Tensor:
    """n points on the no-slip boundary: both channel walls and the cylinder, in proportion to their lengths
    (a fixed split, so the shapes are static)."""
    circumference = 2 * math.pi * RADIUS
    n_circle = max(1, round(n * circumference / (2 * LENGTH + circumference)))
    n_lower = (n - n_circle) // 2
    n_upper = n - n_circle - n_lower
    theta = 2 * math.pi * _uniform(n_circle, generator)
    circle = torch.stack([CENTER[0] + RADIUS * torch.cos(theta), CENTER[1] + RADIUS * torch.sin(theta)], dim=-1)
    x_lo, x_hi = LENGTH * _uniform(n_lower, generator), LENGTH * _uniform(n_upper, generator)
    lower = torch.stack([x_lo, torch.zeros_like(x_lo)], dim=-1)
    upper = torch.stack([x_hi, torch.full_like(x_hi, HEIGHT)], dim=-1)
    return torch.cat([lower, upper, circle])


CHANNEL = Domain(
    lower=(0.0, 0.0), upper=(LENGTH, HEIGHT), inside=in_fluid,
    boundaries=(BoundaryPart("inflow", _inflow), BoundaryPart("outflow", _outflow), BoundaryPart("wall", _walls)),
    axis_names=("x", "y"),
)


def _u(jets: dict[str, Jet]) -> Tensor:
    return jets["psi"].grad[..., 1]


def _v(jets: dict[str, Jet]) -> Tensor:
    return -jets["psi"].grad[..., 0]


def velocity_gradient(psi: Jet) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """u_x, u_y, v_x, v_y of (u, v) = (psi_y, -psi_x) from psi's Hessian (..., 2, 2)."""
    h = psi.hess
    return h[..., 0, 1], h[..., 1, 1], -h[..., 0, 0], -h[..., 0, 1]


@dataclass(frozen=True)
class Stokes:
    """Stokes flow around the cylinder with a stream function and the mixed (stress) form; see the module."""

    mu: float = MU
    boundary_points: int = 256  # random points per boundary part and step (the reference: 256 per edge)

    domain = CHANNEL
    input = InputSpec("boundary", output="u", at=lambda x: x)  # a(y) = u at the inflow points x_a = (0, y_j)
    fields = (
        FieldSpec("psi", order=2),
        FieldSpec("p", order=0),
        FieldSpec("s11", order=0),
        FieldSpec("s22", order=0),
        FieldSpec("s12", order=0),
    )
    outputs = (
        Output("u", _u, 1, ("psi",)),
        Output("v", _v, 1, ("psi",)),
        field_output("p"),
    )
    terms = ("weak", "constitutive", "trace", "wall", "inflow", "outflow")

    def __post_init__(self) -> None:
        if self.mu <= 0:
            raise ValueError(f"Stokes: mu must be positive, got {self.mu}")
        if self.boundary_points < 3:
            raise ValueError(f"Stokes: boundary_points must be >= 3, got {self.boundary_points}")

    def weak_layout(self, options: WeakOptions) -> WithBoundary:
        """Particles whose balls lie in the fluid (centres and rims checked against the cylinder), plus
        ``boundary_points`` random points on each boundary part."""
        inner = BallLayout.build(options, lower=self.domain.lower, upper=self.domain.upper, inside=in_fluid)
        parts = tuple((p.name, p.sample) for p in self.domain.boundaries)
        return WithBoundary(inner, parts, n=self.boundary_points)

    def coefficient(self, a: Tensor, x: Tensor) -> None:
        return None  # the inflow enters through the input's likelihood and the boundary terms only

    def residuals(self, fields: dict[str, Jet], a: Tensor | None, points: WeakPoints) -> dict[str, Tensor]:
        s11, s22, s12 = fields["s11"].value, fields["s22"].value, fields["s12"].value  # (B, P, Q)
        p = fields["p"].value
        u_x, u_y, v_x, v_y = velocity_gradient(fields["psi"])
        w_x, w_y = points.grad_v[..., 0], points.grad_v[..., 1]  # (P, Q)
        r1 = points.average(s11 * w_x + s12 * w_y)  # (B, P)
        r2 = points.average(s12 * w_x + s22 * w_y)
        law = ((-p + 2 * self.mu * u_x - s11) ** 2 + (-p + 2 * self.mu * v_y - s22) ** 2
               + (self.mu * (u_y + v_x) - s12) ** 2)  # (B, P, Q)
        trace = (p + (s11 + s22) / 2) ** 2
        return {
            "weak": (r1**2 + r2**2).sum(-1),
            "constitutive": points.average(law).sum(-1),
            "trace": points.average(trace).sum(-1),
        }

    def boundary_residuals(self, fields: dict[str, dict[str, Jet]], a: Tensor) -> dict[str, Tensor]:
        """Per-sample sums of squared boundary misfits (B,) at each part's points."""
        wall = fields["wall"]
        inflow = fields["inflow"]
        outflow = fields["outflow"]
        u_x, _, v_x, _ = velocity_gradient(outflow["psi"])
        return {
            "wall": (_u(wall) ** 2 + _v(wall) ** 2).sum(-1),
            "inflow": (_v(inflow) ** 2).sum(-1),
            "outflow": ((self.mu * u_x - outflow["p"].value) ** 2 + (self.mu * v_x) ** 2).sum(-1),
        }
