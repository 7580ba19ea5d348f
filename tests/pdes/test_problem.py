"""The problem interface: layouts, constraints with lifts, outputs, input roles, boundary terms, Burgers' residual."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from dgno.config.registry import get_problem
from dgno.config.schema import PhysicsConfig
from dgno.errors import DgnoError
from dgno.evaluate.metrics import output_errors
from dgno.evaluate.plots import plot_predictions
from dgno.models import DGNO, GaussianField
from dgno.nn import ACTIVATIONS, MLPEncoder, MultiONet
from dgno.nn.multionet import Jet
from dgno.pdes import Burgers, Constraint, Darcy, Domain, FieldSpec, InputSpec, Output, field_output
from dgno.pdes.base import BoundaryPart, constrain, unit_box
from dgno.pdes.burgers import cosine_multiplier
from dgno.pdes.darcy import sine_multiplier
from dgno.weak import BallLayout, SliceLayout, WeakOptions, WithBoundary, gauss_rule


@pytest.fixture(autouse=True)
def _float64():
    """Float64 for the exactness checks of this module only."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _net(d_x: int, d_beta: int = 4, seed: int = 0) -> MultiONet:
    torch.manual_seed(seed)
    act = ACTIVATIONS["tanh_sin"]
    net = MultiONet(d_x, d_beta, width=12, depth=3, n_sum=2, act_trunk=act(), act_branch=act(), weight_init=0.5)
    return net.double()


