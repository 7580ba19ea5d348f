"""Readers for the reference authors' Darcy and Burgers ``.mat`` files (DGenNO and its companion repository).

Layouts (shapes as MATLAB or Python wrote them):

- ``smh``: ``smh_train.mat``, ``smh_test_in.mat``, ``smh_test_out.mat`` (MATLAB): coeff (N, 29, 29), sol (N, 841),
  X, Y (29, 29), optional beta1, beta2 (N, 1) (kept in ``extras``). Labelled as the ``darcy-trig`` preset: the
  coefficients are a = 2.1 + sin(beta1 x) + cos(beta2 y) (docs/darcy_trig.md).
- ``pwc``: ``pwc_train_data10000.mat``, ``pwc_train_data1000.mat``, ``pwc_test_in.mat`` (Python): coe (N, 29, 29)
  or (N, 841) in {5, 10}, u (N, 841), X, Y (29, 29).
- ``pwc-companion``: the companion's ``pwc_train.mat``, ``pwc_test_in.mat`` (MATLAB): coeff in {0, 1} (1 -> 10,
  0 -> 5), sol_fem (used), sol_fdm (kept in ``extras``), X, Y.
- ``inverse``: ``pwc_inverse_coe.mat``, ``smh_inverse_coe.mat`` (Python): x (841, 2), a (841, 1), u (841, 1),
  index_obs (n_obs,). Labelled ``darcy-pwc`` (file name pwc*, or a in {5, 10}) or ``darcy-trig``.
- ``viscid``: ``viscid_train.mat``, ``viscid_test_in.mat`` (Burgers): u0 (N, X), u_sol (N, T, X), x_mesh (X,),
  t_mesh (T,); X = 128 and T = 101 in the authors' files, but any sizes are read.
- ``stokes``: ``stokesHole_train.mat``, ``stokesHole_test_in.mat`` (Stokes around a cylinder): u, v, p (N, M),
  gridx (M, 2), beta1, beta2 (N,) or (N, 1); M = 1,708 in the authors' files. Stored as the ``stokes-cylinder``
  preset's layout: a (N, 256) = the inflow profile of beta1, beta2 at (0, y_j), u (N, M, 3) = (u, v, p) at
  x_u = gridx, extras beta1, beta2 and triangles (a Delaunay triangulation of gridx without the triangles whose
  centroid lies in the cylinder: the files carry no mesh). v7.3 files are reversed when gridx shows up as (2, M).

v7.3 files are HDF5 and read with h5py, which shows MATLAB arrays with their axes reversed; those of the
MATLAB-written layouts are therefore reversed back (unless the solution's shape shows the file was written
row-major). v5 files are read with :func:`scipy.io.loadmat`, which needs no reversal. The node order is never
assumed: each flattened node is placed on the 'ij' grid by rounding its coordinates (from X, Y or x) times 28;
for ``viscid`` the x and t axes are sorted ascending by x_mesh and t_mesh. For ``viscid`` v7.3 files the axes are
reversed unless u_sol's shape shows the file was written row-major ((N, T, X) rather than (X, T, N)).
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from dgno.errors import DgnoError
from dgno.fields.base import unit_square_nodes
from dgno.reference.dataset import Dataset, check_values

RES = 29
NODES = RES * RES
LAYOUTS = ("smh", "pwc", "pwc-companion", "inverse", "viscid", "stokes")
MATLAB_WRITTEN = ("smh", "pwc-companion")
# layout -> (coefficient key, solution key)
GRID_KEYS = {"smh": ("coeff", "sol"), "pwc": ("coe", "u"), "pwc-companion": ("coeff", "sol_fem")}
PRESETS = {"smh": "darcy-trig", "pwc": "darcy-pwc", "pwc-companion": "darcy-pwc", "viscid": "burgers",
           "stokes": "stokes-cylinder"}
Arrays = dict[str, np.ndarray]
# What scipy and h5py raise on damaged files is open-ended (a flipped byte gives RuntimeError from h5py, even
# UnboundLocalError from scipy's v5 reader; an absurd size in a header MemoryError or OverflowError): any exception
# from the parser means the file is unreadable.
_READ_ERRORS = (Exception,)
# every key a layout reads: holding anything but real numbers (a struct, cell, string, complex) is an error
KNOWN_KEYS = frozenset({*(k for keys in GRID_KEYS.values() for k in keys), "X", "Y", "beta1", "beta2", "sol_fdm",
                        "x", "a", "u", "index_obs", "u0", "u_sol", "x_mesh", "t_mesh", "v", "p", "gridx"})


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
    if layout == "stokes":
        return _stokes(raw, path, hdf5)
    if layout == "viscid":
        ds = _viscid(raw, path, hdf5)
        if len(ds) == 0:
            raise DgnoError(f"{path}: key 'u_sol' holds no samples")
        return ds
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
    if {"u", "v", "p", "gridx"} <= keys:
        return "stokes"
    if {"u0", "u_sol"} <= keys:
        return "viscid"
    found = ", ".join(sorted(keys)) or "none"
    raise DgnoError(
        f"{path}: unrecognised MAT key set ({found}); expected coeff+sol (smh), coe+u (pwc), "
        "coeff+sol_fem (pwc-companion), x+a+u+index_obs (inverse), u0+u_sol (viscid) or u+v+p+gridx (stokes)"
    )


def _read_arrays(path: Path) -> tuple[Arrays, bool]:
    """The numeric top-level arrays of ``path`` as stored, and whether it was read as HDF5."""
    hdf5 = h5py.is_hdf5(path)
    try:
        if hdf5:
            with h5py.File(path, "r") as f:
                items = {k: v[()] for k, v in f.items() if isinstance(v, h5py.Dataset) and not k.startswith("#")}
        else:
            check_v5_structure(path.read_bytes(), path)
            items = scipy.io.loadmat(str(path), appendmat=False)
    except DgnoError:
        raise
    except _READ_ERRORS as exc:
        kind = "v7.3 (HDF5)" if hdf5 else "MAT"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DgnoError(f"{path}: unreadable or truncated {kind} file ({first})") from None
    raw = {}
    for key, value in items.items():
        if key.startswith("__"):
            continue
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            raw[key] = arr
        elif key in KNOWN_KEYS:
            what = "a MATLAB struct or cell" if arr.dtype.kind in "OV" else f"{arr.dtype} values"
            raise DgnoError(f"{path}: key '{key}' holds {what}, expected an array of real numbers")
    return raw, hdf5


# ------------------------------------------------------------------------------- v5 structure check
# scipy's v5 reader trusts an array's dimensions and reads as many values from its data, past the end of a short
# one: a file with one damaged byte in a dims field crashes the interpreter (SIGSEGV/SIGBUS) instead of raising.
# So the elements are walked here first (headers only; compressed ones inflated), and every numeric array must
# store exactly as many values as its dimensions say.
_MI_SIZES = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8}  # miINT8 ... miUINT64: bytes per value
_MI_MATRIX, _MI_COMPRESSED = 14, 15
_NUMERIC_CLASSES = range(6, 16)  # mxDOUBLE_CLASS ... mxUINT64_CLASS (logical arrays are mxUINT8)
_CELL, _STRUCT, _OBJECT = 1, 2, 3


def check_v5_structure(raw: bytes, path: Path) -> None:
    """DgnoError unless every numeric array of the v5 MAT file ``raw`` holds as many values as its dimensions."""
    if len(raw) < 128 or raw[126:128] not in (b"IM", b"MI"):
        return  # not a v5 file: scipy's reader tells (a v4 file, or an error)
    order = "<" if raw[126:128] == b"IM" else ">"
    try:
        pos = 128
        while pos + 8 <= len(raw):
            mtype, data, pos = _element(raw, pos, order, path, top=True)
            if mtype == _MI_COMPRESSED:
                inner = zlib.decompress(data)
                at = 0
                while at + 8 <= len(inner):
                    itype, body, at = _element(inner, at, order, path, top=True)
                    if itype == _MI_MATRIX:
                        _check_matrix(body, order, path)
            elif mtype == _MI_MATRIX:
                _check_matrix(data, order, path)
    except (struct.error, zlib.error, RecursionError, ValueError, OverflowError, MemoryError) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from None


def _element(buf: bytes, pos: int, order: str, path: Path, *, top: bool = False) -> tuple[int, bytes, int]:
    """(type, payload, position of the next element) of the data element at ``pos``."""
    first, second = struct.unpack_from(order + "II", buf, pos)
    if first >> 16:  # the small data element format: up to 4 bytes packed in the tag
        if first >> 16 > 4:
            raise _damaged(path, f"a small data element of {first >> 16} bytes at byte {pos}")
        return first & 0xFFFF, buf[pos + 4 : pos + 4 + (first >> 16)], pos + 8
    end = pos + 8 + second
    if end > len(buf):
        raise _damaged(path, f"an element of {second} bytes at byte {pos} runs past the end")
    return first, buf[pos + 8 : end], end if top else pos + 8 + -(-second // 8) * 8


def _check_matrix(body: bytes, order: str, path: Path, depth: int = 0) -> None:
    """The miMATRIX element ``body``: numeric data sized as its dims say; the elements of cells and structs too."""
    if not body:
        return  # an empty matrix (MATLAB writes these for empty cells)
    if depth > 64:
        raise _damaged(path, "cells or structs nested more than 64 deep")
    _, flags, pos = _element(body, 0, order, path)
    (word,) = struct.unpack_from(order + "I", flags)
    mclass, is_complex = word & 0xFF, bool(word & 0x800)
    _, dims_raw, pos = _element(body, pos, order, path)
    dims = struct.unpack(order + f"{len(dims_raw) // 4}i", dims_raw[: len(dims_raw) // 4 * 4])
    _, name, pos = _element(body, pos, order, path)
    label = name.decode("latin-1") or "(an element)"
    if any(d < 0 for d in dims):
        raise _damaged(path, f"variable {label!r} has dimensions {list(dims)}")
    n = math.prod(dims)
    if mclass in _NUMERIC_CLASSES:
        for _part in range(2 if is_complex else 1):
            mtype, data, pos = _element(body, pos, order, path)
            if mtype not in _MI_SIZES or len(data) != n * _MI_SIZES[mtype]:
                raise _damaged(path, f"variable {label!r} of dimensions {list(dims)} stores {len(data)} bytes "
                                     f"of data type {mtype}")
    elif mclass in (_CELL, _STRUCT, _OBJECT):
        n_items = n
        if mclass != _CELL:
            if mclass == _OBJECT:
                _, _, pos = _element(body, pos, order, path)  # the class name
            _, length, pos = _element(body, pos, order, path)
            _, names, pos = _element(body, pos, order, path)
            field_len = struct.unpack_from(order + "i", length)[0] if len(length) >= 4 else 0
            n_items = n * (len(names) // field_len if field_len > 0 else 0)
        for _ in range(n_items):
            mtype, item, pos = _element(body, pos, order, path)
            if mtype != _MI_MATRIX:
                raise _damaged(path, f"an element of {label!r} has data type {mtype}")
            _check_matrix(item, order, path, depth + 1)


def _damaged(path: Path, detail: str) -> DgnoError:
    return DgnoError(f"{path}: unreadable or truncated MAT file ({detail})")


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
            if not np.all(np.isfinite(value)):
                k = int(np.flatnonzero(~np.isfinite(value.ravel()))[0])
                raise DgnoError(f"{path}: key '{key}' holds a non-finite value {value.ravel()[k]} (sample {k})")
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
    preset = "darcy-pwc" if path.name.startswith("pwc") or np.isin(a, (5.0, 10.0)).all() else "darcy-trig"
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
    bad = flat[(flat < 0) | (flat >= NODES)]  # before the cast: 1e30 does not fit an int64
    if bad.size:
        raise DgnoError(f"{path}: key 'index_obs' holds node number {bad[0]:g} outside [0, {NODES})")
    return flat.astype(np.int64)


def _node_values(arr: np.ndarray, path: Path, key: str) -> np.ndarray:
    """``arr`` (N, 29, 29) or (N, 841) as finite floats (N, 841) in the file's node order."""
    if not ((arr.ndim == 3 and arr.shape[1:] == (RES, RES)) or (arr.ndim == 2 and arr.shape[1] == NODES)):
        raise DgnoError(f"{path}: key '{key}' has shape {arr.shape}, expected (N, {RES}, {RES}) or (N, {NODES})")
    if arr.shape[0] == 0:
        raise DgnoError(f"{path}: key '{key}' holds no samples (shape {arr.shape})")
    flat = np.asarray(arr, dtype=float).reshape(arr.shape[0], NODES)
    if not np.all(np.isfinite(flat)):
        n, k = np.argwhere(~np.isfinite(flat))[0]
        raise DgnoError(f"{path}: key '{key}' holds a non-finite value {flat[n, k]} (sample {n}, node {k})")
    return flat


