"""Inversions end to end: observations in, posterior draws, fields, metrics, files and plots out.

Nothing here asks which PDE it is: the domain, the outputs and the hard constraints come from ``model.problem``,
the grids from the calibration's data, and the physics check's solver is handed in.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from dgno.atomic import atomic_path
from dgno.errors import DgnoError
from dgno.inverse.calibration import Calibration
from dgno.inverse.model_error import kriging, observation_covariance
from dgno.inverse.observations import Observations, as_components, check_in_domain, fixed_by_constraint, free_nodes
from dgno.inverse.physics_check import physics_check
from dgno.inverse.posterior import LatentPosterior
from dgno.inverse.samplers import Draws, find_map, laplace, laplace_factor, map_laplace, nuts
from dgno.inverse.settings import InversionSettings
from dgno.models import DGNO
from dgno.nn.multionet import frozen_trunks
from dgno.reference.verify import relative_l2
from dgno.weak import WeakLayout

LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)
InverseSettings = InversionSettings  # the earlier name


@dataclass
class Truth:
    """What is known of an instance for scoring: a and u on their grids (either may be None)."""

    a: np.ndarray | None
    u: np.ndarray | None
    label: str = ""
    params: dict[str, float] | None = None  # the input family's parameters (extras/<name>), when the data has them


@dataclass
class InstanceResult:
    summary: dict
    fields: dict[str, np.ndarray]  # posterior summaries on the grids
    samples: dict[str, np.ndarray]  # draws (thinned) of beta, a, u
    obs: Observations
    truth: Truth | None = None
    extras: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ posterior
def build_posterior(model: DGNO, layout: WeakLayout, cal: Calibration, obs: list[Observations],
                    settings: InversionSettings) -> LatentPosterior:
    """The posterior of B instances with equally many observations of the same outputs (one fixed set of weak
    points from ``layout``); every point must lie in the problem's domain."""
    if len({len(o) for o in obs}) != 1 or len({o.outputs for o in obs}) != 1:
        raise DgnoError("instances inverted together need the same number of observations of the same outputs")
    names = model.output_names
    unknown = [n for n in obs[0].outputs if n not in names]
    if unknown:
        raise DgnoError(f"{obs[0].source}: the model has no output(s) {unknown}; its outputs are {list(names)}")
    components = tuple(names.index(n) for n in obs[0].outputs)
    for o in obs:
        check_in_domain(o.x, model.problem.domain, source=o.source)
    p = next(model.parameters())
    g = torch.Generator().manual_seed(settings.seed + 7919)
    points = layout.sample(g, device=p.device, dtype=p.dtype)
    x = torch.tensor(np.stack([o.x for o in obs]), dtype=p.dtype)  # (B, K, d)
    # the error is G - u, so with its mean the forward model is G(beta) - bias: G(beta) is compared with y + bias
    y_obs = np.stack([o.y + (cal.bias_at(o.x)[:, components] if settings.model_bias == "mean" else 0.0) for o in obs])
    y = torch.tensor(y_obs, dtype=p.dtype)  # (B, K, C)
    noise = [np.broadcast_to(o.sigma**2, o.y.shape) for o in obs]  # sigma (C,) per component, alike at every point
    chol = None
    if settings.model_error == "correlated":
        if cal.correlated is None:
            raise DgnoError("--model-error correlated needs the calibration's fitted correlation (recompute it)")
        cov = [observation_covariance(cal.correlated, o.x, cal.model_error_at(o.x)[:, components], v, components)
               for o, v in zip(obs, noise, strict=True)]
        chol = torch.tensor(np.stack([np.linalg.cholesky(c) for c in cov]), dtype=p.dtype)
    with_error = settings.model_error != "off"
    var = np.stack([v + (cal.model_error_at(o.x)[:, components] ** 2 if with_error else 0.0)
                    for o, v in zip(obs, noise, strict=True)])  # (B, K, C): the diagonal of the covariance
    return LatentPosterior(model, cal.prior, x, y, torch.tensor(var, dtype=p.dtype), points,
                           pde_weight=settings.pde_weight, components=components, noise_chol=chol,
                           pde_temperature=settings.pde_temperature)


