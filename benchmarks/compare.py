"""The equal-budget comparison of DGNO with its baselines; the same as ``dgno bench``.

    python benchmarks/compare.py --preset darcy-pwc --budget-minutes 15 --threads 2
    python benchmarks/compare.py --preset darcy-smooth --budget-minutes 5 --methods dgno,pino,fno

Trains every method of configs/compare/<preset>/ for the budget on data/<preset>, evaluates the
validation-selected checkpoints on the test and OOD splits and writes
benchmarks/results/compare_<preset>.{json,md,png} (runs go to runs/compare/<preset>/<method>/).
The library function is dgno.bench.compare; this script only forwards its arguments.
"""

from __future__ import annotations

import sys

from dgno.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
