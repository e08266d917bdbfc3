"""Per-task columns cut into stages, the common skeleton of soft sharing, cross-stitch and sluice.

A column is one task's backbone (:func:`mtlbook.models.backbone`) cut after each ReLU, so that an
MLP of depth 2 has 2 stages and the small CNN has one stage per conv block plus its final feature
layer. Architectures that exchange information between tasks do so between stages.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlbook.models.backbones import backbone, heads_for
from mtlbook.tasks import Task


def split_stages(net: nn.Sequential) -> nn.ModuleList:
    """Cut a Sequential after each ReLU into stages (the modules themselves, not copies)."""
    if not isinstance(net, nn.Sequential):
        raise TypeError(f"net must be an nn.Sequential, got {type(net).__name__}")
    stages, current = [], []
    for m in net:
        current.append(m)
        if isinstance(m, nn.ReLU):
            stages.append(nn.Sequential(*current))
            current = []
    if current:
        stages.append(nn.Sequential(*current))
    return nn.ModuleList(stages)


def task_columns(tasks: Sequence[Task], input_shape, kind: str, width: int, depth: int,
                 head_hidden: int | None) -> tuple[nn.ModuleList, nn.ModuleList]:
    """K backbones cut into stages (a ModuleList of K ModuleLists) and K heads."""
    tasks = tuple(tasks)
    if not tasks or not all(isinstance(t, Task) for t in tasks):
        raise ValueError(f"tasks must be a non-empty sequence of Task, got {tasks!r}")
    columns = nn.ModuleList(split_stages(backbone(kind, input_shape, width, depth)) for _ in tasks)
    return columns, nn.ModuleList(heads_for(tasks, width, head_hidden))


def mix_tasks(alpha: Tensor, hs: Sequence[Tensor]) -> list[Tensor]:
    """h̃_k = Σ_j α_kj h_j for K same-shaped activations (the cross-stitch unit)."""
    mixed = torch.einsum("kj,j...->k...", alpha, torch.stack(list(hs)))
    return list(mixed.unbind(0))
