"""The weak-form machinery: Wendland functions, unit-ball quadrature, particle sampling, residual assembly."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.special
import torch
from numpy.polynomial import Polynomial

from dgno.weak import (
    Particles,
    ParticleSampler,
    QuadratureRule,
    WeakPoints,
    Wendland,
    gauss_rule,
    grid_rule,
    weak_points,
)

F64 = torch.float64
KINDS = [(dim, k) for dim in (1, 2, 3) for k in (2, 4)]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _closed_form(dim: int, smoothness: int) -> Polynomial:
    """phi as a polynomial in r on [0, 1], written out from the literature for dim 1 and 2."""
    r = Polynomial([0.0, 1.0])
    table = {
        (2, 4): (1 - r) ** 6 * (35 * r**2 + 18 * r + 3) / 3,
        (1, 4): (1 - r) ** 5 * (8 * r**2 + 5 * r + 1),
        (2, 2): (1 - r) ** 4 * (4 * r + 1),
        (1, 2): (1 - r) ** 3 * (3 * r + 1),
    }
    return table[(dim, smoothness)]


# ---------------------------------------------------------------------------------------------------------------------
# Wendland test functions


@pytest.mark.parametrize(("dim", "smoothness"), [(2, 4), (1, 4), (2, 2), (1, 2)])
def test_wendland_matches_closed_form_and_support(dim, smoothness):
    w = Wendland(dim, smoothness)
    r = torch.linspace(0.0, 1.0, 101, dtype=F64)
    expected = torch.as_tensor(_closed_form(dim, smoothness)(r.numpy()))
    torch.testing.assert_close(w.phi(r), expected, rtol=1e-12, atol=1e-13)  # expanded: cancellation
    assert w.phi(torch.tensor(0.0, dtype=F64)) == 1.0
    assert w.phi(torch.tensor(1.0, dtype=F64)) == 0.0
    outside = torch.linspace(1.0, 3.0, 50, dtype=F64)
    assert torch.all(w.phi(outside) == 0) and torch.all(w.dphi_over_r(outside) == 0)
    assert torch.all(w.phi(r[:-1]) > 0)


@pytest.mark.parametrize(("dim", "smoothness"), KINDS)
def test_dphi_over_r_matches_autograd(dim, smoothness):
    w = Wendland(dim, smoothness)
    r = torch.cat([torch.logspace(-7, -1, 13, dtype=F64), torch.linspace(0.1, 0.999, 40, dtype=F64)])
    r.requires_grad_(True)
    (dphi,) = torch.autograd.grad(w.phi(r).sum(), r)
    torch.testing.assert_close(dphi / r, w.dphi_over_r(r.detach()), rtol=1e-8, atol=1e-8)
    # at r = 0 the quotient is the limit phi''(0)
    r0 = torch.zeros((), dtype=F64, requires_grad=True)
    (d1,) = torch.autograd.grad(w.phi(r0), r0, create_graph=True)
    (d2,) = torch.autograd.grad(d1, r0)
    assert d1 == 0.0
    torch.testing.assert_close(d2, w.dphi_over_r(torch.zeros((), dtype=F64)), rtol=1e-14, atol=0.0)


@pytest.mark.parametrize(("dim", "smoothness"), KINDS)
def test_value_and_grad_matches_autograd_and_finite_differences(dim, smoothness):
    w = Wendland(dim, smoothness)
    directions = torch.nn.functional.normalize(torch.randn(60, dim, generator=_gen(1), dtype=F64), dim=-1)
    radii = torch.cat([torch.tensor([1e-6, 1e-4]), torch.linspace(0.01, 1.3, 58)]).to(F64)
    xi = (directions * radii[:, None]).requires_grad_(True)  # (60, dim), some outside the ball
    value, grad = w.value_and_grad(xi.detach())
    torch.testing.assert_close(value, w.phi(radii))
    (auto,) = torch.autograd.grad(w.phi(torch.linalg.vector_norm(xi, dim=-1)).sum(), xi)
    torch.testing.assert_close(grad, auto, rtol=1e-10, atol=1e-12)
    h = 1e-6
    for k in range(dim):
        e = torch.zeros(dim, dtype=F64)
        e[k] = h
        fd = (w.value_and_grad(xi.detach() + e)[0] - w.value_and_grad(xi.detach() - e)[0]) / (2 * h)
        torch.testing.assert_close(grad[:, k], fd, rtol=0.0, atol=1e-7)
    assert torch.all(grad[radii >= 1] == 0)


@pytest.mark.parametrize(("dim", "smoothness"), KINDS)
def test_wendland_is_smooth_at_the_edge_of_its_support(dim, smoothness):
    """phi^(j)(1) = 0 for j = 1..smoothness (so phi'(1) = 0, and phi''(1) = 0), and phi^(j)(1 - h) -> 0 as h -> 0."""
    w = Wendland(dim, smoothness)

    def derivatives(r_value: float) -> list[float]:
        r = torch.tensor(r_value, dtype=F64, requires_grad=True)
        d, out = w.phi(r), []
        for _ in range(smoothness):
            (d,) = torch.autograd.grad(d, r, create_graph=True)
            out.append(abs(d.item()))
        return out

    assert derivatives(1.0) == [0.0] * smoothness
    for near, nearer in zip(derivatives(1.0 - 1e-3), derivatives(1.0 - 1e-4), strict=True):
        assert nearer < near / 5


@pytest.mark.parametrize(
    ("dim", "smoothness", "exact"),
    # int over the unit ball: 2 pi int_0^1 phi r dr in 2-D, 2 int_0^1 phi dr in 1-D, by hand from the closed forms
    [(2, 4, math.pi / 9), (2, 2, math.pi / 7), (1, 4, 2.0 / 3.0), (1, 2, 4.0 / 5.0)],
)
def test_wendland_integral_over_the_ball(dim, smoothness, exact):
    jacobian = Polynomial([0.0, 2 * math.pi]) if dim == 2 else Polynomial([2.0])  # |S^(d-1)| r^(d-1)
    antiderivative = (_closed_form(dim, smoothness) * jacobian).integ()
    assert antiderivative(1.0) - antiderivative(0.0) == pytest.approx(exact, rel=1e-14)
    w = Wendland(dim, smoothness)
    r = torch.linspace(0.0, 1.0, 200_001, dtype=F64)
    fine = torch.trapezoid(w.phi(r) * torch.as_tensor(jacobian(r.numpy())), r)
    assert fine.item() == pytest.approx(exact, rel=1e-10)
    ball = math.pi if dim == 2 else 2.0
    rule = gauss_rule(6, dim=dim)
    quad = ball * (rule.weights * w.value_and_grad(rule.points)[0]).sum()
    assert quad.item() == pytest.approx(exact, rel=1e-14)


def test_wendland_rejects_unknown_smoothness():
    with pytest.raises(ValueError, match="smoothness"):
        Wendland(2, 3)
    with pytest.raises(ValueError, match="dim"):
        Wendland(0)


# ---------------------------------------------------------------------------------------------------------------------
# Quadrature


def _disk_mean(a: int, b: int) -> float:
    """Exact mean of x^a y^b over the unit disk: Gamma((a+1)/2) Gamma((b+1)/2) / (pi Gamma((a+b)/2 + 2)), 0 if odd."""
    if a % 2 or b % 2:
        return 0.0
    return math.gamma((a + 1) / 2) * math.gamma((b + 1) / 2) / (math.pi * math.gamma((a + b) / 2 + 2))


def _rule_mean(rule: QuadratureRule, values: torch.Tensor) -> float:
    return (rule.weights * values).sum().item()


def test_rules_are_averages_on_the_ball():
    rules = [grid_rule(n, dim) for n in (3, 7, 8, 9, 20) for dim in (1, 2, 3)] + [grid_rule(2, 1)]
    rules += [gauss_rule(n, dim=dim) for n in (1, 3, 10) for dim in (1, 2)] + [gauss_rule(4, 5)]
    for rule in rules:
        assert rule.weights.sum().item() == pytest.approx(1.0, abs=1e-14)
        assert torch.all(rule.weights > 0)
        assert torch.all(torch.linalg.vector_norm(rule.points, dim=-1) <= 1.0)
        assert rule.points.dtype == F64


def test_grid_rule_is_the_reference_grid():
    assert [len(grid_rule(n)) for n in (7, 8, 9)] == [25, 32, 45]
    assert torch.all(torch.linalg.vector_norm(grid_rule(9).points, dim=-1) < 1.0)  # strictly inside
    for n in (2, 5, 9):
        rule = grid_rule(n, dim=1)
        torch.testing.assert_close(rule.points[:, 0], torch.linspace(-1.0, 1.0, n, dtype=F64))
        torch.testing.assert_close(rule.weights, torch.full((n,), 1.0 / n, dtype=F64))
    f32 = grid_rule(7).to(dtype=torch.float32)
    assert f32.points.dtype == f32.weights.dtype == torch.float32
    with pytest.raises(ValueError, match="n must be"):
        grid_rule(1)
    with pytest.raises(ValueError, match="no grid point"):
        grid_rule(2)


@pytest.mark.parametrize(("n_radial", "n_angular"), [(1, None), (2, None), (4, None), (6, None), (5, 6), (3, 12)])
def test_gauss_rule_2d_is_exact_up_to_its_degree(n_radial, n_angular):
    rule = gauss_rule(n_radial, n_angular)
    n_ang = 2 * n_radial + 2 if n_angular is None else n_angular
    degree = min(2 * n_radial - 1, n_ang - 1)
    x, y = rule.points.T
    for a in range(degree + 1):
        for b in range(degree + 1 - a):
            assert _rule_mean(rule, x**a * y**b) == pytest.approx(_disk_mean(a, b), abs=1e-14), (a, b)
    # and the documented degree is sharp
    fails = [(degree + 1, 0)] if degree + 1 < n_ang else [(n_ang, 0), (n_ang - 1, 1)]
    worst = max(abs(_rule_mean(rule, x**a * y**b) - _disk_mean(a, b)) for a, b in fails)
    assert worst > 1e-8


@pytest.mark.parametrize("n_radial", [1, 2, 3, 5, 8])
def test_gauss_rule_1d_is_exact_up_to_its_degree(n_radial):
    rule = gauss_rule(n_radial, dim=1)
    assert len(rule) == 2 * n_radial
    x = rule.points[:, 0]
    for a in range(2 * n_radial):
        assert _rule_mean(rule, x**a) == pytest.approx((1 - a % 2) / (a + 1), abs=1e-14), a
    a = 2 * n_radial
    assert abs(_rule_mean(rule, x**a) - 1 / (a + 1)) > 1e-12
    # also exact for polynomials in |x| times polynomials in x (the 1-D Wendland functions have an |x|^5 kink)
    assert _rule_mean(rule, x.abs() ** (2 * n_radial - 2) * x) == pytest.approx(0.0, abs=1e-15)
    assert _rule_mean(rule, x.abs() ** (2 * n_radial - 1)) == pytest.approx(1 / (2 * n_radial), abs=1e-14)
    with pytest.raises(ValueError, match="n_angular"):
        gauss_rule(n_radial, 4, dim=1)


def test_gauss_rule_integrates_wendland_exactly():
    """2-D C4 phi has degree 8 in r, so r phi(r) needs 2 n_radial - 1 >= 9; 1-D C4 has degree 7 in |x|."""
    for dim, n_exact, exact_mean in [(2, 5, 1 / 9), (1, 4, 1 / 3)]:
        w = Wendland(dim)
        errors = []
        for n in range(1, 9):
            rule = gauss_rule(n, dim=dim)
            errors.append(abs(_rule_mean(rule, w.value_and_grad(rule.points)[0]) - exact_mean))
        assert max(errors[n_exact - 1 :]) < 1e-15
        assert errors[n_exact - 2] > 1e-10


def test_gauss_rule_beats_grid_rule_at_equal_point_count():
    k = torch.tensor([1.0, 0.5], dtype=F64)
    exact = 2 * scipy.special.i1(k.norm().item()) / k.norm().item()  # mean of exp(k . xi) over the disk
    grid, gauss = grid_rule(9), gauss_rule(5, 9)
    assert len(grid) == len(gauss) == 45
    err_grid = abs(_rule_mean(grid, torch.exp(grid.points @ k)) - exact)
    err_gauss = abs(_rule_mean(gauss, torch.exp(gauss.points @ k)) - exact)
    assert err_grid > 1e-3 and err_gauss < 1e-8
    exact_1d = math.sinh(1.0)  # mean of exp(x) over [-1, 1]
    grid1, gauss1 = grid_rule(8, dim=1), gauss_rule(4, dim=1)
    err_grid1 = abs(_rule_mean(grid1, torch.exp(grid1.points[:, 0])) - exact_1d)
    err_gauss1 = abs(_rule_mean(gauss1, torch.exp(gauss1.points[:, 0])) - exact_1d)
    assert err_gauss1 < 1e-8 and err_gauss1 < err_grid1 / 1000


# ---------------------------------------------------------------------------------------------------------------------
# Particles


@pytest.mark.parametrize("method", ["lhs", "uniform"])
def test_particles_lie_in_the_box(method):
    lower, upper = (-1.0, 0.0), (2.0, 0.5)
    sampler = ParticleSampler(n=300, r_min=0.01, r_max=0.2, lower=lower, upper=upper, method=method)
    p = sampler.sample(_gen(), dtype=F64)
    assert p.centers.shape == (300, 2) and p.radii.shape == (300,) and len(p) == 300
    assert torch.all((p.radii >= 0.01) & (p.radii <= 0.2))
    lo, hi = torch.tensor(lower, dtype=F64), torch.tensor(upper, dtype=F64)
    assert torch.all(p.centers - p.radii[:, None] >= lo) and torch.all(p.centers + p.radii[:, None] <= hi)
    assert p.radii.std() > 0.03  # the radii are spread over [r_min, r_max]
    default = ParticleSampler(n=10).sample(_gen())
    assert default.centers.dtype == default.radii.dtype == torch.float32
    assert torch.all(default.radii == torch.tensor(1e-4, dtype=torch.float32))


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_lhs_has_one_centre_per_stratum(dim):
    n, lower, upper = 97, (-1.0, 0.0, 2.0)[:dim], (2.0, 0.5, 3.0)[:dim]
    p = ParticleSampler(n=n, r_min=0.01, r_max=0.1, lower=lower, upper=upper).sample(_gen(3), dtype=F64)
    lo, width = torch.tensor(lower, dtype=F64), torch.tensor(upper, dtype=F64) - torch.tensor(lower, dtype=F64)
    u = (p.centers - lo - p.radii[:, None]) / (width - 2 * p.radii[:, None])  # (n, d) back on [0, 1)
    strata = torch.floor(u * n).long()  # (n, d)
    for k in range(dim):
        assert torch.equal(torch.sort(strata[:, k]).values, torch.arange(n))


def test_sampling_is_deterministic_and_uses_only_the_generator():
    sampler = ParticleSampler(n=50, r_min=0.01, r_max=0.05)
    state = torch.random.get_rng_state()
    a, b = sampler.sample(_gen(7), dtype=F64), sampler.sample(_gen(7), dtype=F64)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.centers, b.centers) and torch.equal(a.radii, b.radii)
    c = sampler.sample(_gen(8), dtype=F64)
    assert not torch.equal(a.centers, c.centers)
    g = _gen(7)
    first, second = sampler.sample(g, dtype=F64), sampler.sample(g, dtype=F64)  # a fresh batch every call
    assert torch.equal(first.centers, a.centers) and not torch.equal(second.centers, first.centers)


