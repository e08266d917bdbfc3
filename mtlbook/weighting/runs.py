"""Training runs of the adaptive weightings, recorded for plots and widgets: weight traces and
per-task test curves of several models trained side by side.

:func:`tied_ensemble` builds E hard-sharing networks that start from the *same* initialization, so
that E settings of a method (for example GradNorm with E values of α) differ only by the setting.
:func:`record_run` trains such an ensemble with one strategy and keeps, per model, the weights of
every step and the test curves; for regression tasks the curve is the task-normalized test loss
L_k(t) / L_k(0) of GradNorm's toy (Chen et al., ICML 2018, §4), for classification the accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mtlbook.data.core import Split
from mtlbook.models.ensemble import EnsembleHardSharing
from mtlbook.strategy import Strategy
from mtlbook.tasks import Task
from mtlbook.train import evaluate, fit


def tied_ensemble(num_models: int, tasks: Sequence[Task], in_features: int, hidden: Sequence[int],
                  seed: int = 0) -> EnsembleHardSharing:
    """E hard-sharing MLPs (``EnsembleHardSharing``) that all start from one initialization, drawn
    from ``seed`` (the same for every E, so that a model of a large ensemble equals a model alone)."""
    one = EnsembleHardSharing(1, tasks, in_features, hidden, generator=torch.Generator().manual_seed(seed))
    net = EnsembleHardSharing(num_models, tasks, in_features, hidden, generator=torch.Generator())
    with torch.no_grad():
        for p, q in zip(net.parameters(), one.parameters()):
            p.copy_(q.expand_as(p))
    return net


@dataclass
class Run:
    """One strategy's side-by-side training: ``weights`` (S, E, K) per step, ``curves`` (M, E, K)
    per evaluation (normalized test loss or test accuracy), ``eval_steps`` (M,), ``metric``, and
    ``losses`` (S, E, K), the training loss of every step's batch (None when not recorded)."""

    task_names: tuple[str, ...]
    weights: Tensor
    eval_steps: Tensor
    curves: Tensor
    metric: str
    losses: Tensor | None = None

    def model(self, e: int) -> Run:
        """The run of model ``e`` alone (an ensemble of one)."""
        if not -self.weights.shape[1] <= e < self.weights.shape[1]:
            raise ValueError(f"e must index one of {self.weights.shape[1]} models, got {e}")
        return Run(self.task_names, self.weights[:, e:e + 1], self.eval_steps,
                   self.curves[:, e:e + 1], self.metric,
                   None if self.losses is None else self.losses[:, e:e + 1])


def record_run(model: nn.Module, split: Split, strategy: Strategy, *, steps: int,
               optimizer: torch.optim.Optimizer, batch_size: int = 100, eval_every: int = 50,
               seed: int = 0) -> Run:
    """Train ``model`` (E side-by-side networks, or one model, recorded as E = 1) with ``strategy``
    and record a :class:`Run`. Step 0 of the curves is the untrained model (normalized losses 1)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch module, got {type(model).__name__}")
    regression = all(t.kind == "regression" for t in split.tasks)
    l0, m0 = evaluate(model, split.test)
    hist = fit(model, split.train, steps=steps, batch_size=batch_size, optimizer=optimizer,
               strategy=strategy, eval_data=split.test, eval_every=eval_every, seed=seed, progress=False)
    if regression:
        curves = torch.cat([torch.ones_like(l0)[None], hist.eval_losses / l0], 0)
        metric = "task-normalized test loss"
    else:
        curves = torch.cat([m0[None], hist.eval_metrics], 0)
        metric = "test accuracy"
    weights, losses = hist.weights, hist.losses
    if weights.shape != losses.shape:
        weights = weights.expand_as(losses)
    if weights.dim() == 2:                               # one model: add the model dimension
        weights, curves, losses = weights[:, None], curves[:, None], losses[:, None]
    return Run(hist.task_names, weights.clone(), torch.cat([torch.zeros(1, dtype=torch.long), hist.eval_steps]),
               curves, metric, losses.clone())
