"""The DGNO authors' smooth Darcy coefficients: a(x, y) = 2.1 + sin(b1 x) + cos(b2 y), two random numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dgno.fields.base import TwoParameterFamily

OFFSET = 2.1
TRAIN_RANGE = (math.pi / 2, 2 * math.pi)  # inferred: see TrigField and docs/darcy_trig.md


@dataclass(frozen=True)
class TrigCoefficient:
    """a(x, y) = offset + sin(b1 x) + cos(b2 y); called at points (..., 2), returns (...)."""

    b1: float
    b2: float
    offset: float = OFFSET

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return self.offset + np.sin(self.b1 * x[..., 0]) + np.cos(self.b2 * x[..., 1])

    def parameters(self) -> dict[str, float]:
        """The per-sample parameters data generation stores (as extras/beta1, extras/beta2, the reference's names)."""
        return {"beta1": self.b1, "beta2": self.b2}


@dataclass(frozen=True)
class TrigField(TwoParameterFamily):
    """Coefficients a = offset + sin(b1 x) + cos(b2 y) with b1 ~ U(b1_range), b2 ~ U(b2_range), independent.

    On [0, 1]^2, a >= offset - 2 = 0.1 for any b (the bound is reached when b1 >= 3 pi / 2 and b2 >= pi), and
    a <= offset + 2. The reference authors' files fix the form and the out-of-distribution range U(0, pi/2)
    (``smh_test_out.mat``); the in-distribution range U(pi/2, 2 pi) of the default is inferred (their inverse
    instance has b = (5.00, 3.37), beyond pi/2; the range is not published).
    """

    b1_range: tuple[float, float] = TRAIN_RANGE
    b2_range: tuple[float, float] = TRAIN_RANGE
    offset: float = OFFSET

    def __post_init__(self) -> None:
        for lo, hi in (self.b1_range, self.b2_range):
            if not lo <= hi:
                raise ValueError(f"need ranges lo <= hi, got {self}")
        if self.offset <= 2.0:
            raise ValueError(f"need offset > 2 so that a > 0, got {self.offset}")

    def sample(self, rng: np.random.Generator) -> TrigCoefficient:
        b1 = float(rng.uniform(*self.b1_range))
        b2 = float(rng.uniform(*self.b2_range))
        return TrigCoefficient(b1, b2, self.offset)

    def describe(self) -> dict[str, Any]:
        return {
            "type": "TrigField",
            "coefficient": f"a(x, y) = {self.offset:g} + sin(b1 x) + cos(b2 y)",
            "b1": f"U({self.b1_range[0]:.6g}, {self.b1_range[1]:.6g})",
            "b2": f"U({self.b2_range[0]:.6g}, {self.b2_range[1]:.6g})",
            "b1_range": list(self.b1_range),
            "b2_range": list(self.b2_range),
            "offset": self.offset,
        }

    def evaluate(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """a at points x (..., 2) for parameters (n, 2) = (b1, b2): (n, ...), differentiable in both (the
        parametric family of inversions with a prior on b1, b2)."""
        b1, b2 = self.split(params, x)
        return self.offset + torch.sin(b1 * x[..., 0]) + torch.cos(b2 * x[..., 1])
