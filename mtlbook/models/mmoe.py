"""Multi-gate mixture of experts (Ma, Zhao, Yi, Chen, Hong & Chi, KDD 2018), with its baselines.

n experts f_i (one Linear–ReLU layer each) read a shared representation z(x); task k's tower h^k
reads a gated mixture of them:

    y_k = h^k(f^k(x)),   f^k(x) = Σ_{i=1}^n g^k(x)_i f_i(x),   g^k(x) = softmax(W_gk z(x)),  W_gk ∈ R^{n×d}.

- **MMoE**: one gate per task (``gating="multi"``).
- **OMoE**: one gate for all tasks, y_k = h^k(Σ_i g(x)_i f_i(x)) (``gating="one"``).
- **Shared-bottom**: one expert and no gate, y_k = h^k(f(x)) (``gating="none"``); MMoE with one
  expert is exactly this, since a softmax over one expert is 1.

What z is. For an MLP backbone z(x) is the flattened input, as in the paper (tabular features). For
the small CNN, z(x) is the pooled output of a shared conv stem (the conv blocks of
:func:`mtlbook.models.small_cnn` and its adaptive average pooling): gating on the raw pixels of an
image, as some libraries do, asks a linear gate to route on pixel intensities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlbook.models.backbones import _shape, heads_for, mlp, small_cnn
from mtlbook.models.base import MultiTaskModel
from mtlbook.tasks import Task
from mtlbook.validation import check_positive_int

GATINGS = ("multi", "one", "none")


def _stem(kind: str, input_shape) -> tuple[nn.Sequential, int]:
    """The shared representation z(x) and its width d."""
    if kind == "mlp":
        shape = _shape(input_shape)
        return mlp(shape, (1,))[:2], math.prod(shape)          # InputShape, Flatten
    if kind == "cnn":
        cnn = small_cnn(input_shape)
        linear = cnn[-2]
        return cnn[:-2], linear.in_features                    # convs, pooling, Flatten
    raise ValueError(f"kind must be 'mlp' or 'cnn', got {kind!r}")


class MixtureOfExperts(MultiTaskModel):
    """Experts on a shared stem, gated per task (MMoE), by one gate (OMoE) or not at all
    (shared-bottom, one expert). ``towers[k]`` is task k's head."""

    def __init__(self, tasks: Sequence[Task], input_shape, *, kind: str = "mlp",
                 num_experts: int = 8, expert_width: int = 16, tower_hidden: int | None = 8,
                 gating: str = "multi"):
        super().__init__()
        tasks = tuple(tasks)
        if not tasks or not all(isinstance(t, Task) for t in tasks):
            raise ValueError(f"tasks must be a non-empty sequence of Task, got {tasks!r}")
        if gating not in GATINGS:
            raise ValueError(f"gating must be one of {GATINGS}, got {gating!r}")
        check_positive_int("num_experts", num_experts)
        check_positive_int("expert_width", expert_width)
        if gating == "none" and num_experts != 1:
            raise ValueError(f"gating='none' (shared-bottom) needs num_experts=1, got {num_experts}")
        self.stem, d = _stem(kind, input_shape)
        self.experts = nn.ModuleList(nn.Sequential(nn.Linear(d, expert_width), nn.ReLU())
                                     for _ in range(num_experts))
        n_gates = {"multi": len(tasks), "one": 1, "none": 0}[gating]
        self.gates = nn.ModuleList(nn.Linear(d, num_experts) for _ in range(n_gates))
        self.towers = nn.ModuleList(heads_for(tasks, expert_width, tower_hidden))
        self.num_tasks, self.num_experts, self.gating = len(tasks), num_experts, gating

    def gate_weights(self, z: Tensor) -> Tensor:
        """Gate probabilities for the stem features z: (G, B, n) with G = K, 1 or 0 gates."""
        if not self.gates:
            return z.new_ones(0, z.shape[0], self.num_experts)
        return torch.stack([torch.softmax(g(z), dim=-1) for g in self.gates])

    def forward(self, x: Tensor) -> list[Tensor]:
        z = self.stem(x)
        experts = torch.stack([f(z) for f in self.experts], dim=-2)       # (B, n, w)
        if self.gating == "none":
            mixed = [experts[..., 0, :]] * self.num_tasks
        else:
            g = self.gate_weights(z)                                      # (G, B, n)
            mixed = list(torch.einsum("gbn,bnw->gbw", g, experts).unbind(0))
            if self.gating == "one":
                mixed = mixed * self.num_tasks
        return [tower(m) for tower, m in zip(self.towers, mixed)]

    def shared_parameters(self) -> list[nn.Parameter]:
        shared = [*self.stem.parameters(), *self.experts.parameters()]
        return shared + (list(self.gates.parameters()) if self.gating == "one" else [])

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        k = self._check_task(k)
        gate = list(self.gates[k].parameters()) if self.gating == "multi" else []
        return gate + list(self.towers[k].parameters())


def mmoe(tasks: Sequence[Task], input_shape, *, kind: str = "mlp", num_experts: int = 8,
         expert_width: int = 16, tower_hidden: int | None = 8) -> MixtureOfExperts:
    """MMoE: one softmax gate per task (paper's synthetic setting: 8 experts of 16 units, towers
    of 8 hidden units)."""
    return MixtureOfExperts(tasks, input_shape, kind=kind, num_experts=num_experts,
                            expert_width=expert_width, tower_hidden=tower_hidden, gating="multi")


def omoe(tasks: Sequence[Task], input_shape, *, kind: str = "mlp", num_experts: int = 8,
         expert_width: int = 16, tower_hidden: int | None = 8) -> MixtureOfExperts:
    """OMoE: the same experts with one gate shared by every task."""
    return MixtureOfExperts(tasks, input_shape, kind=kind, num_experts=num_experts,
                            expert_width=expert_width, tower_hidden=tower_hidden, gating="one")


def shared_bottom(tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 16,
                  tower_hidden: int | None = 8) -> MixtureOfExperts:
    """Shared-bottom: one shared Linear–ReLU layer of ``width`` units and one tower per task
    (choose ``width`` to match the parameter count of the MoE being compared)."""
    return MixtureOfExperts(tasks, input_shape, kind=kind, num_experts=1, expert_width=width,
                            tower_hidden=tower_hidden, gating="none")
