"""MCMC for reference posteriors: convergence diagnostics and a batched preconditioned Crank-Nicolson sampler.

Diagnostics (Vehtari, Gelman, Simpson, Carpenter, Buerkner 2021, "Rank-normalization, folding, and localization: an
improved R-hat"), from ArviZ (:mod:`dgno.inverse.diagnostics`), over many scalar quantities at once: the
rank-normalised split R-hat and the bulk effective sample size.

A quantity that is constant over every draw of every chain (a node whose phase never changes) has neither: its
R-hat and ESS are NaN and it is reported, not counted as unconverged. One that is constant within each chain but
differs between chains has R-hat = inf.

:func:`pcn` runs C chains of pCN (Cotter, Roberts, Stuart, White 2013) in lockstep on white-noise coordinates
xi ~ N(0, I) of a Gaussian prior: the proposal xi'_j = sqrt(1 - beta_j^2) xi_j + beta_j w_j, w ~ N(0, I), leaves the
prior invariant coordinate by coordinate, so it is accepted with probability min(1, exp(l(xi') - l(xi))) with the
log-likelihood l alone. The steps are beta_j = beta scale_j (a generalised, diagonal pCN): during the warm-up, in
stages, beta adapts per chain towards an acceptance rate of 0.25 (Robbins-Monro on log beta) and scale_j becomes the
posterior standard deviation of coordinate j pooled over the chains in the previous stage (relative to the largest),
so that coordinates the data pin down take small steps and the others large ones; then both are fixed and the
warm-up draws are discarded. (On darcy-pwc instance 0 this raised the smallest ESS over the nodes after 40,000
iterations from 28 to 224 against a single beta.) The likelihoods of the C proposals are evaluated together (one batched
call), so the chains cost one vectorised solve per iteration. Draws are stored thinned (the stride doubles
whenever the store is full), and every ``check_every`` iterations R-hat and ESS of a monitored quantity are computed:
the run stops when max R-hat <= ``rhat_max`` and min ESS >= ``ess_min``, or at the wall-clock cap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dgno.inverse.diagnostics import ess_bulk, rhat

# ---------------------------------------------------------------------------------------------- diagnostics
# ArviZ's estimators (one definition for every sampler of the package: dgno.inverse.diagnostics)
split_rhat = rhat
ess = ess_bulk


def convergence(x: np.ndarray) -> dict:
    """R-hat and ESS of draws (C, S, P): per-quantity arrays and their worst values over the non-constant ones.

    Fewer than 4 draws per chain (a wall-clock cap reached early) say nothing yet: R-hat inf, ESS 0 (not converged).
    """
    if x.shape[1] < 4:
        p = int(np.prod(x.shape[2:])) if x.ndim > 2 else 1
        return {"rhat": np.full(p, np.inf), "ess": np.zeros(p), "rhat_max": float("inf"), "ess_min": 0.0,
                "ess_median": 0.0, "n_constant": 0, "n": p}
    r, e = split_rhat(x), ess(x)
    live = ~np.isnan(r) | ~np.isnan(e)
    rhat_max = float(np.nanmax(np.where(live, r, np.nan))) if live.any() else 1.0
    ess_min = float(np.nanmin(np.where(live, e, np.nan))) if np.isfinite(e[live]).any() else (
        float("nan") if live.any() else float(x.shape[0] * x.shape[1]))
    return {"rhat": r, "ess": e, "rhat_max": rhat_max, "ess_min": ess_min,
            "ess_median": float(np.nanmedian(e)) if np.isfinite(e).any() else float("nan"),
            "n_constant": int((~live).sum()), "n": int(r.size)}


def converged(diag: dict, *, rhat_max: float, ess_min: float) -> bool:
    """R-hat <= rhat_max and ESS >= ess_min for every quantity that varies (NaN ESS of a varying one: not)."""
    r, e = diag["rhat"], diag["ess"]
    live = ~np.isnan(r)
    return bool(np.all(r[live] <= rhat_max) and np.all(np.nan_to_num(e[live], nan=0.0) >= ess_min))


# ------------------------------------------------------------------------------------------------------ pCN


@dataclass(frozen=True)
class PCNSettings:
    """Chains, warm-up (iterations per chain, discarded; the steps adapt during it), the stopping rule."""

    chains: int = 4
    warmup: int = 6000
    stages: int = 3  # warm-up stages; after each but the last, the per-coordinate steps are re-estimated
    adapt_scale: bool = True  # per-coordinate steps proportional to the posterior std of each coordinate
    scale_floor: float = 0.02  # smallest per-coordinate step relative to the largest
    target_accept: float = 0.25
    initial_step: float = 0.1
    check_every: int = 2000  # iterations between convergence checks (more when a check would cost > 5 %)
    min_samples: int = 2000  # iterations after warm-up before the first check
    max_stored: int = 2048  # stored draws per chain before the stride doubles
    rhat_max: float = 1.05
    ess_min: float = 200.0
    max_seconds: float = 1800.0  # wall-clock cap, checked after the warm-up
    max_iterations: int | None = None  # per chain, warm-up included
    seed: int = 0

    def __post_init__(self) -> None:
        if self.chains < 2:
            raise ValueError(f"R-hat needs at least 2 chains, got {self.chains}")
        if self.warmup < 2 * self.stages or self.stages < 1 or self.check_every < 1 or self.max_stored < 16 \
                or self.min_samples < 16:
            raise ValueError(f"bad pCN settings {self}")
        if not 0 < self.target_accept < 1 or not 0 < self.initial_step <= 1 or not 0 < self.scale_floor <= 1:
            raise ValueError("need 0 < target_accept < 1, 0 < initial_step <= 1 and 0 < scale_floor <= 1")
        if not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0, got {self.max_seconds}")


@dataclass
class _Store:
    """Thinned draws of named arrays, (C, max_stored, ...) each; the stride doubles when full."""

    max_stored: int
    stride: int = 1
    count: int = 0
    arrays: dict = field(default_factory=dict)

    def add(self, values: dict[str, np.ndarray]) -> None:
        if not self.arrays:
            self.arrays = {k: np.empty((v.shape[0], self.max_stored, *v.shape[1:]), dtype=v.dtype)
                           for k, v in values.items()}
        if self.count == self.max_stored:  # keep every other draw: the stride doubles
            for v in self.arrays.values():
                half = v[:, 0::2].copy()
                v[:, : half.shape[1]] = half
            self.count //= 2
            self.stride *= 2
        for k, v in values.items():
            self.arrays[k][:, self.count] = v
        self.count += 1

    def due(self, n: int) -> bool:
        """Whether the n-th post-warm-up state (0-based) is stored."""
        return n % self.stride == 0

    def get(self, name: str) -> np.ndarray:
        return self.arrays[name][:, : self.count]


@dataclass
class PCNResult:
    """Stored post-warm-up draws (C, S, ...) of every quantity the likelihood returned (and ``xi`` when asked),
    convergence of the monitored one, and the run's statistics."""

    draws: dict[str, np.ndarray]
    converged: bool
    diagnostics: dict
    iterations: int  # per chain, warm-up included
    warmup: int
    stride: int
    step: np.ndarray  # (C,) the adapted global beta of each chain
    scale: np.ndarray  # (*shape) the per-coordinate step relative to beta
    acceptance: np.ndarray  # (C,) after warm-up
    seconds: float
    warmup_seconds: float
    history: list = field(default_factory=list)  # per check: iterations, seconds, rhat_max, ess_min
    likelihood_evaluations: int = 0  # per chain


