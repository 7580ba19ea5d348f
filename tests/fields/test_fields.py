"""Random input fields: the statistics and conventions they promise, checked against the mathematics.

Statistical tests draw N independent samples from a fixed-seed generator and compare an unbiased
estimator with its exact value at 5 standard errors: for a single comparison a false alarm has
probability ~6e-7 (Gaussian limit), so even the ~1000 per-mode comparisons below have a family-wise
false-alarm rate below 1e-3, while a wrong normalisation (a factor sqrt(2), a missing sigma, a
wrong exponent) shifts the estimate by many standard errors. The seeds are fixed, so the suite is
deterministic.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import ndtr

from dgno.fields import (
    ExpField,
    GaussianRandomField,
    LogNormalField,
    NearestNodeField,
    SpectralField,
    ThresholdField,
    TwoPhaseField,
    unit_square_nodes,
)

N_SIGMA = 5.0  # tolerance of every statistical comparison, in standard errors

GRFS = {
    # the default: alpha = 2, tau = 3, sigma = None (-> 3), 32 modes, zero mean
    "default": GaussianRandomField(),
    # everything non-default, including the constant mode
    "custom": GaussianRandomField(alpha=2.5, tau=4.0, sigma=1.3, n_modes=12, zero_mean=False),
}


# ---------------------------------------------------------------------------- independent helpers


def spectrum(alpha: float, tau: float, sigma: float, n_modes: int, zero_mean: bool) -> np.ndarray:
    """Variance of coefficient (k, l): sigma^2 (pi^2 (k^2 + l^2) + tau^2)^(-alpha), written out afresh."""
    var = np.empty((n_modes, n_modes))
    for k in range(n_modes):
        for ell in range(n_modes):
            var[k, ell] = sigma**2 * (np.pi**2 * (k**2 + ell**2) + tau**2) ** (-alpha)
    if zero_mean:
        var[0, 0] = 0.0
    return var


def grf_spectrum(grf: GaussianRandomField) -> np.ndarray:
    sigma = grf.tau ** (grf.alpha - 1) if grf.sigma is None else grf.sigma
    return spectrum(grf.alpha, grf.tau, sigma, grf.n_modes, grf.zero_mean)


def e(k: int, t: np.ndarray) -> np.ndarray:
    """The orthonormal Neumann cosine e_0 = 1, e_k = sqrt(2) cos(pi k t)."""
    return np.ones_like(t) if k == 0 else np.sqrt(2.0) * np.cos(np.pi * k * t)


def midpoints(m: int) -> np.ndarray:
    return (np.arange(m) + 0.5) / m


def project(values: np.ndarray, n_modes: int) -> np.ndarray:
    """Cosine coefficients of grid values on the m x m midpoint grid, (..., m, m) -> (..., K, K).

    The midpoint rule is exact here: (1/m) sum_j e_k(t_j) e_l(t_j) = delta_kl for k, l < m
    (orthogonality of the DCT-II), so a cosine series with fewer than m modes per axis is
    recovered to rounding.
    """
    m = values.shape[-1]
    t = midpoints(m)
    basis = np.stack([e(k, t) for k in range(n_modes)])  # (K, m)
    return basis @ values @ basis.T / m**2


# ------------------------------------------------------------------------------ Gaussian fields


@pytest.mark.parametrize("name", list(GRFS))
def test_mode_std_is_the_stated_spectrum(name: str) -> None:
    grf = GRFS[name]
    np.testing.assert_allclose(grf.mode_std() ** 2, grf_spectrum(grf), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", list(GRFS))
def test_empirical_variance_and_covariance_match_exact(name: str) -> None:
    grf = GRFS[name]
    rng = np.random.default_rng(1)
    n = 10_000
    singles = np.array([[0.5, 0.5], [0.1, 0.8], [0.0, 0.0], [1.0, 0.3]])
    pairs_x = np.array([[0.5, 0.5], [0.2, 0.3], [0.1, 0.1], [0.0, 0.0], [0.7, 0.4]])
    pairs_y = np.array([[0.6, 0.5], [0.25, 0.4], [0.9, 0.9], [0.0, 0.05], [0.4, 0.7]])
    points = np.concatenate([singles, pairs_x, pairs_y])
    values = np.stack([grf.sample(rng)(points) for _ in range(n)])  # (n, P)
    g_single = values[:, : len(singles)]
    g_x = values[:, len(singles) : len(singles) + len(pairs_x)]
    g_y = values[:, len(singles) + len(pairs_x) :]

    # the field is centred, so mean(g^2) is unbiased for the variance, with standard error
    # sqrt(2/n) var (Var g^2 = 2 var^2 for a centred Gaussian)
    var = grf.variance(singles)
    np.testing.assert_allclose(grf.covariance(singles, singles), var, rtol=1e-12)
    var_hat = np.mean(g_single**2, axis=0)
    assert np.all(np.abs(var_hat - var) < N_SIGMA * np.sqrt(2.0 / n) * var), (var_hat, var)

    # mean(g(x) g(y)) is unbiased for the covariance; by Isserlis Var[g(x) g(y)] = vx vy + c^2
    cov = grf.covariance(pairs_x, pairs_y)
    se = np.sqrt((grf.variance(pairs_x) * grf.variance(pairs_y) + cov**2) / n)
    cov_hat = np.mean(g_x * g_y, axis=0)
    assert np.all(np.abs(cov_hat - cov) < N_SIGMA * se), (cov_hat, cov, se)
    # the covariance is symmetric and the pairs are not trivially uncorrelated
    np.testing.assert_allclose(grf.covariance(pairs_y, pairs_x), cov, rtol=1e-12)
    assert np.any(np.abs(cov) > 20 * se)


def test_variance_is_the_sum_over_modes() -> None:
    """variance(x) = sum_kl s_kl^2 e_k(x)^2 e_l(y)^2, written as a double loop."""
    grf = GRFS["custom"]
    var = grf_spectrum(grf)
    x = np.random.default_rng(2).uniform(0, 1, size=(7, 2))
    modes = range(grf.n_modes)
    expected = sum(var[k, ell] * e(k, x[:, 0]) ** 2 * e(ell, x[:, 1]) ** 2 for k in modes for ell in modes)
    np.testing.assert_allclose(grf.variance(x), expected, rtol=1e-12)


@pytest.mark.parametrize("name", list(GRFS))
def test_projected_coefficients_follow_the_spectrum(name: str) -> None:
    """Samples evaluated on a grid and projected on the cosine basis give back the coefficients,
    whose empirical variances follow sigma^2 (pi^2 |k|^2 + tau^2)^(-alpha) mode by mode."""
    grf = GRFS[name]
    rng = np.random.default_rng(3)
    n, m = 2000, grf.n_modes  # m >= K points per axis make the projection exact (see project)
    t = midpoints(m)
    grid = np.stack(np.meshgrid(t, t, indexing="ij"), axis=-1)
    fields = [grf.sample(rng) for _ in range(n)]
    projected = project(np.stack([f(grid) for f in fields]), grf.n_modes)  # (n, K, K)
    coefficients = np.stack([f.coefficients for f in fields])
    scale = np.abs(coefficients).max()
    np.testing.assert_allclose(projected, coefficients, rtol=0, atol=1e-12 * scale)

    var = grf_spectrum(grf)
    var_hat = np.mean(projected**2, axis=0)  # centred: unbiased, standard error sqrt(2/n) var
    live = var > 0
    ratio = var_hat[live] / var[live]
    assert np.all(np.abs(ratio - 1) < N_SIGMA * np.sqrt(2.0 / n)), (ratio.min(), ratio.max())
    # all modes together: the mean of the independent ratios has standard error sqrt(2/(n M))
    assert abs(ratio.mean() - 1) < N_SIGMA * np.sqrt(2.0 / (n * ratio.size))
    # the dropped constant mode is exactly zero
    if grf.zero_mean:
        assert np.all(coefficients[:, 0, 0] == 0)


@pytest.mark.parametrize("name", list(GRFS))
def test_spatial_mean_is_the_constant_mode(name: str) -> None:
    """int g = c_00 (every other e_k integrates to zero), so zero_mean=True gives mean zero.

    The mean is taken by the midpoint rule on a 64 x 64 grid, exact for these cosine series.
    """
    grf = GRFS[name]
    rng = np.random.default_rng(4)
    t = midpoints(64)
    grid = np.stack(np.meshgrid(t, t, indexing="ij"), axis=-1)
    fields = [grf.sample(rng) for _ in range(50)]
    means = np.array([f(grid).mean() for f in fields])
    c00 = np.array([f.coefficients[0, 0] for f in fields])
    sd = np.sqrt(grf.variance(np.array([0.5, 0.5])))
    np.testing.assert_allclose(means, c00, rtol=0, atol=1e-13 * sd)
    if grf.zero_mean:
        assert np.all(np.abs(means) < 1e-13 * sd)
    else:  # the constant mode is genuinely there
        assert np.std(c00) > 0.5 * np.sqrt(grf_spectrum(grf)[0, 0])


@pytest.mark.parametrize(("alpha", "tau"), [(2.0, 3.0), (3.0, 3.0), (2.5, 5.0), (1.5, 0.5)])
def test_sigma_none_is_tau_to_alpha_minus_one(alpha: float, tau: float) -> None:
    implicit = GaussianRandomField(alpha=alpha, tau=tau, sigma=None, n_modes=8)
    explicit = GaussianRandomField(alpha=alpha, tau=tau, sigma=tau ** (alpha - 1), n_modes=8)
    assert implicit.amplitude == pytest.approx(tau ** (alpha - 1), rel=1e-14)
    np.testing.assert_allclose(implicit.mode_std(), explicit.mode_std(), rtol=1e-14)
    a = implicit.sample(np.random.default_rng(5)).coefficients
    b = explicit.sample(np.random.default_rng(5)).coefficients
    np.testing.assert_allclose(a, b, rtol=1e-14)
    # sigma is a pure amplitude: doubling it quadruples the variance
    doubled = GaussianRandomField(alpha=alpha, tau=tau, sigma=2 * tau ** (alpha - 1), n_modes=8)
    x = np.array([[0.3, 0.6], [0.0, 1.0]])
    np.testing.assert_allclose(doubled.variance(x), 4 * implicit.variance(x), rtol=1e-13)


@pytest.mark.parametrize("shape", [(6, 6), (4, 7), (1, 1)])
def test_spectral_field_is_the_double_sum(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(6)
    c = rng.standard_normal(shape)
    field = SpectralField(c)
    x = rng.uniform(0, 1, size=(3, 5, 2))
    expected = np.zeros((3, 5))
    for k in range(shape[0]):
        for ell in range(shape[1]):
            expected += c[k, ell] * e(k, x[..., 0]) * e(ell, x[..., 1])
    got = field(x)
    assert got.shape == (3, 5)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # a single point (shape (2,)) gives a scalar
    assert np.ndim(field(x[0, 0])) == 0
    assert float(field(x[0, 0])) == pytest.approx(expected[0, 0], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    "sampler",
    [GaussianRandomField(), TwoPhaseField(), TwoPhaseField(resolution="exact"), LogNormalField()],
    ids=["grf", "twophase-nodal", "twophase-exact", "lognormal"],
)
def test_sampling_is_deterministic_in_the_seed(sampler) -> None:
    x = np.random.default_rng(7).uniform(0, 1, size=(200, 2))
    a = sampler.sample(np.random.default_rng(123))(x)
    b = sampler.sample(np.random.default_rng(123))(x)
    c = sampler.sample(np.random.default_rng(124))(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("kwargs", [{"alpha": 0.0}, {"tau": -1.0}, {"n_modes": 0}, {"sigma": 0.0}, {"sigma": -2.0}])
def test_grf_rejects_invalid_parameters(kwargs) -> None:
    with pytest.raises(ValueError):
        GaussianRandomField(**kwargs)


# ---------------------------------------------------------------------------------- two phases


def high_fraction(field, x: np.ndarray, a_hi: float) -> float:
    return float(np.mean(field(x) == a_hi))


@pytest.mark.parametrize("level", [0.0, 0.2])
def test_phase_fraction_matches_gaussian_exceedance(level: float) -> None:
    """E[fraction of nodes with g >= L] = mean over nodes of P(g(x) >= L) = mean Phi(-L / sd(x)).

    At level 0 that is exactly 1/2 by symmetry. The samples are independent, so the standard
    error of the mean fraction is the sample standard deviation over sqrt(N).
    """
    sampler = TwoPhaseField(level=level)
    rng = np.random.default_rng(8)
    nodes = unit_square_nodes(sampler.n_nodes)
    n = 1000
    fractions = np.array([high_fraction(sampler.sample(rng), nodes, sampler.a_hi) for _ in range(n)])
    expected = np.mean(ndtr(-level / np.sqrt(sampler.grf.variance(nodes))))
    if level == 0.0:
        assert expected == 0.5
    se = fractions.std(ddof=1) / np.sqrt(n)
    assert abs(fractions.mean() - expected) < N_SIGMA * se, (fractions.mean(), expected, se)


def test_raising_the_level_shrinks_the_high_phase() -> None:
    """Same seed, higher level: the high phase of each sample is a subset, strictly smaller on average."""
    nodes = unit_square_nodes(29)
    levels = [-0.2, 0.0, 0.2, 0.4]
    fractions = []
    for seed in range(100):
        fields = [TwoPhaseField(level=lv).sample(np.random.default_rng(seed)) for lv in levels]
        high = [f(nodes) == 10.0 for f in fields]
        for lower, upper in itertools.pairwise(high):
            assert np.all(upper <= lower)  # {g >= L'} is contained in {g >= L} for L' > L
        fractions.append([h.mean() for h in high])
    mean = np.mean(fractions, axis=0)
    assert np.all(np.diff(mean) < -0.05), mean


@pytest.mark.parametrize("resolution", ["nodal", "exact"])
def test_two_phase_takes_only_the_two_values(resolution: str) -> None:
    sampler = TwoPhaseField(a_lo=0.3, a_hi=7.5, resolution=resolution)
    rng = np.random.default_rng(9)
    x = np.concatenate([rng.uniform(0, 1, size=(2000, 2)), unit_square_nodes(29).reshape(-1, 2)])
    for _ in range(5):
        v = sampler.sample(rng)(x)
        assert set(np.unique(v)) == {0.3, 7.5}


def test_nearest_node_owns_its_pixel() -> None:
    """Points less than half a pixel from node (i, j) (inside the square) return that node's value;
    points just across a pixel edge (i + 1/2)/(n - 1) return the neighbour's."""
    n = 29
    rng = np.random.default_rng(10)
    values = rng.permutation(n * n).reshape(n, n).astype(float)  # all distinct
    field = NearestNodeField(values)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    for _ in range(20):
        offset = rng.uniform(-0.499, 0.499, size=(n, n, 2))
        x = np.clip((np.stack([i, j], axis=-1) + offset) / (n - 1), 0.0, 1.0)
        np.testing.assert_array_equal(field(x), values)

    eps = 1e-6  # pixel units: far above rounding, far below a pixel
    ii, jj = np.meshgrid(np.arange(n - 1), np.arange(n), indexing="ij")  # every interior x-edge
    y = jj / (n - 1)
    below = np.stack([(ii + 0.5 - eps) / (n - 1), y], axis=-1)
    above = np.stack([(ii + 0.5 + eps) / (n - 1), y], axis=-1)
    np.testing.assert_array_equal(field(below), values[ii, jj])
    np.testing.assert_array_equal(field(above), values[ii + 1, jj])
    # the same across the y-edges
    np.testing.assert_array_equal(field(below[..., ::-1]), values[jj, ii])
    np.testing.assert_array_equal(field(above[..., ::-1]), values[jj, ii + 1])


