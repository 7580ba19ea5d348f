"""Reference posteriors from the exact prior and the finite-difference solver (dgno.exact.darcy): the batched
and differentiable solves, the pCN sampler's invariance, R-hat and ESS, NUTS on darcy-trig, the CLI method and the
benchmark's observations."""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch

import dgno.exact
from dgno.cli import main
from dgno.config import get_preset
from dgno.exact.darcy import (
    ObservationOperator,
    ReferenceSettings,
    TrigPosterior,
    phase_coverage,
    reference_posterior,
    two_phase_loglik,
)
from dgno.exact.darcy_fd import BandedDarcy, differentiable_solve, nearest_upsample
from dgno.exact.mcmc import PCNSettings, ess, pcn, split_rhat
from dgno.fields import NearestNodeField, TrigCoefficient
from dgno.fields.base import unit_square_nodes
from dgno.inverse.observations import Observations, instance_observations
from dgno.inverse.run import Truth
from dgno.pdes import Darcy
from dgno.reference import save_h5
from dgno.reference.darcy_fd import DarcyFD
from dgno.reference.generate import generate_split

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pwc_file(tmp_path_factory):
    """Three darcy-pwc test instances, solved as the preset solves them."""
    out = tmp_path_factory.mktemp("pwc") / "test.h5"
    save_h5(generate_split(get_preset("darcy-pwc"), "test", [0, 1, 2], seed=5), out)
    return out


