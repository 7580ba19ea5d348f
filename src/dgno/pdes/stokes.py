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

The baselines of the comparison (``dgno.models.baselines``; docs/compare.md) predict (u, v, p) directly
(``solution_fields``), under the same conditions. What they read:

- the strong form for PI-DeepONet / PI-MultiONet at collocation points in the fluid (``strong_residual``: momentum
  -mu Lap u + grad p and continuity div u, from second-order jets of u, v and first-order jets of p; the
  networks' jets stop at order 2, so no stream function, which would need order 3) and the same boundary
  conditions as penalties at random boundary points (``strong_boundary_residuals``: wall, inflow v = 0, outflow);
- a rectangular grid over the whole box [0, 2] x [0, 1] for FNO and PINO, h = 1 / ``grid_cells``, where the
  cylinder is a staircase: the velocity is held at zero at the nodes inside the disk (and on the walls, v also at
  the inflow), the pressure lives on the fluid nodes only. PINO's residual (``grid_residual``) is the
  second-order finite-difference form of the equations at the fluid nodes inside the box, the outflow condition
  by backward differences (``grid_boundary_residuals``); predictions reach the mesh vertices by bilinear
  interpolation and the labels reach the grid by linear interpolation on the mesh's triangles. A vertex near the
  cylinder is interpolated from nodes of the staircase, which is the weakness of a grid on this domain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dgno.nn.multionet import Jet
from dgno.pdes.base import BoundaryPart, Domain, FieldSpec, InputSpec, Output, field_output
from dgno.pdes.burgers import interpolate_1d
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
    grid_cells: int = 32  # the baselines' grid: cells across the channel's height, h = 1 / grid_cells

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
        if self.grid_cells < 4:
            raise ValueError(f"Stokes: grid_cells must be >= 4, got {self.grid_cells}")

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

    # --------------------------------------------------------------- what the baselines read (see the module)
    solution_fields = (FieldSpec("u", order=2), FieldSpec("v", order=2), FieldSpec("p", order=1))
    grid_schemes = ("fd",)  # the finite-difference residuals of grid_residual, by name

    def strong_residual(self, fields: dict[str, Jet], a: Tensor | None) -> Tensor:
        """Momentum -mu Lap u + p_x, -mu Lap v + p_y and continuity u_x + v_y at collocation points, from the jets of
        u and v (order 2) and p (order 1) over (B, N): (B, N, 3)."""
        u, v, p = fields["u"], fields["v"], fields["p"]
        return torch.stack([
            -self.mu * (u.hess[..., 0, 0] + u.hess[..., 1, 1]) + p.grad[..., 0],
            -self.mu * (v.hess[..., 0, 0] + v.hess[..., 1, 1]) + p.grad[..., 1],
            u.grad[..., 0] + v.grad[..., 1],
        ], dim=-1)

    def strong_boundary_residuals(self, fields: dict[str, dict[str, Jet]], a: Tensor) -> dict[str, Tensor]:
        """The misfits of the boundary conditions at each part's points, from jets (order 1) of u, v, p over (B, M):
        wall (u, v) (B, M, 2), inflow v (B, M) (u = a(y) is the input's own misfit), outflow (mu u_x - p, mu v_x)
        (B, M, 2), the do-nothing condition of the data and of the DGNO's ``outflow`` term."""
        wall, inflow, out = fields["wall"], fields["inflow"], fields["outflow"]
        return {
            "wall": torch.stack([wall["u"].value, wall["v"].value], dim=-1),
            "inflow": inflow["v"].value,
            "outflow": torch.stack([self.mu * out["u"].grad[..., 0] - out["p"].value,
                                    self.mu * out["v"].grad[..., 0]], dim=-1),
        }

    def grid_nodes(self, x_u: Tensor) -> Tensor:
        """The grid of FNO and PINO, whatever the solution points x_u: the box [0, 2] x [0, 1] with the cylinder,
        x_g[i, j] = (i h, j h), h = 1 / grid_cells, (2 grid_cells + 1, grid_cells + 1, 2) in x_u's dtype and device."""
        n = self.grid_cells
        xs = torch.linspace(0.0, LENGTH, round(LENGTH / HEIGHT * n) + 1, dtype=x_u.dtype, device=x_u.device)
        ys = torch.linspace(0.0, HEIGHT, n + 1, dtype=x_u.dtype, device=x_u.device)
        return torch.stack(torch.meshgrid(xs, ys, indexing="ij"), dim=-1)

    def grid_mask(self, x_g: Tensor) -> Tensor:
        """The fluid nodes of the grid (outside the disk): (Nx, Ny) bool."""
        return in_fluid(x_g)

    def grid_multiplier(self, x_g: Tensor) -> Tensor:
        """Where each of u, v, p is free (1) or held at zero (0): (Nx, Ny, 3). The velocity is zero at the nodes
        inside the cylinder (its staircase no-slip wall) and on the walls y = 0, 1, v also at the inflow x = 0 (u
        there is the input's misfit, soft, as for the other methods); the pressure has no value inside the cylinder."""
        fluid = self.grid_mask(x_g).to(x_g.dtype)
        m_u = fluid.clone()
        m_u[:, [0, -1]] = 0.0
        m_v = m_u.clone()
        m_v[0] = 0.0
        return torch.stack([m_u, m_v, fluid], dim=-1)

    def grid_input(self, a: Tensor, x_a: Tensor, x_g: Tensor) -> Tensor:
        """The inflow profile a (B, n_a) at the inflow nodes x_a (n_a, 2) = (0, y_j) as a field on the grid: a at the
        grid's heights (linear interpolation) on every column, zero inside the cylinder: (B, Nx, Ny)."""
        column = interpolate_1d(a, x_a[:, 1].contiguous(), x_g[0, :, 1].contiguous())  # (B, Ny)
        return column[:, None, :] * self.grid_mask(x_g).to(a.dtype)

    def _grid_step(self, x_g: Tensor) -> float:
        """The spacing h of the grid of ``grid_nodes``; ValueError for another grid."""
        want = (round(LENGTH / HEIGHT * self.grid_cells) + 1, self.grid_cells + 1, 2)
        if tuple(x_g.shape) != want:
            raise ValueError(f"Stokes grid terms: x_g must be the grid of grid_nodes {want}, not {tuple(x_g.shape)}")
        return HEIGHT / self.grid_cells

    def grid_residual(self, w: Tensor, a: Tensor | None, x_g: Tensor, scheme: str = "fd") -> Tensor:
        """Momentum x, y and continuity by second-order differences (:func:`stokes_fd_residual`) at the fluid nodes
        inside the box: w (B, Nx, Ny, 3) = (u, v, p) on the grid of ``grid_nodes`` -> (B, n, 3)."""
        if scheme not in self.grid_schemes:
            raise ValueError(f"Stokes: unknown grid residual {scheme!r}; choose one of {', '.join(self.grid_schemes)}")
        solid = ~self.grid_mask(x_g)
        r = stokes_fd_residual(w, h=self._grid_step(x_g), solid=solid, mu=self.mu)  # (B, Nx - 2, Ny - 2, 3)
        return r[:, ~solid[1:-1, 1:-1]]

    def grid_boundary_residuals(self, w: Tensor, a: Tensor | None, x_g: Tensor) -> dict[str, Tensor]:
        """The outflow condition mu u_x - p = 0, mu v_x = 0 at the inner nodes of x = 2, u_x and v_x by the
        second-order backward difference: {"outflow": (B, Ny - 2, 2)} (walls, cylinder and inflow v are held by
        the multiplier, the inflow u by the input's misfit)."""
        h = self._grid_step(x_g)
        last = w[:, -3:, 1:-1]  # (B, 3, Ny - 2, 3): the three columns next to x = 2
        d_x = (3 * last[:, 2] - 4 * last[:, 1] + last[:, 0]) / (2 * h)  # (B, Ny - 2, 3)
        return {"outflow": torch.stack([self.mu * d_x[..., 0] - last[:, 2, :, 2], self.mu * d_x[..., 1]], dim=-1)}

    def grid_to_points(self, w: Tensor, x_g: Tensor, x: Tensor) -> Tensor:
        """The grid's (u, v, p) (B, Nx, Ny, 3) at points x (N, 2) by bilinear interpolation: the velocity with the
        zeros of the staircase, the pressure from the fluid nodes only (the weights of the cylinder's nodes
        dropped, the others renormalised; a point of the fluid has a fluid node in its cell): (B, N, 3)."""
        self._grid_step(x_g)
        fluid = self.grid_mask(x_g).to(w.dtype)[..., None]  # (Nx, Ny, 1)
        values = bilinear(torch.cat([w[..., :2], w[..., 2:] * fluid], dim=-1), x, LENGTH, HEIGHT)  # (B, N, 3)
        share = bilinear(fluid[None], x, LENGTH, HEIGHT)[..., 0]  # (1, N): the fluid nodes' weight
        return torch.cat([values[..., :2], values[..., 2:] / share.clamp_min(1e-12)[..., None]], dim=-1)

    def grid_transfer(self, x_u: Tensor, triangles: Tensor, x_g: Tensor) -> tuple[Tensor, Tensor]:
        """Linear interpolation on the mesh (vertices x_u (Nv, 2), triangles (T, 3)) at the grid's nodes, as the map
        (index (G, 3), weight (G, 3)) from vertex values to node values (G = Nx Ny): matplotlib's triangle finder
        locates the nodes, their barycentric coordinates weigh the vertices. Nodes off the mesh lie inside the
        cylinder's polygon (weight 0: no value there)."""
        import matplotlib.tri as mtri

        points = x_u.detach().cpu().double().numpy()
        tris = triangles.detach().cpu().numpy().astype(np.int64)
        nodes = x_g.reshape(-1, 2).detach().cpu().double().numpy()
        mesh = mtri.Triangulation(points[:, 0], points[:, 1], tris)
        found = mesh.get_trifinder()(nodes[:, 0], nodes[:, 1])  # (G,), -1 off the mesh
        index = tris[np.maximum(found, 0)]  # (G, 3)
        corner = points[index]  # (G, 3, 2)
        edges = np.stack([corner[:, 1] - corner[:, 0], corner[:, 2] - corner[:, 0]], axis=-1)  # (G, 2, 2)
        lam = np.linalg.solve(edges, (nodes - corner[:, 0])[..., None])[..., 0]  # (G, 2)
        weight = np.column_stack([1 - lam.sum(1), lam]) * (found >= 0)[:, None]
        return torch.from_numpy(index), torch.from_numpy(weight)


def bilinear(values: Tensor, x: Tensor, length: float, height: float) -> Tensor:
    """Bilinear interpolation (torch's grid_sample) of values (B, Nx, Ny, K) on the uniform grid of the box
    [0, length] x [0, height] (node [i, j] at (i, j) times the spacings) at points x (N, 2): (B, N, K)."""
    b, n = values.shape[0], x.shape[0]
    scale = torch.tensor([length, height], dtype=x.dtype, device=x.device)
    where = (2 * x / scale - 1).flip(-1).to(values.dtype)  # (N, 2): grid_sample's order is (last axis, first axis)
    out = F.grid_sample(values.permute(0, 3, 1, 2), where.expand(b, 1, n, 2), mode="bilinear",
                        padding_mode="border", align_corners=True)  # (B, K, 1, N)
    return out[:, :, 0].transpose(1, 2)


def stokes_fd_residual(w: Tensor, *, h: float, solid: Tensor, mu: float = MU) -> Tensor:
    """Second-order finite-difference residual of -mu Lap u + grad p = 0, div u = 0 at the inner nodes of a uniform
    grid with spacing h: w (B, Nx, Ny, 3) = (u, v, p) -> (B, Nx - 2, Ny - 2, 3) (momentum x, momentum y, continuity).

    Five-point Laplacian and central differences of the velocity, which read the zeros at the ``solid`` (Nx, Ny)
    nodes (the staircase wall); the pressure gradient by central differences, or one-sided into the fluid next to a
    solid node, so that no pressure inside the solid is read. Exact for quadratic velocities and linear pressures
    (Poiseuille flow) away from the solid nodes; the residual of PINO on Stokes.
    """
    u, v, p = w.unbind(-1)  # (B, Nx, Ny)

    def laplacian(f: Tensor) -> Tensor:
        return (_inner(f, 1, 0) + _inner(f, -1, 0) + _inner(f, 0, 1) + _inner(f, 0, -1) - 4 * _inner(f)) / h**2

    def pressure_derivative(di: int, dj: int) -> Tensor:
        lo, c, hi = _inner(p, -di, -dj), _inner(p), _inner(p, di, dj)
        lo_solid, hi_solid = _inner(solid, -di, -dj), _inner(solid, di, dj)
        return torch.where(hi_solid, (c - lo) / h, torch.where(lo_solid, (hi - c) / h, (hi - lo) / (2 * h)))

    div = (_inner(u, 1, 0) - _inner(u, -1, 0) + _inner(v, 0, 1) - _inner(v, 0, -1)) / (2 * h)
    return torch.stack([-mu * laplacian(u) + pressure_derivative(1, 0), -mu * laplacian(v) + pressure_derivative(0, 1),
                        div], dim=-1)


def _inner(f: Tensor, di: int = 0, dj: int = 0) -> Tensor:
    """f (..., Nx, Ny) at the inner nodes shifted by (di, dj) nodes, |di|, |dj| <= 1: (..., Nx - 2, Ny - 2)."""
    nx, ny = f.shape[-2:]
    return f[..., 1 + di : nx - 1 + di, 1 + dj : ny - 1 + dj]