def sample_posterior(posterior: LatentPosterior, settings: InversionSettings, *, progress: bool = False) -> Draws:
    """Draws by the chosen method.

    nuts: multi-start MAP, the Hessian there, then NUTS in the Laplace-whitened coordinates
    theta = theta_map + A z (A A^T = H^-1), chains started at overdispersed (x 1.5) Laplace draws.
    """
    if settings.method == "map":
        return map_laplace(posterior, draws=settings.draws, starts=settings.map_starts, steps=settings.map_steps,
                           seed=settings.seed)
    g = torch.Generator().manual_seed(settings.seed)
    t0 = time.perf_counter()
    theta_map, lp, _ = find_map(posterior, starts=settings.map_starts, steps=settings.map_steps, generator=g)
    factor, clipped = laplace_factor(posterior, theta_map)
    init, _ = laplace(posterior, theta_map, settings.chains, generator=g, factor=1.5 * factor)
    prep_seconds = time.perf_counter() - t0
    draws = nuts(posterior, draws=settings.draws, warmup=settings.warmup, chains=settings.chains,
                 seed=settings.seed, max_tree_depth=settings.max_tree_depth, full_mass=settings.full_mass,
                 init=init, center=theta_map, factor=factor, progress=progress, chain_method=settings.chain_method)
    draws.seconds += prep_seconds
    draws.diagnostics.update({"map_seconds": prep_seconds, "map_log_prob": lp.tolist(),
                              "hessian_eigenvalues_clipped": clipped})
    draws.evaluations += settings.map_starts * settings.map_steps
    return draws


# ------------------------------------------------------------------------------------------- metrics
def rel_l2_one(pred: np.ndarray, true: np.ndarray) -> float:
    """One field's relative L2 error (the per-sample metric of the reference module)."""
    return float(relative_l2(np.asarray(pred)[None], np.asarray(true)[None])[0])


def coverage(samples: np.ndarray, truth: np.ndarray, levels=LEVELS) -> dict[float, float]:
    """Fraction of values whose truth lies in the equal-tailed credible interval: samples (S, *n), truth (*n)."""
    out = {}
    for level in levels:
        lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
        out[level] = float(((truth >= lo) & (truth <= hi)).mean())
    return out


def by_level(cov: dict[float, float]) -> dict[str, float]:
    return {str(k): v for k, v in cov.items()}


def _push_forward(posterior: LatentPosterior, theta: torch.Tensor, x_u: torch.Tensor, chunk: int = 100) -> dict:
    """Fields of one instance's draws theta (S, 1, d), chunk by chunk: 'u' (S, n_u, C), 'a' (S, *grid_a), ..."""
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, theta.shape[0], chunk):
        for k, v in posterior.push_forward(theta[start : start + chunk], x_u).items():
            parts.setdefault(k, []).append(v[:, 0].double().cpu())
    return {k: torch.cat(v).numpy() for k, v in parts.items()}


