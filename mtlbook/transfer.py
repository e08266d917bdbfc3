"""Does sharing help? Multi-task against single-task networks over sweeps, as one batched program.

For every configuration — a data set (say, one per task relatedness), a training-set size and a seed
— :func:`compare_sharing` trains a hard-sharing network for all K tasks and K single-task networks of
the same architecture, then measures each on the test set. All configurations train side by side as
ensembles (:mod:`mtlbook.models.ensemble`), each model drawing minibatches from its own training
rows, so a grid of hundreds of small networks costs a few seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mtlbook.data.core import EnsembleBatches, MultiTaskData, Split
from mtlbook.models.ensemble import EnsembleHardSharing
from mtlbook.train import fit


@dataclass
class SharingComparison:
    """Test metrics of multi-task (``mtl``) and single-task (``stl``) networks, each of shape
    (datasets, sizes, seeds, K); ``higher_is_better`` per task; trunk passes per example."""

    sizes: tuple[int, ...]
    mtl: Tensor
    stl: Tensor
    higher_is_better: tuple[bool, ...]
    mtl_parameters: int
    stl_parameters: int

    def gain(self) -> Tensor:
        """Per task, how much better multi-task is, in the metric's units (positive: MTL better)."""
        sign = torch.tensor([1.0 if h else -1.0 for h in self.higher_is_better])
        return sign * (self.mtl - self.stl)

    def relative_gain(self) -> Tensor:
        """Gain relative to the single-task metric, averaged over tasks: (datasets, sizes, seeds)."""
        return (self.gain() / self.stl.abs()).mean(-1)


def _stack(splits: Sequence[Split], rows: int) -> MultiTaskData:
    first = splits[0].train
    x = torch.cat([s.train.x[:rows] for s in splits])
    ys = tuple(torch.cat([s.train.targets[k][:rows] for s in splits]) for k in range(first.num_tasks))
    return MultiTaskData(x, ys, first.tasks)


@torch.no_grad()
def _test_metrics(model: EnsembleHardSharing, tests: Sequence[MultiTaskData], which: Sequence[int],
                  task_ids: Sequence[int]) -> Tensor:
    """Metric of model e on the test set ``tests[which[e]]`` for each task in ``task_ids``: (E, K')."""
    x = torch.stack([tests[i].x for i in which])
    outs = model(x)
    cols = []
    for head, k in zip(outs, task_ids):
        task = tests[0].tasks[k]
        y = torch.stack([tests[i].targets[k] for i in which])
        cols.append(task.metric(head, y))
    return torch.stack(cols, -1)


def compare_sharing(splits: Sequence[Split], sizes: Sequence[int], *, seeds: int = 3,
                    hidden: Sequence[int] = (32, 32), steps: int = 1000, lr: float = 3e-3,
                    batch_size: int = 64, seed: int = 0) -> SharingComparison:
    """Train MTL and STL networks for every (split, size, seed) and return their test metrics.

    ``splits`` must share tasks and input shape and hold at least ``max(sizes)`` training rows each;
    model e of a configuration trains on the first ``size`` rows of its split.
    """
    if not splits:
        raise ValueError("splits must hold at least one Split")
    tasks = splits[0].tasks
    for s in splits:
        if s.tasks != tasks or s.train.x.shape[1:] != splits[0].train.x.shape[1:]:
            raise ValueError("every split must have the same tasks and input shape")
    sizes = tuple(int(n) for n in sizes)
    rows = max(sizes)
    if min(sizes) < 1 or any(len(s.train) < rows for s in splits):
        raise ValueError(f"sizes must be positive and at most each split's training rows, got {sizes}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    in_features = math.prod(splits[0].train.x.shape[1:])
    configs = [(i, n, r) for i in range(len(splits)) for n in sizes for r in range(seeds)]
    which = [i for i, _, _ in configs]
    subsets = [torch.arange(i * rows, i * rows + n) for i, n, _ in configs]
    data = _stack(splits, rows)
    tests = [s.test for s in splits]
    gen = torch.Generator().manual_seed(seed)

    mtl = EnsembleHardSharing(len(configs), tasks, in_features, hidden, generator=gen)
    fit(mtl, EnsembleBatches(data, subsets, batch_size, generator=gen), steps=steps, lr=lr)
    mtl_metrics = _test_metrics(mtl, tests, which, range(len(tasks)))

    stl_metrics, stl_params = [], 0
    for k, task in enumerate(tasks):
        single = data.select_tasks([task.name])
        net = EnsembleHardSharing(len(configs), (task,), in_features, hidden, generator=gen)
        fit(net, EnsembleBatches(single, subsets, batch_size, generator=gen), steps=steps, lr=lr)
        stl_metrics.append(_test_metrics(net, tests, which, [k])[:, 0])
        stl_params += sum(p[0].numel() for p in net.parameters())
    shape = (len(splits), len(sizes), seeds, len(tasks))
    return SharingComparison(sizes, mtl_metrics.reshape(shape), torch.stack(stl_metrics, -1).reshape(shape),
                             tuple(t.higher_is_better for t in tasks),
                             sum(p[0].numel() for p in mtl.parameters()), stl_params)
