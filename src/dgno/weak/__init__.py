"""Weak-form machinery, independent of any PDE: Wendland test functions, unit-ball quadrature, particles, assembly."""

from dgno.weak.assembly import WeakPoints, weak_points
from dgno.weak.layouts import BallLayout, SliceLayout, WeakLayout, WeakOptions, WithBoundary
from dgno.weak.particles import Particles, ParticleSampler
from dgno.weak.quadrature import QuadratureRule, gauss_rule, grid_rule
from dgno.weak.testfunctions import Wendland

__all__ = [
    "BallLayout",
    "ParticleSampler",
    "Particles",
    "QuadratureRule",
    "SliceLayout",
    "WeakLayout",
    "WeakOptions",
    "WeakPoints",
    "Wendland",
    "WithBoundary",
    "gauss_rule",
    "grid_rule",
    "weak_points",
]
