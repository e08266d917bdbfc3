"""Loss weightings: the update is the gradient of Σ_k w_k L_k, with the weights treated as
constants (computed from detached losses and the method's own state)."""

from __future__ import annotations

from torch import Tensor

from mtlbook.strategy import StepContext, Strategy


class LossWeighting(Strategy):
    """Base class: subclasses implement ``weights(losses, ctx)``. Heads and shared parameters alike
    receive the weighted gradients w_k ∇L_k."""

    def weights(self, losses: Tensor, ctx: StepContext | None = None) -> Tensor:
        raise NotImplementedError

    def backward(self, losses: Tensor, ctx: StepContext) -> Tensor:
        w = self.weights(losses.detach(), ctx).detach()
        (w * losses).sum().backward()
        return w
