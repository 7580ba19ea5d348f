"""Darcy flow -div(a grad u) = f on the unit square, u = 0 on the boundary."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from dgno.nn.multionet import Jet
from dgno.pdes.base import FieldSpec
from dgno.weak.assembly import WeakPoints


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


def bicubic(a_nodes: Tensor, x: Tensor) -> Tensor:
    """Bicubic interpolation of nodal values (smooth coefficients): (B, n, n), (N, 2) -> (B, N)."""
    # grid_sample wants (B, C, H, W) with H along y and W along x, and points in [-1, 1]
    image = a_nodes.transpose(-1, -2)[:, None]  # (B, 1, n_y, n_x)
    grid = (2 * x - 1)[None, None].expand(a_nodes.shape[0], 1, -1, -1)  # (B, 1, N, 2)
    out = F.grid_sample(image, grid, mode="bicubic", padding_mode="border", align_corners=True)
    return out[:, 0, 0]  # (B, N)


def read_coefficient(a_nodes: Tensor, x: Tensor, interpolation: str) -> Tensor:
    """Nodal a (B, n, n) at points (N, 2) -> (B, N), by 'nearest' node or 'bicubic' interpolation."""
    if interpolation == "nearest":
        return nearest_node(a_nodes, x)
    if interpolation == "bicubic":
        return bicubic(a_nodes, x)
    raise ValueError(f"interpolation must be 'nearest' or 'bicubic', got {interpolation!r}")


@dataclass(frozen=True)
class Darcy:
    """Standard weak form for smooth a: r_j = <a grad u . grad w_j - f w_j>_j (ball averages).

    The residual term is sum_j r_j^2 per sample; u = sin(pi x) sin(pi y) N(x) is exact on the boundary.
    """

    source: float = 10.0
    interpolation: str = "bicubic"  # how a is read between nodes: "bicubic" or "nearest"

    fields = (FieldSpec("u", order=1, constrained=True),)

    def multiplier(self, x: Tensor, order: int) -> Jet:
        return sine_multiplier(x, order)

    def coefficient(self, a_nodes: Tensor, x: Tensor) -> Tensor:
        return read_coefficient(a_nodes, x, self.interpolation)

    def residuals(self, fields: dict[str, Jet], a: Tensor, points: WeakPoints) -> dict[str, Tensor]:
        u = fields["u"]
        flux = a[..., None] * u.grad  # (B, P, Q, 2)
        weak = points.average((flux * points.grad_v).sum(-1) - self.source * points.v)  # (B, P)
        return {"weak": (weak**2).sum(-1)}


@dataclass(frozen=True)
class DarcyMixed:
    """Mixed form for two-phase a: flux s = a grad u as its own network (continuous normal flux).

    weak:         r_j = <s . grad w_j - f w_j>_j, term sum_j r_j^2
    constitutive: c_j = <|s - a grad u|^2>_j,      term sum_j c_j
    """

    source: float = 10.0
    interpolation: str = "nearest"

    fields = (
        FieldSpec("u", order=1, constrained=True),
        FieldSpec("s1", order=0),
        FieldSpec("s2", order=0),
    )

    def multiplier(self, x: Tensor, order: int) -> Jet:
        return sine_multiplier(x, order)

    def coefficient(self, a_nodes: Tensor, x: Tensor) -> Tensor:
        return read_coefficient(a_nodes, x, self.interpolation)

    def residuals(self, fields: dict[str, Jet], a: Tensor, points: WeakPoints) -> dict[str, Tensor]:
        s = torch.stack([fields["s1"].value, fields["s2"].value], dim=-1)  # (B, P, Q, 2)
        weak = points.average((s * points.grad_v).sum(-1) - self.source * points.v)  # (B, P)
        mismatch = ((s - a[..., None] * fields["u"].grad) ** 2).sum(-1)  # (B, P, Q)
        return {"weak": (weak**2).sum(-1), "constitutive": points.average(mismatch).sum(-1)}
