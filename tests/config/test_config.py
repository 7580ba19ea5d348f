"""The config schema: strict YAML loading, dotted overrides, every shipped config builds a model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dgno.config.build import build_model, weak_layout
from dgno.config.schema import Config, from_dict, load_config, to_dict
from dgno.errors import DgnoError
from dgno.fields import unit_square_nodes

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def test_overrides_and_yaml_number_forms():
    cfg = load_config(None, ["train.lr=1e-3", "model.encoder.hidden=[64, 32]", "train.max_minutes=null"])
    assert cfg.train.lr == 1e-3 and cfg.model.encoder.hidden == (64, 32) and cfg.train.max_minutes is None
    assert from_dict(Config, to_dict(cfg)) == cfg  # the saved form round-trips


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("train.lrr=1", "unknown config key(s) train.lrr"),
        ("train.steps=abc", "train.steps: expected int"),
        ("model.encoder=3", "model.encoder: expected a mapping"),
        ("nothing", "section.key=value"),
        ("physics.particles=1.5", "physics.particles: expected int"),
    ],
)
def test_bad_config_values_are_named(override, needle):
    with pytest.raises(DgnoError, match=None) as exc:
        load_config(None, [override])
    assert needle in str(exc.value)


def test_bad_yaml_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(DgnoError, match="invalid YAML"):
        load_config(bad)
    with pytest.raises(DgnoError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_build(path):
    cfg = load_config(path)
    if cfg.data.preset == "burgers":  # the initial condition at 128 points of [-1, 1]
        x = torch.linspace(-1, 1, 128)[:, None]
    else:
        x = torch.tensor(unit_square_nodes(29), dtype=torch.float32)
    model = build_model(cfg, x_a=x, a_mean=torch.zeros(x.shape[:-1]), a_std=torch.ones(x.shape[:-1]))
    weak_layout(cfg)
    if path.stem in ("darcy_pwc", "darcy_pwc_paper"):  # the reference's architecture, exactly
        assert sum(p.numel() for p in model.parameters()) == 1_437_476


def test_unknown_names_are_errors():
    for override, needle in (("physics.pde=heat", "unknown pde"), ("model.field.act_trunk=swoosh", "activation"),
                             ("physics.precisions={weak: 1.0}", "constitutive")):
        cfg = load_config(None, [override])
        with pytest.raises(DgnoError, match=needle):
            build_model(cfg, x_a=torch.zeros(29, 29, 2), a_mean=torch.zeros(29, 29), a_std=torch.ones(29, 29))


@pytest.mark.parametrize(("overrides", "needle"), [
    (["train.optimizer=lbfgs"], "train.optimizer: unknown optimizer 'lbfgs'"),
    (["train.betas=[0.9]"], "train.betas: must be two decays"),
    (["train.betas=[0.9, 1.0]"], "train.betas: must be two decays"),
    (["train.precondition_frequency=0"], "train.precondition_frequency"),
    (["train.optimizer=soap", "train.cuda_graph=true"], "train.cuda_graph: a CUDA graph replays one fixed step"),
])
def test_optimizer_keys_are_checked(overrides, needle):
    with pytest.raises(DgnoError, match=needle):
        load_config(None, overrides)


@pytest.mark.parametrize("name", ["adam", "adamw", "soap"])
def test_each_optimizer_lowers_a_quadratic(name):
    """Every train.optimizer is built from the config (betas included) and minimises a convex quadratic whose
    Hessian is ill-conditioned (condition number 100), the setting where SOAP's preconditioner should help."""
    from dgno.config.build import optimiser

    cfg = load_config(None, [f"train.optimizer={name}", "train.lr=2e-2", "train.weight_decay=0",
                             "train.betas=[0.9, 0.99]", "train.precondition_frequency=2"])
    w = torch.nn.Parameter(torch.ones(4, 3))
    opt = optimiser(cfg, [w])
    assert opt.param_groups[0]["betas"] == (0.9, 0.99)
    scale = torch.logspace(0, 2, 12).reshape(4, 3)
    start = float((scale * w.detach() ** 2).sum())
    for _ in range(200):
        opt.zero_grad()
        (scale * w**2).sum().backward()
        opt.step()
    assert float((scale * w.detach() ** 2).sum()) < 0.05 * start
