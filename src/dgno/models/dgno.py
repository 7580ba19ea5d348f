"""DGNO: a latent beta encodes the input a and the solution u; physics enters as virtual observables.

Per sample, with beta from the encoder q(beta | a),

    loss = [ -log p(a | beta) + sum_t (lambda_t / 2) R_t(G(beta), a) (+ KL) (+ labeled misfit) ] / n_a

where R_t are the problem's per-sample residual sums (e.g. sum_j r_j^2 of the weak residuals) and n_a
the number of input values (a constant normalisation that keeps the loss O(1)). p(a | beta) reads either
an input decoder (a coefficient field) or one of the problem's outputs at the input points (an initial
condition u(x, 0)), as the problem's ``input`` declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import Tensor, nn

from dgno.models.likelihoods import BernoulliPhase, GaussianField
from dgno.nn.encoders import GaussianEncoder
from dgno.nn.multionet import Jet, MultiONet
from dgno.pdes.base import Problem, constrain, uses_boundary_terms
from dgno.weak.assembly import WeakPoints


class LossOutput(NamedTuple):
    total: Tensor  # scalar, differentiable
    parts: dict[str, Tensor]  # detached batch means of each term (same normalisation as total)


class DGNO(nn.Module):
    """Encoder, input decoder (unless the problem reads a from its outputs) and one MultiONet per problem field."""

    def __init__(
        self,
        *,
        encoder: nn.Module,
        decoders: Mapping[str, MultiONet],
        a_decoder: MultiONet | None,
        problem: Problem,
        likelihood: BernoulliPhase | GaussianField,
        x_a: Tensor,
        a_mean: Tensor,
        a_std: Tensor,
        precisions: Mapping[str, float],
        labeled_sigma: float = 0.01,
        kl_weight: float = 1.0,
    ) -> None:
        super().__init__()
        missing = [f.name for f in problem.fields if f.name not in decoders]
        if missing:
            raise ValueError(f"no decoder for field(s) {missing}")
        if (a_decoder is None) != (problem.input.output is not None):
            raise ValueError("an input decoder is needed exactly when the problem does not read a from an output")
        self.encoder = encoder
        self.decoders = nn.ModuleDict(dict(decoders))
        self.a_decoder = a_decoder
        self.problem = problem
        self.likelihood = likelihood
        self.precisions = dict(precisions)
        self.labeled_sigma = labeled_sigma
        self.kl_weight = kl_weight
        self.register_buffer("x_a", x_a)  # (*grid_a, d_a)
        self.register_buffer("a_mean", a_mean)  # (*grid_a)
        self.register_buffer("a_std", a_std)  # (*grid_a)

    @property
    def variational(self) -> bool:
        return isinstance(self.encoder, GaussianEncoder)

    @property
    def noise_dim(self) -> int:
        """The size of the standard normal draw per sample that a training step needs (0: deterministic)."""
        return self.encoder.mean_head.out_features if self.variational else 0

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.problem.outputs)

    # ---------------------------------------------------------------------------------- encoding
    def encode(self, a: Tensor, *, sample: bool = True, generator: torch.Generator | None = None,
               noise: Tensor | None = None):
        """beta (B, d_beta) and KL(q || N(0, I)) (B,) (zeros for a deterministic encoder); ``noise`` (B, d_beta) is
        the standard normal draw of a variational encoder when given."""
        z = (a - self.a_mean) / self.a_std  # (B, *grid_a)
        if not self.variational:
            beta = self.encoder(z)
            return beta, beta.new_zeros(beta.shape[0])
        mean, log_var = self.encoder(z)
        beta = self.encoder.sample(mean, log_var, generator=generator, noise=noise) if sample else mean
        return beta, self.encoder.kl(mean, log_var)

    # ---------------------------------------------------------------------------------- decoding
    def decode_a(self, beta: Tensor) -> Tensor:
        """What p(a | beta) reads at the input nodes (logits or mean): (B, *grid_a).

        The input decoder's output, or the problem's output named by ``input.output`` at ``input.at(x_a)``.
        """
        x = self.x_a.reshape(-1, self.x_a.shape[-1])  # (n_a, d_a)
        spec = self.problem.input
        if spec.output is None:
            out = self.a_decoder(x, beta)  # (B, n_a)
        else:
            out = self.outputs_at(beta, spec.at(x), names=(spec.output,))[..., 0]  # (B, n_a)
        return out.reshape(beta.shape[0], *self.x_a.shape[:-1])

    def fields_at(self, beta: Tensor, x: Tensor, *, a: Tensor | None = None, shared: bool = True,
                  order: int | None = None, only: set[str] | None = None) -> dict[str, Jet]:
        """Every problem field with the derivatives it needs (or ``order``) at points x (N, d): Jets over (B, N).

        a (B, *grid_a) is the batch's input, read by lifts that depend on it. shared=True evaluates the trunks once
        for the whole batch; shared=False repeats the points per sample (the per-sample path, for benchmarks).
        """
        out = {}
        for f in self.problem.fields:
            if only is not None and f.name not in only:
                continue
            k = f.order if order is None else order
            net = self.decoders[f.name]
            if shared:
                jet = net.jet(x, beta, order=k)
            else:
                jet = net.jet_batch(x.expand(beta.shape[0], *x.shape), beta, order=k)
            out[f.name] = constrain(f.constraint, x, jet, a, k)
        return out

    def outputs_at(self, beta: Tensor, x: Tensor, *, a: Tensor | None = None,
                   names: tuple[str, ...] | None = None) -> Tensor:
        """The problem's outputs at points x (N, d): (B, N, C), C = len(names) (all outputs by default)."""
        chosen = [o for o in self.problem.outputs if names is None or o.name in names]
        jets = self.fields_at(beta, x, a=a, order=max(o.order for o in chosen), only=_reads(chosen))
        return torch.stack([o.of(jets) for o in chosen], dim=-1)

    def outputs_at_batch(self, beta: Tensor, x: Tensor, *, a: Tensor | None = None) -> Tensor:
        """All outputs at per-sample points x (B, K, d): (B, K, C) (e.g. each instance's observation points)."""
        order = max(o.order for o in self.problem.outputs)
        only = _reads(self.problem.outputs)
        jets = {}
        for f in self.problem.fields:
            if only is not None and f.name not in only:
                continue
            jet = self.decoders[f.name].jet_batch(x, beta, order=order)  # over (B, K)
            if f.constraint is None:
                jets[f.name] = jet
                continue
            flat = x.reshape(-1, x.shape[-1])  # (B K, d): the constraint is applied per point
            one = Jet(*(None if t is None else t.reshape(1, -1, *t.shape[2:]) for t in jet))  # over (1, B K)
            lifted = constrain(f.constraint, flat, one, a, order)
            jets[f.name] = Jet(*(None if t is None else t.reshape(*x.shape[:2], *t.shape[2:]) for t in lifted))
        return torch.stack([o.of(jets) for o in self.problem.outputs], dim=-1)

    # -------------------------------------------------------------------------------------- loss
    def physics_terms(self, beta: Tensor, a_nodes: Tensor, points: WeakPoints, *, shared: bool = True) -> dict:
        """Virtual-observable terms (lambda_t / 2) R_t per sample (B,), with the input a_nodes (B, *grid_a): the
        data's a in training, the decoded a in inversion."""
        x = points.points  # (P*Q, d)

        def split(t: Tensor | None) -> Tensor | None:  # (B, P*Q, *rest) -> (B, P, Q, *rest)
            return None if t is None else points.unflatten(t, axis=1)

        jets = {name: Jet(split(j.value), split(j.grad), split(j.hess))
                for name, j in self.fields_at(beta, x, a=a_nodes, shared=shared).items()}  # (B, P, Q), (B, P, Q, d)
        a_x = self.problem.coefficient(a_nodes, x)
        a_q = None if a_x is None else points.unflatten(a_x, axis=1)  # (B, P, Q)
        residuals = self.problem.residuals(jets, a_q, points)
        if points.boundary and uses_boundary_terms(self.problem):
            on_boundary = {part: self.fields_at(beta, xb, a=a_nodes, shared=shared)
                           for part, xb in points.boundary.items()}  # part -> Jets over (B, M)
            residuals.update(self.problem.boundary_residuals(on_boundary, a_nodes))
        return {name: self.precisions[name] / 2 * r for name, r in residuals.items()}

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
        noise: Tensor | None = None,
    ) -> LossOutput:
        """Negative ELBO per input value for a batch of inputs a (B, *grid_a) at the weak points.

        u (B, *grid_u[, C]), labeled (B,) bool and x_u (*grid_u, d) add the labeled term for the samples
        with labeled = True (semi-supervised); physics-only training passes none of them. ``noise`` (B, d_beta) is
        the variational encoder's standard normal draw (the training loop's, from its checkpointed generator).
        """
        n_a = a[0].numel()
        beta, kl = self.encode(a, generator=generator, noise=noise)
        parts = {"nll_a": self.likelihood.nll(self.decode_a(beta), a)}  # (B,)
        parts.update(self.physics_terms(beta, a, points, shared=shared))
        if self.variational:
            parts["kl"] = self.kl_weight * kl
        if u is not None and labeled is not None and bool(labeled.any()):
            pred = self.outputs_at(beta, x_u.reshape(-1, x_u.shape[-1]), a=a).reshape(u.shape)
            misfit = ((pred - u) / self.labeled_sigma) ** 2 / 2
            parts["labeled"] = misfit.flatten(1).sum(-1) * labeled.to(misfit.dtype)
        total = torch.stack(list(parts.values())).sum(0).mean() / n_a
        return LossOutput(total, {k: v.detach().mean() / n_a for k, v in parts.items()})

    # -------------------------------------------------------------------------------- prediction
    def shape_outputs(self, values: Tensor, grid: tuple[int, ...]) -> Tensor:
        """(B, N, C) -> (B, *grid) for one output, (B, *grid, C) for several (the data's layout of u)."""
        if values.shape[-1] == 1:
            return values[..., 0].reshape(values.shape[0], *grid)
        return values.reshape(values.shape[0], *grid, values.shape[-1])

    @torch.no_grad()
    def predict(self, a: Tensor, x_u: Tensor) -> dict[str, Tensor]:
        """Posterior-mean-latent predictions: the outputs at x_u (*grid_u, d) as 'u' (B, *grid_u[, C]) and the
        decoded a (mean and mode)."""
        beta, _ = self.encode(a, sample=False)
        out = self.decode_a(beta)
        values = self.outputs_at(beta, x_u.reshape(-1, x_u.shape[-1]), a=a)  # (B, N, C)
        u = self.shape_outputs(values, tuple(x_u.shape[:-1]))
        return {"u": u, "a_mean": self.likelihood.mean(out), "a_mode": self.likelihood.mode(out), "beta": beta}


def _reads(outputs) -> set[str] | None:
    """The fields that the outputs read (None: all)."""
    if any(o.reads is None for o in outputs):
        return None
    return {name for o in outputs for name in o.reads}
