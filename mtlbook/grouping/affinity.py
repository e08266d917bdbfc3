"""Lookahead inter-task affinity (TAG: Fifty, Amid, Zhao, Yu, Anil & Finn, NeurIPS 2021, eq. 1).

At a batch X^t with shared parameters θ_s^t, take a *virtual* SGD step on the shared parameters only,
using task i's loss, and measure how task j's loss on the same batch changes:

    θ_s^{t+1|i} = θ_s^t − η ∇_{θ_s} L_i(X^t, θ_s^t, θ_i^t)
    Z^t_{i→j}   = 1 − L_j(X^t, θ_s^{t+1|i}, θ_j^t) / L_j(X^t, θ_s^t, θ_j^t)

Task heads and the batch stay fixed. Z > 0: a step on i helps j; Z < 0: it hurts j. For small η,
Z ≈ η ∇L_i·∇L_j / L_j (an inner product, so magnitudes matter, unlike a cosine). TAG averages Z over
training, Ẑ_{i→j} = (1/T) Σ_t Z^t_{i→j}. The matrix is stored as ``Z[source i, target j]``.

Cost per measurement: K backward passes (one gradient per source task) and K extra forward passes.
TAG's released code divides Z by η; ``per_lr=True`` does the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from mtlbook.strategy import StepContext, Strategy
from mtlbook.tasks import Task, task_losses


def _shared_names(model: nn.Module, shared: Sequence[nn.Parameter] | None) -> list[str]:
    if shared is None:
        if not hasattr(model, "shared_parameters"):
            raise TypeError(f"model must provide shared_parameters() or pass shared=, got "
                            f"{type(model).__name__}")
        shared = model.shared_parameters()
    ids = {id(p) for p in shared}
    names = [n for n, p in model.named_parameters() if id(p) in ids]
    if len(names) != len(ids):
        raise ValueError(f"every shared parameter must belong to model: {len(ids)} given, "
                         f"{len(names)} found in the model")
    if not names:
        raise ValueError("shared must hold at least one parameter of model, got none")
    return names


def lookahead_affinity(model: nn.Module, tasks: Sequence[Task], x: Tensor,
                       targets: Sequence[Tensor], lr: float, *,
                       shared: Sequence[nn.Parameter] | None = None,
                       per_lr: bool = False) -> Tensor:
    """TAG's Z^t (K, K) at one batch: ``Z[i, j] = 1 − L_j(θ_s − lr ∇L_i) / L_j(θ_s)``.

    For E models trained side by side (:mod:`mtlbook.models.ensemble`, losses of shape (E, K)) the
    result is (E, K, K), one matrix per model, from the same K backward passes.

    ``shared`` defaults to ``model.shared_parameters()``; only these are stepped (plain SGD, rate
    ``lr``), through :func:`torch.func.functional_call`, so the model itself is never modified.
    With ``per_lr=True`` the result is divided by ``lr`` (as TAG's code reports it). Returns a
    detached tensor on the model's device.
    """
    if not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    k = len(tasks)
    if k < 1:
        raise ValueError("tasks must hold at least one task, got 0")
    names = _shared_names(model, shared)
    params = dict(model.named_parameters())
    theta = [params[n] for n in names]
    losses = task_losses(tasks, model(x), targets)                 # (K,) or (E, K)
    rows = []
    for i in range(k):
        # members of an ensemble share no parameter: the gradient of the sum is each one's own
        grads = torch.autograd.grad(losses[..., i].sum(), theta, retain_graph=i + 1 < k,
                                    allow_unused=True)
        stepped = {n: (p - lr * g if g is not None else p).detach()
                   for n, p, g in zip(names, theta, grads)}
        with torch.no_grad():
            after = task_losses(tasks, functional_call(model, stepped, (x,)), targets)
        rows.append(after)
    before = losses.detach()
    z = 1.0 - torch.stack(rows, -2) / before[..., None, :]
    return z / lr if per_lr else z


class AffinityTracker(Strategy):
    """Train with ``base`` (default: equal weights) and average TAG's Z over training.

    Every ``every`` steps, before the optimizer step, Z^t is measured at the step's batch with the
    virtual learning rate ``lr`` (TAG: every 10 steps on Taskonomy, every step on CelebA).
    ``mean`` is Ẑ = (1/T) Σ_t Z^t over the T measurements so far; ``history`` holds every Z^t (for a
    heatmap over training) and ``measured_at`` their steps (counted by the tracker, so training may
    be split over several :func:`mtlbook.train.fit` calls). The running sum stays on the device.
    """

    def __init__(self, lr: float, *, every: int = 1, base: Strategy | None = None,
                 per_lr: bool = False, keep_history: bool = True):
        if not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        if base is not None and not isinstance(base, Strategy):
            raise TypeError(f"base must be an mtlbook Strategy, got {type(base).__name__}")
        if base is None:
            from mtlbook.weighting import EqualWeighting

            base = EqualWeighting()
        self.lr, self.every, self.base, self.per_lr = float(lr), every, base, per_lr
        self.keep_history = keep_history
        self.total: Tensor | None = None
        self.count = 0
        self.history: list[Tensor] = []
        self.measured_at: list[int] = []
        self.steps_seen = 0                  # own count, so that training may span several fit() calls

    def update(self, z: Tensor) -> None:
        """Add one measurement Z^t (K, K), or (E, K, K) for side-by-side models, to the average."""
        if z.dim() < 2 or z.shape[-1] != z.shape[-2]:
            raise ValueError(f"z must be a square (..., K, K) tensor, got shape {tuple(z.shape)}")
        if self.total is not None and self.total.shape != z.shape:
            raise ValueError(f"z must have shape {tuple(self.total.shape)}, got {tuple(z.shape)}")
        self.total = z.clone() if self.total is None else self.total + z
        self.count += 1
        if self.keep_history:
            self.history.append(z.detach().clone())

    @property
    def mean(self) -> Tensor:
        """Ẑ, the average of the measurements so far (K, K) or (E, K, K)."""
        if self.total is None:
            raise ValueError("no affinity has been measured yet")
        return self.total / self.count

    def step(self, ctx: StepContext) -> tuple[Tensor, Tensor]:
        if self.steps_seen % self.every == 0:
            z = lookahead_affinity(ctx.model, ctx.tasks, ctx.x, ctx.targets, self.lr, per_lr=self.per_lr)
            self.update(z)
            self.measured_at.append(self.steps_seen)
        self.steps_seen += 1
        return self.base.step(ctx)

    def end_epoch(self, epoch_losses: Tensor) -> None:
        self.base.end_epoch(epoch_losses)
