"""train.ema: a moving average of the weights is what is validated, chosen as best and loaded; it equals the
average written out by hand, it survives a resume bit for bit, and a bad decay is a clear config error."""

from __future__ import annotations

import json

import pytest
import torch

from dgno.config.build import run_training
from dgno.config.runs import load_run
from dgno.config.schema import load_config
from dgno.errors import DgnoError
from dgno.evaluate.metrics import evaluate
from dgno.reference.dataset import load_h5
from dgno.training import load_checkpoint
from support import TINY_EMA as TINY


@pytest.fixture
def data_dir(pwc_data):
    return pwc_data


def _args(folder, *extra):
    return [*TINY, f"data.dir={folder}", "data.preset=darcy-pwc", *extra]


def test_ema_is_the_hand_written_average_and_is_what_is_validated_and_loaded(data_dir, tmp_path):
    # The average of a run's raw weights, step by step: rerun the same training one step at a time (resuming), so
    # that every step's raw weights are seen, and fold them in by hand.
    steps, decay = 4, 0.8
    run = tmp_path / "stepwise"
    by_hand = None
    for k in range(1, steps + 1):
        run_training(load_config(None, _args(data_dir, f"train.steps={k}")), run, resume=k > 1, progress=False)
        raw = load_checkpoint(run / "last.pt")["model"]
        if by_hand is None:
            by_hand = {n: v.clone() for n, v in raw.items()}
        else:
            for n, v in raw.items():
                if v.is_floating_point() and n not in ("x_a", "a_mean", "a_std"):
                    by_hand[n] = decay * by_hand[n] + (1 - decay) * v
    straight = tmp_path / "straight"
    run_training(load_config(None, _args(data_dir)), straight, progress=False)
    ck, resumed = load_checkpoint(straight / "last.pt"), load_checkpoint(run / "last.pt")
    assert ck["ema_n"] == resumed["ema_n"] == steps
    for n in ck["model"]:
        assert torch.equal(ck["model"][n], resumed["model"][n]), n  # resuming changes nothing
        assert torch.equal(ck["ema"][n], resumed["ema"][n]), n
        torch.testing.assert_close(ck["ema"][n], by_hand[n], rtol=1e-5, atol=1e-6, msg=n)
    assert any(not torch.equal(ck["ema"][n], ck["model"][n]) for n in ck["model"])  # the average is not the last
    # the validated model is the average: the logged validation error is the average's
    _, model, _ = load_run(straight, checkpoint="last")
    val = load_h5(data_dir / "val.h5")
    got = evaluate(model, torch.as_tensor(val.a, dtype=torch.float32), torch.as_tensor(val.u, dtype=torch.float32),
                   torch.as_tensor(val.x_u, dtype=torch.float32))["rel_l2_mean"]
    rows = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in rows if "val_rel_l2_mean" in r and r["step"] == steps][-1]["val_rel_l2_mean"]
    assert got == pytest.approx(logged, rel=1e-5)
    best = load_checkpoint(straight / "best.pt")
    assert best["best_val"] == pytest.approx(min(r["val_rel_l2_mean"] for r in rows if "val_rel_l2_mean" in r))
    assert json.loads((straight / "summary.json").read_text())["ema"] == decay


@pytest.mark.parametrize("value", ["1.0", "0", "-0.5", "nan"])
def test_bad_ema_decay_is_a_config_error(value):
    with pytest.raises(DgnoError, match=r"train\.ema"):
        load_config(None, [f"train.ema={value}"])
