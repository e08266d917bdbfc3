"""E small networks trained side by side as one tensor program.

Seeds and sweeps of small models are batched rather than looped: an :class:`EnsembleLinear` holds E
weight matrices and applies them with one batched matrix multiply. Because the E models share no
parameter and Adam is element-wise, training the sum of their losses is exactly training each model
on its own, only faster. Inputs are (B, ...) (the same batch for every model) or (E, B, ...)
(each model its own batch); outputs are (E, B, out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlbook.models.base import MultiTaskModel
from mtlbook.tasks import Task


class EnsembleLinear(nn.Module):
    """E independent affine maps: y_e = x_e W_e + b_e, initialized like ``nn.Linear``."""

    def __init__(self, num_models: int, in_features: int, out_features: int,
                 generator: torch.Generator | None = None):
        super().__init__()
        if min(num_models, in_features, out_features) < 1:
            raise ValueError(f"num_models, in_features and out_features must be positive, got "
                             f"{num_models}, {in_features}, {out_features}")
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(num_models, in_features, out_features)
                                   .uniform_(-bound, bound, generator=generator))
        self.bias = nn.Parameter(torch.empty(num_models, 1, out_features)
                                 .uniform_(-bound, bound, generator=generator))
        self.num_models, self.in_features, self.out_features = num_models, in_features, out_features

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x must end in {self.in_features} features, got {tuple(x.shape)}")
        if x.dim() == 2:
            x = x.expand(self.num_models, *x.shape)
        elif x.dim() != 3 or x.shape[0] != self.num_models:
            raise ValueError(f"x must be (B, {self.in_features}) or ({self.num_models}, B, "
                             f"{self.in_features}), got {tuple(x.shape)}")
        return torch.baddbmm(self.bias, x, self.weight)

    def extra_repr(self) -> str:
        return f"num_models={self.num_models}, in={self.in_features}, out={self.out_features}"


class EnsembleMLP(nn.Module):
    """E MLPs with ReLU between the layers ``sizes[0] → sizes[1] → ...`` (ReLU after the last
    layer too when ``final_activation``). Inputs are flattened after the batch dimension."""

    def __init__(self, num_models: int, sizes: Sequence[int], *, final_activation: bool = True,
                 generator: torch.Generator | None = None):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least input and output widths, got {sizes!r}")
        self.layers = nn.ModuleList(EnsembleLinear(num_models, a, b, generator)
                                    for a, b in zip(sizes[:-1], sizes[1:]))
        self.in_features, self.final_activation = sizes[0], final_activation

    def forward(self, x: Tensor) -> Tensor:
        # (B, ...) shared by every model, or (E, B, ...): flatten what makes in_features
        for lead in (1, 2):
            if x.dim() > lead and math.prod(x.shape[lead:]) == self.in_features:
                break
        else:
            raise ValueError(f"x must be (B, ...) or (E, B, ...) with {self.in_features} features per "
                             f"example, got {tuple(x.shape)}")
        x = x.flatten(start_dim=lead)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1 or self.final_activation:
                x = torch.relu(x)
        return x


class EnsembleHardSharing(MultiTaskModel):
    """E hard-sharing MLPs (a shared trunk, one linear head per task), trained side by side.
    ``forward(x)`` returns K outputs of shape (E, B, out_k)."""

    def __init__(self, num_models: int, tasks: Sequence[Task], in_features: int,
                 hidden: Sequence[int] = (64, 64), generator: torch.Generator | None = None):
        super().__init__()
        if not tasks:
            raise ValueError("tasks must hold at least one task")
        self.encoder = EnsembleMLP(num_models, [in_features, *hidden], generator=generator)
        self.heads = nn.ModuleList(EnsembleLinear(num_models, hidden[-1], t.output_size, generator)
                                   for t in tasks)
        self.num_tasks, self.num_models = len(tasks), num_models

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, z: Tensor) -> list[Tensor]:
        return [h(z) for h in self.heads]

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.decode(self.encode(x))

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters())

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        return list(self.heads[self._check_task(k)].parameters())
