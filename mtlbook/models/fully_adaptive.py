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
dissimilar tasks costs accuracy, and a larger λ grows more branches.

Top-down widening (:func:`widen`). The thin network shares every layer and ends in one output per
task. A *junction* is where the network splits into branches, each leading to a subset of the
tasks; it starts at the outputs. Each round widens the layer just below the junction: its c
branches are grouped into d ≤ c groups: for each d the grouping g_d comes from merging the branches
of highest branch affinity A_b, and the d of lowest L(g_d) wins; the layer gets one copy per group, and the junction moves down one layer. A round that
keeps one group stops the widening: that layer and all below stay shared. The result is a tree
(:class:`SharingTree`); :class:`TreeNetwork` is the MLP of that shape. The paper trains the widened
network between rounds and re-estimates the affinities; :func:`widen` takes one fixed task affinity
(estimated once, e.g. from the thin network), and the thin-model initialization by simultaneous
orthogonal matching pursuit is not implemented.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mtlbook.models.base import InputShape, MultiTaskModel
from mtlbook.tasks import Task
from mtlbook.validation import check_nonnegative_number, check_positive_int


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


@dataclass(frozen=True)
class SharingTree:
    """The branches of a tree-shaped network: ``layers[l]`` lists, for layer l (0 = the bottom),
    the task groups that own a copy of that layer. Groups of a layer partition the tasks, and each
    group of layer l+1 lies inside one group of layer l."""

    num_tasks: int
    layers: tuple[tuple[tuple[int, ...], ...], ...]

    def __post_init__(self):
        everyone = list(range(self.num_tasks))
        for l, groups in enumerate(self.layers):
            if sorted(t for g in groups for t in g) != everyone:
                raise ValueError(f"layer {l}: groups must partition the {self.num_tasks} tasks, got {groups}")
            if l and any(not any(set(g) <= set(p) for p in self.layers[l - 1]) for g in groups):
                raise ValueError(f"layer {l}: every group must lie inside a group of layer {l - 1}, "
                                 f"got {groups} above {self.layers[l - 1]}")

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def copies(self) -> list[int]:
        """Number of copies (branches) of each layer, bottom to top."""
        return [len(g) for g in self.layers]

    def parent(self, l: int, g: int) -> int:
        """Index of the group of layer l − 1 that feeds group g of layer l."""
        return next(i for i, p in enumerate(self.layers[l - 1]) if set(self.layers[l][g]) <= set(p))


def merge_branches(affinity: Tensor, branches: Sequence[Sequence[int]]) -> list[list[list[int]]]:
    """The groupings g_d of ``branches`` for d = c, c − 1, ..., 1, by repeatedly merging the two
    groups of highest branch affinity A_b (complete-linkage style clustering). Entry c − d is g_d,
    a list of groups of branch indices."""
    groups = [[b] for b in range(len(branches))]
    tasks = [list(b) for b in branches]
    out = [[list(g) for g in groups]]
    while len(groups) > 1:
        best, pair = None, None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a = float(branch_affinity(affinity, tasks[i], tasks[j]))
                if best is None or a > best:
                    best, pair = a, (i, j)
        i, j = pair
        groups[i], tasks[i] = groups[i] + groups[j], tasks[i] + tasks[j]
        del groups[j], tasks[j]
        out.append([sorted(g) for g in groups])
    return out