def test_predicate_keeps_whole_supports_out_of_a_hole():
    hole, rho = torch.tensor([0.5, 0.6], dtype=F64), 0.1

    def inside(x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(x - hole.to(x), dim=-1) > rho

    kwargs = {"n": 400, "r_min": 0.02, "r_max": 0.08, "lower": (0.0, 0.0), "upper": (2.0, 1.0)}
    free = ParticleSampler(**kwargs).sample(_gen(5), dtype=F64)
    free_distance = torch.linalg.vector_norm(free.centers - hole, dim=-1)
    assert torch.any(free_distance < rho + free.radii)  # without the predicate some supports reach into the hole
    p = ParticleSampler(**kwargs, inside=inside).sample(_gen(5), dtype=F64)
    assert len(p) == 400
    distance = torch.linalg.vector_norm(p.centers - hole, dim=-1)
    # checked at 64 boundary points: a hole can reach at most ~1e-3 R into a support
    assert torch.all(distance >= rho + p.radii * (1 - 2e-3))
    p1 = ParticleSampler(n=100, r_min=0.01, r_max=0.05, lower=(0.0,), upper=(1.0,), inside=lambda x: x[:, 0] < 0.6)
    q = p1.sample(_gen(), dtype=F64)
    assert torch.all(q.centers[:, 0] + q.radii <= 0.6)
    never = ParticleSampler(n=10, r_min=0.01, r_max=0.05, inside=lambda x: x[:, 0] < 0)
    with pytest.raises(ValueError, match="accepted only 0 of 10"):
        never.sample(_gen())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n must be"),
        ({"r_min": 0.0}, "r_min=0.0"),
        ({"r_min": 0.2, "r_max": 0.1}, "r_min=0.2"),
        ({"r_min": 0.1, "r_max": 0.5}, "2 r_max = 1.0"),
        ({"lower": (0.0,), "upper": (1.0, 1.0)}, "same length"),
        ({"method": "sobol"}, "'sobol'"),
    ],
)
def test_sampler_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ParticleSampler(**kwargs)


