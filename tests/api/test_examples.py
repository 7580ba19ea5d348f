"""The examples run at tiny sizes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_custom_pde_example_trains_through_dgno_train(tmp_path):
    """A problem in the user's own file, named by path in the config, trains with ``dgno train``."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples/custom_pde.py"), "--steps", "40", "--n", "32", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    val_line, loss_line, api_line = proc.stdout.strip().splitlines()[-3:]
    first, final = (float(v) for v in re.findall(r"\d+\.\d+", val_line))
    assert final < first  # the validation error against the finite-difference truth falls
    first, final = (float(v) for v in re.findall(r"\d+\.\d+", loss_line))
    assert final < first
    assert (tmp_path / "run" / "best.pt").is_file() and (tmp_path / "run" / "inverse_best.pt").is_file()
    predicted, inverted = (float(v) for v in re.findall(r"\d+\.\d+", api_line))  # the Python API on the run
    assert predicted < 1.0 and inverted < 1.0
