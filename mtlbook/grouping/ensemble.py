"""Selective task group updates for E models trained side by side (seeds batched as one program).

:class:`mtlbook.grouping.SelectiveGroupUpdates` steps one model. With E models stacked along a
leading dimension (:mod:`mtlbook.models.ensemble`) every model tracks its own affinity and forms
its own groups, so at the m-th sequential step of a batch model e steps its m-th group while a
model with fewer groups must not move at all. :class:`MemberAdam` makes that possible: Adam
(Kingma & Ba, ICLR 2015, Algorithm 1) with one step count per model, stepping only the models
marked active. Adam is element-wise, so each model follows exactly the trajectory it would follow
alone (tested against ``torch.optim.Adam`` and against single-model runs).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbook.grouping.clustering import group_tasks_batch
from mtlbook.grouping.selective import proximal_credit
from mtlbook.strategy import StepContext, Strategy


class MemberAdam(torch.optim.Optimizer):
    """Adam for parameters of shape (E, ...): ``step(active)`` updates only the models e with
    ``active[e]`` (a bool tensor (E,); default all), each with its own step count t_e:

        m ← β₁ m + (1−β₁) g,  v ← β₂ v + (1−β₂) g²,  θ ← θ − lr · (m / (1−β₁^{t_e})) / (√(v / (1−β₂^{t_e})) + ε).

    ``steps`` (E,) holds the t_e. No weight decay.
    """

    def __init__(self, params, num_models: int, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        if not isinstance(num_models, int) or num_models < 1:
            raise ValueError(f"num_models must be a positive int, got {num_models!r}")
        if not lr > 0 or not eps > 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"need lr > 0, eps > 0 and betas in [0, 1), got {lr}, {eps}, {betas}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() < 1 or p.shape[0] != num_models:
                    raise ValueError(f"every parameter must have a leading dimension of num_models="
                                     f"{num_models}, got shape {tuple(p.shape)}")
        self.num_models = num_models
        device = self.param_groups[0]["params"][0].device
        self.steps = torch.zeros(num_models, dtype=torch.long, device=device)

    @torch.no_grad()
    def step(self, active: Tensor | None = None, closure=None):  # noqa: D102
        if closure is not None:
            raise ValueError("MemberAdam does not take a closure")
        act = torch.ones(self.num_models, dtype=torch.bool, device=self.steps.device) if active is None \
            else active.to(device=self.steps.device, dtype=torch.bool)
        if act.shape != (self.num_models,):
            raise ValueError(f"active must have shape ({self.num_models},), got {tuple(act.shape)}")
        self.steps += act.long()
        t = self.steps.clamp_min(1)
        for group in self.param_groups:
            b1, b2 = group["betas"]
            dtype = group["params"][0].dtype
            w = act.to(dtype)                                           # 0: this model does not move
            step_size = group["lr"] * w / (1 - b1 ** t.to(dtype))       # (E,)
            root_bc2 = (1 - b2 ** t.to(dtype)).sqrt()
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"], state["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
                shape = (self.num_models,) + (1,) * (p.dim() - 1)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(p.grad, ((1 - b1) * w).view(shape))                # unchanged where w = 0
                v.lerp_(p.grad.square(), ((1 - b2) * w).view(shape))
                p.sub_(step_size.view(shape) * m / (v.sqrt() / root_bc2.view(shape) + group["eps"]))
        return None


class EnsembleSelectiveUpdates(Strategy):
    """Selective task group updates (Jeong & Yoon, ICLR 2025) for E side-by-side models.

    The rule of :class:`mtlbook.grouping.SelectiveGroupUpdates`, per model: warm-up with singleton
    groups for ``warmup`` steps, then regroup before every batch from the model's own affinity
    ``affinity[e]`` (E, K, K); the groups are stepped sequentially in a random order, each loss
    change measured after the step and credited to the group just stepped. Needs a
    :class:`MemberAdam` optimizer. Per batch model e makes M_e + 1 forward and M_e backward passes
    and M_e optimizer steps (``forward_passes``, ``backward_passes``, ``optimizer_steps``: (E,)
    totals); the batched program runs max_e M_e + 1 forward passes for all of them. Steps are
    counted by the strategy itself (``steps_seen``), so training may be split over several
    :func:`mtlbook.train.fit` calls.
    ``group_history[t][e]`` is the ordered grouping model e used at step t. Model e draws its group
    orders from its own generator, seeded ``seed + e``, so that it trains exactly as it would alone.
    """

    def __init__(self, num_models: int, num_tasks: int, *, decay: float = 0.01, warmup: int = 100,
                 seed: int = 0, preference: float | None = None):
        for name, v in (("num_models", num_models), ("num_tasks", num_tasks)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {decay}")
        if not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")
        self.num_models, self.num_tasks = num_models, num_tasks
        self.decay, self.warmup, self.preference = float(decay), warmup, preference
        # one generator per model (seed + e), so that model e's group orders do not depend on E
        self.generators = [torch.Generator().manual_seed(seed + e) for e in range(num_models)]
        singletons = tuple((k,) for k in range(num_tasks))
        self.groups: list[tuple[tuple[int, ...], ...]] = [singletons] * num_models
        self.affinity: Tensor | None = None
        self.group_history: list[tuple[tuple[tuple[int, ...], ...], ...]] = []
        self.forward_passes = torch.zeros(num_models, dtype=torch.long)
        self.backward_passes = torch.zeros(num_models, dtype=torch.long)
        self.optimizer_steps = torch.zeros(num_models, dtype=torch.long)
        self.program_forward_passes = 0
        self.steps_seen = 0                                    # own count: fit() may be called in chunks

    def regroup(self) -> None:
        """New groups for every model from its affinity (kept when affinity propagation fails)."""
        if self.affinity is None:
            return
        found = group_tasks_batch(self.affinity.detach().cpu(), preference=self.preference)
        self.groups = [new if new is not None else old for new, old in zip(found, self.groups)]

    def step(self, ctx: StepContext) -> tuple[Tensor, Tensor]:
        if not isinstance(ctx.optimizer, MemberAdam):
            raise TypeError(f"EnsembleSelectiveUpdates needs a MemberAdam optimizer, got "
                            f"{type(ctx.optimizer).__name__}")
        e, k = self.num_models, self.num_tasks
        if len(ctx.tasks) != k:
            raise ValueError(f"the strategy was built for num_tasks={k}, the data has {len(ctx.tasks)} tasks")
        if self.steps_seen < self.warmup:
            self.groups = [tuple((i,) for i in range(k))] * e
        else:
            self.regroup()
        ordered = tuple(tuple(g[i] for i in torch.randperm(len(g), generator=gen).tolist())
                        for g, gen in zip(self.groups, self.generators))
        self.group_history.append(ordered)
        sizes = torch.tensor([len(g) for g in ordered])
        positions = int(sizes.max())
        masks = torch.zeros(positions, e, k, dtype=torch.bool)
        for m_idx, groups in enumerate(ordered):
            for pos, group in enumerate(groups):
                masks[pos, m_idx, list(group)] = True
        dev = next(iter(ctx.model.parameters())).device
        masks = masks.to(dev)
        first = before = None
        for pos in range(positions):
            ctx.optimizer.zero_grad(set_to_none=True)
            losses = ctx.compute_losses()
            if losses.shape != (e, k):
                raise ValueError(f"expected losses of shape ({e}, {k}) from {e} side-by-side models, "
                                 f"got {tuple(losses.shape)}")
            if self.affinity is None:
                self.affinity = torch.zeros(e, k, k, dtype=losses.dtype, device=dev)
            if before is not None:
                self.affinity = proximal_credit(self.affinity, masks[pos - 1], before, losses.detach(), self.decay)
            if first is None:
                first = losses.detach()
            before = losses.detach()
            (losses * masks[pos]).sum().backward()
            ctx.optimizer.step(sizes.to(dev) > pos)
        with torch.no_grad():
            after = ctx.compute_losses()
        self.affinity = proximal_credit(self.affinity, masks[-1], before, after, self.decay)
        self.forward_passes += sizes + 1
        self.backward_passes += sizes
        self.optimizer_steps += sizes
        self.program_forward_passes += positions + 1
        self.steps_seen += 1
        return first, torch.ones_like(first)
