"""Dynamic task prioritization (Guo, Haque, Huang, Yeung & Fei-Fei, ECCV 2018, eqs. 3-5)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from mtlbook.strategy import StepContext
from mtlbook.weighting.base import LossWeighting, check_losses, check_num_tasks, normalized


def focal_task_weights(kpi: Tensor, gamma: Tensor | float = 1.0) -> Tensor:
    """Task-level focal weights FL(κ; γ) = −(1 − κ)^γ log κ for KPIs κ in (0, 1]: the lower a task's
    KPI (the harder the task), the larger its weight. Note the size: κ = 0.9, γ = 1 gives 0.0105."""
    check_losses(kpi, name="kpi")
    if bool(((kpi <= 0) | (kpi > 1)).any()):
        raise ValueError(f"kpi must lie in (0, 1], got {kpi.tolist()}")
    g = torch.as_tensor(gamma, dtype=kpi.dtype, device=kpi.device)
    if not bool(torch.isfinite(g).all()) or bool((g < 0).any()):
        raise ValueError(f"gamma must be finite and >= 0, got {g.tolist()}")
    return _focal(kpi, g)


def _focal(kpi: Tensor, g: Tensor) -> Tensor:
    return -(1 - kpi).pow(g) * kpi.log()


def _check_kpi(kpi: Tensor, num_tasks: int) -> None:
    check_losses(kpi, num_tasks, "kpi")
    if bool(((kpi < 0) | (kpi > 1)).any()):
        raise ValueError(f"kpi must lie in [0, 1], got {kpi.tolist()}")


def accuracy_kpi(ctx: StepContext) -> Tensor:
    """The default KPI: each task's accuracy on the current batch (classification tasks only)."""
    if any(t.kind != "classification" for t in ctx.tasks):
        raise ValueError("the default KPI is accuracy and needs classification tasks; pass kpi=... "
                         "(a function of the StepContext returning K values in [0, 1]) for others")
    outs, ys = ctx.outputs, ctx.targets
    if len(outs) == len(ys) == len(ctx.tasks) and len({o.shape for o in outs}) == 1 \
            and len({o.dtype for o in outs}) == 1 \
            and all(y.shape == outs[0].shape[:-1] and y.device == outs[0].device for y in ys):
        for t, o, y in zip(ctx.tasks, outs, ys):
            t._prepared_target(o, y)                            # the shape checks of Task.metric
        with torch.no_grad():                                   # all tasks at once, same values
            hits = torch.stack([o.detach() for o in outs]).argmax(-1) == torch.stack(ys)
            return hits.to(outs[0].dtype).mean(-1).movedim(0, -1)
    return torch.stack([t.metric(o, y) for t, o, y in zip(ctx.tasks, outs, ys)], -1)


class DynamicTaskPrioritization(LossWeighting):
    """DTP: w_k = FL(κ̄_k; γ_k), κ̄_k = a κ_k + (1 − a) κ̄_k(prev), an EMA of each task's KPI.

    ``smoothing`` is a, the weight of the *current* batch (α in the paper's moving average): the default 0.9 keeps
    only 10% of the history, so κ̄ is close to the last batch's KPI (a memory of about 1/a ≈ 1.1
    batches). A small a (0.1: about 10 batches) gives a long, steady average.

    ``kpi``: a function of the StepContext giving the batch KPIs (default: accuracy). κ̄ starts at the
    first batch's KPI and is clipped to ``kpi_range`` (0 < low <= high < 1) before the focal weight,
    so that log 0 and a weight of 0 are avoided: every weight stays > 0 and K·w/Σw is defined. The raw weights are ≪ 1 and shrink as KPIs improve, which lowers the effective learning
    rate; ``normalize=True`` returns K·w/Σw instead. State: ``kpi_ema`` (K,). Heads are weighted too.
    """

    def __init__(self, num_tasks: int, gamma: float = 1.0, smoothing: float = 0.9, *,
                 kpi: Callable[[StepContext], Tensor] | None = None,
                 kpi_range: tuple[float, float] = (0.01, 0.99), normalize: bool = False):
        self.num_tasks = check_num_tasks(num_tasks)
        if not 0 <= gamma < float("inf"):
            raise ValueError(f"gamma must be finite and >= 0, got {gamma!r}")
        if not 0 < smoothing <= 1:
            raise ValueError(f"smoothing must be in (0, 1], got {smoothing!r}")
        lo, hi = kpi_range
        if not 0 < lo <= hi < 1:
            raise ValueError(f"kpi_range must satisfy 0 < low <= high < 1 (a KPI clipped to 1 gets "
                             f"focal weight 0), got {kpi_range!r}")
        self.gamma, self.smoothing, self.kpi_range = float(gamma), float(smoothing), (lo, hi)
        self.kpi = accuracy_kpi if kpi is None else kpi
        self.normalize = bool(normalize)
        self.kpi_ema: Tensor | None = None

    def update_kpi(self, kpi: Tensor, ctx: StepContext | None = None) -> Tensor:
        """Fold one batch's KPIs (K,) into the EMA and return it. Its values are checked at once, or
        during training (``ctx`` given) at the next check interval (:class:`DeferredChecks`)."""
        check_losses(kpi, self.num_tasks, "kpi", finite=False)
        self.check_later("kpi", kpi, ctx, lambda v, k=self.num_tasks: _check_kpi(v, k))
        kpi = kpi.detach()
        self.kpi_ema = kpi.clone() if self.kpi_ema is None else \
            self.smoothing * kpi + (1 - self.smoothing) * self.kpi_ema.to(kpi)
        return self.kpi_ema

    def current_weights(self) -> Tensor:
        if self.kpi_ema is None:
            raise ValueError("no KPI has been recorded yet: call update_kpi() or train a step first")
        kpi = self.kpi_ema.clamp(*self.kpi_range)           # in (0, 1): every focal weight > 0
        w = _focal(kpi, torch.as_tensor(self.gamma, dtype=kpi.dtype, device=kpi.device))
        return normalized(w) if self.normalize else w

    def weights(self, losses: Tensor, ctx: StepContext | None = None) -> Tensor:
        self.check_task_losses(losses, ctx)
        if ctx is not None:
            self.update_kpi(self.kpi(ctx), ctx)
        return self.current_weights().to(losses)
