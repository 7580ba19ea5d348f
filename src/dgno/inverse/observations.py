"""Sparse, noisy observations of the outputs: drawing them from a data set, reading the user's own, the noise level.

Observations are K points x_k in the problem's domain with the values of C of its named outputs there (Darcy: u;
Burgers: u at (x, t); a vector problem: any of its outputs). Where the problem fixes an output by a hard
constraint (u = 0 on Darcy's boundary, Burgers' walls x = +-1) an observation says nothing, so observations
drawn from a data set avoid those nodes; which nodes they are is asked of the problem's constraints.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from dgno.errors import DgnoError
from dgno.inverse.grids import TensorGrid, interpolate
from dgno.pdes.base import Domain, Problem

SNR_RANGE_DB = (-20.0, 200.0)  # outside this an SNR is a typo, not a noise level


@dataclass(frozen=True)
class Observations:
    """Values y (K, C) of the outputs ``outputs`` (C names) at points x (K, d), with independent Gaussian noise of
    standard deviation sigma (C,) per output.

    y (K,) and a scalar sigma are read as one output. ``nodes`` holds the flat indices of the grid nodes observed
    when the points are nodes of the data's grid (None for free positions); ``truth`` (K, C) the noise-free
    values when they are known.
    """

    x: np.ndarray  # (K, d)
    y: np.ndarray  # (K, C)
    sigma: np.ndarray  # (C,)
    source: str
    outputs: tuple[str, ...] = ("u",)
    nodes: np.ndarray | None = None  # (K,) flat node indices, or None
    truth: np.ndarray | None = None  # (K, C) noise-free values at x, or None

    def __post_init__(self) -> None:
        x = np.asarray(self.x, dtype=float)
        y = np.asarray(self.y, dtype=float)
        y = y[:, None] if y.ndim == 1 else y
        try:
            sigma = np.broadcast_to(np.asarray(self.sigma, dtype=float), y.shape[1:2]).copy()  # (C,)
        except ValueError:
            raise DgnoError(f"{self.source}: sigma {np.asarray(self.sigma).tolist()} does not match the "
                            f"{y.shape[1:2]} observed component(s)") from None
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "sigma", sigma)
        object.__setattr__(self, "outputs", tuple(self.outputs))
        if self.truth is not None:
            t = np.asarray(self.truth, dtype=float)
            object.__setattr__(self, "truth", t[:, None] if t.ndim == 1 else t)
        check_points(x, y, source=self.source)
        if len(self.outputs) != y.shape[1]:
            raise DgnoError(f"{self.source}: {y.shape[1]} observed component(s) but {len(self.outputs)} output "
                            f"name(s) {list(self.outputs)}")
        for s in sigma:
            check_sigma(float(s), source=self.source)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def components(self) -> int:
        return int(self.y.shape[1])


# ------------------------------------------------------------------------------------------------ checks
def check_sigma(sigma: float, *, source: str) -> None:
    if not (math.isfinite(sigma) and sigma > 0):
        raise DgnoError(f"{source}: the noise standard deviation must be finite and > 0, got {sigma}")


def check_snr(snr_db: float, *, source: str = "--snr") -> None:
    lo, hi = SNR_RANGE_DB
    if not (math.isfinite(snr_db) and lo <= snr_db <= hi):
        raise DgnoError(f"{source}: SNR {snr_db} dB is outside [{lo:g}, {hi:g}] dB")


def sigma_from_snr(values: np.ndarray, snr_db: float) -> np.ndarray:
    """The reference's convention per output: sigma_c = sqrt(mean(u_c^2) / 10^(SNR / 10)): values (..., C) -> (C,).

    The mean runs over the instance's values of that output (its whole grid, or the observed values).
    """
    check_snr(snr_db)
    v = np.asarray(values, dtype=float)
    power = np.mean(v.reshape(-1, v.shape[-1]) ** 2, axis=0)  # (C,)
    if np.any(power <= 0):
        raise DgnoError("cannot set the noise from an SNR: the signal is identically zero")
    return np.sqrt(power / 10 ** (snr_db / 10))


def check_points(x: np.ndarray, y: np.ndarray, *, source: str) -> None:
    """Points (K, d) and values (K, C): matching shapes, at least one, all finite."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise DgnoError(f"{source}: need points (K, d) and values (K, C), got {x.shape} and {y.shape}")
    if x.shape[0] == 0:
        raise DgnoError(f"{source}: no observations")
    bad = ~np.isfinite(x).all(1) | ~np.isfinite(y).all(1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DgnoError(f"{source}: observation {k} is not finite (x = {x[k].tolist()}, values {y[k].tolist()}); "
                        f"{int(bad.sum())} of {len(y)} are NaN or inf")


def describe_domain(domain: Domain) -> str:
    """'x in [-1, 1], t in [0, 1]' (plus the inside test when the domain is not the whole box)."""
    box = ", ".join(f"{n} in [{lo:g}, {hi:g}]" for n, lo, hi in zip(domain.names, domain.lower, domain.upper,
                                                                    strict=True))
    return box + (" and inside its boundary" if domain.inside is not None else "")


def check_in_domain(x: np.ndarray, domain: Domain, *, source: str) -> None:
    """Every point (K, d) lies in the closed domain (``domain.contains``); the error names the first one outside."""
    if x.ndim != 2 or x.shape[1] != domain.dim:
        raise DgnoError(f"{source}: observation points need {domain.dim} coordinates ({', '.join(domain.names)}), "
                        f"got shape {x.shape}")
    inside = domain.contains(torch.as_tensor(x, dtype=torch.float64)).numpy()
    if not inside.all():
        k = int(np.flatnonzero(~inside)[0])
        raise DgnoError(f"{source}: observation {k} at {x[k].tolist()} lies outside the domain "
                        f"{describe_domain(domain)} ({int((~inside).sum())} points outside)")


# ------------------------------------------------------------------------------------- where to observe
@dataclass(frozen=True)
class Window:
    """A box of allowed observation points, lower <= x <= upper per coordinate (d,) (+-inf: no bound).

    E.g. t >= 0.25 for Burgers: observe the solution only after the initial transient.
    """

    lower: np.ndarray  # (d,)
    upper: np.ndarray  # (d,)

    @classmethod
    def everywhere(cls, dim: int) -> Window:
        return cls(np.full(dim, -np.inf), np.full(dim, np.inf))

    @classmethod
    def from_bounds(cls, domain: Domain, minima: dict[str, float] | None = None,
                    maxima: dict[str, float] | None = None) -> Window:
        """Bounds on named axes of the domain, e.g. minima={"t": 0.25}; unknown names are errors."""
        w = cls.everywhere(domain.dim)
        for bounds, target in ((minima or {}, w.lower), (maxima or {}, w.upper)):
            for name, value in bounds.items():
                if name not in domain.names:
                    raise DgnoError(f"unknown axis {name!r}; the domain's axes are {', '.join(domain.names)}")
                if not math.isfinite(value):
                    raise DgnoError(f"the bound on axis {name!r} must be a finite number, got {value}")
                target[domain.names.index(name)] = value
        if np.any(w.lower > w.upper):
            raise DgnoError(f"the observation window is empty: lower bounds {w.lower.tolist()} exceed upper bounds "
                            f"{w.upper.tolist()}")
        return w

    def mask(self, x: np.ndarray) -> np.ndarray:
        """Which points (K, d) lie in the window: (K,) bool."""
        return ((x >= self.lower) & (x <= self.upper)).all(-1)


def fixed_by_constraint(problem: Problem, x: np.ndarray, outputs: tuple[str, ...] | None = None) -> np.ndarray:
    """Points (N, d) where hard constraints fix every one of the named outputs (all by default): (N,) bool.

    A field is fixed where its multiplier M vanishes (u = lift + M N: the network has no say there; relative
    tolerance 1e-9 of the largest |M| on the points). An output is fixed where it reads values only (order 0)
    and every field it reads is fixed; a derivative such as psi_y is not fixed by psi = 0.
    """
    xt = torch.as_tensor(x, dtype=torch.float64)
    field_fixed = {}
    for f in problem.fields:
        if f.constraint is None:
            field_fixed[f.name] = np.zeros(x.shape[0], dtype=bool)
            continue
        m = np.abs(f.constraint.multiplier(xt, 0).value.detach().numpy())  # (N,)
        field_fixed[f.name] = m <= 1e-9 * max(float(m.max(initial=0.0)), 1e-300)
    fixed = np.ones(x.shape[0], dtype=bool)
    for o in problem.outputs:
        if outputs is not None and o.name not in outputs:
            continue
        reads = o.reads if o.reads is not None else tuple(field_fixed)
        this = np.ones(x.shape[0], dtype=bool) if o.order == 0 else np.zeros(x.shape[0], dtype=bool)
        for name in reads:
            this &= field_fixed[name]
        fixed &= this
    return fixed


def free_nodes(problem: Problem, x_u: np.ndarray, *, outputs: tuple[str, ...] | None = None,
               window: Window | None = None) -> np.ndarray:
    """Flat indices of the grid nodes x_u (*grid, d) worth observing: in the domain (and the window), and not
    fixed by a hard constraint. Darcy's 29 x 29 grid: the 27 x 27 interior nodes; Burgers: x != +-1."""
    x = np.asarray(x_u, dtype=float).reshape(-1, x_u.shape[-1])  # (N, d)
    ok = problem.domain.contains(torch.as_tensor(x)).numpy() & ~fixed_by_constraint(problem, x, outputs)
    if window is not None:
        ok &= window.mask(x)
    return np.flatnonzero(ok)


def as_components(u: np.ndarray, grid: tuple[int, ...]) -> np.ndarray:
    """One instance's solution (*grid) or (*grid, C) as (n_nodes, C)."""
    u = np.asarray(u, dtype=float)
    return u.reshape(int(np.prod(grid)), -1)


# --------------------------------------------------------------------------------------------- drawing
def draw_at_nodes(x_u: np.ndarray, u: np.ndarray, n_obs: int, sigma: np.ndarray | float, rng: np.random.Generator,
                  *, candidates: np.ndarray, outputs: tuple[str, ...] = ("u",), source: str) -> Observations:
    """n_obs distinct grid nodes drawn from ``candidates`` (flat indices), every output observed with N(0, sigma_c^2)
    noise. x_u (*grid, d) and u (*grid[, C]) are one instance on its grid."""
    if not 1 <= n_obs <= candidates.size:
        raise DgnoError(f"--n-obs must be in [1, {candidates.size}] (the nodes that can be observed), got {n_obs}")
    nodes = np.sort(rng.choice(candidates, size=n_obs, replace=False))
    x = x_u.reshape(-1, x_u.shape[-1])[nodes]
    truth = as_components(u, x_u.shape[:-1])[nodes]  # (K, C)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), truth.shape[1:])
    y = truth + sigma * rng.standard_normal(truth.shape)
    return Observations(x=x, y=y, sigma=sigma, source=source, outputs=outputs, nodes=nodes, truth=truth)


def draw_at_points(x_u: np.ndarray, u: np.ndarray, n_obs: int, sigma: np.ndarray | float, rng: np.random.Generator,
                   *, domain: Domain, window: Window | None = None, outputs: tuple[str, ...] = ("u",),
                   source: str) -> Observations:
    """n_obs points drawn uniformly in the domain (and the window) within the grid's extent, their noise-free values
    interpolated (cubic) on the grid x_u (*grid, d) from u (*grid[, C]), then observed with N(0, sigma_c^2) noise."""
    if n_obs < 1:
        raise DgnoError(f"--n-obs must be >= 1, got {n_obs}")
    lo, hi = np.array(domain.lower, dtype=float), np.array(domain.upper, dtype=float)
    grid = TensorGrid.of(x_u)
    nodes = x_u.reshape(-1, x_u.shape[-1])
    lo, hi = np.maximum(lo, nodes.min(0)), np.minimum(hi, nodes.max(0))  # inside the data's grid
    if window is not None:
        lo, hi = np.maximum(lo, window.lower), np.minimum(hi, window.upper)
    if np.any(lo > hi):
        raise DgnoError(f"{source}: no part of the domain lies in the observation window and the data's grid")
    chosen: list[np.ndarray] = []
    for _ in range(100):  # rejection sampling against the domain's inside test
        x = lo + (hi - lo) * rng.uniform(size=(4 * n_obs, domain.dim))
        x = x[domain.contains(torch.as_tensor(x)).numpy()]
        chosen.append(x)
        if sum(len(c) for c in chosen) >= n_obs:
            break
    x = np.concatenate(chosen)[:n_obs]
    if len(x) < n_obs:
        raise DgnoError(f"{source}: could not place {n_obs} points in the domain and the observation window")
    truth = interpolate(x_u, as_components(u, x_u.shape[:-1]).reshape(*x_u.shape[:-1], -1), x,
                        method="cubic" if grid is not None else "linear")  # (K, C)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), truth.shape[1:])
    y = truth + sigma * rng.standard_normal(truth.shape)
    return Observations(x=x, y=y, sigma=sigma, source=source, outputs=outputs, truth=truth)


# ------------------------------------------------------------------------------------------ user files
@dataclass(frozen=True)
class ObservationFile:
    """What a user's file holds: points (K, d), values (K, C) of the named outputs, and sigma when it says (one
    value (1,) for all outputs, or one per output (C,))."""

    x: np.ndarray
    y: np.ndarray
    outputs: tuple[str, ...]
    sigma: np.ndarray | None = None
    columns: tuple[str, ...] = field(default=())  # the coordinate columns read


def coordinate_names(domain: Domain) -> list[tuple[str, ...]]:
    """The accepted names of the coordinate columns: the domain's axis names, and x, y, z for a domain without
    names (how Darcy observation files have always been written)."""
    options = [domain.names]
    if not domain.axis_names and domain.dim <= 3:
        options.append(("x", "y", "z")[: domain.dim])
    return options


def read_observations(path: str | os.PathLike, *, domain: Domain, outputs: tuple[str, ...]) -> ObservationFile:
    """A user's measurements of some of the problem's ``outputs`` at points of ``domain``.

    CSV: a header naming the coordinate columns (the domain's axis names: ``x,t`` for Burgers; ``x,y`` for Darcy)
    and one column per observed output (``u``; several for a vector problem), optionally a column ``sigma`` (one
    value for all rows and outputs). HDF5: a dataset ``x`` (K, d), one dataset (K,) per observed output, and an
    optional attribute or scalar dataset ``sigma``. The points are checked to lie in the domain.
    """
    path = Path(path)
    if not path.is_file():
        raise DgnoError(f"{path}: no such observations file")
    if path.suffix.lower() == ".csv":
        out = _read_csv(path, domain, outputs)
    elif path.suffix.lower() in (".h5", ".hdf5"):
        out = _read_h5(path, domain, outputs)
    else:
        raise DgnoError(f"{path}: observations must be a .csv or .h5 file")
    check_points(out.x, out.y, source=str(path))
    check_in_domain(out.x, domain, source=str(path))
    check_distinct(out.x, source=str(path))
    if out.sigma is not None:
        for s in out.sigma:
            check_sigma(float(s), source=f"{path}: sigma")
    return out


def check_distinct(x: np.ndarray, *, source: str) -> None:
    """No point (K, d) observed twice: a repeated row is a copy-paste slip more often than a repeated measurement."""
    _, first, counts = np.unique(x, axis=0, return_index=True, return_counts=True)
    if np.any(counts > 1):
        k = int(first[np.flatnonzero(counts > 1)[0]])
        again = [int(j) for j in np.flatnonzero((x == x[k]).all(1)) if j != k]
        raise DgnoError(f"{source}: observations {k} and {again[0]} are at the same point {x[k].tolist()} "
                        f"({int((counts - 1).sum())} repeated points); average repeated measurements into one row")


def _read_csv(path: Path, domain: Domain, outputs: tuple[str, ...]) -> ObservationFile:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # -sig: a spreadsheet's byte-order mark
            table = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise DgnoError(f"{path}: not a UTF-8 text file (byte {exc.start})") from None
    except csv.Error as exc:
        raise DgnoError(f"{path}: not a readable CSV file ({exc})") from None
    header = [h.strip() for h in table[0]] if table else []
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:
        raise DgnoError(f"{path}: CSV header {header} names column(s) {twice} more than once")
    rows = []
    for line, values in enumerate(table[1:], start=2):
        if not values:  # a blank line
            continue
        if len(values) != len(header):
            raise DgnoError(f"{path}: line {line} has {len(values)} value(s) but the header names {len(header)} "
                            f"column(s) {header}")
        rows.append(dict(zip(header, values, strict=True)))
    options = coordinate_names(domain)
    coords = next((c for c in options if set(c) <= set(header)), None)
    observed = tuple(name for name in outputs if name in header)
    if coords is None or not observed:
        best = min(options, key=lambda c: len(set(c) - set(header)))
        missing = [c for c in best if c not in header] + ([] if observed else [" or ".join(outputs)])
        raise DgnoError(f"{path}: CSV header {header} lacks column(s) {missing} "
                        f"(need {', '.join(best)} and at least one of {', '.join(outputs)})")
    try:
        x = np.array([[float(r[c]) for c in coords] for r in rows], dtype=float).reshape(-1, len(coords))
        y = np.array([[float(r[c]) for c in observed] for r in rows], dtype=float).reshape(-1, len(observed))
        sig = {float(r["sigma"]) for r in rows if r.get("sigma") not in (None, "")} if "sigma" in header else set()
    except (TypeError, ValueError) as exc:
        raise DgnoError(f"{path}: a value is not a number ({exc})") from None
    if any(not math.isfinite(s) for s in sig):
        raise DgnoError(f"{path}: column sigma must hold a finite number, found {sorted(sig)[:3]}")
    if len(sig) > 1:
        raise DgnoError(f"{path}: column sigma must hold one value for all rows, found {sorted(sig)[:3]}")
    return ObservationFile(x, y, observed, np.array([sig.pop()]) if sig else None, coords)


def _read_h5(path: Path, domain: Domain, outputs: tuple[str, ...]) -> ObservationFile:
    try:
        with h5py.File(path, "r") as f:
            observed = tuple(name for name in outputs if name in f)
            if "x" not in f or not observed:
                raise DgnoError(f"{path}: need datasets 'x' and at least one of {list(outputs)} "
                                f"(found {sorted(f.keys())})")
            for name in ("x", *observed, *(["sigma"] if "sigma" in f else [])):
                node = f[name]
                if not isinstance(node, h5py.Dataset) or node.dtype.kind not in "iuf":
                    what = "a group" if not isinstance(node, h5py.Dataset) else f"{node.dtype} values"
                    raise DgnoError(f"{path}: '{name}' must be an array of real numbers, found {what}")
            x = np.asarray(f["x"], dtype=float)
            values = [np.asarray(f[name], dtype=float).reshape(-1) for name in observed]
            sigma = f.attrs.get("sigma", f["sigma"][()] if "sigma" in f else None)
    except DgnoError:
        raise
    except (OSError, RuntimeError, TypeError, ValueError, KeyError) as exc:  # h5py on a damaged file
        raise DgnoError(f"{path}: not a readable HDF5 file ({exc})") from None
    if len({v.size for v in values}) > 1:
        raise DgnoError(f"{path}: datasets {list(observed)} hold {[v.size for v in values]} values; need one per point")
    y = np.stack(values, -1)
    if x.ndim != 2 or x.shape[1] != domain.dim:
        raise DgnoError(f"{path}: dataset 'x' must have shape (K, {domain.dim}), got {x.shape}")
    if sigma is not None:
        try:
            sigma = np.asarray(sigma, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise DgnoError(f"{path}: sigma must be a number, got {sigma!r:.60}") from None
        if sigma.size not in (1, len(observed)):
            raise DgnoError(f"{path}: sigma must be one value or one per observed output {list(observed)}, "
                            f"got {sigma.size}")
    return ObservationFile(x, y, observed, sigma, domain.names)


def instance_observations(ds, index: int, *, problem, n_obs: int, snr: float, seed: int, source: str,
                          obs_at: str = "nodes", window: Window | None = None,
                          observed: tuple[str, ...] | None = None, names: tuple[str, ...] = ("u",),
                          sigma: float | None = None) -> Observations:
    """The observations of instance ``index`` of ``ds`` as every inversion draws them (``dgno invert --data``,
    benchmarks/inverse.py, benchmarks/reference_posterior.py): generator ``np.random.default_rng([seed, index])``,
    noise of standard deviation ``sigma`` or from ``snr`` over the instance's observed outputs, n_obs grid nodes
    among those no hard constraint fixes (in the window) or free points; so that two methods scored on the same
    instance and seed see the same observations."""
    observed = tuple(observed or names)
    columns = [names.index(o) for o in observed]
    rng = np.random.default_rng([seed, index])
    u_i = as_components(ds.u[index], ds.grid_u)[:, columns].reshape(*ds.grid_u, len(columns))
    if sigma is None:
        sigma = sigma_from_snr(as_components(u_i, ds.grid_u), snr)
    else:
        check_sigma(sigma, source="sigma")
        sigma = np.full(len(columns), float(sigma))
    if obs_at == "nodes":
        candidates = free_nodes(problem, ds.x_u, window=window)
        return draw_at_nodes(ds.x_u, u_i, n_obs, sigma, rng, candidates=candidates, outputs=observed, source=source)
    return draw_at_points(ds.x_u, u_i, n_obs, sigma, rng, domain=problem.domain, window=window, outputs=observed,
                          source=source)
