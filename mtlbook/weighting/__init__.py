"""Loss weighting (chapter 3): static weights and adaptive methods, one interface."""

from mtlbook.weighting.base import LossWeighting
from mtlbook.weighting.static import EqualWeighting, FixedWeights

__all__ = ["EqualWeighting", "FixedWeights", "LossWeighting"]
