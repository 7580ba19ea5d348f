"""Shared fixtures for the dgno test suite."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh generator with a fixed seed, so every test is deterministic."""
    return np.random.default_rng(20240611)
