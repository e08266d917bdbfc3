"""Small backbones that every chapter reuses: an MLP and a small CNN, both with input checks."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from mtlbook.models.base import HardSharing, InputShape, SingleTaskNetworks
from mtlbook.tasks import Task


def _shape(input_shape) -> tuple[int, ...]:
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    if not shape or any((not isinstance(s, int)) or s < 1 for s in shape):
        raise ValueError(f"input_shape must be positive ints, got {input_shape!r}")
    return shape


def mlp(input_shape: int | Sequence[int], hidden: Sequence[int] = (64, 64)) -> nn.Sequential:
    """Flatten, then Linear–ReLU layers of widths ``hidden``. Output size ``hidden[-1]``."""
    shape = _shape(input_shape)
    if not hidden or any(h < 1 for h in hidden):
        raise ValueError(f"hidden must be a non-empty sequence of positive widths, got {hidden!r}")
    layers: list[nn.Module] = [InputShape(shape), nn.Flatten(start_dim=-len(shape))]
    width = math.prod(shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers)


def small_cnn(input_shape: Sequence[int] = (1, 10, 10), channels: Sequence[int] = (16, 32),
              out_features: int = 64, pool: int = 2) -> nn.Sequential:
    """conv3×3–ReLU blocks of ``channels``, adaptive average pooling to ``pool``×``pool``, then a
    Linear–ReLU to ``out_features``. Inputs are (batch, C, H, W)."""
    shape = _shape(input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {shape}")
    layers: list[nn.Module] = [InputShape(shape)]
    c = shape[0]
    for ch in channels:
        layers += [nn.Conv2d(c, ch, 3, padding=1), nn.ReLU()]
        c = ch
    layers += [nn.AdaptiveAvgPool2d(pool), nn.Flatten(), nn.Linear(c * pool * pool, out_features),
               nn.ReLU()]
    return nn.Sequential(*layers)


def backbone(kind: str, input_shape, width: int = 64, depth: int = 2) -> nn.Sequential:
    """``mlp`` or ``cnn`` backbone whose output has ``width`` features."""
    if kind == "mlp":
        return mlp(input_shape, (width,) * depth)
    if kind == "cnn":
        return small_cnn(input_shape, channels=(16, 32)[:depth] if depth <= 2 else (16,) * depth,
                         out_features=width)
    raise ValueError(f"kind must be 'mlp' or 'cnn', got {kind!r}")


def heads_for(tasks: Sequence[Task], in_features: int, hidden: int | None = None) -> list[nn.Module]:
    """One head per task: Linear (or Linear–ReLU–Linear with ``hidden`` units) to the task's outputs."""
    if hidden is None:
        return [nn.Linear(in_features, t.output_size) for t in tasks]
    return [nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, t.output_size))
            for t in tasks]


def hard_sharing(tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64,
                 depth: int = 2, head_hidden: int | None = None) -> HardSharing:
    """A hard-sharing network for ``tasks``: a shared ``kind`` backbone and one head per task."""
    return HardSharing(backbone(kind, input_shape, width, depth), heads_for(tasks, width, head_hidden))


def single_task_networks(tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64,
                         depth: int = 2, head_hidden: int | None = None) -> SingleTaskNetworks:
    """One full network per task (the same architecture as :func:`hard_sharing` with K = 1)."""
    nets = [nn.Sequential(backbone(kind, input_shape, width, depth), *heads_for([t], width, head_hidden))
            for t in tasks]
    return SingleTaskNetworks(nets)
