"""
Train and evaluate darcy-pwc from Python
========================================

Physics-only training: the model never reads a training solution. Here a small data set (100 unlabeled inputs) and
half a minute of training, so that the page builds quickly; ``dgno.train("darcy_pwc_quick", out=...)`` on the full
1,000 inputs for its 6,000 steps is the shipped model's recipe (its card: ``dgno.load("pretrained:darcy-pwc").card``).
"""

import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import dgno
from dgno.config import get_preset
from dgno.reference import SplitCounts, generate
from dgno.reference.dataset import load_h5

work = Path(tempfile.mkdtemp())
generate(get_preset("darcy-pwc"), work / "data", counts=SplitCounts(train=100, val=10, test=10, ood=1), seed=0,
         workers=2)
run = dgno.train("darcy_pwc_quick", out=work / "run",
                 overrides=[f"data.dir={work / 'data'}", "train.max_minutes=0.5", "train.val_every=50",
                            "train.threads=2"], log=lambda _m: None)
print({k: run.summary[k] for k in ("steps", "seconds", "best_val_u_rel_l2")})

# %%
# The validation curve, and predictions on the test split
rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
val = [(r["step"], r["val_u_rel_l2_mean"]) for r in rows if "val_u_rel_l2_mean" in r]
op = run.load()
test = load_h5(work / "data" / "test.h5")
pred = op.predict(test.a)
err = np.linalg.norm((pred["u"] - test.u).reshape(len(test), -1), axis=1) / np.linalg.norm(
    test.u.reshape(len(test), -1), axis=1)
print(f"test u relative L2: {err.mean():.4f} +- {err.std():.4f} (n = {len(test)})")
fig, ax = plt.subplots(1, 3, figsize=(12, 3.4))
ax[0].semilogy(*zip(*val, strict=True), "o-")
ax[0].set_xlabel("step")
ax[0].set_ylabel("validation u rel. L2")
for axis, field, title in ((ax[1], test.u[0], "true u"), (ax[2], pred["u"][0], "predicted u")):
    im = axis.imshow(field.T, origin="lower", extent=(0, 1, 0, 1))
    axis.set_title(title)
    fig.colorbar(im, ax=axis)
fig.tight_layout()
