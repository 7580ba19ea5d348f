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
from dgno.models.baselines import FieldOperator, grid_multiplier
from dgno.nn.fno import FNO2d, _complex_mix
from dgno.pdes.darcy import darcy_fd_residual, darcy_fd_solve
from dgno.reference.dataset import load_h5
from dgno.reference.generate import SplitCounts, generate
from dgno.train.loop import to_device

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "compare"
# small networks, every step logged, no time-based validation, one thread
TINY_COMMON = ["train.batch_size=4", "train.val_every=10", "train.log_every=1", "train.threads=1",
               "train.max_minutes=null", "train.val_seconds=null", "train.compile=false", "train.checkpoint_every=10"]
TINY = {
    "dgno": ["model.latent_dim=8", "model.encoder.hidden=[16]", "model.field.width=12", "model.field.depth=3",
             "model.field.n_sum=2", "model.a_decoder.width=12", "model.a_decoder.depth=3", "model.a_decoder.n_sum=2",
             "physics.particles=12", "train.lr=1e-3"],
    "onet": ["model.latent_dim=16", "model.encoder.channels=[1,8,8]", "model.encoder.fc=[16]",
             "model.field.width=16", "model.field.depth=3"],
    "fno": ["model.fno.modes=4", "model.fno.width=8", "model.fno.layers=2", "model.fno.proj=16"],
}


def tiny(method: str) -> list[str]:
    family = "dgno" if method == "dgno" else "fno" if "fno" in method or method == "pino" else "onet"
    extra = [] if method in PHYSICS_METHODS else ["data.n_labeled=8"]
    if family == "onet":
        extra.append(f"model.field.n_sum={1 if 'deeponet' in method else 2}")
    return [*TINY_COMMON, *TINY[family], *extra]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pwc")
    generate(get_preset("darcy-pwc"), out, counts=SplitCounts(train=8, val=4, test=3, ood=2), seed=0)
    return out


# ----------------------------------------------------------------------------------------- models
def _field_operator(net, *, physics=True, n=29):
    x = torch.stack(torch.meshgrid(*[torch.linspace(0, 1, n, dtype=torch.float64)] * 2, indexing="ij"), -1)
    return FieldOperator(net, x_a=x, a_mean=torch.zeros(n, n).double(), a_std=torch.ones(n, n).double(),
                         physics=physics, source=10.0)


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
    out = model.loss(a, None)
    assert out.total.item() < 1e-6  # against 100 for u = 0 (rounding of u / M * M, times 1 / h^2)
    torch.testing.assert_close(model(a), u_ref, atol=1e-12, rtol=0)

    class Zero(torch.nn.Module):  # u = 0: the residual is -f at every interior node
        def forward(self, z):
            return torch.zeros_like(z)

    assert _field_operator(Zero()).loss(a, None).total.item() == pytest.approx(100.0)
    # a perturbed u: the loss is mean_b mean_nodes r^2 of the FD residual, the same scheme as the solver
    noisy = u_ref + 1e-3 * torch.randn(u_ref.shape, generator=torch.Generator().manual_seed(0), dtype=u_ref.dtype) * m
    r = darcy_fd_residual(noisy, a)
    want = r.pow(2).flatten(1).mean(1).mean()

    class Noisy(torch.nn.Module):
        def forward(self, z):
            return torch.where(inside, noisy / torch.where(inside, m, 1.0), 0.0)

    torch.testing.assert_close(_field_operator(Noisy()).loss(a, None).total, want)


def test_central_residual_variant_is_the_reference_baselines_loss(data_dir):
    ds = load_h5(data_dir / "test.h5")
    a = torch.from_numpy(ds.a)

    class Zero(torch.nn.Module):
        def forward(self, z):
            return torch.zeros_like(z)

    model = _field_operator(Zero())
    model.residual = "fd-central"
    assert model.loss(a, None).total.item() == pytest.approx(100.0)  # r = -f on the 25 x 25 inner nodes
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
    out = model.loss(a, None, u=u, labeled=torch.tensor([True, True, False]))
    assert out.total.item() == pytest.approx(0.25 * 2 / 3, rel=1e-9)
    with pytest.raises(ValueError, match="labeled"):
        model.loss(a, None)


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
    assert code == 2 and "only model.kind=dgno" in capsys.readouterr().err
    assert not out.exists()


# ------------------------------------------------------------------------------------------ dgno bench
def _tiny_configs(tmp_path: Path, methods) -> Path:
    """A configs folder with the repository's configs of ``methods``, shrunk by the tiny overrides."""
    import yaml

    from dgno.config.schema import apply_overrides

    root = tmp_path / "configs"
    (root / "darcy-pwc").mkdir(parents=True)
    for m in methods:
        data = yaml.safe_load(method_config(CONFIGS, "darcy-pwc", m).read_text())
        data = apply_overrides(data, [o for o in tiny(m) if not o.startswith("data.n_labeled")])
        data["train"]["val_seconds"] = 0.2
        (root / "darcy-pwc" / f"{m}.yaml").write_text(yaml.safe_dump(data))
    return root


def test_bench_trains_every_method_for_the_budget_and_writes_the_comparison(data_dir, tmp_path, capsys):
    methods = ["dgno", "pi-multionet", "pino", "deeponet"]
    configs = _tiny_configs(tmp_path, methods)
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

    for preset in DATA_PRESETS:
        for m in METHODS:
            cfg = load_config(method_config(CONFIGS, preset, m))
            assert cfg.model.kind == m


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