def summarise(
    posterior: LatentPosterior,
    draws: Draws,
    cal: Calibration,
    obs: list[Observations],
    truths: list[Truth | None],
    settings: InversionSettings,
    *,
    resolve: Callable[[np.ndarray], np.ndarray] | None = None,
    max_kept: int = 500,
) -> list[InstanceResult]:
    """Per instance: posterior mean and spread of a and of every output, metrics against the truth, diagnostics.

    Predictive draws add the model's validation error (``cal``) to the outputs and to the input: as independent
    Gaussian noise per node (sigma_model, sigma_a), or, with ``model_error="correlated"``, for the outputs as the
    model-error field conditioned on each draw's residuals at the observations (its kriged mean plus its conditional
    spread). Coverage is counted at the nodes that were not observed and
    that no hard constraint fixes (Darcy: the interior nodes; Burgers: x != +-1), and for continuous inputs at the
    input nodes that no constraint fixes.
    """
    model = posterior.model
    problem, names = model.problem, model.output_names
    ref = posterior.prior.mean
    x_u = torch.tensor(cal.x_u.reshape(-1, cal.x_u.shape[-1]), dtype=ref.dtype, device=ref.device)  # (n_u, d)
    grid_u, n_u, n_c = cal.grid_u, x_u.shape[0], len(names)
    free_u = free_nodes(problem, cal.x_u)
    x_a = model.x_a.detach().cpu().double().numpy()
    free_a = _free_input_nodes(problem, x_a)
    theta = draws.flat  # (N, B, d)
    rng = np.random.default_rng(settings.seed + 104729)
    with_error = settings.model_error != "off"
    sigma_u = cal.model_error_nodes() if with_error else np.zeros((n_u, n_c))  # (n_u, C)
    sigma_a = cal.a_error if with_error and cal.a_error is not None else 0.0
    components = posterior.components
    n_draws = theta.shape[0]
    keep = np.linspace(0, n_draws - 1, min(max_kept, n_draws)).round().astype(int)
    results = []
    correlated = settings.model_error == "correlated"
    for b, o in enumerate(obs):
        # with a correlated model error the draws' outputs at the observations too, in the same pass
        x_eval = torch.cat([x_u, torch.as_tensor(o.x, dtype=x_u.dtype, device=x_u.device)]) if correlated else x_u
        f = _push_forward(posterior, theta[:, b : b + 1], x_eval)
        u_s, a_s = f["u"][:, :n_u], f["a"]  # (N, n_u, C), (N, *grid_a)
        if correlated:  # + the model error kriged from this draw's residuals at the observations
            krig = kriging(cal.correlated, x_u.double().cpu().numpy(), sigma_u, o.x,
                           cal.model_error_at(o.x)[:, list(components)], np.broadcast_to(o.sigma**2, o.y.shape),
                           components)
            g_obs = f["u"][:, n_u:, list(components)]  # (N, K, C_obs)
            u_pred = u_s + krig.mean(o.y[None] - g_obs) + krig.std * rng.standard_normal(u_s.shape)
        else:  # predictive: + the model's own error (less its mean G - u, with model_bias="mean")
            bias = cal.bias_nodes() if with_error and settings.model_bias == "mean" else 0.0
            u_pred = u_s - bias + sigma_u * rng.standard_normal(u_s.shape)
        exact = "params" in f  # a family prior's a is the exact field of its parameters: no decoder error
        a_pred = a_s + (0.0 if exact else sigma_a) * rng.standard_normal(a_s.shape)
        a_lo, a_hi = np.quantile(a_pred, [0.025, 0.975], axis=0)
        out = {
            "a_mean": a_s.mean(0), "a_std": a_s.std(0), "a_pred_std": a_pred.std(0), "a_lower": a_lo, "a_upper": a_hi,
            "u_mean": _on_grid(u_s.mean(0), grid_u), "u_std": _on_grid(u_s.std(0), grid_u),
            "u_pred_std": _on_grid(u_pred.std(0), grid_u), "u_pred_mean": _on_grid(u_pred.mean(0), grid_u),
        }
        phases = "phase_prob" in f
        if phases:
            out["phase_prob"] = f["phase_prob"].mean(0)
        s = {"method": draws.method, "n_obs": len(o), "observed": list(o.outputs),
             "sigma": float(o.sigma[0]) if o.components == 1 else o.sigma.tolist(),
             "seconds": draws.seconds / len(obs), "draws": int(n_draws), "gradient_evaluations": int(draws.evaluations)}
        s.update(_diagnostics(draws, b, len(obs)))
        t = truths[b] if b < len(truths) else None
        if t is not None and t.u is not None:
            u_true = as_components(t.u, grid_u)  # (n_u, C)
            s["u_rel_l2"] = rel_l2_one(u_s.mean(0), u_true)
            s["u_rel_l2_predictive"] = rel_l2_one(u_pred.mean(0), u_true)  # with the kriged model error, if any
            s["outputs_rel_l2"] = {n: rel_l2_one(u_s.mean(0)[:, c], u_true[:, c]) for c, n in enumerate(names)}
            hidden = np.setdiff1d(free_u, o.nodes if o.nodes is not None else [])
            cov_pred = coverage(u_pred[:, hidden], u_true[hidden])
            s.update({"coverage90_u": cov_pred[0.9], "coverage95_u": cov_pred[0.95],
                      "coverage_u": by_level(cov_pred),
                      "coverage_u_latent_only": by_level(coverage(u_s[:, hidden], u_true[hidden])),
                      "coverage_nodes": int(hidden.size)})
            if n_c > 1:
                s["coverage_outputs"] = {n: by_level(coverage(u_pred[:, hidden, c], u_true[hidden, c]))
                                         for c, n in enumerate(names)}
        if t is not None and t.a is not None:
            s["a_rel_l2"] = rel_l2_one(out["a_mean"], t.a)
            if phases:
                lik = model.likelihood
                phase = out["phase_prob"] > 0.5
                s["phase_error_rate"] = float((phase != lik.is_high(t.a)).mean())
                s["a_rel_l2_mode"] = rel_l2_one(np.where(phase, lik.a_hi, lik.a_lo), t.a)
            else:  # intervals of a continuous input (two-phase inputs: the phase error says more)
                flat = (slice(None), free_a)
                cov_a = coverage(a_pred.reshape(n_draws, -1)[flat], t.a.reshape(-1)[free_a])
                s.update({"coverage90_a": cov_a[0.9], "coverage_a": by_level(cov_a),
                          "coverage_a_latent_only": by_level(coverage(a_s.reshape(n_draws, -1)[flat],
                                                                     t.a.reshape(-1)[free_a])),
                          "coverage_a_nodes": int(free_a.size)})
        if "params" in f:
            s["parameters"] = parameter_summary(f["params"], posterior.prior.names,
                                                 t.params if t is not None else None)
        a_for_check = f["a_mode"] if phases else a_s
        s.update(physics_check(u_s, a_for_check, resolve, settings.physics_check))
        samples = {"beta": posterior.prior.transform(theta[keep, b]).double().cpu().numpy(),
                   "a": a_s[keep].astype(np.float32),
                   "u": _on_grid(u_s[keep], grid_u, lead=1).astype(np.float32)}
        if "params" in f:
            samples["params"] = f["params"][keep]
        n_chains = draws.theta.shape[0]
        extras = {  # for InversionResult: intervals with the model error, and the chains for ArviZ
            "a_predictive": a_pred[keep].astype(np.float32),
            "u_predictive": _on_grid(u_pred[keep], grid_u, lead=1).astype(np.float32),
            "chains": {"beta": posterior.prior.transform(theta[:, b]).double().cpu().numpy().reshape(
                           n_chains, -1, theta.shape[-1]),
                       "a": _by_chain(a_s, n_chains).astype(np.float32),
                       "u": _by_chain(_on_grid(u_s, grid_u, lead=1), n_chains).astype(np.float32)},
        }
        if "params" in f:
            extras["chains"]["params"] = _by_chain(f["params"], n_chains)
        results.append(InstanceResult(s, out, samples, o, t, extras))
    return results


