"""Loss weightings: the update is the gradient of Σ_k w_k L_k, with the weights treated as
constants (computed from detached losses and the method's own state)."""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbook.gradients import task_jacobian
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


def check_losses(losses: Tensor, num_tasks: int | None = None, name: str = "losses") -> Tensor:
    """Validate task losses (..., K): a floating tensor, finite, with ``num_tasks`` entries last."""
    if not isinstance(losses, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (..., K), got {type(losses).__name__}")
    if losses.dim() < 1 or losses.shape[-1] < 1 or not losses.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor of shape (..., K) with K >= 1, "
                         f"got {losses.dtype} of shape {tuple(losses.shape)}")
    if num_tasks is not None and losses.shape[-1] != num_tasks:
        raise ValueError(f"{name} must have {num_tasks} tasks in its last dimension, "
                         f"got shape {tuple(losses.shape)}")
    if not bool(torch.isfinite(losses).all()):
        raise ValueError(f"{name} must be finite, got {losses.detach().tolist()}")
    return losses


def check_num_tasks(num_tasks: int) -> int:
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or num_tasks < 1:
        raise ValueError(f"num_tasks must be an int >= 1, got {num_tasks!r}")
    return num_tasks


def normalized(w: Tensor) -> Tensor:
    """Rescale weights (..., K) so that they sum to K."""
    return w * (w.shape[-1] / w.sum(-1, keepdim=True))


def task_gradient_norms(losses: Tensor, params: list[Tensor]) -> Tensor:
    """‖∇_θ L_k‖₂ over the tensors ``params`` for each task loss of ``losses`` (K,): the rows of the
    per-task Jacobian (:func:`mtlbook.gradients.task_jacobian`); the graph is kept. A parameter a task
    does not use counts as zero."""
    return task_jacobian(losses, params, retain_graph=True).norm(dim=-1)
