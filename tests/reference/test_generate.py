"""Data generation: file contents, determinism, shards, and agreement with an independent solver."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from dgno.config import get_preset
from dgno.errors import DgnoError
from dgno.reference import DarcyFEM, Shard, SplitCounts, generate, load_h5, merge
from dgno.reference.generate import generate_split
from dgno.reference.verify import relative_l2, resolve

TINY = SplitCounts(train=3, val=1, test=2, ood=1)


@pytest.fixture(scope="module")
def pwc_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pwc")
    generate(get_preset("darcy-pwc"), out, counts=TINY, seed=7, workers=1)
    return out


def test_split_files_hold_the_documented_arrays(pwc_dir):
    preset = get_preset("darcy-pwc")
    assert sorted(p.name for p in pwc_dir.glob("*.h5")) == sorted(f"{s}.h5" for s in preset.splits)
    ds = load_h5(pwc_dir / "train.h5", require_u=True)
    assert ds.a.shape == ds.u.shape == (3, 29, 29)
    assert ds.x_a.shape == ds.x_u.shape == (29, 29, 2)
    np.testing.assert_allclose(ds.x_a[3, 5], [3 / 28, 5 / 28])
    assert set(np.unique(ds.a)) <= {5.0, 10.0}
    np.testing.assert_array_equal(ds.u[:, 0, :], 0.0)  # homogeneous Dirichlet data
    assert np.all(ds.u[:, 1:-1, 1:-1] > 0)  # maximum principle, f = 10 > 0
    for key in ("preset", "seed", "split", "field", "solver", "dgno_version", "created", "source_f"):
        assert key in ds.attrs, key
    assert ds.attrs["seed"] == 7 and ds.attrs["split"] == "train"
    assert ds.attrs["solver"]["n_fine"] == 28 * 7 + 1
    with h5py.File(pwc_dir / "train.h5") as f:  # plain attributes for h5ls/h5dump readers
        assert f.attrs["preset"] == "darcy-pwc"


def test_ood_splits_differ_from_in_distribution(pwc_dir):
    test = load_h5(pwc_dir / "test.h5")
    frac = load_h5(pwc_dir / "test_ood_frac30.h5")
    assert frac.attrs["field"]["level"] == 0.15 and test.attrs["field"]["level"] == 0.0
    assert load_h5(pwc_dir / "test_ood_tau6.h5").attrs["field"]["grf"]["tau"] == 6.0


def test_samples_depend_only_on_seed_split_and_index():
    preset = get_preset("darcy-pwc")
    whole = generate_split(preset, "val", range(4), seed=3)
    part = generate_split(preset, "val", range(2, 4), seed=3)
    np.testing.assert_array_equal(whole.a[2:], part.a)
    np.testing.assert_array_equal(whole.u[2:], part.u)
    other_split = generate_split(preset, "test", range(2), seed=3)
    other_seed = generate_split(preset, "val", range(2), seed=4)
    assert not np.array_equal(whole.a[:2], other_split.a)
    assert not np.array_equal(whole.a[:2], other_seed.a)


def test_shards_merge_to_the_single_run(tmp_path, pwc_dir):
    preset = get_preset("darcy-pwc")
    for i in range(2):
        generate(preset, tmp_path / "shards", counts=TINY, seed=7, shard=Shard(i, 2), workers=2 if i else 1)
    merge([tmp_path / "shards"], tmp_path / "merged")
    for split in preset.splits:
        a, b = load_h5(pwc_dir / f"{split}.h5"), load_h5(tmp_path / "merged" / f"{split}.h5")
        np.testing.assert_array_equal(a.a, b.a)
        np.testing.assert_array_equal(a.u, b.u)


def test_merge_refuses_incomplete_or_mixed_shards(tmp_path):
    preset = get_preset("darcy-pwc")
    counts = SplitCounts(train=2, val=1, test=1, ood=1)
    generate(preset, tmp_path / "a", counts=counts, seed=1, shard=Shard(0, 2))
    with pytest.raises(DgnoError, match="missing"):
        merge([tmp_path / "a"], tmp_path / "out")
    generate(preset, tmp_path / "b", counts=counts, seed=2, shard=Shard(1, 2))
    with pytest.raises(DgnoError, match="differ in seed"):
        merge([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.h5"))


def test_stored_u_matches_an_independent_finer_fem_solve(pwc_dir):
    """The ground-truth contract: FEM (m = 10, n = 281) on the stored nodal a reproduces u."""
    ds = load_h5(pwc_dir / "test.h5", require_u=True)
    u = resolve(ds, solver=DarcyFEM(), refine=10, interp="nearest", indices=range(len(ds)))
    assert relative_l2(u, ds.u).max() < 1e-3


def test_smooth_preset_is_positive_and_reproducible_by_fem(tmp_path):
    ds = generate_split(get_preset("darcy-smooth"), "test", range(2), seed=0)
    assert np.all(ds.a > 0) and len(np.unique(ds.a)) > 100
    # cubic interpolation of the nodal a is itself an approximation, so the bound is looser
    u = resolve(ds, solver=DarcyFEM(), refine=8, interp="cubic", indices=range(2))
    assert relative_l2(u, ds.u).max() < 2e-3
