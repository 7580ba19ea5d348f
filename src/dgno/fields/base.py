"""The field protocol: a function on the unit square that can be evaluated at any points."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Field(Protocol):
    """A scalar function of space: ``field(x)`` maps points ``x`` of shape (..., d) to (...)."""

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class FieldSampler(Protocol):
    """A probability distribution over fields, sampled with an explicit generator."""

    def sample(self, rng: np.random.Generator) -> Field: ...

    def describe(self) -> dict[str, Any]:
        """Every parameter of the distribution, JSON-serialisable (recorded as provenance)."""
        ...


def unit_square_nodes(n: int) -> np.ndarray:
    """Nodes of the uniform n x n grid on [0, 1]^2, shape (n, n, 2), ``x[i, j] = (i, j) / (n - 1)``.

    Axis 0 runs along x and axis 1 along y ('ij' indexing); this is the layout of every stored
    grid in dgno.
    """
    t = np.linspace(0.0, 1.0, n)
    return np.stack(np.meshgrid(t, t, indexing="ij"), axis=-1)


@runtime_checkable
class ParametricFamily(Protocol):
    """A field sampler whose fields are a known formula of a few parameters, each drawn uniformly from a range.

    An inversion that knows the family can put its prior on these parameters instead of on a latent
    (``dgno invert --prior family``). ``parameter_names`` are the names the data files store them under
    (``extras/<name>``).
    """

    parameter_names: tuple[str, ...]

    def parameter_ranges(self) -> dict[str, tuple[float, float]]:
        """The uniform prior's (lo, hi) of every parameter, in ``parameter_names`` order."""
        ...

    def evaluate(self, params: Any, x: Any) -> Any:
        """The fields of parameters (n, k) at points (..., d) as torch tensors, differentiably: (n, ...)."""
        ...


class TwoParameterFamily:
    """What the two-parameter families (b1 ~ U(b1_range), b2 ~ U(b2_range), stored as extras/beta1, beta2) share of
    :class:`ParametricFamily`: the names, the ranges, and the parameters (n, 2) split for broadcasting against points
    (..., d). Mixed into field samplers that have ``b1_range`` and ``b2_range``; each defines ``evaluate``."""

    parameter_names: ClassVar[tuple[str, ...]] = ("beta1", "beta2")
    b1_range: tuple[float, float]
    b2_range: tuple[float, float]

    def parameter_ranges(self) -> dict[str, tuple[float, float]]:
        return {"beta1": tuple(self.b1_range), "beta2": tuple(self.b2_range)}

    @staticmethod
    def split(params: Any, x: Any) -> tuple[Any, Any]:
        """b1, b2 of parameters (n, 2) shaped (n, 1, ..., 1) against points x (..., d)."""
        lead = (slice(None),) + (None,) * (x.ndim - 1)
        return params[:, 0][lead], params[:, 1][lead]
