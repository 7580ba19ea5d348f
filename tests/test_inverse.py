"""Inverse problems: observations and noise, priors, the posterior's terms, samplers, and `dgno invert`."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
import torch

from dgno.cli import main
from dgno.config import get_preset
from dgno.config.schema import load_config
from dgno.errors import DgnoError
from dgno.inverse.observations import (
    Observations,
    check_snr,
    draw_at_nodes,
    interior_nodes,
    read_observations,
    sigma_from_snr,
)
from dgno.inverse.posterior import LatentPosterior
from dgno.inverse.prior import box_prior, choose_prior, fit_tanh_prior, standard_prior
from dgno.inverse.samplers import find_map, hessian, laplace_factor, map_laplace, nuts
from dgno.nn.multionet import frozen_trunks
from dgno.reference import SplitCounts, generate
from dgno.train import train
from dgno.train.run import load_run
from dgno.weak import weak_points
from test_train import TINY


# ------------------------------------------------------------------------------------------ noise and points
def test_sigma_from_snr_is_the_reference_convention():
    u = np.array([0.1, -0.2, 0.3])
    sigma = sigma_from_snr(u, 25.0)
    assert sigma == pytest.approx(math.sqrt(np.mean(u**2) / 10**2.5))
    assert 10 * math.log10(np.mean(u**2) / sigma**2) == pytest.approx(25.0)


@pytest.mark.parametrize("snr", [float("nan"), 1e6, -1e3, float("inf")])
def test_absurd_snr_is_refused(snr):
    with pytest.raises(DgnoError, match="SNR"):
        check_snr(snr)


def test_observation_checks_name_the_problem():
    x = np.array([[0.5, 0.5], [1.2, 0.3]])
    with pytest.raises(DgnoError, match=r"observation 1 at \[1.2, 0.3\] lies outside"):
        Observations(x=x, y=np.zeros(2), sigma=0.1, source="obs.csv")
    with pytest.raises(DgnoError, match="observation 0 is not finite"):
        Observations(x=x[:1], y=np.array([np.nan]), sigma=0.1, source="obs.csv")
    with pytest.raises(DgnoError, match="must be finite and > 0"):
        Observations(x=x[:1], y=np.zeros(1), sigma=0.0, source="obs.csv")


def test_draw_at_nodes_uses_distinct_interior_nodes(rng):
    n = 9
    x = np.stack(np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n), indexing="ij"), -1)
    u = np.sin(np.pi * x[..., 0]) * np.sin(np.pi * x[..., 1])
    obs = draw_at_nodes(x, u, 20, 0.01, rng, source="t")
    assert len(set(obs.nodes.tolist())) == 20 and set(obs.nodes) <= set(interior_nodes(n))
    np.testing.assert_allclose(obs.truth, u.ravel()[obs.nodes])
    np.testing.assert_allclose(obs.x, x.reshape(-1, 2)[obs.nodes])
    assert np.std(obs.y - obs.truth) < 0.03
    with pytest.raises(DgnoError, match="--n-obs"):
        draw_at_nodes(x, u, 50, 0.01, rng, source="t")


def test_read_observations_csv_and_h5(tmp_path):
    csv = tmp_path / "obs.csv"
    csv.write_text("x,y,u,sigma\n0.1,0.2,0.5,0.01\n0.3,0.4,0.6,0.01\n")
    x, y, sigma = read_observations(csv)
    np.testing.assert_allclose(x, [[0.1, 0.2], [0.3, 0.4]])
    np.testing.assert_allclose(y, [0.5, 0.6])
    assert sigma == 0.01
    h5 = tmp_path / "obs.h5"
    with h5py.File(h5, "w") as f:
        f["x"], f["u"] = x, y
    x2, y2, s2 = read_observations(h5)
    np.testing.assert_allclose(x2, x) and np.testing.assert_allclose(y2, y)
    assert s2 is None
    bad = tmp_path / "bad.csv"
    bad.write_text("x,u\n0.1,0.2\n")
    with pytest.raises(DgnoError, match=r"lacks column\(s\) \['y'\]"):
        read_observations(bad)


# -------------------------------------------------------------------------------------------------- priors
def test_fitted_prior_recovers_the_latent_gaussian_and_inverts():
    g = torch.Generator().manual_seed(0)
    mean = torch.tensor([0.3, -0.5, 0.0])
    chol = torch.tensor([[0.6, 0.0, 0.0], [0.3, 0.4, 0.0], [-0.2, 0.1, 0.5]])
    z = mean + torch.randn(20000, 3, generator=g, dtype=torch.float64) @ chol.T.double()
    prior = fit_tanh_prior(torch.tanh(z), shrinkage=0.0)
    torch.testing.assert_close(prior.mean, mean.double(), atol=0.02, rtol=0)
    torch.testing.assert_close(prior.scale_tril @ prior.scale_tril.T, (chol @ chol.T).double(), atol=0.02, rtol=0)
    theta = torch.randn(5, 3, dtype=torch.float64, generator=g)
    torch.testing.assert_close(prior.inverse(prior.transform(theta)), theta)


def test_box_prior_is_uniform_on_the_box():
    """The change of variables beta = tanh(theta) with log p(theta) = sum log(1 - tanh^2) is uniform in beta."""
    prior = box_prior(1)
    theta = torch.linspace(-4, 4, 20001, dtype=torch.float64)[:, None]
    density = prior.log_prob(theta).exp()
    assert torch.trapezoid(density, theta[:, 0]).item() == pytest.approx(2.0, rel=1e-3)  # |(-1, 1)| = 2
    beta = prior.transform(prior.sample(200000, generator=torch.Generator().manual_seed(1)))
    hist = torch.histc(beta.float(), bins=10, min=-1, max=1) / beta.numel()
    assert (hist - 0.1).abs().max() < 0.005


def test_choose_prior_refuses_mismatches():
    with pytest.raises(DgnoError, match="tanh-encoder"):
        choose_prior("fitted", variational=True, encoded=None, dim=4)
    with pytest.raises(DgnoError, match="unknown prior"):
        choose_prior("flat", variational=False, encoded=None, dim=4)
    assert choose_prior(None, variational=True, encoded=None, dim=4).kind == "standard"


# ------------------------------------------------------------------------------------------- a tiny model
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("inverse")
    data = root / "data"
    generate(get_preset("darcy-pwc"), data, counts=SplitCounts(train=8, val=4, test=3, ood=1), seed=0)
    cfg = load_config(None, [*TINY, f"data.dir={data}", "data.preset=darcy-pwc", "train.steps=6"])
    train(cfg, root / "run", progress=False)
    return root / "run", data


def _posterior(run, data, *, pde_weight=1.0, b=2, dtype=torch.float64):
    from dgno.config.build import weak_setup
    from dgno.reference import load_h5

    cfg, model, _ = load_run(run)
    model.to(dtype)
    ds = load_h5(data / "test.h5")
    obs = [draw_at_nodes(ds.x_u, ds.u[i], 10, 0.002, np.random.default_rng(i), source="t") for i in range(b)]
    ws = weak_setup(cfg)
    pts = weak_points(ws.sampler.sample(torch.Generator().manual_seed(0)), ws.rule, ws.test_function)
    pts = type(pts)(*(t.to(dtype) for t in (pts.x, pts.v, pts.grad_v, pts.weights)))
    x = torch.tensor(np.stack([o.x for o in obs]))
    y = torch.tensor(np.stack([o.y for o in obs]))
    var = torch.full_like(y, 0.002**2)
    prior = standard_prior(cfg.model.latent_dim)
    return LatentPosterior(model, prior, x, y, var, pts, pde_weight=pde_weight), model, pts, obs


def test_posterior_terms_are_the_ones_written_down(tiny_run):
    post, model, pts, obs = _posterior(*tiny_run)
    theta = torch.randn(3, 2, post.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    parts = post.parts(theta)
    for m in range(3):
        for b in range(2):
            beta = theta[m, b][None]
            u = model.predict_u(beta, torch.tensor(obs[b].x))[0]
            obs_term = -0.5 * ((u - torch.tensor(obs[b].y)) ** 2).sum() / 0.002**2
            a = model.likelihood.mean(model.decode_a(beta))
            pde = -sum(model.physics_terms(beta, a, pts).values())[0]
            torch.testing.assert_close(parts["obs"][m, b], obs_term)
            torch.testing.assert_close(parts["pde"][m, b], pde)
            torch.testing.assert_close(parts["prior"][m, b], -0.5 * (beta**2).sum())


def test_frozen_trunks_give_the_same_values_and_latent_gradients(tiny_run):
    post, model, _, _ = _posterior(*tiny_run)
    theta = torch.randn(2, post.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    t1 = theta.clone().requires_grad_(True)
    lp1 = post.log_prob(t1)
    (g1,) = torch.autograd.grad(lp1.sum(), t1)
    with frozen_trunks(model):
        for _ in range(2):  # the second call reads the cache
            t2 = theta.clone().requires_grad_(True)
            lp2 = post.log_prob(t2)
            (g2,) = torch.autograd.grad(lp2.sum(), t2)
            torch.testing.assert_close(lp2, lp1)
            torch.testing.assert_close(g2, g1)


def test_posterior_gradient_matches_finite_differences(tiny_run):
    post, _, _, _ = _posterior(*tiny_run)
    theta = 0.3 * torch.randn(2, post.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    t = theta.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(post.log_prob(t).sum(), t)
    eps = 1e-6
    for k in (0, 3, post.dim - 1):
        e = torch.zeros_like(theta)
        e[1, k] = eps
        fd = (post.log_prob(theta + e).sum() - post.log_prob(theta - e).sum()) / (2 * eps)
        assert g[1, k].item() == pytest.approx(fd.item(), rel=1e-5, abs=1e-6)


def test_batched_hessian_equals_autograd(tiny_run):
    post, _, _, _ = _posterior(*tiny_run)
    theta = 0.3 * torch.randn(2, post.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    h = hessian(post, theta)
    for b in range(2):
        def f(t, b=b):
            full = theta.clone()
            full[b] = t
            return -post.log_prob(full)[b]
        torch.testing.assert_close(h[b], torch.autograd.functional.hessian(f, theta[b].clone()))


# --------------------------------------------------------------------------- samplers on a known posterior
class GaussianPosterior:
    """log p(theta) of B independent Gaussians N(mean_b, cov_b): the sampler's interface, known answer."""

    def __init__(self, mean: torch.Tensor, cov: torch.Tensor) -> None:
        self.mean, self.cov, self.prec = mean, cov, torch.linalg.inv(cov)
        self.prior = standard_prior(mean.shape[-1])
        self.n_instances, self.dim = mean.shape

    def log_prob(self, theta):
        r = theta - self.mean
        return -0.5 * torch.einsum("...bi,bij,...bj->...b", r, self.prec, r)

    def potential(self, theta):
        return -self.log_prob(theta).sum()


