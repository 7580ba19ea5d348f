"""The baselines DGNO is compared with, all mapping an input a on the n x n grid to u.

Physics-informed, no labels (the reference's Darcy baselines, digest §9.1):

    loss = w * mean_interior r(u, a)^2,   r = -div_h(a grad_h u) - f   (:func:`darcy_fd_residual`, or
    the reference baselines' central-difference form :func:`darcy_fd_residual_central`)

  * PI-DeepONet / PI-MultiONet: an encoder of a gives the branch input beta, the operator network is
    evaluated at the grid nodes (one shared trunk evaluation for the whole batch) and the strong form
    is imposed by the finite-difference residual on the grid, as the reference did for Darcy.
  * PINO: an FNO with the same residual.

Supervised, on labeled pairs (a, u): DeepONet, MultiONet, FNO and the peer library's FNO, with the
loss mean_b ||u_pred - u||^2 / ||u||^2 (the squared relative L2 error, scale-free).

Every model here multiplies its raw output by M(x) = sin(pi x) sin(pi y), so u = 0 on the boundary
exactly (the reference's "mollifier"), exposes ``loss(a, points, u=, labeled=, x_u=) -> LossOutput``
and ``predict(a, x_u) -> {"u": ...}``, and keeps the grid and input statistics as buffers so that a
run folder reloads it like a DGNO model.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dgno.models.dgno import LossOutput
from dgno.nn.multionet import MultiONet
from dgno.pdes.darcy import GRID_RESIDUALS


def grid_multiplier(x: Tensor) -> Tensor:
    """sin(pi x) sin(pi y) at points x (..., 2): zero on the boundary of the unit square."""
    return torch.sin(math.pi * x[..., 0]) * torch.sin(math.pi * x[..., 1])


def count_parameters(module: nn.Module) -> int:
    """Trainable real numbers (a complex weight counts twice)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters() if p.requires_grad)


class GridOperator(nn.Module):
    """Common part of the baselines: normalisation, boundary multiplier, residual and data losses.

    Subclasses implement ``raw(z, x)``: the unconstrained output at points x (N, d) for normalised
    inputs z (B, *grid) -> (B, N).
    """

    uses_weak_points = False

    def __init__(
        self,
        *,
        x_a: Tensor,
        a_mean: Tensor,
        a_std: Tensor,
        physics: bool,
        source: float = 10.0,
        residual_weight: float = 1.0,
        residual: str = "fd",
    ) -> None:
        super().__init__()
        if residual not in GRID_RESIDUALS:
            raise ValueError(f"unknown grid residual {residual!r}; choose one of {', '.join(GRID_RESIDUALS)}")
        self.residual = residual
        self.physics = physics
        self.source = source
        self.residual_weight = residual_weight
        self.register_buffer("x_a", x_a)  # (*grid, d)
        self.register_buffer("a_mean", a_mean)  # (*grid)
        self.register_buffer("a_std", a_std)  # (*grid)

    @property
    def needs_labels(self) -> bool:
        return not self.physics

    def raw(self, z: Tensor, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, a: Tensor, x: Tensor | None = None) -> Tensor:
        """u at points x (N, d) (default: the input grid), for inputs a (B, *grid): (B, N) or (B, *grid)."""
        on_grid = x is None
        pts = self.x_a.reshape(-1, self.x_a.shape[-1]) if on_grid else x
        z = (a - self.a_mean) / self.a_std
        u = grid_multiplier(pts) * self.raw(z, pts)  # (B, N)
        return u.reshape(a.shape[0], *self.x_a.shape[:-1]) if on_grid else u

    def loss(
        self,
        a: Tensor,
        points=None,
        *,
        u: Tensor | None = None,
        labeled: Tensor | None = None,
        x_u: Tensor | None = None,
        **_: object,
    ) -> LossOutput:
        """Mean over the batch of the residual term (physics) and/or the labeled term.

        The labeled term needs u (B, *grid) on the input grid; samples with labeled = False add nothing.
        """
        pred = self(a)  # (B, *grid)
        parts: dict[str, Tensor] = {}
        if self.physics:
            r = GRID_RESIDUALS[self.residual](pred, a, self.source)  # (B, n-2, n-2) or (B, n-4, n-4)
            parts["residual"] = self.residual_weight * r.pow(2).flatten(1).mean(1)
        if u is not None and labeled is not None and bool(labeled.any()):
            if u.shape != pred.shape:
                raise ValueError(f"labeled u has shape {tuple(u.shape)}, the model predicts {tuple(pred.shape)}")
            rel2 = (pred - u).pow(2).flatten(1).sum(1) / u.pow(2).flatten(1).sum(1).clamp_min(1e-30)
            parts["data"] = rel2 * labeled.to(rel2.dtype)
        if not parts:
            raise ValueError("a supervised baseline needs labeled samples (data.n_labeled > 0)")
        total = torch.stack(list(parts.values())).sum(0).mean()
        return LossOutput(total, {k: v.detach().mean() for k, v in parts.items()})

    @torch.no_grad()
    def predict(self, a: Tensor, x_u: Tensor) -> dict[str, Tensor]:
        """u at the nodes x_u (*grid_u, d)."""
        if x_u.shape == self.x_a.shape and torch.equal(x_u, self.x_a.to(x_u)):
            return {"u": self(a)}
        u = self(a, x_u.reshape(-1, x_u.shape[-1]))
        return {"u": u.reshape(a.shape[0], *x_u.shape[:-1])}


class ONetOperator(GridOperator):
    """(PI-)DeepONet / (PI-)MultiONet: u(x) = M(x) G(enc(a))(x), the trunk shared by the batch."""

    def __init__(self, encoder: nn.Module, net: MultiONet, **kwargs) -> None:
        super().__init__(**kwargs)
        self.encoder = encoder
        self.net = net

    def raw(self, z: Tensor, x: Tensor) -> Tensor:
        return self.net(x, self.encoder(z))  # (B, N)


class FieldOperator(GridOperator):
    """FNO-type models, a grid-to-grid map: PINO, FNO and the peer library's FNO."""

    def __init__(self, net: nn.Module, **kwargs) -> None:
        super().__init__(**kwargs)
        self.net = net

    def raw(self, z: Tensor, x: Tensor) -> Tensor:
        if x.shape[0] != self.x_a[..., 0].numel():
            raise ValueError("an FNO predicts on its input grid only")
        return self.net(z).flatten(1)  # (B, H, W) -> (B, N)


class NeuralOpFNO(nn.Module):
    """Adapter for neuraloperator's FNO: (B, H, W) -> (B, H, W) through its (B, C, H, W) convention."""

    def __init__(self, *, modes: int, width: int, layers: int, padding: int) -> None:
        super().__init__()
        try:
            from neuralop.models import FNO
        except ImportError as exc:
            raise ImportError(f"neuraloperator is not installed ({exc}); pip install 'dgno[peers]'") from None
        # 'grid' positional embedding appends the (x, y) channels itself; padding as a fraction of the grid
        self.net = FNO(n_modes=(modes, modes), in_channels=1, out_channels=1, hidden_channels=width,
                       n_layers=layers, positional_embedding="grid", domain_padding=None if not padding else 0.1)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, None])[:, 0]

    def state_dict(self, *args, **kwargs):
        """Tensors only: neuraloperator adds a '_metadata' entry of Python objects, which our checkpoints
        (loaded with weights_only=True) do not hold; the architecture is in the run's config instead."""
        out = super().state_dict(*args, **kwargs)
        for key in [k for k, v in out.items() if not isinstance(v, Tensor)]:
            del out[key]
        return out
