"""Inversions end to end: observations in, posterior draws, fields, metrics, files and plots out."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import h5py
import numpy as np
import torch

from dgno.config.build import weak_setup
from dgno.config.schema import Config
from dgno.errors import DgnoError
from dgno.inverse.calibration import Calibration
from dgno.inverse.observations import Observations, interior_nodes
from dgno.inverse.posterior import LatentPosterior
from dgno.inverse.samplers import Draws, find_map, laplace, laplace_factor, map_laplace, nuts
from dgno.models import DGNO
from dgno.nn.multionet import frozen_trunks
from dgno.reference.verify import relative_l2
from dgno.weak import weak_points

METHODS = ("nuts", "map")
LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class InverseSettings:
    method: str = "nuts"
    draws: int = 500  # per chain (nuts) or in all (map: Laplace draws)
    warmup: int = 300
    chains: int = 2
    seed: int = 0
    pde_weight: float = 1.0  # w in front of the virtual observables (1 = the training likelihood)
    model_error: bool = True  # add the forward model's validation RMS to the noise variance
    max_tree_depth: int = 8
    full_mass: bool = False
    map_starts: int = 4
    map_steps: int = 400
    physics_check: int = 8  # posterior draws re-solved with the reference solver (0: none)
    quadrature: str | None = None  # override the training's quadrature of the virtual observables
    quadrature_n: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise DgnoError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        for name in ("draws", "chains", "map_starts", "map_steps", "max_tree_depth"):
            if getattr(self, name) < 1:
                raise DgnoError(f"{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.warmup < 0 or self.physics_check < 0:
            raise DgnoError("warmup and physics-check must be >= 0")
        if not (math.isfinite(self.pde_weight) and self.pde_weight >= 0):
            raise DgnoError(f"--pde-weight must be finite and >= 0, got {self.pde_weight}")


@dataclass
class Truth:
    """What is known of an instance for scoring: a and u on their grids (either may be None)."""

    a: np.ndarray | None
    u: np.ndarray | None
    label: str = ""


@dataclass
class InstanceResult:
    summary: dict
    fields: dict[str, np.ndarray]  # posterior summaries on the grids
    samples: dict[str, np.ndarray]  # draws (thinned) of beta, a, u
    obs: Observations
    truth: Truth | None = None
    extras: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ posterior
def build_posterior(model: DGNO, cfg: Config, cal: Calibration, obs: list[Observations],
                    settings: InverseSettings) -> LatentPosterior:
    """The posterior of B instances with equally many observations (a fixed set of weak points)."""
    if len({len(o) for o in obs}) != 1:
        raise DgnoError("instances inverted together need the same number of observations")
    p = next(model.parameters())
    physics = cfg.physics
    if settings.quadrature is not None or settings.quadrature_n is not None:
        physics = replace(physics, quadrature=settings.quadrature or physics.quadrature,
                          quadrature_n=settings.quadrature_n or physics.quadrature_n)
    ws = weak_setup(replace(cfg, physics=physics))
    g = torch.Generator().manual_seed(settings.seed + 7919)
    points = weak_points(ws.sampler.sample(g), ws.rule, ws.test_function)
    points = type(points)(*(t.to(p.device, p.dtype) for t in (points.x, points.v, points.grad_v, points.weights)))
    x = torch.tensor(np.stack([o.x for o in obs]), dtype=p.dtype)
    y = torch.tensor(np.stack([o.y for o in obs]), dtype=p.dtype)
    var = np.stack([np.full(len(o), o.sigma**2) + (cal.model_error_at(o.x) ** 2 if settings.model_error else 0.0)
                    for o in obs])
    return LatentPosterior(model, cal.prior, x, y, torch.tensor(var, dtype=p.dtype), points,
                           pde_weight=settings.pde_weight)


def sample_posterior(posterior: LatentPosterior, settings: InverseSettings, *, progress: bool = False) -> Draws:
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
                 init=init, center=theta_map, factor=factor, progress=progress)
    draws.seconds += prep_seconds
    draws.diagnostics.update({"map_seconds": prep_seconds, "map_log_prob": lp.tolist(),
                              "hessian_eigenvalues_clipped": clipped})
    draws.evaluations += settings.map_starts * settings.map_steps
    return draws


# ------------------------------------------------------------------------------------------- metrics
def _rel_l2(pred: np.ndarray, true: np.ndarray) -> float:
    """One field's relative L2 error (the per-sample metric of the reference module)."""
    return float(relative_l2(np.asarray(pred)[None], np.asarray(true)[None])[0])


