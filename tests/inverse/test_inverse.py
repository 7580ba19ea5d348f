"""Inverse problems: observations and noise, priors, the posterior's terms, samplers, and `dgno invert`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import h5py
import numpy as np
import pytest
import torch

from dgno.cli import main
from dgno.config import get_preset
from dgno.config.build import run_training as train
from dgno.config.runs import load_run
from dgno.config.schema import load_config
from dgno.errors import DgnoError
from dgno.inverse.grids import NodalField, TensorGrid, interpolate
from dgno.inverse.observations import (
    Observations,
    Window,
    check_in_domain,
    check_snr,
    draw_at_nodes,
    draw_at_points,
    free_nodes,
    read_observations,
    sigma_from_snr,
)
from dgno.inverse.posterior import LatentPosterior
from dgno.inverse.prior import box_prior, choose_prior, fit_tanh_prior, standard_prior
from dgno.inverse.samplers import find_map, hessian, laplace_factor, map_laplace, nuts
from dgno.nn.multionet import frozen_trunks
from dgno.pdes import Burgers, Darcy, Output, field_output
from dgno.reference import SplitCounts, generate
from support import gaussian_problem as _gaussian_problem
from support import invert_cli as _invert
from support import moment_errors
from support import tiny_posterior as _posterior


# ------------------------------------------------------------------------------------------ noise and points
def test_sigma_from_snr_is_the_reference_convention():
    u = np.array([0.1, -0.2, 0.3])
    (sigma,) = sigma_from_snr(u[:, None], 25.0)
    assert sigma == pytest.approx(math.sqrt(np.mean(u**2) / 10**2.5))
    assert 10 * math.log10(np.mean(u**2) / sigma**2) == pytest.approx(25.0)
    both = sigma_from_snr(np.stack([u, 10 * u], -1), 25.0)  # per output: each its own signal power
    np.testing.assert_allclose(both, [sigma, 10 * sigma])


@pytest.mark.parametrize("snr", [float("nan"), 1e6, -1e3, float("inf")])
def test_absurd_snr_is_refused(snr):
    with pytest.raises(DgnoError, match="SNR"):
        check_snr(snr)


def test_observation_checks_name_the_problem():
    x = np.array([[0.5, 0.5], [1.2, 0.3]])
    with pytest.raises(DgnoError, match=r"observation 1 at \[1.2, 0.3\] lies outside the domain x0 in \[0, 1\]"):
        check_in_domain(x, Darcy().domain, source="obs.csv")
    with pytest.raises(DgnoError, match=r"obs.csv: observation 0 at \[0.5, -0.1\] lies outside the domain "
                                        r"x in \[-1, 1\], t in \[0, 1\] \(1 points outside\)"):
        check_in_domain(np.array([[0.5, -0.1], [1.0, 1.0]]), Burgers().domain, source="obs.csv")
    check_in_domain(np.array([[-1.0, 0.0], [1.0, 1.0]]), Burgers().domain, source="obs.csv")  # closed domain
    with pytest.raises(DgnoError, match="observation 0 is not finite"):
        Observations(x=x[:1], y=np.array([np.nan]), sigma=0.1, source="obs.csv")
    with pytest.raises(DgnoError, match="must be finite and > 0"):
        Observations(x=x[:1], y=np.zeros(1), sigma=0.0, source="obs.csv")
    with pytest.raises(DgnoError, match="2 observed component"):
        Observations(x=x, y=np.zeros((2, 2)), sigma=0.1, source="obs.csv", outputs=("u",))


def _darcy_grid(n):
    return np.stack(np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n), indexing="ij"), -1)  # (n, n, 2)


def _burgers_grid(nx, nt):
    """Burgers' t-major space-time grid: x[i, j] = (x_j, t_i), (nt, nx, 2)."""
    return np.stack(np.meshgrid(np.linspace(-1, 1, nx), np.linspace(0, 1, nt), indexing="xy"), -1)


