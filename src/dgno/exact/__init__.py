"""Exact-solver posteriors: the yardstick of DGNO's inversions.

The posterior of the input given sparse noisy observations, computed with the prior that generated the data and
the ground-truth solver as the forward model, with no trained network:

- :mod:`dgno.exact.mcmc`: PDE-agnostic preconditioned Crank-Nicolson MCMC with convergence monitoring (ArviZ's
  rank-normalised R-hat and bulk ESS);
- :mod:`dgno.exact.darcy`: the Darcy presets (``darcy-pwc`` by pCN on the white noise of its Gaussian random field,
  ``darcy-trig`` by NUTS on its two parameters), on the banded finite-difference solver of
  :mod:`dgno.exact.darcy_fd`.

``dgno invert --method exact`` runs it for one instance.
"""

from __future__ import annotations

from dgno.exact.darcy import PRESETS, ReferenceSettings, check_preset, exact_posterior
from dgno.exact.mcmc import PCNSettings, convergence, pcn

ExactSettings = ReferenceSettings

__all__ = ["PRESETS", "ExactSettings", "PCNSettings", "ReferenceSettings", "check_preset", "convergence",
           "exact_posterior", "pcn"]
