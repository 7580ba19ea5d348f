"""Compactly supported radial test functions on the unit ball (Wendland functions)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Wendland:
    """Compactly supported Wendland RBF phi(|xi|) on the unit ball in R^dim, phi(0) = 1, zero for r >= 1.

    With s = (1 - r)_+:

    - smoothness 2 (C2, psi_{l,1}), l = floor(dim/2) + 2:
      phi = s^(l+1) ((l+1) r + 1),  (dphi/dr)/r = -(l+1)(l+2) s^l;
    - smoothness 4 (C4, psi_{l,2}, the reference's), l = floor(dim/2) + 3:
      phi = s^(l+2) [(l^2+4l+3) r^2 + (3l+6) r + 3] / 3,  (dphi/dr)/r = -(l+3)(l+4) [(l+1) r + 1] s^(l+1) / 3.

    phi(|xi|) is C^smoothness in xi and positive definite on R^dim; e.g. dim = 2, C4: (1-r)^6 (35 r^2 + 18 r + 3)/3,
    dim = 1, C4: (1-r)^5 (8 r^2 + 5 r + 1).
    """

    dim: int = 2
    smoothness: int = 4

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ValueError(f"Wendland: dim must be >= 1, got {self.dim}")
        if self.smoothness not in (2, 4):
            raise ValueError(f"Wendland: smoothness must be 2 or 4, got {self.smoothness}")

    @property
    def ell(self) -> int:
        """The exponent parameter l = floor(dim/2) + smoothness/2 + 1."""
        return self.dim // 2 + self.smoothness // 2 + 1

    def phi(self, r: Tensor) -> Tensor:
        """phi(r) for radii r >= 0 of any shape; zero for r >= 1."""
        l = self.ell  # noqa: E741 (the literature's name)
        s = torch.clamp(1.0 - r, min=0.0)
        if self.smoothness == 2:
            return s ** (l + 1) * ((l + 1) * r + 1.0)
        return s ** (l + 2) * ((l * l + 4 * l + 3) * r * r + (3 * l + 6) * r + 3.0) / 3.0

    def dphi_over_r(self, r: Tensor) -> Tensor:
        """(dphi/dr)(r) / r for radii r >= 0 of any shape; a polynomial in r, finite at r = 0, zero for r >= 1."""
        l = self.ell  # noqa: E741 (the literature's name)
        s = torch.clamp(1.0 - r, min=0.0)
        if self.smoothness == 2:
            return -(l + 1) * (l + 2) * s**l
        return -(l + 3) * (l + 4) * ((l + 1) * r + 1.0) * s ** (l + 1) / 3.0

    def value_and_grad(self, xi: Tensor) -> tuple[Tensor, Tensor]:
        """phi(|xi|) and grad_xi phi = (dphi/dr)/r * xi: xi (..., dim) -> ((...), (..., dim))."""
        if xi.shape[-1] != self.dim:
            raise ValueError(f"Wendland(dim={self.dim}): points have last axis {xi.shape[-1]}")
        r = torch.linalg.vector_norm(xi, dim=-1)  # (...)
        return self.phi(r), self.dphi_over_r(r).unsqueeze(-1) * xi
