"""Scalar activations with closed-form first and second derivatives.

Forward-mode differentiation of a network (:mod:`dgno.nn.multionet`) needs sigma'(z) and sigma''(z)
at every pre-activation, so each activation supplies them in closed form. One abstract method,
:meth:`Activation.jet`, returns (sigma, sigma', sigma'') up to a requested order and shares the
intermediate results between them; ``forward``, ``derivative`` and ``second_derivative`` read it.

The residual-style activations of the reference (DGenNO ``FunActivation.py``) are

    TanhSin(z) = z + tanh(sin(pi (z + 1))),
    SiLUSin(z) = z + silu(sin(pi (z + 1))),
    SiLUId(z)  = z + silu(z).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = [
    "ACTIVATIONS",
    "GELU",
    "Activation",
    "Identity",
    "ReLU",
    "SiLU",
    "SiLUId",
    "SiLUSin",
    "Sin",
    "Tanh",
    "TanhSin",
]


def _check_order(order: int) -> None:
    if order not in (0, 1, 2):
        raise ValueError(f"derivative order must be 0, 1 or 2, got {order}")


class Activation(nn.Module, ABC):
    """An elementwise function sigma with closed-form sigma' and sigma''; no parameters."""

    @abstractmethod
    def jet(self, z: Tensor, order: int = 2) -> tuple[Tensor, ...]:
        """(sigma(z), sigma'(z), sigma''(z)) truncated to ``order + 1`` entries, each shaped like z."""

    def forward(self, z: Tensor) -> Tensor:
        """sigma(z), shaped like z."""
        return self.jet(z, 0)[0]

    def derivative(self, z: Tensor) -> Tensor:
        """sigma'(z), shaped like z."""
        return self.jet(z, 1)[1]

    def second_derivative(self, z: Tensor) -> Tensor:
        """sigma''(z), shaped like z."""
        return self.jet(z, 2)[2]

    def extra_repr(self) -> str:
        return ""


def _silu_jet(z: Tensor, order: int) -> tuple[Tensor, ...]:
    """silu(z) = z s(z), silu' = s (1 + z (1 - s)), silu'' = s (1 - s) (2 + z (1 - 2 s)), s = sigmoid."""
    s = torch.sigmoid(z)
    out: tuple[Tensor, ...] = (z * s,)
    if order >= 1:
        out += (s * (1.0 + z * (1.0 - s)),)
    if order >= 2:
        out += (s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s)),)
    return out


def _tanh_jet(z: Tensor, order: int) -> tuple[Tensor, ...]:
    """tanh' = 1 - tanh^2, tanh'' = -2 tanh (1 - tanh^2)."""
    t = torch.tanh(z)
    out: tuple[Tensor, ...] = (t,)
    if order >= 1:
        out += (1.0 - t * t,)
    if order >= 2:
        out += (-2.0 * t * out[1],)
    return out


def _residual_sin_jet(z: Tensor, order: int, outer: Callable[[Tensor, int], tuple[Tensor, ...]]) -> tuple[Tensor, ...]:
    """Jet of z + g(u) with u = sin(pi (z + 1)): u' = pi cos(pi (z + 1)), u'' = -pi^2 u.

    sigma' = 1 + g'(u) u' and sigma'' = g''(u) u'^2 + g'(u) u''.
    """
    _check_order(order)
    phase = math.pi * (z + 1.0)
    u = torch.sin(phase)
    g = outer(u, order)
    out: tuple[Tensor, ...] = (z + g[0],)
    if order >= 1:
        du = math.pi * torch.cos(phase)
        out += (1.0 + g[1] * du,)
    if order >= 2:
        out += (g[2] * du * du - (math.pi**2) * g[1] * u,)
    return out


class TanhSin(Activation):
    """sigma(z) = z + tanh(sin(pi (z + 1))), the reference's ``Tanh_Sin``."""

    def jet(self, z: Tensor, order: int = 2) -> tuple[Tensor, ...]:
        return _residual_sin_jet(z, order, _tanh_jet)


class SiLUSin(Activation):
    """sigma(z) = z + silu(sin(pi (z + 1))), the reference's ``SiLU_Sin``."""

    def jet(self, z: Tensor, order: int = 2) -> tuple[Tensor, ...]:
        return _residual_sin_jet(z, order, _silu_jet)


class SiLUId(Activation):
    """sigma(z) = z + silu(z), the reference's ``SiLU_Id``."""

    def jet(self, z: Tensor, order: int = 2) -> tuple[Tensor, ...]:
        _check_order(order)
        g = _silu_jet(z, order)
        out: tuple[Tensor, ...] = (z + g[0],)
        if order >= 1:
            out += (1.0 + g[1],)
        if order >= 2:
            out += (g[2],)
        return out


class Tanh(Activation):
    """sigma(z) = tanh(z)."""

    def jet(self, z: Tensor, order: int = 2) -> tuple[Tensor, ...]:
        _check_order(order)
        return _tanh_jet(z, order)


class SiLU(Activation):
    """sigma(z) = z sigmoid(z)."""

    def jet(self, z: Tensor, order: int = 2) -> tuple[Tensor, ...]:
        _check_order(order)
        return _silu_jet(z, order)


class Sin(Activation):
    """sigma(z) = sin(z)."""

    def jet(self, z: Tensor, order: int = 2) -> tuple[Tensor, ...]:
        _check_order(order)
        s = torch.sin(z)
        return (s, torch.cos(z), -s)[: order + 1]


class ReLU(Activation):
    """sigma(z) = max(z, 0); sigma' = 1[z > 0] and sigma'' = 0 (almost everywhere)."""

    def jet(self, z: Tensor, order: int = 2) -> tuple[Tensor, ...]:
        _check_order(order)
        out: tuple[Tensor, ...] = (torch.relu(z),)
        if order >= 1:
            out += ((z > 0).to(z.dtype),)
        if order >= 2:
            out += (torch.zeros_like(z),)
        return out


class Identity(Activation):
    """sigma(z) = z."""

    def jet(self, z: Tensor, order: int = 2) -> tuple[Tensor, ...]:
        _check_order(order)
        out: tuple[Tensor, ...] = (z,)
        if order >= 1:
            out += (torch.ones_like(z),)
        if order >= 2:
            out += (torch.zeros_like(z),)
        return out


class GELU(Activation):
    """sigma(z) = z Phi(z) (exact, erf-based); sigma' = Phi + z phi, sigma'' = phi (2 - z^2)."""

    def jet(self, z: Tensor, order: int = 2) -> tuple[Tensor, ...]:
        _check_order(order)
        cdf = 0.5 * (1.0 + torch.erf(z * (1.0 / math.sqrt(2.0))))
        out: tuple[Tensor, ...] = (z * cdf,)
        if order >= 1:
            pdf = torch.exp(-0.5 * z * z) * (1.0 / math.sqrt(2.0 * math.pi))
            out += (cdf + z * pdf,)
        if order >= 2:
            out += (pdf * (2.0 - z * z),)
        return out


ACTIVATIONS: dict[str, type[Activation]] = {
    "tanh_sin": TanhSin,
    "silu_sin": SiLUSin,
    "silu_id": SiLUId,
    "tanh": Tanh,
    "silu": SiLU,
    "sin": Sin,
    "relu": ReLU,
    "identity": Identity,
    "gelu": GELU,
}