# ------------------------------------------------------------------------------------------------- solvers
@pytest.mark.parametrize("refine", [1, 3])
def test_batched_solver_equals_the_preset_solver(refine, rng):
    a = np.where(rng.standard_normal((3, 9, 9)) > 0, 10.0, 5.0)
    n = 8 * refine + 1
    u = BandedDarcy(n).solve(nearest_upsample(a, refine))  # one batch
    for c in range(3):
        ref = DarcyFD().solve(NearestNodeField(a[c]), 10.0, n)
        np.testing.assert_allclose(u[c], ref, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(BandedDarcy(n).solve(nearest_upsample(a[c], refine)), ref, rtol=1e-11, atol=1e-13)


def test_batched_solver_smooth_coefficient():
    coef = TrigCoefficient(4.3, 2.2)
    n = 17
    u = BandedDarcy(n).solve(coef(unit_square_nodes(n))[None])[0]
    np.testing.assert_allclose(u, DarcyFD().solve(coef, 10.0, n), rtol=1e-11, atol=1e-13)


def test_differentiable_solve_gradient_matches_finite_differences(rng):
    solver = BandedDarcy(7)
    a = torch.tensor(1.0 + 2.0 * rng.random((2, 7, 7)), requires_grad=True)
    w = torch.tensor(rng.standard_normal((2, 7, 7)))
    (differentiable_solve(a, solver) * w).sum().backward()

    def f(x):
        return float((differentiable_solve(x, solver) * w).sum())

    for idx in [(0, 3, 3), (1, 1, 4), (0, 0, 2), (1, 6, 6)]:  # interior and boundary nodes (these enter the faces)
        e = torch.zeros_like(a)
        e[idx] = 1e-6
        num = (f(a.detach() + e) - f(a.detach() - e)) / 2e-6
        assert abs(float(a.grad[idx]) - num) <= 1e-6 * max(1.0, abs(num)), idx


def test_trig_potential_gradient_matches_finite_differences(rng):
    field = get_preset("darcy-trig").field
    x = rng.random((12, 2))
    op = ObservationOperator.at(x, 13)
    post = TrigPosterior(field, BandedDarcy(13), op, rng.random(12) * 0.3, 0.01)
    theta = np.array([0.4, -0.7])
    _, grad = post.value_and_grad(theta)
    for k in range(2):
        e = np.eye(2)[k] * 1e-6
        num = (post.value_and_grad(theta + e)[0] - post.value_and_grad(theta - e)[0]) / 2e-6
        assert abs(grad[k] - num) <= 1e-5 * max(1.0, abs(num))
    # the torch wrapper pyro calls returns the same gradient
    t = torch.tensor(theta, requires_grad=True)
    post.potential({"theta": t}).backward()
    np.testing.assert_allclose(t.grad.numpy(), grad)


def test_observation_operator_is_exact_at_nodes_and_bilinear_between(rng):
    u = rng.random((2, 5, 5))
    nodes = unit_square_nodes(5).reshape(-1, 2)
    np.testing.assert_allclose(ObservationOperator.at(nodes, 5)(u), u.reshape(2, -1))
    lin = 1.0 + 2.0 * unit_square_nodes(5)[..., 0] - 3.0 * unit_square_nodes(5)[..., 1]  # bilinear: reproduced
    x = rng.random((7, 2))
    np.testing.assert_allclose(ObservationOperator.at(x, 5)(lin[None])[0], 1.0 + 2.0 * x[:, 0] - 3.0 * x[:, 1])


def test_two_phase_likelihood_thresholds_the_presets_own_grf():
    """pCN's white noise is the GRF sampler's: the same standard normals give the same nodal phases as the preset."""
    field = get_preset("darcy-pwc").field
    solver = BandedDarcy(29)
    nodes = unit_square_nodes(29).reshape(-1, 2)[:5]
    loglik = two_phase_loglik(field, solver, 1, ObservationOperator.at(nodes, 29), np.zeros(5), 1.0)
    for seed in range(3):
        a = field.sample(np.random.default_rng(seed)).values  # the data's draw
        xi = np.random.default_rng(seed).standard_normal((1, field.grf.n_modes, field.grf.n_modes))
        _, feats = loglik(xi)
        np.testing.assert_array_equal(np.where(feats["high"][0], field.a_hi, field.a_lo), a)
        np.testing.assert_allclose(feats["u"][0], solver.solve(a), rtol=1e-6)


# ---------------------------------------------------------------------------------------------- diagnostics
def _ar1(rng, phi: float, chains: int, n: int) -> np.ndarray:
    x = np.empty((chains, n))
    x[:, 0] = rng.standard_normal(chains)
    noise = np.sqrt(1 - phi**2) * rng.standard_normal((chains, n))
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


def test_rhat_and_ess_of_iid_and_autocorrelated_chains(rng):
    iid = rng.standard_normal((4, 4000))
    assert 0.9 * 16000 < ess(iid)[0] < 1.1 * 16000
    assert split_rhat(iid)[0] < 1.005
    phi = 0.9
    ar = _ar1(rng, phi, 4, 4000)
    expected = 16000 * (1 - phi) / (1 + phi)  # the integrated autocorrelation time of AR(1) is (1 + phi)/(1 - phi)
    assert 0.75 * expected < ess(ar)[0] < 1.25 * expected
    assert split_rhat(ar)[0] < 1.02
    stuck = _ar1(rng, 0.99, 4, 2000) + np.array([0.0, 0.0, 0.0, 3.0])[:, None]  # one chain elsewhere
    assert split_rhat(stuck)[0] > 1.1
    trend = iid + np.linspace(0, 2, 4000)  # non-stationary within chains: split R-hat sees it
    assert split_rhat(trend)[0] > 1.1


def test_diagnostics_of_constant_and_binary_quantities(rng):
    x = np.zeros((4, 100, 3), dtype=bool)
    x[:, :, 1] = rng.random((4, 100)) < 0.3  # varies
    x[2:, :, 2] = True  # constant within chains, different between them
    r, e = split_rhat(x), ess(x)
    assert np.isnan(r[0]) and np.isnan(e[0])  # never changes: no diagnostic, not a failure
    assert r[1] < 1.1 and e[1] > 100
    assert r[2] > 1e6  # no spread within chains, some between: ArviZ gives a huge (or infinite) R-hat
    np.testing.assert_allclose(ess(x[..., 1].astype(float)), e[1])  # the fast rank path of booleans


# ---------------------------------------------------------------------------------------------------- pCN
def test_pcn_leaves_the_prior_invariant_without_observations():
    def loglik(xi):
        return np.zeros(xi.shape[0]), {"x": xi[:, :3].copy()}

    # every move is accepted, so beta only creeps up from 0.3 (towards an unreachable 0.999): an AR(1) move per
    # coordinate that must keep N(0, 1) exactly (beta = 1 would be independent draws and prove nothing)
    settings = PCNSettings(chains=4, warmup=300, stages=1, initial_step=0.3, target_accept=0.999, min_samples=16,
                           check_every=10**6, max_iterations=8300, max_stored=4096, ess_min=1e9, seed=1)
    res = pcn(loglik, (6,), settings, monitor="x", store_xi=(0, 5))
    assert res.acceptance.min() == 1.0  # the likelihood is flat: every move accepted
    assert 0.3 < res.step.max() < 0.4
    xi = res.draws["xi"].reshape(-1, 2)
    n_eff = float(np.min(res.diagnostics["ess"]))
    assert n_eff > 500
    np.testing.assert_allclose(xi.mean(0), 0.0, atol=5 / np.sqrt(n_eff))
    np.testing.assert_allclose(xi.var(0), 1.0, atol=0.2)


def test_pcn_samples_a_conjugate_gaussian_posterior():
    """xi ~ N(0, I), y = xi_0 + N(0, s^2): xi_0 | y ~ N(y / (1 + s^2), s^2 / (1 + s^2)); xi_1, xi_2 keep the prior."""
    y, s = 1.0, 0.5

    def loglik(xi):
        return -0.5 * ((y - xi[:, 0]) / s) ** 2, {"x": xi.copy()}

    settings = PCNSettings(chains=4, warmup=3000, min_samples=16, check_every=10**6, max_iterations=23000,
                           max_stored=4096, ess_min=1e9, seed=2)
    res = pcn(loglik, (3,), settings, monitor="x")
    x = res.draws["x"].reshape(-1, 3)
    n_eff = float(np.min(res.diagnostics["ess"]))
    assert n_eff > 1000 and res.diagnostics["rhat_max"] < 1.02
    mean, var = y / (1 + s**2), s**2 / (1 + s**2)
    np.testing.assert_allclose(x.mean(0), [mean, 0.0, 0.0], atol=5 * np.sqrt(1.0 / n_eff))
    np.testing.assert_allclose(x.var(0), [var, 1.0, 1.0], rtol=0.12)
    assert res.scale[0] < 0.7 * res.scale[1]  # the informed coordinate takes smaller steps
    # the step adapts towards 25 % acceptance, unless pCN's cap beta <= 1 stops it first (here: one coordinate
    # of three is informed, so even independent prior draws are accepted often)
    assert abs(res.acceptance.mean() - 0.25) < 0.1 or res.step.min() > 0.95


# --------------------------------------------------------------------------------------------------- trig
def _trig_instance(b, n_obs, sigma, rng):
    """Observations of u at random interior nodes of the 29 x 29 grid, solved on that grid (no solver error)."""
    coef = TrigCoefficient(*b)
    u = BandedDarcy(29).solve(coef(unit_square_nodes(29))[None])[0]
    interior = np.flatnonzero(np.pad(np.ones((27, 27), bool), 1).reshape(-1))
    nodes = np.sort(rng.choice(interior, size=n_obs, replace=False))
    x = unit_square_nodes(29).reshape(-1, 2)[nodes]
    y = u.reshape(-1)[nodes] + sigma * rng.standard_normal(n_obs)
    obs = Observations(x=x, y=y, sigma=sigma, source="tiny", nodes=nodes)
    return obs, Truth(coef(unit_square_nodes(29)), u, "tiny", {"beta1": b[0], "beta2": b[1]})


def test_nuts_on_darcy_trig_concentrates_at_the_truth(rng):
    b = (4.3, 3.2)
    obs, truth = _trig_instance(b, 300, 2e-4, rng)
    settings = ReferenceSettings(chains=2, warmup=60, draws=60, refine=1, max_seconds=60, ess_min=20)
    r = reference_posterior("darcy-trig", obs, truth, settings)
    p = r.summary["parameters"]
    for name, true in zip(("beta1", "beta2"), b, strict=True):
        assert abs(p[name]["mean"] - true) < 5e-3 and p[name]["std"] < 5e-3
    assert r.summary["a_rel_l2"] < 2e-3 and r.summary["u_rel_l2"] < 2e-3
    assert r.samples["params"].shape[1] == 2 and r.fields["a_intervals"].shape == (5, 2, 29, 29)


def test_nuts_matches_quadrature_on_darcy_trig(rng):
    """A 2-parameter posterior can be integrated on a grid: NUTS's mean and std agree with it."""
    obs, truth = _trig_instance((3.1, 5.0), 60, 0.01, rng)
    settings = ReferenceSettings(chains=2, warmup=100, draws=200, refine=1, max_seconds=60, ess_min=50)
    r = reference_posterior("darcy-trig", obs, truth, settings)
    post = TrigPosterior(get_preset("darcy-trig").field, BandedDarcy(29), ObservationOperator.at(obs.x, 29),
                         obs.y[:, 0], float(obs.sigma[0]))
    p = r.summary["parameters"]
    m0 = np.array([p["beta1"]["mean"], p["beta2"]["mean"]])
    sd0 = np.array([p["beta1"]["std"], p["beta2"]["std"]])
    g = [np.linspace(m - 0.8, m + 0.8, 81) for m in m0]  # about 8 posterior sds either side, whatever NUTS says
    grid = np.stack(np.meshgrid(*g, indexing="ij"), -1).reshape(-1, 2)
    ll = post.log_likelihood(grid)  # the prior is flat inside the box
    w = np.exp(ll - ll.max())
    w /= w.sum()
    mean = w @ grid
    sd = np.sqrt(w @ (grid - mean) ** 2)
    n_eff = min(r.summary["parameters_ess"].values())
    np.testing.assert_allclose(m0, mean, atol=5 * float(sd.max()) / np.sqrt(n_eff))
    np.testing.assert_allclose(sd0, sd, rtol=0.3)


# ---------------------------------------------------------------------------------------------- coverage
def test_phase_coverage_from_probabilities():
    high = np.array([True, True, False, False])
    prob = np.array([0.9, 0.07, 0.1, 0.99])
    cov = phase_coverage(prob, high, levels=(0.5, 0.9))
    assert cov[0.5] == 0.5  # at 50 %: the interval is the more probable phase
    assert cov[0.9] == 0.75  # at 90 %: both phases unless one is below 5 % (0.99 leaves the low phase 1 %)


# ------------------------------------------------------------------------------------------------------ CLI
def test_cli_reference_runs_end_to_end_and_writes_atomically(pwc_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(dgno.exact, "ExactSettings", functools.partial(ReferenceSettings, warmup=150))
    out = tmp_path / "inv"
    argv = ["invert", "--data", str(pwc_file), "--index", "1", "--method", "exact", "--n-obs", "40",
            "--snr", "25", "--max-minutes", "0.03", "--out", str(out)]  # no run: the preset of the data file
    assert main(argv) == 0
    assert "posterior, summary and plots in" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["inversion.png", "posterior.h5", "summary.json"]  # no temp files
    s = json.loads((out / "summary.json").read_text())
    assert s["method"] == "reference-pcn" and s["preset"] == "darcy-pwc" and s["n_obs"] == 40
    assert isinstance(s["converged"], bool) and s["chains"] >= 4 and s["iterations"] > 150
    for key in ("a_rel_l2", "u_rel_l2", "phase_error_rate", "brier_score", "coverage_u", "coverage_a", "rhat_max",
                "ess_bulk_min", "acceptance_rate", "seconds"):
        assert key in s, key
    with h5py.File(out / "posterior.h5", "r") as h:
        prob = h["phase_prob"][()]
        assert prob.shape == (29, 29) and 0 <= prob.min() and prob.max() <= 1
        np.testing.assert_allclose(h["a_mean"][()], 5 + 5 * prob)
        assert h["u_intervals"].shape == (5, 2, 29, 29) and h["observations/x"].shape == (40, 2)
        assert json.loads(h.attrs["summary"])["method"] == "reference-pcn"
    # the same observations as DGNO's `dgno invert RUN --data ... --index 1 --seed 0` draws: the CLI's own draw
    with h5py.File(out / "posterior.h5", "r") as h:
        nodes = h["observations/nodes"][()]
    assert len(set(nodes.tolist())) == 40


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["invert", "darcy-smooth", "--method", "exact", "--obs", "{obs}", "--sigma", "0.01"],
         "needs a preset whose prior is known"),
        (["invert", "darcy-nope", "--method", "exact", "--obs", "{obs}", "--sigma", "0.01"],
         "neither a preset"),
        (["invert", "darcy-trig", "--method", "exact", "--data", "{pwc}"], "names preset 'darcy-trig'"),
        (["invert", "darcy-pwc", "--method", "exact", "--data", "{pwc}", "--pde-weight", "0"],
         "--pde-weight: DGNO's posterior settings do not apply to --method exact"),
        (["invert", "--method", "nuts", "--data", "{pwc}"], "give the run folder"),
    ],
)
def test_cli_reference_bad_input_is_one_line(argv, needle, pwc_file, tmp_path, capsys):
    obs = tmp_path / "obs.csv"
    obs.write_text("x,y,u\n0.5,0.5,0.1\n")
    argv = [a.format(obs=obs, pwc=pwc_file) for a in argv] + ["--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert needle in err
    assert not (tmp_path / "o").exists()


def test_cli_method_reference_is_the_deprecated_name_of_exact(tmp_path, capsys):
    obs = tmp_path / "obs.csv"
    obs.write_text("x,y,u\n0.5,0.5,0.1\n")
    argv = ["invert", "darcy-smooth", "--method", "reference", "--obs", str(obs), "--sigma", "0.01", "--out",
            str(tmp_path / "o")]
    assert main(argv) == 2
    first, second = capsys.readouterr().err.strip().splitlines()
    assert "--method reference is now --method exact" in first and "needs a preset whose prior is known" in second


# ------------------------------------------------------------------------------------------------ benchmark
def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_observations_are_those_of_the_inverse_benchmark(pwc_file, monkeypatch):
    """benchmarks/inverse.py and the reference see the same nodes, noise and sigma for every instance."""
    bench = _module("inverse")
    captured = []

    def fake_invert(obs, truths, settings, preset=None):
        captured.extend(obs)
        return [SimpleNamespace(instance=SimpleNamespace(summary={"a_rel_l2": 0.0, "u_rel_l2": 0.0}, fields={}))
                for _ in obs]

    monkeypatch.setattr(bench, "check_compatible", lambda *a, **k: None)
    op = SimpleNamespace(problem=Darcy(), output_names=("u",), model=None, preset="darcy-pwc")
    inv = SimpleNamespace(op=op, invert=fake_invert)
    args = argparse.Namespace(obs_min=[], obs_max=[], observe=None, seed=3, batch=2, snr=25.0, obs_at="nodes",
                              n_obs=30)
    bench.run_split(inv, pwc_file, 3, args, SimpleNamespace(physics_check=0))
    from dgno.reference import load_h5

    ds = load_h5(pwc_file)
    assert len(captured) == 3
    for i, theirs in enumerate(captured):
        ours = instance_observations(ds, i, problem=Darcy(), n_obs=30, snr=25.0, seed=3, source=f"test.h5[{i}]")
        np.testing.assert_array_equal(ours.nodes, theirs.nodes)
        np.testing.assert_array_equal(ours.y, theirs.y)
        np.testing.assert_array_equal(ours.sigma, theirs.sigma)
        assert ours.source == theirs.source


def test_benchmark_script_writes_reference_and_comparison(pwc_file, tmp_path, monkeypatch):
    script = _module("reference_posterior")
    monkeypatch.setattr(script, "ReferenceSettings", functools.partial(ReferenceSettings, warmup=120))
    from dgno.reference import load_h5

    ds = load_h5(pwc_file)
    rows = []
    for i in range(2):  # a DGNO result on the same observations, with its phase probabilities
        o = instance_observations(ds, i, problem=Darcy(), n_obs=30, snr=25.0, seed=0, source="x")
        rows.append({"split": "test", "index": i, "n_obs": 30, "sigma": float(o.sigma[0]), "a_rel_l2": 0.2,
                     "u_rel_l2": 0.03, "phase_error_rate": 0.1, "coverage90_u": 0.9, "coverage95_u": 0.95,
                     "seconds": 2.0, "coverage_u": {str(lv): lv for lv in (0.5, 0.8, 0.9, 0.95, 0.99)},
                     "phase_prob": np.full((29, 29), 0.4).tolist()})
    dgno = tmp_path / "inverse_x.json"
    dgno.write_text(json.dumps({"settings": {"seed": 0}, "instances": rows}))
    res = script.main(["--preset", "darcy-pwc", "--data-dir", str(pwc_file.parent), "--n", "2", "--n-obs", "30",
                       "--max-minutes", "0.02", "--name", "tiny", "--results-dir", str(tmp_path), "--quiet",
                       "--dgno", str(dgno)])
    names = sorted(p.name for p in tmp_path.iterdir())
    for suffix in (".json", ".md", ".h5", "_reliability.png", "_coverage.png"):
        assert f"reference_tiny{suffix}" in names
    cmp = res["comparison"]
    assert cmp["n"] == 2 and cmp["mean"]["brier_dgno"] > 0 and cmp["mean"]["speed_ratio"] > 0
    assert set(cmp["reliability"]) == {"reference", "DGNO"}
    assert "| mean |" in (tmp_path / "reference_tiny.md").read_text()
    with h5py.File(tmp_path / "reference_tiny.h5", "r") as h:
        assert h["test/1/phase_prob"].shape == (29, 29)
    rows[0]["sigma"] *= 1.01  # other observations: refused
    dgno.write_text(json.dumps({"settings": {"seed": 0}, "instances": rows}))
    with pytest.raises(SystemExit, match="not the same"):
        script.main(["--preset", "darcy-pwc", "--data-dir", str(pwc_file.parent), "--n", "1", "--n-obs", "30",
                     "--max-minutes", "0.01", "--name", "tiny2", "--results-dir", str(tmp_path), "--quiet",
                     "--dgno", str(dgno)])


def test_benchmark_script_resume_adds_dgno_without_recomputing(pwc_file, tmp_path, monkeypatch):
    script = _module("reference_posterior")
    monkeypatch.setattr(script, "ReferenceSettings", functools.partial(ReferenceSettings, warmup=120))
    from dgno.reference import load_h5

    base = ["--preset", "darcy-pwc", "--data-dir", str(pwc_file.parent), "--n-obs", "30", "--max-minutes", "0.02",
            "--name", "res", "--results-dir", str(tmp_path), "--quiet"]
    first = script.main([*base, "--n", "1"])
    ds = load_h5(pwc_file)
    rows = []
    for i in range(2):
        o = instance_observations(ds, i, problem=Darcy(), n_obs=30, snr=25.0, seed=0, source="x")
        rows.append({"split": "test", "index": i, "n_obs": 30, "sigma": float(o.sigma[0]), "a_rel_l2": 0.2,
                     "u_rel_l2": 0.03, "seconds": 2.0, "phase_prob": np.full((29, 29), 0.4).tolist()})
    dgno = tmp_path / "inverse_x.json"
    dgno.write_text(json.dumps({"settings": {"seed": 0}, "instances": rows}))
    calls = []
    real = script.reference_posterior
    monkeypatch.setattr(script, "reference_posterior", lambda *a, **k: calls.append(a) or real(*a, **k))
    res = script.main([*base, "--n", "2", "--resume", "--dgno", str(dgno)])
    assert len(calls) == 1  # instance 0 kept, only instance 1 computed
    assert res["instances"][0] == first["instances"][0]
    assert res["comparison"]["n"] == 2
    kept = res["comparison"]["instances"][0]
    assert kept["a_rel_l2_reference"] == first["instances"][0]["a_rel_l2"]
    assert kept["brier_dgno"] == pytest.approx(script.brier_score(np.full((29, 29), 0.4),
                                                                  ds.a[0].reshape(29, 29) > 7.5))
    with h5py.File(tmp_path / "reference_res.h5", "r") as h:
        assert sorted(h["test"]) == ["0", "1"]
    with pytest.raises(SystemExit, match="same --snr"):  # other observations are another posterior
        script.main([*base, "--n", "2", "--resume", "--snr", "20"])


def test_brier_decomposition_of_the_reliability_curve():
    """Murphy's decomposition: exact when every bin holds one predicted value; a calibrated forecast has reliability
    ~0, one pushed off its frequencies has it large, and the sum always returns the Brier score."""
    bench = _module("reference_posterior")
    rng = np.random.default_rng(0)
    p = rng.choice(np.linspace(0.25, 0.95, 8), size=200_000)  # one value per bin
    calibrated = rng.random(p.size) < p
    c = bench.reliability([p], [calibrated])
    assert c["reliability"] < 1e-4
    assert c["brier"] == pytest.approx(c["reliability"] - c["resolution"] + c["uncertainty"], abs=1e-12)
    skewed = bench.reliability([p - 0.2], [calibrated])  # 0.2 too low everywhere (each value still in a bin of its own)
    assert skewed["reliability"] == pytest.approx(0.2**2, rel=0.1)
    assert skewed["resolution"] == pytest.approx(c["resolution"], rel=1e-6)  # the same bins, the same frequencies
