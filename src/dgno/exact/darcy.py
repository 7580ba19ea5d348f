"""Reference posteriors from the exact prior and the finite-difference solver: the yardstick of DGNO's inversions.

For the Darcy presets whose input distribution is known in closed form the posterior of a given sparse noisy
observations of u can be computed without any trained model, with the prior that generated the data and the
solver that made its ground truth as the forward model (:mod:`dgno.exact.darcy_fd`, the preset's
:class:`~dgno.reference.darcy_fd.DarcyFD` scheme on a grid ``refine`` times finer than the 29 x 29 nodes):

- ``darcy-pwc`` (two-phase a in {5, 10}: a Gaussian random field, thresholded at its nodes): preconditioned
  Crank-Nicolson MCMC (:func:`dgno.exact.mcmc.pcn`) on the white noise xi (32 x 32) of the preset's own
  GRF sampler, coefficients = ``grf.mode_std() * xi`` exactly as :meth:`GaussianRandomField.sample` draws them, so
  the prior is the data's prior. Several chains in lockstep, one batched solve per iteration; per-coordinate steps
  adapted in the warm-up (then fixed) towards 25 % acceptance.
- ``darcy-trig`` (a = 2.1 + sin(b1 x) + cos(b2 y), b uniform on a box): NUTS (pyro) on the two parameters in
  unconstrained coordinates b = lo + (hi - lo) sigmoid(theta), with the solve differentiated by one adjoint solve.

Both run until R-hat <= 1.05 and bulk ESS >= 200 for the posterior mean of a at every node (nodes whose value never
changes excepted), or to a wall-clock cap, and say which. :func:`reference_posterior` returns the same
:class:`~dgno.inverse.run.InstanceResult` as DGNO's inversions (posterior mean and intervals of a and u, phase
probabilities, coverage, diagnostics), which :func:`~dgno.inverse.run.write_posterior` writes;
``dgno invert --method reference`` runs it for one instance (:func:`run_reference`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import expit

from dgno.errors import DgnoError
from dgno.exact.darcy_fd import BandedDarcy, nearest_upsample
from dgno.exact.mcmc import PCNSettings, converged, convergence, pcn
from dgno.fields.base import unit_square_nodes
from dgno.fields.grf import cosine_basis
from dgno.fields.trig import TrigField
from dgno.fields.twophase import TwoPhaseField
from dgno.inverse.observations import (
    Observations,
    free_nodes,
)
from dgno.inverse.run import LEVELS, InstanceResult, Truth, by_level, coverage, parameter_summary, rel_l2_one

PRESETS = ("darcy-pwc", "darcy-trig")  # presets whose prior the reference knows
DEFAULT_REFINE = {"darcy-pwc": 1, "darcy-trig": 2}  # solver grids 29 x 29 and 57 x 57 (docs/inverse.md)


@dataclass(frozen=True)
class ReferenceSettings:
    """How long and how hard to sample; None takes the preset's default."""

    chains: int = 4
    seed: int = 0
    refine: int | None = None  # solver grid: (29 - 1) * refine + 1 nodes per side
    max_seconds: float = 1800.0  # wall-clock cap per instance
    rhat_max: float = 1.05
    ess_min: float = 200.0
    warmup: int | None = None  # pCN: iterations per chain (default 6000); NUTS: per chain (default 250)
    draws: int | None = None  # NUTS: draws per chain and round (default 300); pCN runs until converged
    max_kept: int = 1000  # draws kept for the files (darcy-trig: also the draws whose u is solved)

    def __post_init__(self) -> None:
        if self.chains < 2:
            raise DgnoError(f"the reference posterior needs at least 2 chains for R-hat, got {self.chains}")
        if self.refine is not None and self.refine < 1:
            raise DgnoError(f"refine must be >= 1, got {self.refine}")
        if not (math.isfinite(self.max_seconds) and self.max_seconds > 0):
            raise DgnoError(f"the wall-clock cap must be > 0 seconds, got {self.max_seconds}")
        for name in ("warmup", "draws"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise DgnoError(f"{name} must be >= 1, got {v}")


def check_preset(name: str | None):
    """The data preset object of a name the reference knows; one-line DgnoError otherwise."""
    from dgno.config import get_preset

    if name not in PRESETS:
        raise DgnoError(f"--method reference needs a preset whose prior is known ({', '.join(PRESETS)}); "
                        f"got {name!r}")
    preset = get_preset(name)
    field = preset.field
    if not ((isinstance(field, TwoPhaseField) and field.resolution == "nodal") or isinstance(field, TrigField)):
        raise DgnoError(f"--method reference: preset {name!r} has an input field it cannot sample")
    return preset


# ------------------------------------------------------------------------------------- observation operator
@dataclass(frozen=True)
class ObservationOperator:
    """u at the observation points from u on the solver's n x n grid: bilinear weights of the 4 surrounding nodes
    (exact at nodes, so at the data's 29 x 29 nodes, which are solver nodes)."""

    index: np.ndarray  # (K, 4) flat indices into the n x n grid
    weight: np.ndarray  # (K, 4)
    x: np.ndarray  # (K, 2) the points

    @classmethod
    def at(cls, x: np.ndarray, n: int) -> ObservationOperator:
        s = np.clip(np.asarray(x, dtype=float), 0.0, 1.0) * (n - 1)  # (K, 2) in grid units
        near = np.rint(s)
        s = np.where(np.abs(s - near) < 1e-9, near, s)  # a node is a node
        i0 = np.clip(np.floor(s).astype(np.int64), 0, n - 2)
        t = s - i0
        idx, w = [], []
        for di in (0, 1):
            for dj in (0, 1):
                idx.append((i0[:, 0] + di) * n + (i0[:, 1] + dj))
                w.append((t[:, 0] if di else 1 - t[:, 0]) * (t[:, 1] if dj else 1 - t[:, 1]))
        return cls(np.stack(idx, 1), np.stack(w, 1), np.asarray(x, dtype=float))

    def __call__(self, u: np.ndarray) -> np.ndarray:
        """u (C, n, n) -> (C, K)."""
        return (u.reshape(u.shape[0], -1)[:, self.index] * self.weight).sum(-1)


def data_nodes(preset) -> np.ndarray:
    return unit_square_nodes(preset.n_nodes)


def _check_grid(x_u: np.ndarray | None, preset) -> None:
    nodes = data_nodes(preset)
    if x_u is not None and (x_u.shape != nodes.shape or not np.allclose(x_u, nodes, atol=1e-9)):
        raise DgnoError(f"--method reference: the data's grid {x_u.shape} is not the {preset.name} preset's "
                        f"{nodes.shape[0]} x {nodes.shape[1]} nodes")


def _observed_u(obs: Observations, preset) -> tuple[np.ndarray, float]:
    if tuple(obs.outputs) != ("u",):
        raise DgnoError(f"{obs.source}: the reference posterior of {preset.name} observes u only, got {obs.outputs}")
    return obs.y[:, 0], float(obs.sigma[0])


# ---------------------------------------------------------------------------------------------- two-phase
@dataclass
class _Samples:
    """What a sampler hands to the summary: draws (S, n, n) of a and u at the data's nodes, diagnostics."""

    a: np.ndarray
    u: np.ndarray
    diagnostics: dict
    phase: np.ndarray | None = None  # (S, n, n) bool, two-phase
    params: np.ndarray | None = None  # (S, k), parametric families
    param_names: tuple[str, ...] = ()


def two_phase_loglik(field: TwoPhaseField, solver: BandedDarcy, refine: int, op: ObservationOperator,
                     y: np.ndarray, sigma: float) -> Callable:
    """The log-likelihood of white noise xi (C, K, K) of the field's GRF: threshold at the nodes, solve, compare."""
    grf = field.grf
    t = np.linspace(0.0, 1.0, field.n_nodes)
    basis = cosine_basis(t, grf.n_modes)  # (n, K)
    std = grf.mode_std()  # (K, K)

    def loglik(xi: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        g = basis @ (std * xi) @ basis.T  # (C, n, n): the GRF at the nodes, as SpectralField evaluates it
        high = g >= field.level
        a = np.where(high, field.a_hi, field.a_lo)
        u = solver.solve(a if refine == 1 else nearest_upsample(a, refine))
        r = (y - op(u)) / sigma
        return -0.5 * (r * r).sum(-1), {"high": high, "u": u[:, ::refine, ::refine].astype(np.float32)}

    return loglik


def sample_two_phase(preset, obs: Observations, settings: ReferenceSettings, refine: int,
                     progress: Callable[[str], None] | None = None) -> _Samples:
    field: TwoPhaseField = preset.field
    if refine % 2 == 0:
        raise DgnoError(f"--refine must be odd for two-phase inputs (pixel edges halfway between nodes), got {refine}")
    y, sigma = _observed_u(obs, preset)
    n_fine = (field.n_nodes - 1) * refine + 1
    solver = BandedDarcy(n_fine, preset.source)
    op = ObservationOperator.at(obs.x, n_fine)
    loglik = two_phase_loglik(field, solver, refine, op, y, sigma)
    pcn_settings = PCNSettings(chains=settings.chains, seed=settings.seed, rhat_max=settings.rhat_max,
                               ess_min=settings.ess_min, max_seconds=settings.max_seconds,
                               warmup=settings.warmup or PCNSettings.warmup)
    k = field.grf.n_modes
    res = pcn(loglik, (k, k), pcn_settings, monitor="high", progress=progress)
    c, s = res.draws["high"].shape[:2]
    high = res.draws["high"].reshape(c * s, field.n_nodes, field.n_nodes)
    a = np.where(high, field.a_hi, field.a_lo)
    u = res.draws["u"].reshape(c * s, field.n_nodes, field.n_nodes).astype(float)
    diag = res.diagnostics
    summary = {
        "method": "reference-pcn", "sampler": "pCN on the GRF's white noise", "converged": res.converged,
        "chains": c, "iterations": res.iterations, "warmup": res.warmup, "thinning": res.stride,
        "draws": int(c * s), "acceptance_rate": float(res.acceptance.mean()),
        "acceptance_per_chain": res.acceptance.tolist(), "step_per_chain": res.step.tolist(),
        "step_scale_range": [float(res.scale.min()), float(res.scale.max())],
        "likelihood_evaluations": res.likelihood_evaluations * c, "sampler_seconds": res.seconds,
        "warmup_seconds": res.warmup_seconds, "history": res.history,
    }
    return _Samples(a, u, {**summary, **_diag_summary(diag)}, phase=high)


def _diag_summary(diag: dict) -> dict:
    return {"rhat_max": diag["rhat_max"], "ess_bulk_min": diag["ess_min"], "ess_bulk_median": diag["ess_median"],
            "ess_of": "a at the input nodes (bulk ESS, ArviZ)", "nodes_constant": diag["n_constant"],
            "nodes": diag["n"],
            "rhat_a": diag["rhat"], "ess_a": diag["ess"]}


# -------------------------------------------------------------------------------------------------- trig
class TrigPosterior:
    """-log p(theta | y) of the two parameters of a :class:`TrigField` in unconstrained coordinates theta,
    b = lo + (hi - lo) sigmoid(theta) (the uniform prior carried to theta by the Jacobian), and its gradient by one
    adjoint solve: lam = A^-1 dL/du, then through the face conductances and a(b) by the chain rule (numpy, one
    banded Cholesky per evaluation)."""

    def __init__(self, field: TrigField, solver: BandedDarcy, op: ObservationOperator, y: np.ndarray,
                 sigma: float) -> None:
        self.field, self.solver, self.op = field, solver, op
        self.y = np.asarray(y, dtype=float)
        self.sigma = float(sigma)
        lo_hi = np.array([field.b1_range, field.b2_range], dtype=float)
        self.lo, self.hi = lo_hi[:, 0], lo_hi[:, 1]
        if not bool((self.hi > self.lo).all()):
            raise DgnoError(f"the trig field's ranges must have lo < hi, got {field.b1_range}, {field.b2_range}")
        self.x = unit_square_nodes(solver.n)  # (n, n, 2)
        self.calls = 0

    def params(self, theta: np.ndarray) -> np.ndarray:
        """b of theta: (..., 2) -> (..., 2)."""
        return self.lo + (self.hi - self.lo) * expit(np.asarray(theta, dtype=float))

    def theta(self, b: np.ndarray) -> np.ndarray:
        q = np.clip((np.asarray(b, dtype=float) - self.lo) / (self.hi - self.lo), 1e-12, 1 - 1e-12)
        return np.log(q) - np.log1p(-q)

    def coefficient(self, b: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
        """a at points x (..., 2) (default the solver's nodes) for parameters b (S, 2): (S, ...)."""
        x = self.x if x is None else x
        return self.field.evaluate(torch.as_tensor(np.asarray(b, dtype=float).reshape(-1, 2)),
                                   torch.as_tensor(x)).numpy()

    def log_likelihood(self, b: np.ndarray) -> np.ndarray:
        """log p(y | b) for parameters (S, 2), no gradient: (S,)."""
        r = (self.y - self.op(self.solver.solve(self.coefficient(b)))) / self.sigma
        return -0.5 * (r * r).sum(-1)

    def value_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """-log p(theta | y) + const and its gradient for theta (2,)."""
        from dgno.exact.darcy_fd import conductance_derivatives, conductances

        self.calls += 1
        theta = np.asarray(theta, dtype=float)
        sg = expit(theta)
        b = self.lo + (self.hi - self.lo) * sg
        db = (self.hi - self.lo) * sg * (1.0 - sg)
        xx, yy = self.x[..., 0], self.x[..., 1]
        a = self.field.offset + np.sin(b[0] * xx) + np.cos(b[1] * yy)
        da = (xx * np.cos(b[0] * xx), -yy * np.sin(b[1] * yy))
        h = self.solver.h
        kx, ky = conductances(a[None], h)
        u, (factor,) = self.solver.solve_conductances(kx, ky, keep_factors=True)
        u = u[0]
        r = (self.y - self.op(u[None])[0]) / self.sigma
        grad_u = np.zeros(u.size)
        np.add.at(grad_u, self.op.index, -(r / self.sigma)[:, None] * self.op.weight)  # d(0.5 r.r)/du
        gx, gy = self.solver.adjoint(factor, u, grad_u.reshape(u.shape))
        dx_lo, dx_hi, dy_lo, dy_hi = conductance_derivatives(a, h)
        ga = np.zeros_like(a)
        ga[:-1, :] += gx * dx_lo
        ga[1:, :] += gx * dx_hi
        ga[:, :-1] += gy * dy_lo
        ga[:, 1:] += gy * dy_hi
        grad_b = np.array([(ga * da[0]).sum(), (ga * da[1]).sum()])
        log_prior = np.sum(-np.logaddexp(0.0, -theta) - np.logaddexp(0.0, theta))  # log sigmoid(t) + log sigmoid(-t)
        value = 0.5 * float(r @ r) - float(log_prior)
        grad = grad_b * db + (2.0 * sg - 1.0)
        return value, grad

    def potential(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """pyro's potential_fn: params["theta"] (2,) -> -log p(theta | y) + const, differentiable."""
        return _Potential.apply(params["theta"], self)

    def solve_nodes(self, b: np.ndarray, refine: int) -> np.ndarray:
        """u at the data's nodes for parameters (S, 2), no gradient: (S, n_nodes, n_nodes)."""
        return self.solver.solve(self.coefficient(b))[:, ::refine, ::refine]


class _Potential(torch.autograd.Function):
    @staticmethod
    def forward(ctx, theta: torch.Tensor, post: TrigPosterior) -> torch.Tensor:
        value, grad = post.value_and_grad(theta.detach().cpu().double().numpy())
        ctx.save_for_backward(torch.as_tensor(grad, dtype=theta.dtype))
        return torch.tensor(value, dtype=theta.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (grad,) = ctx.saved_tensors
        return grad_output * grad, None


def trig_starts(post: TrigPosterior, chains: int, rng: np.random.Generator, *, grid: int = 32) -> np.ndarray:
    """Starting points b (chains, 2): a global search of the prior box on a grid x grid lattice with the coarse
    (29 x 29) solver, then one lattice cell per chain drawn with the lattice's posterior mass and a uniform point
    in it. The cells are much wider than the posterior, so the starts are overdispersed, and no chain starts in a
    basin without mass (from a prior draw, a chain can sit for ever in a local mode at the box's edge that holds
    e^-1000 of the mass)."""
    coarse = TrigPosterior(post.field, BandedDarcy(29, post.solver.source), ObservationOperator.at(post.op.x, 29),
                           post.y, post.sigma)
    edges = [np.linspace(lo, hi, grid + 1) for lo, hi in zip(post.lo, post.hi, strict=True)]
    centres = [(e[1:] + e[:-1]) / 2 for e in edges]
    lattice = np.stack(np.meshgrid(*centres, indexing="ij"), -1).reshape(-1, 2)
    ll = coarse.log_likelihood(lattice)
    w = np.exp(ll - ll.max())
    cells = rng.choice(len(lattice), size=chains, p=w / w.sum())
    width = (post.hi - post.lo) / grid
    return lattice[cells] + (rng.random((chains, 2)) - 0.5) * width


def sample_trig(preset, obs: Observations, settings: ReferenceSettings, refine: int,
                progress: Callable[[str], None] | None = None) -> _Samples:
    from pyro.infer.mcmc import MCMC, NUTS

    from dgno.inverse.samplers import _local_rng

    field: TrigField = preset.field
    y, sigma = _observed_u(obs, preset)
    n_fine = (preset.n_nodes - 1) * refine + 1
    solver = BandedDarcy(n_fine, preset.source)
    post = TrigPosterior(field, solver, ObservationOperator.at(obs.x, n_fine), y, sigma)
    warmup = settings.warmup or 250
    draws = settings.draws or 300
    rng = np.random.default_rng(settings.seed)
    t0 = time.perf_counter()
    state = [torch.from_numpy(post.theta(b)) for b in trig_starts(post, settings.chains, rng)]
    chunks: list[torch.Tensor] = []
    per_chain: list[dict] = []
    nodes = data_nodes(preset)
    rounds, done, diag = 0, False, {}
    while True:
        this_round = []
        for c in range(settings.chains):
            with _local_rng(settings.seed * 1000 + 100 * rounds + c):
                kernel = NUTS(potential_fn=post.potential, adapt_step_size=True, adapt_mass_matrix=True,
                              target_accept_prob=0.8, max_tree_depth=8)
                mcmc = MCMC(kernel, num_samples=draws, warmup_steps=warmup if rounds == 0 else max(warmup // 3, 50),
                            initial_params={"theta": state[c].clone()}, disable_progbar=True)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    mcmc.run()
            th = mcmc.get_samples()["theta"].reshape(draws, 2)
            state[c] = th[-1].clone()
            this_round.append(th)
            d = mcmc.diagnostics()
            per_chain.append({"round": rounds, "chain": c, "step_size": float(kernel.step_size),
                              "divergences": len(d.get("divergences", {}).get("chain 0", [])),
                              "acceptance_rate": float(d.get("acceptance rate", {}).get("chain 0", math.nan))})
        chunks.append(torch.stack(this_round))  # (C, S, 2)
        rounds += 1
        theta = torch.cat(chunks, 1).numpy()  # (C, S_total, 2)
        a = post.coefficient(post.params(theta.reshape(-1, 2)), nodes).reshape(*theta.shape[:2], -1)  # (C, S, n*n)
        diag = convergence(a)
        done = converged(diag, rhat_max=settings.rhat_max, ess_min=settings.ess_min)
        elapsed = time.perf_counter() - t0
        if progress is not None:
            progress(f"NUTS round {rounds}: {theta.shape[1]} draws x {settings.chains} chains, {elapsed:.0f} s: "
                     f"R-hat max {diag['rhat_max']:.3f}, ESS min {diag['ess_min']:.0f}")
        if done or elapsed * (rounds + 1) / rounds > settings.max_seconds:
            break
    sampler_seconds = time.perf_counter() - t0
    theta = torch.cat(chunks, 1).numpy()
    c, s = theta.shape[:2]
    b = post.params(theta.reshape(c * s, 2))
    b_diag = convergence(b.reshape(c, s, 2))
    keep = np.linspace(0, c * s - 1, min(settings.max_kept, c * s)).round().astype(int)
    u = post.solve_nodes(b[keep], refine)  # the solve of each kept draw
    a = post.coefficient(b[keep], nodes)  # (S, n, n), exact
    summary = {
        "method": "reference-nuts", "sampler": "NUTS (pyro) on logit-transformed (b1, b2)", "converged": done,
        "chains": c, "rounds": rounds, "warmup": warmup, "draws": int(c * s),
        "acceptance_rate": float(np.mean([p["acceptance_rate"] for p in per_chain])),
        "divergences": int(sum(p["divergences"] for p in per_chain)), "per_chain": per_chain,
        "potential_evaluations": post.calls, "sampler_seconds": sampler_seconds,
        "parameters_rhat": dict(zip(field.parameter_names, b_diag["rhat"].tolist(), strict=True)),
        "parameters_ess": dict(zip(field.parameter_names, b_diag["ess"].tolist(), strict=True)),
    }
    return _Samples(a, u, {**summary, **_diag_summary(diag)}, params=b[keep],
                    param_names=tuple(field.parameter_names))


# ------------------------------------------------------------------------------------------------- summary


def phase_coverage(prob: np.ndarray, high: np.ndarray, levels=LEVELS) -> dict[float, float]:
    """Coverage of a two-valued truth by the equal-tailed intervals of a Bernoulli(prob) variable per node.

    The interval at level L contains the high value iff P(high) > (1 - L)/2 and the low one iff P(low) > (1 - L)/2;
    from phase probabilities alone, so it applies alike to samplers whose draws of a are phases (the reference) and
    to decoded probabilities (DGNO, whose draws of a given beta are Bernoulli(P(high | beta)))."""
    p, h = np.asarray(prob, dtype=float).reshape(-1), np.asarray(high, dtype=bool).reshape(-1)
    out = {}
    for level in levels:
        tail = (1 - level) / 2
        out[level] = float(np.where(h, p > tail, 1 - p > tail).mean())
    return out


def brier_score(prob: np.ndarray, high: np.ndarray) -> float:
    """Mean squared difference between P(high phase) and the true phase indicator over the nodes."""
    return float(np.mean((np.asarray(prob, dtype=float) - np.asarray(high, dtype=float)) ** 2))




def _intervals(x: np.ndarray) -> np.ndarray:
    """Equal-tailed intervals of draws (S, ...) at LEVELS: (L, 2, ...)."""
    return np.stack([np.quantile(x, [(1 - lv) / 2, (1 + lv) / 2], axis=0) for lv in LEVELS])


def summarise_reference(samples: _Samples, preset, obs: Observations, truth: Truth | None,
                        seconds: float, refine: int, max_kept: int = 1000) -> InstanceResult:
    """Posterior fields and the summary of DGNO's inversions (:func:`dgno.inverse.run.summarise`), for the
    reference's draws (all of them; ``max_kept`` evenly spaced ones are kept as samples for the files)."""
    from dgno.pdes import Darcy

    n = preset.n_nodes
    a_s, u_s = samples.a, samples.u
    a_iv, u_iv = _intervals(a_s), _intervals(u_s)
    i95 = LEVELS.index(0.95)
    fields = {
        "a_mean": a_s.mean(0), "a_std": a_s.std(0), "a_pred_std": a_s.std(0),
        "a_lower": a_iv[i95, 0], "a_upper": a_iv[i95, 1],
        "u_mean": u_s.mean(0), "u_std": u_s.std(0), "u_pred_std": u_s.std(0),
        "levels": np.asarray(LEVELS), "a_intervals": a_iv, "u_intervals": u_iv,
        "rhat_a": samples.diagnostics["rhat_a"].reshape(n, n), "ess_a": samples.diagnostics["ess_a"].reshape(n, n),
    }
    two_phase = samples.phase is not None
    if two_phase:
        fields["phase_prob"] = samples.phase.mean(0)
    diag = {k: v for k, v in samples.diagnostics.items() if k not in ("rhat_a", "ess_a")}
    s = {"method": diag.pop("method"), "preset": preset.name, "n_obs": len(obs), "observed": list(obs.outputs),
         "sigma": float(obs.sigma[0]), "seconds": seconds,
         "solver": {"scheme": "DarcyFD (5-point, harmonic-mean faces), banded Cholesky (LAPACK dpbtrf)",
                    "refine": refine, "n": (n - 1) * refine + 1},
         "prior": preset.field.describe(), **diag,
         "ess_bulk_per_second": diag["ess_bulk_min"] / seconds if seconds > 0 else None}
    x_u = data_nodes(preset)
    free_u = free_nodes(Darcy(source=preset.source), x_u)
    if truth is not None and truth.u is not None:
        u_true = np.asarray(truth.u, dtype=float).reshape(n, n)
        s["u_rel_l2"] = rel_l2_one(fields["u_mean"], u_true)
        s["outputs_rel_l2"] = {"u": s["u_rel_l2"]}
        hidden = np.setdiff1d(free_u, obs.nodes if obs.nodes is not None else [])
        cov_u = coverage(u_s.reshape(len(u_s), -1)[:, hidden], u_true.reshape(-1)[hidden])
        s.update({"coverage90_u": cov_u[0.9], "coverage95_u": cov_u[0.95], "coverage_u": by_level(cov_u),
                  "coverage_nodes": int(hidden.size)})
    if truth is not None and truth.a is not None:
        a_true = np.asarray(truth.a, dtype=float).reshape(n, n)
        s["a_rel_l2"] = rel_l2_one(fields["a_mean"], a_true)
        cov_a = coverage(a_s.reshape(len(a_s), -1), a_true.reshape(-1))
        s.update({"coverage90_a": cov_a[0.9], "coverage_a": by_level(cov_a), "coverage_a_nodes": int(a_true.size)})
        if two_phase:
            f = preset.field
            high_true = a_true > (f.a_lo + f.a_hi) / 2
            prob = fields["phase_prob"]
            s["phase_error_rate"] = float(((prob > 0.5) != high_true).mean())
            s["a_rel_l2_mode"] = rel_l2_one(np.where(prob > 0.5, f.a_hi, f.a_lo), a_true)
            s["brier_score"] = brier_score(prob, high_true)
            s["coverage_a_phase"] = by_level(phase_coverage(prob, high_true))
    keep = np.linspace(0, len(a_s) - 1, min(max_kept, len(a_s))).round().astype(int)
    out_samples = {"a": a_s[keep].astype(np.float32), "u": u_s[keep].astype(np.float32)}
    if samples.params is not None:
        out_samples["params"] = samples.params[keep]
        s["parameters"] = parameter_summary(samples.params, samples.param_names,
                                             truth.params if truth is not None else None)
    return InstanceResult(s, fields, out_samples, obs, truth)




def reference_posterior(preset, obs: Observations, truth: Truth | None, settings: ReferenceSettings, *,
                        progress: Callable[[str], None] | None = None) -> InstanceResult:
    """The reference posterior of one instance of ``preset`` (darcy-pwc or darcy-trig) from ``obs``.

    Observation points anywhere in the unit square (u read off the solver's grid bilinearly; exact at its nodes,
    which include the data's 29 x 29 nodes)."""
    preset = check_preset(preset) if isinstance(preset, str) else check_preset(preset.name)
    refine = settings.refine or DEFAULT_REFINE[preset.name]
    t0 = time.perf_counter()
    sampler = sample_two_phase if isinstance(preset.field, TwoPhaseField) else sample_trig
    samples = sampler(preset, obs, settings, refine, progress)
    return summarise_reference(samples, preset, obs, truth, time.perf_counter() - t0, refine, settings.max_kept)


exact_posterior = reference_posterior  # the name of the public API (dgno.exact)


def json_default(v):
    """json.dumps' default for numpy arrays and scalars."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(type(v).__name__)
