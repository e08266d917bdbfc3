"""Update directions of the gradient-conflict methods, as pure functions of the task gradients.

Every function here takes the task gradients J (..., K, n) (row k is g_k = ∇L_k), or only their Gram
matrix G = J Jᵀ (..., K, K), and returns an update direction d (..., n) or the weights c (..., K)
with d = Σ_k c_k g_k. Working on G keeps the methods batched (many problems at once, e.g. many
starting points of a toy) and independent of n; the weights are also what the training loop records.

- MGDA (Sener & Koltun, NeurIPS 2018): d = Σ α_k g_k with α the min-norm weights on the simplex.
- PCGrad (Yu et al., NeurIPS 2020, Algorithm 1): each g_i is projected, in a random order of the
  other tasks j, onto the normal plane of every g_j it conflicts with; d = Σ_i g_i^PC.
- CAGrad (Liu et al., NeurIPS 2021, eq. 3 and its dual): d = g_0 + (√φ / ‖g_w‖) g_w with
  g_0 = (1/K) Σ g_k, φ = c² ‖g_0‖² and w = argmin_{w∈Δ} g_wᵀ g_0 + √φ ‖g_w‖.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

from mtlbook.aggregation.gram import check_gram, check_grads, gram_matrix, squared_norm
from mtlbook.aggregation.min_norm import min_norm_weights, min_norm_weights_from_gram, two_task_min_norm

STATIONARY_RTOL = 1e-8   # CAGrad, c >= 1: the origin is in the hull when ‖g_α‖ <= this · max_k ‖g_k‖


def _check_finite(grads: Tensor) -> Tensor:
    grads = check_grads(grads)
    if not bool(torch.isfinite(grads).all()):
        bad = (~torch.isfinite(grads)).any(-1).nonzero()[0].tolist()
        raise ValueError(f"grads must be finite: the gradient of task {bad[-1]} has non-finite entries")
    return grads


def _combine(weights: Tensor, grads: Tensor) -> Tensor:
    return (weights.to(grads.dtype).unsqueeze(-2) @ grads).squeeze(-2)


def mgda_direction(grads: Tensor, *, method: str = "auto") -> Tensor:
    """MGDA's common descent direction d = Σ_k α_k g_k, α = argmin_{α∈Δ} ‖Σ α_k g_k‖²
    (Sener & Koltun 2018, eq. 3). It satisfies ⟨g_k, d⟩ >= ‖d‖² for every k, so −d decreases every
    loss to first order; d = 0 exactly at a Pareto-stationary point. grads (..., K, n) → (..., n)."""
    grads = _check_finite(grads)
    return _combine(min_norm_weights(grads, method=method), grads)


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


def pcgrad_weights(gram: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """PCGrad as weights on the raw gradients: d = Σ_i g_i^PC = Σ_j c_j g_j, from the Gram matrix.

    Yu et al. (2020), Algorithm 1: for each task i, g_i^PC starts at g_i; for each other task j in a
    random order, if ⟨g_i^PC, g_j⟩ < 0 then g_i^PC ← g_i^PC − ⟨g_i^PC, g_j⟩ / ‖g_j‖² · g_j. Each
    g_i^PC is kept as coefficients on the raw gradients (row i of C), and ⟨g_i^PC, g_j⟩ = (C G)_ij,
    so only G is needed. The orders (one permutation of the other tasks per task i, shared by every
    problem of a batch) come from ``generator`` (seed it for reproducible runs; ``None`` uses
    torch's global generator). A zero gradient g_j projects nothing. gram (..., K, K) → c (..., K),
    with c = 1 (the sum of the gradients) when no pair conflicts. For K = 2 the order is irrelevant.
    """
    _check_generator(generator)
    return _pcgrad_weights(check_gram(gram), generator)


def _pcgrad_weights(g: Tensor, generator: torch.Generator | None) -> Tensor:
    """:func:`pcgrad_weights` on a checked float64 Gram matrix (no host synchronization)."""
    k = g.shape[-1]
    diag = g.diagonal(dim1=-2, dim2=-1)                                   # ‖g_j‖² (..., K)
    coef = torch.eye(k, dtype=g.dtype, device=g.device).expand(g.shape).clone()
    for i in range(k):
        others = [j for j in range(k) if j != i]
        order = torch.randperm(k - 1, generator=generator).tolist() if k > 2 else list(range(k - 1))
        for pos in order:
            j = others[pos]
            dot = (coef[..., i, :] * g[..., :, j]).sum(-1)                 # ⟨g_i^PC, g_j⟩
            norm2 = diag[..., j]
            step = torch.where((dot < 0) & (norm2 > 0), dot / torch.where(norm2 > 0, norm2, 1.0), 0.0)
            coef[..., i, j] = coef[..., i, j] - step
    return coef.sum(-2)


def pcgrad_projections(grads: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The projected gradients g_i^PC (..., K, n) of PCGrad (Yu et al. 2020, Algorithm 1), computed
    on the gradients themselves (the loop of the paper; see :func:`pcgrad_weights` for the order)."""
    _check_generator(generator)
    grads = _check_finite(grads)
    k = grads.shape[-2]
    out = grads.clone()
    norm2 = (grads * grads).sum(-1)                                      # (..., K)
    for i in range(k):
        others = [j for j in range(k) if j != i]
        order = torch.randperm(k - 1, generator=generator).tolist() if k > 2 else list(range(k - 1))
        for pos in order:
            j = others[pos]
            dot = (out[..., i, :] * grads[..., j, :]).sum(-1)
            safe = torch.where(norm2[..., j] > 0, norm2[..., j], torch.ones_like(norm2[..., j]))
            step = torch.where((dot < 0) & (norm2[..., j] > 0), dot / safe, torch.zeros_like(dot))
            out[..., i, :] = out[..., i, :] - step.unsqueeze(-1) * grads[..., j, :]
    return out


def pcgrad_direction(grads: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """PCGrad's update d = Σ_i g_i^PC (Yu et al. 2020, Algorithm 1) for grads (..., K, n) → (..., n).
    With the same ``generator`` state it equals ``pcgrad_projections(grads, generator).sum(-2)``."""
    grads = _check_finite(grads)
    return _combine(pcgrad_weights(gram_matrix(grads), generator), grads)


def _check_c(c: float) -> float:
    if isinstance(c, bool) or not isinstance(c, (int, float)):
        raise TypeError(f"c must be a real number, got {type(c).__name__}")
    if not (c >= 0 and np.isfinite(c)):
        raise ValueError(f"c must be a finite number >= 0, got {c}")
    return float(c)


def _cagrad_objective_two(x: Tensor, beta: Tensor, a: Tensor, b: Tensor, cc: Tensor,
                          s: Tensor) -> Tensor:
    return beta * x + s * (a * x * x + b * x + cc).clamp_min(0.0).sqrt()


def cagrad_inner_weights(gram: Tensor, c: float, *, method: str = "auto") -> Tensor:
    """The w of CAGrad's dual problem: argmin_{w∈Δ} g_wᵀ g_0 + √φ ‖g_w‖ (Liu et al. 2021, eq. 5),
    g_w = Σ w_k g_k, g_0 the mean gradient, √φ = c ‖g_0‖. gram (..., K, K) → w (..., K).

    ``method="closed_form"`` (K = 2, the default there, batched on the device): with w = (x, 1 − x)
    the objective is F(x) = βx + s √(A x² + B x + C) + const, β = (G u)_1 − (G u)_2 (u uniform),
    A = ‖g_1 − g_2‖², B = 2(G_12 − G_22), C = G_22. F is convex; setting F′ = 0 with
    y = 2Ax + B gives y² = r² (4AC − B²) / (A − r²), r = −β / s, sign(y) = sign(r), valid when
    A > r². The minimum is the best of this stationary point (clipped to [0, 1]) and the ends.
    ``method="slsqp"`` (any K, the default for K > 2): SciPy's SLSQP on the simplex in float64 on the
    CPU, one problem at a time."""
    if method not in ("auto", "closed_form", "slsqp"):
        raise ValueError(f"method must be 'auto', 'closed_form' or 'slsqp', got {method!r}")
    return _cagrad_inner(check_gram(gram), _check_c(c), method)


def _cagrad_inner(g: Tensor, c: float, method: str) -> Tensor:
    k = g.shape[-1]
    if method == "auto":
        method = "closed_form" if k == 2 else "slsqp"
    if k == 1:
        return torch.ones(g.shape[:-1], dtype=g.dtype, device=g.device)
    gu = g.mean(-1)                                                       # G u: ⟨g_k, g_0⟩
    s = c * gu.mean(-1).clamp_min(0.0).sqrt()                             # c ‖g_0‖
    if method == "closed_form":
        if k != 2:
            raise ValueError(f"the closed form solves two tasks; gram describes K={k} tasks")
        g11, g22, g12 = g[..., 0, 0], g[..., 1, 1], g[..., 0, 1]
        beta, a, b, cc = gu[..., 0] - gu[..., 1], g11 + g22 - 2 * g12, 2 * (g12 - g22), g22
        safe_s = torch.where(s > 0, s, torch.ones_like(s))
        r = -beta / safe_s
        disc = (4 * a * cc - b * b).clamp_min(0.0)
        ok = (s > 0) & (a > r * r)
        y = torch.sign(r) * (r * r * disc / torch.where(ok, a - r * r, torch.ones_like(a))).sqrt()
        x_stat = torch.where(ok & (a > 0), (y - b) / torch.where(a > 0, 2 * a, torch.ones_like(a)),
                             torch.full_like(a, 0.5)).clamp(0.0, 1.0)
        cand = torch.stack([torch.zeros_like(a), torch.ones_like(a), x_stat], -1)
        vals = _cagrad_objective_two(cand, beta[..., None], a[..., None], b[..., None],
                                     cc[..., None], s[..., None])
        x = cand.gather(-1, vals.argmin(-1, keepdim=True)).squeeze(-1)
        x = torch.where(a > 0, x, torch.full_like(x, 0.5))               # g_1 = g_2: any w
        return torch.stack([x, 1 - x], -1)
    from scipy.optimize import minimize

    out = []
    for gm in g.detach().reshape(-1, k, k).cpu().numpy():
        scale = float(np.abs(np.diag(gm)).max())
        if scale == 0.0:                                       # every gradient is zero: any w
            out.append(np.full(k, 1.0 / k))
            continue
        gm = gm / scale                                        # w does not depend on the scale
        bv, sv = gm.mean(-1), c * np.sqrt(max(float(gm.mean()), 0.0))

        def fun(w, gm=gm, bv=bv, sv=sv):
            q = max(float(w @ gm @ w), 1e-30)
            return float(w @ bv) + sv * np.sqrt(q), bv + sv * (gm @ w) / np.sqrt(q)
        res = minimize(fun, np.full(k, 1.0 / k), jac=True, method="SLSQP", bounds=[(0, 1)] * k,
                       constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0,
                                     "jac": lambda w: np.ones_like(w)},),
                       options={"ftol": 1e-14, "maxiter": 500})
        if not res.success:
            warnings.warn(f"CAGrad's SLSQP solve did not converge ({res.message}); using its last "
                          f"iterate", RuntimeWarning, stacklevel=4)
        w = np.clip(res.x, 0.0, None)
        out.append(w / w.sum())
    return torch.from_numpy(np.stack(out).reshape(*g.shape[:-1])).to(g.device)