def _gaussian_problem(correlated: bool = True):
    mean = torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.3, -0.7]], dtype=torch.float64)
    a = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.3, 0.0], [-0.5, 0.2, 0.1]], dtype=torch.float64)
    first = a @ a.T if correlated else torch.diag(torch.tensor([1.0, 0.3, 2.0], dtype=torch.float64))
    cov = torch.stack([first, torch.diag(torch.tensor([0.5, 2.0, 0.05], dtype=torch.float64))])
    return GaussianPosterior(mean, cov)


@pytest.mark.parametrize("precondition", [False, True])
def test_nuts_recovers_a_known_gaussian_posterior(precondition):
    """Mean and covariance of two independent 3-D Gaussians sampled jointly; with the Laplace preconditioning
    (as `dgno invert` uses it) on a strongly correlated one, without it on axis-aligned ones."""
    post = _gaussian_problem(correlated=precondition)
    kwargs = {}
    if precondition:
        theta_map, _, _ = find_map(post, starts=2, steps=300, lr=0.05, generator=torch.Generator().manual_seed(0))
        factor, _ = laplace_factor(post, theta_map)
        kwargs = {"center": theta_map, "factor": factor}
    draws = nuts(post, draws=800, warmup=300, chains=2, seed=1, init=torch.zeros(2, 2, 3, dtype=torch.float64),
                 **kwargs)
    x = draws.flat  # (S, B, d)
    assert x.shape == (1600, 2, 3)
    for b in range(2):
        sd = post.cov[b].diagonal().sqrt()
        ess = draws.diagnostics["ess"][b].min()
        assert ess > 200
        assert ((x[:, b].mean(0) - post.mean[b]).abs() < 5 * sd / ess.sqrt()).all()
        corr_err = (torch.cov(x[:, b].T) - post.cov[b]).abs() / torch.outer(sd, sd)
        assert corr_err.max() < 0.15
    assert draws.diagnostics["rhat"].max() < 1.05


