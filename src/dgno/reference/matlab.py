"""Readers for the reference authors' Darcy and Burgers ``.mat`` files (DGenNO and its companion repository).

Layouts (shapes as MATLAB or Python wrote them):

- ``smh``: ``smh_train.mat``, ``smh_test_in.mat`` (MATLAB): coeff (N, 29, 29), sol (N, 841), X, Y (29, 29),
  optional beta1, beta2 (N, 1).
- ``pwc``: ``pwc_train_data10000.mat``, ``pwc_train_data1000.mat``, ``pwc_test_in.mat`` (Python): coe (N, 29, 29)
  or (N, 841) in {5, 10}, u (N, 841), X, Y (29, 29).
- ``pwc-companion``: the companion's ``pwc_train.mat``, ``pwc_test_in.mat`` (MATLAB): coeff in {0, 1} (1 -> 10,
  0 -> 5), sol_fem (used), sol_fdm (kept in ``extras``), X, Y.
- ``inverse``: ``pwc_inverse_coe.mat``, ``smh_inverse_coe.mat`` (Python): x (841, 2), a (841, 1), u (841, 1),
  index_obs (n_obs,).
- ``viscid``: ``viscid_train.mat``, ``viscid_test_in.mat`` (Burgers): u0 (N, X), u_sol (N, T, X), x_mesh (X,),
  t_mesh (T,); X = 128 and T = 101 in the authors' files, but any sizes are read.

v7.3 files are HDF5 and read with h5py, which shows MATLAB arrays with their axes reversed; those of the
MATLAB-written layouts are therefore reversed back (unless the solution's shape shows the file was written
row-major). v5 files are read with :func:`scipy.io.loadmat`, which needs no reversal. The node order is never
assumed: each flattened node is placed on the 'ij' grid by rounding its coordinates (from X, Y or x) times 28;
for ``viscid`` the x and t axes are sorted ascending by x_mesh and t_mesh. For ``viscid`` v7.3 files the axes are
reversed unless u_sol's shape shows the file was written row-major ((N, T, X) rather than (X, T, N)).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from dgno.errors import DgnoError
from dgno.fields.base import unit_square_nodes
from dgno.reference.dataset import Dataset, check_values

RES = 29
NODES = RES * RES
LAYOUTS = ("smh", "pwc", "pwc-companion", "inverse", "viscid")
MATLAB_WRITTEN = ("smh", "pwc-companion")
# layout -> (coefficient key, solution key)
GRID_KEYS = {"smh": ("coeff", "sol"), "pwc": ("coe", "u"), "pwc-companion": ("coeff", "sol_fem")}
PRESETS = {"smh": "darcy-smooth", "pwc": "darcy-pwc", "pwc-companion": "darcy-pwc", "viscid": "burgers"}
Arrays = dict[str, np.ndarray]
_READ_ERRORS = (OSError, ValueError, IndexError, TypeError, KeyError, EOFError, NotImplementedError, MatReadError)


def load_reference_mat(path: str | os.PathLike, layout: str = "auto") -> Dataset:
    """Read one of the reference authors' Darcy or Burgers ``.mat`` files into a :class:`Dataset`.

    Parameters
    ----------
    path
        The ``.mat`` file (v7.3/HDF5 or v5).
    layout
        ``"smh"``, ``"pwc"``, ``"pwc-companion"``, ``"inverse"``, ``"viscid"`` or ``"auto"`` (detected from the keys).

    Returns
    -------
    Dataset
        Darcy: a and u of shape (N, 29, 29) on the 'ij' grid ``x[i, j] = (i, j) / 28``; N = 1 for ``inverse``.
        ``viscid``: the layout of the ``burgers`` preset, a (N, X) at x_a (X, 1), u (N, T, X) at x_u (T, X, 2)
        with ``x_u[i, j] = (x_j, t_i)``.
    """
    path = Path(path)
    if layout != "auto" and layout not in LAYOUTS:
        raise DgnoError(f"unknown reference layout {layout!r}; expected auto or one of {', '.join(LAYOUTS)}")
    if not path.is_file():
        raise DgnoError(f"{path}: no such file")
    raw, hdf5 = _read_arrays(path)
    if layout == "auto":
        layout = detect_layout(raw, path)
    if layout == "viscid":
        return _viscid(raw, path, hdf5)
    if layout == "inverse":
        a, u, extras, preset = _inverse(raw, path)
    else:
        a, u, extras = _gridded(raw, path, layout, hdf5)
        preset = PRESETS[layout]
    nodes = unit_square_nodes(RES)
    attrs = {"source": "reference-mat", "layout": layout, "file": path.name, "preset": preset, "a_positive": True}
    ds = Dataset(a=a, u=u, x_a=nodes, x_u=nodes, attrs=attrs, extras=extras)
    check_values(ds, source=str(path), positive_a=True)
    return ds


def detect_layout(raw: Arrays, path: str | os.PathLike) -> str:
    """The layout whose distinguishing keys are in ``raw``; DgnoError listing the keys otherwise."""
    keys = set(raw)
    if {"coeff", "sol_fem"} <= keys:
        return "pwc-companion"
    if {"coeff", "sol"} <= keys:
        return "smh"
    if "coe" in keys:
        return "pwc"
    if {"x", "a", "u", "index_obs"} <= keys:
        return "inverse"
    if {"u0", "u_sol"} <= keys:
        return "viscid"
    found = ", ".join(sorted(keys)) or "none"
    raise DgnoError(
        f"{path}: unrecognised MAT key set ({found}); expected coeff+sol (smh), coe+u (pwc), "
        "coeff+sol_fem (pwc-companion), x+a+u+index_obs (inverse) or u0+u_sol (viscid)"
    )


def _read_arrays(path: Path) -> tuple[Arrays, bool]:
    """The numeric top-level arrays of ``path`` as stored, and whether it was read as HDF5."""
    hdf5 = h5py.is_hdf5(path)
    try:
        if hdf5:
            with h5py.File(path, "r") as f:
                items = {k: v[()] for k, v in f.items() if isinstance(v, h5py.Dataset) and not k.startswith("#")}
        else:
            items = scipy.io.loadmat(str(path), appendmat=False)
    except _READ_ERRORS as exc:
        kind = "v7.3 (HDF5)" if hdf5 else "MAT"
        raise DgnoError(f"{path}: unreadable or truncated {kind} file ({exc})") from None
    raw = {}
    for key, value in items.items():
        arr = np.asarray(value)
        if not key.startswith("__") and arr.dtype.kind in "biuf":
            raw[key] = arr
    return raw, hdf5


def _require(raw: Arrays, path: Path, keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in raw]
    if missing:
        raise DgnoError(f"{path}: missing key(s) {', '.join(map(repr, missing))}")


def _reverse_axes(raw: Arrays, layout: str, hdf5: bool) -> bool:
    """Whether h5py's arrays need their axes reversed: MATLAB-written layouts, unless the solution says otherwise."""
    if not hdf5:
        return False
    sol = raw[GRID_KEYS[layout][1]]
    if sol.ndim == 2 and sol.shape[0] != sol.shape[1] and NODES in sol.shape:
        return sol.shape[0] == NODES  # MATLAB's (N, 841) shows up as (841, N)
    return layout in MATLAB_WRITTEN