def test_draw_at_nodes_uses_distinct_free_nodes(rng):
    n = 9
    x = _darcy_grid(n)
    u = np.sin(np.pi * x[..., 0]) * np.sin(np.pi * x[..., 1])
    free = free_nodes(Darcy(), x)
    i, j = np.divmod(free, n)
    assert free.size == (n - 2) ** 2 and i.min() == j.min() == 1 and i.max() == j.max() == n - 2  # u = 0 known
    obs = draw_at_nodes(x, u, 20, 0.01, rng, candidates=free, source="t")
    assert len(set(obs.nodes.tolist())) == 20 and set(obs.nodes) <= set(free)
    np.testing.assert_allclose(obs.truth[:, 0], u.ravel()[obs.nodes])
    np.testing.assert_allclose(obs.x, x.reshape(-1, 2)[obs.nodes])
    assert obs.y.shape == (20, 1) and np.std(obs.y - obs.truth) < 0.03
    with pytest.raises(DgnoError, match="--n-obs"):
        draw_at_nodes(x, u, 50, 0.01, rng, candidates=free, source="t")


def test_burgers_nodes_avoid_the_walls_and_respect_the_window(rng):
    """Burgers fixes u = 0 at x = +-1 (the multiplier cos(pi x / 2)); the initial time is free (it is a)."""
    x = _burgers_grid(17, 11)
    problem = Burgers()
    free = free_nodes(problem, x)
    pts = x.reshape(-1, 2)[free]
    assert free.size == 11 * 15 and np.abs(pts[:, 0]).max() < 1 and pts[:, 1].min() == 0.0
    late = free_nodes(problem, x, window=Window.from_bounds(problem.domain, {"t": 0.25}))
    assert late.size == 8 * 15 and x.reshape(-1, 2)[late, 1].min() >= 0.25
    with pytest.raises(DgnoError, match="unknown axis 'y'; the domain's axes are x, t"):
        Window.from_bounds(problem.domain, {"y": 0.2})
    u = np.sin(np.pi * x[..., 0]) * np.exp(-x[..., 1])
    obs = draw_at_nodes(x, u, 30, 0.01, rng, candidates=late, source="t")
    assert (obs.x[:, 1] >= 0.25).all() and obs.y.shape == (30, 1)


