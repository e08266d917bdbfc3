"""Multi-task attention network, MTAN (Liu, Johns & Davison, CVPR 2019), encoder side.

A shared network of J blocks with outputs p^{(j)}, and for each task i a soft-attention module per
block that selects features of the shared block (eq. 1):

    a_i^{(j)} = h_i^{(j)}( g_i^{(j)}( [u^{(j)} ; f^{(j)}(â_i^{(j−1)})] ) ),     â_i^{(j)} = a_i^{(j)} ⊙ p^{(j)},

with [ ; ] concatenation along channels and, at j = 1, the input u^{(1)} alone. g is a 1×1 conv
(a Linear for feature vectors) with ReLU, h a 1×1 conv (Linear) with a **sigmoid**, so every mask
lies in (0, 1); f^{(j)} is shared by the tasks and maps â^{(j−1)} to the shape of block j (here: a
layer of the same kind as shared block j, with its own parameters). Task i's head reads â_i^{(J)}.

Our blocks are the stages of :func:`mtlbook.models.backbone` (one conv or linear layer each), so u^{(j)},
the output of a block's first layer, is its output p^{(j)} too. Batch normalization of the paper's
g, h and f is left out (the small backbones have none). Masks of ones give hard sharing.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlbook.models.backbones import backbone, heads_for
from mtlbook.models.base import MultiTaskModel
from mtlbook.models.columns import split_stages
from mtlbook.tasks import Task


def _fresh_copy(stage: nn.Module) -> nn.Module:
    new = copy.deepcopy(stage)
    for m in new.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return new


def _pointwise(c_in: int, c_out: int, spatial: bool) -> nn.Module:
    return nn.Conv2d(c_in, c_out, 1) if spatial else nn.Linear(c_in, c_out)


class MTAN(MultiTaskModel):
    """A shared ``kind`` backbone ('mlp' or 'cnn') with per-task attention masks over its stages."""

    def __init__(self, tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64,
                 depth: int = 2, head_hidden: int | None = None):
        super().__init__()
        tasks = tuple(tasks)
        if not tasks or not all(isinstance(t, Task) for t in tasks):
            raise ValueError(f"tasks must be a non-empty sequence of Task, got {tasks!r}")
        self.stages = split_stages(backbone(kind, input_shape, width, depth))
        with torch.no_grad():
            h, shapes = torch.zeros(1, *self.stages[0][0].shape), []
            for stage in self.stages:
                h = stage(h)
                shapes.append(tuple(h.shape[1:]))
        # f^{(j)}, j >= 2: shared maps from the previous attended features to block j's shape
        self.bridges = nn.ModuleList(_fresh_copy(s) for s in self.stages[1:])
        self.attention = nn.ModuleList()
        for _ in tasks:
            per_block = nn.ModuleList()
            for j, s in enumerate(shapes):
                c, spatial = s[0], len(s) == 3
                per_block.append(nn.Sequential(_pointwise(c if j == 0 else 2 * c, c, spatial), nn.ReLU(),
                                               _pointwise(c, c, spatial), nn.Sigmoid()))
            self.attention.append(per_block)
        self.heads = nn.ModuleList(heads_for(tasks, width, head_hidden))
        self.num_tasks = len(tasks)

    def masks_and_features(self, x: Tensor) -> tuple[list[list[Tensor]], list[Tensor]]:
        """masks[i][j] = a_i^{(j)} and the K attended outputs â_i^{(J)}."""
        shared, h = [], x
        for stage in self.stages:
            h = stage(h)
            shared.append(h)
        masks, attended = [], []
        for att in self.attention:
            a_hat, task_masks = None, []
            for j, p in enumerate(shared):
                inp = p if j == 0 else torch.cat([p, self.bridges[j - 1](a_hat)], dim=1)
                a = att[j](inp)
                a_hat = a * p
                task_masks.append(a)
            masks.append(task_masks)
            attended.append(a_hat)
        return masks, attended

    def masks(self, x: Tensor) -> list[list[Tensor]]:
        return self.masks_and_features(x)[0]

    def forward(self, x: Tensor) -> list[Tensor]:
        return [head(h) for head, h in zip(self.heads, self.masks_and_features(x)[1])]

    def shared_parameters(self) -> list[nn.Parameter]:
        return [*self.stages.parameters(), *self.bridges.parameters()]

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        k = self._check_task(k)
        return [*self.attention[k].parameters(), *self.heads[k].parameters()]


def mtan(tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64, depth: int = 2,
         head_hidden: int | None = None) -> MTAN:
    """An :class:`MTAN` on the ``kind`` backbone."""
    return MTAN(tasks, input_shape, kind=kind, width=width, depth=depth, head_hidden=head_hidden)