def coverage(samples: np.ndarray, truth: np.ndarray, levels=LEVELS) -> dict[float, float]:
    """Fraction of points whose truth lies in the equal-tailed credible interval: samples (S, N), truth (N,)."""
    out = {}
    for level in levels:
        lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
        out[level] = float(((truth >= lo) & (truth <= hi)).mean())
    return out


def _physics_check(model_u: np.ndarray, a_draws: np.ndarray, preset_name: str | None, n: int) -> dict:
    """Re-solve the PDE for n posterior draws of a; how far is the decoded u from that solution?"""
    if n == 0 or preset_name is None:
        return {}
    from dgno.reference.verify import solve_nodal

    pick = np.linspace(0, len(a_draws) - 1, min(n, len(a_draws))).round().astype(int)
    errs = []
    for k in pick:
        u_ref = solve_nodal(preset_name, a_draws[k])
        if u_ref is None:
            return {"physics_check": f"skipped: no reference solver for preset {preset_name!r}"}
        errs.append(_rel_l2(model_u[k].reshape(u_ref.shape), u_ref))
    return {"model_error_u_mean": float(np.mean(errs)), "model_error_u_max": float(np.max(errs)),
            "model_error_n": len(errs)}


def summarise(
    posterior: LatentPosterior,
    draws: Draws,
    cal: Calibration,
    obs: list[Observations],
    truths: list[Truth | None],
    settings: InverseSettings,
    *,
    preset: str | None,
    max_kept: int = 500,
) -> list[InstanceResult]:
    """Per instance: posterior mean and spread of a and u, metrics against the truth, diagnostics."""
    x_u = torch.tensor(cal.x_u.reshape(-1, cal.x_u.shape[-1]), dtype=posterior.prior.mean.dtype)
    theta = draws.flat  # (N, B, d)
    fields: dict[str, list[torch.Tensor]] = {}
    for start in range(0, theta.shape[0], 100):
        for k, v in posterior.push_forward(theta[start : start + 100], x_u).items():
            fields.setdefault(k, []).append(v.double().cpu())
    f = {k: torch.cat(v).numpy() for k, v in fields.items()}  # (N, B, ...)
    grid_u = cal.x_u.shape[:-1]
    rng = np.random.default_rng(settings.seed + 104729)
    sigma_m = cal.model_error.reshape(-1) if settings.model_error else np.zeros(int(np.prod(grid_u)))
    n_draws = theta.shape[0]
    keep = np.linspace(0, n_draws - 1, min(max_kept, n_draws)).round().astype(int)
    diag = draws.diagnostics
    results = []
    for b, o in enumerate(obs):
        u_s, a_s = f["u"][:, b], f["a"][:, b]  # (N, n_u), (N, *grid_a)
        u_pred = u_s + sigma_m * rng.standard_normal(u_s.shape)  # predictive: + the model's own error
        out = {
            "a_mean": a_s.mean(0), "a_std": a_s.std(0),
            "u_mean": u_s.mean(0).reshape(grid_u), "u_std": u_s.std(0).reshape(grid_u),
            "u_pred_std": u_pred.std(0).reshape(grid_u),
        }
        if "phase_prob" in f:
            out["phase_prob"] = f["phase_prob"][:, b].mean(0)
        s = {"method": draws.method, "n_obs": len(o), "sigma": o.sigma, "seconds": draws.seconds / len(obs),
             "draws": int(n_draws), "gradient_evaluations": int(draws.evaluations)}
        if draws.method == "nuts":
            ess, rhat = diag["ess"][b].numpy(), diag["rhat"][b].numpy()
            s.update({"ess_min": float(ess.min()), "ess_median": float(np.median(ess)),
                      "rhat_max": float(np.nanmax(rhat)) if np.isfinite(rhat).any() else None,
                      "ess_per_second": float(ess.min() / (draws.seconds / len(obs))),
                      "divergences": int(sum(c["divergences"] for c in diag["chains"])),
                      "acceptance_rate": float(np.mean([c["acceptance_rate"] for c in diag["chains"]])),
                      "chains": len(diag["chains"])})
        else:
            s.update({"ess_min": float(n_draws), "note": "independent draws of the Laplace approximation",
                      "hessian_eigenvalues_clipped": diag["hessian_eigenvalues_clipped"][b]})
        t = truths[b] if b < len(truths) else None
        if t is not None and t.u is not None:
            u_true = t.u.reshape(-1)
            s["u_rel_l2"] = _rel_l2(out["u_mean"].reshape(-1), u_true)
            hidden = np.setdiff1d(interior_nodes(grid_u[0]), o.nodes if o.nodes is not None else [])
            cov_pred = coverage(u_pred[:, hidden], u_true[hidden])
            cov_lat = coverage(u_s[:, hidden], u_true[hidden])
            s.update({"coverage90_u": cov_pred[0.9], "coverage95_u": cov_pred[0.95],
                      "coverage_u": {str(k): v for k, v in cov_pred.items()},
                      "coverage_u_latent_only": {str(k): v for k, v in cov_lat.items()},
                      "coverage_nodes": int(hidden.size)})
        if t is not None and t.a is not None:
            s["a_rel_l2"] = _rel_l2(out["a_mean"], t.a)
            if "phase_prob" in out:
                lik = posterior.model.likelihood
                phase = out["phase_prob"] > 0.5
                s["phase_error_rate"] = float((phase != lik.is_high(t.a)).mean())
                s["a_rel_l2_mode"] = _rel_l2(np.where(phase, lik.a_hi, lik.a_lo), t.a)
        a_for_check = f["a_mode"][:, b] if "phase_prob" in f else a_s
        s.update(_physics_check(u_s, a_for_check, preset, settings.physics_check))
        samples = {"beta": posterior.prior.transform(theta[keep, b]).double().cpu().numpy(),
                   "a": a_s[keep].astype(np.float32), "u": u_s[keep].reshape(len(keep), *grid_u).astype(np.float32)}
        results.append(InstanceResult(s, out, samples, o, t))
    return results


