"""MMoE, OMoE and shared-bottom networks, E of them side by side, and the MMoE paper's sweep.

:class:`EnsembleMixtureOfExperts` is E copies of :class:`mtlbook.models.MixtureOfExperts` (MLP kind:
the gates read the input, as in the paper's synthetic experiment) held as batched weights
(:mod:`mtlbook.models.ensemble`), so that every (model, task correlation, seed) of a sweep trains in
one tensor program:

    y_k = h^k(Σ_i g^k(x)_i f_i(x)),   g^k(x) = softmax(W_gk x),   f_i(x) = ReLU(A_i x + a_i)

(Ma et al., KDD 2018, eq. 5–6). OMoE has one gate for all tasks; shared-bottom is one expert and no
gate. :func:`correlation_sweep` reproduces the paper's synthetic comparison (§4.3, Fig. 4): the test
loss of each model on the task pairs of :func:`mtlbook.data.related_regression` as the correlation
p of the task weights falls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mtlbook.data.core import EnsembleBatches, MultiTaskData, Split
from mtlbook.models.base import MultiTaskModel
from mtlbook.models.ensemble import EnsembleLinear, EnsembleMLP
from mtlbook.models.mmoe import GATINGS


class EnsembleMixtureOfExperts(MultiTaskModel):
    """E mixture-of-experts networks on flat inputs, ``gating`` 'multi' (MMoE), 'one' (OMoE) or
    'none' (shared-bottom, one expert). Outputs are K tensors (E, B, out_k)."""

    def __init__(self, num_models: int, tasks: Sequence, in_features: int, *, num_experts: int = 8,
                 expert_width: int = 16, tower_hidden: int = 8, gating: str = "multi",
                 generator: torch.Generator | None = None):
        super().__init__()
        tasks = tuple(tasks)
        if not tasks:
            raise ValueError("tasks must hold at least one task")
        if gating not in GATINGS:
            raise ValueError(f"gating must be one of {GATINGS}, got {gating!r}")
        for name, v in (("num_models", num_models), ("in_features", in_features), ("num_experts", num_experts),
                        ("expert_width", expert_width), ("tower_hidden", tower_hidden)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if gating == "none" and num_experts != 1:
            raise ValueError(f"gating='none' (shared-bottom) needs num_experts=1, got {num_experts}")
        self.num_gates = {"multi": len(tasks), "one": 1, "none": 0}[gating]
        self.experts = EnsembleLinear(num_models, in_features, num_experts * expert_width, generator)
        self.gates = EnsembleLinear(num_models, in_features, self.num_gates * num_experts, generator) \
            if self.num_gates else None
        self.towers = nn.ModuleList(EnsembleMLP(num_models, [expert_width, tower_hidden, t.output_size],
                                                final_activation=False, generator=generator) for t in tasks)
        self.num_tasks, self.num_models, self.num_experts = len(tasks), num_models, num_experts
        self.expert_width, self.gating, self.in_features = expert_width, gating, in_features

    def _flat(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features or x.dim() not in (2, 3):
            raise ValueError(f"x must be (B, {self.in_features}) or ({self.num_models}, B, "
                             f"{self.in_features}), got {tuple(x.shape)}")
        return x

    def gate_weights(self, x: Tensor) -> Tensor:
        """Gate probabilities (E, G, B, n) for G = K, 1 or 0 gates."""
        x = self._flat(x)
        if self.gates is None:
            b = x.shape[-2]
            return x.new_ones(self.num_models, 0, b, self.num_experts)
        logits = self.gates(x)                                          # (E, B, G·n)
        e, b, _ = logits.shape
        return logits.reshape(e, b, self.num_gates, self.num_experts).softmax(-1).transpose(1, 2)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self._flat(x)
        f = torch.relu(self.experts(x))                                 # (E, B, n·w)
        e, b, _ = f.shape
        f = f.reshape(e, b, self.num_experts, self.expert_width)
        if self.gates is None:
            mixed = [f[:, :, 0]] * self.num_tasks
        else:
            m = torch.einsum("egbn,ebnw->egbw", self.gate_weights(x), f).unbind(1)
            mixed = list(m) if self.num_gates == self.num_tasks else [m[0]] * self.num_tasks
        return [tower(z) for tower, z in zip(self.towers, mixed)]

    def parameters_per_model(self) -> int:
        return sum(p.numel() for p in self.parameters()) // self.num_models

    def shared_parameters(self) -> list[nn.Parameter]:
        gates = list(self.gates.parameters()) if self.gating == "one" else []
        return [*self.experts.parameters(), *gates]

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        k = self._check_task(k)
        gates = list(self.gates.parameters()) if self.gating == "multi" else []   # all gates, batched
        return gates + list(self.towers[k].parameters())


def matching_width(in_features: int, num_tasks: int, target: int, tower_hidden: int = 8) -> int:
    """The shared-bottom width whose parameter count is closest to ``target``."""
    def count(w: int) -> int:
        return in_features * w + w + num_tasks * (w * tower_hidden + tower_hidden + tower_hidden + 1)
    return min(range(1, 4 * target), key=lambda w: abs(count(w) - target))


@dataclass
class ExpertsSweep:
    """Test losses (models, correlations, seeds, K) of :func:`correlation_sweep`, the mean gate
    probabilities (models, correlations, seeds, K, n) of the gated models on the test set (NaN for
    shared-bottom), and each model's parameter count."""

    models: tuple[str, ...]
    correlations: tuple[float, ...]
    test_loss: Tensor
    gates: Tensor
    parameters: dict[str, int]
    label_correlation: Tensor          # (correlations, seeds) Pearson r of the two test labels
    label_variance: Tensor             # (correlations, seeds) test label variance, mean over tasks

    def mean_loss(self) -> Tensor:
        """Test loss averaged over the tasks: (models, correlations, seeds)."""
        return self.test_loss.mean(-1)

    def gap(self) -> Tensor:
        """How much each model loses from the most to the least correlated tasks, per seed:
        loss at min(correlations) − loss at max(correlations), (models, seeds)."""
        lo, hi = self.correlations.index(min(self.correlations)), self.correlations.index(max(self.correlations))
        m = self.mean_loss()
        return m[:, lo] - m[:, hi]


