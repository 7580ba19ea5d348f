"""Small files in the reference authors' .mat layouts, written from known fields (for the reader's tests and the
fuzzing of it)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import scipy.io

# ------------------------------------------------------------------------------------------ Darcy layouts
N = 3
II, JJ = np.meshgrid(np.arange(29), np.arange(29), indexing="ij")
NS = np.arange(N)[:, None, None]
A_PWC = 5.0 + 5.0 * (((II + 3 * JJ * JJ + NS) % 7) < 3)  # (N, 29, 29), not symmetric in (i, j)
A_SMOOTH = 1.0 + II / 28 + 2.0 * (JJ / 28) ** 2 + 0.5 * NS
U = 1000.0 * NS + 29.0 * II + JJ + 0.5  # distinct at every (n, i, j)
T = np.arange(29) / 28


def matlab_grid(field: np.ndarray, convention: str) -> np.ndarray:
    """``field`` (N, 29, 29) 'ij' as stored with MATLAB's meshgrid ('xy': row = y) or ndgrid ('ij') X, Y."""
    return field.transpose(0, 2, 1) if convention == "xy" else field


def coords(convention: str) -> dict[str, np.ndarray]:
    X, Y = np.meshgrid(T, T, indexing=convention)
    return {"X": X, "Y": Y}


def write_v73(path: Path, arrays: dict[str, np.ndarray], *, matlab: bool = True) -> Path:
    """An HDF5 .mat file; MATLAB-written arrays appear in HDF5 with reversed axes."""
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_group("#refs#")
        for key, value in arrays.items():
            dset = f.create_dataset(key, data=np.asarray(value).T if matlab else value)
            dset.attrs["MATLAB_class"] = np.bytes_("double")
    return path


def write(path: Path, arrays: dict[str, np.ndarray], version: str, *, matlab: bool = True) -> Path:
    if version == "v5":
        scipy.io.savemat(path, arrays)
        return path
    return write_v73(path, arrays, matlab=matlab)


def smh_arrays(convention: str = "xy") -> dict[str, np.ndarray]:
    """MATLAB-shaped smh arrays: coeff N x 29 x 29, sol N x 841 in the coefficient's node order."""
    coeff = matlab_grid(A_SMOOTH, convention)
    sol = matlab_grid(U, convention).reshape(N, 841)
    beta = np.arange(N, dtype=float)[:, None]
    return {"coeff": coeff, "sol": sol, **coords(convention), "beta1": beta + 0.25, "beta2": beta - 0.25}


def pwc_arrays(flat: bool = False) -> dict[str, np.ndarray]:
    """Python-written pwc arrays: node order x-fastest (index 29 j + i), as the authors' nearest-node lookup reads."""
    coe = A_PWC.transpose(0, 2, 1)
    return {"coe": coe.reshape(N, 841) if flat else coe, "u": U.transpose(0, 2, 1).reshape(N, 841), **coords("xy")}


def companion_arrays() -> dict[str, np.ndarray]:
    sol = matlab_grid(U, "xy").reshape(N, 841)
    coeff = matlab_grid((A_PWC - 5.0) / 5.0, "xy")
    return {"coeff": coeff, "sol_fem": sol, "sol_fdm": sol + 0.125, **coords("xy")}


def inverse_arrays() -> dict[str, np.ndarray]:
    """x (841, 2) x-fastest: flat index k = 29 j + i holds x = (i, j) / 28."""
    k = np.arange(841)
    x = np.stack([(k % 29) / 28, (k // 29) / 28], axis=1)
    a, u = A_PWC[0], U[0]
    return {
        "x": x,
        "a": a[k % 29, k // 29][:, None],
        "u": u[k % 29, k // 29][:, None],
        "index_obs": np.array([0, 30, 840, 28, 812, 437], dtype=np.int64),
    }


# ----------------------------------------------------------------------------------------- Burgers (viscid)
N_BURGERS, T_BURGERS, X = 3, 101, 128
_NN, _TI, _XJ = np.meshgrid(np.arange(N_BURGERS), np.arange(T_BURGERS), np.arange(X), indexing="ij")
U_SOL = 1000.0 * _NN + 0.5 * _TI - 0.001 * _XJ * _XJ - 7.0  # (N, T, X), distinct at every (n, i, j), signed
U0 = U_SOL[:, 0, :].copy()  # (N, X)
X_MESH, T_MESH = np.linspace(-1.0, 1.0, X), np.linspace(0.0, 1.0, T_BURGERS)


def burgers_arrays(**change) -> dict[str, np.ndarray]:
    base = {"u0": U0, "u_sol": U_SOL, "x_mesh": X_MESH, "t_mesh": T_MESH}
    return {k: v for k, v in {**base, **change}.items() if v is not None}


def write_burgers(path: Path, data: dict[str, np.ndarray], version: str) -> Path:
    """v5: scipy.io.savemat; v73: as MATLAB writes it (HDF5, axes reversed); h5-rowmajor: HDF5 as given."""
    if version == "v5":
        scipy.io.savemat(path, data)
        return path
    with h5py.File(path, "w", userblock_size=512) as f:
        for key, value in data.items():
            value = np.atleast_2d(value) if version == "v73" else np.asarray(value)  # MATLAB vectors are 1 x n
            dset = f.create_dataset(key, data=value.T if version == "v73" else value)
            dset.attrs["MATLAB_class"] = np.bytes_("double")
    return path
