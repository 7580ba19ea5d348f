"""Methods = networks + loss: DGNO and the baselines it is compared with."""

from dgno.models.baselines import FieldOperator, GridOperator, ONetOperator
from dgno.models.dgno import DGNO, LossOutput
from dgno.models.likelihoods import BernoulliPhase, GaussianField

__all__ = ["DGNO", "BernoulliPhase", "FieldOperator", "GaussianField", "GridOperator", "LossOutput", "ONetOperator"]
