"""The baselines (PI-DeepONet, PI-MultiONet, PINO, supervised DeepONet/MultiONet/FNO, the peer FNO)
and the equal-budget comparison: losses, boundary condition, training through the CLI, dgno bench."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dgno.bench import available_methods, markdown_table, method_config, parse_methods
from dgno.cli import main
from dgno.config import get_preset
from dgno.config.schema import METHODS, PHYSICS_METHODS, load_config
from dgno.errors import DgnoError
from dgno.models.baselines import FieldOperator
from dgno.nn.fno import FNO2d, _complex_mix
from dgno.pdes import DarcyMixed
from dgno.pdes.darcy import GRID_RESIDUALS, darcy_fd_residual, darcy_fd_solve, sine_multiplier
from dgno.reference.dataset import load_h5
from dgno.reference.generate import SplitCounts, generate
from dgno.training.loop import to_device
from support import TINY_COMMON, tiny, tiny_configs

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "compare"
@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pwc")
    generate(get_preset("darcy-pwc"), out, counts=SplitCounts(train=8, val=4, test=3, ood=2), seed=0)
    return out


# ----------------------------------------------------------------------------------------- models
def grid_multiplier(x: torch.Tensor) -> torch.Tensor:
    """Darcy's boundary multiplier sin(pi x) sin(pi y) at the nodes x (*grid, 2): (*grid)."""
    return sine_multiplier(x.reshape(-1, 2), 0).value.reshape(x.shape[:-1])


def _field_operator(net, *, physics=True, n=29):
    x = torch.stack(torch.meshgrid(*[torch.linspace(0, 1, n, dtype=torch.float64)] * 2, indexing="ij"), -1)
    return FieldOperator(net, problem=DarcyMixed(source=10.0), x_a=x, a_mean=torch.zeros(n, n).double(),
                         a_std=torch.ones(n, n).double(), physics=physics)


def test_darcy_declares_its_grid_residuals_for_the_baselines():
    assert DarcyMixed.grid_schemes == tuple(GRID_RESIDUALS)


def test_every_baseline_vanishes_on_the_boundary(data_dir):
    ds = load_h5(data_dir / "test.h5")
    a = torch.from_numpy(ds.a)
    for method in METHODS:
        if method == "neuralop-fno" and not _has_neuralop():
            continue
        cfg = load_config(method_config(CONFIGS, "darcy-pwc", method), tiny(method))
        from dgno.config.build import build_model

        model = build_model(cfg, x_a=torch.from_numpy(ds.x_a).float(), a_mean=a.mean(0).float(),
                            a_std=a.std(0).float().clamp_min(1e-6))
        u = model.predict(a.float(), torch.from_numpy(ds.x_u).float())["u"]
        assert u.shape == a.shape, method
        for edge in (u[:, 0], u[:, -1], u[:, :, 0], u[:, :, -1]):
            assert edge.abs().max() < 1e-6, method


def test_physics_loss_is_the_mean_squared_grid_residual_and_vanishes_at_the_grid_solution(data_dir):
    ds = load_h5(data_dir / "test.h5")
    a = torch.from_numpy(ds.a)
    u_ref = darcy_fd_solve(a, 10.0)  # the grid solution (the data's u is a finer solve, sampled at the nodes)
    m = grid_multiplier(torch.from_numpy(ds.x_u))
    inside = m > 1e-12

    class Exact(torch.nn.Module):  # raw output u_ref / M in the interior: the model reproduces u_ref
        def forward(self, z):
            return torch.where(inside, u_ref / torch.where(inside, m, 1.0), 0.0)

    model = _field_operator(Exact())
    x_u = model.x_a
    out = model.loss(a, None, x_u=x_u)
    assert out.total.item() < 1e-6  # against 100 for u = 0 (rounding of u / M * M, times 1 / h^2)
    torch.testing.assert_close(model(a, x_u), u_ref, atol=1e-12, rtol=0)

    class Zero(torch.nn.Module):  # u = 0: the residual is -f at every interior node
        def forward(self, z):
            return torch.zeros_like(z)

    assert _field_operator(Zero()).loss(a, None, x_u=x_u).total.item() == pytest.approx(100.0)
    # a perturbed u: the loss is mean_b mean_nodes r^2 of the FD residual, the same scheme as the solver
    noisy = u_ref + 1e-3 * torch.randn(u_ref.shape, generator=torch.Generator().manual_seed(0), dtype=u_ref.dtype) * m
    r = darcy_fd_residual(noisy, a)
    want = r.pow(2).flatten(1).mean(1).mean()

    class Noisy(torch.nn.Module):
        def forward(self, z):
            return torch.where(inside, noisy / torch.where(inside, m, 1.0), 0.0)

    torch.testing.assert_close(_field_operator(Noisy()).loss(a, None, x_u=x_u).total, want)


