"""Task affinity and branch splitting of fully-adaptive feature sharing (Lu, Kumar, Zhai, Cheng,
Javidi & Feris, CVPR 2017), the grouping step of its top-down widening.

Affinity of tasks i and j: the probability that an example is simultaneously easy or simultaneously
hard for both,

    A(i, j) = P(e_i = 1, e_j = 1) + P(e_i = 0, e_j = 0),   e_i(n) = 𝟙[loss_i(n) ≥ mean_n loss_i(n)].

Affinity of branches (groups of tasks) k and l, complete-linkage style:
Ã(k, l) = mean_{i∈k} min_{j∈l} A(i, j) and A_b(k, l) = ½ (Ã(k, l) + Ã(l, k)).

Splitting a branch at layer l into d groups g_d costs

    L(g_d) = (d − 1) · L_0 · 2^{p_l} + λ · L_s(g_d),   L_s(g_d) = mean over groups of (1 − min within-group A),

where p_l is the number of pooling layers above layer l: extra branches cost width, grouping
dissimilar tasks costs accuracy, and a larger λ grows more branches. The widening of the network
itself (and the thin-model initialization) is not implemented here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor


def task_affinity(per_example_losses: Tensor) -> Tensor:
    """A (K, K) from per-example losses (N, K): ones on the diagonal, symmetric, in [0, 1]."""
    if not isinstance(per_example_losses, Tensor) or per_example_losses.dim() != 2 \
            or per_example_losses.shape[0] < 1:
        raise ValueError(f"per_example_losses must be an (N, K) tensor with N >= 1, got "
                         f"{getattr(per_example_losses, 'shape', type(per_example_losses).__name__)}")
    e = (per_example_losses >= per_example_losses.mean(0, keepdim=True)).to(torch.float64)
    n = e.shape[0]
    return (e.T @ e + (1 - e).T @ (1 - e)) / n


def branch_affinity(affinity: Tensor, a: Sequence[int], b: Sequence[int]) -> Tensor:
    """A_b(a, b) = ½ (mean_{i∈a} min_{j∈b} A(i,j) + mean_{j∈b} min_{i∈a} A(j,i))."""
    if not a or not b:
        raise ValueError(f"branches must be non-empty lists of task indices, got {a!r} and {b!r}")
    sub = affinity[list(a)][:, list(b)]
    return 0.5 * (sub.min(1).values.mean() + sub.min(0).values.mean())


def _partitions(items: list[int]) -> Iterator[list[list[int]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first, *part[i]]] + part[i + 1:]
        yield [[first], *part]


def split_cost(affinity: Tensor, groups: Sequence[Sequence[int]], *, base_cost: float = 1.0,
               poolings_above: int = 0, strength: float = 1.0) -> float:
    """L(g_d) = (d − 1) L_0 2^{p_l} + λ mean_groups (1 − min_{i,j∈group} A(i, j))."""
    if not groups or any(len(g) == 0 for g in groups):
        raise ValueError(f"groups must be non-empty lists of task indices, got {groups!r}")
    separation = sum(1.0 - float(affinity[list(g)][:, list(g)].min()) for g in groups) / len(groups)
    return (len(groups) - 1) * base_cost * 2 ** poolings_above + strength * separation


def best_split(affinity: Tensor, *, base_cost: float = 1.0, poolings_above: int = 0,
               strength: float = 1.0, max_tasks: int = 10) -> list[list[int]]:
    """The grouping of the K tasks with the lowest :func:`split_cost`, by exhaustive search over
    set partitions (Bell(K) of them; K ≤ ``max_tasks``)."""
    k = affinity.shape[0]
    if affinity.shape != (k, k):
        raise ValueError(f"affinity must be square (K, K), got {tuple(affinity.shape)}")
    if k > max_tasks:
        raise ValueError(f"exhaustive search needs K <= max_tasks={max_tasks}, got K={k}")
    return min(_partitions(list(range(k))),
               key=lambda g: split_cost(affinity, g, base_cost=base_cost,
                                        poolings_above=poolings_above, strength=strength))
