"""What a PDE declares to the model: its fields, their boundary multipliers, and its residuals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from dgno.nn.multionet import Jet
from dgno.weak.assembly import WeakPoints


@dataclass(frozen=True)
class FieldSpec:
    """A network output: its name, the derivative order the residual needs, and whether its
    homogeneous Dirichlet condition is imposed exactly by the PDE's multiplier."""

    name: str
    order: int = 1
    constrained: bool = False


class PDE(Protocol):
    """A PDE as the model sees it (one file per PDE in pdes/)."""

    fields: tuple[FieldSpec, ...]
    terms: tuple[str, ...]  # the names of the residual terms, each with a precision lambda

    def multiplier(self, x: Tensor, order: int) -> Jet:
        """M(x) and its derivatives at points (N, d): value (N,), grad (N, d), hess (N, d, d)."""
        ...

    def coefficient(self, a_nodes: Tensor, x: Tensor) -> Tensor:
        """The input field between nodes: nodal values (B, *grid) at points (N, d) -> (B, N)."""
        ...

    def residuals(self, fields: dict[str, Jet], a: Tensor, points: WeakPoints) -> dict[str, Tensor]:
        """Per-sample sums of squared residuals, each (B,): the virtual observables' misfits.

        ``fields[name]`` holds value (B, P, Q) and grad (B, P, Q, d); ``a`` is (B, P, Q).
        """
        ...


def apply_multiplier(m: Jet, net: Jet) -> Jet:
    """u = M N by the product rule: grad u = grad M N + M grad N; hess likewise (shared points).

    m: value (N,), grad (N, d), hess (N, d, d); net: value (B, N), grad (B, N, d), hess (B, N, d, d).
    """
    value = m.value * net.value  # (B, N)
    grad = hess = None
    if net.grad is not None:
        grad = m.grad * net.value[..., None] + m.value[..., None] * net.grad  # (B, N, d)
    if net.hess is not None:
        outer = torch.einsum("ni,bnj->bnij", m.grad, net.grad)  # (B, N, d, d)
        hess = (
            m.hess * net.value[..., None, None]
            + outer
            + outer.transpose(-1, -2)
            + m.value[..., None, None] * net.hess
        )
    return Jet(value, grad, hess)
