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
    """Constant weights chosen by the user (for example a grid point of a weight sweep)."""

    def __init__(self, weights: Sequence[float] | Tensor):
        w = torch.as_tensor(weights, dtype=torch.float32)
        if w.dim() != 1 or len(w) < 1:
            raise ValueError(f"weights must be a non-empty 1-D sequence, got shape {tuple(w.shape)}")
        if not torch.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"weights must be finite and non-negative, got {w.tolist()}")
        self.fixed = w

    def weights(self, losses: Tensor, ctx: StepContext | None = None) -> Tensor:
        if losses.shape[-1] != len(self.fixed):
            raise ValueError(f"got {losses.shape[-1]} task losses for {len(self.fixed)} fixed weights")
        return self.fixed.to(losses).expand_as(losses)