def _node_order(coords: np.ndarray, path: Path, key: str) -> np.ndarray:
    """Grid indices (841, 2) of each node, checking that the coordinates are exactly the 29 x 29 grid."""
    with np.errstate(over="ignore", invalid="ignore"):  # a huge coordinate becomes inf and fails the check below
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


def _stokes(raw: Arrays, path: Path, hdf5: bool) -> Dataset:
    """The Stokes layout: u, v, p (N, M), gridx (M, 2), beta1, beta2 -> the stokes-cylinder preset's layout."""
    from dgno.reference.stokes import InflowProfile, inflow_points, triangulate_nodes

    _require(raw, path, ("u", "v", "p", "gridx", "beta1", "beta2"))
    gridx = raw["gridx"]
    reverse = hdf5 and gridx.ndim == 2 and gridx.shape[0] == 2 and gridx.shape[1] != 2  # MATLAB's (M, 2) as (2, M)
    gridx = np.asarray(gridx.T if reverse else gridx, dtype=float)
    if gridx.ndim != 2 or gridx.shape[1] != 2 or gridx.shape[0] < 3 or not np.all(np.isfinite(gridx)):
        raise DgnoError(f"{path}: key 'gridx' has shape {raw['gridx'].shape}, expected (M, 2) finite coordinates")
    m = gridx.shape[0]
    fields = []
    for key in ("u", "v", "p"):
        arr = raw[key].T if reverse else raw[key]
        if arr.ndim != 2 or arr.shape[1] != m or arr.shape[0] == 0:
            raise DgnoError(f"{path}: key '{key}' has shape {raw[key].shape}, expected (N, {m}) (gridx's {m} nodes)")
        fields.append(np.asarray(arr, dtype=float))
    n = fields[0].shape[0]
    if any(f.shape[0] != n for f in fields):
        raise DgnoError(f"{path}: keys 'u', 'v', 'p' hold different numbers of samples")
    betas = _extras(raw, lambda k: raw[k], path, np.empty((0, 2), np.int64), n)
    x_a = inflow_points()
    a = np.stack([InflowProfile(float(b1), float(b2))(x_a) for b1, b2 in zip(betas["beta1"], betas["beta2"],
                                                                                 strict=True)])
    attrs = {"source": "reference-mat", "layout": "stokes", "file": path.name, "preset": "stokes-cylinder",
             "a_positive": False, "triangles": "Delaunay of gridx without the triangles centred in the cylinder"}
    extras = {**betas, "triangles": triangulate_nodes(gridx)}
    ds = Dataset(a=a, u=np.stack(fields, axis=-1), x_a=x_a, x_u=gridx, attrs=attrs, extras=extras)
    check_values(ds, source=str(path))
    return ds
