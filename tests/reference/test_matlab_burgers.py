"""Reading the reference authors' Burgers files (viscid_*.mat) into the `burgers` preset's layout.

Each test writes a small file in the authors' layout (MATLAB v5, MATLAB v7.3 = HDF5 with reversed axes, or a
row-major HDF5 file) from known arrays and checks that load_reference_mat gives them back exactly.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dgno.cli import main
from dgno.config import get_preset
from dgno.errors import DgnoError
from dgno.reference import load_h5
from dgno.reference.matlab import detect_layout, load_reference_mat
from matlab_files import T_BURGERS as T
from matlab_files import T_MESH, U0, U_SOL, X_MESH, X
from matlab_files import burgers_arrays as arrays
from matlab_files import write_burgers as write


@pytest.mark.parametrize("version", ["v5", "v73", "h5-rowmajor"])
def test_viscid_gives_the_burgers_preset_layout(tmp_path, version):
    ds = load_reference_mat(write(tmp_path / "viscid_train.mat", arrays(), version))
    preset = get_preset("burgers")
    np.testing.assert_array_equal(ds.a, U0)
    np.testing.assert_array_equal(ds.u, U_SOL)
    np.testing.assert_allclose(ds.x_a, preset.x_a(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(ds.x_u, preset.x_u(), rtol=0, atol=1e-15)
    assert ds.x_u[7, 5].tolist() == [X_MESH[5], T_MESH[7]]  # t-major, (x, t) along the last axis
    assert ds.attrs == {
        "source": "reference-mat",
        "layout": "viscid",
        "file": "viscid_train.mat",
        "preset": "burgers",
        "a_positive": False,
    }


def test_v73_with_as_many_samples_as_points_is_read_as_matlab_wrote_it(tmp_path):
    """(X, T, X) is its own reversal: a v7.3 file is then taken to be MATLAB's (axes reversed)."""
    nn, ii, jj = np.meshgrid(np.arange(X), np.arange(T), np.arange(X), indexing="ij")
    sol = 1000.0 * nn + 0.5 * ii - 0.001 * jj
    ds = load_reference_mat(write(tmp_path / "viscid_test_in.mat", arrays(u0=sol[:, 0], u_sol=sol), "v73"))
    np.testing.assert_array_equal(ds.u, sol)
    np.testing.assert_array_equal(ds.a, sol[:, 0])


def test_axes_are_sorted_by_the_meshes(tmp_path):
    """Node order is never assumed: a file with x and t descending reads back ascending."""
    flipped = arrays(u0=U0[:, ::-1], u_sol=U_SOL[:, ::-1, ::-1], x_mesh=X_MESH[::-1], t_mesh=T_MESH[::-1])
    ds = load_reference_mat(write(tmp_path / "viscid_train.mat", flipped, "v5"), layout="viscid")
    np.testing.assert_array_equal(ds.u, U_SOL)
    np.testing.assert_array_equal(ds.a, U0)
    np.testing.assert_array_equal(ds.x_a[:, 0], X_MESH)


def test_detected_from_the_keys():
    assert detect_layout(arrays(), "f.mat") == "viscid"
    with pytest.raises(DgnoError, match=r"u0\+u_sol \(viscid\)"):
        detect_layout({"u_sol": U_SOL}, "f.mat")


def raises(path: Path, match: str) -> None:
    with pytest.raises(DgnoError, match=match) as info:
        load_reference_mat(path, layout="viscid")
    message = str(info.value)
    assert path.name in message and "\n" not in message


@pytest.mark.parametrize("version", ["v5", "v73"])
def test_wrong_keys_and_shapes_name_the_file_and_key(tmp_path, version):
    def bad(name: str, **change) -> Path:
        return write(tmp_path / name, arrays(**change), version)

    raises(bad("m1.mat", t_mesh=None), "missing key.*'t_mesh'")
    raises(bad("m2.mat", u0=None), "missing key.*'u0'")
    raises(
        bad("s1.mat", u_sol=U_SOL[:, :, :-1]), re.escape(f"'u_sol' has shape (3, {T}, {X - 1}), expected (N, {T}, {X})")
    )
    raises(bad("s2.mat", u0=U0[:2]), re.escape(f"'u0' has shape (2, {X}), expected (3, {X})"))
    raises(bad("s3.mat", x_mesh=np.ones((4, 32))), "'x_mesh' has shape")
    raises(bad("s4.mat", u_sol=U_SOL[..., None]), "'u_sol' has shape")
    raises(bad("s5.mat", x_mesh=np.r_[X_MESH[:-1], X_MESH[0]]), "'x_mesh' must hold distinct")
    sol = U_SOL.copy()
    sol[1, 4, 9] = np.nan
    raises(bad("v1.mat", u_sol=sol), re.escape("'u_sol' holds a non-finite value at index (1, 4, 9)"))


def test_convert_writes_a_signed_burgers_file(tmp_path):
    src = write(tmp_path / "viscid_test_in.mat", arrays(), "v73")
    assert main(["data", "convert", str(src), "--out", str(tmp_path / "test.h5")]) == 0
    ds = load_h5(tmp_path / "test.h5", require_u=True)  # signed a: no positivity check
    assert ds.attrs["preset"] == "burgers" and ds.attrs["a_positive"] is False
    np.testing.assert_array_equal(ds.u, U_SOL)
    assert ds.a.min() < 0