# ---------------------------------------------------------------------------------------------------------------------
# Assembly


def _darcy_2d(wp: WeakPoints) -> torch.Tensor:
    """Weak residual of -div(a grad u) = f, u = sin(pi x) sin(pi y), a = 1 + x y: (P,).

    f = -a lap u - grad a . grad u = 2 pi^2 a u - (y u_x + x u_y).
    """
    x, y = wp.x.unbind(-1)  # (P, Q) each
    u = torch.sin(math.pi * x) * torch.sin(math.pi * y)
    grad_u = math.pi * torch.stack(
        [torch.cos(math.pi * x) * torch.sin(math.pi * y), torch.sin(math.pi * x) * torch.cos(math.pi * y)], dim=-1
    )  # (P, Q, 2)
    a = 1 + x * y
    f = 2 * math.pi**2 * a * u - (y * grad_u[..., 0] + x * grad_u[..., 1])
    return wp.average(a * (grad_u * wp.grad_v).sum(-1) - f * wp.v)


def _darcy_1d(wp: WeakPoints) -> torch.Tensor:
    """Weak residual of -(a u')' = f, u = sin(pi x), a = 1 + x^2: f = pi^2 a sin(pi x) - 2 pi x cos(pi x); (P,)."""
    x = wp.x[..., 0]  # (P, Q)
    du = math.pi * torch.cos(math.pi * x)
    f = math.pi**2 * (1 + x**2) * torch.sin(math.pi * x) - 2 * x * du
    return wp.average((1 + x**2) * du * wp.grad_v[..., 0] - f * wp.v)


