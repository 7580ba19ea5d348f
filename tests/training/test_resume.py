"""Resume after a crash: a real training process killed with SIGKILL at random moments (checkpointing every step,
so that kills land inside checkpoint writes too) resumes to the parameters of an uninterrupted run, bit for bit
on CPU; damaged checkpoints give a clear error naming the file, and the previous complete one stays usable."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from dgno.cli import main
from dgno.config import get_preset
from dgno.config.build import run_training
from dgno.config.schema import load_config
from dgno.errors import DgnoError
from dgno.reference import SplitCounts, generate
from dgno.training import load_checkpoint
from dgno.training.loop import load_resumable

STEPS = 40
TINY = [
    "model.latent_dim=8", "model.encoder.hidden=[16]", "model.field.width=12", "model.field.depth=3",
    "model.field.n_sum=2", "model.a_decoder.width=12", "model.a_decoder.depth=3", "model.a_decoder.n_sum=2",
    "physics.particles=12", "train.batch_size=3", "train.val_every=7", "train.checkpoint_every=1",
    "train.log_every=1", "train.lr=1e-3", "train.threads=1", "train.device=cpu", f"train.steps={STEPS}",
    "train.step_size=10", "model.encoder.variational=true",  # the encoder's noise must come back too
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume_pwc")
    generate(get_preset("darcy-pwc"), out, counts=SplitCounts(train=8, val=3, test=2, ood=1), seed=0)
    return out


def _args(data_dir):
    return [*TINY, f"data.dir={data_dir}", "data.preset=darcy-pwc"]


def _step_of(run) -> int:
    """The last logged training step (0 before the first)."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return 0
    steps = [json.loads(line)["step"] for line in path.read_text().splitlines()
             if line.endswith("}") and '"loss"' in line]
    return max(steps, default=0)


def _start(args, run, resume: bool) -> subprocess.Popen:
    config = run.parent / "resume.yaml"
    config.write_text("train:\n  seed: 0\n")
    cmd = [sys.executable, "-m", "dgno", "train", str(config), *args, "--out", str(run), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd + (["--resume"] if resume else []), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _kill_after(proc: subprocess.Popen, run, at_step: int, delay: float) -> None:
    deadline = time.monotonic() + 120
    while _step_of(run) < at_step and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_resume_after_sigkill_is_bit_exact(data_dir, tmp_path):
    straight = tmp_path / "straight"
    run_training(load_config(None, _args(data_dir)), straight, progress=False)
    run = tmp_path / "killed"
    rng = random.Random(1)
    for k, at in enumerate((8, 22)):  # two kills at random moments after these steps
        proc = _start(_args(data_dir), run, resume=k > 0)
        _kill_after(proc, run, at, rng.uniform(0.0, 0.15))
        assert proc.returncode == -signal.SIGKILL
    proc = _start(_args(data_dir), run, resume=True)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()[-2000:]
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(run / "last.pt")
    assert b["step"] == STEPS
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for p, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][p][name]), (p, name)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if '"loss"' in line]
    assert steps == list(range(1, STEPS + 1))  # rows after the resumed checkpoint were dropped, none repeated
    assert not list(run.glob(".*.tmp*"))  # leftovers of a killed write are cleaned up


def test_resume_damaged_last_checkpoint_falls_back_to_the_previous(data_dir, tmp_path, capsys):
    straight = tmp_path / "straight"
    run_training(load_config(None, _args(data_dir)), straight, progress=False)
    run = tmp_path / "run"
    run_training(load_config(None, [*_args(data_dir), "train.steps=12"]), run, progress=False)
    previous = load_checkpoint(run / "last.prev.pt")["step"]
    assert previous >= 11
    data = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 2])  # as a torn write on a broken disk would leave it
    (run / ".last.tmp999.pt").write_bytes(data[:100])  # a killed writer's leftover
    messages = []
    ck = load_resumable(run, log=messages.append)
    assert ck["step"] == previous and "last.pt: unreadable checkpoint" in messages[0]
    run_training(load_config(None, _args(data_dir)), run, resume=True, progress=False)
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(run / "last.pt")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


@pytest.mark.parametrize("optimizer", ["adamw", "soap"])
def test_resume_is_bit_exact_with_each_optimizer(data_dir, tmp_path, optimizer):
    """N steps equal k steps + resume + N - k steps for every optimiser of train.optimizer (SOAP's eigenbases and
    its step count, which decides the next preconditioner refresh, travel in its state_dict). k = 13 stops between
    two refreshes (every 10 steps)."""
    args = [*_args(data_dir), f"train.optimizer={optimizer}", "train.steps=24"]
    straight, run = tmp_path / "straight", tmp_path / "run"
    run_training(load_config(None, args), straight, progress=False)
    run_training(load_config(None, [*args, "train.steps=13"]), run, progress=False)
    run_training(load_config(None, args), run, resume=True, progress=False)
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(run / "last.pt")
    assert b["step"] == 24
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for p, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert _identical(value, b["optimizer"]["state"][p][name]), (p, name)


def _identical(x, y) -> bool:
    """Equal values, tensors bit for bit, through the nested lists of SOAP's state (its eigenbases)."""
    if isinstance(x, torch.Tensor):
        return isinstance(y, torch.Tensor) and torch.equal(x, y)
    if isinstance(x, list | tuple):
        return isinstance(y, list | tuple) and len(x) == len(y) and all(map(_identical, x, y))
    return x == y


def test_resume_with_no_readable_checkpoint_is_a_clear_error(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DgnoError, match=r"cannot resume: .*last\.pt: unreadable checkpoint"):
        load_resumable(run, log=lambda _m: None)
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  seed: 0\n")
    code = main(["train", str(config), *_args(data_dir), "--out", str(run), "--resume", "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "last.pt" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_resume_evaluate_of_a_truncated_checkpoint_names_the_file(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    run_training(load_config(None, [*_args(data_dir), "train.steps=3"]), run, progress=False)
    data = (run / "best.pt").read_bytes()
    (run / "best.pt").write_bytes(data[:1000])
    code = main(["evaluate", str(run), "--data", str(data_dir / "test.h5")])
    err = capsys.readouterr().err
    assert code != 0 and "best.pt" in err and "Traceback" not in err


def test_resume_nuts_draws_depend_on_their_seed_alone_and_leave_global_rng_alone():
    """NUTS (pyro) seeds its chains locally: the same seed gives the same draws whatever the global state, and the
    caller's torch, numpy and Python random streams continue as if no sampling had happened."""
    import random

    import numpy as np

    from dgno.inverse.samplers import nuts
    from support import gaussian_problem as _gaussian_problem

    post = _gaussian_problem(correlated=False)
    init = torch.zeros(1, 2, 3, dtype=torch.float64)
    torch.manual_seed(123)
    random.seed(5)
    np.random.seed(5)  # noqa: NPY002
    before = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())  # noqa: NPY002
    a = nuts(post, draws=20, warmup=20, chains=1, seed=3, init=init).theta
    after = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())  # noqa: NPY002
    assert torch.equal(before[0], after[0]) and before[1] == after[1] and np.array_equal(before[2], after[2])
    torch.manual_seed(999)  # another global state: the same draws
    b = nuts(post, draws=20, warmup=20, chains=1, seed=3, init=init).theta
    assert torch.equal(a, b)