def cagrad_weights(gram: Tensor, c: float = 0.5, *, rescale: bool = True,
                   method: str = "auto") -> Tensor:
    """CAGrad's update as weights on the raw gradients (Liu et al. 2021, Algorithm 1):

        d = g_0 + (√φ / ‖g_w‖) g_w = Σ_k (1/K + λ w_k) g_k,   λ = c ‖g_0‖ / ‖g_w‖,

    divided by 1 + c when ``rescale`` (as in the paper's toy, so that the step size does not grow
    with c). d maximizes min_k ⟨g_k, d⟩ over the ball ‖d − g_0‖ <= c ‖g_0‖: c = 0 gives the mean
    gradient, large c approaches MGDA's direction. Where the origin is in the hull of the
    gradients (the min-norm point has ‖g_α‖ <= 1e-8 max_k ‖g_k‖): d = 0 for c >= 1 (the ball holds
    0, and no direction decreases every loss), d = g_0 for c < 1 when g_w = 0. gram (..., K, K) → weights (..., K) summing to (1 + λ) (/(1 + c)). See
    :func:`cagrad_inner_weights` for the solvers."""
    if method not in ("auto", "closed_form", "slsqp"):
        raise ValueError(f"method must be 'auto', 'closed_form' or 'slsqp', got {method!r}")
    return _cagrad_weights(check_gram(gram), _check_c(c), rescale, method)


