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
from scipy.linalg import lapack

EPS = np.finfo(np.float64).eps


def _kkt_solve(g: np.ndarray) -> np.ndarray | None:
    """β minimizing βᵀ g β subject to Σβ = 1 (the corral's points are non-zero), or None when the
    KKT system is singular to working precision.

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
    lu, piv, info = lapack.dgetrf(kkt)          # one LU factorization for both solves
    if info != 0:                               # exactly singular
        return None
    sol = lapack.dgetrs(lu, piv, rhs)[0]
    sol = sol + lapack.dgetrs(lu, piv, rhs - kkt @ sol)[0]
    if not np.all(np.isfinite(sol)):
        return None
    return sol[:m] / s


def _affine_minimizer(g: np.ndarray) -> np.ndarray:
    """:func:`_kkt_solve`, with a least-squares solution of the equilibrated KKT system when the
    corral is affinely dependent (rounding)."""
    beta = _kkt_solve(g)
    if beta is not None:
        return beta
    m = len(g)
    s = np.sqrt(np.diag(g))
    kkt = np.zeros((m + 1, m + 1))
    kkt[:m, :m] = g / np.outer(s, s)
    kkt[:m, m] = kkt[m, :m] = (1.0 / s) / np.max(1.0 / s)
    rhs = np.zeros(m + 1)
    rhs[m] = np.min(s)
    return np.linalg.lstsq(kkt, rhs, rcond=None)[0][:m] / s


def most_violated(g: np.ndarray, alpha: np.ndarray, rtol: float, atol: float = 0.0) -> int | None:
    """The gradient j with the largest violation of ⟨g_j, x⟩ >= (1 − rtol)‖x‖² − atol, or None if
    none is violated beyond rounding: row k of Gα is only known to about K·eps·(|G|α)_k, and ‖x‖² to
    about K·eps·αᵀ|G|α (which matters when x cancels to the origin)."""
    ga = g @ alpha
    norm2 = float(alpha @ ga)
    magnitude = np.abs(g) @ alpha
    floor = 8.0 * len(g) * EPS * (magnitude + float(alpha @ magnitude))
    violation = (1.0 - rtol) * norm2 - atol - ga - floor
    j = int(np.argmax(violation))
    return j if violation[j] > 0.0 else None


def _cycles(g: np.ndarray, alpha: np.ndarray, corral: list[int], rtol: float, atol: float,
            max_iter: int, minor: bool) -> tuple[np.ndarray, int, str]:
    """Wolfe's major and minor cycles from ``alpha``, a point of the corral's hull with positive
    weights on the corral; ``minor`` starts with a minor cycle (alpha is not yet the corral's
    affine minimizer). Returns (weights, iterations, how it stopped: "optimal", "rounding" or
    "max_iter")."""
    iterations = 0
    j = None
    while iterations < max_iter:
        if not minor:
            j = most_violated(g, alpha, rtol, atol)
            if j is None:
                return alpha, iterations, "optimal"
            if j in corral:                     # the rounding limit is reached
                return alpha, iterations, "rounding"
            corral.append(j)
        minor = False
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
                return alpha, iterations, "rounding"  # the new gradient cannot enter
            a = a + theta * (beta - a)
            a[hit] = 0.0
            keep = a > 0.0
            alpha[:] = 0.0
            alpha[idx[keep]] = a[keep] / a[keep].sum()
            corral = [c for c, kp in zip(corral, keep) if kp]
    return alpha, iterations, "max_iter"


def _warm(g: np.ndarray, rtol: float, atol: float, max_iter: int) -> tuple[np.ndarray, int] | None:
    """Wolfe's cycles started from the affine minimizer β of all K gradients: when the min-norm
    point is interior (β > 0) this is the answer after one solve; otherwise the cycles start from
    the positive part of β, normalized (a point of the hull of its support). Returns None unless
    the result meets the stopping rule, so that the caller can fall back to the cold start."""
    beta = _kkt_solve(g)
    if beta is None:                            # affinely dependent gradients: no unique β
        return None
    keep = beta > 0.0
    if not keep.any():
        return None
    alpha = np.zeros(len(g))
    alpha[keep] = beta[keep] / beta[keep].sum()
    alpha, iterations, stop = _cycles(g, alpha, np.flatnonzero(keep).tolist(), rtol, atol, max_iter,
                                      minor=not keep.all())
    return (alpha, iterations + 1) if stop == "optimal" else None


def wolfe_min_norm(gram: np.ndarray, rtol: float = 1e-12, max_iter: int | None = None,
                   atol: float = 0.0, warm_start: bool = True) -> tuple[np.ndarray, int, bool]:
    """Min-norm weights of one K×K Gram matrix (float64, checked by the caller).

    Stops when every ⟨g_k, x⟩ >= (1 − rtol)‖x‖² − atol·max_k ‖g_k‖² up to rounding, i.e. when the
    duality gap is at most ``rtol``·‖x‖² + ``atol``·max_k ‖g_k‖².
    Returns (weights, iterations, converged); an iteration is one solve of a corral's KKT system.

    The cold start is Wolfe's: the corral is the shortest gradient alone, and gradients enter one
    at a time (K major cycles for an interior solution, each a solve of a growing KKT system).
    ``warm_start`` first checks that vertex, then tries the affine minimizer of all K gradients
    (one solve, exact when the min-norm point is interior) and continues Wolfe's cycles from its
    positive part; the cold start runs only if that does not meet the stopping rule.
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
    spent = 0
    if warm_start and max_iter > 0:
        if most_violated(g, alpha, rtol, atol) is None:
            return alpha, 0, True               # the shortest gradient is the answer
        warm = _warm(g, rtol, atol, max_iter)
        if warm is not None:
            return warm[0], warm[1], True
        spent = 1
    alpha, iterations, stop = _cycles(g, alpha, [first], rtol, atol, max_iter, minor=False)
    return alpha, iterations + spent, stop != "max_iter"
