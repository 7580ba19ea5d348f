"""The spatially correlated model error: its fit, the likelihood it gives, its kriging, and `dgno invert` with it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dgno.errors import DgnoError
from dgno.inverse.calibration import Calibration
from dgno.inverse.model_error import (
    CorrelatedError,
    _scaled_distance,
    fit_correlation,
    kriging,
    matern32,
    observation_covariance,
)
from dgno.inverse.posterior import LatentPosterior
from dgno.inverse.prior import standard_prior
from dgno.inverse.settings import InversionSettings as InverseSettings
from support import invert_cli as _invert
from support import tiny_posterior as _posterior


def _grid(n):
    g = np.linspace(0, 1, n)
    return np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)


def _gp_samples(x, lengths, nugget, scale, n, seed=0):
    r = matern32(_scaled_distance(x, x, np.asarray(lengths, float)))
    cov = (1 - nugget) * r + nugget * np.eye(len(x))
    chol = np.linalg.cholesky(cov)
    return (chol @ np.random.default_rng(seed).standard_normal((len(x), n))).T * scale


def test_fit_recovers_known_anisotropic_lengths_and_nugget():
    x = _grid(18)
    e = _gp_samples(x, (0.12, 0.3), 0.1, 2.0, 300)
    lengths, nugget = fit_correlation(x, e, np.full(len(x), 2.0))
    np.testing.assert_allclose(lengths, [0.12, 0.3], rtol=0.15)
    assert nugget == pytest.approx(0.1, abs=0.03)


def test_fit_ignores_nodes_where_the_error_vanishes_and_subsamples():
    """Hard-constraint nodes (sigma = 0) carry no information: the fit is that of the other nodes."""
    x = _grid(16)
    e = _gp_samples(x, (0.2, 0.2), 0.05, 1.0, 200, seed=1)
    sigma = np.ones(len(x))
    wall = x[:, 0] == 0.0
    e[:, wall], sigma[wall] = 0.0, 0.0
    lengths, nugget = fit_correlation(x, e, sigma, max_nodes=150, seed=3)
    np.testing.assert_allclose(lengths, [0.2, 0.2], rtol=0.25)
    assert np.all(np.isfinite(lengths)) and 0 < nugget < 0.2


def test_white_noise_is_fitted_as_a_nugget_or_short_lengths():
    x = _grid(12)
    e = np.random.default_rng(2).standard_normal((200, len(x)))
    corr = CorrelatedError(*(np.atleast_2d(v) for v in fit_correlation(x, e, np.ones(len(x)))))
    c = corr.correlation(0, x[:1], x[1:2])[0, 0]  # neighbours 1/11 apart
    assert c < 0.15


def _corr():
    return CorrelatedError(np.array([[0.2, 0.2]]), np.array([0.05]))


def test_observation_covariance_is_the_kernel_plus_the_noise():
    corr = _corr()
    x = np.array([[0.1, 0.1], [0.2, 0.1], [0.8, 0.9]])
    s = np.array([[0.3], [0.2], [0.1]])
    noise = np.full((3, 1), 0.01**2)
    cov = observation_covariance(corr, x, s, noise, (0,))
    np.testing.assert_allclose(np.diag(cov), s[:, 0] ** 2 + 1e-4)
    rho = (1 + math.sqrt(3) * 0.5) * math.exp(-math.sqrt(3) * 0.5)  # |dx| / l = 0.5
    assert cov[0, 1] == pytest.approx(0.3 * 0.2 * 0.95 * rho)
    np.testing.assert_allclose(cov, cov.T)


def test_kriging_reproduces_residuals_at_observations_and_forgets_far_away():
    corr = CorrelatedError(np.array([[0.1, 0.1]]), np.array([1e-4]))
    x_obs = np.array([[0.2, 0.2], [0.25, 0.2]])
    sig_o = np.full((2, 1), 0.5)
    x_u = np.array([[0.2, 0.2], [0.9, 0.9]])
    krig = kriging(corr, x_u, np.full((2, 1), 0.5), x_obs, sig_o, np.full((2, 1), 1e-10), (0,))
    r = np.array([[[0.3], [0.28]]])  # (S=1, K=2, C=1)
    m = krig.mean(r)
    assert m[0, 0, 0] == pytest.approx(0.3, abs=1e-3)  # at an observation: its residual
    assert abs(m[0, 1, 0]) < 1e-3  # far away: nothing learnt
    assert krig.std[0, 0] < 0.02 and krig.std[1, 0] == pytest.approx(0.5, abs=1e-3)


def test_kriging_is_the_gaussian_conditional():
    """Against the conditional of the joint Gaussian written out by hand."""
    rng = np.random.default_rng(4)
    corr = _corr()
    x_o, x_u = rng.random((5, 2)), rng.random((7, 2))
    s_o, s_u = 0.1 + rng.random((5, 1)), 0.1 + rng.random((7, 1))
    noise = np.full((5, 1), 0.05**2)
    krig = kriging(corr, x_u, s_u, x_o, s_o, noise, (0,))
    k_oo = corr.covariance(0, x_o, s_o[:, 0], x_o, s_o[:, 0]) + np.diag(noise[:, 0])
    k_uo = corr.covariance(0, x_u, s_u[:, 0], x_o, s_o[:, 0])
    k_uu = corr.covariance(0, x_u, s_u[:, 0], x_u, s_u[:, 0])
    r = rng.standard_normal((3, 5, 1))
    np.testing.assert_allclose(krig.mean(r)[..., 0], r[..., 0] @ np.linalg.solve(k_oo, k_uo.T), atol=1e-12)
    cond = k_uu - k_uo @ np.linalg.solve(k_oo, k_uo.T)
    np.testing.assert_allclose(krig.std[:, 0], np.sqrt(np.diag(cond)), atol=1e-10)


@pytest.fixture
def tiny_run(pwc_run, pwc_data):
    return pwc_run, pwc_data


def test_posterior_with_a_diagonal_factor_equals_the_diagonal_path(tiny_run):
    post, model, _pts, _obs = _posterior(*tiny_run, pde_weight=0.0)
    chol = torch.diag_embed(torch.sqrt(post.noise_var.transpose(-1, -2).reshape(2, -1)))
    full = LatentPosterior(model, post.prior, post.x_obs, post.y_obs, post.noise_var, None, pde_weight=0.0,
                           noise_chol=chol)
    theta = torch.randn(3, 2, post.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(full.parts(theta)["obs"], post.parts(theta)["obs"])


def test_posterior_with_a_full_covariance_is_the_gaussian_misfit_and_its_gradient(tiny_run):
    post, model, _pts, obs = _posterior(*tiny_run, pde_weight=0.0)
    corr = _corr()
    covs = [observation_covariance(corr, o.x, np.full((len(o), 1), 0.01), np.full((len(o), 1), 0.002**2), (0,))
            for o in obs]
    chol = torch.tensor(np.stack([np.linalg.cholesky(c) for c in covs]))
    full = LatentPosterior(model, standard_prior(post.dim), post.x_obs, post.y_obs, post.noise_var, None,
                           pde_weight=0.0, noise_chol=chol)
    theta = torch.randn(2, 2, post.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    u = model.outputs_at_batch(theta.reshape(4, -1), post.x_obs.repeat(2, 1, 1))[..., 0].reshape(2, 2, -1)
    r = (u - post.y_obs[..., 0]).detach().numpy()
    expected = np.array([[-0.5 * r[m, b] @ np.linalg.solve(covs[b], r[m, b]) for b in range(2)] for m in range(2)])
    np.testing.assert_allclose(full.parts(theta)["obs"].detach().numpy(), expected, rtol=1e-10)
    t = theta[:1].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(full.log_prob(t).sum(), t)
    d = torch.randn_like(t, generator=torch.Generator().manual_seed(3))
    h = 1e-6
    fd = (full.log_prob(t.detach() + h * d).sum() - full.log_prob(t.detach() - h * d).sum()) / (2 * h)
    assert float((g * d).sum()) == pytest.approx(float(fd), rel=1e-5)
    with pytest.raises(ValueError, match="noise_chol"):
        LatentPosterior(model, post.prior, post.x_obs, post.y_obs, post.noise_var, None, noise_chol=chol[:, :3, :3])


def test_settings_read_the_old_boolean_and_refuse_unknown_kinds():
    assert InverseSettings(model_error=True).model_error == "independent"
    assert InverseSettings(model_error=False).model_error == "off"
    with pytest.raises(DgnoError, match="--model-error"):
        InverseSettings(model_error="gaussian")


def test_calibration_state_keeps_the_correlation():
    cal = Calibration(standard_prior(3), np.ones((4, 4)), np.zeros((4, 4, 2)), {}, np.ones((4, 4)), _corr())
    back = Calibration.from_state(cal.state())
    np.testing.assert_array_equal(back.correlated.lengths, cal.correlated.lengths)
    np.testing.assert_array_equal(back.correlated.nugget, cal.correlated.nugget)


@pytest.mark.parametrize("kind", ["correlated", "independent"])
def test_invert_with_a_correlated_model_error(tiny_run, tmp_path, kind):
    run, data = tiny_run
    out = tmp_path / kind
    assert _invert(run, data, out, "--method", "map", "--draws", "40", "--physics-check", "0",
                   "--model-error", kind) == 0
    s = json.loads((out / "summary.json").read_text())
    for key in ("u_rel_l2", "u_rel_l2_predictive", "coverage90_u"):
        assert math.isfinite(s[key]), key
    assert s["settings"]["model_error"] == kind


def test_tempered_input_widens_the_decoded_interfaces(tiny_run):
    """T = 1 is E[a | beta]; T > 1 reads the logits divided by T (values pulled towards the mid value); the PDE
    term changes with T and the observation term does not."""
    post, model, pts, _ = _posterior(*tiny_run, pde_weight=1.0)
    hot = LatentPosterior(model, post.prior, post.x_obs, post.y_obs, post.noise_var, pts, pde_temperature=4.0)
    theta = torch.randn(2, post.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    beta = post.prior.transform(theta)
    logits = model.decode_a(beta)
    torch.testing.assert_close(post.input(theta, beta), model.likelihood.mean(logits))
    torch.testing.assert_close(hot.input(theta, beta), 5 + 5 * torch.sigmoid(logits / 4))
    mid = 7.5
    assert ((hot.input(theta, beta) - mid).abs() <= (post.input(theta, beta) - mid).abs() + 1e-12).all()
    p1, p4 = post.parts(theta[None]), hot.parts(theta[None])
    torch.testing.assert_close(p1["obs"], p4["obs"])
    by_hand = -sum(model.physics_terms(beta, 5 + 5 * torch.sigmoid(logits / 4), pts).values())
    torch.testing.assert_close(p4["pde"][0], by_hand)
    with pytest.raises(DgnoError, match="--pde-temperature"):
        InverseSettings(pde_temperature=0.5)


def test_latent_fit_error_is_the_best_fits_and_below_the_encoders(tiny_run):
    """--model-error-from latent: the calibration's second error field is the residual of the latent fitted to each
    validation u, which fits u better than the encoder's latent, and is a stationary point of its objective."""
    from dgno.config.runs import load_run
    from dgno.inverse.calibration import best_fit_errors, calibrate, model_errors
    from dgno.reference import load_h5

    run, data = tiny_run
    _, model, _ = load_run(run)
    plain = calibrate(model, run=run, checkpoint="best", data_dir=data, refresh=True)
    assert plain.fit is None  # the latent fit is computed when asked for, then cached with the rest
    cal = calibrate(model, run=run, checkpoint="best", data_dir=data, latent_fit=True)
    np.testing.assert_array_equal(cal.model_error, plain.model_error)
    assert calibrate(model, run=run, checkpoint="best", data_dir=data).fit is not None
    val = load_h5(data / "val.h5", require_u=True)
    enc_u, _ = model_errors(model, val.a, val.u, val.x_u)
    fit_u, fit_a = best_fit_errors(model, cal.prior, val.a, val.u, val.x_u, cal.model_error, steps=300)
    assert fit_a.shape == val.a.shape and fit_u.shape == val.u.shape
    free = cal.model_error > 0
    weighted = [((e**2)[:, free] / cal.model_error[free] ** 2).sum() for e in (fit_u, enc_u)]
    assert weighted[0] < weighted[1]  # the fit explains more of u than the encoder does (it starts there)
    np.testing.assert_allclose(cal.fit["model_error"], np.sqrt((fit_u**2).mean(0)), rtol=1e-4, atol=1e-7)
    assert cal.fit["relative_l2"] > 0
    moved = cal.error_from("latent")
    assert moved.model_error is cal.fit["model_error"] and moved.correlated is cal.fit["correlated"]
    assert cal.error_from("encoder") is cal
    back = Calibration.from_state(cal.state())  # the cache keeps it
    np.testing.assert_array_equal(back.fit["model_error"], cal.fit["model_error"])
    np.testing.assert_array_equal(back.fit["correlated"].lengths, cal.fit["correlated"].lengths)
    with pytest.raises(DgnoError, match="--model-error-from"):
        cal.error_from("decoder")


