"""The darcy-trig preset: the DGNO authors' smooth family a = 2.1 + sin(b1 x) + cos(b2 y) (dgno.fields.trig)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dgno.cli import main
from dgno.config import get_preset
from dgno.fields import TrigCoefficient, TrigField, unit_square_nodes
from dgno.reference import DarcyFEM, SplitCounts, generate, load_h5
from dgno.reference.verify import relative_l2

COUNTS = SplitCounts(train=4, val=2, test=2, ood=2)
SPLITS = ("train", "val", "test", "test_ood_b0")
QUICK = Path(__file__).resolve().parents[2] / "configs" / "darcy_trig_quick.yaml"


@pytest.fixture(scope="module")
def trig_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("trig")
    generate(get_preset("darcy-trig"), out, counts=COUNTS, seed=0)
    return out


def formula(b1: float, b2: float, x: np.ndarray) -> np.ndarray:
    return 2.1 + np.sin(b1 * x[..., 0]) + np.cos(b2 * x[..., 1])


def test_field_is_the_formula_at_any_points():
    rng = np.random.default_rng(1)
    a = TrigField().sample(rng)
    x = rng.uniform(size=(5, 7, 2))
    assert a(x).shape == (5, 7)
    np.testing.assert_allclose(a(x), formula(a.b1, a.b2, x), rtol=0, atol=1e-15)
    assert a.parameters() == {"beta1": a.b1, "beta2": a.b2}
    with pytest.raises(ValueError):
        TrigField(b1_range=(2.0, 1.0))


def test_b_ranges_of_the_splits_are_disjoint():
    preset = get_preset("darcy-trig")
    assert preset.splits == SPLITS
    rng = np.random.default_rng(2)
    train = np.array([[s.b1, s.b2] for s in (preset.sampler("train").sample(rng) for _ in range(2000))])
    ood = np.array([[s.b1, s.b2] for s in (preset.sampler("test_ood_b0").sample(rng) for _ in range(2000))])
    assert train.min() >= math.pi / 2 and train.max() <= 2 * math.pi
    assert ood.min() >= 0.0 and ood.max() <= math.pi / 2
    assert train.min() < math.pi / 2 + 0.05 and train.max() > 2 * math.pi - 0.05  # the whole range is used
    assert ood.min() < 0.05 and ood.max() > math.pi / 2 - 0.05
    for split in ("val", "test"):
        assert preset.sampler(split) == preset.sampler("train")
    desc = preset.describe()
    assert "inferred" in desc["ranges"] and desc["field"]["b1_range"] == [math.pi / 2, 2 * math.pi]
    assert desc["ood"]["b0"]["b2_range"] == [0.0, math.pi / 2]


def test_the_bound_min_a_is_reached_but_never_crossed():
    x = unit_square_nodes(201)
    assert formula(3 * math.pi / 2, math.pi, x).min() == pytest.approx(0.1, abs=1e-12)
    for b1 in np.linspace(math.pi / 2, 2 * math.pi, 15):
        for b2 in np.linspace(math.pi / 2, 2 * math.pi, 15):
            assert TrigCoefficient(b1, b2)(x).min() >= 0.1 - 1e-12
    inverse_instance = formula(5.001, 3.372, x)  # the authors' smh_inverse_coe.mat: a in [0.10, 4.10]
    assert inverse_instance.min() == pytest.approx(0.10, abs=5e-3)


def test_files_store_the_parameters_used_and_a_is_their_formula(trig_dir):
    preset = get_preset("darcy-trig")
    for split in SPLITS:
        ds = load_h5(trig_dir / f"{split}.h5", require_u=True)
        n = COUNTS.of(split)
        assert ds.a.shape == ds.u.shape == (n, 29, 29)
        b1, b2 = ds.extras["beta1"], ds.extras["beta2"]
        assert b1.shape == b2.shape == (n,)
        used = [preset.sampler(split).sample(s) for s in _rngs(split, n)]
        np.testing.assert_array_equal(b1, [s.b1 for s in used])
        np.testing.assert_array_equal(b2, [s.b2 for s in used])
        for k in range(n):
            np.testing.assert_allclose(ds.a[k], formula(b1[k], b2[k], ds.x_a), rtol=0, atol=1e-14)
        assert ds.a.min() >= 0.1 and ds.attrs["a_positive"] is True
        assert ds.attrs["preset"] == "darcy-trig" and "extras/beta1" in ds.attrs["layout"]
        lo, hi = (0.0, math.pi / 2) if split == "test_ood_b0" else (math.pi / 2, 2 * math.pi)
        assert np.all((lo <= b1) & (b1 <= hi) & (lo <= b2) & (b2 <= hi))
        assert ds.attrs["field"]["b1_range"] == [lo, hi]


def _rngs(split: str, n: int):
    from dgno.reference.generate import sample_rng

    return [sample_rng(0, split, i) for i in range(n)]


def test_stored_u_solves_the_pde(trig_dir):
    """An independent P1 FEM solve (n = 141) with the exact coefficient of the stored b1, b2 reproduces u."""
    for split in ("test", "test_ood_b0"):
        ds = load_h5(trig_dir / f"{split}.h5", require_u=True)
        m = 5
        u = np.stack([
            DarcyFEM().solve(TrigCoefficient(float(b1), float(b2)), 10.0, 28 * m + 1)[::m, ::m]
            for b1, b2 in zip(ds.extras["beta1"], ds.extras["beta2"], strict=True)
        ])
        assert relative_l2(u, ds.u).max() < 5e-4  # about 1e-4: FD (n = 197) and FEM (n = 141) discretisation
        assert np.all(ds.u[:, [0, -1], :] == 0) and np.all(ds.u[:, :, [0, -1]] == 0)
        assert 0.02 < ds.u.max() < 1.0


def test_quick_config_trains_a_few_steps(trig_dir, tmp_path, capsys):
    tiny = [
        "model.latent_dim=8", "model.encoder.channels=[1,4,4,4]", "model.encoder.fc=[16]", "model.field.width=12",
        "model.field.depth=3", "model.field.n_sum=2", "model.a_decoder.width=12", "model.a_decoder.depth=3",
        "model.a_decoder.n_sum=2", "physics.particles=12", "train.batch_size=2", "train.steps=3",
        "train.val_every=3", "train.checkpoint_every=3", "train.threads=1", f"data.dir={trig_dir}",
    ]
    run = tmp_path / "run"
    assert main(["train", str(QUICK), *tiny, "--out", str(run), "--quiet"]) == 0
    assert (run / "last.pt").exists() and (run / "summary.json").exists()
    capsys.readouterr()
