"""A spatially correlated model error: the forward model's error as a Gaussian field fitted on the validation split.

The independent model error (``sigma_model`` per node, :mod:`dgno.inverse.calibration`) treats the network's error
at two nearby points as unrelated. It is not: the error of G(beta) is a smooth field, so the observations already
say much of it near where they are. Here, for every output c,

    e_c(x) ~ GP(0, k_c),   k_c(x, x') = sigma_c(x) sigma_c(x') [(1 - delta_c) rho(|(x - x') / l_c|) + delta_c 1{x = x'}]

with sigma_c the validation RMS per node, rho the Matern-3/2 correlation, length scales l_c per axis and a nugget
delta_c, fitted by maximum likelihood to the validation error fields e_i = G(enc(a_i)) - u_i (normalised by
sigma_c, on at most ``max_nodes`` nodes).

In the likelihood the observations' errors are y_k - G(beta)(x_k) ~ N(0, sigma^2 I + K_oo); in the predictive
draws the model error at the unobserved points is the conditional of the field given each draw's residuals at
the observations (kriging): mean K_uo S^-1 r, variance diag(K_uu - K_uo S^-1 K_ou), S = sigma^2 I + K_oo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

SQRT3 = math.sqrt(3.0)


def matern32(r: np.ndarray | torch.Tensor):
    """Matern-3/2 correlation of scaled distances r >= 0."""
    if isinstance(r, torch.Tensor):
        return (1 + SQRT3 * r) * torch.exp(-SQRT3 * r)
    return (1 + SQRT3 * r) * np.exp(-SQRT3 * r)


def _scaled_distance(x1, x2, lengths):
    """|(x1_i - x2_j) / l| for x1 (n, d), x2 (m, d), lengths (d,) -> (n, m); numpy or torch alike."""
    d = (x1[:, None, :] - x2[None, :, :]) / lengths
    if isinstance(d, np.ndarray):
        return np.sqrt((d**2).sum(-1))
    return torch.sqrt((d**2).sum(-1) + 1e-30)  # the epsilon keeps the gradient finite at zero distance


@dataclass(frozen=True)
class CorrelatedError:
    """The fitted correlation of each output's model error: lengths (C, d) and nugget (C,)."""

    lengths: np.ndarray
    nugget: np.ndarray

    def correlation(self, c: int, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        """(1 - delta) rho(|(x1 - x2) / l|) + delta 1{x1 = x2}: (n, m)."""
        r = _scaled_distance(np.asarray(x1, float), np.asarray(x2, float), self.lengths[c])
        same = _scaled_distance(np.asarray(x1, float), np.asarray(x2, float), np.ones_like(self.lengths[c])) < 1e-12
        return (1 - self.nugget[c]) * matern32(r) + self.nugget[c] * same

    def covariance(self, c: int, x1: np.ndarray, s1: np.ndarray, x2: np.ndarray, s2: np.ndarray) -> np.ndarray:
        """k_c between points x1 (n, d) with RMS s1 (n,) and x2 (m, d) with s2 (m,): (n, m)."""
        return s1[:, None] * s2[None, :] * self.correlation(c, x1, x2)

    def state(self) -> dict:
        return {"lengths": torch.from_numpy(np.asarray(self.lengths, float)),
                "nugget": torch.from_numpy(np.asarray(self.nugget, float))}

    @classmethod
    def from_state(cls, s: dict | None) -> CorrelatedError | None:
        if not s:
            return None
        return cls(s["lengths"].numpy(), s["nugget"].numpy())


def fit_correlation(x: np.ndarray, errors: np.ndarray, sigma: np.ndarray, *, max_nodes: int = 600, seed: int = 0,
                    iterations: int = 60) -> tuple[np.ndarray, float]:
    """Maximum-likelihood length scales (d,) and nugget of one output's error fields.

    x (n, d) nodes, errors (N, n) the validation errors, sigma (n,) their RMS. Nodes where the error vanishes
    (hard constraints) carry no information and are left out, the rest subsampled to ``max_nodes``; the normalised
    fields z_i = e_i / sigma are modelled as N(0, (1 - delta) R(l) + delta I), and log l, logit delta are found by
    L-BFGS from l = a fifth of the extent per axis, delta = 0.05.
    """
    x, errors, sigma = (np.asarray(t, dtype=float) for t in (x, errors, sigma))
    keep = np.flatnonzero(sigma > 1e-10 * max(float(sigma.max()), 1e-300))
    if keep.size < 3:
        return np.full(x.shape[1], 1.0), 1.0  # nothing to fit: white noise
    if keep.size > max_nodes:
        keep = np.sort(np.random.default_rng(seed).choice(keep, max_nodes, replace=False))
    z = torch.tensor(errors[:, keep] / sigma[keep], dtype=torch.float64)  # (N, n)
    xs = torch.tensor(x[keep], dtype=torch.float64)
    extent = (xs.max(0).values - xs.min(0).values).clamp_min(1e-6)
    varying = extent > 1e-6
    log_l = torch.log(extent / 5).clone().requires_grad_(True)
    logit_d = torch.tensor(math.log(0.05 / 0.95), dtype=torch.float64, requires_grad=True)
    n_fields, n = z.shape
    eye = torch.eye(n, dtype=torch.float64)
    scatter = z.T @ z  # sum_i z_i z_i^T

    def nll() -> torch.Tensor:
        lengths = torch.where(varying, torch.exp(log_l), torch.ones_like(log_l))
        delta = torch.sigmoid(logit_d).clamp(1e-4, 1 - 1e-4)
        cov = (1 - delta) * matern32(_scaled_distance(xs, xs, lengths)) + delta * eye
        chol = torch.linalg.cholesky(cov)
        logdet = 2 * torch.log(torch.diagonal(chol)).sum()
        quad = torch.cholesky_solve(scatter, chol).diagonal().sum()  # tr(C^-1 sum_i z z^T)
        return 0.5 * (quad + n_fields * logdet) / (n_fields * n)

    opt = torch.optim.LBFGS([log_l, logit_d], lr=0.5, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        value = nll()
        value.backward()
        return value

    try:
        opt.step(closure)
    except RuntimeError:  # a step into a singular covariance: keep the last good parameters
        pass
    with torch.no_grad():
        lengths = torch.where(varying, torch.exp(log_l), torch.ones_like(log_l)).numpy().copy()
        delta = float(torch.sigmoid(logit_d).clamp(1e-4, 1 - 1e-4))
    if not (np.all(np.isfinite(lengths)) and math.isfinite(delta)):
        return np.full(x.shape[1], 1.0), 1.0
    return lengths, delta


def fit_correlated_error(x_u: np.ndarray, errors: np.ndarray, sigma: np.ndarray, **kw) -> CorrelatedError:
    """Fit every output: x_u (*grid, d), errors (N, *grid[, C]), sigma (*grid[, C])."""
    x = np.asarray(x_u, float).reshape(-1, x_u.shape[-1])
    n = x.shape[0]
    e = np.asarray(errors, float).reshape(errors.shape[0], n, -1)
    s = np.asarray(sigma, float).reshape(n, -1)
    fits = [fit_correlation(x, e[:, :, c], s[:, c], **kw) for c in range(s.shape[1])]
    return CorrelatedError(np.stack([f[0] for f in fits]), np.array([f[1] for f in fits]))


def _observed_block(corr: CorrelatedError, c: int, x_obs: np.ndarray, sigma: np.ndarray,
                    noise_var: np.ndarray) -> np.ndarray:
    """sigma^2 I + K_oo of output c at the observations: x_obs (K, d), sigma and noise_var (K,) -> (K, K)."""
    return corr.covariance(c, x_obs, sigma, x_obs, sigma) + np.diag(noise_var)


def observation_covariance(corr: CorrelatedError, x_obs: np.ndarray, sigma_model: np.ndarray,
                           noise_var: np.ndarray, components: tuple[int, ...]) -> np.ndarray:
    """S = sigma^2 I + K_oo of one instance, block diagonal over the observed outputs, ordered output by output:
    x_obs (K, d), sigma_model (K, C_obs) the model RMS at the points, noise_var (K, C_obs) -> (C_obs K, C_obs K)."""
    k, c_obs = noise_var.shape
    cov = np.zeros((c_obs * k, c_obs * k))
    for j, c in enumerate(components):
        cov[j * k:(j + 1) * k, j * k:(j + 1) * k] = _observed_block(corr, c, x_obs, sigma_model[:, j],
                                                                    noise_var[:, j])
    return cov


@dataclass(frozen=True)
class Kriging:
    """The model error at the prediction points given the residuals at the observations, for one instance.

    gain (C, n_u, K): K_uo S^-1 per observed output (zero rows for the outputs not observed); std (n_u, C) the
    conditional standard deviation (the prior sigma_model for outputs not observed)."""

    gain: np.ndarray
    std: np.ndarray
    components: tuple[int, ...]

    def mean(self, residuals: np.ndarray) -> np.ndarray:
        """Conditional mean (S, n_u, C) of the model error for residuals y - G(beta) (S, K, C_obs)."""
        s, n_u, n_c = residuals.shape[0], self.gain.shape[1], self.std.shape[1]
        out = np.zeros((s, n_u, n_c))
        for j, c in enumerate(self.components):
            out[:, :, c] = residuals[:, :, j] @ self.gain[c].T
        return out


def kriging(corr: CorrelatedError, x_u: np.ndarray, sigma_u: np.ndarray, x_obs: np.ndarray, sigma_obs: np.ndarray,
            noise_var: np.ndarray, components: tuple[int, ...]) -> Kriging:
    """x_u (n_u, d) with sigma_u (n_u, C); x_obs (K, d) with sigma_obs (K, C_obs), noise_var (K, C_obs)."""
    n_u, n_c = sigma_u.shape
    k = x_obs.shape[0]
    gain = np.zeros((n_c, n_u, k))
    std = sigma_u.astype(float).copy()
    for j, c in enumerate(components):
        s_oo = _observed_block(corr, c, x_obs, sigma_obs[:, j], noise_var[:, j])
        k_uo = corr.covariance(c, x_u, sigma_u[:, c], x_obs, sigma_obs[:, j])  # (n_u, K)
        chol = np.linalg.cholesky(s_oo)
        w = np.linalg.solve(chol, k_uo.T)  # L^-1 K_ou: (K, n_u)
        gain[c] = np.linalg.solve(chol.T, w).T  # K_uo S^-1
        std[:, c] = np.sqrt(np.maximum(sigma_u[:, c] ** 2 - (w**2).sum(0), 0.0))
    return Kriging(gain, std, tuple(components))