def _gridded(raw: Arrays, path: Path, layout: str, hdf5: bool) -> tuple[np.ndarray, np.ndarray, Arrays]:
    """a, u (N, 29, 29) and extras of the smh, pwc and pwc-companion layouts."""
    coef_key, sol_key = GRID_KEYS[layout]
    _require(raw, path, (coef_key, sol_key, "X", "Y"))
    reverse = _reverse_axes(raw, layout, hdf5)

    def get(key: str) -> np.ndarray:
        return raw[key].T if reverse else raw[key]

    coef = _node_values(get(coef_key), path, coef_key)
    sol = _node_values(get(sol_key), path, sol_key)
    if sol.shape[0] != coef.shape[0]:
        raise DgnoError(f"{path}: '{sol_key}' holds {sol.shape[0]} samples but '{coef_key}' holds {coef.shape[0]}")
    X, Y = get("X"), get("Y")
    if X.size != NODES or Y.size != NODES:
        raise DgnoError(f"{path}: keys 'X', 'Y' have shapes {X.shape}, {Y.shape}, expected ({RES}, {RES})")
    order = _node_order(np.stack([X.ravel(), Y.ravel()], axis=-1), path, "X/Y")
    if layout == "pwc":
        _check_levels(coef, path, coef_key, (5.0, 10.0))
    elif layout == "pwc-companion":
        _check_levels(coef, path, coef_key, (0.0, 1.0))
        coef = 5.0 + 5.0 * coef
    extras = _extras(raw, get, path, order, coef.shape[0])
    return _scatter(coef, order), _scatter(sol, order), extras


