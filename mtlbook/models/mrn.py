"""Multilinear relationship networks, MRN (Long, Cao, Wang & Yu, NIPS 2017), task covariance only.

A shared backbone, and per task k a head Linear(d → D2)–ReLU–Linear(D2 → out_k). The first head
layers of the T tasks, W_k ∈ R^{D2×D1} (D1 = d inputs, D2 outputs), are stacked into a tensor
𝒲 ∈ R^{D1×D2×T} with a tensor-normal prior vec(𝒲) ~ N(0, Σ1 ⊗ Σ2 ⊗ Σ3) (feature, output and task
covariances). With Σ1 = I and Σ2 = I, as here, the negative log-prior is

    ½ tr(W Σ3⁻¹ Wᵀ) + ½ D1 D2 ln|Σ3|,     W = [vec W_1, ..., vec W_T] ∈ R^{D1D2×T},

and training alternates gradient steps on the network, with the penalty λ·½ tr(W Σ3⁻¹ Wᵀ) added to
the task losses (:meth:`MultilinearRelationship.penalty`), with the closed-form minimizer of the
negative log-prior over Σ3 (:meth:`MultilinearRelationship.update_covariance`, e.g. once an epoch):

    Σ3 ← WᵀW / (D1 D2) + ε I.

Σ3 is the learned task covariance: its correlation matrix says which tasks' heads are alike. The
feature and output covariances Σ1, Σ2 and their flip-flop updates are not implemented.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlbook.models.backbones import backbone
from mtlbook.models.base import HardSharing
from mtlbook.tasks import Task


class MultilinearRelationship(HardSharing):
    """Hard sharing (``encoder``, ``heads``) with a task-covariance prior on the heads' first layer."""

    def __init__(self, tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64,
                 depth: int = 2, head_hidden: int = 16, strength: float = 1e-3, eps: float = 1e-4):
        tasks = tuple(tasks)
        if not tasks or not all(isinstance(t, Task) for t in tasks):
            raise ValueError(f"tasks must be a non-empty sequence of Task, got {tasks!r}")
        if not isinstance(head_hidden, int) or head_hidden < 1:
            raise ValueError(f"head_hidden must be a positive int, got {head_hidden!r}")
        for name, v in (("strength", strength), ("eps", eps)):
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")
        super().__init__(backbone(kind, input_shape, width, depth),
                         [nn.Sequential(nn.Linear(width, head_hidden), nn.ReLU(),
                                        nn.Linear(head_hidden, t.output_size)) for t in tasks])
        self.strength, self.eps = float(strength), float(eps)
        self.register_buffer("task_covariance", torch.eye(self.num_tasks))

    def stacked_weights(self) -> Tensor:
        """W = [vec W_1, ..., vec W_T]: (D1·D2, T)."""
        return torch.stack([h[0].weight.reshape(-1) for h in self.heads], dim=1)

    def penalty(self) -> Tensor:
        """λ · ½ tr(W Σ3⁻¹ Wᵀ) with the current Σ3 (a scalar with gradients in W)."""
        w = self.stacked_weights()
        return self.strength * 0.5 * (w * torch.linalg.solve(self.task_covariance, w.T).T).sum()

    @torch.no_grad()
    def update_covariance(self) -> Tensor:
        """Σ3 ← WᵀW / (D1 D2) + εI (the minimizer of the negative log-prior); returns Σ3."""
        w = self.stacked_weights()
        eye = torch.eye(self.num_tasks, dtype=w.dtype, device=w.device)
        self.task_covariance.copy_(w.T @ w / w.shape[0] + self.eps * eye)
        return self.task_covariance.clone()

    def task_correlation(self) -> Tensor:
        """Σ3 as a correlation matrix (ones on the diagonal)."""
        s = self.task_covariance.diagonal().sqrt()
        return self.task_covariance / (s[:, None] * s[None, :])


def mrn(tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64, depth: int = 2,
        head_hidden: int = 16, strength: float = 1e-3, eps: float = 1e-4) -> MultilinearRelationship:
    """A :class:`MultilinearRelationship` network with Σ3 = I until the first update."""
    return MultilinearRelationship(tasks, input_shape, kind=kind, width=width, depth=depth,
                                   head_hidden=head_hidden, strength=strength, eps=eps)
