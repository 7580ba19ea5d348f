"""The compact FNO: shapes, gradients to every parameter, the spectral layer's algebra."""

from __future__ import annotations

import torch

from dgno.nn.fno import FNO2d, SpectralConv2d


def test_fno_maps_grids_to_grids_and_trains_every_parameter():
    torch.manual_seed(0)
    model = FNO2d(modes=6, width=8, layers=3, padding=4, proj=16)
    for n in (29, 17):
        a = torch.randn(2, n, n)
        u = model(a)
        assert u.shape == (2, n, n)
    model.zero_grad()
    model(torch.randn(2, 29, 29)).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_spectral_conv_is_linear_and_keeps_only_low_modes():
    torch.manual_seed(1)
    conv = SpectralConv2d(2, 3, 4, 4)
    x, y = torch.randn(2, 2, 16, 16), torch.randn(2, 2, 16, 16)
    torch.testing.assert_close(conv(2 * x - y), 2 * conv(x) - conv(y), atol=1e-5, rtol=1e-5)
    # a pure high-frequency input (mode 8 = Nyquist along both axes) is filtered out entirely
    i = torch.arange(16.0)
    high = torch.cos(torch.pi * i)[:, None] * torch.cos(torch.pi * i)[None, :]
    out = conv(high.expand(1, 2, 16, 16))
    assert out.abs().max() < 1e-5
