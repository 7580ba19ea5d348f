"""Random input fields, each evaluable at arbitrary points of its domain (the unit square, or [-1, 1])."""

from dgno.fields.base import Field, FieldSampler, unit_square_nodes
from dgno.fields.grf import GaussianRandomField, SpectralField
from dgno.fields.lognormal import ExpField, LogNormalField
from dgno.fields.sine_series import SineSeries, SineSeriesField
from dgno.fields.trig import TrigCoefficient, TrigField
from dgno.fields.twophase import NearestNodeField, ThresholdField, TwoPhaseField

__all__ = [
    "ExpField",
    "Field",
    "FieldSampler",
    "GaussianRandomField",
    "LogNormalField",
    "NearestNodeField",
    "SineSeries",
    "SineSeriesField",
    "SpectralField",
    "ThresholdField",
    "TrigCoefficient",
    "TrigField",
    "TwoPhaseField",
    "unit_square_nodes",
]
