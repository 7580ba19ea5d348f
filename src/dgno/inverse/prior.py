"""Priors over the latent beta, written as a map from a standard-normal (or box) variable theta.

The samplers work on theta in R^d; beta = transform(theta) is what the decoders read.

* ``standard``: beta = theta ~ N(0, I). The prior of Gaussian-encoder (variational) models, whose
  training pulled q(beta | a) towards N(0, I) through the KL term.
* ``fitted`` (default for tanh-encoder models): the tanh encoder maps every input into the open box
  (-1, 1)^d but defines no density there. We take the aggregate posterior of the training inputs:
  z = atanh(beta) of the encoded training set is fitted by a Gaussian N(m, S) (full covariance with
  shrinkage towards its diagonal), and beta = tanh(m + L theta), theta ~ N(0, I), L L^T = S. This is a
  proper prior on the box, concentrated where the decoders were trained, and it whitens the sampler's
  coordinates.
* ``box``: beta uniform on (-1, 1)^d, through beta = tanh(theta) with log p(theta) = sum log(1 - tanh^2).
  Proper but vague; it lets the sampler reach latents no training input produced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from dgno.errors import DgnoError

PRIORS = ("fitted", "standard", "box")
_EDGE = 1 - 1e-4  # encoded latents are clipped to |beta| <= _EDGE before atanh


@dataclass(frozen=True)
class LatentPrior:
    """p(theta) and beta = transform(theta); theta and beta are (..., d)."""

    kind: str
    mean: Tensor  # (d,) m for 'fitted', zeros otherwise
    scale_tril: Tensor  # (d, d) L for 'fitted', identity otherwise

    def __post_init__(self) -> None:
        if self.kind not in PRIORS:
            raise DgnoError(f"unknown prior {self.kind!r}; choose one of {', '.join(PRIORS)}")

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def to(self, device=None, dtype=None) -> LatentPrior:
        return LatentPrior(self.kind, self.mean.to(device, dtype), self.scale_tril.to(device, dtype))

    def log_prob(self, theta: Tensor) -> Tensor:
        """log p(theta) up to a constant: (..., d) -> (...)."""
        if self.kind == "box":  # log(1 - tanh^2 t) = 2 (log 2 - t - softplus(-2 t))
            return (2 * (math.log(2) - theta - torch.nn.functional.softplus(-2 * theta))).sum(-1)
        return -0.5 * (theta**2).sum(-1)

    def input(self, theta: Tensor) -> None:
        """The input a of theta when the prior knows it exactly (:class:`~dgno.inverse.family.FamilyPrior`); a
        latent prior does not: the input is decoded from beta."""
        return None

    def transform(self, theta: Tensor) -> Tensor:
        """beta = transform(theta): (..., d) -> (..., d)."""
        if self.kind == "standard":
            return theta
        if self.kind == "box":
            return torch.tanh(theta)
        return torch.tanh(self.mean + theta @ self.scale_tril.T)

    def inverse(self, beta: Tensor) -> Tensor:
        """theta with transform(theta) = beta (beta clipped into the open box where tanh is used)."""
        if self.kind == "standard":
            return beta
        z = torch.atanh(beta.clamp(-_EDGE, _EDGE))
        if self.kind == "box":
            return z
        return torch.linalg.solve_triangular(self.scale_tril, (z - self.mean).unsqueeze(-1), upper=False)[..., 0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws of theta: (n, d)."""
        if self.kind == "box":
            u = torch.rand(n, self.dim, generator=generator, dtype=self.mean.dtype)
            return torch.atanh(2 * u.clamp(1e-6, 1 - 1e-6) - 1).to(self.mean.device)
        return torch.randn(n, self.dim, generator=generator, dtype=self.mean.dtype).to(self.mean.device)

    def state(self) -> dict:
        return {"kind": self.kind, "mean": self.mean.cpu(), "scale_tril": self.scale_tril.cpu()}

    @classmethod
    def from_state(cls, state: dict) -> LatentPrior:
        return cls(state["kind"], state["mean"], state["scale_tril"])


def standard_prior(dim: int, dtype=torch.float64) -> LatentPrior:
    return LatentPrior("standard", torch.zeros(dim, dtype=dtype), torch.eye(dim, dtype=dtype))


def box_prior(dim: int, dtype=torch.float64) -> LatentPrior:
    return LatentPrior("box", torch.zeros(dim, dtype=dtype), torch.eye(dim, dtype=dtype))


def fit_tanh_prior(beta: Tensor, *, shrinkage: float = 0.1) -> LatentPrior:
    """The 'fitted' prior from encoded latents beta (N, d) in (-1, 1)^d.

    Covariance (1 - s) S + s diag(S) of z = atanh(beta), with a floor of 1e-6 on the diagonal so that
    dimensions the encoder does not use keep a proper (narrow) prior.
    """
    if beta.ndim != 2 or beta.shape[0] < 2:
        raise DgnoError(f"fitting the latent prior needs at least 2 encoded inputs, got shape {tuple(beta.shape)}")
    z = torch.atanh(beta.double().clamp(-_EDGE, _EDGE))
    mean = z.mean(0)
    cov = torch.cov(z.T).reshape(z.shape[1], z.shape[1])
    cov = (1 - shrinkage) * cov + shrinkage * torch.diag(torch.diag(cov))
    cov = cov + 1e-6 * torch.eye(cov.shape[0], dtype=cov.dtype)
    return LatentPrior("fitted", mean, torch.linalg.cholesky(cov))


def choose_prior(kind: str | None, *, variational: bool, encoded: Tensor | None, dim: int) -> LatentPrior:
    """The prior named ``kind`` (None: 'standard' for Gaussian encoders, 'fitted' for tanh encoders)."""
    kind = kind or ("standard" if variational else "fitted")
    if kind not in PRIORS:
        raise DgnoError(f"unknown prior {kind!r}; choose one of {', '.join(PRIORS)}")
    if kind == "standard":
        return standard_prior(dim)
    if kind == "box":
        if variational:
            raise DgnoError("the 'box' prior is for tanh-encoder models; this model's latent is unbounded")
        return box_prior(dim)
    if variational:
        raise DgnoError("the 'fitted' prior is for tanh-encoder models; a Gaussian encoder's prior is 'standard'")
    if encoded is None:
        raise DgnoError("the 'fitted' prior needs the encoded training inputs")
    return fit_tanh_prior(encoded)
