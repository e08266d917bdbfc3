"""Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019, eq. 7)."""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbook.strategy import StepContext
from mtlbook.weighting.base import LossWeighting, check_losses, check_num_tasks


def dwa_weights(epoch_losses: Tensor, temperature: float = 2.0) -> Tensor:
    """w_k = K exp(r_k/T) / Σ_i exp(r_i/T), r_k = L̄_k(e−1)/L̄_k(e−2), from the (E, K) epoch-mean
    training losses of the finished epochs; all ones while fewer than two epochs are done. Σw = K."""
    if not isinstance(epoch_losses, Tensor) or epoch_losses.dim() != 2:
        raise ValueError("epoch_losses must be a tensor (E, K) of epoch-mean losses, got "
                         f"{tuple(epoch_losses.shape) if isinstance(epoch_losses, Tensor) else type(epoch_losses).__name__}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    k = epoch_losses.shape[1]
    check_losses(epoch_losses, name="epoch_losses")
    if epoch_losses.shape[0] < 2:
        return torch.ones(k, dtype=epoch_losses.dtype, device=epoch_losses.device)
    if bool((epoch_losses[-2] <= 0).any()):
        raise ValueError(f"epoch_losses must be > 0 to form ratios, got {epoch_losses[-2].tolist()}")
    r = epoch_losses[-1] / epoch_losses[-2]
    return k * torch.softmax(r / temperature, dim=-1)


class DynamicWeightAverage(LossWeighting):
    """DWA: tasks whose epoch-mean loss falls more slowly get more weight (see :func:`dwa_weights`).

    Epoch-level: the weights change only when the training loop reports a finished epoch through
    ``end_epoch``; they are 1 for the first two epochs. State: ``epoch_losses``, one (K,) tensor per
    finished epoch. Σw = K. Head gradients are weighted too.
    """

    def __init__(self, num_tasks: int, temperature: float = 2.0):
        self.num_tasks = check_num_tasks(num_tasks)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.temperature = float(temperature)
        self.epoch_losses: list[Tensor] = []
        self._current: Tensor | None = None

    def end_epoch(self, epoch_losses: Tensor) -> None:
        check_losses(epoch_losses, self.num_tasks, "epoch_losses")
        if epoch_losses.dim() != 1:
            raise ValueError(f"epoch_losses must be (K,) for one model, got {tuple(epoch_losses.shape)}")
        self.epoch_losses.append(epoch_losses.detach().clone())
        self._current = dwa_weights(torch.stack(self.epoch_losses[-2:]), self.temperature)

    def weights(self, losses: Tensor, ctx: StepContext | None = None) -> Tensor:
        self.check_task_losses(losses, ctx)
        if self._current is None:
            return torch.ones_like(losses)
        return self._current.to(losses).expand_as(losses)
