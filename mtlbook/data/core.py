"""Containers for multi-task data and the minibatch samplers of the training loop.

Data sets in this book are small enough to live in memory (and on the device) as tensors, so a
minibatch is an index into tensors rather than a DataLoader round trip.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from mtlbook.tasks import Task


@dataclass(frozen=True)
class MultiTaskData:
    """Inputs ``x`` (N, ...) with one target tensor per task, in the order of ``tasks``."""

    x: Tensor
    targets: tuple[Tensor, ...]
    tasks: tuple[Task, ...]
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if len(self.targets) != len(self.tasks):
            raise ValueError(f"targets must have one tensor per task: {len(self.targets)} targets, "
                             f"{len(self.tasks)} tasks")
        for t, y in zip(self.tasks, self.targets):
            if y.shape[0] != self.x.shape[0]:
                raise ValueError(f"target of task {t.name!r} has {y.shape[0]} rows, x has {self.x.shape[0]}")
            if t.kind == "classification" and y.dtype != torch.long:
                raise TypeError(f"target of classification task {t.name!r} must be int64, got {y.dtype}")

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)

    def to(self, device: torch.device | str) -> MultiTaskData:
        return replace(self, x=self.x.to(device), targets=tuple(y.to(device) for y in self.targets))

    def subset(self, index: Tensor | slice) -> MultiTaskData:
        """The rows ``index`` (a slice, an index tensor or a boolean mask)."""
        return replace(self, x=self.x[index], targets=tuple(y[index] for y in self.targets))

    def head(self, n: int) -> MultiTaskData:
        if not 1 <= n <= len(self):
            raise ValueError(f"n must be in [1, {len(self)}], got {n}")
        return self.subset(slice(0, n))

    def select_tasks(self, names: Sequence[str]) -> MultiTaskData:
        """Keep the tasks named ``names``, in that order."""
        idx = []
        for n in names:
            if n not in self.task_names:
                raise ValueError(f"unknown task {n!r}; this data has {list(self.task_names)}")
            idx.append(self.task_names.index(n))
        return replace(self, targets=tuple(self.targets[i] for i in idx),
                       tasks=tuple(self.tasks[i] for i in idx))


@dataclass(frozen=True)
class Split:
    """A train/test pair of :class:`MultiTaskData` with the same tasks."""

    train: MultiTaskData
    test: MultiTaskData

    @property
    def tasks(self) -> tuple[Task, ...]:
        return self.train.tasks

    @property
    def task_names(self) -> tuple[str, ...]:
        return self.train.task_names

    def to(self, device: torch.device | str) -> Split:
        return Split(self.train.to(device), self.test.to(device))

    def select_tasks(self, names: Sequence[str]) -> Split:
        return Split(self.train.select_tasks(names), self.test.select_tasks(names))


Batch = tuple[Tensor, tuple[Tensor, ...]]


class EpochBatches:
    """Shuffled minibatches, epoch after epoch (the last, short batch of an epoch is dropped when
    ``drop_last``). ``epoch`` counts finished passes; ``steps_per_epoch`` is fixed."""

    def __init__(self, data: MultiTaskData, batch_size: int, *, generator: torch.Generator | None = None,
                 shuffle: bool = True, drop_last: bool = True):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if batch_size > len(data):
            raise ValueError(f"batch_size={batch_size} exceeds the {len(data)} training examples")
        self.data, self.batch_size, self.shuffle = data, batch_size, shuffle
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        n = len(data)
        self.steps_per_epoch = n // batch_size if drop_last else -(-n // batch_size)
        self.epoch = 0
        self._order: Tensor | None = None
        self._pos = 0

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        if self._order is None or self._pos >= self.steps_per_epoch:
            if self._order is not None:
                self.epoch += 1
            n = len(self.data)
            order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
            self._order, self._pos = order.to(self.data.x.device), 0
        idx = self._order[self._pos * self.batch_size:(self._pos + 1) * self.batch_size]
        self._pos += 1
        return self.data.x[idx], tuple(y[idx] for y in self.data.targets)


class EnsembleBatches:
    """Minibatches for E models trained side by side, model e drawing from its own rows
    ``subsets[e]`` of ``data`` (sampled with replacement across steps, so that training sets of
    different sizes advance in lockstep). Yields x of shape (E, B, ...) and targets (E, B, ...)."""

    def __init__(self, data: MultiTaskData, subsets: Sequence[Tensor], batch_size: int, *,
                 generator: torch.Generator | None = None):
        if not subsets:
            raise ValueError("subsets must hold at least one index tensor")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.data, self.batch_size = data, batch_size
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        sizes = [len(s) for s in subsets]
        if min(sizes) < 1:
            raise ValueError("every subset must hold at least one row")
        width = max(sizes)
        # pad each subset by repeating it, so that one gather serves every model
        padded = torch.stack([s.repeat(-(-width // len(s)))[:width] for s in subsets])
        self.table = padded.to(data.x.device)
        self.sizes = torch.tensor(sizes, dtype=torch.float64)
        self.epoch = 0
        self.steps_per_epoch = max(1, round(sum(sizes) / len(sizes) / batch_size))
        self._step = 0

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        u = torch.rand(len(self.sizes), self.batch_size, generator=self.generator, dtype=torch.float64)
        pos = (u * self.sizes[:, None]).long().to(self.table.device)
        idx = torch.gather(self.table, 1, pos)                      # (E, B) row numbers
        self.epoch = self._step // self.steps_per_epoch             # the epoch of this batch
        self._step += 1
        return self.data.x[idx], tuple(y[idx] for y in self.data.targets)
