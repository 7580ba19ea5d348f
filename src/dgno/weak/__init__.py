"""Weak-form machinery, independent of any PDE: Wendland test functions, unit-ball quadrature, particles, assembly."""

from dgno.weak.assembly import WeakPoints, weak_points
from dgno.weak.particles import Particles, ParticleSampler
from dgno.weak.quadrature import QuadratureRule, gauss_rule, grid_rule
from dgno.weak.testfunctions import Wendland

__all__ = [
    "ParticleSampler",
    "Particles",
    "QuadratureRule",
    "WeakPoints",
    "Wendland",
    "gauss_rule",
    "grid_rule",
    "weak_points",
]