def _autograd_jet(f, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Value (N,), gradient (N, d) and Hessian (N, d, d) of a pointwise scalar function by autograd."""
    x = x.clone().requires_grad_(True)
    value = f(x)
    grad = torch.autograd.grad(value.sum(), x, create_graph=True)[0]
    hess = torch.stack([torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True)[0] for i in range(x.shape[1])], 1)
    return value.detach(), grad.detach(), hess.detach()


# ------------------------------------------------------------------------------------------------ layouts
def test_slice_layout_puts_x_test_functions_on_time_levels():
    options = WeakOptions(particles=3, r_min=0.05, r_max=0.05, quadrature="grid", quadrature_n=10, levels=4)
    layout = SliceLayout.build(options, lower=(-1.0,), upper=(1.0,), levels=(0.0, 0.25, 0.5, 1.0), axis=1)
    pts = layout.sample(torch.Generator().manual_seed(0), dtype=torch.float64)
    assert pts.x.shape == (12, 10, 2) and pts.grad_v.shape == (12, 10, 2)
    np.testing.assert_allclose(pts.x[:, :, 1], np.repeat([0.0, 0.25, 0.5, 1.0], 3)[:, None].repeat(10, 1))
    assert torch.all(pts.grad_v[..., 1] == 0)  # no test-function derivative along t
    spread = pts.x[:, :, 0].amax(1) - pts.x[:, :, 0].amin(1)
    np.testing.assert_allclose(spread, 0.1, atol=1e-12)  # the 10-point rule spans [c - R, c + R]
    assert torch.all(pts.x[:, :, 0].abs() <= 1.0)
    assert torch.all(pts.v[:, [0, -1]] == 0) and torch.all(pts.v >= 0)  # Wendland vanishes at the ends


def test_with_boundary_adds_points_on_each_part():
    parts = Burgers().domain.boundaries
    layout = WithBoundary(BallLayout.build(WeakOptions(particles=5), lower=(-1.0, 0.0), upper=(1.0, 1.0)),
                          tuple((p.name, p.sample) for p in parts), n=7)
    pts = layout.sample(torch.Generator().manual_seed(1), dtype=torch.float64)
    assert set(pts.boundary) == {"left", "right", "initial"}
    assert torch.all(pts.boundary["left"][:, 0] == -1) and torch.all(pts.boundary["initial"][:, 1] == 0)
    assert pts.boundary["right"].shape == (7, 2)


def test_domain_contains_box_and_predicate():
    disk = Domain((0.0, 0.0), (2.0, 1.0), inside=lambda x: ((x - torch.tensor([0.5, 0.6])) ** 2).sum(-1) > 0.01)
    x = torch.tensor([[0.1, 0.1], [0.5, 0.6], [2.5, 0.5], [1.0, 1.0]])
    assert disk.contains(x).tolist() == [True, False, False, True]
    with pytest.raises(ValueError, match="lower < upper"):
        Domain((0.0,), (0.0,))


# ------------------------------------------------------------------------------------ constraints, outputs
@pytest.mark.parametrize("multiplier, lower", [(sine_multiplier, 0.0), (cosine_multiplier, -1.0)])
def test_multipliers_match_autograd(multiplier, lower):
    x = lower + (1 - lower) * torch.rand(9, 2, generator=torch.Generator().manual_seed(0))
    m = multiplier(x, 2)
    value, grad, hess = _autograd_jet(lambda z: multiplier(z, 0).value, x)
    torch.testing.assert_close(m.value, value)
    torch.testing.assert_close(m.grad, grad)
    torch.testing.assert_close(m.hess, hess)


def test_constraint_with_an_input_dependent_lift_obeys_the_product_rule():
    """u = g(x; a) + M(x) N(x): value, gradient and Hessian against autograd of the composed function."""
    net, beta = _net(2), torch.randn(2, 4, generator=torch.Generator().manual_seed(3))
    a = torch.tensor([[1.0], [2.0]])  # (B, 1): the lift scales with the input

    def lift(x, a, order):  # g = a * x0 * x1^2
        value = a * (x[:, 0] * x[:, 1] ** 2)[None]
        grad = a[..., None] * torch.stack([x[:, 1] ** 2, 2 * x[:, 0] * x[:, 1]], -1)[None]
        hess = a[..., None, None] * torch.stack([torch.stack([0 * x[:, 0], 2 * x[:, 1]], -1),
                                                 torch.stack([2 * x[:, 1], 2 * x[:, 0]], -1)], -2)[None]
        return Jet(value, grad, hess)

    constraint = Constraint(sine_multiplier, lift=lift)
    x = torch.rand(6, 2, generator=torch.Generator().manual_seed(4))
    jet = constrain(constraint, x, net.jet(x, beta, order=2), a, 2)
    for b in range(2):
        def u(z, b=b):
            return lift(z, a, 0).value[b] + sine_multiplier(z, 0).value * net(z, beta)[b]
        value, grad, hess = _autograd_jet(u, x)
        torch.testing.assert_close(jet.value[b], value)
        torch.testing.assert_close(jet.grad[b], grad)
        torch.testing.assert_close(jet.hess[b], hess)


@dataclass(frozen=True)
class _Stream:
    """A vector problem: velocity (psi_y, -psi_x) of a stream function, and a free pressure."""

    domain = unit_box(2)
    input = InputSpec("coefficient")
    fields = (FieldSpec("psi", order=1, constraint=Constraint(sine_multiplier)), FieldSpec("p", order=0))
    outputs = (Output("u", lambda j: j["psi"].grad[..., 1], 1, ("psi",)),
               Output("v", lambda j: -j["psi"].grad[..., 0], 1, ("psi",)), field_output("p"))
    terms = ("weak",)

    def weak_layout(self, options):
        return BallLayout.build(options, lower=(0.0, 0.0), upper=(1.0, 1.0))

    def coefficient(self, a, x):
        return None

    def residuals(self, fields, a, points):
        return {"weak": fields["p"].value.sum((-1, -2)) * 0}


def _model(problem, x_a, *, a_decoder=True):
    torch.manual_seed(0)
    return DGNO(encoder=MLPEncoder(x_a.shape[0], (8,), 4, ACTIVATIONS["silu"]()),
                decoders={f.name: _net(problem.domain.dim, seed=i) for i, f in enumerate(problem.fields)},
                a_decoder=_net(x_a.shape[-1]) if a_decoder else None, problem=problem,
                likelihood=GaussianField(0.1), x_a=x_a, a_mean=torch.zeros(x_a.shape[0]),
                a_std=torch.ones(x_a.shape[0]), precisions={"weak": 1.0}).double()


def test_vector_outputs_from_jets_at_shared_and_per_sample_points():
    model = _model(_Stream(), torch.rand(5, 2, generator=torch.Generator().manual_seed(0)))
    beta = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    x = torch.rand(7, 2, generator=torch.Generator().manual_seed(2))
    shared = model.outputs_at(beta, x)  # (3, 7, 3)
    per_sample = model.outputs_at_batch(beta, x.expand(3, 7, 2))
    torch.testing.assert_close(shared, per_sample)
    jets = model.fields_at(beta, x, order=1)
    torch.testing.assert_close(shared[..., 0], jets["psi"].grad[..., 1])
    torch.testing.assert_close(shared[..., 1], -jets["psi"].grad[..., 0])
    # the velocity is divergence free: d/dx psi_y - d/dy psi_x = 0 (second derivatives of psi)
    hess = model.fields_at(beta, x, order=2)["psi"].hess
    torch.testing.assert_close(hess[..., 0, 1] - hess[..., 1, 0], torch.zeros(3, 7))
    pred = model.predict(torch.randn(2, 5), torch.rand(4, 3, 2))["u"]
    assert pred.shape == (2, 4, 3, 3)  # (B, *grid, C)


def test_metrics_report_each_component_and_their_mean():
    true = torch.ones(4, 6, 2)
    pred = true.clone()
    pred[..., 0] *= 1.1  # u 10 % off, v exact
    out = output_errors(pred, true, ("u", "v"), n_grid=1)
    assert out["u_rel_l2_mean"] == pytest.approx(0.1) and out["v_rel_l2_mean"] == 0
    assert out["rel_l2_mean"] == pytest.approx(0.05)
    # a wrong denominator (the prediction's norm) would give 0.1 / 1.1
    assert output_errors(true * 0.5, true, ("u", "v"), 1)["rel_l2_mean"] == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------ input roles
def test_initial_condition_is_read_from_u_at_time_zero():
    x_a = torch.linspace(-1, 1, 9)[:, None]
    model = _model(Burgers(), x_a, a_decoder=False)
    beta = torch.randn(2, 4, generator=torch.Generator().manual_seed(0))
    at_zero = torch.cat([x_a, torch.zeros_like(x_a)], -1)
    torch.testing.assert_close(model.decode_a(beta), model.outputs_at(beta, at_zero)[..., 0])
    assert torch.allclose(model.decode_a(beta)[:, [0, -1]], torch.zeros(2, 2), atol=1e-12)  # u(+-1, t) = 0
    with pytest.raises(ValueError, match="input decoder"):
        _model(Burgers(), x_a, a_decoder=True)


# ----------------------------------------------------------------------------------- Burgers' residual
def _travelling_wave(nu: float, c: float = 0.2, amp: float = 0.5):
    """u = c - A tanh(A (x - c t) / (2 nu)), an exact solution of u_t + u u_x = nu u_xx."""
    def u(z):
        return c - amp * torch.tanh(amp * (z[:, 0] - c * z[:, 1]) / (2 * nu))
    return u


def _burgers_residual(problem: Burgers, wave, radius: float):
    options = WeakOptions(particles=5, r_min=radius, r_max=radius, quadrature="gauss", quadrature_n=8, levels=6)
    layout = problem.weak_layout(options)
    assert isinstance(layout, SliceLayout) and layout.rule.points.shape == gauss_rule(8, dim=1).points.shape
    pts = layout.sample(torch.Generator().manual_seed(0), dtype=torch.float64)
    value, grad, _ = _autograd_jet(wave, pts.points)
    jets = {"u": Jet(pts.unflatten(value[None]), pts.unflatten(grad[None], axis=1), None)}
    return problem.residuals(jets, None, pts)["weak"]


def test_burgers_weak_residual_vanishes_on_an_exact_solution():
    nu = 0.1 / math.pi
    wave = _travelling_wave(nu)
    exact = _burgers_residual(Burgers(nu=nu), wave, 0.05)
    wrong = _burgers_residual(Burgers(nu=2 * nu), wave, 0.05)
    assert exact.item() < 1e-12 and wrong.item() > 1e-4


def test_burgers_strong_residual_from_jets_vanishes_on_an_exact_solution():
    nu = 0.1 / math.pi
    wave = _travelling_wave(nu)
    x = torch.rand(20, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([2.0, 1.0])
    x = x - torch.tensor([1.0, 0.0])  # (x, t) in [-1, 1] x [0, 1]
    value, grad, hess = _autograd_jet(wave, x)
    r = Burgers(nu=nu).strong_residual({"u": Jet(value[None], grad[None], hess[None])}, None)
    assert r.abs().max() < 1e-12


# --------------------------------------------------------------------------------------- boundary terms
@dataclass(frozen=True)
class _Penalised:
    """-u'' = 0 on (0, 1) x (0, 1) in x only, with u = 1 on the left edge imposed by a penalty."""

    domain = Domain((0.0, 0.0), (1.0, 1.0), boundaries=(BoundaryPart("left", lambda n, g: torch.stack(
        [torch.zeros(n, dtype=torch.float64), torch.rand(n, generator=g, dtype=torch.float64)], -1)),))
    input = InputSpec("coefficient")
    fields = (FieldSpec("u", order=1),)
    outputs = (field_output("u"),)
    terms = ("weak", "left")

    def weak_layout(self, options):
        inner = BallLayout.build(options, lower=(0.0, 0.0), upper=(1.0, 1.0))
        return WithBoundary(inner, tuple((p.name, p.sample) for p in self.domain.boundaries), n=5)

    def coefficient(self, a, x):
        return None

    def residuals(self, fields, a, points):
        return {"weak": (points.average((fields["u"].grad * points.grad_v).sum(-1)) ** 2).sum(-1)}

    def boundary_residuals(self, fields, a):
        return {"left": ((fields["left"]["u"].value - 1) ** 2).sum(-1)}


def test_boundary_penalty_terms_reach_the_loss():
    problem = _Penalised()
    model = _model(problem, torch.rand(5, 2, generator=torch.Generator().manual_seed(0)))
    model.precisions["left"] = 3.0
    pts = problem.weak_layout(WeakOptions(particles=4, r_min=0.1, r_max=0.1)).sample(
        torch.Generator().manual_seed(0), dtype=torch.float64)
    beta = torch.randn(2, 4, generator=torch.Generator().manual_seed(1))
    terms = model.physics_terms(beta, torch.zeros(2, 5), pts)
    u_left = model.outputs_at(beta, pts.boundary["left"])[..., 0]  # (2, 5)
    torch.testing.assert_close(terms["left"], 3.0 / 2 * ((u_left - 1) ** 2).sum(-1))


# ------------------------------------------------------------------------------------------- registry
def test_problems_by_name_and_by_file(tmp_path):
    assert isinstance(get_problem(PhysicsConfig(pde="darcy", interpolation="bicubic")), Darcy)
    assert get_problem(PhysicsConfig(pde="burgers", pde_args={"nu": 0.01})).nu == 0.01
    (tmp_path / "mine.py").write_text(
        "from dataclasses import dataclass\n@dataclass(frozen=True)\nclass Mine:\n    k: float = 1.0\n")
    assert get_problem(PhysicsConfig(pde=f"{tmp_path / 'mine.py'}:Mine", pde_args={"k": 2.0})).k == 2.0
    for pde, args, needle in ((f"{tmp_path / 'none.py'}:Mine", {}, "no such file"),
                              (f"{tmp_path / 'mine.py'}:Other", {}, "cannot load Other"),
                              ("burgers", {"viscosity": 1.0}, "bad physics.pde_args"),
                              ("burgers", {"nu": -1.0}, "nu must be positive"),
                              ("heat", {}, "unknown pde")):
        with pytest.raises(DgnoError, match=needle):
            get_problem(PhysicsConfig(pde=pde, pde_args=args))


# ------------------------------------------------------------------------------------------------ plots
def test_plots_choose_by_geometry(tmp_path):
    rng = np.random.default_rng(0)
    x_a = np.linspace(-1, 1, 16)[:, None]  # 1-D input: a line
    t, x = np.linspace(0, 1, 5), np.linspace(-1, 1, 16)
    x_u = np.stack(np.meshgrid(x, t, indexing="xy"), -1)  # (5, 16, 2), t-major (x, t)
    assert x_u[1, 0].tolist() == [-1.0, 0.25]
    u = rng.normal(size=(2, 5, 16))
    plot_predictions(x_a, x_u, rng.normal(size=(2, 16)), None, u, u * 1.01, tmp_path / "st.png")
    mesh = rng.uniform(size=(30, 2))  # scattered points: filled contours on a triangulation
    uv = rng.normal(size=(1, 30, 2))
    plot_predictions(mesh, mesh, rng.normal(size=(1, 30)), None, uv, uv, tmp_path / "mesh.png", names=("u", "v"))
    assert (tmp_path / "st.png").stat().st_size > 0 and (tmp_path / "mesh.png").stat().st_size > 0
