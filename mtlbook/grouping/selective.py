"""Selective task group updates (Jeong & Yoon, ICLR 2025, Algorithm 1: "Tracking Proximal
Inter-Task Affinity for Task Group Updates").

Each batch, the K tasks are split into groups G_1..G_M, and the groups are stepped *sequentially on
the same batch* in a random order, each with one optimizer step on L_G = Σ_{k∈G} L_k (one shared
optimizer state). Let Θ^{t,m} be the parameters after the m-th group step (Θ^{t,0} = Θ^t). The
proximal affinity of the group G stepped at position m onto task j is measured from that real step:

    A^t_{G→j} = 1 − L_j(x^t; Θ^{t,m}) / L_j(x^t; Θ^{t,m−1}).

Credited per pair (source i ∈ G, target j), with a_j = A_{G→j}/|G|:
  j ∉ G: a_{i→j} = a_j;   j ∈ G, j ≠ i: a_j if a_i·a_j ≥ 0, else −max(a_i, a_j) (a conflict inside
  the group is recorded as negative);   j = i: a_i, recorded only when ≥ 0.
Each recorded entry is tracked by an EMA, Â_{i→j} ← (1−β) Â_{i→j} + β a_{i→j} (Â starts at 0).
Before each batch after ``warmup`` steps the groups are regrouped from Â by
:func:`mtlbook.grouping.group_tasks` (normalise by self-affinity, symmetrise, affinity
propagation); when that does not converge the previous groups are kept. During warm-up every task
is its own group.

Difference from the authors' code: there, the losses used for step m are computed before step m,
so the ratio measures the *previous* group's update and is credited to the current group. Here the
loss change is measured after each step and credited to the group just stepped; this costs one
extra forward pass (without gradients) per batch, after the last group. A single group is stepped
once (the code steps it twice so that it can measure anything). Cost per batch: M + 1 forward and M
backward passes, M optimizer steps; ``forward_passes``, ``backward_passes`` and ``optimizer_steps``
count them. Regrouping moves the K×K matrix to the host once per batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbook.grouping.clustering import group_tasks
from mtlbook.strategy import StepContext, Strategy


def proximal_credit(affinity: Tensor, members: Tensor, before: Tensor, after: Tensor,
                    decay: float) -> Tensor:
    """One EMA update of the proximal affinity Â (``[..., source, target]``) after a group step.

    ``members`` (..., K) marks the group G just stepped, ``before``/``after`` (..., K) are the task
    losses on the batch before and after that step. With a_j = (1 − after_j / before_j) / |G|, the
    rows i ∈ G receive a_j for j ∉ G, a_j or −max(a_i, a_j) (a conflict) for j ∈ G, and a_i on the
    diagonal only when a_i ≥ 0 (module docstring); every other entry is unchanged. Leading
    dimensions are independent problems (E models side by side); a row of ``members`` with no task
    changes nothing. A zero loss in ``before`` is clamped to the smallest positive number.
    """
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 < decay <= 1.0:
        raise ValueError(f"decay must be a number in (0, 1], got {decay!r}")
    k = affinity.shape[-1]
    if affinity.shape[-2:] != (k, k) or members.shape[-1] != k or before.shape != after.shape \
            or before.shape[-1] != k:
        raise ValueError(f"need affinity (..., K, K), members, before and after (..., K); got "
                         f"{tuple(affinity.shape)}, {tuple(members.shape)}, {tuple(before.shape)}, "
                         f"{tuple(after.shape)}")
    members = members.bool()
    size = members.sum(-1, keepdim=True).clamp_min(1)
    safe = before.clamp_min(torch.finfo(before.dtype).tiny)
    a = (1.0 - after / safe) / size                                   # a_j, (..., K)
    src, tgt = a[..., :, None], a[..., None, :]                        # a_i and a_j, (..., K, K)
    conflict = (src * tgt < 0) & members[..., None, :]
    rec = torch.where(conflict, -torch.maximum(src, tgt), tgt)
    eye = torch.eye(k, dtype=torch.bool, device=affinity.device)
    record = members[..., :, None] & ~(eye & (src < 0))                # self-affinity only when >= 0
    return torch.where(record, (1 - decay) * affinity + decay * rec, affinity)


class SelectiveGroupUpdates(Strategy):
    """Sequential group updates with groups from the tracked proximal affinity (module docstring).

    ``decay`` is β (the paper: 1e-3 on NYUD-v2/PASCAL-Context, 1e-4 on Taskonomy; short CPU runs
    want 0.01–0.05). ``affinity`` (K, K) is Â, stored ``[source, target]``; ``groups`` the current
    groups; ``group_history`` the groups used at each step. The returned weights are all 1 (each
    task's loss enters exactly one step per batch).
    """

    def __init__(self, num_tasks: int, *, decay: float = 0.01, warmup: int = 100, seed: int = 0,
                 preference: float | None = None):
        if not isinstance(num_tasks, int) or num_tasks < 1:
            raise ValueError(f"num_tasks must be a positive int, got {num_tasks!r}")
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {decay}")
        if not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")
        self.num_tasks, self.decay, self.warmup, self.preference = num_tasks, float(decay), warmup, preference
        self.generator = torch.Generator().manual_seed(seed)
        self.affinity: Tensor | None = None
        self.groups: tuple[tuple[int, ...], ...] = tuple((k,) for k in range(num_tasks))
        self.group_history: list[tuple[tuple[int, ...], ...]] = []
        self.forward_passes = self.backward_passes = self.optimizer_steps = 0

    def credit(self, group: tuple[int, ...], before: Tensor, after: Tensor) -> None:
        """Record the step of ``group`` that moved the task losses from ``before`` to ``after`` (K,)."""
        k = self.num_tasks
        if self.affinity is None:
            self.affinity = torch.zeros(k, k, dtype=before.dtype, device=before.device)
        members = torch.zeros(k, dtype=torch.bool, device=before.device)
        members[list(group)] = True
        self.affinity = proximal_credit(self.affinity, members, before, after, self.decay)

    def regroup(self) -> tuple[tuple[int, ...], ...]:
        """New groups from Â (kept unchanged when affinity propagation does not converge)."""
        if self.affinity is not None:
            found = group_tasks(self.affinity, preference=self.preference)
            if found is not None:
                self.groups = found
        return self.groups

    def step(self, ctx: StepContext) -> tuple[Tensor, Tensor]:
        if len(ctx.tasks) != self.num_tasks:
            raise ValueError(f"the strategy was built for num_tasks={self.num_tasks}, the data has "
                             f"{len(ctx.tasks)} tasks")
        if len(self.group_history) < self.warmup:         # steps seen so far (fit() may be called in chunks)
            self.groups = tuple((k,) for k in range(self.num_tasks))
        else:
            self.regroup()
        order = torch.randperm(len(self.groups), generator=self.generator).tolist()
        groups = [self.groups[i] for i in order]
        self.group_history.append(tuple(groups))
        first, before = None, None
        for group in groups:
            ctx.optimizer.zero_grad(set_to_none=True)
            losses = ctx.compute_losses()
            self.forward_passes += 1
            if losses.dim() != 1:
                raise ValueError(f"selective group updates train one model (losses of shape (K,)), "
                                 f"got losses of shape {tuple(losses.shape)}")
            if before is not None:
                self.credit(prev, before, losses.detach())
            if first is None:
                first = losses.detach()
            before, prev = losses.detach(), group
            losses[list(group)].sum().backward()
            self.backward_passes += 1
            ctx.optimizer.step()
            self.optimizer_steps += 1
        with torch.no_grad():
            after = ctx.compute_losses()
        self.forward_passes += 1
        self.credit(prev, before, after)
        return first, torch.ones_like(first)
