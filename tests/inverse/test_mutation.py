"""Checks written against planted bugs (tools/mutants.py): each states a mathematical fact of one formula.

The facts: the relative L2 error of known vectors; the Bernoulli phase likelihood's closed form; the variational
loss's KL part in closed form; the Darcy weak residual of u = 0, -f times the ball average of the Wendland function;
the constitutive term of a constant flux mismatch; multipliers that vanish exactly on the boundary; uniform particle
radii and jittered Latin-hypercube centres; the Gaussian observation likelihood and noise variance of the posterior;
the calibration's RMS model error. Everything runs on tiny models in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.polynomial import Polynomial

from dgno.evaluate.metrics import output_errors, relative_l2
from dgno.fields import unit_square_nodes
from dgno.inverse.calibration import Calibration, model_error_fields
from dgno.inverse.observations import Observations
from dgno.inverse.posterior import LatentPosterior
from dgno.inverse.prior import standard_prior
from dgno.inverse.run import build_posterior
from dgno.inverse.settings import InversionSettings as InverseSettings
from dgno.models import DGNO, BernoulliPhase
from dgno.nn import ACTIVATIONS, GaussianEncoder, Jet, MLPEncoder, MultiONet, SiLU
from dgno.pdes import Darcy, DarcyMixed
from dgno.pdes.burgers import cosine_multiplier
from dgno.pdes.darcy import sine_multiplier
from dgno.weak import ParticleSampler, WeakOptions, Wendland, gauss_rule, weak_points

F64 = torch.float64
N_GRID = 9  # input nodes per side of the tiny models
LATENT = 4


@pytest.fixture(autouse=True)
def _float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    yield
    torch.set_default_dtype(previous)


# ------------------------------------------------------------------------------------------ shared builders
def _tiny_dgno(*, variational: bool = False, problem=None, outputs_zero: bool = False, seed: int = 0) -> DGNO:
    """A DGNO on 9 x 9 input nodes with latent 4: MLP encoder, width-8 MultiONets, a Bernoulli input likelihood.

    outputs_zero keeps every decoder's w at 0, so all fields are exactly 0 (u = M * 0, s = 0)."""
    torch.manual_seed(seed)
    problem = problem or DarcyMixed()
    act = ACTIVATIONS["tanh_sin"]

    def net() -> MultiONet:
        m = MultiONet(2, LATENT, width=8, depth=3, n_sum=2, act_trunk=act(), act_branch=act())
        if not outputs_zero:
            with torch.no_grad():
                m.w.normal_(0.0, 0.5)
                m.b0.fill_(0.1)
        return m

    features = 16 if variational else LATENT
    body = MLPEncoder(N_GRID * N_GRID, [16], features, SiLU(), squash=not variational)
    encoder = GaussianEncoder(body, features, LATENT) if variational else body
    model = DGNO(
        encoder=encoder,
        decoders={f.name: net() for f in problem.fields},
        a_decoder=net(),
        problem=problem,
        likelihood=BernoulliPhase(5.0, 10.0),
        x_a=torch.tensor(unit_square_nodes(N_GRID)),
        a_mean=torch.full((N_GRID, N_GRID), 7.5),
        a_std=torch.full((N_GRID, N_GRID), 2.5),
        precisions={"weak": 3.0, "constitutive": 2.0},
    )
    return model.double()


def _two_phase(b: int, seed: int = 0) -> torch.Tensor:
    """b random two-phase inputs in {5, 10} on the 9 x 9 nodes: (b, 9, 9)."""
    g = torch.Generator().manual_seed(seed)
    return torch.where(torch.rand(b, N_GRID, N_GRID, generator=g) < 0.5, 5.0, 10.0)


def _gauss_points(n: int = 6, seed: int = 3):
    """n particles of radius 0.05..0.1 with the 6-point polar Gauss rule (exact for the C4 Wendland function)."""
    particles = ParticleSampler(n=n, r_min=0.05, r_max=0.1).sample(torch.Generator().manual_seed(seed), dtype=F64)
    return weak_points(particles, gauss_rule(6), Wendland(dim=2, smoothness=4))


def _wendland_ball_average() -> float:
    """mean over the unit disc of phi(r) = (1 - r)^6 (35 r^2 + 18 r + 3) / 3, i.e. 2 int_0^1 r phi(r) dr, exactly."""
    phi = Polynomial([1.0, -1.0]) ** 6 * Polynomial([3.0, 18.0, 35.0]) / 3.0
    integral = (Polynomial([0.0, 1.0]) * phi).integ()
    return 2.0 * (integral(1.0) - integral(0.0))


