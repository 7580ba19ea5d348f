"""Sampler diagnostics from ArviZ, the ecosystem's standard: rank-normalised split R-hat and bulk effective sample
size (Vehtari et al. 2021), for draws laid out as (chains, draws, quantities).

One estimator for every sampler here (NUTS over the latent, pCN of the exact posterior), so that ``ess_bulk`` means
one thing wherever it is reported. Quantities that take one value in every draw (a node that no draw changes) have
no ESS or R-hat: NaN.
"""

from __future__ import annotations

import warnings

import numpy as np


def _arviz():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # ArviZ 0.x announces its 1.0 refactor on import
        import arviz

    return arviz


def _dataset(x: np.ndarray):
    x = np.asarray(x, dtype=float)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3:
        raise ValueError(f"draws must be (chains, draws[, quantities]), got shape {x.shape}")
    return x, _arviz().convert_to_dataset({"x": x})


def _constant(x: np.ndarray) -> np.ndarray:
    """Quantities (C, S, P) that take one value in every draw: (P,) bool."""
    flat = x.reshape(-1, x.shape[-1])
    return (flat == flat[:1]).all(0)


def ess_bulk(x: np.ndarray) -> np.ndarray:
    """Bulk effective sample size of draws (C, S[, P]) -> (P,) (ArviZ ``ess(method="bulk")``)."""
    x, ds = _dataset(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.asarray(_arviz().ess(ds, method="bulk")["x"].values, dtype=float).reshape(-1)
    return np.where(_constant(x), np.nan, e)


def rhat(x: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat of draws (C, S[, P]) -> (P,) (ArviZ ``rhat(method="rank")``)."""
    x, ds = _dataset(x)
    if x.shape[1] < 4:
        raise ValueError("need at least 4 draws per chain for split R-hat")
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.asarray(_arviz().rhat(ds, method="rank")["x"].values, dtype=float).reshape(-1)
    return np.where(_constant(x), np.nan, r)
