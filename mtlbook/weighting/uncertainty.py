"""Uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018, eqs. 7 and 10)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlbook.strategy import StepContext, Strategy
from mtlbook.weighting.base import DeferredChecks, check_losses, check_num_tasks, normalized

KINDS = ("regression", "classification")


class UncertaintyWeighting(Strategy, DeferredChecks):
    """Homoscedastic-uncertainty weighting with learnable log-variances s_k = log σ_k².

    Objective: Σ_k w_k(s_k) L_k + ½ s_k, with w_k = ½ e^{−s_k} for a Gaussian likelihood
    (regression, eq. 7: L/(2σ²) + log σ) and w_k = e^{−s_k} for a temperature-scaled softmax
    (classification, eq. 10: L/σ² + log σ). For a fixed loss L_k the minimum over s_k is at
    e^{s_k} = L_k (regression) or 2L_k (classification): both give the weight 1/(2 L_k).

    State: ``log_vars`` (an ``nn.Parameter`` (K,), initial value ``init``) and its own ``optimizer``
    (Adam, ``lr``), stepped after the model's. Returns the raw weights w (no constraint on Σw), or
    K·w/Σw with ``normalize=True`` (the log-variances still follow the paper's objective). Head
    gradients are weighted by the same w_k.
    """

    def __init__(self, num_tasks: int, kinds: Sequence[str] | None = None, *, init: float = 0.0,
                 lr: float = 1e-2, normalize: bool = False):
        self.num_tasks = check_num_tasks(num_tasks)
        kinds = tuple(kinds) if kinds is not None else ("regression",) * num_tasks
        if len(kinds) != num_tasks or any(k not in KINDS for k in kinds):
            raise ValueError(f"kinds must be {num_tasks} entries from {KINDS}, got {kinds!r}")
        if isinstance(init, bool) or not isinstance(init, (int, float)):
            raise TypeError(f"init (the initial log-variance log σ²) must be a number, "
                            f"got {type(init).__name__}")
        if not math.isfinite(init):
            raise ValueError(f"init (the initial log-variance log σ²) must be finite, got {init!r}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        self.kinds = kinds
        self.normalize = bool(normalize)
        self.log_vars = nn.Parameter(torch.full((num_tasks,), float(init)))
        self.optimizer = torch.optim.Adam([self.log_vars], lr=lr)
        self._factor = torch.tensor([0.5 if k == "regression" else 1.0 for k in kinds])

    def raw_weights(self) -> Tensor:
        """w_k = ½ e^{−s_k} (regression) or e^{−s_k} (classification), differentiable in s."""
        return self._factor.to(self.log_vars) * torch.exp(-self.log_vars)

    def objective(self, losses: Tensor) -> Tensor:
        """Σ_k w_k(s_k) L_k + ½ s_k: the negative log-likelihood up to constants."""
        check_losses(losses, self.num_tasks)
        return (self.raw_weights() * losses + 0.5 * self.log_vars).sum()

    def equilibrium_log_vars(self, losses: Tensor) -> Tensor:
        """argmin_s of the objective for fixed losses: log L (regression), log 2L (classification)."""
        check_losses(losses, self.num_tasks)
        if bool((losses <= 0).any()):
            raise ValueError(f"losses must be > 0 for the equilibrium log-variance log L to exist, "
                             f"got {losses.detach().tolist()}")
        return torch.log(2 * self._factor.to(losses) * losses)

    def step(self, ctx: StepContext) -> tuple[Tensor, Tensor]:
        ctx.optimizer.zero_grad(set_to_none=True)
        self.optimizer.zero_grad(set_to_none=True)
        losses = ctx.compute_losses()
        self.check_task_losses(losses, ctx)
        if self.log_vars.device != losses.device:
            self.log_vars.data = self.log_vars.data.to(losses.device)
        w = self.raw_weights()
        used = normalized(w.detach()) if self.normalize else w.detach()
        # one backward: the model's gradients come from the first sum only, s's from the second
        ((used * losses).sum() + (w * losses.detach() + 0.5 * self.log_vars).sum()).backward()
        ctx.optimizer.step()
        self.optimizer.step()
        return losses.detach(), used