def _zero_jet(shape) -> Jet:
    return Jet(torch.zeros(shape), torch.zeros(*shape, 2), None)


# ------------------------------------------------------------------------------------------------ metrics
def test_mutation_rel_l2_of_known_vectors():
    true = torch.tensor([[1.0, 2.0, 2.0], [0.0, 6.0, 8.0]])  # norms 3 and 10
    pred = torch.tensor([[1.0, 2.0, 6.0], [1.0, 6.0, 8.0]])  # errors 4 and 1; norms sqrt(41), sqrt(101)
    torch.testing.assert_close(relative_l2(pred, true), torch.tensor([4.0 / 3.0, 0.1]))
    out = output_errors(pred, true, ("u",), n_grid=1)
    assert out["u_rel_l2_mean"] == pytest.approx((4.0 / 3.0 + 0.1) / 2)
    assert out["u_rel_l2_max"] == pytest.approx(4.0 / 3.0)
    assert relative_l2(true, pred)[0].item() == pytest.approx(4.0 / math.sqrt(41.0))  # not symmetric


# ----------------------------------------------------------------------------------------- input likelihood
def test_mutation_bernoulli_phase_nll_reads_the_phase():
    lik = BernoulliPhase(5.0, 10.0)
    a = torch.tensor([[5.0, 10.0, 10.0, 5.0]])
    agree = torch.where(a > 7.5, 4.0, -4.0)  # logits that say "high" where a is high
    softplus = lambda t: math.log1p(math.exp(t))  # noqa: E731
    assert lik.nll(agree, a).item() == pytest.approx(4 * softplus(-4.0))  # -log sigmoid(4) per point
    assert lik.nll(-agree, a).item() == pytest.approx(4 * softplus(4.0))
    assert lik.nll(torch.zeros_like(a), a).item() == pytest.approx(4 * math.log(2.0))
    torch.testing.assert_close(lik.mode(agree), a)  # the logits that fit best decode to a itself
    out = torch.zeros_like(a, requires_grad=True)
    (grad,) = torch.autograd.grad(lik.nll(out, a).sum(), out)
    torch.testing.assert_close(grad, torch.tensor([[0.5, -0.5, -0.5, 0.5]]))  # sigmoid(0) - [a is high]


# ---------------------------------------------------------------------------------------- variational loss
def test_mutation_variational_loss_has_the_closed_form_kl():
    model = _tiny_dgno(variational=True)
    a, points = _two_phase(3), _gauss_points()
    n_a = N_GRID * N_GRID

    def closed_form() -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = model.encoder((a - model.a_mean) / model.a_std)
        kl = 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(-1)  # (B,)
        return kl.mean().detach() / n_a, log_var.detach()

    def loss(kl_weight: float = 1.0):
        model.kl_weight = kl_weight
        model.zero_grad()
        out = model.loss(a, points, generator=torch.Generator().manual_seed(1))
        out.total.backward()
        return out, model.encoder.log_var_head.bias.grad.clone()

    out, grad_with = loss(1.0)
    expected, log_var = closed_form()
    torch.testing.assert_close(out.parts["kl"], expected)
    torch.testing.assert_close(out.total.detach(), sum(out.parts.values()))
    # d(KL)/d(log_var head bias) = mean_b (exp(log_var) - 1) / 2, per input value: all that kl_weight adds
    _, grad_without = loss(0.0)
    torch.testing.assert_close(grad_with - grad_without, 0.5 * (log_var.exp() - 1.0).mean(0) / n_a)
    with torch.no_grad():
        model.encoder.log_var_head.bias += 1.0  # a wider q(beta | a): a larger KL
    wider, _ = loss(1.0)
    expected_wider, _ = closed_form()
    torch.testing.assert_close(wider.parts["kl"], expected_wider)
    assert wider.parts["kl"] > out.parts["kl"] + 1e-3
    half, _ = loss(0.5)
    torch.testing.assert_close(half.parts["kl"], 0.5 * expected_wider)


# ------------------------------------------------------------------------------------------ weak residuals
def test_mutation_darcy_weak_term_of_zero_is_minus_f_times_the_ball_average():
    """u = 0: r_j = <0 - f w_j>_j = -f mean_B(phi) on every particle, so the term is P (f mean_B(phi))^2."""
    points = _gauss_points(n=7)
    c = _wendland_ball_average()
    assert c == pytest.approx(1.0 / 9.0, rel=1e-12)  # the 2-D C4 function integrates to pi / 9 over the disc
    a = torch.full((1, 7, points.n_quad), 2.0)
    weak = Darcy(source=10.0).residuals({"u": _zero_jet((1, 7, points.n_quad))}, a, points)["weak"]
    torch.testing.assert_close(weak, torch.tensor([7 * (10.0 * c) ** 2]))
    torch.testing.assert_close(points.average(points.v), torch.full((7,), c))