def test_nodal_and_exact_agree_at_the_nodes() -> None:
    nodes = unit_square_nodes(29)
    for seed in range(10):
        nodal = TwoPhaseField(resolution="nodal").sample(np.random.default_rng(seed))
        exact = TwoPhaseField(resolution="exact").sample(np.random.default_rng(seed))
        assert isinstance(nodal, NearestNodeField)
        assert isinstance(exact, ThresholdField)
        np.testing.assert_array_equal(nodal(nodes), exact(nodes))
        np.testing.assert_array_equal(nodal.values, exact(nodes))
        # off the nodes the nodal field takes the exact field's value at the nearest node
        x = np.random.default_rng(seed).uniform(0, 1, size=(500, 2))
        nearest = np.rint(x * 28) / 28
        np.testing.assert_array_equal(nodal(x), exact(nearest))
    # and the exact field is the threshold of its GRF: a_hi exactly where g >= level
    x = np.random.default_rng(11).uniform(0, 1, size=(1000, 2))
    np.testing.assert_array_equal(exact(x), np.where(exact.g(x) >= 0.0, 10.0, 5.0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"a_lo": 10.0, "a_hi": 5.0},
        {"a_lo": 5.0, "a_hi": 5.0},
        {"a_lo": 0.0, "a_hi": 5.0},
        {"a_lo": -1.0, "a_hi": 5.0},
        {"resolution": "bilinear"},
        {"resolution": "Nodal"},
    ],
)
def test_two_phase_rejects_invalid_arguments(kwargs) -> None:
    with pytest.raises(ValueError):
        TwoPhaseField(**kwargs)