def test_central_residual_variant_is_the_reference_baselines_loss(data_dir):
    ds = load_h5(data_dir / "test.h5")
    a = torch.from_numpy(ds.a)

    class Zero(torch.nn.Module):
        def forward(self, z):
            return torch.zeros_like(z)

    model = _field_operator(Zero())
    model.scheme = "fd-central"
    assert model.loss(a, None, x_u=model.x_a).total.item() == pytest.approx(100.0)  # r = -f on the 25 x 25 nodes
    cfg = load_config(method_config(CONFIGS, "darcy-pwc", "pino-central"), tiny("pino"))
    assert cfg.model.kind == "pino" and cfg.physics.residual == "fd-central"
    with pytest.raises(DgnoError, match=r"physics\.residual"):
        from dgno.config.build import build_model

        bad = load_config(method_config(CONFIGS, "darcy-pwc", "pino"), [*tiny("pino"), "physics.residual=fem"])
        build_model(bad, x_a=torch.from_numpy(ds.x_a).float(), a_mean=a.mean(0).float(), a_std=a.std(0).float())


def test_supervised_loss_is_the_squared_relative_error_of_the_labeled_samples(data_dir):
    ds = load_h5(data_dir / "test.h5")
    a, u = torch.from_numpy(ds.a), torch.from_numpy(ds.u)

    class Half(torch.nn.Module):  # predicts 0.5 u: relative error 0.5 per sample
        def forward(self, z):
            m = grid_multiplier(torch.from_numpy(ds.x_u))
            return torch.where(m > 1e-12, 0.5 * u / torch.where(m > 1e-12, m, 1.0), 0.0)

    model = _field_operator(Half(), physics=False)
    out = model.loss(a, None, u=u, labeled=torch.tensor([True, True, False]), x_u=model.x_a)
    assert out.total.item() == pytest.approx(0.25 * 2 / 3, rel=1e-9)
    with pytest.raises(ValueError, match="labeled"):
        model.loss(a, None, x_u=model.x_a)


def test_complex_mode_mixing_equals_the_complex_einsum():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, 6, dtype=torch.cdouble, generator=g)
    w = torch.randn(4, 7, 5, 6, 2, dtype=torch.double, generator=g)
    want = torch.einsum("bixy,ioxy->boxy", x, torch.view_as_complex(w))
    torch.testing.assert_close(_complex_mix(x, w), want)


def test_fno_keeps_its_spectral_weights_through_dtype_casts():
    torch.manual_seed(0)
    model = FNO2d(modes=4, width=8, layers=2, padding=3, proj=16)
    a = torch.randn(2, 17, 17)
    u32 = model(a)
    u64 = to_device(model, torch.device("cpu"), torch.float64)(a.double())
    torch.testing.assert_close(u64.float(), u32, atol=1e-5, rtol=1e-4)


def _has_neuralop() -> bool:
    try:
        import neuralop  # noqa: F401
    except ImportError:
        return False
    return True


def test_peer_fno_adapter_keeps_complex_weights_and_saves_tensors_only():
    pytest.importorskip("neuralop")
    from dgno.models.baselines import NeuralOpFNO

    torch.manual_seed(0)
    net = NeuralOpFNO(modes=4, width=8, layers=2, padding=3)
    assert any(p.is_complex() for p in net.parameters())
    a = torch.randn(2, 17, 17)
    u = net(a)
    moved = to_device(net, torch.device("cpu"), torch.float32)
    assert any(p.is_complex() for p in moved.parameters())
    torch.testing.assert_close(moved(a), u)
    assert all(isinstance(v, torch.Tensor) for v in net.state_dict().values())