def test_mutation_mixed_constitutive_term_of_a_constant_mismatch():
    """s = a grad u + e with constant e: every ball average of |s - a grad u|^2 is |e|^2, the term P |e|^2; a
    constant flux has zero divergence, so its weak residual is -f mean_B(phi) on every particle."""
    points = _gauss_points(n=5)
    shape = (1, 5, points.n_quad)
    a = torch.full(shape, 3.0)
    grad_u = torch.stack([torch.full(shape, 0.7), torch.full(shape, -1.2)], -1)
    e = torch.tensor([0.3, 0.4])  # |e|^2 = 0.25
    s = a[..., None] * grad_u + e
    fields = {"u": Jet(torch.zeros(shape), grad_u, None), "s1": Jet(s[..., 0], None, None),
              "s2": Jet(s[..., 1], None, None)}
    res = DarcyMixed(source=10.0).residuals(fields, a, points)
    torch.testing.assert_close(res["constitutive"], torch.tensor([5 * 0.25]))
    torch.testing.assert_close(res["weak"], torch.tensor([5 * (10.0 * _wendland_ball_average()) ** 2]))


def test_mutation_physics_terms_are_half_the_precision_times_the_residual():
    """With every decoder's w = 0 the fields vanish: weak term lambda/2 P (f mean_B(phi))^2, constitutive 0; the
    loss reports them per input value."""
    model = _tiny_dgno(outputs_zero=True)
    a, points = _two_phase(2), _gauss_points(n=6)
    beta = torch.randn(2, LATENT, generator=torch.Generator().manual_seed(0))
    terms = model.physics_terms(beta, a, points)
    weak = 6 * (10.0 * _wendland_ball_average()) ** 2
    torch.testing.assert_close(terms["weak"], torch.full((2,), 3.0 / 2 * weak))
    torch.testing.assert_close(terms["constitutive"], torch.zeros(2))
    out = model.loss(a, points)
    assert out.parts["weak"].item() == pytest.approx(3.0 / 2 * weak / N_GRID**2)


# -------------------------------------------------------------------------------------------- multipliers
def test_mutation_multipliers_vanish_exactly_on_the_boundary_and_nowhere_inside():
    t = torch.linspace(0.0, 1.0, 21)
    zero, one = torch.zeros_like(t), torch.ones_like(t)
    edges = torch.cat([torch.stack(p, -1) for p in ((t, zero), (t, one), (zero, t), (one, t))])
    assert sine_multiplier(edges, 0).value.abs().max() < 1e-12
    inside = 0.02 + 0.96 * torch.rand(200, 2, generator=torch.Generator().manual_seed(0))
    assert sine_multiplier(inside, 0).value.min() > 0
    walls = torch.cat([torch.stack([-one, t], -1), torch.stack([one, t], -1)])  # x = -1, 1 at times t
    assert cosine_multiplier(walls, 1).value.abs().max() < 1e-12
    interior = torch.stack([-0.98 + 1.96 * torch.rand(200, generator=torch.Generator().manual_seed(1)),
                            torch.rand(200, generator=torch.Generator().manual_seed(2))], -1)
    assert cosine_multiplier(interior, 0).value.min() > 0


# ---------------------------------------------------------------------------------------------- particles
def _ks_uniform(u: torch.Tensor) -> float:
    """Kolmogorov-Smirnov distance of samples on [0, 1] from the uniform distribution."""
    x = torch.sort(u).values
    n = x.numel()
    k = torch.arange(1, n + 1, dtype=x.dtype)
    return max((k / n - x).max().item(), (x - (k - 1) / n).max().item())


def test_mutation_particle_radii_are_uniform_and_lhs_centres_random_in_their_strata():
    n, r_min, r_max = 2000, 0.01, 0.05
    p = ParticleSampler(n=n, r_min=r_min, r_max=r_max).sample(torch.Generator().manual_seed(11), dtype=F64)
    bound = 3.6 / math.sqrt(n)  # a KS distance the uniform law exceeds with probability ~1e-11
    assert _ks_uniform((p.radii - r_min) / (r_max - r_min)) < bound  # u^2 instead of u: 0.25
    u = (p.centers - p.radii[:, None]) / (1.0 - 2 * p.radii[:, None])  # (n, 2) back on [0, 1)
    within = u * n - torch.floor(u * n)  # position inside each centre's stratum: uniform on [0, 1)
    for k in range(2):
        assert _ks_uniform(within[:, k]) < bound  # the strata's midpoints: 0.5


