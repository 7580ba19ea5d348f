"""The field protocol: a function on the unit square that can be evaluated at any points."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

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
