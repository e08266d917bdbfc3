"""Dense-prediction tasks: a per-pixel loss and metric for semantic segmentation, depth and edges.

These mirror :class:`mtlbook.tasks.Task` (``name``, ``kind``, ``output_size``, ``higher_is_better``,
``loss``, ``metric``) so that the training loop, the strategies and :func:`mtlbook.tasks.delta_m`
use them unchanged. Outputs are maps ``(..., B, C, H, W)`` and targets ``(..., B, H, W)``; any
leading dimensions (E models trained side by side) give E losses at once, and a target without them
is broadcast to every model.

- **segmentation**: C class logits per pixel, cross-entropy averaged over pixels; metric the mean
  intersection over union, mIoU = mean_c |P_c ∩ T_c| / |P_c ∪ T_c| over the classes present in
  prediction or target (pixel accuracy from :meth:`DenseTask.pixel_accuracy`).
- **depth**: one value per pixel, L1 loss |d̂ − d| averaged over pixels; metric the mean absolute
  error (lower is better).
- **edges**: one logit per pixel, binary cross-entropy (positives weighted by ``pos_weight``); metric
  F1 = 2TP / (2TP + FP + FN) of the pixels with logit > 0.

mIoU and F1 are computed from the counts of the whole batch (not averaged per image), as in the
segmentation benchmarks; pass the whole test set in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

KINDS = ("segmentation", "depth", "edges")


@dataclass(frozen=True)
class DenseTask:
    """A named per-pixel task of ``kind`` 'segmentation' (``num_classes`` logits), 'depth' or 'edges'."""

    name: str
    kind: str
    num_classes: int | None = None
    pos_weight: float = 1.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "segmentation" and (not isinstance(self.num_classes, int) or self.num_classes < 2):
            raise ValueError(f"task {self.name!r}: num_classes must be an int >= 2, got {self.num_classes!r}")
        if not self.pos_weight > 0:
            raise ValueError(f"task {self.name!r}: pos_weight must be > 0, got {self.pos_weight}")

    @property
    def output_size(self) -> int:
        return self.num_classes if self.kind == "segmentation" else 1

    @property
    def higher_is_better(self) -> bool:
        return self.kind != "depth"

    @property
    def metric_name(self) -> str:
        return {"segmentation": "mIoU", "depth": "abs. error", "edges": "F1"}[self.kind]

    def _check(self, output: Tensor, target: Tensor) -> None:
        if not isinstance(output, Tensor) or not isinstance(target, Tensor):
            raise TypeError(f"task {self.name!r}: output and target must be tensors, got "
                            f"{type(output).__name__} and {type(target).__name__}")
        if output.dim() < 4 or target.dim() < 3 or output.shape[-3] != self.output_size \
                or output.shape[-2:] != target.shape[-2:] or output.shape[-4] != target.shape[-3]:
            raise ValueError(f"task {self.name!r}: output must be (..., B, {self.output_size}, H, W) and "
                             f"target (..., B, H, W) with the same B, H, W; got {tuple(output.shape)} "
                             f"and {tuple(target.shape)}")
        if self.kind == "segmentation" and target.dtype != torch.long:
            raise TypeError(f"task {self.name!r}: segmentation targets must be int64, got {target.dtype}")

    def per_pixel_loss(self, output: Tensor, target: Tensor) -> Tensor:
        """The loss at every pixel: shape ``(..., B, H, W)``."""
        self._check(output, target)
        if self.kind == "segmentation":
            logp = output.log_softmax(-3)
            t = target.expand(logp.shape[:-3] + target.shape[-2:]).unsqueeze(-3)
            return -logp.gather(-3, t).squeeze(-3)
        o = output[..., 0, :, :]
        t = target.to(o.dtype)
        if self.kind == "depth":
            return (o - t).abs()
        w = torch.tensor(self.pos_weight, dtype=o.dtype, device=o.device)
        return F.binary_cross_entropy_with_logits(o, t.expand_as(o), reduction="none", pos_weight=w)

    def per_example_loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Mean loss over each image's pixels: ``(..., B)``."""
        return self.per_pixel_loss(output, target).mean((-2, -1))

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Mean loss over the batch and its pixels: ``output.shape[:-4]``."""
        return self.per_example_loss(output, target).mean(-1)

    def predict(self, output: Tensor) -> Tensor:
        """Class map (segmentation), depth map, or 0/1 edge map: ``(..., B, H, W)``."""
        if self.kind == "segmentation":
            return output.argmax(-3)
        if self.kind == "depth":
            return output[..., 0, :, :]
        return (output[..., 0, :, :] > 0).long()

    @torch.no_grad()
    def metric(self, output: Tensor, target: Tensor) -> Tensor:
        """mIoU, mean absolute depth error or edge F1 over the batch: ``output.shape[:-4]``."""
        self._check(output, target)
        pred = self.predict(output)
        if self.kind == "depth":
            return (pred - target.to(pred.dtype)).abs().mean((-3, -2, -1))
        t = target.expand_as(pred)
        dtype = output.dtype
        if self.kind == "segmentation":
            classes = torch.arange(self.num_classes, device=pred.device).view(-1, 1, 1, 1)
            p, q = pred.unsqueeze(-4) == classes, t.unsqueeze(-4) == classes     # (..., C, B, H, W)
            inter = (p & q).sum((-3, -2, -1)).to(dtype)
            union = (p | q).sum((-3, -2, -1)).to(dtype)
            present = union > 0
            iou = torch.where(present, inter / union.clamp(min=1), torch.zeros_like(inter))
            return iou.sum(-1) / present.sum(-1).clamp(min=1)
        p, q = pred.bool(), t.bool()
        tp = (p & q).sum((-3, -2, -1)).to(dtype)
        wrong = (p ^ q).sum((-3, -2, -1)).to(dtype)                                # FP + FN
        return torch.where(tp + wrong > 0, 2 * tp / (2 * tp + wrong).clamp(min=1), torch.ones_like(tp))

    @torch.no_grad()
    def pixel_accuracy(self, output: Tensor, target: Tensor) -> Tensor:
        """Fraction of pixels whose class (segmentation) or edge label is right."""
        self._check(output, target)
        if self.kind == "depth":
            raise ValueError(f"task {self.name!r}: pixel accuracy is defined for classes, not depth")
        pred = self.predict(output)
        return (pred == target.expand_as(pred)).to(output.dtype).mean((-3, -2, -1))


def segmentation(name: str, num_classes: int) -> DenseTask:
    return DenseTask(name, "segmentation", num_classes=num_classes)


def depth(name: str = "depth") -> DenseTask:
    return DenseTask(name, "depth")


def edges(name: str = "edges", pos_weight: float = 1.0) -> DenseTask:
    return DenseTask(name, "edges", pos_weight=pos_weight)
