"""Averaging rules on the unit ball: mean_B f ~= sum_q weights[q] f(points[q])."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class QuadratureRule:
    """Averaging rule on the unit ball: mean_B f ~= sum_q weights[q] f(points[q]); weights sum to 1."""

    points: Tensor  # (Q, d) on the closed unit ball
    weights: Tensor  # (Q,)

    def __post_init__(self) -> None:
        if self.points.ndim != 2 or self.weights.shape != self.points.shape[:1]:
            raise ValueError(
                f"QuadratureRule: need points (Q, d) and weights (Q,), got {tuple(self.points.shape)} "
                f"and {tuple(self.weights.shape)}"
            )

    @property
    def dim(self) -> int:
        """The dimension d of the ball."""
        return self.points.shape[1]

    def __len__(self) -> int:
        """The number of points Q."""
        return self.points.shape[0]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> QuadratureRule:
        """The same rule with points and weights on ``device`` in ``dtype`` (None keeps the current one).

        Copies are cached per (device, dtype): a training step on a GPU then copies nothing from the host (a copy
        from pageable host memory would make the host wait for the GPU).
        """
        key = (str(torch.device(device)) if device is not None else None, dtype)
        cache = self.__dict__.setdefault("_copies", {})
        if key not in cache:
            cache[key] = QuadratureRule(self.points.to(device=device, dtype=dtype),
                                        self.weights.to(device=device, dtype=dtype))
        return cache[key]


def grid_rule(n: int, dim: int = 2) -> QuadratureRule:
    """The reference's equal-weight rule: the n^d grid on [-1, 1]^d strictly inside the unit ball, weights 1/Q.

    dim >= 2: points (2 i - (n-1)) / (n-1) for i in {0..n-1}^d with |xi| < 1 (tested in exact integer arithmetic);
    2-D counts n = 7, 8, 9 -> 25, 32, 45. dim = 1: linspace(-1, 1, n) including the end points (where the test
    functions vanish). The rule is only first-order accurate for integrands that are not smooth across the sphere.
    Returns float64 on the CPU.
    """
    if n < 2:
        raise ValueError(f"grid_rule: n must be >= 2, got {n}")
    if dim < 1:
        raise ValueError(f"grid_rule: dim must be >= 1, got {dim}")
    if dim == 1:
        points = torch.linspace(-1.0, 1.0, n, dtype=torch.float64).unsqueeze(-1)  # (n, 1)
    else:
        k = 2 * np.arange(n) - (n - 1)  # (n,) integer numerators, xi = k / (n-1)
        grid = np.stack(np.meshgrid(*([k] * dim), indexing="ij"), axis=-1).reshape(-1, dim)  # (n^d, d)
        inside = (grid**2).sum(axis=-1) < (n - 1) ** 2  # (n^d,) strictly inside, exactly
        points = torch.as_tensor(grid[inside] / (n - 1), dtype=torch.float64)  # (Q, d)
        if points.shape[0] == 0:
            raise ValueError(f"grid_rule: no grid point lies strictly inside the ball for n = {n}")
    q = points.shape[0]
    return QuadratureRule(points, torch.full((q,), 1.0 / q, dtype=torch.float64))


def gauss_rule(n_radial: int, n_angular: int | None = None, dim: int = 2) -> QuadratureRule:
    """Polar Gauss rule: n_radial Gauss-Legendre radii on (0, 1) with the r^(d-1) dr Jacobian x n_angular directions.

    dim = 2: radii r_i and weights w_i of Gauss-Legendre on (0, 1) (sum w_i = 1), angles 2 pi k / n_angular;
    average weights 2 r_i w_i / n_angular (since mean_B f = int_0^1 2 r [mean_theta f] dr); Q = n_radial * n_angular,
    default n_angular = 2 n_radial + 2. Exact for polynomials in (x, y) of total degree <= min(2 n_radial - 1,
    n_angular - 1), and more generally for g(|xi|) p(xi) with polynomials g, p, deg g + deg p <= 2 n_radial - 2,
    deg p <= n_angular - 1: in particular for the 2-D Wendland C4 function (degree 8 in r) from n_radial = 5 on.

    dim = 1: the same construction with the two directions +-1 (n_angular must be None or 2), i.e. Gauss-Legendre on
    each of [-1, 0] and [0, 1], weights w_i / 2, Q = 2 n_radial. Exact for polynomials of degree <= 2 n_radial - 1 and
    for g(|x|) p(x) with deg(g) + deg(p) <= 2 n_radial - 1. Splitting at 0 matters: the 1-D Wendland functions are
    polynomials in |x|, not in x (C4 has an |x|^5 kink), so one Gauss-Legendre rule on [-1, 1] would converge only
    algebraically. Returns float64 on the CPU.
    """
    if n_radial < 1:
        raise ValueError(f"gauss_rule: n_radial must be >= 1, got {n_radial}")
    t, w = np.polynomial.legendre.leggauss(n_radial)  # (n_radial,) nodes and weights on [-1, 1]
    r, w = (t + 1.0) / 2.0, w / 2.0  # (n_radial,) Gauss-Legendre on (0, 1), sum w = 1
    if dim == 1:
        if n_angular not in (None, 2):
            raise ValueError(f"gauss_rule: dim = 1 has the two directions +-1, got n_angular = {n_angular}")
        points = np.concatenate([-r, r])[:, None]  # (2 n_radial, 1)
        weights = np.concatenate([w, w]) / 2.0  # (2 n_radial,)
    elif dim == 2:
        n_angular = 2 * n_radial + 2 if n_angular is None else n_angular
        if n_angular < 1:
            raise ValueError(f"gauss_rule: n_angular must be >= 1, got {n_angular}")
        theta = 2.0 * math.pi * np.arange(n_angular) / n_angular  # (n_angular,)
        directions = np.stack([np.cos(theta), np.sin(theta)], axis=-1)  # (n_angular, 2)
        points = (r[:, None, None] * directions[None]).reshape(-1, 2)  # (n_radial * n_angular, 2), radius-major
        weights = np.repeat(2.0 * r * w / n_angular, n_angular)  # (n_radial * n_angular,)
    else:
        raise ValueError(f"gauss_rule: dim must be 1 or 2, got {dim}")
    return QuadratureRule(torch.as_tensor(points, dtype=torch.float64), torch.as_tensor(weights, dtype=torch.float64))