def invert(model: DGNO, cfg: Config, cal: Calibration, obs: list[Observations], truths: list[Truth | None],
           settings: InverseSettings, *, preset: str | None = None, progress: bool = False) -> list[InstanceResult]:
    """Invert B instances together (same number of observations each)."""
    with frozen_trunks(model):
        posterior = build_posterior(model, cfg, cal, obs, settings)
        draws = sample_posterior(posterior, settings, progress=progress)
        return summarise(posterior, draws, cal, obs, truths, settings, preset=preset)


# ------------------------------------------------------------------------------------------- outputs
def write_posterior(result: InstanceResult, path: str | os.PathLike, *, x_a: np.ndarray, x_u: np.ndarray,
                    attrs: dict) -> Path:
    """posterior.h5: draws, posterior mean and std of a and u, observations, truth; written atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as h:
            for k, v in result.fields.items():
                h.create_dataset(k, data=v)
            g = h.create_group("samples")
            for k, v in result.samples.items():
                g.create_dataset(k, data=v, compression="gzip")
            o = h.create_group("observations")
            o.create_dataset("x", data=result.obs.x)
            o.create_dataset("u", data=result.obs.y)
            o.attrs["sigma"] = result.obs.sigma
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
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def settings_dict(settings: InverseSettings) -> dict:
    return asdict(settings)
