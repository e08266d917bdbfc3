"""Loss weightings: the update is the gradient of Σ_k w_k L_k, with the weights treated as
constants (computed from detached losses and the method's own state)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from mtlbook.gradients import task_jacobian
from mtlbook.strategy import StepContext, Strategy


CHECK_EVERY = 50


class DeferredChecks:
    """Value checks that need the host (finite, in range) without a host round trip per step.

    During training (a StepContext is given) the values are kept and checked together every
    ``CHECK_EVERY`` steps, at step 0 and whenever ``CHECK_EVERY`` are waiting: one host sync per
    interval, and the error names the first bad value as the immediate check would. Without a
    context (a direct call) the check runs at once."""

    def check_later(self, key: str, values: Tensor, ctx: StepContext | None,
                    check: Callable[[Tensor], object]) -> None:
        pending = self.__dict__.setdefault("_pending_checks", {})
        entry = pending.setdefault(key, (check, []))
        entry[1].append(values.detach())
        if ctx is None or ctx.step % CHECK_EVERY == 0 or len(entry[1]) >= CHECK_EVERY:
            self.run_checks()

    def check_task_losses(self, losses: Tensor, ctx: StepContext | None) -> None:
        """The shape of (..., K) ``losses`` (K = ``self.num_tasks``) at once, their finiteness later."""
        check_losses(losses.detach(), self.num_tasks, finite=False)
        self.check_later("losses", losses, ctx, lambda v, k=self.num_tasks: check_losses(v, k))

    def run_checks(self) -> None:
        """Run every waiting check now (raises ValueError on the first bad value)."""
        pending = self.__dict__.get("_pending_checks", {})
        while pending:
            key = next(iter(pending))
            check, values = pending.pop(key)
            try:
                block = torch.stack(values) if len(values) > 1 else values[0]
            except RuntimeError:                              # shapes changed between steps
                block = None
            error = None
            if block is not None:
                try:
                    check(block)                              # one host sync for the interval
                    continue
                except ValueError as e:
                    error = e
            for v in values:                                  # name the first bad value
                check(v)
            if error is not None:
                raise error


class LossWeighting(Strategy, DeferredChecks):
    """Base class: subclasses implement ``weights(losses, ctx)``. Heads and shared parameters alike
    receive the weighted gradients w_k ∇L_k."""

    def weights(self, losses: Tensor, ctx: StepContext | None = None) -> Tensor:
        raise NotImplementedError

    def backward(self, losses: Tensor, ctx: StepContext) -> Tensor:
        w = self.weights(losses.detach(), ctx).detach()
        (w * losses).sum().backward()
        return w


def check_losses(losses: Tensor, num_tasks: int | None = None, name: str = "losses", *,
                 finite: bool = True) -> Tensor:
    """Validate task losses (..., K): a floating tensor, finite, with ``num_tasks`` entries last.
    ``finite=False`` checks the type and shape only (no host sync)."""
    if not isinstance(losses, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (..., K), got {type(losses).__name__}")
    if losses.dim() < 1 or losses.shape[-1] < 1 or not losses.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor of shape (..., K) with K >= 1, "
                         f"got {losses.dtype} of shape {tuple(losses.shape)}")
    if num_tasks is not None and losses.shape[-1] != num_tasks:
        raise ValueError(f"{name} must have {num_tasks} tasks in its last dimension, "
                         f"got shape {tuple(losses.shape)}")
    if finite and not bool(torch.isfinite(losses).all()):
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