def test_mutation_quadrature_rules_average_radial_functions_exactly():
    """mean over the unit ball of r^2: 1/2 in 2-D, 1/3 in 1-D; of the Wendland function: the closed form."""
    two, one = gauss_rule(4), gauss_rule(4, dim=1)
    for rule, mean_r2 in ((two, 0.5), (one, 1.0 / 3.0)):
        assert rule.weights.sum().item() == pytest.approx(1.0)
        assert (rule.weights * (rule.points**2).sum(-1)).sum().item() == pytest.approx(mean_r2)
    r = torch.linalg.vector_norm(gauss_rule(6).points, dim=-1)
    phi = Wendland(2, 4).phi(r)
    assert (gauss_rule(6).weights * phi).sum().item() == pytest.approx(_wendland_ball_average(), rel=1e-12)


# ------------------------------------------------------------------------------------- inverse problems
def test_mutation_posterior_is_standard_prior_plus_gaussian_observations():
    """Without virtual observables: log p(theta | y) = -|theta|^2 / 2 - sum_k (y_k - u(x_k))^2 / (2 v_k)."""
    model = _tiny_dgno(problem=Darcy())
    g = torch.Generator().manual_seed(4)
    x = 0.1 + 0.8 * torch.rand(2, 5, 2, generator=g)
    y = torch.randn(2, 5, generator=g)
    var = 0.05 + torch.rand(2, 5, generator=g)
    post = LatentPosterior(model, standard_prior(LATENT), x, y, var, None)
    theta = torch.randn(3, 2, LATENT, generator=g)
    u = model.outputs_at_batch(theta.reshape(6, LATENT), x.repeat(3, 1, 1))[..., 0].reshape(3, 2, 5)
    expected = -0.5 * (theta**2).sum(-1) - 0.5 * ((y - u) ** 2 / var).sum(-1)
    torch.testing.assert_close(post.log_prob(theta), expected)
    parts = post.parts(theta)
    torch.testing.assert_close(parts["prior"], -0.5 * (theta**2).sum(-1))
    torch.testing.assert_close(parts["obs"], -0.5 * ((y - u) ** 2 / var).sum(-1))


def _noise_variance(model_error: bool) -> torch.Tensor:
    """The posterior's noise variance for 2 instances of 4 observations, sigma = 0.1, a constant model error 0.3."""
    model = _tiny_dgno(problem=Darcy())
    cal = Calibration(standard_prior(LATENT), np.full((N_GRID, N_GRID), 0.3), unit_square_nodes(N_GRID), {})
    rng = np.random.default_rng(0)
    obs = [Observations(x=0.1 + 0.8 * rng.random((4, 2)), y=rng.standard_normal(4), sigma=0.1, source="t")
           for _ in range(2)]
    layout = model.problem.weak_layout(WeakOptions(particles=4, r_min=0.05, r_max=0.1))
    return build_posterior(model, layout, cal, obs, InverseSettings(method="map", model_error=model_error)).noise_var


def test_mutation_noise_variance_adds_the_model_error_squared():
    """The observation variance is sigma^2 + sigma_model(x)^2: 0.1^2 + 0.3^2 = 0.1 at every point."""
    torch.testing.assert_close(_noise_variance(True), torch.full((2, 4, 1), 0.1**2 + 0.3**2))


def test_mutation_noise_variance_without_the_model_error_is_sigma_squared():
    """dgno invert --no-model-error: sigma^2 at every point (this once came out per instance, (B, C))."""
    torch.testing.assert_close(_noise_variance(False), torch.full((2, 4, 1), 0.1**2))


def test_mutation_calibration_is_the_rms_error_per_node():
    """u = prediction + e with e = +0.1 on one sample and -0.3 on the other: RMS sqrt((0.01 + 0.09) / 2) at every
    node; the decoded input's error is that of the posterior-mean input E[a | beta]."""
    model = _tiny_dgno()
    a = _two_phase(2, seed=5)
    x_u = unit_square_nodes(N_GRID)
    pred = model.predict(a, torch.tensor(x_u))
    e = np.array([0.1, -0.3])[:, None, None]
    err_u, err_a = model_error_fields(model, a.numpy(), pred["u"].numpy() + e, x_u)
    np.testing.assert_allclose(err_u, np.full((N_GRID, N_GRID), math.sqrt(0.05)), rtol=1e-10)
    a_error = np.sqrt(((pred["a_mean"].numpy() - a.numpy()) ** 2).mean(0))
    np.testing.assert_allclose(err_a, a_error, rtol=1e-10)
    assert not np.allclose(err_a, np.sqrt(((pred["a_mode"].numpy() - a.numpy()) ** 2).mean(0)))