def _cagrad_weights(g: Tensor, c: float, rescale: bool, method: str) -> Tensor:
    """:func:`cagrad_weights` on a checked float64 Gram matrix (no host synchronization for K = 2)."""
    k = g.shape[-1]
    w = _cagrad_inner(g, c, method)
    gw2 = squared_norm(g, w).clamp_min(0.0)
    g02 = g.mean((-1, -2)).clamp_min(0.0)
    lam = torch.where(gw2 > 0, c * g02.sqrt() / torch.where(gw2 > 0, gw2, 1.0).sqrt(), 0.0)
    weights = 1.0 / k + lam.unsqueeze(-1) * w
    if c >= 1.0 and k > 1:
        # The ball holds d = 0. Where the origin is in the hull (Pareto-stationary), no d has
        # min_k ⟨g_k, d⟩ > 0, so d = 0 is optimal; the dual's g_w is ~0 there, and g_0 + λ g_w
        # would be g_0 plus rounding noise scaled up, which conflicts.
        alpha = two_task_min_norm(g) if k == 2 else min_norm_weights_from_gram(g)
        largest = g.diagonal(dim1=-2, dim2=-1).amax(-1)                # max_k ‖g_k‖²
        stationary = squared_norm(g, alpha) <= STATIONARY_RTOL ** 2 * largest
        weights = torch.where(stationary.unsqueeze(-1), torch.zeros_like(weights), weights)
    return weights / (1.0 + c) if rescale else weights


def cagrad_direction(grads: Tensor, c: float = 0.5, *, rescale: bool = True,
                     method: str = "auto") -> Tensor:
    """CAGrad's update direction for grads (..., K, n) → (..., n); see :func:`cagrad_weights`."""
    grads = _check_finite(grads)
    return _combine(cagrad_weights(gram_matrix(grads), c, rescale=rescale, method=method), grads)