LogLikelihood = Callable[[np.ndarray], tuple[np.ndarray, dict[str, np.ndarray]]]


class _Adaptation:
    """Warm-up: Robbins-Monro on each chain's log beta towards the target acceptance, averaged over the second half
    of each stage; after each stage but the last, the per-coordinate scale becomes the pooled posterior std of the
    coordinates over that half, relative to the largest (floored)."""

    def __init__(self, s: PCNSettings, c: int, shape: tuple[int, ...]) -> None:
        self.s = s
        self.bounds = np.linspace(0, s.warmup, s.stages + 1).round().astype(int)  # stage k: (bounds[k], bounds[k+1]]
        self.log_step = np.full(c, math.log(s.initial_step))
        self.scale = np.ones(shape)
        self._reset()

    def _reset(self) -> None:
        self.log_sum = 0.0
        self.n_avg = 0
        self.x1 = 0.0
        self.x2 = 0.0
        self.n_x = 0

    def betas(self) -> np.ndarray:
        """(C, *shape) the per-chain, per-coordinate step."""
        step = np.exp(self.log_step)
        return np.minimum(step.reshape(-1, *([1] * self.scale.ndim)) * self.scale, 1.0)

    def update(self, it: int, accept: np.ndarray, xi: np.ndarray) -> None:
        """After iteration it (1-based, it <= warmup)."""
        k = int(np.searchsorted(self.bounds, it, side="left")) - 1  # the stage of iteration it
        start, end = self.bounds[k], self.bounds[k + 1]
        t = it - start
        self.log_step = np.clip(self.log_step + (1.0 + t / 10.0) ** -0.6 * (accept - self.s.target_accept),
                                math.log(1e-5), 0.0)
        if t > (end - start) // 2:
            self.log_sum = self.log_sum + self.log_step
            self.n_avg += 1
            self.x1 = self.x1 + xi.sum(0)
            self.x2 = self.x2 + (xi * xi).sum(0)
            self.n_x += xi.shape[0]
        if it == end:
            if self.n_avg:
                self.log_step = self.log_sum / self.n_avg
            last = k == self.s.stages - 1
            if not last and self.s.adapt_scale and self.n_x > 1:
                mean = self.x1 / self.n_x
                sd = np.sqrt(np.maximum(self.x2 / self.n_x - mean * mean, 0.0))
                new = np.clip(sd / max(float(sd.max()), 1e-300), self.s.scale_floor, 1.0)
                # keep the mean step per coordinate where it was, so the next stage starts near its target
                self.log_step = self.log_step + math.log(float(self.scale.mean()) / float(new.mean()))
                self.scale = new
            self._reset()


