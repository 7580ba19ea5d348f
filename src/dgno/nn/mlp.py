"""A plain fully connected network."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from torch import Tensor, nn

from dgno.nn.activations import Activation

__all__ = ["MLP"]


class MLP(nn.Module):
    """y = A_n(... sigma(A_2 sigma(A_1 x)) ...), with affine maps A_i: R^{sizes[i-1]} -> R^{sizes[i]}.

    The activation follows every layer but the last; with ``final_activation=True`` it follows the
    last one too.

    Args:
        sizes: widths [d_in, h_1, ..., d_out], at least two entries.
        activation: the elementwise nonlinearity (shared by all layers; it has no parameters).
        final_activation: apply the activation after the last layer as well.
    """

    def __init__(self, sizes: Sequence[int], activation: Activation, *, final_activation: bool = False) -> None:
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"MLP needs at least two positive sizes, got {sizes}")
        self.sizes = sizes
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        self.activation = activation
        self.final_activation = final_activation

    def forward(self, x: Tensor) -> Tensor:
        """x (..., sizes[0]) -> (..., sizes[-1])."""
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last or self.final_activation:
                x = self.activation(x)
        return x
