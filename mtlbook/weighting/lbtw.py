"""Loss-balanced task weighting (Liu, Liang & Gitter, AAAI 2019 student abstract)."""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbook.strategy import StepContext
from mtlbook.weighting.base import LossWeighting, check_losses, check_num_tasks, normalized

RESETS = ("epoch", "never")


def lbtw_weights(losses: Tensor, initial_losses: Tensor, alpha: float = 0.5) -> Tensor:
    """w_k = (L_k / L_k(0))^α, renormalized to Σw = K: tasks that have improved least since L(0)
    get the most weight; α = 0 gives equal weights."""
    check_losses(losses)
    check_losses(initial_losses, losses.shape[-1], "initial_losses")
    if bool((initial_losses <= 0).any()) or bool((losses < 0).any()):
        raise ValueError("initial_losses must be > 0 and losses >= 0, got "
                         f"{initial_losses.tolist()} and {losses.tolist()}")
    if not 0 <= alpha < float("inf"):
        raise ValueError(f"alpha must be finite and >= 0, got {alpha!r}")
    w = (losses / initial_losses).pow(alpha)
    if bool((w.sum(-1) <= 0).any()):
        raise ValueError("every loss is zero: the weights cannot be renormalized")
    return normalized(w)


def _check_step_losses(losses: Tensor, alpha: float) -> None:
    """What :func:`lbtw_weights` checks of the current losses (the deferred form, for training)."""
    check_losses(losses)
    if bool((losses < 0).any()):
        raise ValueError(f"losses must be >= 0, got {losses.tolist()}")
    if alpha > 0 and bool((losses.sum(-1) <= 0).any()):
        raise ValueError("every loss is zero: the weights cannot be renormalized")


class LossBalancedTaskWeighting(LossWeighting):
    """LBTW with the weights held constant in the backward pass (see :func:`lbtw_weights`).

    ``reset="epoch"`` (the authors' code): L(0) is the loss of the first batch of each epoch;
    ``reset="never"``: the loss of the first training step. State: ``initial_losses`` and the epoch
    they belong to. Σw = K. Heads are weighted too.
    """

    def __init__(self, num_tasks: int, alpha: float = 0.5, reset: str = "epoch"):
        self.num_tasks = check_num_tasks(num_tasks)
        if not 0 <= alpha < float("inf"):
            raise ValueError(f"alpha must be finite and >= 0, got {alpha!r}")
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
        self.alpha, self.reset = float(alpha), reset
        self.initial_losses: Tensor | None = None
        self.initial_epoch: int | None = None

    def weights(self, losses: Tensor, ctx: StepContext | None = None) -> Tensor:
        check_losses(losses, self.num_tasks, finite=False)
        epoch = ctx.epoch if ctx is not None else self.initial_epoch
        if self.initial_losses is None or (self.reset == "epoch" and epoch != self.initial_epoch):
            check_losses(losses, self.num_tasks)                   # once per L(0): checked at once
            if bool((losses <= 0).any()):
                raise ValueError(f"initial_losses must be > 0, got {losses.tolist()}")
            self.initial_losses = losses.detach().clone()
            self.initial_epoch = epoch
        self.check_later("losses", losses, ctx, lambda v, a=self.alpha: _check_step_losses(v, a))
        w = (losses.detach() / self.initial_losses.to(losses)).pow(self.alpha)  # as lbtw_weights
        return normalized(w)
