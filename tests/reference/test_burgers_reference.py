"""Burgers ground truth: the sine-series initial conditions, the Chebyshev/ETDRK4 solver and the `burgers` preset.

Problem: u_t + u u_x = nu u_xx on [-1, 1] x [0, 1], nu = 0.1/pi, u(-1, t) = u(1, t) = 0, u(x, 0) = a(x).
The solver is checked against the exact Cole-Hopf solution for a(x) = -sin(pi x) (observed order 4 in time,
geometric convergence in space); the stored truth against a solve twice as fine in space and time.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy.special import ive

from dgno.config import get_preset
from dgno.fields import FieldSampler, SineSeries, SineSeriesField
from dgno.reference import Shard, SplitCounts, generate, load_h5, merge
from dgno.reference.burgers import (
    BurgersChebyshev,
    ETDRK4Coefficients,
    barycentric_matrix,
    chebyshev_coefficients,
    chebyshev_derivative,
    chebyshev_points,
    chebyshev_projection,
    chebyshev_values,
)
from dgno.reference.generate import generate_split
from dgno.reference.presets import BurgersPreset, DataPreset

NU = 0.1 / np.pi
N_SIGMA = 5.0  # tolerance of the statistical comparisons, in standard errors (see tests/test_fields.py)


def rel_l2(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.linalg.norm(u - v) / np.linalg.norm(v))


# ------------------------------------------------------------------------------------------ exact solution
#   Cole-Hopf: u = -2 nu theta_x / theta with theta_t = nu theta_xx, theta(x, 0) = exp(-cos(pi x) / (2 pi nu)),
#   theta(x, t) = (4 pi nu t)^(-1/2) int exp(-(x - y)^2 / (4 nu t)) theta(y, 0) dy, so with y = x - sqrt(4 nu t) z
#   u(x, t) = -int sin(pi y) theta(y, 0) e^(-z^2) dz / int theta(y, 0) e^(-z^2) dz   (Gauss-Hermite in z).


def cole_hopf(x: np.ndarray, t: float, nodes: int = 200) -> np.ndarray:
    """u(x, t) for u0 = -sin(pi x), by Gauss-Hermite quadrature of the Cole-Hopf integrals: (X,) -> (X,)."""
    z, w = np.polynomial.hermite.hermgauss(nodes)
    y = x[:, None] - np.sqrt(4.0 * NU * t) * z  # (X, nodes)
    theta0 = np.exp(-np.cos(np.pi * y) / (2.0 * np.pi * NU))
    return -((theta0 * np.sin(np.pi * y)) @ w) / (theta0 @ w)


def cole_hopf_series(x: np.ndarray, t: float, terms: int = 60) -> np.ndarray:
    """The same solution from the Fourier series of theta: exp(-k cos s) = I_0(k) + 2 sum_n (-1)^n I_n(k) cos(n s).

    Each cosine mode decays as exp(-nu (n pi)^2 t); exponentially scaled Bessel functions (the scale cancels).
    """
    n = np.arange(1, terms)
    g = 2.0 * (-1.0) ** n * ive(n, 1.0 / (2.0 * np.pi * NU)) * np.exp(-NU * (n * np.pi) ** 2 * t)  # (terms - 1,)
    theta = ive(0, 1.0 / (2.0 * np.pi * NU)) + np.cos(np.pi * np.outer(x, n)) @ g
    theta_x = -(np.pi * n * np.sin(np.pi * np.outer(x, n))) @ g
    return -2.0 * NU * theta_x / theta


def sine_ic(x: np.ndarray) -> np.ndarray:
    return -np.sin(np.pi * x[..., 0])


X_OUT = np.linspace(-1.0, 1.0, 128)


def ch_error(n: int, dt: float, t: float) -> float:
    u = BurgersChebyshev(n=n, dt=dt).solve(sine_ic, np.array([0.0, t]), X_OUT)[-1]
    return rel_l2(u, cole_hopf(X_OUT, t))


def test_cole_hopf_quadrature_agrees_with_the_bessel_series():
    for t in (0.05, 0.5, 1.0):
        exact = cole_hopf_series(X_OUT, t)
        np.testing.assert_allclose(cole_hopf(X_OUT, t), exact, rtol=0, atol=1e-11)
        np.testing.assert_allclose(cole_hopf(X_OUT, t, nodes=120), exact, rtol=0, atol=1e-11)
    np.testing.assert_allclose(cole_hopf_series(X_OUT, 1e-12), -np.sin(np.pi * X_OUT), atol=1e-10)


def test_etdrk4_is_fourth_order_in_time_against_cole_hopf():
    """n = 128 leaves a spatial error of 3e-7 at t = 0.5, far below the time errors compared here."""
    errors = [ch_error(128, dt, 0.5) for dt in (0.1, 0.05, 0.025)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 3.5) & (orders < 4.6)), (errors, orders)
    assert errors[-1] < 1e-5


def test_chebyshev_converges_geometrically_in_space_against_cole_hopf():
    """Error against the exact solution at t = 0.25 (smooth, before the front steepens) for n = 16, 32, 64.

    Geometric convergence, e(n) ~ rho^-n, squares the error ratio when the step in n doubles; an algebraic
    rate would keep it constant. We ask for at least the power 1.5.
    """
    e16, e32, e64 = (ch_error(n, 2.5e-3, 0.25) for n in (16, 32, 64))
    assert e32 / e16 < 0.1 and e64 < 1e-4, (e16, e32, e64)
    assert e64 / e32 < (e32 / e16) ** 1.5, (e16, e32, e64)


def test_the_solver_resolves_the_steep_front_at_t_1():
    """At t = 1 the front at x = 0 has |u_x| ~ 100; the default resolution of the preset still meets 1e-6."""
    assert ch_error(128, 5e-3, 1.0) < 1e-6


# ---------------------------------------------------------------------------------------- building blocks
def test_collocation_operators_are_exact_for_polynomials():
    n = 12
    x = chebyshev_points(n)
    assert x[0] == -1.0 and x[-1] == 1.0 and np.all(np.diff(x) > 0)
    p = np.polynomial.Polynomial([0.3, -1.0, 2.0, 0.5, 0.0, -0.7, 0.1, 0.0, 0.0, 0.0, 0.0, 0.2, -0.05])  # degree 12
    np.testing.assert_allclose(chebyshev_derivative(n) @ p(x), p.deriv()(x), atol=1e-11)
    y = np.array([-1.0, -0.95, -0.3, 0.0, 0.123, 0.77, 1.0])
    np.testing.assert_allclose(barycentric_matrix(n, y) @ p(x), p(y), atol=1e-13)
    c = chebyshev_coefficients(p(x))
    np.testing.assert_allclose(c, p.convert(kind=np.polynomial.Chebyshev).coef, atol=1e-13)
    np.testing.assert_allclose(chebyshev_values(c), p(x), atol=1e-13)


def test_projection_is_the_truncated_chebyshev_series():
    """For a polynomial of degree 3n the projection to degree n is its Chebyshev series cut after T_n."""
    n = 8
    coef = np.random.default_rng(0).standard_normal(3 * n + 1)
    f = np.polynomial.Chebyshev(coef)
    values = chebyshev_projection(lambda p: f(p[..., 0]), n)
    np.testing.assert_allclose(values, np.polynomial.Chebyshev(coef[: n + 1])(chebyshev_points(n)), atol=1e-13)


def phi(k: int, z: np.ndarray) -> np.ndarray:
    """phi_k(z) = sum_{j>=0} z^j / (j + k)!: the Taylor series for |z| < 1, else (e^z - sum_{j<k} z^j / j!) / z^k."""
    fact = np.cumprod(np.r_[1.0, np.arange(1.0, 40.0)])  # j!
    series = sum(z**j / fact[j + k] for j in range(30))
    direct = (np.exp(z) - sum(z**j / fact[j] for j in range(k))) / np.where(np.abs(z) < 1, 1.0, z) ** k
    return np.where(np.abs(z) < 1, series, direct)


def test_etdrk4_coefficients_match_the_scalar_phi_functions():
    """For a symmetric L = V diag(lam) V^T every coefficient is V f(h lam) V^T with the scalar formulas."""
    rng = np.random.default_rng(1)
    v, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    lam = -np.array([0.3, 2.0, 10.0, 55.0, 400.0, 3000.0])
    h = 0.01
    c = ETDRK4Coefficients.of(v @ np.diag(lam) @ v.T, h)
    z = h * lam

    def mat(f: np.ndarray) -> np.ndarray:
        return v @ np.diag(f) @ v.T

    expected = {
        "E": np.exp(z),
        "E2": np.exp(z / 2),
        "Q": h / 2 * phi(1, z / 2),
        "F1": h * (phi(1, z) - 3 * phi(2, z) + 4 * phi(3, z)),
        "F2": h * (phi(2, z) - 2 * phi(3, z)),
        "F3": h * (4 * phi(3, z) - phi(2, z)),
    }
    for name, f in expected.items():
        np.testing.assert_allclose(getattr(c, name), mat(f), rtol=0, atol=1e-12 * max(1.0, np.abs(f).max()))


def test_output_times_are_hit_exactly_and_row_zero_is_the_initial_condition():
    solver = BurgersChebyshev(n=32, dt=0.004)
    assert solver.step_size(0.01) == (0.01 / 3, 3)
    assert solver.step_size(0.008) == (0.004, 2)
    t = np.array([0.0, 0.013, 0.02, 0.05])
    u = solver.solve(sine_ic, t, X_OUT)
    np.testing.assert_array_equal(u[0], sine_ic(X_OUT[:, None]))
    np.testing.assert_allclose(u[1:], np.stack([cole_hopf(X_OUT, s) for s in t[1:]]), atol=1e-6)
    np.testing.assert_array_equal(u[1:, [0, -1]], 0.0)  # Dirichlet data, exactly at the end nodes


def test_an_unstable_solve_raises_instead_of_returning_garbage():
    with pytest.raises(FloatingPointError, match="blew up"):
        BurgersChebyshev(n=64, dt=0.05).solve(lambda p: 200.0 * sine_ic(p), np.array([0.0, 1.0]), X_OUT)


# ------------------------------------------------------------------------------------ initial conditions
def test_sine_series_field_statistics_match_the_declared_spectrum():
    field = SineSeriesField()
    rng = np.random.default_rng(2024)
    n = 20000
    coef = np.stack([field.sample(rng).coefficients for _ in range(n)])  # (n, K)
    x = np.linspace(-1.0, 1.0, 65)
    k = np.arange(1, field.n_modes + 1)
    basis = np.sin(np.pi * np.outer(x + 1.0, k) / 2.0)  # (X, K), written out afresh
    values = coef @ basis.T  # (n, X)
    a = field.sample(np.random.default_rng(5))  # the field object evaluates the same series
    np.testing.assert_allclose(a(x[:, None]), basis @ a.coefficients, atol=1e-13)
    # pointwise variance: exact value s^2 sum_k lam_k sin^2, unbiased estimate, SE = var sqrt(2 / (n - 1))
    s = field.amplitude
    var_exact = basis**2 @ (s**2 * (field.tau**2 + (k * np.pi) ** 2) ** (-field.alpha))
    np.testing.assert_allclose(var_exact, field.variance(x[:, None]), rtol=1e-12, atol=1e-15)
    inner = slice(1, -1)
    var_hat = values.var(axis=0, ddof=1)
    se = var_exact[inner] * np.sqrt(2.0 / (n - 1))
    assert np.all(np.abs(var_hat[inner] - var_exact[inner]) < N_SIGMA * se)
    # the x-averaged pointwise std is the declared 0.38: exactly (a fine trapezoid rule of the exact std), and
    # sampled (the same rule on the 65 points, within 5 SE; the SE of an average of correlated estimates is at
    # most the average SE, about std / sqrt(2 n))
    xt = np.linspace(-1.0, 1.0, 4001)
    assert np.trapezoid(np.sqrt(field.variance(xt[:, None])), xt) / 2.0 == pytest.approx(0.38, rel=1e-6)
    mean_std = np.trapezoid(np.sqrt(var_exact), x) / 2.0
    mean_std_hat = np.trapezoid(values.std(axis=0, ddof=1), x) / 2.0
    assert abs(mean_std_hat - mean_std) < N_SIGMA * 0.38 / np.sqrt(2 * n)
    assert abs(mean_std_hat - 0.38) < 0.01  # the rms std, 0.4016, would be far outside
    assert s == pytest.approx(74.1769, rel=1e-5)


def test_sine_series_fields_vanish_at_the_ends_and_evaluate_anywhere():
    rng = np.random.default_rng(3)
    a = SineSeriesField().sample(rng)
    assert isinstance(a, SineSeries)
    assert np.abs(a(np.array([[-1.0], [1.0]]))).max() < 1e-12
    x = rng.uniform(-1.0, 1.0, size=(4, 5, 1))
    value = a(x)
    assert value.shape == (4, 5)
    np.testing.assert_array_equal(a(x[..., 0]), value)  # plain points (...) as well as (..., 1)
    k = np.arange(1, 513)
    expected = np.array([np.sum(a.coefficients * np.sin(k * np.pi * (p + 1.0) / 2.0)) for p in x.ravel()])
    np.testing.assert_allclose(value.ravel(), expected, atol=1e-12)
    assert a(np.array([0.25])).shape == ()  # one point of shape (1,): a scalar


def test_sine_series_scale_and_describe():
    base, ood = SineSeriesField(), SineSeriesField(scale=1.5)
    c0 = base.sample(np.random.default_rng(9)).coefficients
    np.testing.assert_allclose(ood.sample(np.random.default_rng(9)).coefficients, 1.5 * c0, rtol=1e-14)
    d = ood.describe()
    for key in ("tau", "alpha", "n_modes", "std", "scale", "amplitude"):
        assert key in d
    assert d["scale"] == 1.5 and d["amplitude"] == pytest.approx(base.amplitude)
    json.dumps(d)
    assert isinstance(base, FieldSampler)
    with pytest.raises(ValueError):
        SineSeriesField(alpha=0.5)


# ------------------------------------------------------------------------------------------------ preset
@pytest.fixture(scope="module")
def preset() -> BurgersPreset:
    p = get_preset("burgers")
    assert isinstance(p, BurgersPreset) and isinstance(p, DataPreset)
    return p


def test_stored_truth_matches_a_solve_twice_as_fine(preset):
    """The ground-truth contract: n -> 2n Chebyshev points, dt -> dt/2; in- and out-of-distribution inputs."""
    fine = replace(preset, solver=replace(preset.solver, n=2 * preset.solver.n, dt=preset.solver.dt / 2))
    for split in preset.splits[2:]:  # test and every test_ood_*
        for i in range(2):
            a = preset.sampler(split).sample(np.random.default_rng([11, i]))
            _, u = preset.solve(a)
            _, u_fine = fine.solve(a)
            assert rel_l2(u, u_fine) < 1e-5, split


def test_burgers_split_layout_and_provenance(preset, tmp_path):
    assert preset.splits == ("train", "val", "test", "test_ood_tau5", "test_ood_amp15")
    ds = generate_split(preset, "val", range(3), seed=4)
    assert ds.a.shape == (3, 128) and ds.u.shape == (3, 101, 128)
    assert ds.x_a.shape == (128, 1) and ds.x_u.shape == (101, 128, 2)
    x, t = np.linspace(-1, 1, 128), np.linspace(0, 1, 101)
    np.testing.assert_array_equal(ds.x_a[:, 0], x)
    np.testing.assert_array_equal(ds.x_u[7, 5], [x[5], t[7]])  # t-major, (x, t) along the last axis
    np.testing.assert_array_equal(ds.u[:, 0], ds.a)
    np.testing.assert_array_equal(ds.u[:, 1:, [0, -1]], 0.0)
    assert ds.a.min() < 0 < ds.a.max()
    # physics of the stored data: the L2 energy decays (d/dt int u^2 = -2 nu int u_x^2) and max |u| never grows
    energy = np.trapezoid(ds.u**2, x, axis=-1)  # (N, T)
    assert np.all(np.diff(energy, axis=1) < 1e-12)
    assert np.all(np.abs(ds.u).max(axis=2) <= np.abs(ds.a).max(axis=1, keepdims=True) + 1e-9)
    attrs = ds.attrs
    assert attrs["a_positive"] is False and attrs["preset"] == "burgers" and attrs["nu"] == pytest.approx(NU)
    assert attrs["solver"]["order_time"] == 4 and attrs["solver"]["order_space"] == "spectral"
    assert attrs["solver"]["n"] == 128 and attrs["solver"]["dt"] == pytest.approx(0.005)
    assert attrs["field"]["type"] == "SineSeriesField" and "u_t + u u_x = nu u_xx" in attrs["pde"]
    out = generate_split(preset, "test_ood_amp15", range(1), seed=4)
    assert out.attrs["field"]["scale"] == 1.5
    assert generate_split(preset, "test_ood_tau5", range(1), seed=4).attrs["field"]["tau"] == 5.0


def test_burgers_files_load_with_signed_inputs_and_shards_merge(preset, tmp_path):
    counts = SplitCounts(train=2, val=1, test=1, ood=1)
    generate(preset, tmp_path / "whole", counts=counts, seed=3)
    for i in range(2):
        generate(preset, tmp_path / "shards", counts=counts, seed=3, shard=Shard(i, 2))
    merge([tmp_path / "shards"], tmp_path / "merged")
    for split in preset.splits:
        a, b = load_h5(tmp_path / "whole" / f"{split}.h5"), load_h5(tmp_path / "merged" / f"{split}.h5")
        assert a.attrs["a_positive"] is False and np.any(a.a < 0)  # would fail load_h5 if a_positive were set
        np.testing.assert_array_equal(a.a, b.a)
        np.testing.assert_array_equal(a.u, b.u)
        np.testing.assert_array_equal(a.x_u, b.x_u)
