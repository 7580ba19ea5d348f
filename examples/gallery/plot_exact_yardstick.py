"""
The exact-solver posterior as a yardstick
=========================================

For ``darcy-pwc`` the prior that made the data is known (a thresholded Gaussian random field), so the posterior of a
given the observations can be sampled with the finite-difference solver itself as the forward model (pCN MCMC,
:mod:`dgno.exact`), with no network. Its error is what the observations allow; DGNO's posterior should come close to
it, in a fraction of the time. Here one instance, the exact chains capped at 25 seconds (the benchmark runs them to
R-hat <= 1.05 and ESS >= 200: ``benchmarks/reference_posterior.py``).
"""

import matplotlib.pyplot as plt
import numpy as np

import dgno
from dgno.config import get_preset
from dgno.exact import ExactSettings, exact_posterior
from dgno.inversion import Truth, instance_observations, inverter
from dgno.reference.generate import generate_split

ds = generate_split(get_preset("darcy-pwc"), "test", [5], seed=0)
op = dgno.load("pretrained:darcy-pwc")
obs = instance_observations(ds, 0, problem=op.problem, n_obs=100, snr=25.0, seed=0, source="test[5]")
truth = Truth(ds.a[0], ds.u[0], "test[5]")

exact = exact_posterior("darcy-pwc", obs, truth, ExactSettings(chains=4, seed=0, max_seconds=25.0))
inv = inverter(op)
(ours,) = inv.invert([obs], [truth], inv.settings())
for name, s in (("exact (pCN)", exact.summary), ("DGNO", ours.summary)):
    print(f"{name:12s} a rel L2 {s['a_rel_l2']:.4f}  phase error {s['phase_error_rate']:.4f}  {s['seconds']:.1f} s")

fig, ax = plt.subplots(1, 3, figsize=(12, 3.4))
for axis, field, title in ((ax[0], ds.a[0], "true a"), (ax[1], exact.fields["phase_prob"], "exact: P(a = 10)"),
                           (ax[2], ours.mean["phase_prob"], "DGNO: P(a = 10)")):
    im = axis.imshow(np.asarray(field).T, origin="lower", extent=(0, 1, 0, 1), vmin=None)
    axis.set_title(title)
    fig.colorbar(im, ax=axis)
ax[0].plot(*obs.x.T, "w.", ms=3)
fig.tight_layout()
