"""Random loss weighting (Lin et al., TMLR 2022): w = softmax(z), z ~ N(0, I), drawn every step."""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbook.strategy import StepContext
from mtlbook.weighting.base import LossWeighting, check_num_tasks


class RandomLossWeighting(LossWeighting):
    """A baseline: fresh weights softmax(z), z ~ N(0, I_K), at every step (Σw = 1, the paper's
    convention; Σw = K with ``normalize=True``). ``generator``: a torch.Generator on the losses'
    device for reproducible draws (default: the global generator). Heads are weighted too."""

    def __init__(self, num_tasks: int, *, normalize: bool = False,
                 generator: torch.Generator | None = None):
        self.num_tasks = check_num_tasks(num_tasks)
        self.normalize = bool(normalize)
        self.generator = generator

    def weights(self, losses: Tensor, ctx: StepContext | None = None) -> Tensor:
        self.check_task_losses(losses, ctx)
        z = torch.randn(losses.shape, generator=self.generator, dtype=losses.dtype,
                        device=losses.device)
        w = torch.softmax(z, dim=-1)
        return w * self.num_tasks if self.normalize else w