def pcn(loglik: LogLikelihood, shape: tuple[int, ...], settings: PCNSettings, *, monitor: str,
        store_xi: tuple[int, ...] | None = None, progress: Callable[[str], None] | None = None) -> PCNResult:
    """Sample the posterior of white noise xi (shape ``shape``, prior N(0, I)) with likelihood ``loglik``.

    ``loglik(xi (C, *shape)) -> (log-likelihood (C,), {name: (C, ...)})``: the named arrays (e.g. the coefficient and
    the solution at the nodes) are kept with each stored draw; ``monitor`` names the one whose every entry must
    converge. ``store_xi``: flat indices of xi to keep too (e.g. for a check of the prior's invariance).

    The proposal is pCN per coordinate, xi'_j = sqrt(1 - beta_j^2) xi_j + beta_j w_j, with beta_j = beta (the chain's
    step) times scale_j (fixed after the warm-up): each coordinate's move leaves N(0, 1) invariant, so the prior is
    invariant and the acceptance ratio is the likelihood ratio, whatever the (fixed) steps.
    """
    s = settings
    rng = np.random.default_rng(s.seed)
    c = s.chains
    t0 = time.perf_counter()
    xi = rng.standard_normal((c, *shape))
    ll, feats = loglik(xi)
    evaluations = 1
    adapt = _Adaptation(s, c, shape)
    beta = adapt.betas()
    keep = np.sqrt(1.0 - beta**2)
    accepted = np.zeros(c)
    store = _Store(s.max_stored)
    history: list[dict] = []
    diag: dict = {}
    done = False
    it = 0
    warmup_seconds = 0.0
    next_check = s.warmup + max(s.min_samples, s.check_every)
    while True:
        prop = keep * xi + beta * rng.standard_normal(xi.shape)
        ll_p, feats_p = loglik(prop)
        evaluations += 1
        with np.errstate(invalid="ignore", over="ignore"):
            accept = np.log(rng.random(c)) < ll_p - ll
        if accept.any():
            xi[accept] = prop[accept]
            ll = np.where(accept, ll_p, ll)
            for k in feats:
                feats[k][accept] = feats_p[k][accept]
        it += 1
        if it <= s.warmup:
            adapt.update(it, accept, xi)
            beta = adapt.betas()
            keep = np.sqrt(1.0 - beta**2)
            if it == s.warmup:
                warmup_seconds = time.perf_counter() - t0
            continue
        accepted += accept
        if store.due(it - s.warmup - 1):
            values = {k: v.copy() for k, v in feats.items()}
            if store_xi is not None:
                values["xi"] = xi.reshape(c, -1)[:, list(store_xi)].copy()
            store.add(values)
        elapsed = time.perf_counter() - t0
        out_of_time = elapsed >= s.max_seconds or (s.max_iterations is not None and it >= s.max_iterations)
        if it >= next_check or out_of_time:
            t_check = time.perf_counter()
            diag = convergence(store.get(monitor).reshape(c, store.count, -1))
            done = converged(diag, rhat_max=s.rhat_max, ess_min=s.ess_min)
            check_seconds = time.perf_counter() - t_check
            rate = it / max(elapsed, 1e-9)  # iterations per second
            interval = int(10 * check_seconds * rate)  # checks cost <= 10 % of the time
            if diag["rhat_max"] <= s.rhat_max and diag["ess_min"] > 0:  # ESS grows linearly: when will it suffice?
                interval = min(interval, int(1.1 * (it - s.warmup) * (s.ess_min / diag["ess_min"] - 1)))
            next_check = it + max(s.check_every, interval)
            history.append({"iterations": it, "seconds": elapsed, "rhat_max": diag["rhat_max"],
                            "ess_min": diag["ess_min"], "stored": store.count, "stride": store.stride})
            if progress is not None:
                progress(f"pCN {it} iterations x {c} chains, {elapsed:.0f} s: R-hat max {diag['rhat_max']:.3f}, "
                         f"ESS min {diag['ess_min']:.0f}, acceptance {np.mean(accepted / (it - s.warmup)):.2f}")
            if done or out_of_time:
                break
    return PCNResult(draws={k: store.get(k) for k in store.arrays}, converged=done, diagnostics=diag,
                     iterations=it, warmup=s.warmup, stride=store.stride, step=np.exp(adapt.log_step),
                     scale=adapt.scale, acceptance=accepted / max(it - s.warmup, 1),
                     seconds=time.perf_counter() - t0, warmup_seconds=warmup_seconds, history=history,
                     likelihood_evaluations=evaluations)
