"""E copies of one multi-task architecture trained side by side as one tensor program.

Seeds and sweeps of a small model are batched rather than looped: the parameters of E models of the
same architecture are stacked along a new leading dimension (``torch.func.stack_module_state``) and
one vmapped ``functional_call`` runs all of them on their own minibatches. Because the E models
share no parameter and Adam is element-wise, minimizing the sum of their losses trains each model
exactly as on its own (up to floating-point summation order), in one program instead of E.

Model e trains on ``splits[e // seeds]`` (a sweep, e.g. one split per task relatedness) with seed
``e % seeds``. A model with a ``penalty()`` (soft sharing, sluice, MRN) has it added to its loss;
``alpha_parameters()`` (cross-stitch, sluice) get the learning rate times ``alpha_lr_scale``, as
in Misra et al.; a model with ``update_covariance()`` (MRN) has it called every ``epoch_steps``
steps. The models are moved to the device of the data. After training, the parameters are written back
into E ordinary modules.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from mtlbook.data.core import Split
from mtlbook.tasks import task_losses


class _Objective(nn.Module):
    """forward(x) -> (task outputs, penalty) of the wrapped model, so both run under one call."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor):
        outs = self.model(x)
        pen = self.model.penalty() if hasattr(self.model, "penalty") else x.new_zeros(())
        return outs, pen


@dataclass
class SideBySide:
    """What :func:`train_side_by_side` returns: the E trained ``models``, their test ``metrics``
    (E, K), their training ``losses`` (steps, E, K) and ``penalties`` (steps, E)."""

    models: list[nn.Module]
    metrics: Tensor
    losses: Tensor
    penalties: Tensor
    seeds: int

    def grid(self, values: Tensor | None = None) -> Tensor:
        """``values`` (default: the metrics) reshaped to (splits, seeds, ...)."""
        v = self.metrics if values is None else values
        return v.reshape(-1, self.seeds, *v.shape[1:])


def _write_back(models: Sequence[nn.Module], params: dict, buffers: dict) -> None:
    with torch.no_grad():
        for e, m in enumerate(models):
            for name, p in m.named_parameters():
                p.copy_(params["model." + name][e])
            for name, b in m.named_buffers():
                b.copy_(buffers["model." + name][e])


def train_side_by_side(make: Callable[[], nn.Module], splits: Sequence[Split], *, seeds: int = 3,
                       steps: int = 500, batch_size: int = 64, lr: float = 3e-3,
                       alpha_lr_scale: float = 1.0, epoch_steps: int = 100,
                       seed: int = 0) -> SideBySide:
    """Train ``len(splits) * seeds`` models built by ``make()`` (under ``torch.manual_seed``) and
    evaluate them on their split's test set. Every split must have the same number of training
    examples, input shape and tasks."""
    if not splits or not all(isinstance(s, Split) for s in splits):
        raise ValueError(f"splits must be a non-empty sequence of Split, got {splits!r}")
    if len({(len(s.train), tuple(s.train.x.shape[1:]), s.task_names) for s in splits}) != 1:
        raise ValueError("splits must share the training-set size, the input shape and the tasks")
    for name, v in (("seeds", seeds), ("steps", steps), ("batch_size", batch_size),
                    ("epoch_steps", epoch_steps)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not lr > 0 or not alpha_lr_scale > 0:
        raise ValueError(f"lr and alpha_lr_scale must be > 0, got {lr} and {alpha_lr_scale}")
    n_train = len(splits[0].train)
    if batch_size > n_train:
        raise ValueError(f"batch_size={batch_size} exceeds the {n_train} training examples")
    tasks = splits[0].tasks
    num = len(splits) * seeds
    device = splits[0].train.x.device
    models = []
    for e in range(num):
        torch.manual_seed(seed + e % seeds)
        models.append(make().to(device))
    wrapped = [_Objective(m) for m in models]
    params, buffers = stack_module_state(wrapped)
    base = copy.deepcopy(wrapped[0]).to("meta")
    alpha_ids = {id(p) for p in getattr(models[0], "alpha_parameters", lambda: [])()}
    alpha_names = {"model." + n for n, p in models[0].named_parameters() if id(p) in alpha_ids}
    groups = [{"params": [p for n, p in params.items() if n not in alpha_names], "lr": lr}]
    if alpha_names:
        groups.append({"params": [params[n] for n in alpha_names], "lr": lr * alpha_lr_scale})
    opt = torch.optim.Adam(groups)

    which = torch.arange(num) // seeds
    x_train = torch.stack([splits[i].train.x for i in which])                  # (E, N, ...)
    y_train = [torch.stack([splits[i].train.targets[k] for i in which]) for k in range(len(tasks))]
    gen = torch.Generator().manual_seed(seed)

    def run(p, b, x):
        return functional_call(base, (p, b), (x,))

    batched = vmap(run)
    rows = torch.arange(num, device=device)[:, None]
    losses, penalties = [], []
    has_update = hasattr(models[0], "update_covariance")
    for step in range(steps):
        idx = torch.randint(0, n_train, (num, batch_size), generator=gen).to(device)
        outs, pen = batched(params, buffers, x_train[rows, idx])
        task_loss = task_losses(tasks, outs, [y[rows, idx] for y in y_train])  # (E, K)
        opt.zero_grad(set_to_none=True)
        (task_loss.sum() + pen.sum()).backward()
        opt.step()
        losses.append(task_loss.detach())
        penalties.append(pen.detach())
        if has_update and (step + 1) % epoch_steps == 0:
            _write_back(models, params, buffers)
            for m in models:
                m.update_covariance()
            with torch.no_grad():
                for name, b in buffers.items():
                    b.copy_(torch.stack([dict(m.named_buffers())[name[len("model."):]] for m in models]))
    _write_back(models, params, buffers)
    metrics = []
    with torch.no_grad():
        for e, m in enumerate(models):
            m.eval()
            test = splits[int(which[e])].test
            outs = m(test.x)
            metrics.append(torch.stack([t.metric(o, y) for t, o, y in zip(tasks, outs, test.targets)]))
    return SideBySide(models, torch.stack(metrics), torch.stack(losses), torch.stack(penalties), seeds)
