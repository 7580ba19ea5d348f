"""Methods = networks + loss."""

from dgno.models.dgno import DGNO, LossOutput
from dgno.models.likelihoods import BernoulliPhase, GaussianField

__all__ = ["DGNO", "BernoulliPhase", "GaussianField", "LossOutput"]