def widen(affinity: Tensor, num_layers: int, *, base_cost: float = 1.0, strength: float = 1.0,
          poolings_above: Sequence[int] | None = None) -> SharingTree:
    """Grow the tree of fully-adaptive feature sharing top-down (see the module docstring).

    ``affinity`` is the (K, K) task affinity; ``num_layers`` the depth of the thin network;
    ``poolings_above[l]`` is p_l for layer l (0 = bottom; default no pooling). At each layer from the
    top, the candidate groupings g_d of the current branches come from :func:`merge_branches`, and
    the d of lowest :func:`split_cost` (d − 1) L_0 2^{p_l} + λ L_s(g_d) wins, with L_s measured on
    the tasks that would share the layer. One group stops the widening.

    (Searching all set partitions instead, as :func:`best_split` does, lets a grouping that splits
    one task off a large group look cheap, since L_s averages over groups and a group of one task
    separates nothing; the candidates of the clustering keep similar tasks together.)
    """
    if not isinstance(affinity, Tensor) or affinity.dim() != 2 or affinity.shape[0] != affinity.shape[1]:
        raise ValueError(f"affinity must be a square (K, K) tensor, got "
                         f"{getattr(affinity, 'shape', type(affinity).__name__)}")
    check_positive_int("num_layers", num_layers)
    check_nonnegative_number("base_cost", base_cost)
    check_nonnegative_number("strength", strength)
    pools = [0] * num_layers if poolings_above is None else list(poolings_above)
    if len(pools) != num_layers or any((not isinstance(p, int)) or p < 0 for p in pools):
        raise ValueError(f"poolings_above must hold {num_layers} ints >= 0, got {poolings_above!r}")
    k = affinity.shape[0]
    branches: list[tuple[int, ...]] = [(t,) for t in range(k)]
    layers: list[tuple[tuple[int, ...], ...]] = []
    for l in reversed(range(num_layers)):
        candidates = [sorted(tuple(sorted(t for b in g for t in branches[b])) for g in grouping)
                      for grouping in merge_branches(affinity, branches)]
        branches = min(candidates, key=lambda g: split_cost(affinity, g, base_cost=base_cost,
                                                            poolings_above=pools[l], strength=strength))
        layers.append(tuple(branches))
        if len(branches) == 1:
            layers += [tuple(branches)] * l
            break
    return SharingTree(k, tuple(reversed(layers)))


class TreeNetwork(MultiTaskModel):
    """An MLP shaped by a :class:`SharingTree`: layer l has one Linear(·, ``width``)–ReLU per group
    of ``tree.layers[l]``, fed by the copy of layer l − 1 whose group contains it; task k's linear
    head reads the top copy of its group. One group per layer is hard sharing; K groups at the
    bottom is K single-task networks.

    Parameters: Σ_l copies_l (in_l · width + width) + Σ_k (width + 1) · out_k, with in_0 the input size
    and in_l = width above.
    """

    def __init__(self, tasks: Sequence[Task], input_shape, tree: SharingTree, *, width: int = 64):
        super().__init__()
        tasks = tuple(tasks)
        if not isinstance(tree, SharingTree):
            raise TypeError(f"tree must be a SharingTree, got {type(tree).__name__}")
        if len(tasks) != tree.num_tasks or not all(isinstance(t, Task) for t in tasks):
            raise ValueError(f"tasks must be {tree.num_tasks} Task objects (one per task of the tree), "
                             f"got {tasks!r}")
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}")
        shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
        self.tree, self.num_tasks = tree, len(tasks)
        self.check = nn.Sequential(InputShape(shape), nn.Flatten(start_dim=-len(shape)))
        sizes = [math.prod(shape)] + [width] * tree.num_layers
        self.layers = nn.ModuleList(
            nn.ModuleList(nn.Sequential(nn.Linear(sizes[l], width), nn.ReLU()) for _ in groups)
            for l, groups in enumerate(tree.layers))
        self.heads = nn.ModuleList(nn.Linear(width, t.output_size) for t in tasks)
        top = tree.layers[-1]
        self.top_of_task = [next(i for i, g in enumerate(top) if k in g) for k in range(self.num_tasks)]

    def forward(self, x: Tensor) -> list[Tensor]:
        h = [copy(self.check(x)) for copy in self.layers[0]]
        for l in range(1, self.tree.num_layers):
            h = [copy(h[self.tree.parent(l, g)]) for g, copy in enumerate(self.layers[l])]
        return [head(h[self.top_of_task[k]]) for k, head in enumerate(self.heads)]

    def _owned(self, k: int | None) -> list[nn.Parameter]:
        out = []
        for groups, copies in zip(self.tree.layers, self.layers):
            for g, copy in zip(groups, copies):
                if (k is None and len(g) > 1) or (k is not None and g == (k,)):
                    out += list(copy.parameters())
        return out

    def shared_parameters(self) -> list[nn.Parameter]:
        """The copies used by more than one task."""
        return self._owned(None)

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        """Task k's head and the copies that serve task k alone."""
        k = self._check_task(k)
        return [*self._owned(k), *self.heads[k].parameters()]