def test_map_and_laplace_are_exact_for_a_gaussian():
    post = _gaussian_problem()
    theta_map, _, _ = find_map(post, starts=3, steps=1500, lr=0.05, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(theta_map, post.mean, atol=2e-3, rtol=0)
    factor, clipped = laplace_factor(post, theta_map)
    assert clipped == [0, 0]
    torch.testing.assert_close(factor @ factor.transpose(1, 2), post.cov, atol=1e-8, rtol=1e-6)
    draws = map_laplace(post, draws=4000, starts=3, steps=1500, seed=0)
    x = draws.flat
    for b in range(2):
        sd = post.cov[b].diagonal().sqrt()
        assert ((torch.cov(x[:, b].T) - post.cov[b]).abs() / torch.outer(sd, sd)).max() < 0.08


# ---------------------------------------------------------------------------------------------- the CLI
def _invert(run, data, out, *extra):
    return main(["invert", str(run), "--data", str(data / "test.h5"), "--index", "1", "--n-obs", "12",
                 "--snr", "25", "--seed", "0", "--out", str(out), "--threads", "1", *extra])


@pytest.mark.parametrize("method", ["nuts", "map"])
def test_invert_writes_summary_posterior_and_plot(tiny_run, tmp_path, method):
    run, data = tiny_run
    out = tmp_path / method
    assert _invert(run, data, out, "--method", method, "--draws", "30", "--warmup", "20", "--chains", "2",
                   "--max-tree-depth", "4", "--physics-check", "2") == 0
    s = json.loads((out / "summary.json").read_text())
    for key in ("a_rel_l2", "u_rel_l2", "phase_error_rate", "coverage90_u", "coverage95_u", "ess_min", "seconds",
                "model_error_u_mean"):
        assert isinstance(s[key], float) and math.isfinite(s[key]), key
    assert 0 <= s["coverage90_u"] <= s["coverage95_u"] <= 1
    assert s["n_obs"] == 12 and s["prior"] == "fitted"
    with h5py.File(out / "posterior.h5") as h:
        assert h["a_mean"].shape == (29, 29) and h["u_std"].shape == (29, 29) and "phase_prob" in h
        assert h["samples/u"].shape[1:] == (29, 29) and h["observations/x"].shape == (12, 2)
        assert json.loads(h.attrs["summary"])["n_obs"] == 12
    assert (out / "inversion.png").stat().st_size > 0


def test_invert_with_the_users_own_measurements(tiny_run, tmp_path):
    run, _ = tiny_run
    csv = tmp_path / "obs.csv"
    csv.write_text("x,y,u\n" + "".join(f"{0.1 + 0.07 * k},{0.5},{0.01 * k}\n" for k in range(8)))
    out = tmp_path / "own"
    assert main(["invert", str(run), "--obs", str(csv), "--sigma", "0.005", "--out", str(out), "--method", "map",
                 "--draws", "50", "--threads", "1"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["n_obs"] == 8 and "a_rel_l2" not in s and s["sigma"] == 0.005


def test_invert_bad_input_one_line_and_nothing_written(tiny_run, tmp_path, capsys):
    run, data = tiny_run
    outside = tmp_path / "outside.csv"
    outside.write_text("x,y,u\n0.5,0.5,0.1\n1.5,0.5,0.1\n")
    nan = tmp_path / "nan.csv"
    nan.write_text("x,y,u\n0.5,0.5,nan\n")
    other = tmp_path / "other"
    generate(get_preset("darcy-smooth"), other, counts=SplitCounts(train=1, val=1, test=1, ood=1), seed=0)
    cases = [
        (["--obs", str(outside), "--sigma", "0.01"], "lies outside the domain"),
        (["--obs", str(nan), "--sigma", "0.01"], "not finite"),
        (["--sigma", "-1"], "must be finite and > 0"),
        (["--snr", "1e9"], "SNR"),
        (["--index", "99"], "--index 99 is out of range"),
    ]
    for k, (extra, message) in enumerate(cases):
        out = tmp_path / f"bad{k}"
        rc = main(["invert", str(run), "--data", str(data / "test.h5"), "--out", str(out), "--method", "map",
                   *extra])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and message in err and len(err.splitlines()) == 1, (extra, err)
        assert not out.exists()
    rc = main(["invert", str(run), "--data", str(other / "test.h5"), "--out", str(tmp_path / "x"), "--method", "map"])
    err = capsys.readouterr().err
    assert rc == 2 and "does not match the run's 'darcy-pwc'" in err


def test_invert_at_free_points_scores_against_a_fine_solve(tiny_run, tmp_path):
    run, data = tiny_run
    out = tmp_path / "points"
    assert _invert(run, data, out, "--obs-at", "points", "--method", "map", "--draws", "40",
                   "--physics-check", "0") == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["n_obs"] == 12 and s["coverage_nodes"] == 27 * 27
    with h5py.File(out / "posterior.h5") as h:
        x = h["observations/x"][:]
        assert "nodes" not in h["observations"]
    assert not np.allclose(x * 28, np.round(x * 28))  # free positions, not grid nodes
