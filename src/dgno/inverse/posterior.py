"""The posterior over the latent: log p(theta | y) = log p(theta) + log p(y | beta) + log p(0 | r(beta)).

beta = prior.transform(theta). Observations y_kc of C of the problem's outputs G_c (u for Darcy and Burgers;
any of a vector problem's) at free points x_k (B instances, K points each):

    log p(y | beta) = -sum_k sum_c (y_kc - G_c(beta)(x_k))^2 / (2 v_kc),   v_kc = sigma_c^2 + sigma_model,c(x_k)^2

where sigma_model is the forward model's own error (estimated on the validation split; zero to switch it
off). With a correlated model error (:mod:`dgno.inverse.model_error`) the misfit is -r^T S^-1 r / 2 with the
residuals r of each instance stacked output by output and S = sigma^2 I + K_oo given by its Cholesky factor.
The virtual observables are the PDE's weak residuals with the decoded input a = E[a | beta]:

    log p(0 | r) = -w * sum_t (lambda_t / 2) R_t(G(beta), G_a(beta))

with the model's precisions lambda_t and a weight w (1 = the training likelihood). For two-phase inputs the
decoded a can be tempered, E_T[a | beta] = a_lo + (a_hi - a_lo) sigmoid(logit / T): T > 1 widens the decoded
interfaces, so that the PDE term changes smoothly with beta and NUTS can take longer steps. The particles are
drawn once per posterior, so the density is a fixed, smooth function of theta that HMC can sample.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dgno.inverse.prior import LatentPrior
from dgno.models import DGNO
from dgno.weak.assembly import WeakPoints


class LatentPosterior:
    """Unnormalised log posterior of B independent instances: theta (..., B, d) -> (..., B)."""

    def __init__(
        self,
        model: DGNO,
        prior: LatentPrior,
        x_obs: Tensor,
        y_obs: Tensor,
        noise_var: Tensor,
        points: WeakPoints | None,
        *,
        pde_weight: float = 1.0,
        components: tuple[int, ...] | None = None,
        noise_chol: Tensor | None = None,
        pde_temperature: float = 1.0,
    ) -> None:
        """x_obs (B, K, d); y_obs and noise_var (B, K, C), the C observed outputs ``components`` (indices into
        ``model.output_names``; default the first C); (B, K) is one output. ``noise_chol`` (B, C K, C K): the lower
        Cholesky factor of each instance's full noise covariance (residuals ordered output by output), which then
        replaces the diagonal noise_var in the misfit. ``pde_temperature`` T: the virtual observables read the
        decoded two-phase input with its logits divided by T (1: E[a | beta] itself)."""
        if y_obs.ndim == 2:
            y_obs = y_obs[..., None]
        if noise_var.ndim == 2:
            noise_var = noise_var[..., None]
        if x_obs.ndim != 3 or y_obs.shape[:2] != x_obs.shape[:2] or noise_var.shape != y_obs.shape:
            raise ValueError(f"need x_obs (B, K, d), y_obs and noise_var (B, K, C); got {tuple(x_obs.shape)}, "
                             f"{tuple(y_obs.shape)}, {tuple(noise_var.shape)}")
        n_out = len(model.output_names)
        self.components = tuple(range(y_obs.shape[-1])) if components is None else tuple(components)
        if len(self.components) != y_obs.shape[-1] or not all(0 <= c < n_out for c in self.components):
            raise ValueError(f"components {self.components} must name the {y_obs.shape[-1]} observed outputs among "
                             f"the model's {n_out}")
        p = next(model.parameters())
        self.model = model
        self.prior = prior.to(p.device, p.dtype)
        self.x_obs, self.y_obs, self.noise_var = (t.to(p.device, p.dtype) for t in (x_obs, y_obs, noise_var))
        self.points = points
        self.pde_weight = float(pde_weight)
        self.pde_temperature = float(pde_temperature)
        self.noise_chol = None
        if noise_chol is not None:
            n = y_obs.shape[1] * y_obs.shape[2]
            if tuple(noise_chol.shape) != (y_obs.shape[0], n, n):
                raise ValueError(f"noise_chol must be (B, C K, C K) = {(y_obs.shape[0], n, n)}, "
                                 f"got {tuple(noise_chol.shape)}")
            self.noise_chol = noise_chol.to(p.device, p.dtype)
        self._repeated: dict[int, tuple[Tensor, Tensor, Tensor]] = {}
        for q in model.parameters():
            q.requires_grad_(False)

    @property
    def n_instances(self) -> int:
        return int(self.y_obs.shape[0])

    @property
    def dim(self) -> int:
        return self.prior.dim

    def parts(self, theta: Tensor) -> dict[str, Tensor]:
        """The log density's terms, each (..., B): 'prior', 'obs', 'pde'."""
        lead = theta.shape[:-1]
        if lead[-1:] != (self.n_instances,):
            raise ValueError(f"theta must be (..., B = {self.n_instances}, d), got {tuple(theta.shape)}")
        flat = theta.reshape(-1, theta.shape[-1])  # (M*B, d)
        m = flat.shape[0] // self.n_instances
        beta = self.prior.transform(flat)
        x, y, var = self._observations(m)
        u = self.model.outputs_at_batch(beta, x)[..., list(self.components)]  # (M*B, K, C)
        if self.noise_chol is None:
            misfit = ((u - y) ** 2 / var).sum((-2, -1))  # (M*B,)
        else:  # r^T S^-1 r = |L^-1 r|^2, residuals output by output
            r = (u - y).transpose(-1, -2).reshape(m, self.n_instances, -1, 1)  # (M, B, C K, 1)
            z = torch.linalg.solve_triangular(self.noise_chol, r, upper=False)
            misfit = (z**2).sum((-2, -1)).reshape(-1)
        out = {"prior": self.prior.log_prob(flat), "obs": -0.5 * misfit}
        if self.points is not None and self.pde_weight > 0:
            a_nodes = self.input(flat, beta)  # (M*B, *grid)
            terms = self.model.physics_terms(beta, a_nodes, self.points)
            out["pde"] = -self.pde_weight * torch.stack(list(terms.values())).sum(0)
        else:
            out["pde"] = torch.zeros_like(out["obs"])
        return {k: v.reshape(lead) for k, v in out.items()}

    def input(self, theta: Tensor, beta: Tensor) -> Tensor:
        """The input a that the virtual observables read: the prior's own field when it knows one (a family
        prior's exact a(b)), else the decoded mean E[a | beta]. (n, *grid_a)."""
        a = self.prior.input(theta)
        if a is not None:
            return a
        return self.model.likelihood.tempered_mean(self.model.decode_a(beta), self.pde_temperature)

    def _observations(self, m: int) -> tuple[Tensor, Tensor, Tensor]:
        """Observation points, values and variances repeated for m draws per instance: (m*B, K, ...).

        Kept, so that the same tensors come back each call (frozen trunks recognise them)."""
        if m not in self._repeated:
            self._repeated[m] = (self.x_obs.repeat(m, 1, 1), self.y_obs.repeat(m, 1, 1), self.noise_var.repeat(m, 1, 1))
        return self._repeated[m]

    def log_prob(self, theta: Tensor) -> Tensor:
        """(..., B, d) -> (..., B)."""
        return sum(self.parts(theta).values())

    def potential(self, theta: Tensor) -> Tensor:
        """-sum of log_prob: the scalar potential energy of HMC (independent instances add up)."""
        return -self.log_prob(theta).sum()

    @torch.no_grad()
    def push_forward(self, theta: Tensor, x_u: Tensor) -> dict[str, Tensor]:
        """Fields of latent draws theta (S, B, d): every output at the points x_u (N, d) -> 'u' (S, B, N, C); the
        decoded input at the input nodes as its mean E[a | beta], its mode and, for two-phase inputs,
        P(high phase) -> (S, B, *grid_a); with a family prior, a is the family's field and 'params' (S, B, k) its
        parameters."""
        s, b, d = theta.shape
        flat = theta.reshape(-1, d)
        beta = self.prior.transform(flat)
        u = self.model.outputs_at(beta, x_u).reshape(s, b, x_u.shape[0], -1)
        a = self.prior.input(flat)
        if a is not None:  # a family prior: the exact input of the parameters, and the parameters
            a = a.reshape(s, b, *a.shape[1:])
            return {"u": u, "a": a, "a_mode": a, "params": self.prior.parameters(theta)}
        out = self.model.decode_a(beta)
        result = {
            "u": u,
            "a": self.model.likelihood.mean(out).reshape(s, b, *out.shape[1:]),
            "a_mode": self.model.likelihood.mode(out).reshape(s, b, *out.shape[1:]),
        }
        prob = self.model.likelihood.phase_prob(out)
        if prob is not None:
            result["phase_prob"] = prob.reshape(s, b, *out.shape[1:])
        return result
