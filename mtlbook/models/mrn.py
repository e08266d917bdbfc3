"""Multilinear relationship networks, MRN (Long, Cao, Wang & Yu, NIPS 2017).

A shared backbone, and per task k a head Linear(d → D2)–ReLU–Linear(D2 → out_k). The first head
layers of the T tasks, W_k ∈ R^{D2×D1} (D1 = d inputs, D2 outputs), are stacked into a tensor
𝒲 ∈ R^{D1×D2×T} (𝒲[:, :, k] = W_kᵀ) with a tensor-normal prior vec(𝒲) ~ N(0, Σ1 ⊗ Σ2 ⊗ Σ3): a
feature covariance Σ1 (D1 × D1), an output covariance Σ2 (D2 × D2) and a task covariance Σ3 (T × T).
The negative log-prior (the paper's eq. 6, up to constants) is

    ½ ⟨𝒲, 𝒲 ×₁ Σ1⁻¹ ×₂ Σ2⁻¹ ×₃ Σ3⁻¹⟩ + ½ (D2 T ln|Σ1| + D1 T ln|Σ2| + D1 D2 ln|Σ3|),

with ×ₖ the mode-k product. Training alternates gradient steps on the network, with the quadratic
term times λ added to the task losses (:meth:`MultilinearRelationship.penalty`), with updates of the
covariances (:meth:`MultilinearRelationship.update_covariance`, e.g. once an epoch). Each covariance
has a closed-form minimizer given the other two (the paper's eq. 8, the flip-flop algorithm):

    Σ1 ← 𝒲₍₁₎ (Σ2 ⊗ Σ3)⁻¹ 𝒲₍₁₎ᵀ / (D2 T) + εI,   and alike for Σ2 (÷ D1 T) and Σ3 (÷ D1 D2),

where 𝒲₍ₖ₎ is the mode-k unfolding. ``covariances="task"`` keeps Σ1 = Σ2 = I and updates Σ3 only,
which is then WᵀW / (D1 D2) + εI with W = [vec W_1, ..., vec W_T]; ``"all"`` runs one flip-flop
sweep Σ1 → Σ2 → Σ3 per update. The prior only sees Σ1 ⊗ Σ2 ⊗ Σ3, so (cΣ1, Σ2 / c) is the same
prior: after each sweep Σ1 and Σ2 are rescaled to a mean variance of 1, which leaves the objective
unchanged (for ε = 0) and puts the scale of the weights in Σ3.
Σ3 is the learned task covariance: its correlation matrix says which tasks' heads are alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlbook.models.backbones import backbone
from mtlbook.models.base import HardSharing
from mtlbook.tasks import Task
from mtlbook.validation import check_nonnegative_number, check_positive_int

COVARIANCES = ("task", "all")
_MODE_PRODUCT = ("ai,ijt->ajt", "bj,ijt->ibt", "ct,ijt->ijc")


def _spd_inverse(s: Tensor) -> Tensor:
    return torch.cholesky_inverse(torch.linalg.cholesky(s))


def tensor_normal_quadratic(w: Tensor, covariances: Sequence[Tensor]) -> Tensor:
    """⟨𝒲, 𝒲 ×₁ Σ1⁻¹ ×₂ Σ2⁻¹ ×₃ Σ3⁻¹⟩ = vec(𝒲)ᵀ (Σ1 ⊗ Σ2 ⊗ Σ3)⁻¹ vec(𝒲) for 𝒲 (D1, D2, T)."""
    v = w
    for spec, s in zip(_MODE_PRODUCT, covariances):
        v = torch.einsum(spec, _spd_inverse(s), v)
    return (w * v).sum()


def negative_log_prior(w: Tensor, covariances: Sequence[Tensor]) -> Tensor:
    """The tensor-normal negative log-prior of 𝒲 (D1, D2, T) given (Σ1, Σ2, Σ3), without constants."""
    total = w.numel()
    logdets = sum(total / s.shape[0] * torch.logdet(s) for s in covariances)
    return 0.5 * (tensor_normal_quadratic(w, covariances) + logdets)


def flip_flop_update(w: Tensor, covariances: Sequence[Tensor], mode: int, eps: float = 0.0) -> Tensor:
    """The minimizer over Σ_{mode+1} of :func:`negative_log_prior` with the other two fixed, plus εI:
    the mode's unfolding 𝒲₍ₖ₎ weighted by the other covariances' inverses, over their dimensions."""
    if mode not in (0, 1, 2):
        raise ValueError(f"mode must be 0, 1 or 2, got {mode!r}")
    v = w
    for k, (spec, s) in enumerate(zip(_MODE_PRODUCT, covariances)):
        if k != mode:
            v = torch.einsum(spec, _spd_inverse(s), v)
    unfold_w = w.movedim(mode, 0).reshape(w.shape[mode], -1)
    unfold_v = v.movedim(mode, 0).reshape(w.shape[mode], -1)
    eye = torch.eye(w.shape[mode], dtype=w.dtype, device=w.device)
    return unfold_w @ unfold_v.T * (w.shape[mode] / w.numel()) + eps * eye


class MultilinearRelationship(HardSharing):
    """Hard sharing (``encoder``, ``heads``) with a tensor-normal prior on the heads' first layer."""

    def __init__(self, tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64,
                 depth: int = 2, head_hidden: int = 16, strength: float = 1e-3, eps: float = 1e-4,
                 covariances: str = "task"):
        tasks = tuple(tasks)
        if not tasks or not all(isinstance(t, Task) for t in tasks):
            raise ValueError(f"tasks must be a non-empty sequence of Task, got {tasks!r}")
        check_positive_int("head_hidden", head_hidden)
        check_nonnegative_number("strength", strength)
        check_nonnegative_number("eps", eps)
        if covariances not in COVARIANCES:
            raise ValueError(f"covariances must be one of {COVARIANCES}, got {covariances!r}")
        if covariances == "all" and eps == 0:
            raise ValueError("eps must be > 0 with covariances='all': the feature covariance is estimated "
                             "from D2·T columns and is singular when D1 > D2·T")
        super().__init__(backbone(kind, input_shape, width, depth),
                         [nn.Sequential(nn.Linear(width, head_hidden), nn.ReLU(),
                                        nn.Linear(head_hidden, t.output_size)) for t in tasks])
        self.strength, self.eps, self.covariances = float(strength), float(eps), covariances
        self.register_buffer("feature_covariance", torch.eye(width))
        self.register_buffer("output_covariance", torch.eye(head_hidden))
        self.register_buffer("task_covariance", torch.eye(self.num_tasks))

    def weight_tensor(self) -> Tensor:
        """𝒲 with 𝒲[:, :, k] = W_kᵀ: (D1, D2, T)."""
        return torch.stack([h[0].weight.T for h in self.heads], dim=-1)

    def stacked_weights(self) -> Tensor:
        """W = [vec W_1, ..., vec W_T]: (D1·D2, T)."""
        return torch.stack([h[0].weight.reshape(-1) for h in self.heads], dim=1)

    def prior_covariances(self) -> tuple[Tensor, Tensor, Tensor]:
        """(Σ1, Σ2, Σ3): feature, output and task covariance."""
        return self.feature_covariance, self.output_covariance, self.task_covariance

    def penalty(self) -> Tensor:
        """λ · ½ vec(𝒲)ᵀ (Σ1 ⊗ Σ2 ⊗ Σ3)⁻¹ vec(𝒲) with the current covariances (gradients in 𝒲).
        Right after an exact update of Σ3 (ε = 0) the quadratic equals D1·D2·T whatever 𝒲: what
        trains is its gradient, which grows like λ/ε along directions where Σ3 is nearly singular."""
        return self.strength * 0.5 * tensor_normal_quadratic(self.weight_tensor(), self.prior_covariances())

    @torch.no_grad()
    def update_covariance(self) -> Tensor:
        """Σ3 only (``covariances="task"``) or one flip-flop sweep Σ1 → Σ2 → Σ3 (``"all"``), each the
        minimizer given the others plus εI; returns Σ3."""
        w = self.weight_tensor()
        buffers = self.prior_covariances()
        for mode in (0, 1, 2) if self.covariances == "all" else (2,):
            buffers[mode].copy_(flip_flop_update(w, buffers, mode, self.eps))
        if self.covariances == "all":
            for s in buffers[:2]:                       # (cΣ1, Σ2 / c) is the same prior
                scale = s.diagonal().mean()
                s.div_(scale)
                self.task_covariance.mul_(scale)
        return self.task_covariance.clone()

    def task_correlation(self) -> Tensor:
        """Σ3 as a correlation matrix (ones on the diagonal)."""
        s = self.task_covariance.diagonal().sqrt()
        return self.task_covariance / (s[:, None] * s[None, :])


def mrn(tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64, depth: int = 2,
        head_hidden: int = 16, strength: float = 1e-3, eps: float = 1e-4,
        covariances: str = "task") -> MultilinearRelationship:
    """A :class:`MultilinearRelationship` network with Σ1, Σ2, Σ3 = I until the first update."""
    return MultilinearRelationship(tasks, input_shape, kind=kind, width=width, depth=depth,
                                   head_hidden=head_hidden, strength=strength, eps=eps,
                                   covariances=covariances)
