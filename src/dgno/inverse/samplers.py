"""Posterior computation: MAP by multi-start optimisation, a Laplace approximation, and NUTS from pyro.

All work on theta of shape (B, d), B independent instances whose log densities add up: the optimiser's
per-coordinate updates keep instances independent, and NUTS samples their product posterior.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from dgno.inverse.diagnostics import ess_bulk, rhat
from dgno.inverse.posterior import LatentPosterior


@dataclass
class Draws:
    """Posterior draws theta (C, S, B, d): C chains (or 1), S draws each, B instances."""

    theta: Tensor
    method: str
    seconds: float
    evaluations: int  # gradient evaluations of the log density
    diagnostics: dict = field(default_factory=dict)

    @property
    def flat(self) -> Tensor:
        """All draws of every chain: (C * S, B, d)."""
        c, s, b, d = self.theta.shape
        return self.theta.reshape(c * s, b, d)


class _Counted:
    """The potential with a count of its (gradient) evaluations."""

    def __init__(self, posterior: LatentPosterior, transform) -> None:
        self.posterior, self.transform, self.calls = posterior, transform, 0

    def __call__(self, params: dict) -> Tensor:
        self.calls += 1
        return self.posterior.potential(self.transform(params["theta"]))


# ---------------------------------------------------------------------------------------------- MAP
def find_map(
    posterior: LatentPosterior,
    *,
    starts: int = 4,
    steps: int = 400,
    lr: float = 0.05,
    generator: torch.Generator | None = None,
    init: Tensor | None = None,
    polish: int = 50,
) -> tuple[Tensor, Tensor, Tensor]:
    """Maximise log p(theta | y) from ``starts`` points per instance: the prior mean and draws from the prior.

    Adam with a cosine-decayed step, all starts and instances in one batch, then ``polish`` iterations of
    L-BFGS (the sum over starts and instances is separable, so this is still per-instance optimisation).
    Returns the best theta per instance (B, d), its log density (B,), and the optimum of every start
    (starts, B, d).
    """
    b, d = posterior.n_instances, posterior.dim
    p = posterior.prior.mean
    theta0 = posterior.prior.sample(starts * b, generator=generator).to(p.device, p.dtype).reshape(starts, b, d)
    theta0[0] = 0.0  # the prior's centre
    if init is not None:
        theta0[0] = init
    theta = theta0.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr / 50)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = -posterior.log_prob(theta).sum()
        loss.backward()
        opt.step()
        sched.step()
    if polish:  # quasi-Newton from where Adam stopped: the MAP to optimiser precision
        lbfgs = torch.optim.LBFGS([theta], lr=1.0, max_iter=polish, history_size=20, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-9, tolerance_change=1e-12)

        def closure() -> Tensor:
            lbfgs.zero_grad(set_to_none=True)
            loss = -posterior.log_prob(theta).sum()
            loss.backward()
            return loss

        lbfgs.step(closure)
    with torch.no_grad():
        lp = posterior.log_prob(theta)  # (starts, B)
        best = lp.argmax(0)  # (B,)
        idx = torch.arange(b, device=best.device)
        return theta[best, idx].detach(), lp[best, idx], theta.detach()


def hessian(posterior: LatentPosterior, theta: Tensor) -> Tensor:
    """Hessian of -log p(theta | y) per instance: theta (B, d) -> (B, d, d).

    One double-backward pass over d copies of theta: copy m differentiates the m-th gradient component.
    """
    b, d = theta.shape
    copies = theta.detach().expand(d, b, d).clone().requires_grad_(True)  # (d, B, d)
    (grad,) = torch.autograd.grad(posterior.log_prob(copies).sum(), copies, create_graph=True)
    diagonal = grad.diagonal(dim1=0, dim2=2).sum()  # sum_m grad[m, :, m]
    (rows,) = torch.autograd.grad(diagonal, copies)  # rows[m, b] = d/dtheta (d log p / dtheta_m)
    h = -rows.permute(1, 0, 2)  # (B, d, d)
    return (h + h.transpose(1, 2)) / 2


def laplace_factor(posterior: LatentPosterior, theta_map: Tensor, *, jitter: float = 1e-6) -> tuple[Tensor, list[int]]:
    """A (B, d, d) with A A^T = H^-1 at the MAP, and per instance the number of Hessian eigenvalues clipped.

    Eigenvalues below ``jitter`` times the largest (a MAP that is not a strict maximum) are clipped to it.
    """
    h = hessian(posterior, theta_map).double()
    evals, evecs = torch.linalg.eigh(h)  # (B, d), (B, d, d)
    floor = jitter * evals.abs().amax(-1, keepdim=True)
    clipped = (evals < floor).sum(-1).tolist()
    factor = evecs / evals.clamp_min(floor).sqrt()[:, None, :]  # V diag(lambda^-1/2)
    return factor.to(theta_map.dtype), clipped


def laplace(posterior: LatentPosterior, theta_map: Tensor, n: int, *, generator: torch.Generator | None = None,
            factor: Tensor | None = None) -> tuple[Tensor, dict]:
    """n draws from the Laplace approximation N(theta_map, H^-1): (n, B, d)."""
    info = {}
    if factor is None:
        factor, info["hessian_eigenvalues_clipped"] = laplace_factor(posterior, theta_map)
    z = torch.randn(n, *theta_map.shape, generator=generator, dtype=theta_map.dtype).to(theta_map.device)
    return theta_map + torch.einsum("bij,nbj->nbi", factor, z), info


def map_laplace(posterior: LatentPosterior, *, draws: int = 500, starts: int = 4, steps: int = 400,
                seed: int = 0) -> Draws:
    """The fast mode: multi-start MAP, then draws from the Laplace approximation around it."""
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    theta_map, lp, _ = find_map(posterior, starts=starts, steps=steps, generator=g)
    theta, info = laplace(posterior, theta_map, draws, generator=g)
    seconds = time.perf_counter() - t0
    diag = {"map_log_prob": lp.tolist(), **info}
    return Draws(theta[None], "map", seconds, starts * steps, diag | {"theta_map": theta_map})


# --------------------------------------------------------------------------------------------- NUTS
from dgno.inverse.settings import CHAIN_METHODS  # noqa: E402  (one declaration, with the settings)


@contextlib.contextmanager
def _local_rng(seed: int) -> Iterator[None]:
    """Seed the generators that pyro's NUTS draws from (torch's, numpy's and Python's global ones: pyro has no
    generator argument) for one chain, and give the caller's states back afterwards: a chain's draws depend on
    its seed alone, and sampling leaves the user's random streams where they were."""
    import pyro

    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002 - pyro seeds the legacy one
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        pyro.set_rng_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)  # noqa: NPY002


