"""
Invert a measurement CSV and read the posterior
===============================================

A two-phase conductivity a (values 5 and 10) from 100 noisy measurements of the pressure u of
-div(a grad u) = 10 on the unit square, with the pretrained ``darcy-pwc`` operator. The "measurements" here are made
by the preset's own finite-difference solver on a test input and written to a CSV, as a user's would be.
"""

# %%
# Measurements: one input of the preset's test distribution, solved, observed at 100 interior nodes (25 dB)
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import dgno
from dgno.config import get_preset
from dgno.reference.generate import generate_split

truth = generate_split(get_preset("darcy-pwc"), "test", [11], seed=0)
rng = np.random.default_rng(1)
x_u = truth.x_u.reshape(-1, 2)
interior = np.flatnonzero(((x_u > 0) & (x_u < 1)).all(1))
nodes = rng.choice(interior, 100, replace=False)
u_obs = truth.u[0].reshape(-1)[nodes]
sigma = np.sqrt(np.mean(u_obs**2)) * 10 ** (-25 / 20)  # 25 dB
y = u_obs + sigma * rng.standard_normal(100)
csv = Path(tempfile.mkdtemp()) / "measurements.csv"
np.savetxt(csv, np.column_stack([x_u[nodes], y]), delimiter=",", header="x,y,u", comments="")

# %%
# The inversion: the preset's measured default settings (NUTS over the latent, vectorized chains)
op = dgno.load("pretrained:darcy-pwc")
data = np.loadtxt(csv, delimiter=",", skiprows=1)  # columns x, y, u
res = dgno.invert(op, x=data[:, :2], y=data[:, 2], sigma=sigma, truth={"a": truth.a[0], "u": truth.u[0]})
print(res)
print({k: round(res.summary[k], 4) for k in ("a_rel_l2", "u_rel_l2", "phase_error_rate", "coverage90_u")})

# %%
# The posterior: mean of a, P(high phase), the 90 % band's width of u, and the truth
lo, hi = res.interval("u", 0.9)
fig, ax = plt.subplots(1, 4, figsize=(13, 3.2))
for axis, field, title in zip(ax, [truth.a[0], res.mean["a"], res.mean["phase_prob"], hi - lo],
                              ["true a", "posterior mean of a", "P(a = 10)", "90 % band width of u"], strict=True):
    im = axis.imshow(field.T, origin="lower", extent=(0, 1, 0, 1), cmap="viridis")
    axis.set_title(title)
    fig.colorbar(im, ax=axis, shrink=0.8)
ax[0].plot(*data[:, :2].T, "w.", ms=3)
fig.tight_layout()

# %%
# The posterior travels as ArviZ InferenceData
idata = res.to_arviz()
print(idata.posterior["a"].shape)  # (chain, draw, 29, 29)
