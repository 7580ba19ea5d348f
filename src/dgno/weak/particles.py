"""Particles: the supports (balls B(c_j, R_j)) of the test functions, sampled inside a box-bounded domain."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

_METHODS = ("lhs", "uniform")
_MAX_ROUNDS = 100  # rejection rounds of n candidates each before giving up on a domain predicate
_N_DIRECTIONS_2D = 64  # boundary points checked against the predicate in 2-D


@dataclass(frozen=True)
class Particles:
    """Balls B(centers[j], radii[j]), j = 1..P, the supports of the test functions w_j(x) = phi(|x - c_j| / R_j)."""

    centers: Tensor  # (P, d)
    radii: Tensor  # (P,)

    def __post_init__(self) -> None:
        if self.centers.ndim != 2 or self.radii.shape != self.centers.shape[:1]:
            raise ValueError(
                f"Particles: need centers (P, d) and radii (P,), got {tuple(self.centers.shape)} "
                f"and {tuple(self.radii.shape)}"
            )

    def __len__(self) -> int:
        """The number of particles P."""
        return self.centers.shape[0]


@dataclass(frozen=True)
class ParticleSampler:
    """Samples n particles with radii R ~ U[r_min, r_max] and supports inside the box [lower, upper] (and the domain).

    Centres: c_d = lower_d + R + u_d (upper_d - lower_d - 2 R) with u in [0, 1)^d either a Latin hypercube
    (method "lhs": u_d = (perm_d + U) / n with an independent random permutation perm_d of 0..n-1 per dimension,
    so each of the n strata of each dimension holds exactly one centre) or uniform (method "uniform").

    inside: optional domain predicate, points (N, d) -> bool (N,), e.g. False in holes. A particle is kept only if
    the predicate holds at its centre and at points of its boundary sphere (64 directions in 2-D, the 2 end points
    in 1-D, the 2 d axis and 2^d diagonal directions for d >= 3). In 2-D a convex hole can therefore reach at most
    about R (1 - cos(pi/64)) ~ 1.2e-3 R into an accepted support (a little more for holes of radius below R); pad
    the predicate if that matters. Only finitely many points are checked: a hole smaller than a particle can lie
    wholly inside its support, so holes must be larger than r_max. Candidates are drawn in rounds of n (each round a
    fresh LHS) until n are accepted, the first n in order are kept; after 100 rounds a ValueError is raised. With
    rejections the accepted set is no longer an exact Latin hypercube.
    """

    n: int = 100
    r_min: float = 1e-4
    r_max: float = 1e-4
    lower: tuple[float, ...] = (0.0, 0.0)
    upper: tuple[float, ...] = (1.0, 1.0)
    method: str = "lhs"
    inside: Callable[[Tensor], Tensor] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "lower", tuple(float(v) for v in self.lower))
        object.__setattr__(self, "upper", tuple(float(v) for v in self.upper))
        if self.n < 1:
            raise ValueError(f"ParticleSampler: n must be >= 1, got {self.n}")
        if not 0.0 < self.r_min <= self.r_max:
            raise ValueError(f"ParticleSampler: need 0 < r_min <= r_max, got r_min={self.r_min}, r_max={self.r_max}")
        if len(self.lower) != len(self.upper) or len(self.lower) == 0:
            raise ValueError(f"ParticleSampler: lower {self.lower} and upper {self.upper} need the same length >= 1")
        for lo, hi in zip(self.lower, self.upper, strict=True):
            if not 2.0 * self.r_max < hi - lo:
                raise ValueError(
                    f"ParticleSampler: 2 r_max = {2.0 * self.r_max} must be smaller than the box width {hi - lo} "
                    f"(lower {self.lower}, upper {self.upper})"
                )
        if self.method not in _METHODS:
            raise ValueError(f"ParticleSampler: unknown method {self.method!r}, expected one of {_METHODS}")

    @property
    def dim(self) -> int:
        """The dimension d of the box."""
        return len(self.lower)

    def sample(
        self,
        generator: torch.Generator,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Particles:
        """n particles: centers (n, d), radii (n,) on ``device`` in ``dtype``; random numbers only from ``generator``.

        The random numbers are drawn in float64 on the generator's device, so the same generator state gives the
        same particles (up to the final cast) whatever the output device and dtype; device None means the generator's
        device. The predicate ``inside`` sees points on the output device in the output dtype.
        """
        if self.inside is None:
            return self._candidates(generator, device=device, dtype=dtype)
        accepted: list[Particles] = []
        count = 0
        for _ in range(_MAX_ROUNDS):
            cand = self._candidates(generator, device=device, dtype=dtype)
            ok = self._supported(cand)  # (n,) bool
            accepted.append(Particles(cand.centers[ok], cand.radii[ok]))
            count += int(ok.sum())
            if count >= self.n:
                centers = torch.cat([p.centers for p in accepted])[: self.n]  # (n, d)
                radii = torch.cat([p.radii for p in accepted])[: self.n]  # (n,)
                return Particles(centers, radii)
        raise ValueError(
            f"ParticleSampler: the domain predicate accepted only {count} of {self.n} particles in {_MAX_ROUNDS} "
            f"rounds of {self.n} candidates (r_max = {self.r_max}); is the domain too small for the radii?"
        )

    def _candidates(self, generator: torch.Generator, *, device, dtype) -> Particles:
        """n candidate particles in the box, ignoring the predicate."""
        n, d, gdev = self.n, self.dim, generator.device
        unit = torch.rand(n, generator=generator, device=gdev, dtype=torch.float64)  # (n,)
        radii = self.r_min + (self.r_max - self.r_min) * unit  # (n,)
        u = torch.rand(n, d, generator=generator, device=gdev, dtype=torch.float64)  # (n, d)
        if self.method == "lhs":
            perms = [torch.randperm(n, generator=generator, device=gdev) for _ in range(d)]
            strata = torch.stack(perms, dim=-1)  # (n, d)
            u = (strata + u) / n  # (n, d), one centre per stratum [k/n, (k+1)/n) of each dimension
        # per axis with Python scalars: no host-to-device copy in a GPU step
        bounds = enumerate(zip(self.lower, self.upper, strict=True))
        centers = torch.stack([lo + radii + u[:, i] * ((hi - lo) - 2.0 * radii) for i, (lo, hi) in bounds],
                              dim=-1)  # (n, d)
        return Particles(centers.to(device=device, dtype=dtype), radii.to(device=device, dtype=dtype))

    def _supported(self, particles: Particles) -> Tensor:
        """Whether the predicate holds at each particle's centre and boundary points: (P,) bool."""
        c, r = particles.centers, particles.radii  # (P, d), (P,)
        directions = _sphere_directions(self.dim).to(c)  # (S, d)
        boundary = c[:, None, :] + r[:, None, None] * directions[None]  # (P, S, d)
        pts = torch.cat([c[:, None, :], boundary], dim=1).reshape(-1, self.dim)  # (P * (S + 1), d)
        ok = torch.as_tensor(self.inside(pts), dtype=torch.bool, device=c.device)  # type: ignore[misc]
        if ok.shape != pts.shape[:1]:
            raise ValueError(f"ParticleSampler: inside() must map points (N, d) to (N,), got {tuple(ok.shape)}")
        return ok.reshape(len(particles), -1).all(dim=1)  # (P,)


def _sphere_directions(dim: int) -> Tensor:
    """Unit vectors (S, d) at which the predicate is checked on each particle's boundary sphere."""
    if dim == 1:
        return torch.tensor([[-1.0], [1.0]], dtype=torch.float64)  # (2, 1)
    if dim == 2:
        theta = torch.arange(_N_DIRECTIONS_2D, dtype=torch.float64) * (2.0 * math.pi / _N_DIRECTIONS_2D)  # (S,)
        return torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)  # (S, 2)
    axes = torch.cat([torch.eye(dim), -torch.eye(dim)]).double()  # (2 d, d)
    signs = torch.tensor([-1.0, 1.0], dtype=torch.float64)  # (2,)
    corners = torch.cartesian_prod(*([signs] * dim)) / math.sqrt(dim)  # (2^d, d)
    return torch.cat([axes, corners])  # (2 d + 2^d, d)
