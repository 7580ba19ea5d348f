"""A compact 2-D Fourier neural operator (Li et al. 2021) for fields on a regular grid.

    v_0 = P(a, x),   v_{k+1} = sigma(W_k v_k + F^-1(R_k . F(v_k))),   u = Q(v_L)

P and Q are pointwise (1x1) maps, R_k complex weights on the lowest ``modes`` Fourier modes in each
direction (both signs of the first axis), sigma GELU (none after the last layer). The input is
padded by ``padding`` nodes so that the non-periodic boundary does not wrap around.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SpectralConv2d(nn.Module):
    """Multiplication by learnable complex weights on the lowest Fourier modes: (B, C, H, W) -> (B, C', H, W)."""

    def __init__(self, c_in: int, c_out: int, modes1: int, modes2: int) -> None:
        super().__init__()
        self.c_in, self.c_out, self.modes1, self.modes2 = c_in, c_out, modes1, modes2
        scale = 1.0 / (c_in * c_out)
        self.w_pos = nn.Parameter(scale * torch.randn(c_in, c_out, modes1, modes2, dtype=torch.cfloat))
        self.w_neg = nn.Parameter(scale * torch.randn(c_in, c_out, modes1, modes2, dtype=torch.cfloat))

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        m1, m2 = min(self.modes1, h // 2), min(self.modes2, w // 2 + 1)
        xf = torch.fft.rfft2(x)  # (B, C, H, W//2 + 1)
        out = torch.zeros(b, self.c_out, h, w // 2 + 1, dtype=xf.dtype, device=x.device)
        wp, wn = self.w_pos[:, :, :m1, :m2].to(xf.dtype), self.w_neg[:, :, :m1, :m2].to(xf.dtype)
        out[:, :, :m1, :m2] = torch.einsum("bixy,ioxy->boxy", xf[:, :, :m1, :m2], wp)
        out[:, :, -m1:, :m2] = torch.einsum("bixy,ioxy->boxy", xf[:, :, -m1:, :m2], wn)
        return torch.fft.irfft2(out, s=(h, w))


class FNO2d(nn.Module):
    """a (B, H, W) on the unit-square grid -> u (B, H, W).

    Args:
        modes: Fourier modes kept per direction.
        width: channels of the hidden layers.
        layers: number of Fourier layers.
        padding: nodes of zero padding on the high side of each axis.
        proj: hidden width of the output map Q.
    """

    def __init__(self, *, modes: int = 12, width: int = 32, layers: int = 4, padding: int = 8, proj: int = 128) -> None:
        super().__init__()
        self.padding = padding
        self.lift = nn.Linear(3, width)  # (a, x, y) -> width
        self.spectral = nn.ModuleList(SpectralConv2d(width, width, modes, modes) for _ in range(layers))
        self.pointwise = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(layers))
        self.q1, self.q2 = nn.Linear(width, proj), nn.Linear(proj, 1)

    def forward(self, a: Tensor) -> Tensor:
        b, h, w = a.shape
        gx = torch.linspace(0, 1, h, dtype=a.dtype, device=a.device)[:, None].expand(h, w)
        gy = torch.linspace(0, 1, w, dtype=a.dtype, device=a.device)[None, :].expand(h, w)
        v = torch.stack([a, gx.expand(b, h, w), gy.expand(b, h, w)], -1)  # (B, H, W, 3)
        v = self.lift(v).permute(0, 3, 1, 2)  # (B, C, H, W)
        v = F.pad(v, (0, self.padding, 0, self.padding))
        for k, (spec, point) in enumerate(zip(self.spectral, self.pointwise, strict=True)):
            v = spec(v) + point(v)
            if k < len(self.spectral) - 1:
                v = F.gelu(v)
        v = v[..., :h, :w].permute(0, 2, 3, 1)  # (B, H, W, C)
        return self.q2(F.gelu(self.q1(v)))[..., 0]
