"""Frank-Wolfe for the min-norm point (Sener & Koltun, NeurIPS 2018, Algorithm 2), with a
duality-gap stopping rule.

From α (start: uniform), with x = Σ α_k g_k:
  t = argmin_k ⟨g_k, x⟩ = argmin_k (Gα)_k                     (the vertex that most reduces ‖x‖)
  γ = argmin_{γ∈[0,1]} ‖(1 − γ) x + γ g_t‖²                   (the two-point closed form)
  α ← (1 − γ) α + γ e_t.
The paper stops when γ is small, which can happen long before convergence; here the loop stops when
the duality gap αᵀGα − min(Gα) (the Frank-Wolfe gap) falls below ``rtol``·‖x‖² + ``atol``·max_k ‖g_k‖²
(the absolute part matters when the origin is in the hull and ‖x‖ → 0). The method is
taught because each step is one line of algebra; it converges only sublinearly (gap ~ 1/t), so the
book's default solver is the active-set method of :mod:`mtlbook.aggregation.active_set`.
"""

from __future__ import annotations

import numpy as np

from mtlbook.aggregation.active_set import most_violated


def frank_wolfe_min_norm(gram: np.ndarray, rtol: float = 1e-4, max_iter: int = 1000,
                         atol: float = 1e-10) -> tuple[np.ndarray, int, bool]:
    """Min-norm weights of one K×K Gram matrix (float64, checked by the caller) by Frank-Wolfe.

    Returns (weights, iterations, converged): converged means the duality gap reached
    ``rtol``·‖x‖² + ``atol``·max_k ‖g_k‖² (or its rounding floor) within ``max_iter`` steps.
    """
    k = len(gram)
    scale = float(np.max(np.diag(gram)))
    if k == 1 or scale <= 0.0:
        return np.full(k, 1.0 / k), 0, True
    g = gram / scale
    alpha = np.full(k, 1.0 / k)
    for it in range(max_iter + 1):
        if most_violated(g, alpha, rtol, atol) is None:
            return alpha, it, True
        if it == max_iter:
            break
        ga = g @ alpha
        norm2 = float(alpha @ ga)
        t = int(np.argmin(ga))                                    # the Frank-Wolfe vertex
        dist2 = norm2 - 2.0 * float(ga[t]) + float(g[t, t])       # ‖x − g_t‖² > 0 when gap > 0
        gamma = min(1.0, (norm2 - float(ga[t])) / dist2)
        alpha *= 1.0 - gamma
        alpha[t] += gamma
    return alpha, max_iter, False