def _extras(raw: Arrays, get: Callable[[str], np.ndarray], path: Path, order: np.ndarray, n: int) -> Arrays:
    """beta1, beta2 as (N,) and sol_fdm as (N, 29, 29), where present."""
    extras = {}
    for key in ("beta1", "beta2"):
        if key in raw:
            value = np.asarray(get(key), dtype=float)
            if value.size != n:
                raise DgnoError(f"{path}: key '{key}' has shape {value.shape}, expected ({n}, 1)")
            extras[key] = value.reshape(n)
    if "sol_fdm" in raw:
        sol_fdm = _node_values(get("sol_fdm"), path, "sol_fdm")
        if sol_fdm.shape[0] != n:
            raise DgnoError(f"{path}: 'sol_fdm' holds {sol_fdm.shape[0]} samples, expected {n}")
        extras["sol_fdm"] = _scatter(sol_fdm, order)
    return extras


def _inverse(raw: Arrays, path: Path) -> tuple[np.ndarray, np.ndarray, Arrays, str]:
    """a, u (1, 29, 29), extras (index_obs as (i, j) pairs and flat) and preset of the inverse layout."""
    _require(raw, path, ("x", "a", "u", "index_obs"))
    x = raw["x"]
    if x.shape == (2, NODES):
        x = x.T
    if x.shape != (NODES, 2):
        raise DgnoError(f"{path}: key 'x' has shape {x.shape}, expected ({NODES}, 2)")
    order = _node_order(x, path, "x")
    for key in ("a", "u"):
        if raw[key].size != NODES:
            raise DgnoError(f"{path}: key '{key}' has shape {raw[key].shape}, expected ({NODES}, 1)")
    a = _node_values(raw["a"].reshape(1, NODES), path, "a")
    u = _node_values(raw["u"].reshape(1, NODES), path, "u")
    preset = "darcy-pwc" if path.name.startswith("pwc") or np.isin(a, (5.0, 10.0)).all() else "darcy-smooth"
    if path.name.startswith("pwc"):
        _check_levels(a, path, "a", (5.0, 10.0))
    flat = _obs_indices(raw["index_obs"], path)
    extras = {"index_obs": order[flat], "index_obs_flat": flat}
    return _scatter(a, order), _scatter(u, order), extras, preset


def _viscid(raw: Arrays, path: Path, hdf5: bool) -> Dataset:
    """The Burgers layout: u0 (N, X), u_sol (N, T, X), x_mesh (X,), t_mesh (T,) -> the burgers preset's layout."""
    _require(raw, path, ("u0", "u_sol", "x_mesh", "t_mesh"))
    x, t = _mesh(raw["x_mesh"], path, "x_mesh"), _mesh(raw["t_mesh"], path, "t_mesh")
    u0, sol = raw["u0"], raw["u_sol"]
    n_t, n_x = t.size, x.size
    row_major = sol.ndim == 3 and sol.shape[1:] == (n_t, n_x) and sol.shape[0] != n_x
    if hdf5 and not row_major:  # MATLAB's (N, T, X) shows up as (X, T, N)
        u0, sol = u0.T, sol.T
    if sol.ndim != 3 or sol.shape[1:] != (n_t, n_x):
        raise DgnoError(f"{path}: key 'u_sol' has shape {sol.shape}, expected (N, {n_t}, {n_x}) (N, t_mesh, x_mesh)")
    if u0.shape != (sol.shape[0], n_x):
        raise DgnoError(f"{path}: key 'u0' has shape {u0.shape}, expected ({sol.shape[0]}, {n_x}) (u_sol's N, x_mesh)")
    for key, arr in (("u0", u0), ("u_sol", sol)):
        if not np.all(np.isfinite(arr)):
            bad = tuple(np.argwhere(~np.isfinite(arr))[0].tolist())
            raise DgnoError(f"{path}: key '{key}' holds a non-finite value at index {bad}")
    ix, it = np.argsort(x, kind="stable"), np.argsort(t, kind="stable")
    x, t = x[ix], t[it]
    a = np.asarray(u0, dtype=float)[:, ix]  # (N, X)
    u = np.asarray(sol, dtype=float)[:, it][:, :, ix]  # (N, T, X)
    x_u = np.stack(np.meshgrid(x, t, indexing="xy"), axis=-1)  # (T, X, 2): x_u[i, j] = (x_j, t_i)
    attrs = {"source": "reference-mat", "layout": "viscid", "file": path.name, "preset": "burgers", "a_positive": False}
    return Dataset(a=a, u=u, x_a=x[:, None], x_u=x_u, attrs=attrs)


