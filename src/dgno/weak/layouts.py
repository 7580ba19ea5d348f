"""Weak layouts: how the particles and quadrature points of one step are laid out in a domain.

A layout draws the weak points of a step from a generator. Two layouts cover the reference's problems:

- :class:`BallLayout`: particles (balls) in a box, optionally kept inside a domain predicate, with a rule on
  the unit ball (Darcy, Stokes);
- :class:`SliceLayout`: test functions in the space axes only, on fixed levels of one axis (time), strong in
  that axis (Burgers: 1-D Wendland functions in x at 100 time levels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from dgno.weak.assembly import WeakPoints, weak_points
from dgno.weak.particles import ParticleSampler
from dgno.weak.quadrature import QuadratureRule, gauss_rule, grid_rule
from dgno.weak.testfunctions import Wendland


@dataclass(frozen=True)
class WeakOptions:
    """The knobs of a layout that a config sets (a problem may ignore those it does not use)."""

    particles: int = 100  # particles per step (per level for a slice layout)
    r_min: float = 1e-4
    r_max: float = 1e-4
    sampling: str = "lhs"
    quadrature: str = "grid"  # "grid" (the reference's equal weights) or "gauss"
    quadrature_n: int = 7
    smoothness: int = 4
    levels: int = 100  # levels of the strong axis (slice layouts)

    def rule(self, dim: int) -> QuadratureRule:
        if self.quadrature == "grid":
            return grid_rule(self.quadrature_n, dim)
        if self.quadrature == "gauss":
            return gauss_rule(self.quadrature_n, dim=dim)
        raise ValueError(f"quadrature must be 'grid' or 'gauss', got {self.quadrature!r}")


class WeakLayout(Protocol):
    def sample(self, generator: torch.Generator, *, device=None, dtype: torch.dtype = torch.float32) -> WeakPoints:
        """The weak points of one step, random numbers only from ``generator``."""
        ...


@dataclass(frozen=True)
class BallLayout:
    """Particles from ``sampler`` with the unit-ball ``rule`` and ``test_function`` mapped onto each."""

    sampler: ParticleSampler
    rule: QuadratureRule
    test_function: Wendland

    @classmethod
    def build(cls, options: WeakOptions, *, lower: tuple[float, ...], upper: tuple[float, ...],
              inside: Callable[[Tensor], Tensor] | None = None) -> BallLayout:
        dim = len(lower)
        sampler = ParticleSampler(n=options.particles, r_min=options.r_min, r_max=options.r_max, lower=lower,
                                  upper=upper, method=options.sampling, inside=inside)
        return cls(sampler, options.rule(dim), Wendland(dim=dim, smoothness=options.smoothness))

    def sample(self, generator: torch.Generator, *, device=None, dtype: torch.dtype = torch.float32) -> WeakPoints:
        rule = self.rule.to(device=device, dtype=dtype)
        return weak_points(self.sampler.sample(generator, device=device, dtype=dtype), rule, self.test_function)


@dataclass(frozen=True)
class SliceLayout:
    """Test functions in the space axes at fixed levels of one axis (weak in space, strong in that axis).

    ``levels`` (T,) are the values of axis ``axis`` (e.g. time); ``sampler`` draws all T * k particles in the
    remaining axes at once (one Latin hypercube over all levels), k = sampler.n / T per level, level-major.
    Particle j at level t_j has test function
    w_j(x, t) = phi(|x - c_j| / R_j) on the slice t = t_j: the points are (x_jq, t_j), grad_v carries the
    space gradient and 0 along ``axis``.
    """

    sampler: ParticleSampler  # in the space axes
    rule: QuadratureRule  # on the unit ball of the space axes
    test_function: Wendland
    levels: tuple[float, ...]
    axis: int = -1

    @classmethod
    def build(cls, options: WeakOptions, *, lower: tuple[float, ...], upper: tuple[float, ...],
              levels: tuple[float, ...], axis: int = -1) -> SliceLayout:
        dim = len(lower)
        sampler = ParticleSampler(n=options.particles * len(levels), r_min=options.r_min, r_max=options.r_max,
                                  lower=lower, upper=upper, method=options.sampling)
        return cls(sampler, options.rule(dim), Wendland(dim=dim, smoothness=options.smoothness), tuple(levels), axis)

    def __post_init__(self) -> None:
        if not self.levels or self.sampler.n % len(self.levels):
            raise ValueError(f"SliceLayout: {self.sampler.n} particles do not split over {len(self.levels)} levels")

    def sample(self, generator: torch.Generator, *, device=None, dtype: torch.dtype = torch.float32) -> WeakPoints:
        rule = self.rule.to(device=device, dtype=dtype)
        space = weak_points(self.sampler.sample(generator, device=device, dtype=dtype), rule,
                            self.test_function)  # x (P, Q, ds), grad_v (P, Q, ds)
        P, Q, ds = space.x.shape
        per_level = P // len(self.levels)
        t = torch.tensor(self.levels, device=space.x.device, dtype=dtype).repeat_interleave(per_level)  # (P,)
        axis = self.axis % (ds + 1)
        x = _insert(space.x, t[:, None].expand(P, Q), axis)  # (P, Q, ds + 1)
        grad_v = _insert(space.grad_v, space.grad_v.new_zeros(P, Q), axis)  # (P, Q, ds + 1)
        return WeakPoints(x=x, v=space.v, grad_v=grad_v, weights=space.weights)


def _insert(x: Tensor, column: Tensor, axis: int) -> Tensor:
    """Insert ``column`` (P, Q) as component ``axis`` of x (P, Q, k) -> (P, Q, k + 1)."""
    return torch.cat([x[..., :axis], column[..., None], x[..., axis:]], dim=-1)


@dataclass(frozen=True)
class WithBoundary:
    """A layout plus ``n`` random points on each boundary part, for the penalty terms of conditions that no
    multiplier or lift carries: ``parts`` are (name, sample(n, generator) -> (n, d)) pairs."""

    inner: WeakLayout
    parts: tuple[tuple[str, Callable[[int, torch.Generator], Tensor]], ...]
    n: int = 256

    def sample(self, generator: torch.Generator, *, device=None, dtype: torch.dtype = torch.float32) -> WeakPoints:
        points = self.inner.sample(generator, device=device, dtype=dtype)
        boundary = {name: sample(self.n, generator).to(device=device or points.x.device, dtype=dtype)
                    for name, sample in self.parts}  # name -> (n, d)
        return WeakPoints(x=points.x, v=points.v, grad_v=points.grad_v, weights=points.weights, boundary=boundary)