def correlation_sweep(correlations: Sequence[float], *, seeds: int = 3, steps: int = 2000,
                      n_train: int = 10_000, n_test: int = 2_000, dim: int = 100, num_sines: int = 10,
                      num_experts: int = 8,
                      expert_width: int = 16, tower_hidden: int = 8, batch_size: int = 128,
                      lr: float = 1e-3, seed: int = 0) -> ExpertsSweep:
    """Train MMoE, OMoE and a shared-bottom network of about the same size on the two-task data of
    every (correlation, seed), all side by side, and measure their test MSE.

    Data set (p, s) is :func:`mtlbook.data.related_regression` with ``correlation=p``,
    ``seed=seed + s`` and ``num_sines`` sine terms (the paper's m = 10 by default).
    """
    from mtlbook.data.synthetic import related_regression
    from mtlbook.train import fit
    from mtlbook.weighting import EqualWeighting

    correlations = tuple(float(p) for p in correlations)
    if not correlations or any(not 0.0 <= p <= 1.0 for p in correlations):
        raise ValueError(f"correlations must be a non-empty sequence in [0, 1], got {correlations}")
    for name, v in (("seeds", seeds), ("steps", steps)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    splits: list[Split] = [related_regression(n_train=n_train, n_test=n_test, correlation=p, dim=dim,
                                              num_sines=num_sines, seed=seed + s)
                           for p in correlations for s in range(seeds)]
    tasks = splits[0].tasks
    k, e = len(tasks), len(splits)
    train = MultiTaskData(torch.cat([s.train.x for s in splits]),
                          tuple(torch.cat([s.train.targets[t] for s in splits]) for t in range(k)), tasks)
    test_x = torch.stack([s.test.x for s in splits])                       # (E, N, d)
    test_y = [torch.stack([s.test.targets[t] for s in splits]) for t in range(k)]
    subsets = [torch.arange(i * n_train, (i + 1) * n_train) for i in range(e)]
    configs = {"MMoE": dict(gating="multi", num_experts=num_experts, expert_width=expert_width),
               "OMoE": dict(gating="one", num_experts=num_experts, expert_width=expert_width)}
    params: dict[str, int] = {}
    gen = torch.Generator().manual_seed(seed)
    probe = EnsembleMixtureOfExperts(1, tasks, dim, tower_hidden=tower_hidden, generator=gen, **configs["MMoE"])
    width = matching_width(dim, k, probe.parameters_per_model(), tower_hidden)
    configs["shared-bottom"] = dict(gating="none", num_experts=1, expert_width=width)
    losses, gates = [], []
    for name, cfg in configs.items():
        model = EnsembleMixtureOfExperts(e, tasks, dim, tower_hidden=tower_hidden, generator=gen, **cfg)
        params[name] = model.parameters_per_model()
        sampler = EnsembleBatches(train, subsets, batch_size, generator=gen)
        fit(model, sampler, steps=steps, lr=lr, strategy=EqualWeighting(), progress=False)
        with torch.no_grad():
            outs = model(test_x)
            losses.append(torch.stack([t.loss(o, y) for t, o, y in zip(tasks, outs, test_y)], -1))
            g = model.gate_weights(test_x).mean(2)                        # (E, G, n)
            g = g.expand(e, k, num_experts) if g.shape[1] == 1 else g
            gates.append(g if g.shape[1] else torch.full((e, k, num_experts), float("nan")))
    shape = (len(correlations), seeds)
    ys = torch.stack(test_y, -1)                                          # (E, N, K)
    yc = ys - ys.mean(1, keepdim=True)
    r = (yc[..., 0] * yc[..., 1]).mean(1) / (yc[..., 0].std(1, correction=0) * yc[..., 1].std(1, correction=0))
    return ExpertsSweep(tuple(configs), correlations, torch.stack(losses).reshape(3, *shape, k),
                        torch.stack(gates).reshape(3, *shape, k, num_experts), params, r.reshape(shape),
                        ys.var(1, correction=0).mean(-1).reshape(shape))
