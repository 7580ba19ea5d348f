"""The baselines on Stokes flow around the cylinder (the equal-budget comparison's irregular domain): what the problem
declares for them (strong form, masked grid, interpolation between mesh and grid), the models' losses, and
`dgno bench --preset stokes-cylinder` on a tiny generated data set."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dgno.bench import method_config
from dgno.cli import main
from dgno.config import get_preset
from dgno.config.build import build_model
from dgno.config.schema import PHYSICS_METHODS, load_config
from dgno.models.baselines import ONetOperator, count_parameters, through_grid, uniform_points
from dgno.nn.multionet import Jet
from dgno.pdes.stokes import CENTER, MU, RADIUS, Stokes, stokes_fd_residual
from dgno.reference.dataset import load_h5
from dgno.reference.generate import SplitCounts, generate
from dgno.reference.stokes import MeshSpec
from support import tiny_configs

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "compare"
BASELINES = ["pi-deeponet", "deeponet", "multionet", "pino", "fno"]
U0 = 1.5  # Poiseuille centre-line speed
TINY_COMMON = ["train.batch_size=4", "train.val_every=10", "train.log_every=1", "train.threads=1",
               "train.max_minutes=null", "train.val_seconds=null", "train.checkpoint_every=10"]
TINY = {
    "dgno": ["model.latent_dim=8", "model.encoder.hidden=[16]", "model.field.width=8", "model.field.depth=3",
             "model.field.n_sum=2", "physics.particles=8", "physics.quadrature_n=3",
             "physics.pde_args={boundary_points: 8}"],
    "onet": ["model.latent_dim=8", "model.encoder.hidden=[16]", "model.field.width=12", "model.field.depth=3",
             "physics.particles=32", "physics.pde_args={boundary_points: 8}"],
    "fno": ["model.fno.modes=3", "model.fno.width=6", "model.fno.layers=2", "model.fno.proj=8",
            "physics.pde_args={grid_cells: 8}"],
}


def tiny(method: str) -> list[str]:
    family = "dgno" if method == "dgno" else "fno" if method in ("pino", "fno") else "onet"
    extra = [f"model.field.n_sum={1 if 'deeponet' in method else 2}"] if family == "onet" else []
    return [*TINY_COMMON, *TINY[family], *extra]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """stokes-cylinder on the coarse mesh (481 vertices): 8 training inputs, 4 validation, 3 test, 2 OOD (2 s)."""
    out = tmp_path_factory.mktemp("stokes")
    preset = dataclasses.replace(get_preset("stokes-cylinder"), mesh=MeshSpec(size=2.0))
    generate(preset, out, counts=SplitCounts(train=8, val=4, test=3, ood=2), seed=0)
    return out


# ------------------------------------------------------------------------------------- the exact flow
def poiseuille(x: torch.Tensor, *, wrong_pressure: bool = False) -> dict[str, Jet]:
    """u = 4 U0 y (1 - y), v = 0, p = 8 mu U0 (2 - x) (zero at the outflow) as jets over (1, N) at points x (N, 2):
    an exact Stokes flow of the channel without the cylinder. ``wrong_pressure`` doubles the pressure gradient."""
    X, Y = x[:, 0], x[:, 1]
    zero = torch.zeros_like(X)
    slope = 8 * MU * U0 * (2 if wrong_pressure else 1)
    u_hess = torch.zeros(*x.shape, 2, dtype=x.dtype)
    u_hess[:, 1, 1] = -8 * U0
    u = Jet(4 * U0 * Y * (1 - Y), torch.stack([zero, 4 * U0 * (1 - 2 * Y)], -1), u_hess)
    v = Jet(zero, torch.zeros_like(x), torch.zeros(*x.shape, 2, dtype=x.dtype))
    p = Jet(slope * (2 - X), torch.stack([-slope + zero, zero], -1), torch.zeros(*x.shape, 2, dtype=x.dtype))
    return {name: Jet(*(t[None] for t in jet)) for name, jet in zip("uvp", (u, v, p), strict=True)}


def test_strong_residual_vanishes_for_an_exact_flow_and_not_for_a_wrong_pressure_gradient():
    problem = Stokes()
    x = uniform_points(problem.domain, 500, torch.Generator().manual_seed(0))
    assert bool((((x - torch.tensor(CENTER, dtype=x.dtype)) ** 2).sum(-1) > RADIUS**2).all())  # in the fluid
    r = problem.strong_residual(poiseuille(x), None)
    assert r.shape == (1, 500, 3) and r.abs().max() < 1e-12
    wrong = problem.strong_residual(poiseuille(x, wrong_pressure=True), None)
    torch.testing.assert_close(wrong[..., 0], torch.full_like(wrong[..., 0], -8 * MU * U0))  # momentum x only
    assert wrong[..., 1:].abs().max() < 1e-12
    # boundary terms: no slip on the channel walls (not on the cylinder), v = 0 at the inflow, do-nothing outflow
    parts = {p.name: p.sample(64, torch.Generator().manual_seed(1)) for p in problem.domain.boundaries}
    terms = problem.strong_boundary_residuals({k: poiseuille(v) for k, v in parts.items()}, None)
    on_lines = (parts["wall"][:, 1] == 0) | (parts["wall"][:, 1] == 1)
    assert terms["wall"].shape == (1, 64, 2) and terms["wall"][0, on_lines].abs().max() < 1e-12
    assert terms["wall"][0, ~on_lines].abs().max() > 0.1  # the flow runs through the cylinder
    assert terms["inflow"].abs().max() == 0 and terms["outflow"].abs().max() < 1e-12
    shifted = {k: poiseuille(v) for k, v in parts.items()}
    shifted["outflow"]["p"] = Jet(shifted["outflow"]["p"].value + 0.1, None, None)  # p = 0.1 at x = 2
    torch.testing.assert_close(problem.strong_boundary_residuals(shifted, None)["outflow"][..., 0],
                               torch.full((1, 64), -0.1, dtype=x.dtype))


class ExactNet(nn.Module):
    """A stand-in for one output's network: the Poiseuille field's jet, whatever beta (plus a parameter)."""

    def __init__(self, name: str, wrong_pressure: bool = False) -> None:
        super().__init__()
        self.name, self.wrong = name, wrong_pressure
        self.scale = nn.Parameter(torch.ones((), dtype=torch.float64))

    def jet(self, x: torch.Tensor, beta: torch.Tensor, order: int = 1) -> Jet:
        jet = poiseuille(x, wrong_pressure=self.wrong)[self.name]
        return Jet(*(None if t is None else self.scale * t.expand(beta.shape[0], *t.shape[1:]) for t in jet))


def _model(method: str, ds, extra=()) -> torch.nn.Module:
    cfg = load_config(method_config(CONFIGS, "stokes-cylinder", method), [*tiny(method), *extra])
    a = torch.from_numpy(ds.a)
    model = build_model(cfg, x_a=torch.from_numpy(ds.x_a), a_mean=a.mean(0), a_std=a.std(0).clamp_min(1e-6),
                        triangles=torch.from_numpy(np.asarray(ds.extras["triangles"])))
    return model.double()


def test_pi_deeponet_loss_of_an_exact_flow_has_no_residual_and_each_boundary_term(data_dir):
    """With exact networks the PI-DeepONet's residual term (at collocation points in the fluid) vanishes; the wall
    term sees the cylinder, which Poiseuille flow ignores; a wrong pressure gradient shows in the residual."""
    ds = load_h5(data_dir / "test.h5")
    model = _model("pi-deeponet", ds)
    assert isinstance(model, ONetOperator) and model.output_names == ("u", "v", "p")
    a, x_u = torch.from_numpy(ds.a), torch.from_numpy(ds.x_u)
    model.nets = nn.ModuleDict({n: ExactNet(n) for n in "uvp"})
    out = model.loss(a, None, x_u=x_u, generator=torch.Generator().manual_seed(0))
    assert set(out.parts) == {"residual", "wall", "inflow", "outflow", "boundary"}
    assert out.parts["residual"] < 1e-20 and out.parts["inflow"] == 0 and out.parts["outflow"] < 1e-20
    assert out.parts["wall"] > 1e-3 and out.parts["boundary"] > 1e-3  # the cylinder; a is no parabola
    model.nets = nn.ModuleDict({n: ExactNet(n, wrong_pressure=True) for n in "uvp"})
    wrong = model.loss(a, None, x_u=x_u, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(wrong.parts["residual"], torch.tensor((8 * MU * U0) ** 2 / 3, dtype=torch.float64))


def test_pi_deeponet_strong_residual_from_jets_matches_autograd(data_dir):
    ds = load_h5(data_dir / "test.h5")
    model = _model("pi-deeponet", ds)
    a = torch.from_numpy(ds.a)
    x = uniform_points(model.problem.domain, 12, torch.Generator().manual_seed(2)).requires_grad_(True)
    beta = model.encoder(model.normalise(a))
    jets = model.field_jets(beta, a, x, 2)
    r = model.problem.strong_residual(jets, None)  # (B, N, 3)
    values = {n: j.value for n, j in model.field_jets(beta, a, x, 0).items()}

    def derivatives(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # grad (N, 2), Laplacian (N,)
        g = torch.autograd.grad(f.sum(), x, create_graph=True)[0]
        lap = sum(torch.autograd.grad(g[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(2))
        return g, lap

    for b in range(a.shape[0]):
        (gu, lu), (gv, lv), (gp, _) = (derivatives(values[n][b]) for n in "uvp")
        want = torch.stack([-MU * lu + gp[:, 0], -MU * lv + gp[:, 1], gu[:, 0] + gv[:, 1]], -1)
        torch.testing.assert_close(r[b], want)
    assert r.abs().max() > 1e-3


# ------------------------------------------------------------------------------------------ the grid
def test_grid_residual_vanishes_for_an_exact_flow_away_from_the_staircase():
    problem = Stokes(grid_cells=16)
    x_g = problem.grid_nodes(torch.zeros(1, 2, dtype=torch.float64))
    assert x_g.shape == (33, 17, 2) and x_g[-1, -1].tolist() == [2.0, 1.0]
    solid = ~problem.grid_mask(x_g)
    m = problem.grid_multiplier(x_g)
    assert int(solid.sum()) > 0 and m[solid][:, :2].abs().max() == 0  # no velocity inside the cylinder
    assert m[:, [0, -1], :2].abs().max() == 0 and m[0, :, 1].abs().max() == 0 and m[0, 1:-1, 0].min() == 1

    def field(wrong: bool) -> torch.Tensor:
        jets = poiseuille(x_g.reshape(-1, 2), wrong_pressure=wrong)
        w = torch.stack([jets[n].value[0] for n in "uvp"], -1).reshape(1, *x_g.shape[:-1], 3)
        return w * m  # the staircase: zero velocity at the solid nodes

    r = stokes_fd_residual(field(False), h=1 / 16, solid=solid, mu=MU)  # (1, 31, 15, 3)
    near = torch.nn.functional.max_pool2d(solid[None, None].double(), 3, stride=1)[0, 0].bool()  # (31, 15)
    assert r[0, ~near].abs().max() < 1e-10  # every stencil in the fluid: exact for quadratic u, linear p
    assert r[0, near & ~solid[1:-1, 1:-1]].abs().max() > 1e-2  # next to the staircase: Poiseuille is no solution
    assert problem.grid_residual(field(False), None, x_g).shape == (1, int((~solid[1:-1, 1:-1]).sum()), 3)
    assert problem.grid_boundary_residuals(field(False), None, x_g)["outflow"].abs().max() < 1e-12
    wrong = stokes_fd_residual(field(True), h=1 / 16, solid=solid, mu=MU)
    torch.testing.assert_close(wrong[0, ~near][:, 0], torch.full_like(wrong[0, ~near][:, 0], -8 * MU * U0))
    with pytest.raises(ValueError, match="grid_nodes"):
        problem.grid_residual(field(False)[:, :-1], None, x_g[:-1])


def test_pino_loss_is_the_grid_residual_the_outflow_and_the_inflow_misfit(data_dir):
    ds = load_h5(data_dir / "test.h5")
    model = _model("pino", ds)
    problem = model.problem
    a, x_u = torch.from_numpy(ds.a), torch.from_numpy(ds.x_u)
    x_g = problem.grid_nodes(x_u)

    class Exact(nn.Module):  # raw output: the Poiseuille field on the grid, whatever the input
        def forward(self, v):
            jets = poiseuille(x_g.reshape(-1, 2))
            w = torch.stack([jets[n].value[0] for n in "uvp"], -1).reshape(*x_g.shape[:-1], 3)
            return w.expand(v.shape[0], *w.shape)

    model.net = Exact()
    out = model.loss(a, None, x_u=x_u)
    w = model.on_grid(a, x_g)
    assert set(out.parts) == {"residual", "outflow", "boundary"}
    torch.testing.assert_close(out.parts["residual"], problem.grid_residual(w, a, x_g).pow(2).mean())
    assert out.parts["outflow"] < 1e-20
    at = problem.grid_to_points(w, x_g, model.input_points())[..., 0]
    torch.testing.assert_close(out.parts["boundary"], (at - a).pow(2).mean())
    u = model(a, x_u)  # at the mesh vertices
    assert u.shape == ds.u.shape and torch.isfinite(u).all()


def test_mesh_to_grid_to_mesh_of_a_smooth_field_is_accurate(data_dir):
    """Linear interpolation on the mesh's triangles onto the grid (checked against matplotlib's own interpolator),
    then bilinear back to the vertices: a smooth field comes back to a few 1e-3 (the velocity next to the
    staircase excepted, which the multiplier sets to zero)."""
    import matplotlib.tri as mtri

    ds = load_h5(data_dir / "test.h5")
    x_u, tri = torch.from_numpy(ds.x_u), torch.from_numpy(np.asarray(ds.extras["triangles"]))
    problem = Stokes(grid_cells=32)
    x_g = problem.grid_nodes(x_u)

    def smooth(x: torch.Tensor) -> torch.Tensor:  # (N, 2) -> (N, 3), each component a smooth function
        X, Y = x[..., 0], x[..., 1]
        return torch.stack([torch.sin(2 * X) * Y * (1 - Y), torch.cos(X + Y), 1 + X * Y], -1)

    f = smooth(x_u)[None]  # (1, Nv, 3)
    index, weight = problem.grid_transfer(x_u, tri, x_g)
    on_grid = (f[:, index] * weight[..., None]).sum(2)[0]  # (G, 3)
    nodes = x_g.reshape(-1, 2)
    fluid = problem.grid_mask(x_g).reshape(-1)
    mesh = mtri.Triangulation(ds.x_u[:, 0], ds.x_u[:, 1], np.asarray(ds.extras["triangles"]))
    want = mtri.LinearTriInterpolator(mesh, f[0, :, 1].numpy())(nodes[:, 0].numpy(), nodes[:, 1].numpy())
    np.testing.assert_allclose(on_grid[fluid, 1].numpy(), np.asarray(want)[fluid.numpy()], atol=1e-12)
    assert (on_grid[fluid] - smooth(nodes)[fluid]).abs().max() < 5e-3  # the coarse mesh's interpolation error
    back = through_grid(problem, f, x_u, tri)[0]  # (Nv, 3)
    h = 1 / 32  # away from the zero velocity of the staircase, the walls and (v) the inflow: a cell or more
    away = (((x_u - torch.tensor(CENTER, dtype=x_u.dtype)).norm(dim=-1) > RADIUS + 2 * h)
            & (x_u[:, 1] >= h) & (x_u[:, 1] <= 1 - h) & (x_u[:, 0] >= h))
    assert (back[away] - f[0, away]).abs().max() < 5e-3
    # the pressure next to the cylinder: an average of the cell's fluid nodes only (first order, |grad p| h)
    assert (back[:, 2] - f[0, :, 2]).abs().max() < 0.03


# ------------------------------------------------------------------------------------------ the models
@pytest.mark.parametrize("method", BASELINES)
def test_each_baseline_has_a_finite_loss_and_gradients(method, data_dir):
    ds = load_h5(data_dir / "test.h5")
    model = _model(method, ds)
    a, u, x_u = (torch.from_numpy(v) for v in (ds.a, ds.u, ds.x_u))
    labels = {} if method in PHYSICS_METHODS else {"u": u, "labeled": torch.ones(a.shape[0], dtype=torch.bool)}
    out = model.loss(a, None, x_u=x_u, generator=torch.Generator().manual_seed(0), **labels)
    assert torch.isfinite(out.total) and out.total > 0
    out.total.backward()
    bad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert bad == [] and count_parameters(model) > 0
    assert model.predict(a, x_u)["u"].shape == u.shape  # (B, Nv, 3) at the vertices, like the data


def test_the_comparison_configs_are_comparable_in_size_and_budget():
    sizes = {}
    for m in ["dgno", *BASELINES]:
        cfg = load_config(method_config(CONFIGS, "stokes-cylinder", m))
        assert cfg.model.kind == m and cfg.physics.pde == "stokes" and cfg.data.preset == "stokes-cylinder"
        assert cfg.train.max_minutes == 10 and cfg.train.val_seconds == 30
        x_a = torch.stack([torch.zeros(256), torch.linspace(0, 1, 256)], -1)
        sizes[m] = count_parameters(build_model(cfg, x_a=x_a, a_mean=torch.zeros(256), a_std=torch.ones(256)))
    assert all(0.9 < n / sizes["dgno"] < 1.1 for n in sizes.values()), sizes


def test_bench_runs_every_method_and_reports_u_v_p(data_dir, tmp_path, monkeypatch):
    import dgno.training.loop

    plot, plotted = dgno.training.loop.plot_predictions, []

    def plot_first(*args, **kwargs):  # the end-of-training plot (seconds each) for the first method only
        if not plotted:
            plotted.append(plot(*args, **kwargs))

    monkeypatch.setattr(dgno.training.loop, "plot_predictions", plot_first)
    methods = ["dgno", "pi-deeponet", "pino", "deeponet", "multionet", "fno"]  # the table's order
    root = tiny_configs(tmp_path, methods, preset="stokes-cylinder", overrides=lambda m: [*tiny(m), "train.steps=3"],
                        val_seconds=None)
    results = tmp_path / "results"
    assert main(["bench", "--preset", "stokes-cylinder", "--budget-minutes", "1", "--methods", ",".join(methods),
                 "--data", str(data_dir), "--runs", str(tmp_path / "runs"), "--results", str(results),
                 "--configs", str(root), "--threads", "1"]) == 0
    result = json.loads((results / "compare_stokes-cylinder.json").read_text())
    assert result["complete"] and [r["method"] for r in result["methods"]] == methods
    for r in result["methods"]:
        assert r["steps"] == 3 and r["outputs"] == ["u", "v", "p"] and r["val_curve"], r["method"]
        for split in ("test", "test_ood_b46"):
            assert all(0 < r[split][f"{n}_rel_l2_mean"] < 100 for n in "uvp"), (r["method"], r[split])
        assert r["labels_used"] == (0 if r["method"] in PHYSICS_METHODS else 8)
    floor = result["grid_interpolation_floor"]
    assert set(floor) == {"test", "test_ood_b46"} and all(0 < e < 0.5 for e in floor["test"].values())
    assert plotted and (tmp_path / "runs" / "stokes-cylinder" / "dgno" / "predictions_val.png").is_file()
    table = (results / "compare_stokes-cylinder.md").read_text()
    for text in ("test u rel L2", "test v rel L2", "test p rel L2", "OOD b46 (u / v / p)", "PI-DeepONet", "FNO",
                 "Grid-interpolation floor"):
        assert text in table, text