def nuts(
    posterior: LatentPosterior,
    *,
    draws: int = 500,
    warmup: int = 300,
    chains: int = 2,
    seed: int = 0,
    max_tree_depth: int = 8,
    target_accept: float = 0.8,
    full_mass: bool = False,
    init: Tensor | None = None,
    center: Tensor | None = None,
    factor: Tensor | None = None,
    progress: bool = False,
    chain_method: str = "sequential",
) -> Draws:
    """No-U-Turn sampling (pyro's NUTS with step-size and mass-matrix adaptation).

    chain_method "sequential": chains one after another, each with its own adaptation. "vectorized" (NumPyro's
    name for it): the C chains are C copies of the B instances in one NUTS run over theta (C, B, d), so that every
    evaluation of the log density is one batched pass over C B latents; the copies share the step size, the
    mass-matrix adaptation and each trajectory's length, and each copy's marginal is still the posterior (the
    joint target is the product of C B independent posteriors). Batched passes cost much less per latent than
    single ones (darcy-pwc with the PDE term, one thread: 10.6 ms for one latent, 20 ms for ten).

    init (chains, B, d): starting points, e.g. the MAP optimum of different starts; by default each chain
    starts from the prior's centre plus a small jitter. Reports split R-hat and effective sample sizes
    (pyro.ops.stats), divergences and acceptance rate per chain.

    center (B, d) and factor (B, d, d) precondition: NUTS samples z with theta = center + factor z, e.g.
    the MAP and A A^T = H^-1 (Laplace), in which coordinates the posterior is close to N(0, I). The map is
    linear, so the sampled density is the exact posterior (constant Jacobian).
    """
    from pyro.infer.mcmc import MCMC, NUTS

    b, d = posterior.n_instances, posterior.dim
    p = posterior.prior.mean
    if init is None:
        g = torch.Generator().manual_seed(seed)
        init = 0.1 * torch.randn(chains, b, d, generator=g, dtype=p.dtype).to(p.device)
    if init.shape != (chains, b, d):
        raise ValueError(f"init must have shape (chains, B, d) = {(chains, b, d)}, got {tuple(init.shape)}")
    if (center is None) != (factor is None):
        raise ValueError("center and factor go together")
    if center is None:
        center = torch.zeros(b, d, dtype=p.dtype, device=p.device)
        factor = torch.eye(d, dtype=p.dtype, device=p.device).expand(b, d, d)
    factor_inv = torch.linalg.inv(factor.double()).to(factor.dtype)

    def to_theta(z: Tensor) -> Tensor:  # (..., B, d) -> (..., B, d)
        return center + torch.einsum("bij,...bj->...bi", factor, z)

    if chain_method not in CHAIN_METHODS:
        raise ValueError(f"chain_method must be one of {CHAIN_METHODS}, got {chain_method!r}")
    init = torch.einsum("bij,cbj->cbi", factor_inv, init - center)  # starting points in z
    potential = _Counted(posterior, to_theta)

    def run(start: Tensor, rng_seed: int) -> tuple[Tensor, dict]:
        """One pyro NUTS run from ``start`` (z of any leading shape): its draws (S, *start.shape) in theta."""
        with _local_rng(rng_seed):
            kernel = NUTS(potential_fn=potential, target_accept_prob=target_accept, max_tree_depth=max_tree_depth,
                          adapt_step_size=True, adapt_mass_matrix=True, full_mass=full_mass)
            mcmc = MCMC(kernel, num_samples=draws, warmup_steps=warmup, initial_params={"theta": start.clone()},
                        disable_progbar=not progress)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                mcmc.run()
        diag = mcmc.diagnostics()
        info = {"divergences": len(diag.get("divergences", {}).get("chain 0", [])),
                "acceptance_rate": float(diag.get("acceptance rate", {}).get("chain 0", math.nan)),
                "step_size": float(kernel.step_size)}
        return to_theta(mcmc.get_samples()["theta"].reshape(draws, *start.shape)), info

    t0 = time.perf_counter()
    if chain_method == "vectorized":
        joint, info = run(init, seed * 1000)  # (S, C, B, d)
        theta = joint.permute(1, 0, 2, 3).contiguous()  # (C, S, B, d)
        per_chain = [info]  # one run: its divergences are those of all copies together
    else:
        samples, per_chain = [], []
        for c in range(chains):
            chain_theta, info = run(init[c], seed * 1000 + c)
            samples.append(chain_theta)
            per_chain.append(info)
        theta = torch.stack(samples)  # (C, S, B, d)
    seconds = time.perf_counter() - t0
    x = theta.double().cpu().numpy()  # (C, S, B, d)
    c, s, b, d = x.shape
    flat = x.reshape(c, s, b * d)
    ess = torch.from_numpy(ess_bulk(flat).reshape(b, d))  # bulk ESS per latent coordinate (ArviZ)
    r = torch.from_numpy(rhat(flat).reshape(b, d)) if s >= 4 else torch.full_like(ess, math.nan)
    diagnostics = {"chains": per_chain, "ess_bulk": ess, "rhat": r, "warmup": warmup, "chain_method": chain_method}
    return Draws(theta, "nuts", seconds, potential.calls, diagnostics)
