"""DGNO's pieces: boundary multiplier, coefficient lookup, Darcy residuals, the loss and its paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dgno.config.build import build_model
from dgno.config.schema import load_config
from dgno.fields import NearestNodeField, TwoPhaseField, unit_square_nodes
from dgno.nn import Jet
from dgno.pdes import Darcy, DarcyMixed, apply_multiplier
from dgno.pdes.darcy import bicubic, nearest_node, sine_multiplier
from dgno.weak import ParticleSampler, Wendland, gauss_rule, grid_rule, weak_points


@pytest.fixture(autouse=True)
def _float64():
    """These checks compare against exact values: run them in float64, then restore the default."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _autograd_jet(f, x):
    """value, grad, hess of a scalar function of points (N, d) by autograd (for checks)."""
    x = x.clone().requires_grad_(True)
    v = f(x)
    (g,) = torch.autograd.grad(v.sum(), x, create_graph=True)
    h = torch.stack([torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0] for i in range(x.shape[1])], 1)
    return v.detach(), g.detach(), h.detach()


def test_sine_multiplier_derivatives_match_autograd():
    x = torch.rand(50, 2, generator=torch.Generator().manual_seed(0))
    m = sine_multiplier(x, 2)
    v, g, h = _autograd_jet(lambda y: torch.sin(math.pi * y[:, 0]) * torch.sin(math.pi * y[:, 1]), x)
    torch.testing.assert_close(m.value, v)
    torch.testing.assert_close(m.grad, g)
    torch.testing.assert_close(m.hess, h)


def test_product_rule_matches_autograd():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(30, 2, generator=gen)
    net = Jet(torch.randn(3, 30, generator=gen), torch.randn(3, 30, 2, generator=gen), None)
    m = sine_multiplier(x, 1)
    u = apply_multiplier(m, net)
    torch.testing.assert_close(u.value, m.value * net.value)
    torch.testing.assert_close(u.grad, m.grad * net.value[..., None] + m.value[..., None] * net.grad)


def test_nearest_node_matches_the_numpy_field():
    rng = np.random.default_rng(0)
    values = TwoPhaseField().sample(rng).values
    x = rng.random((500, 2))
    torch.testing.assert_close(
        nearest_node(torch.tensor(values)[None], torch.tensor(x))[0], torch.tensor(NearestNodeField(values)(x))
    )


def test_bicubic_is_exact_at_nodes_and_third_order():
    f = lambda p: torch.exp(0.3 * torch.sin(2 * p[..., 0]) * torch.cos(3 * p[..., 1]))  # noqa: E731
    x = torch.rand(2000, 2, generator=torch.Generator().manual_seed(2))
    errors = []
    for n in (15, 29, 57):
        nodes = torch.tensor(unit_square_nodes(n))
        torch.testing.assert_close(bicubic(f(nodes)[None], nodes.reshape(-1, 2))[0], f(nodes).reshape(-1))
        errors.append((bicubic(f(nodes)[None], x)[0] - f(x)).abs().max().item())
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 2.8), orders  # measured: about 3.2 (9.4e-5, 1.0e-5, 1.1e-6)


def _points(n_radial=6):
    sampler = ParticleSampler(n=40, r_min=0.05, r_max=0.1)
    return weak_points(sampler.sample(torch.Generator().manual_seed(3), dtype=torch.float64), gauss_rule(n_radial),
                       Wendland())


def _quadratic(points, c):
    """u = c x (1 - x): -(a u_x)_x = 2 a c, so a = 2 solves f = 10 with c = 2.5. Jets over (1, P, Q)."""
    x = points.x[None]  # (1, P, Q, 2)
    value = c * x[..., 0] * (1 - x[..., 0])
    grad = torch.stack([c * (1 - 2 * x[..., 0]), torch.zeros_like(value)], -1)
    return Jet(value, grad, None)


def test_darcy_weak_residual_vanishes_for_an_exact_solution():
    points = _points()
    a = torch.full(points.v.shape, 2.0)[None]
    exact = Darcy(source=10.0).residuals({"u": _quadratic(points, 2.5)}, a, points)["weak"]
    wrong = Darcy(source=10.0).residuals({"u": _quadratic(points, 2.0)}, a, points)["weak"]
    assert exact.item() < 1e-20 and wrong.item() > 1.0


