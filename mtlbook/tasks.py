"""Tasks: their loss, their metric, and Δm, the multi-task performance relative to a baseline.

A task's ``loss`` and ``metric`` accept outputs with any leading dimensions before the batch
dimension, so that E models trained side by side (``(E, B, C)`` outputs against ``(B,)`` targets)
give E losses at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Task:
    """A named task: ``kind`` is ``"classification"`` (``num_classes`` logits, cross-entropy,
    accuracy) or ``"regression"`` (``num_outputs`` values, mean squared error, MSE metric)."""

    name: str
    kind: str
    num_classes: int | None = None
    num_outputs: int = 1

    def __post_init__(self):
        if self.kind not in ("classification", "regression"):
            raise ValueError(f"kind must be 'classification' or 'regression', got {self.kind!r}")
        if self.kind == "classification" and (self.num_classes is None or self.num_classes < 2):
            raise ValueError(f"task {self.name!r}: num_classes must be >= 2, got {self.num_classes}")

    @property
    def output_size(self) -> int:
        return self.num_classes if self.kind == "classification" else self.num_outputs

    @property
    def higher_is_better(self) -> bool:
        return self.kind == "classification"

    @property
    def metric_name(self) -> str:
        return "accuracy" if self.kind == "classification" else "mse"

    def _prepared_target(self, output: Tensor, target: Tensor) -> Tensor:
        """Check shapes; regression targets become (..., B, D) to match the output."""
        if self.kind == "classification":
            if output.shape[-1] != self.num_classes or output.shape[-2] != target.shape[-1]:
                raise ValueError(f"task {self.name!r}: output must end in (batch={target.shape[-1]}, "
                                 f"classes={self.num_classes}), got {tuple(output.shape)}")
            return target
        t = target.unsqueeze(-1) if self.num_outputs == 1 else target
        if output.shape[-1] != self.num_outputs or t.shape[-1] != self.num_outputs \
                or output.shape[-2] != t.shape[-2]:
            raise ValueError(f"task {self.name!r}: output must end in (batch={t.shape[-2]}, "
                             f"outputs={self.num_outputs}), got {tuple(output.shape)}")
        return t

    def per_example_loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Loss of each example: shape ``output.shape[:-1]``. Regression targets are (..., B) for
        one output and (..., B, D) for D outputs; class labels are (..., B)."""
        t = self._prepared_target(output, target)
        if self.kind == "classification":
            lead = output.shape[:-1]
            logits = output.reshape(-1, self.num_classes)
            labels = t.expand(lead).reshape(-1)
            return F.cross_entropy(logits, labels, reduction="none").reshape(lead)
        return (output - t.to(output.dtype)).pow(2).mean(-1)

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Mean loss over the batch: shape ``output.shape[:-2]`` (a scalar for one model)."""
        return self.per_example_loss(output, target).mean(-1)

    @torch.no_grad()
    def metric(self, output: Tensor, target: Tensor) -> Tensor:
        """Accuracy (classification) or mean squared error (regression) over the batch."""
        if self.kind == "classification":
            t = self._prepared_target(output, target)
            return (output.argmax(-1) == t).to(output.dtype).mean(-1)
        return self.loss(output, target)


def classification(name: str, num_classes: int) -> Task:
    return Task(name, "classification", num_classes=num_classes)


def regression(name: str, num_outputs: int = 1) -> Task:
    return Task(name, "regression", num_outputs=num_outputs)


def task_losses(tasks: Sequence[Task], outputs: Sequence[Tensor], targets: Sequence[Tensor]) -> Tensor:
    """Stack the K task losses along the last dimension: ``(..., K)``."""
    if not (len(tasks) == len(outputs) == len(targets)):
        raise ValueError(f"need one output and one target per task: {len(tasks)} tasks, "
                         f"{len(outputs)} outputs, {len(targets)} targets")
    return torch.stack([t.loss(o, y) for t, o, y in zip(tasks, outputs, targets)], dim=-1)


def delta_m(metrics, baseline, higher_is_better: Sequence[bool]) -> Tensor:
    """Δm in percent (Maninis et al., CVPR 2019, eq. 4):

    Δm = 100/K · Σ_k (−1)^{l_k} (M_k − B_k) / B_k,   l_k = 1 when lower is better for task k.

    ``metrics`` may have leading dimensions (seeds, methods); ``baseline`` broadcasts against it.
    Positive means better than the baseline.
    """
    m = torch.as_tensor(metrics, dtype=torch.float64)
    b = torch.as_tensor(baseline, dtype=torch.float64)
    sign = torch.tensor([1.0 if h else -1.0 for h in higher_is_better], dtype=torch.float64)
    if m.shape[-1] != len(sign) or b.shape[-1] != len(sign):
        raise ValueError(f"metrics and baseline must end in K={len(sign)} tasks, got "
                         f"{tuple(m.shape)} and {tuple(b.shape)}")
    if (b == 0).any():
        raise ValueError("baseline metrics must be non-zero (Δm divides by them)")
    return 100.0 * (sign * (m - b) / b).mean(-1)