def test_invert_with_the_latent_fit_model_error(tiny_run, tmp_path):
    run, data = tiny_run
    out = tmp_path / "latent"
    assert _invert(run, data, out, "--method", "map", "--draws", "40", "--physics-check", "0",
                   "--model-error-from", "latent") == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["settings"]["model_error_from"] == "latent" and math.isfinite(s["coverage90_u"])
    with pytest.raises(DgnoError, match="--model-error-from"):
        InverseSettings(model_error_from="decoder")


def test_model_bias_centres_the_residuals_and_leaves_the_spread(tiny_run):
    """--model-bias mean: the forward model is G(beta) - bias with bias the validation mean of G(enc(a)) - u, so the
    observations of the validation samples themselves, compared with G(enc(a)), leave residuals of mean zero at
    every node (without the bias they do not); the variance is the noise plus the error's spread about its mean."""
    from dgno.config.build import weak_layout
    from dgno.config.runs import load_run
    from dgno.evaluate.metrics import predict_dataset
    from dgno.inverse.calibration import calibrate, model_errors
    from dgno.inverse.observations import draw_at_nodes, free_nodes
    from dgno.inverse.run import build_posterior
    from dgno.reference import load_h5

    run, data = tiny_run
    cfg, model, _ = load_run(run)
    cal = calibrate(model, run=run, checkpoint="best", data_dir=data)
    val = load_h5(data / "val.h5", require_u=True)
    err, _ = model_errors(model, val.a, val.u, val.x_u)
    np.testing.assert_allclose(cal.bias, err.mean(0), rtol=1e-6, atol=1e-9)
    centred = cal.centred()
    np.testing.assert_allclose(centred.model_error**2 + cal.bias**2, cal.model_error**2, rtol=1e-6, atol=1e-12)
    assert centred.correlated is None
    free = free_nodes(model.problem, val.x_u)
    obs = [draw_at_nodes(val.x_u, val.u[i], 12, 1e-12, np.random.default_rng(0), candidates=free, source="v")
           for i in range(len(val))]  # the same 12 nodes of every validation sample, (almost) noise-free
    layout = weak_layout(cfg, model.problem)
    post = {kind: build_posterior(model, layout, c, obs, InverseSettings(pde_weight=0, model_bias=kind))
            for kind, c in (("none", cal), ("mean", centred))}
    g = predict_dataset(model, torch.from_numpy(val.a), torch.from_numpy(val.x_u))["u"].double().numpy()
    g_obs = np.stack([g[i].reshape(-1)[o.nodes] for i, o in enumerate(obs)])[..., None]  # (N, K, 1)
    centred_mean = (post["mean"].y_obs.numpy() - g_obs).mean(0)
    plain_mean = (post["none"].y_obs.numpy() - g_obs).mean(0)
    scale = np.abs(plain_mean).max()
    assert scale > 1e-6  # the tiny model is biased at these nodes: the check below can fail
    np.testing.assert_allclose(centred_mean, 0.0, atol=1e-4 * scale + 1e-9)
    noise = obs[0].sigma[0] ** 2
    np.testing.assert_allclose(post["mean"].noise_var[0, :, 0].numpy(),
                               noise + centred.model_error_at(obs[0].x)[:, 0] ** 2, rtol=1e-5)
    with pytest.raises(DgnoError, match="--model-bias mean needs --model-error independent"):
        InverseSettings(model_bias="mean", model_error="correlated")


def test_invert_with_a_model_bias(tiny_run, tmp_path):
    run, data = tiny_run
    out = tmp_path / "bias"
    assert _invert(run, data, out, "--method", "map", "--draws", "40", "--physics-check", "0",
                   "--model-error-from", "latent", "--model-bias", "mean") == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["settings"]["model_bias"] == "mean" and math.isfinite(s["u_rel_l2_predictive"])
