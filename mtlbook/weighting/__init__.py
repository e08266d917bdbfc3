"""Loss weighting (chapter 3): static weights and adaptive methods, one interface."""

from mtlbook.weighting.base import LossWeighting
from mtlbook.weighting.dtp import DynamicTaskPrioritization, focal_task_weights
from mtlbook.weighting.dwa import DynamicWeightAverage, dwa_weights
from mtlbook.weighting.gradnorm import GradNorm, gradnorm_loss
from mtlbook.weighting.lbtw import LossBalancedTaskWeighting, lbtw_weights
from mtlbook.weighting.methods import METHODS, make_weighting
from mtlbook.weighting.rlw import RandomLossWeighting
from mtlbook.weighting.scale import (
    SCHEMES, GradientNormWeighting, InitialLossWeighting, PriorLossWeighting, RealTimeLossWeighting,
    initial_loss_weights, invariance_table, label_entropy, label_variance, prior_loss_weights,
    transformed_update, uniform_cross_entropy)
from mtlbook.weighting.static import EqualWeighting, FixedWeights
from mtlbook.weighting.transform import TransformedLosses
from mtlbook.weighting.uncertainty import UncertaintyWeighting

__all__ = [
    "METHODS", "SCHEMES", "DynamicTaskPrioritization", "DynamicWeightAverage", "EqualWeighting", "FixedWeights",
    "GradNorm", "GradientNormWeighting", "InitialLossWeighting", "LossBalancedTaskWeighting",
    "LossWeighting", "PriorLossWeighting", "RandomLossWeighting", "RealTimeLossWeighting",
    "TransformedLosses", "UncertaintyWeighting", "dwa_weights", "focal_task_weights", "gradnorm_loss",
    "initial_loss_weights", "invariance_table", "label_entropy", "label_variance", "lbtw_weights", "make_weighting",
    "prior_loss_weights", "transformed_update", "uniform_cross_entropy",
]
