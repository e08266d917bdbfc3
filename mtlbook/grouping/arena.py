"""Networks for task subsets trained side by side: pairwise transfer and the grouping arena.

A task grouping is a set of networks, each trained on the tasks of one group. Every network of
every grouping and seed is one member of an ensemble (:mod:`mtlbook.models.ensemble`) whose loss
counts only its own tasks (a mask), so single-task networks, all pairs, the group networks of TAG
and random groupings train as one tensor program. Each member draws its own minibatches from the
same training rows, is evaluated every ``eval_every`` steps on validation rows held out from the
training data, and keeps its test metrics from its best validation loss (summed over its tasks).

Pairwise transfer (Standley et al., ICML 2020): with M_i(S) the test metric of task i in a network
trained on the tasks S, the transfer from j onto i is the relative gain
T_{j→i} = ±(M_i({i, j}) − M_i({i})) / M_i({i}) (sign + when higher is better), stored ``[j, i]``
like the affinities (``[source, target]``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mtlbook.data.core import EnsembleBatches, Split
from mtlbook.models.ensemble import EnsembleHardSharing
from mtlbook.strategy import Strategy
from mtlbook.train import fit
from mtlbook.weighting.static import FixedWeights

Groups = tuple[tuple[int, ...], ...]


def task_masks(groups: Sequence[Sequence[int]], num_tasks: int) -> Tensor:
    """(len(groups), K) float mask: row g is 1 on the tasks of group g."""
    if not isinstance(num_tasks, int) or num_tasks < 1:
        raise ValueError(f"num_tasks must be a positive int, got {num_tasks!r}")
    mask = torch.zeros(len(groups), num_tasks)
    for g, members in enumerate(groups):
        members = list(members)
        if not members or any(not 0 <= i < num_tasks for i in members):
            raise ValueError(f"group {g} must hold task indices in [0, {num_tasks}), got {members}")
        mask[g, members] = 1.0
    return mask


def random_groups(num_tasks: int, sizes: Sequence[int], generator: torch.Generator, *,
                  max_draws: int = 10_000) -> Groups:
    """Random groups of the given ``sizes`` that together hold every one of the K tasks: a uniformly
    random partition when the sizes sum to K; when they sum to more (overlapping groups, as a
    selection like TAG's can make), independent uniform subsets of those sizes, drawn again until
    they cover every task (at most ``max_draws`` times)."""
    if (not sizes or min(sizes) < 1 or max(sizes) > num_tasks or sum(sizes) < num_tasks):
        raise ValueError(f"sizes must be in [1, num_tasks={num_tasks}] and sum to at least num_tasks, "
                         f"got {list(sizes)}")
    if sum(sizes) == num_tasks:
        perm = torch.randperm(num_tasks, generator=generator).tolist()
        cuts = list(itertools.accumulate(sizes))
        return tuple(sorted(tuple(sorted(perm[a:b])) for a, b in zip([0] + cuts[:-1], cuts)))
    for _ in range(max_draws):
        groups = tuple(sorted(tuple(sorted(torch.randperm(num_tasks, generator=generator)[:n].tolist()))
                              for n in sizes))
        if len({i for g in groups for i in g}) == num_tasks:
            return groups
    raise ValueError(f"no draw of groups of sizes {list(sizes)} covered all {num_tasks} tasks in "
                     f"{max_draws} draws")


@dataclass
class SideBySide:
    """``test[n, s, k]``: test metric on task k of network n (trained on ``masks[n]``), seed s,
    at its best validation loss; ``best_step[n, s]`` the step of that checkpoint."""

    masks: Tensor
    test: Tensor
    best_step: Tensor
    steps: int

    def member(self, n: int) -> Tensor:
        """(seeds, K) test metrics of network n."""
        return self.test[n]


@torch.no_grad()
def _losses_and_metrics(model, data):
    outs = model(data.x)
    losses = torch.stack([t.loss(o, y) for t, o, y in zip(data.tasks, outs, data.targets)], -1)
    metrics = torch.stack([t.metric(o, y) for t, o, y in zip(data.tasks, outs, data.targets)], -1)
    return losses, metrics


def train_side_by_side(split: Split, masks: Tensor, *, seeds: int = 3, hidden: Sequence[int] = (8, 8),
                       steps: int = 1000, lr: float = 3e-3, batch_size: int = 64, val_size: int = 500,
                       eval_every: int = 100, seed: int = 0,
                       strategy: Callable[[Tensor], Strategy] | None = None,
                       optimizer: Callable[..., torch.optim.Optimizer] | None = None,
                       ) -> tuple[SideBySide, EnsembleHardSharing, Strategy]:
    """Train one hard-sharing MLP per row of ``masks`` (N, K) and seed; see the module docstring.

    Member n·seeds + s is network n, seed s. ``strategy(member_masks)`` builds the strategy from the
    (E, K) mask of the E = N·seeds members (default :class:`FixedWeights` of the mask);
    ``optimizer(params, num_models, lr)`` builds the optimizer (default Adam). The last
    ``val_size`` training rows are held out for validation. Returns the result, the model and the
    strategy (for what it tracked).
    """
    masks = torch.as_tensor(masks, dtype=torch.float32)
    k = split.train.num_tasks
    if masks.dim() != 2 or masks.shape[1] != k or not ((masks == 0) | (masks == 1)).all():
        raise ValueError(f"masks must be a 0/1 tensor (networks, K={k}), got shape {tuple(masks.shape)}")
    if (masks.sum(1) == 0).any():
        raise ValueError("every network must train at least one task (a row of masks is all zero)")
    for name, v in (("seeds", seeds), ("steps", steps), ("batch_size", batch_size),
                    ("val_size", val_size), ("eval_every", eval_every)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    n_fit = len(split.train) - val_size
    if n_fit < batch_size:
        raise ValueError(f"split.train has {len(split.train)} rows: too few for val_size={val_size} "
                         f"and batch_size={batch_size}")
    member = masks.repeat_interleave(seeds, 0)                                   # (E, K)
    e = len(member)
    gen = torch.Generator().manual_seed(seed)
    model = EnsembleHardSharing(e, split.tasks, math.prod(split.train.x.shape[1:]), hidden, generator=gen)
    sampler = EnsembleBatches(split.train, [torch.arange(n_fit)] * e, batch_size, generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=lr) if optimizer is None \
        else optimizer(model.parameters(), e, lr)
    strat = FixedWeights(member) if strategy is None else strategy(member)
    val = split.train.subset(slice(n_fit, len(split.train)))
    best_val = torch.full((e,), float("inf"))
    best_test = torch.zeros(e, k)
    best_step = torch.zeros(e, dtype=torch.long)
    done = 0
    while done < steps:
        chunk = min(eval_every, steps - done)
        fit(model, sampler, steps=chunk, optimizer=opt, strategy=strat, progress=False)
        done += chunk
        val_loss = (_losses_and_metrics(model, val)[0] * member).sum(-1)
        better = val_loss < best_val
        best_val = torch.where(better, val_loss, best_val)
        best_test[better] = _losses_and_metrics(model, split.test)[1][better]
        best_step[better] = done
    n = len(masks)
    return (SideBySide(masks, best_test.reshape(n, seeds, k), best_step.reshape(n, seeds), steps),
            model, strat)


def pairwise_transfer(single: Tensor, pairs: Tensor, pair_list: Sequence[tuple[int, int]],
                      higher_is_better: Sequence[bool]) -> Tensor:
    """T[j, i]: relative gain of task i from being trained with j (module docstring).

    ``single`` (..., K) holds each task's single-task metric, ``pairs`` (P, ..., K) the metrics of
    the P pair networks listed in ``pair_list``. Diagonal 0. Leading dimensions (seeds) are kept:
    the result is (..., K, K).
    """
    k = single.shape[-1]
    if len(pair_list) != pairs.shape[0]:
        raise ValueError(f"pair_list must name each of the {pairs.shape[0]} pair networks, got {len(pair_list)}")
    sign = torch.tensor([1.0 if h else -1.0 for h in higher_is_better], dtype=single.dtype)
    out = torch.zeros(*single.shape[:-1], k, k, dtype=single.dtype)
    for p, (i, j) in enumerate(pair_list):
        out[..., j, i] = sign[i] * (pairs[p, ..., i] - single[..., i]) / single[..., i]
        out[..., i, j] = sign[j] * (pairs[p, ..., j] - single[..., j]) / single[..., j]
    return out


def served_metrics(test: Tensor, groups: Groups, served_by: Sequence[int]) -> Tensor:
    """Metrics (..., K) of a selection of networks where task k is read from network
    ``served_by[k]``; ``test`` is (len(groups), ..., K)."""
    if len(served_by) != test.shape[-1]:
        raise ValueError(f"served_by must name a network for each of the {test.shape[-1]} tasks, got {len(served_by)}")
    for k, g in enumerate(served_by):
        if k not in groups[g]:
            raise ValueError(f"task {k} is served by group {g} = {groups[g]}, which does not contain it")
    return torch.stack([test[g, ..., k] for k, g in enumerate(served_by)], -1)
