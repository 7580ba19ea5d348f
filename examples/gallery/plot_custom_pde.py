"""
Add your own PDE in one file and train it
=========================================

``examples/custom_pde.py`` declares reaction-diffusion with an inhomogeneous boundary condition,
-div(a grad u) + c u = f, u = x on the boundary, in one file (its domain, input, field with a lift, output and weak
residual), names it in a config by path (``physics.pde: examples/custom_pde.py:ReactionDiffusion``), trains it
through ``dgno.train`` on unlabeled log-normal inputs, and then predicts and inverts with ``dgno.load`` /
``dgno.invert``. Nothing in the library changes. Run here for 150 steps.
"""

import runpy
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

import dgno
from dgno.reference.dataset import load_h5

try:
    example = Path(__file__).resolve().parents[1] / "custom_pde.py"
except NameError:  # sphinx-gallery runs the script from its folder
    example = Path.cwd().parent / "custom_pde.py"
out = Path(tempfile.mkdtemp())
sys.argv = [str(example), "--steps", "150", "--n", "48", "--out", str(out)]
runpy.run_path(str(example), run_name="__main__")

# %%
# The trained operator from Python
op = dgno.load(out / "run")
val = load_h5(out / "data" / "val.h5")
u = op.predict(val.a[:1])["u"][0]
fig, ax = plt.subplots(1, 3, figsize=(12, 3.4))
for axis, field, title in ((ax[0], val.a[0], "input a"), (ax[1], val.u[0], "finite-difference u"),
                           (ax[2], u, "DGNO u (150 steps)")):
    im = axis.imshow(field.T, origin="lower", extent=(0, 1, 0, 1))
    axis.set_title(title)
    fig.colorbar(im, ax=axis)
fig.tight_layout()
