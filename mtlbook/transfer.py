"""Does sharing help? Multi-task against single-task networks over sweeps, as one batched program.

For every configuration — a data set (say, one per task relatedness), a training-set size and a seed
— :func:`compare_sharing` trains a hard-sharing network for all K tasks and K single-task networks of
the same architecture, then measures each on the test set. All configurations train side by side as
ensembles (:mod:`mtlbook.models.ensemble`), each model drawing minibatches from its own training
rows, so a grid of hundreds of small networks costs a few seconds. A single-task network is a
hard-sharing network whose loss counts only its own task's head (the other heads receive no gradient
and are never read), so multi-task and single-task networks train together as one program.

Comparing networks of different capacity after a fixed number of steps mostly measures who overfits
or converges first, so every network is early-stopped: it is evaluated every ``eval_every`` steps on
validation rows held out from the training data, and its test metrics are taken at its best
validation loss.
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
from mtlbook.weighting.static import FixedWeights


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
def _evaluate(model: EnsembleHardSharing, parts: Sequence[MultiTaskData], which: Sequence[int]):
    """Losses and metrics (E, K) of model e on ``parts[which[e]]``, for every task."""
    x = torch.stack([parts[i].x for i in which])
    outs = model(x)
    losses, metrics = [], []
    for k, (head, task) in enumerate(zip(outs, parts[0].tasks)):
        y = torch.stack([parts[i].targets[k] for i in which])
        losses.append(task.loss(head, y))
        metrics.append(task.metric(head, y))
    return torch.stack(losses, -1), torch.stack(metrics, -1)


def compare_sharing(splits: Sequence[Split], sizes: Sequence[int], *, seeds: int = 3,
                    hidden: Sequence[int] = (32, 32), steps: int = 1000, lr: float = 3e-3,
                    batch_size: int = 64, val_size: int = 500, eval_every: int = 100,
                    seed: int = 0) -> SharingComparison:
    """Train MTL and STL networks for every (split, size, seed) and return their test metrics.

    ``splits`` must share tasks and input shape and hold at least ``max(sizes) + val_size``
    training rows each: a configuration of size n trains on the first n rows of its split and is
    early-stopped on the ``val_size`` rows after ``max(sizes)``.
    """
    if not splits:
        raise ValueError("splits must hold at least one Split")
    tasks = splits[0].tasks
    for s in splits:
        if s.tasks != tasks or s.train.x.shape[1:] != splits[0].train.x.shape[1:]:
            raise ValueError("every split must have the same tasks and input shape")
    sizes = tuple(int(n) for n in sizes)
    rows = max(sizes)
    if min(sizes) < 1 or any(len(s.train) < rows + val_size for s in splits):
        raise ValueError(f"sizes must be positive and every split needs max(sizes) + val_size = "
                         f"{rows + val_size} training rows, got sizes {sizes}")
    if seeds < 1 or val_size < 1 or eval_every < 1:
        raise ValueError(f"seeds, val_size and eval_every must be >= 1, got {seeds}, {val_size}, {eval_every}")
    k, in_features = len(tasks), math.prod(splits[0].train.x.shape[1:])
    configs = [(i, n) for i in range(len(splits)) for n in sizes for _ in range(seeds)]
    e = len(configs)
    # models 0..e-1 are multi-task; then, for each task k, e single-task networks
    which = [i for i, _ in configs] * (k + 1)
    subsets = [torch.arange(i * rows, i * rows + n) for i, n in configs] * (k + 1)
    mask = torch.cat([torch.ones(e, k)] + [torch.zeros(e, k).index_fill_(1, torch.tensor([t]), 1.0)
                                           for t in range(k)])
    data = _stack(splits, rows)
    val = [s.train.subset(slice(rows, rows + val_size)) for s in splits]
    tests = [s.test for s in splits]
    gen = torch.Generator().manual_seed(seed)
    model = EnsembleHardSharing(len(which), tasks, in_features, hidden, generator=gen)
    sampler = EnsembleBatches(data, subsets, batch_size, generator=gen)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    best_val = torch.full((len(which),), float("inf"))
    best_test = torch.zeros(len(which), k)
    done = 0
    while done < steps:                                  # chunks of eval_every, the last one shorter
        chunk = min(eval_every, steps - done)
        fit(model, sampler, steps=chunk, optimizer=optimizer, strategy=FixedWeights(mask))
        done += chunk
        val_loss = (_evaluate(model, val, which)[0] * mask).sum(-1)    # each network's own tasks
        improved = val_loss < best_val
        best_val = torch.where(improved, val_loss, best_val)
        best_test[improved] = _evaluate(model, tests, which)[1][improved]
    shape = (len(splits), len(sizes), seeds, k)
    stl = torch.stack([best_test[e * (t + 1):e * (t + 2), t] for t in range(k)], -1)
    trunk = sum(p[0].numel() for p in model.encoder.parameters())
    heads = [sum(p[0].numel() for p in h.parameters()) for h in model.heads]
    return SharingComparison(sizes, best_test[:e].reshape(shape), stl.reshape(shape),
                             tuple(t.higher_is_better for t in tasks), trunk + sum(heads),
                             k * trunk + sum(heads))
