"""Shared fixtures for the dgno test suite: tiny data and a tiny trained run, made once per session (per xdist
worker) instead of once per module."""

from __future__ import annotations

import numpy as np
import pytest

from support import TINY

# the folders whose tests train, generate splits or run the command line end to end: `make test-fast` skips them
INTEGRATION = ("api", "training", "exact", "models", "inverse")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.parent.name in INTEGRATION:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh generator with a fixed seed, so every test is deterministic."""
    return np.random.default_rng(20240611)


@pytest.fixture(scope="session")
def pwc_data(tmp_path_factory):
    """darcy-pwc splits of 8 / 4 / 3 / 1 samples (seed 0), solved as the preset solves them."""
    from dgno.config import get_preset
    from dgno.reference import SplitCounts, generate

    out = tmp_path_factory.mktemp("pwc")
    generate(get_preset("darcy-pwc"), out, counts=SplitCounts(train=8, val=4, test=3, ood=1), seed=0)
    return out


@pytest.fixture(scope="session")
def pwc_run(tmp_path_factory, pwc_data):
    """A 6-step tiny DGNO run on ``pwc_data`` (its calibration stored, as dgno train does)."""
    from dgno.config.build import run_training
    from dgno.config.schema import load_config

    run = tmp_path_factory.mktemp("pwc_run") / "run"
    cfg = load_config(None, [*TINY, f"data.dir={pwc_data}", "data.preset=darcy-pwc", "train.steps=6"])
    run_training(cfg, run, progress=False, log=lambda _m: None)
    return run