def test_tensor_grids_of_any_layout_interpolate_to_free_points(rng):
    """'ij' (Darcy), t-major (x, t) (Burgers) and 1-D grids: cubic interpolation converges at fourth order, exact at
    nodes; the truth of free observation points is read this way."""
    def f(p):
        return np.sin(2 * p[..., 0]) * np.cos(3 * p[..., 1])

    errors = []
    for nx in (17, 33, 65):
        x = _burgers_grid(nx, nx // 2 + 1)
        grid = TensorGrid.of(x)
        assert grid.coords == (1, 0)  # grid axis 0 runs along t, axis 1 along x
        pts = np.stack([rng.uniform(-1, 1, 200), rng.uniform(0, 1, 200)], -1)
        errors.append(np.abs(interpolate(x, f(x), pts, method="cubic") - f(pts)).max())
        np.testing.assert_allclose(interpolate(x, f(x), x.reshape(-1, 2)), f(x).reshape(-1), atol=1e-13)
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert (orders > 3.5).all(), orders
    d = _darcy_grid(9)
    assert TensorGrid.of(d).coords == (0, 1)
    two = np.stack([f(d), 2 * f(d)], -1)  # (9, 9, 2): several outputs interpolate together
    np.testing.assert_allclose(interpolate(d, two, d.reshape(-1, 2)[:5]), two.reshape(-1, 2)[:5], atol=1e-13)
    line = np.linspace(-1, 1, 33)[:, None]
    a = NodalField(line, np.sin(3 * line[:, 0]))  # a 1-D input read between its nodes
    assert np.abs(a(np.linspace(-1, 1, 101)[:, None]) - np.sin(3 * np.linspace(-1, 1, 101))).max() < 1e-4
    assert TensorGrid.of(rng.uniform(size=(30, 2))) is None
    obs = draw_at_points(x, f(x), 40, 0.01, rng, domain=Burgers().domain,
                         window=Window.from_bounds(Burgers().domain, {"t": 0.5}), source="t")
    assert (obs.x[:, 1] >= 0.5).all() and np.abs(obs.truth[:, 0] - f(obs.x)).max() < 1e-5


def test_read_observations_csv_and_h5(tmp_path):
    darcy = Darcy().domain
    csv = tmp_path / "obs.csv"
    csv.write_text("x,y,u,sigma\n0.1,0.2,0.5,0.01\n0.3,0.4,0.6,0.01\n")
    f = read_observations(csv, domain=darcy, outputs=("u",))
    np.testing.assert_allclose(f.x, [[0.1, 0.2], [0.3, 0.4]])
    np.testing.assert_allclose(f.y, [[0.5], [0.6]])
    assert f.sigma.tolist() == [0.01] and f.outputs == ("u",)
    h5 = tmp_path / "obs.h5"
    with h5py.File(h5, "w") as h:
        h["x"], h["u"] = f.x, f.y[:, 0]
    g = read_observations(h5, domain=darcy, outputs=("u",))
    np.testing.assert_allclose(g.x, f.x)
    np.testing.assert_allclose(g.y, f.y)
    assert g.sigma is None
    bad = tmp_path / "bad.csv"
    bad.write_text("x,u\n0.1,0.2\n")
    with pytest.raises(DgnoError, match=r"lacks column\(s\) \['y'\]"):
        read_observations(bad, domain=darcy, outputs=("u",))
    burgers = tmp_path / "burgers.csv"  # columns named by the domain's axes; order free
    burgers.write_text("t,x,u\n0.5,-0.25,0.1\n0.75,0.5,-0.2\n")
    b = read_observations(burgers, domain=Burgers().domain, outputs=("u",))
    np.testing.assert_allclose(b.x, [[-0.25, 0.5], [0.5, 0.75]])
    outside = tmp_path / "outside.csv"
    outside.write_text("x,t,u\n0.5,0.5,0.1\n0.5,1.5,0.1\n")
    with pytest.raises(DgnoError, match=r"outside.csv: observation 1 at \[0.5, 1.5\] lies outside the domain x in"):
        read_observations(outside, domain=Burgers().domain, outputs=("u",))
    vector = tmp_path / "vector.csv"  # two of three outputs observed
    vector.write_text("x,y,v,u\n0.1,0.2,1,2\n")
    v = read_observations(vector, domain=darcy, outputs=("u", "v", "p"))
    assert v.outputs == ("u", "v") and v.y.tolist() == [[2.0, 1.0]]


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
@pytest.fixture
def tiny_run(pwc_run, pwc_data):
    """The session's tiny trained darcy-pwc run and its data (conftest.py)."""
    return pwc_run, pwc_data


def test_posterior_terms_are_the_ones_written_down(tiny_run):
    post, model, pts, obs = _posterior(*tiny_run)
    theta = torch.randn(3, 2, post.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    parts = post.parts(theta)
    for m in range(3):
        for b in range(2):
            beta = theta[m, b][None]
            u = model.outputs_at(beta, torch.tensor(obs[b].x))[0, :, 0]
            obs_term = -0.5 * ((u - torch.tensor(obs[b].y[:, 0])) ** 2).sum() / 0.002**2
            a = model.likelihood.mean(model.decode_a(beta))
            pde = -sum(model.physics_terms(beta, a, pts).values())[0]
            torch.testing.assert_close(parts["obs"][m, b], obs_term)
            torch.testing.assert_close(parts["pde"][m, b], pde)
            torch.testing.assert_close(parts["prior"][m, b], -0.5 * (beta**2).sum())


@dataclass(frozen=True)
class TwoOutputs:
    """A problem with two outputs, u and its derivative u_x: the posterior's view of a vector problem."""

    base: object

    def __getattr__(self, name):
        return getattr(self.base, name)

    @property
    def outputs(self):
        return (field_output("u"), Output("u_x", lambda jets: jets["u"].grad[..., 0], order=1, reads=("u",)))


def test_vector_observations_add_a_gaussian_term_per_component(tiny_run):
    """With C observed outputs, the observation term is -sum_k sum_c (y_kc - G_c(beta)(x_k))^2 / (2 v_kc), for
    any subset and order of the outputs (``components``)."""
    run, _ = tiny_run
    _, model, _ = load_run(run)
    model.to(torch.float64)
    model.problem = TwoOutputs(model.problem)
    g = torch.Generator().manual_seed(0)
    b, k, d = 2, 7, 2
    x = 0.05 + 0.9 * torch.rand(b, k, d, generator=g, dtype=torch.float64)
    prior = standard_prior(8)
    theta = torch.randn(3, b, 8, generator=g, dtype=torch.float64)
    for components in [(0, 1), (1, 0), (1,)]:
        c = len(components)
        y = torch.randn(b, k, c, generator=g, dtype=torch.float64)
        var = 0.01 + torch.rand(b, k, c, generator=g, dtype=torch.float64)  # a variance per point and component
        post = LatentPosterior(model, prior, x, y, var, None, components=components)
        parts = post.parts(theta)
        for m in range(3):
            for i in range(b):
                beta = theta[m, i][None]
                expected = 0.0  # point by point, component by component
                for kk in range(k):
                    jets = model.fields_at(beta, x[i, kk][None], order=1)
                    values = {"u": jets["u"].value[0, 0], "u_x": jets["u"].grad[0, 0, 0]}
                    for cc, comp in enumerate(components):
                        name = ("u", "u_x")[comp]
                        expected += -0.5 * (y[i, kk, cc] - values[name]) ** 2 / var[i, kk, cc]
                torch.testing.assert_close(parts["obs"][m, i], expected)
    with pytest.raises(ValueError, match="components"):
        LatentPosterior(model, prior, x, y, var, None, components=(2,))


def test_constraints_fix_values_not_derivatives():
    """u = sin(pi x) sin(pi y) N is known on the boundary, u_x is not: a node is worth observing when any observed
    output is free there."""
    x = _darcy_grid(9)
    problem = TwoOutputs(Darcy())
    assert free_nodes(problem, x, outputs=("u",)).size == 49
    assert free_nodes(problem, x, outputs=("u_x",)).size == 81
    assert free_nodes(problem, x).size == 81


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
@pytest.mark.parametrize(("precondition", "chain_method"),
                         [(False, "sequential"), (True, "sequential"), (True, "vectorized")])
def test_nuts_recovers_a_known_gaussian_posterior(precondition, chain_method):
    """Mean and covariance of two independent 3-D Gaussians sampled jointly; with the Laplace preconditioning
    (as `dgno invert` uses it) on a strongly correlated one, without it on axis-aligned ones. Vectorized chains
    (copies of the instances in one run) sample the same posterior, chain by chain."""
    post = _gaussian_problem(correlated=precondition)
    kwargs = {}
    if precondition:
        theta_map, _, _ = find_map(post, starts=2, steps=300, lr=0.05, generator=torch.Generator().manual_seed(0))
        factor, _ = laplace_factor(post, theta_map)
        kwargs = {"center": theta_map, "factor": factor}
    init = torch.zeros(2, 2, 3, dtype=torch.float64)
    init[1] += 0.5  # the chains start apart
    draws = nuts(post, draws=800, warmup=300, chains=2, seed=1, init=init, chain_method=chain_method, **kwargs)
    assert draws.theta.shape == (2, 800, 2, 3) and draws.diagnostics["chain_method"] == chain_method
    assert not torch.equal(draws.theta[0], draws.theta[1])  # two chains, not one twice
    x = draws.flat  # (S, B, d)
    assert x.shape == (1600, 2, 3)
    for b in range(2):
        assert draws.diagnostics["ess_bulk"][b].min() > 200
        errors = moment_errors(draws.theta[:, :, b].double().numpy(), post.mean[b].numpy(), post.cov[b].numpy())
        assert (errors < 5).all(), errors  # within 5 Monte Carlo standard errors (ArviZ), each moment
    assert draws.diagnostics["rhat"].max() < 1.05


@pytest.mark.parametrize("scale", [1.3, 0.75])
def test_moment_errors_catch_a_wrong_covariance(scale):
    """The bound of the sampler test is not loose: exact draws of a covariance scaled by 1.3 (or 0.75) fail it."""
    rng = np.random.default_rng(0)
    cov = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    good = rng.multivariate_normal(np.zeros(3), cov, size=(2, 800))
    bad = rng.multivariate_normal(np.zeros(3), scale * cov, size=(2, 800))
    assert (moment_errors(good, np.zeros(3), cov) < 5).all()
    assert (moment_errors(bad, np.zeros(3), cov) > 5).any()


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
@pytest.mark.parametrize("method", ["nuts", "map"])
def test_invert_writes_summary_posterior_and_plot(tiny_run, tmp_path, method):
    run, data = tiny_run
    out = tmp_path / method
    nuts_only = ["--warmup", "20", "--chains", "2", "--max-tree-depth", "4"] if method == "nuts" else []
    assert _invert(run, data, out, "--method", method, "--draws", "30", *nuts_only, "--physics-check", "2") == 0
    s = json.loads((out / "summary.json").read_text())
    sampler = "ess_bulk_min" if method == "nuts" else "independent_draws"
    for key in ("a_rel_l2", "u_rel_l2", "phase_error_rate", "coverage90_u", "coverage95_u", "seconds",
                "model_error_u_mean"):
        assert isinstance(s[key], float) and math.isfinite(s[key]), key
    assert 0 <= s["coverage90_u"] <= s["coverage95_u"] <= 1 and s[sampler] > 0
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


def test_invert_at_free_points_reads_the_truth_off_the_grid(tiny_run, tmp_path):
    run, data = tiny_run
    out = tmp_path / "points"
    assert _invert(run, data, out, "--obs-at", "points", "--method", "map", "--draws", "40",
                   "--physics-check", "0", "--obs-min", "x0=0.5") == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["n_obs"] == 12 and s["coverage_nodes"] == 27 * 27
    with h5py.File(out / "posterior.h5") as h:
        x = h["observations/x"][:]
        assert "nodes" not in h["observations"]
    assert not np.allclose(x * 28, np.round(x * 28))  # free positions, not grid nodes
    assert (x[:, 0] >= 0.5).all()


# --------------------------------------------------------------------------------- Burgers: any problem
TINY_BURGERS = [
    "model.latent_dim=8", "model.encoder.hidden=[16]", "model.field.width=12", "model.field.depth=3",
    "model.field.n_sum=2", "physics.levels=8", "train.batch_size=4", "train.val_every=3", "train.checkpoint_every=3",
    "train.log_every=1", "train.threads=1", "train.steps=6",
]


@pytest.fixture(scope="module")
def burgers_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("burgers")
    data = root / "data"
    generate(get_preset("burgers"), data, counts=SplitCounts(train=8, val=4, test=3, ood=1), seed=0)
    train(load_config("configs/burgers_quick.yaml", [*TINY_BURGERS, f"data.dir={data}"]), root / "run",
          progress=False)
    return root / "run", data


def test_reference_solve_reproduces_the_data(burgers_run, tmp_path):
    """The physics check's re-solve of the true input gives back the stored solution: Burgers from its 128 nodal
    initial values (cubic), Darcy from its nodal coefficient (the preset's own solver in both cases)."""
    from dgno.inverse.physics_check import reference_solve
    from dgno.reference import load_h5

    _, data = burgers_run
    ds = load_h5(data / "test.h5")
    solve = reference_solve(get_preset("burgers"), ds.x_a, piecewise_constant=False)
    u = solve(ds.a[0])
    assert u.shape == (101, 128)
    np.testing.assert_allclose(u[0], ds.a[0], atol=1e-14)  # u(x, 0) = a at the nodes
    assert np.linalg.norm(u - ds.u[0]) / np.linalg.norm(ds.u[0]) < 2e-4
    generate(get_preset("darcy-smooth"), tmp_path, counts=SplitCounts(train=1, val=1, test=1, ood=1), seed=0)
    darcy = load_h5(tmp_path / "test.h5")
    u = reference_solve(get_preset("darcy-smooth"), darcy.x_a, piecewise_constant=False)(darcy.a[0])
    assert np.linalg.norm(u - darcy.u[0]) / np.linalg.norm(darcy.u[0]) < 1e-3


@pytest.mark.parametrize("method", ["map", "nuts"])
def test_invert_burgers_end_to_end(burgers_run, tmp_path, method):
    """Initial condition and u(x, t) from observations at t >= 0.25 only: the summary scores a (the initial
    condition) and u, the coverage of both at five levels, and re-solves draws with the Burgers solver."""
    run, data = burgers_run
    out = tmp_path / method
    assert main(["invert", str(run), "--data", str(data / "test.h5"), "--index", "1", "--n-obs", "20",
                 "--obs-min", "t=0.25", "--snr", "25", "--out", str(out), "--threads", "1", "--method", method,
                 "--draws", "20", "--physics-check", "2",
                 *(["--warmup", "15", "--chains", "2", "--max-tree-depth", "4"] if method == "nuts" else [])]) == 0
    s = json.loads((out / "summary.json").read_text())
    for key in ("a_rel_l2", "u_rel_l2", "coverage90_u", "coverage90_a", "model_error_u_mean", "seconds"):
        assert isinstance(s[key], float) and math.isfinite(s[key]), key
    assert "phase_error_rate" not in s and s["model_error_n"] == 2
    for key in ("coverage_u", "coverage_a", "coverage_u_latent_only", "coverage_a_latent_only"):
        cov = [s[key][str(level)] for level in (0.5, 0.8, 0.9, 0.95, 0.99)]
        assert all(0 <= c <= 1 for c in cov) and cov == sorted(cov), key
    assert s["coverage_nodes"] == 101 * 126 - 20  # the walls x = +-1 hold u = 0 exactly; observed nodes left out
    assert s["coverage_a_nodes"] == 126
    assert s["obs_window"]["min"] == {"t": 0.25}
    with h5py.File(out / "posterior.h5") as h:
        assert h["a_mean"].shape == (128,) and h["a_lower"].shape == (128,) and h["u_mean"].shape == (101, 128)
        assert h["samples/u"].shape[1:] == (101, 128) and h["samples/a"].shape[1:] == (128,)
        x = h["observations/x"][:]
        assert x.shape == (20, 2) and (x[:, 1] >= 0.25).all() and (np.abs(x[:, 0]) < 1).all()
        assert h["observations/u"].shape == (20,)
        assert (h["a_lower"][:] <= h["a_upper"][:]).all()
    assert (out / "inversion.png").stat().st_size > 0


def test_invert_burgers_from_x_t_u_measurements(burgers_run, tmp_path, capsys):
    run, data = burgers_run
    from dgno.reference import load_h5

    ds = load_h5(data / "test.h5")
    rows = [(ds.x_u[i, j, 0], ds.x_u[i, j, 1], ds.u[0, i, j]) for i, j in [(40, 10), (60, 64), (80, 100), (100, 5)]]
    own = tmp_path / "obs.csv"
    own.write_text("x,t,u\n" + "".join(f"{x},{t},{u}\n" for x, t, u in rows))
    out = tmp_path / "own"
    assert main(["invert", str(run), "--obs", str(own), "--sigma", "0.02", "--out", str(out), "--method", "map",
                 "--draws", "30", "--threads", "1", "--physics-check", "0"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["n_obs"] == 4 and s["sigma"] == 0.02 and "a_rel_l2" not in s
    outside = tmp_path / "outside.csv"
    outside.write_text("x,t,u\n0.5,0.5,0.1\n0.5,1.5,0.1\n")
    bad_out = tmp_path / "bad"
    rc = main(["invert", str(run), "--obs", str(outside), "--sigma", "0.01", "--out", str(bad_out), "--method", "map"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and not bad_out.exists()
    assert "observation 1 at [0.5, 1.5] lies outside the domain x in [-1, 1], t in [0, 1]" in err
    rc = main(["invert", str(run), "--data", str(data / "test.h5"), "--obs-min", "y=0.3", "--out", str(bad_out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "unknown axis 'y'; the domain's axes are x, t" in err


def test_inverse_benchmark_runs_on_a_tiny_burgers_run(burgers_run, tmp_path):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "inverse_benchmark", Path(__file__).resolve().parents[2] / "benchmarks" / "inverse.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    run, data = burgers_run
    result = bench.main(["--run", str(run), "--data-dir", str(data), "--n-id", "2", "--n-obs", "10",
                         "--obs-min", "t=0.25", "--method", "map", "--draws", "30", "--batch", "2",
                         "--physics-check", "1", "--threads", "1", "--name", "tiny", "--results-dir", str(tmp_path)])
    s = result["summary"]["test"]
    assert s["n"] == 2 and set(s["coverage_a"]) == set(s["coverage_u"]) == {"0.5", "0.8", "0.9", "0.95", "0.99"}
    assert math.isfinite(s["a_rel_l2"]) and math.isfinite(s["u_rel_l2"])
    assert json.loads((tmp_path / "inverse_tiny.json").read_text())["summary"]["test"]["n"] == 2
    md = (tmp_path / "inverse_tiny.md").read_text()
    assert "where t >= 0.25" in md and "Coverage of the equal-tailed credible intervals of a" in md
    assert (tmp_path / "inverse_tiny.png").is_file()
    # in parts: instance 1 alone, with instance 0 included from an earlier part, equals the run of both
    base = ["--run", str(run), "--data-dir", str(data), "--n-obs", "10", "--obs-min", "t=0.25", "--method", "map",
            "--draws", "30", "--batch", "1", "--physics-check", "0", "--threads", "1", "--results-dir", str(tmp_path)]
    bench.main([*base, "--n-id", "1", "--name", "part0"])
    both = bench.main([*base, "--n-id", "2", "--name", "both"])
    merged = bench.main([*base, "--id-start", "1", "--n-id", "1", "--include", str(tmp_path / "inverse_part0.json"),
                         "--name", "merged"])
    assert [r["index"] for r in merged["instances"]] == [0, 1]
    for key in ("a_rel_l2", "u_rel_l2"):
        assert merged["summary"]["test"][key] == pytest.approx(both["summary"]["test"][key], rel=1e-9)
    with pytest.raises(SystemExit, match="other observations"):
        bench.main([*base[:5], "20", *base[6:], "--id-start", "1", "--n-id", "1", "--include",
                    str(tmp_path / "inverse_part0.json"), "--name", "bad"])
    # a part written before a setting existed had that setting's default; any other value is refused
    old = json.loads((tmp_path / "inverse_part0.json").read_text())
    del old["settings"]["model_bias"]
    (tmp_path / "inverse_old.json").write_text(json.dumps(old))
    again = bench.main([*base, "--id-start", "1", "--n-id", "1", "--include", str(tmp_path / "inverse_old.json"),
                        "--name", "merged_old"])
    assert [r["index"] for r in again["instances"]] == [0, 1]
    with pytest.raises(SystemExit, match="differs in model_bias"):
        bench.main([*base, "--id-start", "1", "--n-id", "1", "--model-bias", "mean", "--include",
                    str(tmp_path / "inverse_old.json"), "--name", "bad_bias"])