def test_weak_residual_of_an_exact_solution_vanishes_as_quadrature_refines():
    p = ParticleSampler(n=200, r_min=0.05, r_max=0.1).sample(_gen(11), dtype=F64)
    w = Wendland(2)
    gauss = [_darcy_2d(weak_points(p, gauss_rule(n), w)).abs().max().item() for n in (3, 4, 5, 6, 8)]
    assert all(b < a / 5 for a, b in itertools.pairwise(gauss))  # spectral convergence
    assert gauss[-1] < 1e-12
    grid = [_darcy_2d(weak_points(p, grid_rule(n), w)).abs().max().item() for n in (7, 9)]
    assert min(grid) > 1e-3
    equal_count = _darcy_2d(weak_points(p, gauss_rule(5, 9), w)).abs().max().item()  # 45 points, as grid_rule(9)
    assert equal_count < grid[1] / 10


def test_weak_residual_of_an_exact_solution_vanishes_in_1d():
    p = ParticleSampler(n=200, r_min=0.05, r_max=0.1, lower=(0.0,), upper=(1.0,)).sample(_gen(12), dtype=F64)
    w = Wendland(1)
    gauss = [_darcy_1d(weak_points(p, gauss_rule(n, dim=1), w)).abs().max().item() for n in (2, 3, 4, 6, 8)]
    assert all(b < a / 5 for a, b in itertools.pairwise(gauss))
    assert gauss[-1] < 1e-12
    assert _darcy_1d(weak_points(p, grid_rule(16, dim=1), w)).abs().max().item() > 1e-5
    # one Gauss-Legendre rule across the |x|^5 kink of phi at 0 is far worse at the same 16 points
    t, wt = np.polynomial.legendre.leggauss(16)
    unsplit = QuadratureRule(torch.as_tensor(t)[:, None], torch.as_tensor(wt / 2))
    assert _darcy_1d(weak_points(p, unsplit, w)).abs().max().item() > 1e-5


