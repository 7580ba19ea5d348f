"""
Recover the Stokes inflow from downstream velocities
====================================================

Stokes flow around a cylinder in the channel [0, 2] x [0, 1] (a gmsh mesh, Taylor-Hood ground truth): the inflow
profile a(y) from 50 noisy observations of the velocities u and v at mesh vertices downstream of the cylinder
(x >= 0.7) only. Pretrained ``stokes-cylinder`` operator, the preset's default inversion (MAP + Laplace).
"""

import matplotlib.pyplot as plt
import matplotlib.tri as mtri

import dgno
from dgno.config import get_preset
from dgno.inversion import Truth, Window, instance_observations, inverter
from dgno.reference.generate import generate_split

ds = generate_split(get_preset("stokes-cylinder"), "test", [4], seed=0)
op = dgno.load("pretrained:stokes-cylinder")
obs = instance_observations(ds, 0, problem=op.problem, n_obs=50, snr=25.0, seed=0, source="stokes test[4]",
                            window=Window.from_bounds(op.problem.domain, {"x": 0.7}, {}), observed=("u", "v"),
                            names=op.output_names)
inv = inverter(op)
(res,) = inv.invert([obs], [Truth(ds.a[0], ds.u[0])], inv.settings())
print(res, {k: round(res.summary[k], 4) for k in ("a_rel_l2", "u_rel_l2", "coverage90_u")})

y = op.input_grid[:, 1]
lo, hi = res.interval("a", 0.9)
tri = mtri.Triangulation(ds.x_u[:, 0], ds.x_u[:, 1], ds.extras["triangles"])
fig, ax = plt.subplots(1, 2, figsize=(12, 3.4), gridspec_kw={"width_ratios": [1, 2]})
ax[0].fill_between(y, lo, hi, alpha=0.3, label="90 % interval")
ax[0].plot(y, res.mean["a"], label="posterior mean")
ax[0].plot(y, ds.a[0], "k--", label="true inflow a(y)")
ax[0].set_xlabel("y")
ax[0].legend()
im = ax[1].tripcolor(tri, res.mean["u"], shading="gouraud")
ax[1].plot(*obs.x.T, "w.", ms=4)
ax[1].set_aspect("equal")
ax[1].set_title("posterior mean of u, observations (x >= 0.7)")
fig.colorbar(im, ax=ax[1])
fig.tight_layout()