# ---------------------------------------------------------------------------- training through the CLI
@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_from_its_config_through_the_cli_and_its_loss_falls(method, data_dir, tmp_path, capsys):
    if method == "neuralop-fno":
        pytest.importorskip("neuralop")
    run = tmp_path / method
    config = method_config(CONFIGS, "darcy-pwc", method)
    args = ["train", str(config), *tiny(method), f"data.dir={data_dir}", "train.steps=40", "--out", str(run), "--quiet"]
    assert main(args) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 40 and np.isfinite(losses).all()
    # DGNO's tiny loss is dominated by -log p(a | beta), which moves slowly (2.60 -> 2.55 in 40 steps);
    # the baselines' residual or data losses fall by far more than 30 %
    factor = 0.99 if method == "dgno" else 0.7
    assert np.mean(losses[-5:]) < factor * np.mean(losses[:3]), (method, losses[:3], losses[-5:])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["method"] == method and summary["parameters"] > 0
    assert summary["labels_used"] == (0 if method in PHYSICS_METHODS else 8)
    report = tmp_path / "eval.json"
    assert main(["evaluate", str(run), "--data", str(data_dir / "test.h5"), "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert result["n"] == 3 and ("a_rel_l2_mean" in result) == (method == "dgno")
    capsys.readouterr()


def test_supervised_method_without_labels_is_a_clear_error(data_dir, tmp_path, capsys):
    config = method_config(CONFIGS, "darcy-pwc", "fno")
    args = ["train", str(config), *tiny("fno"), "data.n_labeled=0", f"data.dir={data_dir}", "train.steps=2",
            "--out", str(tmp_path / "run"), "--quiet"]
    assert main(args) == 2
    assert "supervised" in capsys.readouterr().err


def test_a_baseline_run_cannot_be_inverted(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    config = method_config(CONFIGS, "darcy-pwc", "pino")
    assert main(["train", str(config), *tiny("pino"), f"data.dir={data_dir}", "train.steps=2", "--out", str(run),
                 "--quiet"]) == 0
    out = tmp_path / "inv"
    code = main(["invert", str(run), "--data", str(data_dir / "test.h5"), "--index", "0", "--n-obs", "10",
                 "--method", "map", "--out", str(out)])
    assert code == 2 and "a pino run has no generative latent" in capsys.readouterr().err
    assert not out.exists()


# ------------------------------------------------------------------------------------------ dgno bench
def test_bench_trains_every_method_for_the_budget_and_writes_the_comparison(data_dir, tmp_path, capsys):
    methods = ["dgno", "pi-multionet", "pino", "deeponet"]
    configs = tiny_configs(tmp_path, methods)
    results = tmp_path / "results"
    args = ["bench", "--preset", "darcy-pwc", "--budget-minutes", "0.02", "--methods", ",".join(methods),
            "--data", str(data_dir), "--runs", str(tmp_path / "runs"), "--results", str(results),
            "--configs", str(configs), "--threads", "1"]
    assert main(args) == 0
    result = json.loads((results / "compare_darcy-pwc.json").read_text())
    assert result["complete"] and [r["method"] for r in result["methods"]] == methods
    for r in result["methods"]:
        # 'seconds' is the time at the end of the last step; the budget check also counts the validation after it
        assert 0 < r["seconds"] < 0.02 * 60 + 30, r["method"]
        assert r["steps"] > 0 and r["val_curve"] and 0 < r["test"]["u_rel_l2_mean"] < 10
        assert {"test_ood_frac30", "test_ood_tau6"} <= set(r)
        assert r["physics_only"] == (r["method"] != "deeponet")
        assert r["labels_used"] == (8 if r["method"] == "deeponet" else 0)
    table = (results / "compare_darcy-pwc.md").read_text()
    for label in ("DGNO", "PI-MultiONet", "PINO", "DeepONet", "OOD tau6", "none (physics)"):
        assert label in table
    assert (results / "compare_darcy-pwc.png").stat().st_size > 0
    # --reuse keeps finished runs of the same method, budget and seed
    before = (tmp_path / "runs" / "darcy-pwc" / "pino" / "best.pt").stat().st_mtime_ns
    assert main([*args, "--methods", "pino", "--reuse"]) == 0
    assert (tmp_path / "runs" / "darcy-pwc" / "pino" / "best.pt").stat().st_mtime_ns == before
    assert "reusing" in capsys.readouterr().out


def test_bench_bad_input_is_a_clear_error_before_training(data_dir, tmp_path, capsys):
    def bench(*extra, budget="1", data=data_dir):
        return main(["bench", "--preset", "darcy-pwc", "--budget-minutes", budget, "--data", str(data),
                     "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results"), *extra])

    assert bench("--methods", "dgno,gpt") == 2
    assert "unknown method(s) gpt" in capsys.readouterr().err
    assert bench(data=tmp_path / "nowhere") == 2
    assert "dgno generate" in capsys.readouterr().err
    assert bench("--configs", str(tmp_path / "empty")) == 2
    assert "no config for method" in capsys.readouterr().err
    assert bench(budget="0") == 2
    assert "--budget-minutes must be positive" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()


def test_method_configs_exist_for_every_preset_and_method():
    from dgno.config import DATA_PRESETS

    # Stokes: no PI-MultiONet and no neuraloperator-FNO configs (the rest of the comparison is there)
    partial = {"stokes-cylinder": [m for m in METHODS if m not in ("pi-multionet", "neuralop-fno")]}
    for preset in DATA_PRESETS:
        for m in partial.get(preset, METHODS):
            cfg = load_config(method_config(CONFIGS, preset, m))
            assert cfg.model.kind == m
        expected = list(partial.get(preset, METHODS))
        assert available_methods(CONFIGS, preset)[: len(expected)] == expected


def test_parse_methods_and_table_of_skipped_methods():
    assert parse_methods(None) == list(METHODS)
    assert parse_methods(["dgno,pino", "fno", "pino"]) == ["dgno", "pino", "fno"]
    with pytest.raises(DgnoError):
        parse_methods(["dgno", "pinn"])
    # variants are config files of the preset's folder, run when named; the fine preset uses darcy-pwc's
    available = available_methods(CONFIGS, "darcy-pwc-fine")
    assert available[: len(METHODS)] == list(METHODS) and "pino-central" in available
    assert parse_methods(["pino,pino-central"], available) == ["pino", "pino-central"]
    table = markdown_table({"preset": "darcy-pwc", "budget_minutes": 1, "device": "cpu", "threads": 2,
                            "data_dir": "d", "methods": [{"method": "neuralop-fno", "skipped": "not installed"}]})
    assert "neuraloperator FNO: not run (not installed)" in table


# ------------------------------------------------------------------------------------ Burgers baselines
def _burgers_split(n: int, *, seed: int, amplitude: float = 1.0, n_x: int = 33, n_t: int = 21):
    """A small Burgers-shaped data set from a cheap formula (not a Burgers solve): a = sum_k c_k sin(k pi (x + 1)/2)
    on x = linspace(-1, 1, n_x), u the heat-equation decay of a at t = linspace(0, 1, n_t); x_u[i, j] = (x_j, t_i)."""
    from dgno.pdes.burgers import NU
    from dgno.reference.dataset import Dataset

    rng = np.random.default_rng(seed)
    x, t = np.linspace(-1, 1, n_x), np.linspace(0, 1, n_t)
    k = np.arange(1, 4)
    c = amplitude * rng.standard_normal((n, 3)) / k  # (n, K)
    modes = np.sin(0.5 * np.pi * (x[:, None] + 1) * k)  # (X, K)
    decay = np.exp(-NU * (0.5 * np.pi * k) ** 2 * t[:, None])  # (T, K)
    x_u = np.stack(np.meshgrid(x, t, indexing="xy"), -1)  # (T, X, 2): x_u[i, j] = (x_j, t_i)
    return Dataset(a=c @ modes.T, u=np.einsum("nk,tk,xk->ntx", c, decay, modes), x_a=x[:, None], x_u=x_u,
                   attrs={"preset": "burgers", "seed": seed})


@pytest.fixture(scope="module")
def burgers_dir(tmp_path_factory):
    from dgno.reference.dataset import save_h5

    out = tmp_path_factory.mktemp("burgers")
    for seed, (split, n, amplitude) in enumerate([("train", 8, 1.0), ("val", 4, 1.0), ("test", 3, 1.0),
                                                  ("test_ood_amp15", 2, 1.5)]):
        save_h5(_burgers_split(n, seed=seed, amplitude=amplitude), out / f"{split}.h5")
    return out


BURGERS_TINY = {
    "dgno": ["model.latent_dim=8", "model.encoder.hidden=[16]", "model.field.width=12", "model.field.depth=3",
             "model.field.n_sum=2", "physics.levels=5"],
    "onet": ["model.latent_dim=8", "model.encoder.hidden=[16]", "model.field.width=12", "model.field.depth=3",
             "physics.particles=64"],
    "fno": ["model.fno.modes=4", "model.fno.width=8", "model.fno.layers=2", "model.fno.proj=16",
            "model.fno.padding=3"],
}


def tiny_burgers(method: str) -> list[str]:
    family = "dgno" if method == "dgno" else "fno" if "fno" in method or method == "pino" else "onet"
    extra = [] if method in PHYSICS_METHODS else ["data.n_labeled=8"]
    if family == "onet":
        extra.append(f"model.field.n_sum={1 if 'deeponet' in method else 2}")
    return [*TINY_COMMON, *BURGERS_TINY[family], *extra]


def _manufactured(x: torch.Tensor, t: torch.Tensor):
    """u = sin(pi x) exp(-t) with its Burgers residual f = u_t + u u_x - nu u_xx (not zero: u is no solution)."""
    from dgno.pdes.burgers import NU

    u = torch.sin(torch.pi * x) * torch.exp(-t)
    u_x = torch.pi * torch.cos(torch.pi * x) * torch.exp(-t)
    return u, -u + u * u_x + NU * torch.pi**2 * u


def _space_time_grid(n_t: int, n_x: int) -> torch.Tensor:
    """x_u (T, X, 2) with x_u[i, j] = (x_j, t_i), float64."""
    x, t = torch.linspace(-1, 1, n_x, dtype=torch.float64), torch.linspace(0, 1, n_t, dtype=torch.float64)
    return torch.stack(torch.meshgrid(x, t, indexing="xy"), -1)


def test_burgers_grid_residual_is_second_order_on_a_manufactured_field():
    from dgno.pdes import Burgers

    errors = []
    for n_t, n_x in [(21, 41), (41, 81), (81, 161)]:  # dt and dx halved together
        x_u = _space_time_grid(n_t, n_x)
        u, f = _manufactured(x_u[..., 0], x_u[..., 1])  # (T, X)
        r = Burgers().grid_residual(u[None], None, x_u)  # (1, T - 1, X - 2): rows 1..T-1, inner columns
        assert r.shape == (1, n_t - 1, n_x - 2)
        interior = (r[0, :-1] - f[1:-1, 1:-1]).abs().max()  # central differences
        final = (r[0, -1] - f[-1, 1:-1]).abs().max()  # the backward difference at t = 1
        errors.append([interior.item(), final.item()])
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))  # (refinements, 2)
    assert np.all((orders > 1.9) & (orders < 2.1)), orders
    with pytest.raises(ValueError, match="uniform grid"):
        Burgers().grid_residual(u[None], None, x_u.transpose(0, 1))  # x-major: not the t-major layout


