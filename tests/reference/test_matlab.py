"""Reading the reference authors' Darcy .mat files (dgno.reference.matlab).

Each test writes a small file in the authors' layout, orientation and node order from a known field on our 'ij'
grid, then checks that load_reference_mat gives that field back exactly.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dgno.errors import DgnoError
from dgno.fields.base import unit_square_nodes
from dgno.reference.matlab import load_reference_mat
from matlab_files import (  # the authors' layouts, written from known fields
    A_PWC,
    A_SMOOTH,
    N,
    U,
    companion_arrays,
    coords,
    inverse_arrays,
    pwc_arrays,
    smh_arrays,
    write,
    write_v73,
)


def assert_grid(ds) -> None:
    assert ds.x_a.shape == (29, 29, 2)
    np.testing.assert_allclose(ds.x_a, unit_square_nodes(29), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ds.x_u, ds.x_a)


@pytest.mark.parametrize("version", ["v73", "v5"])
@pytest.mark.parametrize("convention", ["xy", "ij"])
def test_smh(tmp_path, version, convention):
    path = write(tmp_path / "smh_train.mat", smh_arrays(convention), version)
    ds = load_reference_mat(path)
    np.testing.assert_array_equal(ds.a, A_SMOOTH)
    np.testing.assert_array_equal(ds.u, U)
    assert_grid(ds)
    np.testing.assert_array_equal(ds.extras["beta1"], np.arange(N) + 0.25)
    np.testing.assert_array_equal(ds.extras["beta2"], np.arange(N) - 0.25)
    assert ds.attrs == {
        "source": "reference-mat",
        "layout": "smh",
        "file": "smh_train.mat",
        "preset": "darcy-trig",
        "a_positive": True,
    }


@pytest.mark.parametrize("version", ["v73", "v5"])
@pytest.mark.parametrize("flat", [False, True])
def test_pwc(tmp_path, version, flat):
    path = write(tmp_path / "pwc_test_in.mat", pwc_arrays(flat), version, matlab=False)
    ds = load_reference_mat(path, layout="pwc")
    np.testing.assert_array_equal(ds.a, A_PWC)
    np.testing.assert_array_equal(ds.u, U)
    assert_grid(ds)
    assert ds.attrs["layout"] == "pwc"
    assert ds.attrs["preset"] == "darcy-pwc"


@pytest.mark.parametrize(("version", "matlab"), [("v73", True), ("v5", True), ("v73", False)])
def test_pwc_companion(tmp_path, version, matlab):
    path = write(tmp_path / "pwc_train.mat", companion_arrays(), version, matlab=matlab)
    ds = load_reference_mat(path)
    np.testing.assert_array_equal(ds.a, A_PWC)
    np.testing.assert_array_equal(ds.u, U)
    np.testing.assert_array_equal(ds.extras["sol_fdm"], U + 0.125)
    assert_grid(ds)
    assert (ds.attrs["layout"], ds.attrs["preset"]) == ("pwc-companion", "darcy-pwc")


@pytest.mark.parametrize("version", ["v73", "v5"])
def test_inverse(tmp_path, version):
    path = write(tmp_path / "pwc_inverse_coe.mat", inverse_arrays(), version, matlab=False)
    ds = load_reference_mat(path)
    assert len(ds) == 1
    np.testing.assert_array_equal(ds.a, A_PWC[:1])
    np.testing.assert_array_equal(ds.u, U[:1])
    assert_grid(ds)
    flat = np.array([0, 30, 840, 28, 812, 437])
    np.testing.assert_array_equal(ds.extras["index_obs_flat"], flat)
    np.testing.assert_array_equal(ds.extras["index_obs"], np.stack([flat % 29, flat // 29], axis=1))
    assert ds.extras["index_obs"].dtype.kind == "i"
    assert (ds.attrs["layout"], ds.attrs["preset"]) == ("inverse", "darcy-pwc")


def test_inverse_smooth(tmp_path):
    arrays = inverse_arrays()
    k = np.arange(841)
    arrays["a"] = A_SMOOTH[0][k % 29, k // 29][:, None]
    ds = load_reference_mat(write(tmp_path / "smh_inverse_coe.mat", arrays, "v5"))
    np.testing.assert_array_equal(ds.a, A_SMOOTH[:1])
    assert ds.attrs["preset"] == "darcy-trig"


def raises(path: Path, match: str, **kwargs) -> None:
    with pytest.raises(DgnoError, match=match) as info:
        load_reference_mat(path, **kwargs)
    message = str(info.value)
    assert path.name in message and "\n" not in message


def broken(tmp_path: Path, name: str, change: dict, base=smh_arrays, version: str = "v73") -> Path:
    arrays = {**base(), **change}
    return write(tmp_path / name, {k: v for k, v in arrays.items() if v is not None}, version)


@pytest.mark.parametrize("version", ["v73", "v5"])
def test_missing_key(tmp_path, version):
    raises(broken(tmp_path, "smh_test_in.mat", {"Y": None}, version=version), "missing key.*'Y'")
    raises(broken(tmp_path, "pwc.mat", {"u": None}, base=pwc_arrays, version=version), "missing key.*'u'")


def test_wrong_shapes(tmp_path):
    raises(broken(tmp_path, "s1.mat", {"sol": U.reshape(N, 841)[:, :840]}), re.escape("'sol' has shape (3, 840)"))
    raises(broken(tmp_path, "s2.mat", {"sol": U.reshape(N, 841)[:2]}), "'sol' holds 2 samples but 'coeff' holds 3")
    raises(broken(tmp_path, "s3.mat", {"X": np.zeros((28, 28))}), "'X'")
    raises(broken(tmp_path, "s4.mat", {"beta1": np.ones((2, 1))}), "'beta1'")
    arrays = inverse_arrays()
    arrays["a"] = arrays["a"][:840]
    raises(write(tmp_path / "inv.mat", arrays, "v5"), re.escape("'a' has shape (840, 1)"))


def test_coordinates_not_the_grid(tmp_path):
    X = coords("xy")["X"].copy()
    X[3, 4] += 0.01
    raises(broken(tmp_path, "s.mat", {"X": X}), "not the 29 x 29 grid")
    arrays = inverse_arrays()
    arrays["x"][5] = arrays["x"][6]  # a node twice, one missing
    raises(write(tmp_path / "inv.mat", arrays, "v5"), "'x' are not the 29 x 29 grid")


def test_non_finite(tmp_path):
    sol = smh_arrays()["sol"].copy()
    sol[1, 7] = np.nan
    raises(broken(tmp_path, "s.mat", {"sol": sol}), "'sol' holds a non-finite value")
    coe = pwc_arrays()["coe"].copy()
    coe[0, 2, 2] = np.inf
    raises(broken(tmp_path, "p.mat", {"coe": coe}, base=pwc_arrays), "'coe' holds a non-finite value")


def test_bad_coefficient_values(tmp_path):
    raises(broken(tmp_path, "s.mat", {"coeff": A_SMOOTH - 1.25}), "must be positive")
    raises(broken(tmp_path, "p.mat", {"coe": A_PWC + (A_PWC == 10)}, base=pwc_arrays), "only 5 and 10, found 11")
    raises(broken(tmp_path, "c.mat", {"coeff": A_PWC}, base=companion_arrays), "only 0 and 1, found (5|10) ")
    arrays = inverse_arrays()
    arrays["a"][10] = 7.0
    raises(write(tmp_path / "pwc_inverse_coe.mat", arrays, "v5"), "only 5 and 10, found 7")
    arrays["a"][10], arrays["index_obs"][2] = 5.0, 841
    raises(write(tmp_path / "pwc_inverse_coe2.mat", arrays, "v5"), "'index_obs' holds node number 841")


def test_unreadable_files(tmp_path):
    raises(tmp_path / "absent.mat", "no such file")
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(np.random.default_rng(0).bytes(300))
    raises(garbage, "unreadable")
    whole = write_v73(tmp_path / "whole.mat", smh_arrays()).read_bytes()
    (tmp_path / "half.mat").write_bytes(whole[: len(whole) // 2])
    raises(tmp_path / "half.mat", r"unreadable or truncated v7\.3")
    whole = write(tmp_path / "whole5.mat", smh_arrays(), "v5").read_bytes()
    (tmp_path / "half5.mat").write_bytes(whole[: len(whole) // 2])
    raises(tmp_path / "half5.mat", "unreadable or truncated MAT")


@pytest.mark.parametrize("version", ["v73", "v5"])
def test_unknown_keys(tmp_path, version):
    path = write(tmp_path / "other.mat", {"foo": np.ones((2, 2)), "sol": np.ones((3, 841))}, version)
    raises(path, "unrecognised MAT key set.*foo, sol")


def test_unknown_layout(tmp_path):
    path = write(tmp_path / "smh.mat", smh_arrays(), "v5")
    with pytest.raises(DgnoError, match="unknown reference layout 'darcy'"):
        load_reference_mat(path, layout="darcy")