@pytest.mark.parametrize("dim", [1, 2])
def test_integration_by_parts_on_every_particle(dim):
    """mean(grad v . G) = -mean(v div G) for smooth G, since v vanishes on each particle's boundary."""
    lower, upper = (-1.0, 0.0)[:dim], (1.0, 2.0)[:dim]
    p = ParticleSampler(n=100, r_min=0.1, r_max=0.4, lower=lower, upper=upper).sample(_gen(13), dtype=F64)
    wp = weak_points(p, gauss_rule(12, dim=dim), Wendland(dim))
    if dim == 1:
        x = wp.x[..., 0]
        G, div_G = torch.sin(2 * x)[..., None], 2 * torch.cos(2 * x)  # (P, Q, 1), (P, Q)
    else:
        x, y = wp.x.unbind(-1)
        G = torch.stack([torch.sin(x + 2 * y), x**2 * y], dim=-1)  # (P, Q, 2)
        div_G = torch.cos(x + 2 * y) + x**2
    lhs, rhs = wp.average((wp.grad_v * G).sum(-1)), -wp.average(wp.v * div_G)
    assert lhs.abs().max() > 0.1  # not trivially zero
    torch.testing.assert_close(lhs, rhs, rtol=0.0, atol=1e-11)


def test_weak_points_map_the_rule_and_the_test_function():
    p = ParticleSampler(n=7, r_min=0.05, r_max=0.2).sample(_gen(14), dtype=F64)
    w, rule = Wendland(2), gauss_rule(5)
    wp = weak_points(p, rule, w)
    P, Q = 7, len(rule)
    assert wp.x.shape == (P, Q, 2) and wp.v.shape == (P, Q) and wp.grad_v.shape == (P, Q, 2)
    # v and grad v are phi(|x - c| / R) and its physical gradient
    x = wp.x.clone().requires_grad_(True)
    v = w.phi(torch.linalg.vector_norm(x - p.centers[:, None], dim=-1) / p.radii[:, None])  # (P, Q)
    (grad_v,) = torch.autograd.grad(v.sum(), x)
    torch.testing.assert_close(wp.v, v.detach())
    torch.testing.assert_close(wp.grad_v, grad_v, rtol=1e-12, atol=1e-12)
    # averages: of 1 is 1, of phi is (pi / 9) / pi, over the ball of each particle
    torch.testing.assert_close(wp.average(torch.ones(3, P, Q, dtype=F64)), torch.ones(3, P, dtype=F64))
    torch.testing.assert_close(wp.average(wp.v), torch.full((P,), 1 / 9, dtype=F64))
    # points and unflatten are inverse: fields at the flat points come back on (P, Q)
    flat = wp.points  # (P * Q, 2)
    batch = torch.stack([flat.sum(-1), flat.prod(-1)])  # (2, P * Q)
    torch.testing.assert_close(wp.unflatten(batch), torch.stack([wp.x.sum(-1), wp.x.prod(-1)]))
    torch.testing.assert_close(wp.unflatten(flat.expand(3, -1, -1), axis=-2), wp.x.expand(3, -1, -1, -1))
    with pytest.raises(ValueError, match="P \\* Q"):
        wp.unflatten(flat)
    with pytest.raises(ValueError, match="\\(P, Q\\)"):
        wp.average(torch.ones(P, Q + 1, dtype=F64))
    with pytest.raises(ValueError, match="dimensions differ"):
        weak_points(p, gauss_rule(3, dim=1), w)


def test_weak_points_follow_the_particles_dtype():
    p = ParticleSampler(n=5, r_min=0.05, r_max=0.1).sample(_gen(15))  # float32
    wp = weak_points(p, grid_rule(9), Wendland(2))
    assert wp.x.dtype == wp.v.dtype == wp.grad_v.dtype == wp.weights.dtype == torch.float32
    ref = weak_points(Particles(p.centers.double(), p.radii.double()), grid_rule(9), Wendland(2))
    torch.testing.assert_close(wp.grad_v.double(), ref.grad_v, rtol=1e-5, atol=1e-4)
