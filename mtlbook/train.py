"""One training loop for every strategy, recording per-task losses, task weights and metrics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mtlbook import config as _config
from mtlbook.data.core import EpochBatches, MultiTaskData
from mtlbook.strategy import StepContext, Strategy
from mtlbook.tasks import Task


@dataclass
class History:
    """What :func:`fit` recorded. Leading dimension: steps (or evaluations); trailing: tasks."""

    task_names: tuple[str, ...]
    losses: Tensor        # (T, ..., K) training loss of each step's batch
    weights: Tensor       # (T, ..., K) task weights the strategy used at each step
    epochs: Tensor        # (T,) epoch of each step
    eval_steps: Tensor    # (M,) steps after which the model was evaluated
    eval_losses: Tensor   # (M, ..., K)
    eval_metrics: Tensor  # (M, ..., K) accuracy or MSE per task

    @property
    def final_metrics(self) -> Tensor:
        if len(self.eval_steps) == 0:
            raise ValueError("no evaluation was recorded: pass eval_data to fit()")
        return self.eval_metrics[-1]

    @property
    def final_losses(self) -> Tensor:
        if len(self.eval_steps) == 0:
            raise ValueError("no evaluation was recorded: pass eval_data to fit()")
        return self.eval_losses[-1]

    def epoch_means(self, values: Tensor | None = None) -> Tensor:
        """Mean of ``values`` (default: the training losses) over the steps of each epoch."""
        v = self.losses if values is None else values
        n = int(self.epochs.max()) + 1 if len(self.epochs) else 0
        return torch.stack([v[self.epochs == e].mean(0) for e in range(n)]) if n else v[:0]


@torch.no_grad()
def evaluate(model: nn.Module, data: MultiTaskData, batch_size: int = 4096) -> tuple[Tensor, Tensor]:
    """Mean loss and metric per task over ``data``, in eval mode: two tensors (..., K)."""
    was_training = model.training
    model.eval()
    losses, metrics, n = 0.0, 0.0, len(data)
    try:
        for start in range(0, n, batch_size):
            part = data.subset(slice(start, start + batch_size))
            outs = model(part.x)
            w = len(part) / n
            losses = losses + w * torch.stack(
                [t.loss(o, y) for t, o, y in zip(data.tasks, outs, part.targets)], -1)
            metrics = metrics + w * torch.stack(
                [t.metric(o, y) for t, o, y in zip(data.tasks, outs, part.targets)], -1)
    finally:
        model.train(was_training)
    return losses, metrics


def _check_finite(block: Tensor, first_step: int, names: tuple[str, ...]) -> None:
    """Raise naming the first task and step whose loss is not finite (one host sync per block)."""
    if bool(torch.isfinite(block).all()):
        return
    bad = (~torch.isfinite(block)).reshape(block.shape[0], -1, block.shape[-1])
    step, _, task = (int(i) for i in bad.nonzero()[0])
    value = block.reshape(block.shape[0], -1, block.shape[-1])[step, :, task]
    raise FloatingPointError(f"training diverged: the loss of task {names[task]!r} is "
                             f"{value[~torch.isfinite(value)][0].item()} at step {first_step + step}")


def _progress(total: int, enabled: bool, description: str | None):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=False, mininterval=0.5)


def fit(model: nn.Module, data: MultiTaskData | Iterator, *, steps: int | None = None,
        epochs: int | None = None, batch_size: int = 128, lr: float = 1e-3,
        optimizer: torch.optim.Optimizer | None = None, strategy: Strategy | None = None,
        eval_data: MultiTaskData | None = None, eval_every: int | None = None,
        check_every: int = 50, seed: int | None = None, progress: bool | None = None,
        description: str | None = None) -> History:
    """Train ``model`` on ``data`` with ``strategy`` (default: equal weights) and record a History.

    ``data`` is a :class:`MultiTaskData` (shuffled minibatches of ``batch_size``) or a sampler such
    as :class:`mtlbook.data.EnsembleBatches`. Give exactly one of ``steps`` and ``epochs``. The
    optimizer defaults to Adam with learning rate ``lr``. The model is evaluated on ``eval_data``
    every ``eval_every`` steps and at the end. Losses are checked for NaN/inf every ``check_every``
    steps (a diverged task is named with its step). Progress is shown with ``tqdm.auto`` unless
    ``MTLBOOK_PROGRESS=0`` or ``progress=False``.
    """
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps and epochs")
    if isinstance(data, MultiTaskData):
        gen = torch.Generator().manual_seed(_config.get().seed if seed is None else seed)
        sampler = EpochBatches(data, batch_size, generator=gen)
        tasks: tuple[Task, ...] = data.tasks
    elif hasattr(data, "__next__") and hasattr(data, "data"):
        sampler, tasks = data, data.data.tasks
    else:
        raise TypeError(f"data must be MultiTaskData or a batch sampler, got {type(data).__name__}")
    if epochs is not None:
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {epochs!r}")
        steps = epochs * sampler.steps_per_epoch
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if eval_every is not None and (not isinstance(eval_every, int) or eval_every < 1):
        raise ValueError(f"eval_every must be a positive int, got {eval_every!r}")
    if strategy is None:
        from mtlbook.weighting import EqualWeighting

        strategy = EqualWeighting()
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy must be an mtlbook Strategy, got {type(strategy).__name__}")
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    names = tuple(t.name for t in tasks)
    show = _config.get().progress if progress is None else progress
    bar = _progress(steps, show, description)

    model.train()
    losses, weights, epoch_of = [], [], []
    eval_steps, eval_losses, eval_metrics = [], [], []
    epoch_sum, epoch_count, epoch = None, 0, sampler.epoch
    checked = 0
    for step in range(steps):
        x, targets = next(sampler)
        if sampler.epoch != epoch:                      # a new epoch started with this batch
            if epoch_count:
                strategy.end_epoch(epoch_sum / epoch_count)
            epoch_sum, epoch_count, epoch = None, 0, sampler.epoch
        ctx = StepContext(model, tasks, optimizer, x, targets, step, epoch)
        step_losses, step_weights = strategy.step(ctx)
        losses.append(step_losses)
        weights.append(step_weights)
        epoch_of.append(epoch)
        epoch_sum = step_losses if epoch_sum is None else epoch_sum + step_losses
        epoch_count += 1
        if (step + 1) % check_every == 0:
            _check_finite(torch.stack(losses[checked:]), checked, names)
            checked = step + 1
        if eval_data is not None and eval_every is not None and (step + 1) % eval_every == 0 \
                and step + 1 < steps:
            el, em = evaluate(model, eval_data)
            eval_steps.append(step + 1), eval_losses.append(el), eval_metrics.append(em)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if checked < steps:
        _check_finite(torch.stack(losses[checked:]), checked, names)
    if eval_data is not None:
        el, em = evaluate(model, eval_data)
        eval_steps.append(steps), eval_losses.append(el), eval_metrics.append(em)

    def stacked(xs: list[Tensor]) -> Tensor:
        return torch.stack(xs).cpu() if xs else torch.empty(0)

    return History(names, stacked(losses), stacked(weights), torch.tensor(epoch_of),
                   torch.tensor(eval_steps, dtype=torch.long), stacked(eval_losses),
                   stacked(eval_metrics))
