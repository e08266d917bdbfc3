"""The exact min-norm solver: Wolfe's active-set algorithm on the Gram matrix.

Wolfe (1976), "Finding the nearest point in a polytope", written for the convex hull of the task
gradients and expressed through G only. It keeps a set S of gradients (the *corral*) and the point
x = Σ_{k∈S} α_k g_k:

- major cycle: if some gradient g_j has ⟨g_j, x⟩ < ‖x‖² (the duality gap is open), add j to S;
- minor cycle: move x to the point of smallest norm in the affine hull of S,
  β = argmin ‖Σ_S β_k g_k‖² s.t. Σβ = 1 (a linear KKT system); if some β_k <= 0, step from α towards
  β only as far as the simplex allows, drop the coefficient that hits zero, and repeat.

Every accepted point has a smaller norm, so no corral repeats and the method terminates after
finitely many steps with the exact solution: on the support, ⟨g_k, x⟩ = ‖x‖² holds to rounding.
The K×K problem is tiny and sequential, so it runs on the CPU in float64 (NumPy).
"""

from __future__ import annotations

import numpy as np

EPS = np.finfo(np.float64).eps


def _affine_minimizer(g: np.ndarray) -> np.ndarray:
    """β minimizing βᵀ g β subject to Σβ = 1 (the corral's points are non-zero).

    The KKT system [[G, 1], [1ᵀ, 0]] [β; −μ] = [0; 1] is solved after a diagonal equilibration
    (unit vectors ĝ_k = g_k/‖g_k‖, so that gradients of sizes 1e-8 and 1e8 stay accurate), with one
    step of iterative refinement.
    """
    m = len(g)
    s = np.sqrt(np.diag(g))
    c = (1.0 / s) / np.max(1.0 / s)                 # the constraint Σ β_k = 1 in unit-vector terms
    kkt = np.zeros((m + 1, m + 1))
    kkt[:m, :m] = g / np.outer(s, s)
    kkt[:m, m] = kkt[m, :m] = c
    rhs = np.zeros(m + 1)
    rhs[m] = np.min(s)
    try:
        sol = np.linalg.solve(kkt, rhs)
        sol = sol + np.linalg.solve(kkt, rhs - kkt @ sol)
        if not np.all(np.isfinite(sol)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:                   # affinely dependent corral (rounding)
        sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    return sol[:m] / s


def most_violated(g: np.ndarray, alpha: np.ndarray, rtol: float, atol: float = 0.0) -> int | None:
    """The gradient j with the largest violation of ⟨g_j, x⟩ >= (1 − rtol)‖x‖² − atol, or None if
    none is violated beyond rounding: row k of Gα is only known to about K·eps·((|G|α)_k + ‖x‖²)."""
    ga = g @ alpha
    norm2 = float(alpha @ ga)
    floor = 8.0 * len(g) * EPS * (np.abs(g) @ alpha + norm2)
    violation = (1.0 - rtol) * norm2 - atol - ga - floor
    j = int(np.argmax(violation))
    return j if violation[j] > 0.0 else None


def wolfe_min_norm(gram: np.ndarray, rtol: float = 1e-12, max_iter: int | None = None,
                   atol: float = 0.0) -> tuple[np.ndarray, int, bool]:
    """Min-norm weights of one K×K Gram matrix (float64, checked by the caller).

    Stops when every ⟨g_k, x⟩ >= (1 − rtol)‖x‖² − atol·max_k ‖g_k‖² up to rounding, i.e. when the
    duality gap is at most ``rtol``·‖x‖² + ``atol``·max_k ‖g_k‖².
    Returns (weights, iterations, converged); an iteration is one solve of the corral's KKT system.
    """
    k = len(gram)
    scale = float(np.max(np.diag(gram)))
    if k == 1 or scale <= 0.0:                  # one task, or every gradient is zero
        return np.full(k, 1.0 / k), 0, True
    g = gram / scale                            # weights do not depend on a common scale
    max_iter = 20 * k + 100 if max_iter is None else max_iter
    first = int(np.argmin(np.diag(g)))
    alpha = np.zeros(k)
    alpha[first] = 1.0
    if g[first, first] <= 0.0:                  # a zero gradient: the origin is in the hull
        return alpha, 0, True
    corral = [first]
    iterations = 0
    while iterations < max_iter:
        j = most_violated(g, alpha, rtol, atol)
        if j is None or j in corral:            # optimal (or the rounding limit is reached)
            return alpha, iterations, True
        corral.append(j)
        while iterations < max_iter:            # minor cycles
            iterations += 1
            idx = np.array(corral)
            beta = _affine_minimizer(g[np.ix_(idx, idx)])
            if np.all(beta >= 0.0):             # the affine minimizer lies in the corral's hull
                keep = beta > 0.0
                alpha[:] = 0.0
                alpha[idx[keep]] = beta[keep] / beta[keep].sum()
                corral = [c for c, kp in zip(corral, keep) if kp]
                break
            a = alpha[idx]
            out = np.flatnonzero(beta < 0.0)
            ratios = a[out] / (a[out] - beta[out])
            hit = out[np.argmin(ratios)]
            theta = float(np.min(ratios))
            if theta == 0.0 and corral[hit] == j:
                return alpha, iterations, True  # the new gradient cannot enter: rounding limit
            a = a + theta * (beta - a)
            a[hit] = 0.0
            keep = a > 0.0
            alpha[:] = 0.0
            alpha[idx[keep]] = a[keep] / a[keep].sum()
            corral = [c for c, kp in zip(corral, keep) if kp]
    return alpha, iterations, False