def _mesh(arr: np.ndarray, path: Path, key: str) -> np.ndarray:
    """A coordinate vector ((n,), (1, n) or (n, 1)) as (n,), checked to be finite with distinct entries."""
    arr = np.asarray(arr, dtype=float)
    if arr.ndim > 2 or arr.size < 2 or arr.size != max(arr.shape):
        raise DgnoError(f"{path}: key '{key}' has shape {arr.shape}, expected a vector")
    vec = arr.ravel()
    if not np.all(np.isfinite(vec)) or np.unique(vec).size != vec.size:
        raise DgnoError(f"{path}: key '{key}' must hold distinct finite coordinates")
    return vec


def _obs_indices(index_obs: np.ndarray, path: Path) -> np.ndarray:
    """index_obs as flat node numbers (int64), checked to be whole numbers in [0, 841)."""
    flat = np.asarray(index_obs).ravel()
    if flat.size == 0 or not np.all(np.isfinite(flat)) or np.any(flat != np.round(flat)):
        raise DgnoError(f"{path}: key 'index_obs' must hold whole node numbers, got shape {index_obs.shape}")
    flat = flat.astype(np.int64)
    bad = flat[(flat < 0) | (flat >= NODES)]
    if bad.size:
        raise DgnoError(f"{path}: key 'index_obs' holds node number {bad[0]} outside [0, {NODES})")
    return flat


def _node_values(arr: np.ndarray, path: Path, key: str) -> np.ndarray:
    """``arr`` (N, 29, 29) or (N, 841) as finite floats (N, 841) in the file's node order."""
    if not ((arr.ndim == 3 and arr.shape[1:] == (RES, RES)) or (arr.ndim == 2 and arr.shape[1] == NODES)):
        raise DgnoError(f"{path}: key '{key}' has shape {arr.shape}, expected (N, {RES}, {RES}) or (N, {NODES})")
    flat = np.asarray(arr, dtype=float).reshape(arr.shape[0], NODES)
    if not np.all(np.isfinite(flat)):
        n, k = np.argwhere(~np.isfinite(flat))[0]
        raise DgnoError(f"{path}: key '{key}' holds a non-finite value {flat[n, k]} (sample {n}, node {k})")
    return flat


def _node_order(coords: np.ndarray, path: Path, key: str) -> np.ndarray:
    """Grid indices (841, 2) of each node, checking that the coordinates are exactly the 29 x 29 grid."""
    scaled = np.asarray(coords, dtype=float) * (RES - 1)
    rounded = np.rint(scaled)
    ok = bool(np.all(np.isfinite(scaled)) and np.all(np.abs(scaled - rounded) < 1e-6))
    ok = ok and rounded.min() >= 0 and rounded.max() <= RES - 1
    ij = rounded.astype(np.int64) if ok else rounded
    if not ok or len(np.unique(ij[:, 0] * RES + ij[:, 1])) != NODES:
        raise DgnoError(f"{path}: coordinates '{key}' are not the {RES} x {RES} grid on [0, 1]^2")
    return ij


def _scatter(flat: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Values (N, 841) in file node order placed on the 'ij' grid (N, 29, 29)."""
    grid = np.empty((flat.shape[0], RES, RES))
    grid[:, order[:, 0], order[:, 1]] = flat
    return grid


def _check_levels(values: np.ndarray, path: Path, key: str, levels: tuple[float, float]) -> None:
    bad = np.argwhere(~np.isin(values, levels))
    if bad.size:
        n, k = bad[0]
        raise DgnoError(
            f"{path}: key '{key}' must hold only {levels[0]:g} and {levels[1]:g}, "
            f"found {values[n, k]:g} (sample {n}, node {k})"
        )
