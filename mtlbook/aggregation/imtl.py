"""IMTL-G (L. Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021, Section 3.2): the update
whose projections on every task's unit gradient are equal.

With u_k = g_k / ‖g_k‖ and d = Σ_k α_k g_k, IMTL-G asks for ⟨d, u_1⟩ = ⟨d, u_k⟩ for every k and
Σ_k α_k = 1. In Gram terms (G_ij = ⟨g_i, g_j⟩, s_k = ‖g_k‖ = √G_kk) the condition reads
(Gα)_k = λ s_k for one λ, so

    α = G⁺ s / (𝟙ᵀ G⁺ s),

and then ⟨d, u_k⟩ = λ = 1 / (𝟙ᵀ G⁺ s) for every task. (The paper writes the same solution as
α_{2:K} = g_1 Uᵀ (D Uᵀ)⁻¹ with D and U the differences g_1 − g_k and u_1 − u_k.) The weights may be
negative; the *direction* of d does not change when a loss is multiplied by a constant c_k > 0
(g_k → c_k g_k gives α_k → α_k / c_k up to one common factor), which is the method's point —
up to its sign: the sum Σ_k (Ĝ⁺𝟙)_k / s_k that normalizes the weights can change sign when a loss
is rescaled, and then the common projection λ is negative and −d increases every loss (the tests
show such a case). The paper's normalization is kept.
It is computed as α ∝ D⁻¹ Ĝ⁺ 𝟙 with Ĝ the Gram matrix of the unit gradients and D = diag(s).
When the gradients are linearly independent (G invertible) this equals G⁻¹ s, and it stays accurate
when the norms differ by many orders of magnitude. When they are linearly dependent the two
pseudo-inverse solutions differ: for J = [[1, 0], [0, 1], [3, 1]], G⁺s gives α = (−0.138, 0.775,
0.362) and the library (0.260, 0.601, 0.138). Both give equal projections whenever some direction
has them (𝟙 in the range of Ĝ, e.g. a task repeated at another scale); otherwise neither can, and
each is a least-squares compromise in its own metric. The library uses D⁻¹ Ĝ⁺ 𝟙 because it keeps
the method's point: Ĝ depends on the unit gradients only, so d = Σ_k (Ĝ⁺𝟙)_k u_k / (𝟙ᵀ D⁻¹ Ĝ⁺ 𝟙) keeps
its direction (up to sign) when a loss is rescaled, which G⁺s does not for dependent gradients. A
zero gradient gets weight 0; when the sum of the raw weights vanishes (for example every gradient is
zero) the weights are uniform.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbook.aggregation.gram import check_gram, gram_matrix
from mtlbook.aggregation.strategies import GradientAggregation


def imtlg_weights(gram: Tensor, *, rtol: float = 1e-10) -> Tensor:
    """IMTL-G's weights α (..., K), Σα = 1, from the Gram matrix (..., K, K) of the task gradients.

    ``rtol`` is the pseudo-inverse's cut-off for small eigenvalues, relative to the largest.
    Batched over leading dimensions, in float64, on the Gram's device."""
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 <= rtol < 1:
        raise ValueError(f"rtol must be a number in [0, 1), got {rtol!r}")
    g = check_gram(gram)
    k = g.shape[-1]
    s = g.diagonal(dim1=-2, dim2=-1).clamp_min(0.0).sqrt()                 # ‖g_k‖
    live = s > 0
    s_safe = torch.where(live, s, torch.ones_like(s))
    # D⁻¹ Ĝ⁺ 𝟙 with Ĝ the Gram matrix of the unit gradients (D = diag s): G⁻¹ s for independent
    # gradients, scale-free for dependent ones (where G⁺ s differs), accurate when the norms differ
    # by many orders of magnitude; zero gradients get weight 0.
    mask = (live.unsqueeze(-1) & live.unsqueeze(-2)).to(g.dtype)
    unit = g / (s_safe.unsqueeze(-1) * s_safe.unsqueeze(-2)) * mask
    ones = live.to(g.dtype).unsqueeze(-1)
    raw = (torch.linalg.pinv(unit, rtol=rtol, hermitian=True) @ ones).squeeze(-1) / s_safe
    total = raw.sum(-1, keepdim=True)
    scale = raw.abs().sum(-1, keepdim=True)
    ok = (total.abs() > 1e-12 * scale) & (scale > 0)
    uniform = torch.full_like(raw, 1.0 / k)
    return torch.where(ok, raw / torch.where(ok, total, torch.ones_like(total)), uniform)


def imtlg_direction(grads: Tensor) -> Tensor:
    """IMTL-G's update d = Σ_k α_k g_k for grads (..., K, n) → (..., n); see :func:`imtlg_weights`."""
    weights = imtlg_weights(gram_matrix(grads))
    if not bool(torch.isfinite(grads).all()):
        raise ValueError("grads must be finite")
    return (weights.to(grads.dtype).unsqueeze(-2) @ grads).squeeze(-2)


class IMTLG(GradientAggregation):
    """IMTL-G (L. Liu et al., ICLR 2021) on the per-task gradients of the shared parameters: shared
    update K · Σ α_k g_k with the weights of :func:`imtlg_weights` (the factor K keeps the book's
    convention Σw = K). Heads receive their own gradients unchanged (the paper's IMTL-L, which
    learns loss scales for the heads, is not included)."""

    def coefficients_from_gram(self, gram: Tensor, dtype: torch.dtype) -> Tensor:
        return gram.shape[-1] * imtlg_weights(gram)
