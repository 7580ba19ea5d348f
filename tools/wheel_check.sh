#!/usr/bin/env bash
# A wheel that works anywhere: build it, install it in a fresh virtual environment outside the source tree, and run
# the commands a new user runs first (make wheel-check; .ci/run runs it).
set -euo pipefail
PYTHON=${PYTHON:-python3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PYTHON" -m build --wheel --outdir "$TMP/dist" "$SRC" > "$TMP/build.log" 2>&1 || { tail -30 "$TMP/build.log"; exit 1; }
WHEEL=$(ls "$TMP"/dist/dgno-*.whl)
unzip -l "$WHEEL" | grep -q "dgno/pretrained/darcy-pwc/best.pt" || { echo "the wheel lacks the pretrained models"; exit 1; }
unzip -l "$WHEEL" | grep -q "dgno/configs/darcy_pwc_quick.yaml" || { echo "the wheel lacks the configs"; exit 1; }
"$PYTHON" -m venv "$TMP/venv"
V="$TMP/venv/bin"
"$V/python" -m pip install -q --upgrade pip > /dev/null
"$V/python" -c "import torch" 2>/dev/null || "$V/python" -m pip install -q torch==2.13.0
"$V/python" -m pip install -q "$WHEEL"
cd "$TMP"  # outside the source tree: nothing of it on the path
export OMP_NUM_THREADS=1
"$V/dgno" demo --quick --out demo
"$V/dgno" generate darcy-pwc --out data --n-train 8 --n-val 4 --n-test 4 --n-ood 2 --workers 1 --quiet
"$V/dgno" train darcy_pwc_quick data.dir=data train.steps=3 train.batch_size=4 train.max_minutes=null \
    train.threads=1 --out run --quiet > /dev/null
"$V/python" - <<'PY'
import numpy as np
from dgno.reference.dataset import load_h5
ds = load_h5("data/test.h5")
rng = np.random.default_rng(0)
nodes = rng.choice(np.flatnonzero(((ds.x_u > 0) & (ds.x_u < 1)).all(-1).reshape(-1)), 50, replace=False)
x = ds.x_u.reshape(-1, 2)[nodes]
y = ds.u[0].reshape(-1)[nodes] + 0.003 * rng.standard_normal(50)
np.savetxt("obs.csv", np.column_stack([x, y]), delimiter=",", header="x,y,u", comments="")
PY
"$V/dgno" invert pretrained:darcy-pwc --obs obs.csv --sigma 0.003 --out inv --threads 1
test -f inv/posterior.h5 && test -f inv/summary.json && test -f demo/summary.md
echo "wheel check passed: $(basename "$WHEEL") installed outside the tree runs demo --quick, generate, train NAME, invert pretrained:"
