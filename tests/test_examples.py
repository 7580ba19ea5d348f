"""The examples run at tiny sizes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_custom_pde_example_trains_and_its_loss_falls():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples/custom_pde.py"), "--steps", "25", "--n", "32"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    first, final = (float(v) for v in re.findall(r"\d+\.\d+", last))
    assert final < first
