"""Input likelihoods p(a | beta): how the decoded input field is compared with the data."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class BernoulliPhase:
    """Two-phase a in {a_lo, a_hi}: a pointwise Bernoulli on the phase indicator, decoder output = logit."""

    a_lo: float = 5.0
    a_hi: float = 10.0

    def nll(self, out: Tensor, a: Tensor) -> Tensor:
        """-log p(a | beta) per sample: out, a (B, *grid) -> (B,)."""
        target = (a - self.a_lo) / (self.a_hi - self.a_lo)
        return F.binary_cross_entropy_with_logits(out, target, reduction="none").flatten(1).sum(-1)

    def mean(self, out: Tensor) -> Tensor:
        """Posterior-predictive mean of a: a_lo + (a_hi - a_lo) P(high)."""
        return self.a_lo + (self.a_hi - self.a_lo) * torch.sigmoid(out)

    def tempered_mean(self, out: Tensor, temperature: float) -> Tensor:
        """E[a] with the logits divided by a temperature T >= 1: the phase decoder's interfaces widened, so that the
        decoded coefficient moves smoothly with beta (T = 1 is :meth:`mean`)."""
        return self.mean(out / temperature)

    def mode(self, out: Tensor) -> Tensor:
        """The most probable phase at every point."""
        return torch.where(out > 0, self.a_hi, self.a_lo).to(out.dtype)

    def phase_prob(self, out: Tensor) -> Tensor:
        """P(high phase) at every point."""
        return torch.sigmoid(out)

    def is_high(self, a):
        """Which values of a field (tensor or array) belong to the high phase."""
        return a > (self.a_lo + self.a_hi) / 2


@dataclass(frozen=True)
class GaussianField:
    """Smooth a: a pointwise Gaussian with mean = decoder output and standard deviation ``sigma``."""

    sigma: float = 0.05

    def nll(self, out: Tensor, a: Tensor) -> Tensor:
        return (((out - a) / self.sigma) ** 2 / 2).flatten(1).sum(-1)

    def mean(self, out: Tensor) -> Tensor:
        return out

    def tempered_mean(self, out: Tensor, temperature: float) -> Tensor:
        """A continuous field has no phases to temper: its mean."""
        return out

    def mode(self, out: Tensor) -> Tensor:
        return out

    def phase_prob(self, out: Tensor) -> None:
        """No phases: a continuous field."""
        return None
