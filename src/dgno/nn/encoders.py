"""Encoders from a gridded input a to a latent beta: fully connected, convolutional, Gaussian.

Reference settings (DGenNO, see the reference digest §2.2-2.3 and §4.1):

- Darcy, piecewise coefficient: ``MLPEncoder(841, [512, 256], 128, SiLU())`` (595,328 parameters);
- Darcy, continuous coefficient: ``CNNEncoder((29, 29), activation=SiLU())`` with the defaults
  channels (1, 64, 64, 64), 3 x 3 kernels, stride 2 (29 -> 14 -> 6 -> 2 pixels, 256 features), then
  fully connected [256 -> 128 -> 128 -> 128] (140,416 parameters).

Both end in tanh by default, so beta lies in (-1, 1)^d_out.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn

from dgno.nn.activations import Activation
from dgno.nn.mlp import MLP

__all__ = ["CNNEncoder", "GaussianEncoder", "MLPEncoder"]


class MLPEncoder(nn.Module):
    """beta = tanh(MLP(flatten(a))): a (B, *grid) with prod(grid) = d_in -> (B, d_out).

    Args:
        d_in: number of input values per sample.
        hidden: hidden widths of the MLP.
        d_out: latent dimension.
        activation: the MLP's activation (its last layer is linear).
        squash: apply tanh to the output; turn it off to use the encoder as a body.
    """

    def __init__(
        self, d_in: int, hidden: Sequence[int], d_out: int, activation: Activation, *, squash: bool = True
    ) -> None:
        super().__init__()
        self.d_in, self.d_out, self.squash = d_in, d_out, squash
        self.mlp = MLP([d_in, *hidden, d_out], activation)

    def forward(self, a: Tensor) -> Tensor:
        """a (B, *grid) -> beta (B, d_out)."""
        B = a.shape[0]
        h = a.reshape(B, -1)  # (B, d_in)
        if h.shape[1] != self.d_in:
            raise ValueError(f"expected {self.d_in} input values per sample, got shape {tuple(a.shape)}")
        beta = self.mlp(h)  # (B, d_out)
        return torch.tanh(beta) if self.squash else beta


def _conv_out(n: int, kernel: int, stride: int) -> int:
    """Output length of an unpadded convolution."""
    return (n - kernel) // stride + 1


class CNNEncoder(nn.Module):
    """beta = tanh(MLP(flatten(conv stack(a)))): a (B, H, W) -> (B, d_out).

    The convolutions are unpadded, ``kernel x kernel`` with the given stride, each followed by the
    activation; the fully connected head [flat, *fc, d_out] has a linear last layer.

    Args:
        grid: (H, W) of the input image.
        channels: channel counts, starting with the input's (1).
        kernel: convolution kernel size.
        stride: convolution stride.
        fc: hidden widths of the fully connected head (the flattened size and d_out excluded).
        d_out: latent dimension.
        activation: the activation after every convolution and hidden fully connected layer.
        squash: apply tanh to the output; turn it off to use the encoder as a body.
    """

    def __init__(
        self,
        grid: tuple[int, int],
        *,
        channels: Sequence[int] = (1, 64, 64, 64),
        kernel: int = 3,
        stride: int = 2,
        fc: Sequence[int] = (128, 128),
        d_out: int = 128,
        activation: Activation,
        squash: bool = True,
    ) -> None:
        super().__init__()
        H, W = grid
        self.grid, self.d_out, self.squash = (int(H), int(W)), d_out, squash
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c_out, kernel, stride=stride) for c_in, c_out in pairwise(channels))
        for _ in self.convs:
            H, W = _conv_out(H, kernel, stride), _conv_out(W, kernel, stride)
        if H < 1 or W < 1:
            raise ValueError(f"grid {grid} is too small for {len(self.convs)} convolutions of size {kernel}")
        self.activation = activation
        self.n_flat = channels[-1] * H * W
        self.mlp = MLP([self.n_flat, *fc, d_out], activation)

    def forward(self, a: Tensor) -> Tensor:
        """a (B, H, W) or (B, H * W) -> beta (B, d_out)."""
        B = a.shape[0]
        h = a.reshape(B, 1, *self.grid)  # (B, 1, H, W)
        for conv in self.convs:
            h = self.activation(conv(h))  # (B, C_i, H_i, W_i)
        beta = self.mlp(h.reshape(B, self.n_flat))  # (B, C H' W') -> (B, d_out)
        return torch.tanh(beta) if self.squash else beta


class GaussianEncoder(nn.Module):
    """q(beta | a) = N(mean(a), diag exp(log_var(a))), two linear heads on a body's features.

    Args:
        body: maps a (B, ...) to features (B, d_features), e.g. an encoder with ``squash=False``.
        d_features: the body's output dimension.
        d_latent: latent dimension.
    """

    def __init__(self, body: nn.Module, d_features: int, d_latent: int) -> None:
        super().__init__()
        self.body = body
        self.mean_head = nn.Linear(d_features, d_latent)
        self.log_var_head = nn.Linear(d_features, d_latent)

    def forward(self, a: Tensor) -> tuple[Tensor, Tensor]:
        """a (B, ...) -> (mean (B, d_latent), log_var (B, d_latent))."""
        features = self.body(a)  # (B, d_features)
        return self.mean_head(features), self.log_var_head(features)

    @staticmethod
    def sample(mean: Tensor, log_var: Tensor, generator: torch.Generator | None = None,
               noise: Tensor | None = None) -> Tensor:
        """Reparameterised draw beta = mean + exp(log_var / 2) * eps, eps ~ N(0, I): (B, d) -> (B, d).

        ``noise`` (B, d) is eps when given (the training loop draws it from its own, checkpointed generator);
        otherwise eps is drawn from ``generator`` (optional; it must live on the device of ``mean``).
        """
        if noise is not None:
            if noise.shape != mean.shape:
                raise ValueError(f"GaussianEncoder.sample: noise {tuple(noise.shape)} must match {tuple(mean.shape)}")
            eps = noise.to(mean)
        else:
            eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)  # (B, d)
        return mean + torch.exp(0.5 * log_var) * eps

    @staticmethod
    def kl(mean: Tensor, log_var: Tensor) -> Tensor:
        """KL(N(mean, diag exp(log_var)) || N(0, I)) per sample: (B, d) -> (B,).

        KL = (1/2) sum_i (mean_i^2 + exp(log_var_i) - 1 - log_var_i).
        """
        return 0.5 * (mean.square() + torch.exp(log_var) - 1.0 - log_var).sum(dim=-1)