def _by_chain(flat: np.ndarray, chains: int) -> np.ndarray:
    """Draws (C * S, ...) of C chains one after another -> (C, S, ...)."""
    return flat.reshape(chains, -1, *flat.shape[1:])


def parameter_summary(draws: np.ndarray, names: tuple[str, ...], truth: dict[str, float] | None) -> dict:
    """Posterior mean, std and equal-tailed intervals of a family's parameters (draws (S, k)), with the truth, the
    absolute error of the mean and whether each interval covers it when the truth is known (DGNO's --prior family
    and the reference posterior alike)."""
    out = {}
    for i, name in enumerate(names):
        x = draws[:, i]
        q = {str(level): np.quantile(x, [(1 - level) / 2, (1 + level) / 2]).tolist() for level in LEVELS}
        entry = {"mean": float(x.mean()), "std": float(x.std()), "intervals": q}
        if truth is not None and name in truth:
            true = float(truth[name])
            entry.update({"true": true, "abs_error": abs(float(x.mean()) - true),
                          "covered": {k: bool(lo <= true <= hi) for k, (lo, hi) in q.items()}})
        out[name] = entry
    return out


def _on_grid(values: np.ndarray, grid: tuple[int, ...], *, lead: int = 0) -> np.ndarray:
    """(*lead, n_u, C) -> (*lead, *grid) for one output, (*lead, *grid, C) for several (the data's layout of u)."""
    shape = values.shape[:lead]
    if values.shape[-1] == 1:
        return values[..., 0].reshape(*shape, *grid)
    return values.reshape(*shape, *grid, values.shape[-1])


