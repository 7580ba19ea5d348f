"""
Recover a Burgers initial condition from later observations
===========================================================

u_t + u u_x = (0.01 / pi) u_xx on [-1, 1] x [0, 1]: the initial condition a(x) = u(x, 0) from 50 noisy observations
of u at t >= 0.25 only, by which time viscosity has damped its fine scales. Pretrained ``burgers`` operator, the
preset's default inversion (MAP + Laplace).
"""

import matplotlib.pyplot as plt

import dgno
from dgno.config import get_preset
from dgno.inversion import Truth, Window, instance_observations, inverter
from dgno.reference.generate import generate_split

truth = generate_split(get_preset("burgers"), "test", [2], seed=0)  # one test instance, solved by the preset
op = dgno.load("pretrained:burgers")
obs = instance_observations(truth, 0, problem=op.problem, n_obs=50, snr=25.0, seed=0, source="burgers test[2]",
                            window=Window.from_bounds(op.problem.domain, {"t": 0.25}, {}))
inv = inverter(op)
(res,) = inv.invert([obs], [Truth(truth.a[0], truth.u[0])], inv.settings())
print(res, {k: round(res.summary[k], 4) for k in ("a_rel_l2", "u_rel_l2", "coverage90_a")})

x = truth.x_a[:, 0]
lo, hi = res.interval("a", 0.9)
fig, ax = plt.subplots(1, 2, figsize=(11, 3.4))
ax[0].fill_between(x, lo, hi, alpha=0.3, label="90 % interval")
ax[0].plot(x, res.mean["a"], label="posterior mean")
ax[0].plot(x, truth.a[0], "k--", label="true a(x) = u(x, 0)")
ax[0].legend()
ax[0].set_xlabel("x")
im = ax[1].imshow(res.mean["u"], origin="lower", aspect="auto", extent=(-1, 1, 0, 1))
ax[1].plot(obs.x[:, 0], obs.x[:, 1], "w.", ms=4)
ax[1].set_xlabel("x")
ax[1].set_ylabel("t")
ax[1].set_title("posterior mean of u, observations")
fig.colorbar(im, ax=ax[1])
fig.tight_layout()
