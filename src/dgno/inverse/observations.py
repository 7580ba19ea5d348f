"""Sparse, noisy observations of u: drawing them from a data set, reading the user's own, the noise level."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from dgno.errors import DgnoError

SNR_RANGE_DB = (-20.0, 200.0)  # outside this an SNR is a typo, not a noise level


@dataclass(frozen=True)
class Observations:
    """Values y (K,) of u at points x (K, d), with independent Gaussian noise of standard deviation sigma.

    ``nodes`` holds the flat indices of the grid nodes observed when the points are nodes of the data's
    grid (None for free positions); ``truth`` the noise-free u at the points when it is known.
    """

    x: np.ndarray  # (K, d)
    y: np.ndarray  # (K,)
    sigma: float
    source: str
    nodes: np.ndarray | None = None  # (K,) flat node indices, or None
    truth: np.ndarray | None = None  # (K,) noise-free u at x, or None

    def __post_init__(self) -> None:
        check_points(self.x, self.y, source=self.source)
        check_sigma(self.sigma, source=self.source)

    def __len__(self) -> int:
        return int(self.y.shape[0])


def check_sigma(sigma: float, *, source: str) -> None:
    if not (math.isfinite(sigma) and sigma > 0):
        raise DgnoError(f"{source}: the noise standard deviation must be finite and > 0, got {sigma}")


def check_snr(snr_db: float, *, source: str = "--snr") -> None:
    lo, hi = SNR_RANGE_DB
    if not (math.isfinite(snr_db) and lo <= snr_db <= hi):
        raise DgnoError(f"{source}: SNR {snr_db} dB is outside [{lo:g}, {hi:g}] dB")


def sigma_from_snr(u: np.ndarray, snr_db: float) -> float:
    """The reference's convention: sigma = sqrt(mean(u^2) / 10^(SNR / 10)), mean over the instance's u."""
    check_snr(snr_db)
    power = float(np.mean(np.asarray(u, dtype=float) ** 2))
    if power <= 0:
        raise DgnoError("cannot set the noise from an SNR: the signal is identically zero")
    return math.sqrt(power / 10 ** (snr_db / 10))


def check_points(x: np.ndarray, y: np.ndarray, *, source: str, lower: float = 0.0, upper: float = 1.0) -> None:
    """Points (K, d) inside the closed domain [lower, upper]^d and finite values (K,)."""
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise DgnoError(f"{source}: need points (K, d) and values (K,), got {x.shape} and {y.shape}")
    if x.shape[0] == 0:
        raise DgnoError(f"{source}: no observations")
    bad = ~np.isfinite(x).all(1) | ~np.isfinite(y)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DgnoError(f"{source}: observation {k} is not finite (x = {x[k].tolist()}, u = {y[k]}); "
                        f"{int(bad.sum())} of {len(y)} are NaN or inf")
    outside = ((x < lower) | (x > upper)).any(1)
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise DgnoError(f"{source}: observation {k} at {x[k].tolist()} lies outside the domain "
                        f"[{lower:g}, {upper:g}]^{x.shape[1]} ({int(outside.sum())} points outside)")


def interior_nodes(n: int) -> np.ndarray:
    """Flat indices of the interior nodes of an n x n 'ij' grid (u = 0 is known on the boundary)."""
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    inside = (i > 0) & (i < n - 1) & (j > 0) & (j < n - 1)
    return np.flatnonzero(inside.ravel())


def draw_at_nodes(x_u: np.ndarray, u: np.ndarray, n_obs: int, sigma: float, rng: np.random.Generator,
                  *, source: str) -> Observations:
    """n_obs distinct interior grid nodes chosen at random, observed with N(0, sigma^2) noise.

    x_u (n, n, d) and u (n, n) are one instance on its grid.
    """
    candidates = interior_nodes(u.shape[0])
    if not 1 <= n_obs <= candidates.size:
        raise DgnoError(f"--n-obs must be in [1, {candidates.size}] (the interior nodes), got {n_obs}")
    nodes = np.sort(rng.choice(candidates, size=n_obs, replace=False))
    x = x_u.reshape(-1, x_u.shape[-1])[nodes]
    truth = u.ravel()[nodes].astype(float)
    y = truth + sigma * rng.standard_normal(n_obs)
    return Observations(x=x.astype(float), y=y, sigma=sigma, source=source, nodes=nodes, truth=truth)


def draw_at_points(x: np.ndarray, truth: np.ndarray, sigma: float, rng: np.random.Generator,
                   *, source: str) -> Observations:
    """Observations at given free points x (K, d) whose noise-free values are ``truth`` (K,)."""
    y = truth + sigma * rng.standard_normal(truth.shape[0])
    return Observations(x=x.astype(float), y=y, sigma=sigma, source=source, truth=truth.astype(float))


def read_observations(path: str | os.PathLike, *, dim: int = 2) -> tuple[np.ndarray, np.ndarray, float | None]:
    """A user's measurements: points (K, dim), values (K,) and, when the file gives one, sigma.

    CSV: a header naming the coordinate columns x, y (z in 3-D) and the value column u, optionally a
    column sigma (one value for all rows). HDF5: datasets ``x`` (K, dim) and ``u`` (K,), optional
    attribute or scalar dataset ``sigma``.
    """
    path = Path(path)
    if not path.is_file():
        raise DgnoError(f"{path}: no such observations file")
    if path.suffix.lower() == ".csv":
        return _read_csv(path, dim)
    if path.suffix.lower() in (".h5", ".hdf5"):
        return _read_h5(path, dim)
    raise DgnoError(f"{path}: observations must be a .csv or .h5 file")


def _read_csv(path: Path, dim: int) -> tuple[np.ndarray, np.ndarray, float | None]:
    coords = ["x", "y", "z"][:dim]
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in [*coords, "u"] if c not in header]
        if missing:
            raise DgnoError(f"{path}: CSV header {header} lacks column(s) {missing} (need {[*coords, 'u']})")
        rows = [{k.strip(): v for k, v in row.items() if k is not None} for row in reader]
    try:
        x = np.array([[float(r[c]) for c in coords] for r in rows], dtype=float).reshape(-1, dim)
        y = np.array([float(r["u"]) for r in rows], dtype=float)
        sig = {float(r["sigma"]) for r in rows if r.get("sigma") not in (None, "")} if "sigma" in header else set()
    except (TypeError, ValueError) as exc:
        raise DgnoError(f"{path}: a value is not a number ({exc})") from None
    if len(sig) > 1:
        raise DgnoError(f"{path}: column sigma must hold one value for all rows, found {sorted(sig)[:3]}")
    return x, y, (sig.pop() if sig else None)


def _read_h5(path: Path, dim: int) -> tuple[np.ndarray, np.ndarray, float | None]:
    try:
        with h5py.File(path, "r") as f:
            for key in ("x", "u"):
                if key not in f:
                    raise DgnoError(f"{path}: no dataset {key!r} (found {sorted(f.keys())})")
            x, y = np.asarray(f["x"], dtype=float), np.asarray(f["u"], dtype=float).reshape(-1)
            sigma = f.attrs.get("sigma", f["sigma"][()] if "sigma" in f else None)
    except OSError as exc:
        raise DgnoError(f"{path}: not a readable HDF5 file ({exc})") from None
    if x.ndim != 2 or x.shape[1] != dim:
        raise DgnoError(f"{path}: dataset 'x' must have shape (K, {dim}), got {x.shape}")
    return x, y, None if sigma is None else float(sigma)
