"""The training loop, checkpoints and resume, and the train/evaluate/predict commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dgno.cli import main
from dgno.config import get_preset
from dgno.config.build import run_training as train
from dgno.config.schema import load_config
from dgno.reference import Dataset, SplitCounts, generate, load_h5, save_h5
from dgno.training import load_checkpoint
from support import TINY


@pytest.fixture
def data_dir(pwc_data):
    return pwc_data


def _cfg(data_dir, *extra):
    return load_config(None, [*TINY, f"data.dir={data_dir}", "data.preset=darcy-pwc", *extra])


def _params(run):
    return load_checkpoint(run / "last.pt")["model"]


def test_resume_continues_exactly(data_dir, tmp_path):
    """N steps in one go equal k steps, a stop, a resume and N - k steps."""
    train(_cfg(data_dir, "train.steps=7"), tmp_path / "straight", progress=False)
    train(_cfg(data_dir, "train.steps=3"), tmp_path / "resumed", progress=False)
    train(_cfg(data_dir, "train.steps=7"), tmp_path / "resumed", resume=True, progress=False)
    a, b = _params(tmp_path / "straight"), _params(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_run_folder_contents_and_best_is_chosen_on_validation(data_dir, tmp_path):
    run = tmp_path / "run"
    summary = train(_cfg(data_dir, "train.steps=9"), run, progress=False)
    for name in ("config.yaml", "last.pt", "best.pt", "metrics.jsonl", "summary.json", "curves.png",
                 "predictions_val.png"):
        assert (run / name).exists(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r["val_u_rel_l2_mean"] for r in rows if "val_u_rel_l2_mean" in r]
    assert summary["best_val_u_rel_l2"] == min(val) and len(val) == 3
    best = load_checkpoint(run / "best.pt")
    assert best["best_val"] == min(val) and best["config"]["train"]["steps"] == 9
    assert {"optimizer", "scheduler", "rng", "order", "version", "step"} <= set(best)


def test_physics_only_training_never_needs_solutions(data_dir, tmp_path):
    ds = load_h5(data_dir / "train.h5")
    inputs_only = tmp_path / "data"
    save_h5(Dataset(a=ds.a, u=None, x_a=ds.x_a, x_u=ds.x_u, attrs=ds.attrs), inputs_only / "train.h5")
    (inputs_only / "val.h5").write_bytes((data_dir / "val.h5").read_bytes())
    summary = train(_cfg(inputs_only, "train.steps=2"), tmp_path / "run", progress=False)
    assert summary["steps"] == 2
    with pytest.raises(Exception, match="missing key"):
        train(_cfg(inputs_only, "train.steps=2", "data.n_labeled=2"), tmp_path / "run2", progress=False)


def test_cli_train_evaluate_predict(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "/dev/null/none.yaml", "--out", str(run)]) == 2  # no such config: one-line error
    config = tmp_path / "tiny.yaml"
    config.write_text("train:\n  steps: 4\n")
    assert main(["train", str(config), *TINY, f"data.dir={data_dir}", "--out", str(run), "--quiet"]) == 0
    report = tmp_path / "eval.json"
    assert main(["evaluate", str(run), "--data", str(data_dir / "test.h5"), "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    assert {"u_rel_l2_mean", "u_rel_l2_std", "a_rel_l2_mean", "n"} <= set(result) and result["n"] == 3
    assert (run / "predictions_test.png").exists()
    pred = tmp_path / "pred.h5"
    assert main(["predict", str(run), "--data", str(data_dir / "test.h5"), "--out", str(pred)]) == 0
    out = load_h5(pred)
    assert out.u.shape == (3, 29, 29) and np.all(out.u[:, 0, :] == 0) and "a_mode" in out.extras
    capsys.readouterr()


def test_evaluate_refuses_data_of_another_preset(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    train(_cfg(data_dir, "train.steps=1"), run, progress=False)
    smooth = tmp_path / "smooth"
    generate(get_preset("darcy-smooth"), smooth, counts=SplitCounts(train=1, val=1, test=1, ood=1), seed=0)
    assert main(["evaluate", str(run), "--data", str(smooth / "test.h5")]) == 2
    assert "does not match the run's 'darcy-pwc'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nope"), "--data", str(smooth / "test.h5")]) == 2
