"""Sluice networks (Ruder, Bingel, Augenstein & Søgaard, "Latent Multi-task Architecture Learning",
AAAI 2019).

One column per task, as in cross-stitch, but the output h_{k,l} of stage l of task k is split into G
subspaces along its features (channels for a feature map), h_{k,l} = [h_{k,l,1}, ..., h_{k,l,G}],
and one (K·G)×(K·G) matrix α_l mixes *all subspaces of all tasks* (for K = G = 2):

    [h̃_{A,1}, h̃_{A,2}, h̃_{B,1}, h̃_{B,2}]ᵀ = α_l [h_{A,1}, h_{A,2}, h_{B,1}, h_{B,2}]ᵀ.

Layer mixing: task k's head reads h̃_k = Σ_l β_{k,l} h̃_{k,l} over the stages whose output has the
shape of the last stage's (every stage of the MLP backbone; for the small CNN only the last one,
since its conv stages are feature maps of other shapes, so β is then a single scale).

Orthogonality: L_c = Σ_l Σ_k Σ_{g<g'} ‖H_{l,k,g}ᵀ H_{l,k,g'}‖_F², where H_{l,k,g} holds subspace g's
activations of stage l of task k before mixing (rows: examples, and locations of a feature map);
it pushes the subspaces of a layer to carry different information. The objective is
Σ_k λ_k L_k + λ_c L_c: :meth:`Sluice.penalty` returns λ_c L_c of the last forward pass, for
:class:`mtlbook.models.soft_sharing.PenalizedStrategy`.

Special cases: G = 1 without β is cross-stitch; α made of all-ones blocks is hard sharing.
Initialization (the paper's values are not restated here): α_l = A ⊗ I_G with A the cross-stitch
near-identity matrix (α_same, α_diff), so subspace g of one task starts mixed only with subspace g
of the others; β is one on the last stage and zero elsewhere, so the head starts on the last layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlbook.models.base import MultiTaskModel
from mtlbook.models.columns import mix_tasks, task_columns
from mtlbook.models.cross_stitch import stitch_init
from mtlbook.tasks import Task
from mtlbook.validation import check_nonnegative_number, check_positive_int


def _subspace_rows(h: Tensor, g: int) -> Tensor:
    """(B, C, ...) → (G, B·locations, C/G): each subspace as a matrix of rows."""
    h = h.movedim(1, -1) if h.dim() > 2 else h                 # channels last
    return h.reshape(-1, g, h.shape[-1] // g).transpose(0, 1)


class Sluice(MultiTaskModel):
    """K task columns of ``kind`` with a (KG)×(KG) unit ``alphas[l]`` after each stage, layer
    weights ``beta`` (K, L_β) when ``layer_mixing``, and an orthogonality penalty of strength
    ``orthogonality`` (λ_c)."""

    def __init__(self, tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64,
                 depth: int = 2, head_hidden: int | None = None, subspaces: int = 2,
                 alpha_same: float = 0.9, alpha_diff: float = 0.1, layer_mixing: bool = True,
                 orthogonality: float = 1e-3):
        super().__init__()
        check_positive_int("subspaces", subspaces)
        check_nonnegative_number("orthogonality", orthogonality)
        self.columns, self.heads = task_columns(tasks, input_shape, kind, width, depth, head_hidden)
        self.num_tasks, self.subspaces = len(self.heads), subspaces
        self.orthogonality = float(orthogonality)
        with torch.no_grad():                                  # the output shape of every stage
            h, shapes = torch.zeros(1, *self.columns[0][0][0].shape), []
            for stage in self.columns[0]:
                h = stage(h)
                shapes.append(tuple(h.shape[1:]))
        for l, s in enumerate(shapes):
            if s[0] % subspaces:
                raise ValueError(f"subspaces must divide the features of every stage: stage {l} has "
                                 f"{s[0]}, got subspaces={subspaces}")
        init = torch.kron(stitch_init(self.num_tasks, alpha_same, alpha_diff), torch.eye(subspaces))
        self.alphas = nn.ParameterList(nn.Parameter(init.clone()) for _ in shapes)
        self.mixed_stages = [l for l, s in enumerate(shapes) if s == shapes[-1]] if layer_mixing else []
        if layer_mixing:
            beta = torch.zeros(self.num_tasks, len(self.mixed_stages))
            beta[:, -1] = 1.0
            self.beta = nn.Parameter(beta)
        self.last_orthogonality: Tensor | None = None

    def _stitch(self, alpha: Tensor, hs: list[Tensor]) -> list[Tensor]:
        """Mix the G subspaces of the K tasks: (K, B, C, ...) as K·G blocks of C/G features."""
        k, g = self.num_tasks, self.subspaces
        stacked = torch.stack(hs)                                   # (K, B, C, ...)
        b, c, rest = stacked.shape[1], stacked.shape[2], stacked.shape[3:]
        blocks = stacked.reshape(k, b, g, c // g, *rest).transpose(1, 2).reshape(k * g, b, c // g, *rest)
        mixed = torch.stack(mix_tasks(alpha, list(blocks.unbind(0))))
        mixed = mixed.reshape(k, g, b, c // g, *rest).transpose(1, 2).reshape(k, b, c, *rest)
        return list(mixed.unbind(0))

    def orthogonality_loss(self, hs: Sequence[Tensor]) -> Tensor:
        """Σ_k Σ_{g<g'} ‖H_{k,g}ᵀ H_{k,g'}‖_F² for one stage's outputs (no λ_c)."""
        total = hs[0].new_zeros(())
        for h in hs:
            rows = _subspace_rows(h, self.subspaces)
            for a in range(self.subspaces):
                for b in range(a + 1, self.subspaces):
                    total = total + (rows[a].T @ rows[b]).pow(2).sum()
        return total

    def features(self, x: Tensor) -> list[Tensor]:
        """The K head inputs; also sets ``last_orthogonality`` (L_c of this pass)."""
        hs, kept, ortho = [x] * self.num_tasks, [], x.new_zeros(())
        for l, alpha in enumerate(self.alphas):
            hs = [col[l](h) for col, h in zip(self.columns, hs)]
            if self.subspaces > 1:
                ortho = ortho + self.orthogonality_loss(hs)
            hs = self._stitch(alpha, hs)
            if l in self.mixed_stages:
                kept.append(hs)
        self.last_orthogonality = ortho
        if not self.mixed_stages:
            return hs
        return [sum(self.beta[k, i] * layer[k] for i, layer in enumerate(kept))
                for k in range(self.num_tasks)]

    def forward(self, x: Tensor) -> list[Tensor]:
        return [head(h) for head, h in zip(self.heads, self.features(x))]

    def penalty(self) -> Tensor:
        """λ_c L_c of the last forward pass (a scalar that shares that pass's graph)."""
        if self.last_orthogonality is None:
            raise RuntimeError("penalty() needs a forward pass first: call the model on a batch")
        return self.orthogonality * self.last_orthogonality

    def alpha_parameters(self) -> list[nn.Parameter]:
        return list(self.alphas) + ([self.beta] if self.mixed_stages else [])

    def shared_parameters(self) -> list[nn.Parameter]:
        """The α units and β (β's row k only reaches task k, but they are kept together)."""
        return self.alpha_parameters()

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        k = self._check_task(k)
        return [*self.columns[k].parameters(), *self.heads[k].parameters()]


def sluice(tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64, depth: int = 2,
           head_hidden: int | None = None, subspaces: int = 2, alpha_same: float = 0.9,
           alpha_diff: float = 0.1, layer_mixing: bool = True,
           orthogonality: float = 1e-3) -> Sluice:
    """A :class:`Sluice` network (G = 2 subspaces and layer mixing by default)."""
    return Sluice(tasks, input_shape, kind=kind, width=width, depth=depth, head_hidden=head_hidden,
                  subspaces=subspaces, alpha_same=alpha_same, alpha_diff=alpha_diff,
                  layer_mixing=layer_mixing, orthogonality=orthogonality)