def test_darcy_mixed_residuals_vanish_for_the_exact_flux():
    points = _points()
    a = torch.full(points.v.shape, 2.0)[None]
    u = _quadratic(points, 2.5)
    flux = 2.0 * u.grad  # s = a grad u
    fields = {"u": u, "s1": Jet(flux[..., 0], None, None), "s2": Jet(flux[..., 1], None, None)}
    res = DarcyMixed(source=10.0).residuals(fields, a, points)
    assert res["weak"].item() < 1e-20 and res["constitutive"].item() < 1e-20
    fields["s1"] = Jet(1.1 * flux[..., 0], None, None)
    assert DarcyMixed(source=10.0).residuals(fields, a, points)["constitutive"].item() > 1e-3


def test_coarse_grid_rule_is_less_exact_than_gauss():
    """The reference's equal-weight rule carries a quadrature error on large particles."""
    residual = {}
    for name, rule in (("grid", grid_rule(7)), ("gauss", gauss_rule(6))):
        points = weak_points(ParticleSampler(n=40, r_min=0.05, r_max=0.1).sample(torch.Generator().manual_seed(3),
                                                                             dtype=torch.float64), rule, Wendland())
        a = torch.full(points.v.shape, 2.0)[None]
        residual[name] = Darcy().residuals({"u": _quadratic(points, 2.5)}, a, points)["weak"].item()
    assert residual["gauss"] < 1e-12 < residual["grid"]


TINY = [
    "model.latent_dim=8", "model.encoder.hidden=[16]", "model.field.width=12", "model.field.depth=3",
    "model.field.n_sum=2", "model.a_decoder.width=12", "model.a_decoder.depth=3", "model.a_decoder.n_sum=2",
]


def _model(*overrides):
    cfg = load_config(None, [*TINY, *overrides])
    rng = np.random.default_rng(0)
    a = torch.tensor(np.stack([TwoPhaseField().sample(rng).values for _ in range(6)]))
    torch.manual_seed(0)
    model = build_model(cfg, x_a=torch.tensor(unit_square_nodes(29)), a_mean=a.mean(0), a_std=a.std(0) + 1e-3)
    with torch.no_grad():
        for net in [*model.decoders.values(), model.a_decoder]:
            net.w.normal_(0.0, 0.5)
    return model, a


@pytest.mark.parametrize("variational", [False, True])
def test_loss_parts_paths_and_gradients(variational):
    model, a = _model(f"model.encoder.variational={str(variational).lower()}")
    points = weak_points(ParticleSampler(n=10).sample(torch.Generator().manual_seed(0), dtype=torch.float64),
                         grid_rule(7), Wendland())
    gen = torch.Generator().manual_seed(5)
    shared = model.loss(a, points, generator=gen)
    gen.manual_seed(5)
    per_sample = model.loss(a, points, shared=False, generator=gen)
    expected = {"nll_a", "weak", "constitutive"} | ({"kl"} if variational else set())
    assert set(shared.parts) == expected
    torch.testing.assert_close(shared.total, per_sample.total)
    shared.total.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_labeled_term_only_for_labeled_samples():
    model, a = _model()
    points = weak_points(ParticleSampler(n=10).sample(torch.Generator().manual_seed(0), dtype=torch.float64),
                         grid_rule(7), Wendland())
    u = torch.rand(6, 29, 29)
    x_u = torch.tensor(unit_square_nodes(29))
    none = model.loss(a, points, u=u, labeled=torch.zeros(6, dtype=torch.bool), x_u=x_u)
    some = model.loss(a, points, u=u, labeled=torch.tensor([True] + [False] * 5), x_u=x_u)
    assert "labeled" not in none.parts and some.parts["labeled"] > 0
    torch.testing.assert_close(some.total - some.parts["labeled"], none.total)


def test_prediction_is_exactly_zero_on_the_boundary():
    model, a = _model()
    pred = model.predict(a, torch.tensor(unit_square_nodes(29)))
    for edge in (pred["u"][:, 0], pred["u"][:, -1], pred["u"][:, :, 0], pred["u"][:, :, -1]):
        assert edge.abs().max() < 1e-12
    assert set(torch.unique(pred["a_mode"]).tolist()) <= {5.0, 10.0}