def _free_input_nodes(problem, x_a: np.ndarray) -> np.ndarray:
    """Flat indices of the input nodes that no hard constraint fixes: all of them for an input with its own decoder;
    for an input read from an output (an initial condition), the nodes where that output is free at ``at(x_a)``."""
    flat = x_a.reshape(-1, x_a.shape[-1])
    spec = problem.input
    if spec.output is None:
        return np.arange(flat.shape[0])
    at = spec.at(torch.as_tensor(flat, dtype=torch.float64)).numpy()
    return np.flatnonzero(~fixed_by_constraint(problem, at, (spec.output,)))


def _diagnostics(draws: Draws, b: int, n_instances: int) -> dict:
    """The sampler's diagnostics of instance b."""
    diag = draws.diagnostics
    if draws.method == "nuts":  # bulk ESS and rank R-hat (ArviZ) over the latent coordinates of instance b
        ess, rhat = diag["ess_bulk"][b].numpy(), diag["rhat"][b].numpy()
        return {"ess_bulk_min": float(np.nanmin(ess)), "ess_bulk_median": float(np.nanmedian(ess)),
                "ess_of": "the latent coordinates (bulk ESS, ArviZ)",
                "rhat_max": float(np.nanmax(rhat)) if np.isfinite(rhat).any() else None,
                "ess_bulk_per_second": float(np.nanmin(ess) / (draws.seconds / n_instances)),
                "divergences": int(sum(c["divergences"] for c in diag["chains"])),
                "acceptance_rate": float(np.mean([c["acceptance_rate"] for c in diag["chains"]])),
                "chains": int(draws.theta.shape[0]), "chain_method": diag["chain_method"]}
    return {"independent_draws": int(draws.flat.shape[0]), "note": "independent draws of the Laplace approximation",
            "hessian_eigenvalues_clipped": diag["hessian_eigenvalues_clipped"][b]}


def invert(model: DGNO, layout: WeakLayout, cal: Calibration, obs: list[Observations], truths: list[Truth | None],
           settings: InversionSettings, *, resolve: Callable[[np.ndarray], np.ndarray] | None = None,
           progress: bool = False) -> list[InstanceResult]:
    """Invert B instances together (same number of observations each); ``layout`` lays out the virtual
    observables' weak points (drawn once); ``resolve`` (a (*grid_a) -> u on the data's grid, e.g. a
    :class:`~dgno.inverse.physics_check.ReferenceSolve`) re-solves posterior draws for the physics check."""
    cal = cal.error_from(settings.model_error_from)
    if settings.model_bias == "mean":
        cal = cal.centred()
    with frozen_trunks(model):
        posterior = build_posterior(model, layout, cal, obs, settings)
        draws = sample_posterior(posterior, settings, progress=progress)
        return summarise(posterior, draws, cal, obs, truths, settings, resolve=resolve)


# ------------------------------------------------------------------------------------------- outputs
def write_posterior(result: InstanceResult, path: str | os.PathLike, *, x_a: np.ndarray, x_u: np.ndarray,
                    attrs: dict) -> Path:
    """posterior.h5: draws, posterior mean and std of a and u, observations, truth; written atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h:
        for k, v in result.fields.items():
            h.create_dataset(k, data=v)
        g = h.create_group("samples")
        for k, v in result.samples.items():
            g.create_dataset(k, data=v, compression="gzip")
        o = h.create_group("observations")
        o.create_dataset("x", data=result.obs.x)
        for c, name in enumerate(result.obs.outputs):  # one dataset per observed output, as --obs reads them
            o.create_dataset(name, data=result.obs.y[:, c])
        o.attrs["sigma"] = result.obs.sigma if result.obs.components > 1 else float(result.obs.sigma[0])
        o.attrs["outputs"] = json.dumps(list(result.obs.outputs))
        if result.obs.nodes is not None:
            o.create_dataset("nodes", data=result.obs.nodes)
        if result.truth is not None:
            for k in ("a", "u"):
                if getattr(result.truth, k) is not None:
                    h.create_dataset(f"true_{k}", data=getattr(result.truth, k))
        h.create_dataset("x_a", data=x_a)
        h.create_dataset("x_u", data=x_u)
        h.attrs["summary"] = json.dumps(result.summary)
        h.attrs["info"] = json.dumps(attrs, default=str)
    return path

