"""Static loss weights."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from mtlbook.strategy import StepContext
from mtlbook.weighting.base import LossWeighting


class EqualWeighting(LossWeighting):
    """w_k = 1 for every task (the plain sum, "unitary scalarization"; Σw = K)."""

    def weights(self, losses: Tensor, ctx: StepContext | None = None) -> Tensor:
        return torch.ones_like(losses)


class FixedWeights(LossWeighting):
    """Constant weights chosen by the user (for example a grid point of a weight sweep). A (..., K)
    tensor gives each of several side-by-side models its own weights (a zero drops a task)."""

    def __init__(self, weights: Sequence[float] | Tensor):
        w = torch.as_tensor(weights, dtype=torch.float32)
        if w.dim() < 1 or w.shape[-1] < 1:
            raise ValueError(f"weights must be a non-empty (..., K) sequence, got shape {tuple(w.shape)}")
        if not torch.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"weights must be finite and non-negative, got {w.tolist()}")
        self.fixed = w

    def weights(self, losses: Tensor, ctx: StepContext | None = None) -> Tensor:
        try:
            return self.fixed.to(losses).expand_as(losses)
        except RuntimeError:
            raise ValueError(f"fixed weights of shape {tuple(self.fixed.shape)} do not match task "
                             f"losses of shape {tuple(losses.shape)}") from None
