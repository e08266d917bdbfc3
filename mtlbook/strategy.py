"""The interface between the training loop and a multi-task method.

A :class:`Strategy` turns one batch into one parameter update. Most methods only decide how the K task
losses become gradients and override :meth:`Strategy.backward` (loss weightings combine the losses;
gradient methods such as MGDA or PCGrad work on per-task gradients). Methods that change the shape of
a step itself (several sequential updates per batch, lookahead passes) override :meth:`Strategy.step`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mtlbook.tasks import Task, task_losses


@dataclass
class StepContext:
    """Everything a strategy may use during one training step."""

    model: nn.Module
    tasks: tuple[Task, ...]
    optimizer: torch.optim.Optimizer
    x: Tensor
    targets: tuple[Tensor, ...]
    step: int
    epoch: int
    outputs: list[Tensor] | None = None
    features: Tensor | None = None

    def compute_losses(self) -> Tensor:
        """Forward the batch and return the task losses (..., K). Keeps ``outputs``, and ``features``
        (the shared representation z) when the model has ``encode``/``decode``."""
        if hasattr(self.model, "encode") and hasattr(self.model, "decode"):
            self.features = self.model.encode(self.x)
            self.outputs = self.model.decode(self.features)
        else:
            self.features = None
            self.outputs = self.model(self.x)
        return task_losses(self.tasks, self.outputs, self.targets)


class Strategy:
    """How a training step turns the task losses of a batch into a parameter update."""

    def step(self, ctx: StepContext) -> tuple[Tensor, Tensor]:
        """One update: forward, ``backward``, optimizer step. Returns (losses, weights), detached."""
        ctx.optimizer.zero_grad(set_to_none=True)
        losses = ctx.compute_losses()
        weights = self.backward(losses, ctx)
        ctx.optimizer.step()
        return losses.detach(), weights.detach()

    def backward(self, losses: Tensor, ctx: StepContext) -> Tensor:
        """Fill ``.grad`` from the task losses (..., K); return the K loss weights used (...,K)."""
        raise NotImplementedError(f"{type(self).__name__} must implement backward() or step()")

    def end_epoch(self, epoch_losses: Tensor) -> None:
        """Called after each epoch with the epoch's mean training loss per task (..., K)."""
