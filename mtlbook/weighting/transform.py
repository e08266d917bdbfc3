"""Task losses reported in other units: L_k → c_k L_k + b_k before a weighting sees them.

A loss measured in other units is the same loss multiplied by a constant (a squared error in
millimetres is 10⁶ times the one in metres); a loss with a constant term added (the log 2π / 2 of a
Gaussian negative log-likelihood, a fixed regularizer) is shifted. Neither changes what a task asks
of the model, yet both change the update of a weighting that reads loss values (Chen et al., GradNorm,
ICML 2018, §1: task losses of different magnitudes; Kendall, Gal & Cipolla, CVPR 2018, §1: tasks in
different units). :class:`TransformedLosses` lets one training loop compare the weightings of
:mod:`mtlbook.weighting.scale` under such a change of units.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbook.strategy import StepContext, Strategy
from mtlbook.weighting.base import check_losses


class TransformedLosses(Strategy):
    """Train with ``inner`` on c·L + b instead of L (elementwise over tasks, broadcast over models).

    ``scale`` c > 0 and ``shift`` b are floats or tensors broadcastable to the losses (..., K): a (K,)
    tensor transforms each task, an (E, K) tensor gives each of E side-by-side models its own units.
    The training history records the untransformed losses L (the losses in the data's own units) and
    the weights ``inner`` chose for the transformed ones.
    """

    def __init__(self, inner: Strategy, scale: Tensor | float = 1.0, shift: Tensor | float = 0.0):
        if not isinstance(inner, Strategy):
            raise TypeError(f"inner must be an mtlbook Strategy, got {type(inner).__name__}")
        c = torch.as_tensor(scale, dtype=torch.float64)
        b = torch.as_tensor(shift, dtype=torch.float64)
        if not bool(torch.isfinite(c).all()) or bool((c <= 0).any()):
            raise ValueError(f"scale must be finite and > 0, got {c.tolist()}")
        if not bool(torch.isfinite(b).all()):
            raise ValueError(f"shift must be finite, got {b.tolist()}")
        self.inner, self.scale, self.shift = inner, c, b

    def transform(self, losses: Tensor) -> Tensor:
        """c·L + b, in the losses' dtype and on their device."""
        check_losses(losses)
        c, b = self.scale.to(losses), self.shift.to(losses)
        try:
            return c * losses + b
        except RuntimeError:
            raise ValueError(f"scale {tuple(c.shape)} and shift {tuple(b.shape)} must broadcast to the "
                             f"losses {tuple(losses.shape)}") from None

    def backward(self, losses: Tensor, ctx: StepContext) -> Tensor:
        moved = self.transform(losses)
        if moved.shape != losses.shape:
            raise ValueError(f"scale and shift must not change the shape of the losses "
                             f"{tuple(losses.shape)}, got {tuple(moved.shape)}")
        return self.inner.backward(moved, ctx)

    def end_epoch(self, epoch_losses: Tensor) -> None:
        self.inner.end_epoch(self.transform(epoch_losses))
