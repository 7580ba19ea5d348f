"""benchmarks/lbfgs_finish.py: each round's L-BFGS lowers the loss on its fixed sample, the validation error is
logged per round, and the best model on validation is a run folder that load_run reads."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from dgno.config import get_preset
from dgno.config.build import run_training
from dgno.config.runs import load_run
from dgno.config.schema import load_config
from dgno.reference import SplitCounts, generate
from support import TINY_EMA as TINY


def _script():
    spec = importlib.util.spec_from_file_location(
        "lbfgs_finish", Path(__file__).resolve().parents[2] / "benchmarks" / "lbfgs_finish.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lbfgs_rounds_lower_their_loss_and_keep_the_best_on_validation(tmp_path):
    data = tmp_path / "data"
    generate(get_preset("darcy-pwc"), data, counts=SplitCounts(train=8, val=3, test=2, ood=1), seed=0)
    run = tmp_path / "run"
    run_training(load_config(None, [*TINY, f"data.dir={data}", "data.preset=darcy-pwc", "train.ema=null"]), run,
                 progress=False)
    out = tmp_path / "finish"
    summary = _script().main(["--run", str(run), "--minutes", "0.02", "--batch", "4", "--iters", "3",
                              "--out", str(out)])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert summary["rounds"] == len(rows) - 1 >= 1
    for r in rows[1:]:
        assert r["loss_after"] < r["loss_before"]
    assert summary["best_val"] == pytest.approx(min(r["val_u_rel_l2_mean"] for r in rows))
    _, model, _ = load_run(out)  # OUT is a run folder: its best.pt and the run's config
    _, start, _ = load_run(run, checkpoint="last")
    changed = any(not torch.equal(p, q) for p, q in zip(model.parameters(), start.parameters(), strict=True))
    assert changed == (summary["best_val"] < rows[0]["val_u_rel_l2_mean"])  # best.pt is the start unless beaten


def test_lbfgs_finish_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(SystemExit, match="not a run folder"):
        _script().main(["--run", str(tmp_path), "--minutes", "1", "--out", str(tmp_path / "o")])
