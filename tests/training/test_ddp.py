"""Distributed data-parallel training (torchrun, gloo on CPU): k steps on 2 ranks with B/2 samples each equal k
steps in one process with batch B on the same samples, particles and encoder noise."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from dgno.config import get_preset
from dgno.config.build import run_training
from dgno.config.schema import load_config
from dgno.errors import DgnoError
from dgno.reference import SplitCounts, generate
from dgno.training import load_checkpoint
from dgno.training.distributed import DistInfo

TINY = [
    "model.latent_dim=8", "model.encoder.hidden=[16]", "model.field.width=12", "model.field.depth=3",
    "model.field.n_sum=2", "model.a_decoder.width=12", "model.a_decoder.depth=3", "model.a_decoder.n_sum=2",
    "physics.particles=12", "train.batch_size=4", "train.val_every=2", "train.checkpoint_every=2",
    "train.log_every=1", "train.lr=1e-3", "train.threads=1", "train.dtype=float64", "train.steps=4",
    "train.device=cpu", "model.encoder.variational=true",  # the noise must be split like the batch
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_pwc")
    generate(get_preset("darcy-pwc"), out, counts=SplitCounts(train=8, val=4, test=2, ood=1), seed=0)
    return out


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                             "MASTER_PORT")}
    return {**env, "OMP_NUM_THREADS": "1"}


@pytest.mark.parametrize("optimizer", ["adam", "soap"])
def test_ddp_two_ranks_equal_one_process(data_dir, tmp_path, optimizer):
    args = [*TINY, f"data.dir={data_dir}", "data.preset=darcy-pwc", f"train.optimizer={optimizer}",
            "train.precondition_frequency=2"]
    one = tmp_path / "one"
    run_training(load_config(None, args), one, progress=False)
    two = tmp_path / "two"
    config = tmp_path / "ddp.yaml"
    config.write_text("train:\n  seed: 0\n")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "dgno", "train", str(config), *args, "--out", str(two), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])  # printed once, by rank 0
    assert summary["processes"] == 2 and summary["steps"] == 4 and summary["samples_per_process"] == 2
    a, b = load_checkpoint(one / "last.pt"), load_checkpoint(two / "last.pt")
    assert a["model"].keys() == b["model"].keys()
    # float64: the gradients differ only in summation order (1e-16), which Adam's division by sqrt(v) amplifies
    # where a gradient is near zero (measured: at most 2.5e-10 after 4 steps); a wrong sample, particle or noise
    # share moves parameters by ~lr = 1e-3
    # SOAP rotates into the eigenbasis of the gradients' Kronecker factors, which are nearly rank-deficient after a
    # few steps: a 1e-16 difference picks another basis of a (near-)degenerate eigenspace and Adam's normalisation in
    # that basis moves the next steps by up to a few lr (measured: 6e-3 after 4 steps). The first two steps are
    # before any update in such a basis, so there the losses still agree to rounding.
    exact = 4 if optimizer == "adam" else 2
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=0, atol=1e-8 if optimizer == "adam" else 2e-2,
                                   msg=k)
    rows = {}
    for run in (one, two):  # the logged loss of 2 ranks is the mean of theirs: the one-process loss
        rows[run.name] = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()
                          if "loss" in json.loads(line)]
    assert len(rows["two"]) == 4
    torch.testing.assert_close(torch.tensor(rows["two"][:exact]), torch.tensor(rows["one"][:exact]), rtol=1e-12,
                               atol=0)
    torch.testing.assert_close(torch.tensor(rows["two"]), torch.tensor(rows["one"]), rtol=1e-5, atol=0)
    assert (two / "best.pt").exists() and (two / "summary.json").exists()


def test_ddp_batch_that_does_not_split_is_a_clear_error(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    cfg = load_config(None, [*TINY, f"data.dir={data_dir}", "data.preset=darcy-pwc"])
    with pytest.raises(DgnoError, match="batch_size = 4 must be divisible by the 3 processes"):
        run_training(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_ddp_ranks_take_contiguous_shares_of_the_global_batch():
    shares = [DistInfo(rank=r, world=4).local_slice(8) for r in range(4)]
    assert [(s.start, s.stop) for s in shares] == [(0, 2), (2, 4), (4, 6), (6, 8)]
