"""Random input fields, each evaluable at arbitrary points of the unit square."""

from dgno.fields.base import Field, FieldSampler, unit_square_nodes
from dgno.fields.grf import GaussianRandomField, SpectralField
from dgno.fields.lognormal import ExpField, LogNormalField
from dgno.fields.twophase import NearestNodeField, ThresholdField, TwoPhaseField

__all__ = [
    "ExpField",
    "Field",
    "FieldSampler",
    "GaussianRandomField",
    "LogNormalField",
    "NearestNodeField",
    "SpectralField",
    "ThresholdField",
    "TwoPhaseField",
    "unit_square_nodes",
]
