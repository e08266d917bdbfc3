"""Loss weighting (chapter 3): static weights and adaptive methods, one interface."""

from mtlbook.weighting.base import LossWeighting
from mtlbook.weighting.scale import (
    SCHEMES, GradientNormWeighting, InitialLossWeighting, PriorLossWeighting, RealTimeLossWeighting,
    initial_loss_weights, invariance_table, label_entropy, label_variance, prior_loss_weights,
    transformed_update, uniform_cross_entropy)
from mtlbook.weighting.static import EqualWeighting, FixedWeights

__all__ = [
    "SCHEMES", "EqualWeighting", "FixedWeights",
    "GradientNormWeighting", "InitialLossWeighting", 
    "LossWeighting", "PriorLossWeighting", "RealTimeLossWeighting",
    "initial_loss_weights", "invariance_table", "label_entropy", "label_variance", 
    "prior_loss_weights", "transformed_update", "uniform_cross_entropy",
]