# ---------------------------------------------------------------------------------- log-normal


def test_lognormal_is_positive_and_the_exponential_of_its_grf() -> None:
    sampler = LogNormalField(mean=-0.4)
    rng = np.random.default_rng(12)
    x = np.concatenate([rng.uniform(0, 1, size=(1000, 2)), unit_square_nodes(29).reshape(-1, 2)])
    for _ in range(50):
        field = sampler.sample(rng)
        assert isinstance(field, ExpField)
        a = field(x)
        assert np.all(a > 0)
        np.testing.assert_allclose(np.log(a), -0.4 + field.g(x), rtol=0, atol=1e-13)


def test_lognormal_log_mean_and_variance() -> None:
    """log a = mean + g with g centred: mean(log a) ~ mean at 5 standard errors sd(x)/sqrt(N), and
    the sample variance of log a ~ grf.variance (standard error sqrt(2/(N-1)) var)."""
    sampler = LogNormalField(mean=0.7)
    rng = np.random.default_rng(13)
    x = np.array([[0.5, 0.5], [0.2, 0.9], [0.0, 0.0], [1.0, 0.5]])
    n = 4000
    log_a = np.log(np.stack([sampler.sample(rng)(x) for _ in range(n)]))
    var = sampler.grf.variance(x)
    assert np.all(np.abs(log_a.mean(axis=0) - 0.7) < N_SIGMA * np.sqrt(var / n))
    assert np.all(np.abs(log_a.var(axis=0, ddof=1) / var - 1) < N_SIGMA * np.sqrt(2.0 / (n - 1)))