def test_burgers_grid_input_is_the_initial_condition_at_every_time():
    from dgno.pdes import Burgers

    x_u = _space_time_grid(5, 9)
    a = torch.randn(2, 9, dtype=torch.float64)
    v = Burgers().grid_input(a, x_u[0, :, :1], x_u)  # (B, T, X)
    torch.testing.assert_close(v, a[:, None].expand(2, 5, 9), atol=0, rtol=0)
    half = Burgers().grid_input(a, x_u[0, :, :1], (x_u[:, :-1] + x_u[:, 1:]) / 2)  # midpoints: linear interpolation
    torch.testing.assert_close(half, ((a[:, :-1] + a[:, 1:]) / 2)[:, None].expand(2, 5, 8))


def _burgers_model(method: str, ds, *, dtype=torch.float64):
    from dgno.config.build import build_model

    cfg = load_config(method_config(CONFIGS, "burgers", method), tiny_burgers(method))
    a = torch.from_numpy(ds.a)
    model = build_model(cfg, x_a=torch.from_numpy(ds.x_a).float(), a_mean=a.mean(0).float(),
                        a_std=a.std(0).float().clamp_min(1e-6))
    return to_device(model, torch.device("cpu"), dtype)


def test_burgers_strong_residual_from_jets_matches_autograd():
    """u = cos(pi x / 2) G(a)(x, t): u_t + u u_x - nu u_xx from the forward-mode jets (and the multiplier's
    product rule) equals the same expression from reverse-mode autograd of the value."""
    from dgno.pdes import Burgers
    from dgno.pdes.burgers import NU

    ds = _burgers_split(3, seed=0)
    model = _burgers_model("pi-multionet", ds)
    with torch.no_grad():  # non-zero summation weights: the initial MultiONet output is the constant b0
        model.net.w.copy_(torch.tensor([0.7, -1.3]))
    a = torch.from_numpy(ds.a)
    x = torch.rand(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * torch.tensor([2.0, 1.0])
    x = (x - torch.tensor([1.0, 0.0])).requires_grad_(True)
    beta = model.encoder(model.normalise(a))
    jet = model.jets(beta, a, x, 2)
    r_jet = Burgers().strong_residual({"u": jet}, None)  # (B, N)
    u = model.jets(beta, a, x, 0).value  # (B, N)
    for b in range(a.shape[0]):
        g = torch.autograd.grad(u[b].sum(), x, create_graph=True)[0]  # (N, 2): u_x, u_t at each point
        u_xx = torch.autograd.grad(g[:, 0].sum(), x, create_graph=True)[0][:, 0]  # (N,)
        torch.testing.assert_close(r_jet[b], g[:, 1] + u[b] * g[:, 0] - NU * u_xx)
    assert r_jet.abs().max() > 1e-3  # not a trivially vanishing field


def test_burgers_collocation_loss_is_the_strong_residual_plus_the_initial_misfit():
    from dgno.models.baselines import uniform_points
    from dgno.pdes import Burgers

    ds = _burgers_split(3, seed=0)
    model = _burgers_model("pi-deeponet", ds)
    a, x_u = torch.from_numpy(ds.a), torch.from_numpy(ds.x_u)
    out = model.loss(a, None, x_u=x_u, generator=torch.Generator().manual_seed(5))
    x = uniform_points(Burgers().domain, 64, torch.Generator().manual_seed(5))  # the same 64 points
    assert x.min(0).values.tolist() >= [-1.0, 0.0] and x.max(0).values.tolist() <= [1.0, 1.0]
    beta = model.encoder(model.normalise(a))
    r = Burgers().strong_residual({"u": model.jets(beta, a, x, 2)}, None)
    u0 = model.jets(beta, a, torch.cat([x_u[0, :, :1], torch.zeros(33, 1, dtype=x.dtype)], -1), 0).value
    torch.testing.assert_close(out.parts["residual"], 0.1 * r.pow(2).mean())  # residual_weight 0.1 in the config
    torch.testing.assert_close(out.parts["initial"], (u0 - a).pow(2).mean())
    # the model's own draws: a counter in the state (so a resumed run draws what an uninterrupted one would)
    first = model.collocation_points()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    second = model.collocation_points()
    model.load_state_dict(state)
    torch.testing.assert_close(model.collocation_points(), second)
    assert not torch.equal(first, second) and int(model.draws) == 3


def test_burgers_pino_loss_is_the_grid_residual_plus_the_initial_misfit():
    """A net whose output makes u = sin(pi x) exp(-t) on the grid: the loss parts are 0.1 mean r^2 of the grid
    residual and the mean squared misfit of u(x, 0) with a; the net reads a(x) at every time."""
    from dgno.pdes import Burgers

    ds = _burgers_split(2, seed=0)
    model = _burgers_model("pino", ds)
    a, x_u = torch.from_numpy(ds.a), torch.from_numpy(ds.x_u)
    g, _ = _manufactured(x_u[..., 0], x_u[..., 1])  # (T, X)
    m = torch.cos(torch.pi * x_u[..., 0] / 2)
    inside = m > 1e-12

    class Manufactured(torch.nn.Module):
        def forward(self, v):  # v (B, T, X): the normalised a(x), the same at every time
            torch.testing.assert_close(v, model.normalise(a)[:, None].expand_as(v), atol=0, rtol=0)
            return torch.where(inside, g / torch.where(inside, m, 1.0), 0.0).expand_as(v)

    model.net = Manufactured()
    out = model.loss(a, None, x_u=x_u)
    u = model(a, x_u)
    torch.testing.assert_close(u, g.expand_as(u), atol=1e-12, rtol=0)
    r = Burgers().grid_residual(u, a, x_u)
    torch.testing.assert_close(out.parts["residual"], 0.1 * r.pow(2).mean())
    torch.testing.assert_close(out.parts["initial"], (g[0] - a).pow(2).mean())
    assert set(out.parts) == {"residual", "initial"}


BURGERS_METHODS = [m for m in METHODS if m != "dgno"]


@pytest.mark.parametrize("method", BURGERS_METHODS)
def test_every_burgers_baseline_trains_through_the_cli_and_evaluates(method, burgers_dir, tmp_path, capsys):
    if method == "neuralop-fno":
        pytest.importorskip("neuralop")
    run = tmp_path / method
    config = method_config(CONFIGS, "burgers", method)
    args = ["train", str(config), *tiny_burgers(method), f"data.dir={burgers_dir}", "train.steps=3", "--out",
            str(run), "--quiet"]
    assert main(args) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 3 and np.isfinite(losses).all()
    if method in PHYSICS_METHODS:
        assert {"residual", "initial"} <= set(rows[0])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["labels_used"] == (0 if method in PHYSICS_METHODS else 8)
    report = tmp_path / "eval.json"
    assert main(["evaluate", str(run), "--data", str(burgers_dir / "test.h5"), "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert result["n"] == 3 and 0 < result["u_rel_l2_mean"] < 10
    # u = 0 at x = +-1 exactly, at every time
    from dgno.config.runs import load_run

    _, model, _ = load_run(run, checkpoint="last")
    ds = load_h5(burgers_dir / "test.h5")
    u = model.predict(torch.from_numpy(ds.a).float(), torch.from_numpy(ds.x_u).float())["u"]
    assert u.shape == ds.u.shape and u[..., [0, -1]].abs().max() < 1e-6
    capsys.readouterr()


def test_burgers_configs_exist_for_every_method():
    for m in METHODS:
        cfg = load_config(method_config(CONFIGS, "burgers", m))
        assert cfg.model.kind == m and cfg.physics.pde == "burgers" and cfg.data.preset == "burgers"
        assert cfg.train.max_minutes == 15 and cfg.data.dir == "data/burgers"


def test_bench_on_burgers_has_no_grid_floor_and_reads_the_ood_splits_present(burgers_dir, tmp_path):
    from dgno.config import DATA_PRESETS

    if "burgers" not in DATA_PRESETS:
        pytest.skip("the burgers preset is not registered yet")
    methods = ["dgno", "pi-deeponet", "pino", "fno"]
    root = tiny_configs(tmp_path, methods, preset="burgers",
                        overrides=lambda m: [o for o in tiny_burgers(m) if not o.startswith("data.n_labeled")])
    results = tmp_path / "results"
    assert main(["bench", "--preset", "burgers", "--budget-minutes", "0.01", "--methods", ",".join(methods),
                 "--data", str(burgers_dir), "--runs", str(tmp_path / "runs"), "--results", str(results),
                 "--configs", str(root), "--threads", "1"]) == 0
    result = json.loads((results / "compare_burgers.json").read_text())
    assert result["complete"] and not result["grid_residual_floor"]
    assert [r["method"] for r in result["methods"]] == methods
    for r in result["methods"]:
        assert r["steps"] > 0 and "test_ood_amp15" in r and 0 < r["test"]["u_rel_l2_mean"] < 10
    table = (results / "compare_burgers.md").read_text()
    assert "OOD amp15" in table and "0.0093" in table and "Grid-residual floor" not in table
