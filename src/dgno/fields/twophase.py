"""Two-phase coefficients: a Gaussian random field thresholded to two values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dgno.fields.base import unit_square_nodes
from dgno.fields.grf import GaussianRandomField, SpectralField


@dataclass(frozen=True)
class NearestNodeField:
    """A field known at the n x n grid nodes, extended to the square by the nearest node.

    This is the reference authors' convention for their two-phase inputs: the value at x is the
    value of node (round(x (n-1)), round(y (n-1))), so each node owns a square pixel of side
    1/(n-1) centred on it (half pixels on the boundary) and the interfaces run along the pixel
    edges ((i + 1/2)/(n - 1)).
    """

    values: np.ndarray  # (n, n), 'ij' indexing

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        n = self.values.shape[0]
        ij = np.clip(np.rint(x * (n - 1)).astype(np.int64), 0, n - 1)  # (..., 2)
        return self.values[ij[..., 0], ij[..., 1]]


@dataclass(frozen=True)
class ThresholdField:
    """a(x) = a_hi where g(x) >= level, a_lo elsewhere: the thresholded field itself."""

    g: SpectralField
    level: float
    a_lo: float
    a_hi: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.where(self.g(x) >= self.level, self.a_hi, self.a_lo)


@dataclass(frozen=True)
class TwoPhaseField:
    """Distribution of two-phase coefficients {a_lo, a_hi} from a thresholded GRF.

    ``resolution="nodal"`` (default, the reference's convention): the GRF is thresholded at the
    n x n nodes and the coefficient is the :class:`NearestNodeField` of those values.
    ``resolution="exact"``: the coefficient is the thresholded GRF itself
    (:class:`ThresholdField`), so interfaces are the smooth level curves of g and a solver
    resolves them at its own grid; the nodal values are the same in both cases.
    """

    grf: GaussianRandomField = GaussianRandomField()
    level: float = 0.0
    a_lo: float = 5.0
    a_hi: float = 10.0
    n_nodes: int = 29
    resolution: str = "nodal"

    def __post_init__(self) -> None:
        if not 0 < self.a_lo < self.a_hi:
            raise ValueError(f"need 0 < a_lo < a_hi, got a_lo={self.a_lo}, a_hi={self.a_hi}")
        if self.n_nodes < 2:
            raise ValueError(f"n_nodes must be at least 2, got {self.n_nodes}")
        if self.resolution not in ("nodal", "exact"):
            raise ValueError(f"resolution must be 'nodal' or 'exact', got {self.resolution!r}")

    def sample(self, rng: np.random.Generator) -> NearestNodeField | ThresholdField:
        exact = ThresholdField(self.grf.sample(rng), self.level, self.a_lo, self.a_hi)
        if self.resolution == "exact":
            return exact
        return NearestNodeField(exact(unit_square_nodes(self.n_nodes)))

    def describe(self) -> dict[str, Any]:
        return {
            "type": "TwoPhaseField",
            "grf": self.grf.describe(),
            "level": self.level,
            "a_lo": self.a_lo,
            "a_hi": self.a_hi,
            "n_nodes": self.n_nodes,
            "resolution": self.resolution,
        }
