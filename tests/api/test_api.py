"""The public API as a notebook user meets it: dgno.load -> predict -> invert -> result, dgno.train, runs that
travel without their data, and the errors a user gets for bad input."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

import dgno
from dgno.cli import main
from dgno.reference.dataset import load_h5


def _observations(op, ds, index: int = 0, k: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    x_u = op.output_grid.reshape(-1, op.output_grid.shape[-1])
    interior = np.flatnonzero(((x_u > 0) & (x_u < 1)).all(1))
    nodes = rng.choice(interior, k, replace=False)
    y = ds.u[index].reshape(-1)[nodes] + 0.01 * rng.standard_normal(k)
    return x_u[nodes], y


def test_public_names_are_exported():
    for name in ("load", "invert", "train", "Operator", "InversionResult", "InversionSettings", "Inverter",
                 "Observations", "Run", "DgnoError", "pretrained_names"):
        assert name in dgno.__all__ and getattr(dgno, name) is not None, name


def test_load_predict_on_the_grid_and_at_points(pwc_run, pwc_data):
    op = dgno.load(pwc_run)
    assert op.preset == "darcy-pwc" and op.output_names == ("u",) and op.input_shape == (29, 29)
    ds = load_h5(pwc_data / "test.h5")
    out = op.predict(ds.a[:3])
    assert out["u"].shape == (3, 29, 29) and out["a"].shape == (3, 29, 29)
    single = op.predict(ds.a[0])  # one input without its batch axis
    np.testing.assert_allclose(single["u"][0], out["u"][0], rtol=1e-6, atol=1e-7)
    x = op.output_grid.reshape(-1, 2)[[0, 100, 420, 840]]  # four nodes, asked for as free points
    at = op.predict(ds.a[:3], x=x)["u"]
    assert at.shape == (3, 4)
    np.testing.assert_allclose(at, out["u"].reshape(3, -1)[:, [0, 100, 420, 840]], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("make", "needle"), [
    (lambda a: a[:, :28], "does not match the model's input grid: expected (N, 29, 29)"),
    (lambda a: np.where(np.arange(29) == 3, np.nan, a), "non-finite value nan"),
    (lambda a: -a, "must be positive"),
    (lambda a: "a field", "expected a numeric array"),
])
def test_predict_refuses_bad_input_in_one_line(pwc_run, pwc_data, make, needle):
    op = dgno.load(pwc_run)
    a = load_h5(pwc_data / "test.h5").a[:2]
    with pytest.raises(dgno.DgnoError, match=needle.replace("(", r"\(").replace(")", r"\)")) as info:
        op.predict(make(a))
    assert "\n" not in str(info.value)


def test_predict_refuses_points_outside_the_domain(pwc_run, pwc_data):
    op = dgno.load(pwc_run)
    with pytest.raises(dgno.DgnoError, match="outside"):
        op.predict(load_h5(pwc_data / "test.h5").a[:1], x=np.array([[0.5, 1.5]]))


def test_invert_returns_a_posterior_with_named_fields(pwc_run, pwc_data, tmp_path):
    op = dgno.load(pwc_run)
    ds = load_h5(pwc_data / "test.h5")
    x, y = _observations(op, ds)
    res = dgno.invert(op, x=x, y=y, sigma=0.01, method="map", draws=60, map_starts=1, map_steps=20,
                      physics_check=0, truth={"a": ds.a[0], "u": ds.u[0]})
    assert isinstance(res, dgno.InversionResult)
    assert res.mean["a"].shape == (29, 29) and res.mean["u"].shape == (29, 29) and res.std["u"].shape == (29, 29)
    assert res.mean["phase_prob"].shape == (29, 29)  # two-phase input
    lo, hi = res.interval("a", 0.9)
    assert lo.shape == (29, 29) and (lo <= hi).all()
    lo50, hi50 = res.interval("u", 0.5)
    lo90, hi90 = res.interval("u", 0.9)
    assert (lo90 <= lo50 + 1e-12).all() and (hi50 <= hi90 + 1e-12).all()  # nested intervals
    assert res.draws("u").shape == (60, 29, 29) and res.draws("a", predictive=True).shape == (60, 29, 29)
    assert {"a_rel_l2", "u_rel_l2", "coverage90_u", "settings", "prior"} <= set(res.summary)
    assert res.summary["settings"]["method"] == "map" and res.summary["independent_draws"] == 60
    res.save(tmp_path / "inv")
    assert sorted(p.name for p in (tmp_path / "inv").iterdir()) == ["inversion.png", "posterior.h5", "summary.json"]
    assert json.loads((tmp_path / "inv/summary.json").read_text())["n_obs"] == 30
    with h5py.File(tmp_path / "inv/posterior.h5", "r") as h:
        np.testing.assert_allclose(h["a_mean"][()], res.mean["a"])
    idata = res.to_arviz()
    assert set(idata.groups()) >= {"posterior", "observed_data"}
    assert idata.posterior["a"].shape == (1, 60, 29, 29) and idata.posterior["beta"].shape[:2] == (1, 60)
    with pytest.raises(dgno.DgnoError, match="no posterior of 'v'"):
        res.draws("v")


def test_invert_nuts_chains_reach_arviz_with_their_structure(pwc_run, pwc_data):
    op = dgno.load(pwc_run)
    ds = load_h5(pwc_data / "test.h5")
    x, y = _observations(op, ds, k=20)
    res = dgno.invert(op, x=x, y=y, sigma=0.01, method="nuts", chains=2, draws=12, warmup=10, map_starts=1,
                      map_steps=10, physics_check=0, chain_method="vectorized")
    idata = res.to_arviz()
    assert idata.posterior["beta"].shape[:2] == (2, 12) and idata.posterior["u"].shape == (2, 12, 29, 29)
    assert "ess_bulk_min" in res.summary and "rhat_max" in res.summary


def test_invert_batches_and_refuses_options_of_another_method(pwc_run, pwc_data):
    op = dgno.load(pwc_run)
    ds = load_h5(pwc_data / "test.h5")
    pairs = [_observations(op, ds, i, k=20, seed=i) for i in range(2)]
    x, y = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    results = dgno.invert(op, x=x, y=y, snr=25, method="map", draws=20, map_starts=1, map_steps=10,
                          physics_check=0)
    assert len(results) == 2 and all(r.summary["batch"] == 2 for r in results)
    with pytest.raises(dgno.DgnoError, match=r"--warmup applies only to --method nuts, not to --method map"):
        dgno.invert(op, x=x[0], y=y[0], sigma=0.01, method="map", warmup=10)
    with pytest.raises(dgno.DgnoError, match="unknown inversion setting"):
        dgno.invert(op, x=x[0], y=y[0], sigma=0.01, pde_wieght=0)
    with pytest.raises(dgno.DgnoError, match=r"sigma= \(a standard deviation\) or snr="):
        dgno.invert(op, x=x[0], y=y[0])


def test_the_preset_defaults_are_used_and_said(pwc_run, pwc_data, tmp_path, capsys):
    op = dgno.load(pwc_run)
    defaults = op.inversion_defaults()
    assert defaults["method"] == "nuts" and defaults["pde_weight"] == 0.0  # darcy-pwc's measured choice
    settings = dgno.Inverter(op).settings()
    assert settings.chain_method == "vectorized" and settings.model_error_from == "latent"
    assert dgno.Inverter(op).settings(method="map").method == "map"  # nuts-only defaults dropped silently
    out = tmp_path / "inv"
    code = main(["invert", str(pwc_run), "--data", str(pwc_data / "test.h5"), "--index", "1", "--n-obs", "20",
                 "--draws", "10", "--warmup", "10", "--map-starts", "1", "--map-steps", "10", "--physics-check", "0",
                 "--out", str(out), "--threads", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "darcy-pwc's measured defaults (--method nuts, --chain-method vectorized" in printed
    assert "--draws" not in printed.split("\n")[0]  # given: not a default
    s = json.loads((out / "summary.json").read_text())
    assert s["settings"]["pde_weight"] == 0.0 and s["settings"]["draws"] == 10


def test_a_run_folder_copied_alone_inverts(pwc_run, pwc_data, tmp_path):
    """The calibration is stored at the end of training: no data directory is needed to invert."""
    moved = tmp_path / "elsewhere" / "run"
    shutil.copytree(pwc_run, moved)
    cfg = (moved / "config.yaml").read_text()
    assert str(pwc_data) in cfg
    (moved / "config.yaml").write_text(cfg.replace(str(pwc_data), str(tmp_path / "no-such-data")))
    op = dgno.load(moved)
    ds = load_h5(pwc_data / "test.h5")
    x, y = _observations(op, ds)
    res = dgno.invert(op, x=x, y=y, sigma=0.01, method="map", draws=20, map_starts=1, map_steps=10,
                      physics_check=0, model_error_from="latent")
    assert np.isfinite(res.mean["a"]).all()
    csv = tmp_path / "obs.csv"
    csv.write_text("x,y,u\n" + "".join(f"{a},{b},{c}\n" for (a, b), c in zip(x, y, strict=True)))
    out = tmp_path / "cli"
    assert main(["invert", str(moved), "--obs", str(csv), "--sigma", "0.01", "--method", "map", "--draws", "20",
                 "--map-starts", "1", "--map-steps", "10", "--out", str(out), "--threads", "1"]) == 0
    assert (out / "posterior.h5").is_file()


def test_a_run_without_calibration_or_data_is_a_clear_error(pwc_run, pwc_data, tmp_path, capsys):
    moved = tmp_path / "run"
    shutil.copytree(pwc_run, moved)
    (moved / "inverse_best.pt").unlink()
    cfg = (moved / "config.yaml").read_text()
    (moved / "config.yaml").write_text(cfg.replace(str(pwc_data), str(tmp_path / "gone")))
    csv = tmp_path / "obs.csv"
    csv.write_text("x,y,u\n0.5,0.5,0.1\n0.25,0.5,0.1\n")
    out = tmp_path / "o"
    assert main(["invert", str(moved), "--obs", str(csv), "--sigma", "0.01", "--method", "map", "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "has no stored calibration (inverse_best.pt)" in err and "--calibration-data" in err
    assert not out.exists()


def test_train_from_python_with_a_shipped_config_name(pwc_data, tmp_path):
    from support import TINY

    run = dgno.train("darcy_pwc_quick", out=tmp_path / "nb",
                     overrides=[*TINY, f"data.dir={pwc_data}", "train.steps=3", "train.max_minutes=null"],
                     log=lambda _m: None)
    assert run.summary["steps"] == 3 and (run.path / "inverse_best.pt").is_file()
    op = run.load()
    assert op.step is not None and op.config.train.optimizer == "soap"  # the shipped quick config's optimiser


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(dgno.DgnoError, match="not a run folder"):
        dgno.load(tmp_path)
    with pytest.raises(dgno.DgnoError, match="no such pretrained model"):
        dgno.load("pretrained:no-such-model")
    with pytest.raises(dgno.DgnoError, match="checkpoint must be 'best' or 'last'"):
        dgno.load(tmp_path, checkpoint="final")
