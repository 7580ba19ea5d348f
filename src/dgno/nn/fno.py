"""A compact 2-D Fourier neural operator (Li et al. 2021) for fields on a regular grid.

    v_0 = P(a, x),   v_{k+1} = sigma(W_k v_k + F^-1(R_k . F(v_k))),   u = Q(v_L)

P and Q are pointwise (1x1) maps, R_k complex weights on the lowest ``modes`` Fourier modes in each
direction (both signs of the first axis), sigma GELU (none after the last layer). The input is
padded by at least ``padding`` nodes so that the non-periodic boundary does not wrap around.
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
        # complex weights stored as (real, imag) pairs in a last axis of 2: Module.to(dtype) would cast
        # complex parameters to a real dtype and drop their imaginary parts
        self.w_pos = nn.Parameter(scale * torch.randn(c_in, c_out, modes1, modes2, 2) / 2**0.5)
        self.w_neg = nn.Parameter(scale * torch.randn(c_in, c_out, modes1, modes2, 2) / 2**0.5)

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        m1, m2 = min(self.modes1, h // 2), min(self.modes2, w // 2 + 1)
        xf = torch.fft.rfft2(x)  # (B, C, H, W//2 + 1)
        out = torch.zeros(b, self.c_out, h, w // 2 + 1, dtype=xf.dtype, device=x.device)
        out[:, :, :m1, :m2] = _complex_mix(xf[:, :, :m1, :m2], self.w_pos[:, :, :m1, :m2])
        out[:, :, -m1:, :m2] = _complex_mix(xf[:, :, -m1:, :m2], self.w_neg[:, :, :m1, :m2])
        return torch.fft.irfft2(out, s=(h, w))


def _complex_mix(xf: Tensor, w: Tensor) -> Tensor:
    """sum_i xf[b, i, x, y] w[i, o, x, y] for complex xf and w given as (real, imag) pairs (..., 2).

    Equal to ``einsum("bixy,ioxy->boxy", xf, torch.view_as_complex(w))``, in real arithmetic: torch's
    complex batched matmul on CPU copies its strided operands mode by mode, and this form (one real
    bmm over the modes) made the FNO step about twice as fast.
    """
    n, c, mx, my = xf.shape
    # modes become the batch of one real bmm, with contiguous operands (strided ones are copied per mode)
    xr = torch.cat([xf.real, xf.imag]).permute(2, 3, 0, 1).reshape(mx * my, 2 * n, c).contiguous()
    wri = torch.cat([w[..., 0], w[..., 1]], 1).to(xr.dtype).permute(2, 3, 0, 1).reshape(mx * my, c, -1).contiguous()
    pq = torch.bmm(xr, wri).reshape(mx, my, 2 * n, 2, -1)  # [..., 0, :] times Re w, [..., 1, :] times Im w
    p, q = pq[..., 0, :], pq[..., 1, :]  # p = (Re x Re w; Im x Re w), q = (Re x Im w; Im x Im w)
    out = torch.complex(p[:, :, :n] - q[:, :, n:], q[:, :, :n] + p[:, :, n:])  # (X, Y, B, O)
    return out.permute(2, 3, 0, 1)


def _fft_size(n: int) -> int:
    """The smallest m >= n with no prime factor above 5 (FFTs of prime lengths are several times slower)."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


class FNO2d(nn.Module):
    """a (B, H, W) on the unit-square grid -> u (B, H, W), or (B, H, W, C) for ``out_channels`` C > 1.

    Args:
        modes: Fourier modes kept per direction.
        width: channels of the hidden layers.
        layers: number of Fourier layers.
        padding: at least this many nodes of zero padding on the high side of each axis (rounded up
            to an FFT-friendly size).
        proj: hidden width of the output map Q.
        out_channels: outputs per node (several: one network for all the outputs of a problem, e.g. u, v, p).
    """

    def __init__(self, *, modes: int = 12, width: int = 32, layers: int = 4, padding: int = 8, proj: int = 128,
                 out_channels: int = 1) -> None:
        super().__init__()
        self.padding, self.out_channels = padding, out_channels
        self.lift = nn.Linear(3, width)  # (a, x, y) -> width
        self.spectral = nn.ModuleList(SpectralConv2d(width, width, modes, modes) for _ in range(layers))
        self.pointwise = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(layers))
        self.q1, self.q2 = nn.Linear(width, proj), nn.Linear(proj, out_channels)

    def forward(self, a: Tensor) -> Tensor:
        b, h, w = a.shape
        gx = torch.linspace(0, 1, h, dtype=a.dtype, device=a.device)[:, None].expand(h, w)
        gy = torch.linspace(0, 1, w, dtype=a.dtype, device=a.device)[None, :].expand(h, w)
        v = torch.stack([a, gx.expand(b, h, w), gy.expand(b, h, w)], -1)  # (B, H, W, 3)
        v = self.lift(v).permute(0, 3, 1, 2)  # (B, C, H, W)
        v = F.pad(v, (0, _fft_size(w + self.padding) - w, 0, _fft_size(h + self.padding) - h))
        for k, (spec, point) in enumerate(zip(self.spectral, self.pointwise, strict=True)):
            v = spec(v) + point(v)
            if k < len(self.spectral) - 1:
                v = F.gelu(v)
        v = v[..., :h, :w].permute(0, 2, 3, 1)  # (B, H, W, C)
        out = self.q2(F.gelu(self.q1(v)))  # (B, H, W, C)
        return out[..., 0] if self.out_channels == 1 else out
