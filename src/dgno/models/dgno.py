"""DGNO: a latent beta encodes the input a and the solution u; physics enters as virtual observables.

Per sample, with beta from the encoder q(beta | a),

    loss = [ -log p(a | beta) + sum_t (lambda_t / 2) R_t(G(beta), a) (+ KL) (+ labeled misfit) ] / n_a

where R_t are the PDE's per-sample residual sums (e.g. sum_j r_j^2 of the weak residuals) and n_a
the number of input nodes (a constant normalisation that keeps the loss O(1)).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import Tensor, nn

from dgno.models.likelihoods import BernoulliPhase, GaussianField
from dgno.nn.encoders import GaussianEncoder
from dgno.nn.multionet import Jet, MultiONet
from dgno.pdes.base import PDE, apply_multiplier
from dgno.weak.assembly import WeakPoints


class LossOutput(NamedTuple):
    total: Tensor  # scalar, differentiable
    parts: dict[str, Tensor]  # detached batch means of each term (same normalisation as total)


class DGNO(nn.Module):
    """Encoder, input decoder and one MultiONet per PDE field, trained on unlabeled inputs."""

    def __init__(
        self,
        *,
        encoder: nn.Module,
        decoders: Mapping[str, MultiONet],
        a_decoder: MultiONet,
        pde: PDE,
        likelihood: BernoulliPhase | GaussianField,
        x_a: Tensor,
        a_mean: Tensor,
        a_std: Tensor,
        precisions: Mapping[str, float],
        labeled_sigma: float = 0.01,
        kl_weight: float = 1.0,
    ) -> None:
        super().__init__()
        missing = [f.name for f in pde.fields if f.name not in decoders]
        if missing:
            raise ValueError(f"no decoder for field(s) {missing}")
        self.encoder = encoder
        self.decoders = nn.ModuleDict(dict(decoders))
        self.a_decoder = a_decoder
        self.pde = pde
        self.likelihood = likelihood
        self.precisions = dict(precisions)
        self.labeled_sigma = labeled_sigma
        self.kl_weight = kl_weight
        self.register_buffer("x_a", x_a)  # (*grid, d)
        self.register_buffer("a_mean", a_mean)  # (*grid)
        self.register_buffer("a_std", a_std)  # (*grid)

    @property
    def variational(self) -> bool:
        return isinstance(self.encoder, GaussianEncoder)

    # ---------------------------------------------------------------------------------- encoding
    def encode(self, a: Tensor, *, sample: bool = True, generator: torch.Generator | None = None):
        """beta (B, d_beta) and KL(q || N(0, I)) (B,) (zeros for a deterministic encoder)."""
        z = (a - self.a_mean) / self.a_std  # (B, *grid)
        if not self.variational:
            beta = self.encoder(z)
            return beta, beta.new_zeros(beta.shape[0])
        mean, log_var = self.encoder(z)
        beta = self.encoder.sample(mean, log_var, generator=generator) if sample else mean
        return beta, self.encoder.kl(mean, log_var)

    # ---------------------------------------------------------------------------------- decoding
    def decode_a(self, beta: Tensor) -> Tensor:
        """Input-decoder output at the input nodes (logits or mean): (B, *grid)."""
        x = self.x_a.reshape(-1, self.x_a.shape[-1])  # (n_a, d)
        return self.a_decoder(x, beta).reshape(beta.shape[0], *self.x_a.shape[:-1])

    def fields_at(self, beta: Tensor, x: Tensor, *, shared: bool = True) -> dict[str, Jet]:
        """Every PDE field with the derivatives it needs at points x (N, d): Jets over (B, N).

        shared=True evaluates the trunks once for the whole batch; shared=False repeats the points
        per sample (the per-sample path, for benchmarks and for point sets that differ per sample).
        """
        order = max(f.order for f in self.pde.fields)
        m = self.pde.multiplier(x, order)
        out = {}
        for f in self.pde.fields:
            net = self.decoders[f.name]
            if shared:
                jet = net.jet(x, beta, order=f.order)
            else:
                jet = net.jet_batch(x.expand(beta.shape[0], *x.shape), beta, order=f.order)
            out[f.name] = apply_multiplier(m, jet) if f.constrained else jet
        return out

    def predict_u(self, beta: Tensor, x: Tensor) -> Tensor:
        """The solution (first field) at points x (N, d): (B, N)."""
        first = self.pde.fields[0]
        value = self.decoders[first.name](x, beta)  # (B, N)
        if first.constrained:
            value = self.pde.multiplier(x, 0).value * value
        return value

    def predict_u_at(self, beta: Tensor, x: Tensor) -> Tensor:
        """The solution at per-sample points x (B, K, d): (B, K)."""
        first = self.pde.fields[0]
        value = self.decoders[first.name].forward_batch(x, beta)  # (B, K)
        if first.constrained:
            value = self.pde.multiplier(x.reshape(-1, x.shape[-1]), 0).value.reshape(value.shape) * value
        return value

    # -------------------------------------------------------------------------------------- loss
    def physics_terms(self, beta: Tensor, a_nodes: Tensor, points: WeakPoints, *, shared: bool = True) -> dict:
        """Virtual-observable terms (lambda_t / 2) R_t per sample (B,), with the coefficient read from nodal
        values a_nodes (B, *grid): the data's a in training, the decoded a in inversion."""
        x = points.points  # (P*Q, d)

        def split(t: Tensor | None) -> Tensor | None:  # (B, P*Q, *rest) -> (B, P, Q, *rest)
            return None if t is None else points.unflatten(t, axis=1)

        jets = {name: Jet(split(j.value), split(j.grad), split(j.hess))
                for name, j in self.fields_at(beta, x, shared=shared).items()}  # values (B, P, Q), grads (B, P, Q, d)
        a_q = points.unflatten(self.pde.coefficient(a_nodes, x), axis=1)  # (B, P, Q)
        return {name: self.precisions[name] / 2 * r for name, r in self.pde.residuals(jets, a_q, points).items()}

    def loss(
        self,
        a: Tensor,
        points: WeakPoints,
        *,
        u: Tensor | None = None,
        labeled: Tensor | None = None,
        x_u: Tensor | None = None,
        shared: bool = True,
        generator: torch.Generator | None = None,
    ) -> LossOutput:
        """Negative ELBO per input node for a batch of inputs a (B, *grid) at the weak points.

        u (B, *grid_u), labeled (B,) bool and x_u (*grid_u, d) add the labeled term for the samples
        with labeled = True (semi-supervised); physics-only training passes none of them.
        """
        n_a = a[0].numel()
        beta, kl = self.encode(a, generator=generator)
        parts = {"nll_a": self.likelihood.nll(self.decode_a(beta), a)}  # (B,)
        parts.update(self.physics_terms(beta, a, points, shared=shared))
        if self.variational:
            parts["kl"] = self.kl_weight * kl
        if u is not None and labeled is not None and bool(labeled.any()):
            pred = self.predict_u(beta, x_u.reshape(-1, x_u.shape[-1])).reshape(u.shape)
            misfit = ((pred - u) / self.labeled_sigma) ** 2 / 2
            parts["labeled"] = misfit.flatten(1).sum(-1) * labeled.to(misfit.dtype)
        total = torch.stack(list(parts.values())).sum(0).mean() / n_a
        return LossOutput(total, {k: v.detach().mean() / n_a for k, v in parts.items()})

    # -------------------------------------------------------------------------------- prediction
    @torch.no_grad()
    def predict(self, a: Tensor, x_u: Tensor) -> dict[str, Tensor]:
        """Posterior-mean-latent predictions: u at x_u (*grid_u, d), decoded a (mean and mode)."""
        beta, _ = self.encode(a, sample=False)
        out = self.decode_a(beta)
        u = self.predict_u(beta, x_u.reshape(-1, x_u.shape[-1])).reshape(a.shape[0], *x_u.shape[:-1])
        return {"u": u, "a_mean": self.likelihood.mean(out), "a_mode": self.likelihood.mode(out), "beta": beta}
