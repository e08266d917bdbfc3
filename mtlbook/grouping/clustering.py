"""Task groups from an affinity matrix: normalise, symmetrise, affinity propagation.

The grouping step of selective task group updates (Jeong & Yoon, ICLR 2025), run before every batch:

1. normalise each target's column by its self-affinity, X[i, j] = Â_{i→j} / Â_{j→j};
2. symmetrise, S = (X + Xᵀ) / 2;
3. cluster S with affinity propagation (Frey & Dueck, Science 2007), with the preference (every
   diagonal entry of S) set to the median of S, so that the number of groups is chosen by the data.

Affinity propagation passes two messages between points i and candidate exemplars k,

    r(i, k) ← s(i, k) − max_{k' ≠ k} [a(i, k') + s(i, k')]                        (responsibility)
    a(i, k) ← min(0, r(k, k) + Σ_{i' ∉ {i, k}} max(0, r(i', k)))   for i ≠ k     (availability)
    a(k, k) ← Σ_{i' ≠ k} max(0, r(i', k)),

each damped, m ← λ m_old + (1 − λ) m_new. A tiny fixed noise on S breaks the ties of symmetric
inputs (as scikit-learn does). The exemplars are the k with a(k, k) + r(k, k) > 0; each
other point joins the exemplar it is most similar to. The updates treat every point alike, so the
result does not depend on the order of the tasks except at exact ties.

With the median preference, the number of groups follows the share of high similarities: when more
than half of the entries of S (diagonal included) are within-group values, the median lies among
them and groups may merge; pass ``preference`` to control the number of groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor


def _as_square(matrix, name: str) -> np.ndarray:
    if not isinstance(matrix, (Tensor, np.ndarray)):
        raise TypeError(f"{name} must be a (K, K) tensor or array, got {type(matrix).__name__}")
    m = matrix.detach().cpu().double().numpy() if isinstance(matrix, Tensor) \
        else np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty square (K, K) matrix, got shape {m.shape}")
    if not np.isfinite(m).all():
        bad = np.argwhere(~np.isfinite(m))[0]
        raise ValueError(f"{name} must be finite, got {m[tuple(bad)]} at [{bad[0]}, {bad[1]}]")
    return m


def normalize_by_self_affinity(affinity, eps: float = 1e-12) -> np.ndarray:
    """X[i, j] = A[i, j] / A[j, j] (``A[source, target]``). A target whose self-affinity is ≤ ``eps``
    (its own update did not lower its loss) carries no scale; its column is set to 0."""
    a = _as_square(affinity, "affinity")
    d = np.diag(a)
    ok = d > eps
    out = np.zeros_like(a)
    out[:, ok] = a[:, ok] / d[ok]
    return out


def symmetrize(matrix) -> np.ndarray:
    """(X + Xᵀ) / 2."""
    x = _as_square(matrix, "matrix")
    return 0.5 * (x + x.T)


@dataclass(frozen=True)
class AffinityPropagationResult:
    """``labels[i]`` is the exemplar index of point i (exemplars label themselves); ``converged``
    is False when no stable set of exemplars was found within ``max_iter`` (labels are then −1)."""

    labels: np.ndarray
    exemplars: tuple[int, ...]
    converged: bool
    iterations: int


def affinity_propagation(similarity, *, preference: float | None = None, damping: float = 0.5,
                         max_iter: int = 200, convergence_iter: int = 15) -> AffinityPropagationResult:
    """Affinity propagation on a (K, K) similarity (see the module docstring).

    ``preference`` (the diagonal used, i.e. how willing a point is to be an exemplar) defaults to
    the median of all entries of ``similarity`` (as scikit-learn), lowered by 1e-9 of their range
    to break ties. Converged when the exemplar set has stayed the same
    for ``convergence_iter`` iterations. Degenerate input, where every off-diagonal similarity
    equals the preference (e.g. all zero): every point joins one cluster (exemplar 0), as the
    messages would otherwise be undecided.
    """
    s = _as_square(similarity, "similarity")
    return affinity_propagation_batch(s[None], preference=preference, damping=damping, max_iter=max_iter,
                                      convergence_iter=convergence_iter)[0]


def affinity_propagation_batch(similarities, *, preference: float | None = None, damping: float = 0.5,
                               max_iter: int = 200, convergence_iter: int = 15) -> list[AffinityPropagationResult]:
    """:func:`affinity_propagation` on E independent (K, K) similarities (an (E, K, K) array) at
    once: the messages of all E problems are updated together, and each problem stops (its
    messages frozen) when it converges, so every result equals the one of its own call."""
    if not isinstance(similarities, (Tensor, np.ndarray)):
        raise TypeError(f"similarities must be an (E, K, K) tensor or array, got {type(similarities).__name__}")
    s = similarities.detach().cpu().double().numpy() if isinstance(similarities, Tensor) \
        else np.array(similarities, dtype=np.float64)
    if s.ndim != 3 or s.shape[1] != s.shape[2] or s.shape[1] < 1 or s.shape[0] < 1:
        raise ValueError(f"similarities must be a non-empty (E, K, K) array, got shape {s.shape}")
    if not np.isfinite(s).all():
        bad = np.argwhere(~np.isfinite(s))[0]
        raise ValueError(f"similarity must be finite, got {s[tuple(bad)]} at {tuple(int(b) for b in bad)}")
    if not 0.5 <= damping < 1.0:
        raise ValueError(f"damping must be in [0.5, 1), got {damping}")
    for name, v in (("max_iter", max_iter), ("convergence_iter", convergence_iter)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    e, n = s.shape[0], s.shape[1]
    if preference is None:
        # A symmetric S holds each similarity twice, so its median is often exactly one of them: a
        # tie that scikit-learn breaks with random noise. Shift it down by a relative 1e-9 instead,
        # which breaks the tie deterministically (towards fewer exemplars) in any task order.
        flat = s.reshape(e, -1)
        pref = np.median(flat, 1) - 1e-9 * (flat.max(1) - flat.min(1))
    else:
        pref = np.full(e, float(preference))
    if not np.isfinite(pref).all():
        raise ValueError(f"preference must be finite, got {preference}")
    results: list[AffinityPropagationResult | None] = [None] * e
    if n == 1:
        return [AffinityPropagationResult(np.zeros(1, dtype=int), (0,), True, 0) for _ in range(e)]
    offdiag = ~np.eye(n, dtype=bool)
    for i in range(e):
        off = s[i][offdiag]
        if np.all(off == off[0]) and off[0] >= pref[i]:
            results[i] = AffinityPropagationResult(np.zeros(n, dtype=int), (0,), True, 0)
    todo = np.array([r is None for r in results])
    rows, diag = np.arange(n), (slice(None), np.arange(n), np.arange(n))
    s = s.copy()
    s[diag] = pref[:, None]
    # Symmetric similarities make the messages tie and oscillate; like scikit-learn, break ties with
    # noise far below any meaningful difference (fixed seed: deterministic; a knife-edge tie may
    # still resolve differently when the tasks are reordered).
    noise = np.random.default_rng(0).standard_normal((n, n))
    s = s + (np.finfo(np.float64).eps * np.abs(s) + 1e-100) * 100 * noise
    r = np.zeros((e, n, n))
    a = np.zeros((e, n, n))
    last = np.zeros((e, n), dtype=bool)
    stable = np.zeros(e, dtype=int)
    live = todo.copy()
    for it in range(1, max_iter + 1):
        if not live.any():
            break
        idx = np.flatnonzero(live)
        sl, rl, al = s[idx], r[idx], a[idx]
        t = al + sl
        first = np.argmax(t, 2)
        pick = (np.arange(len(idx))[:, None], rows[None, :], first)
        top = t[pick]
        t[pick] = -np.inf
        second = t.max(2)
        r_new = sl - top[..., None]
        r_new[pick] = sl[pick] - second
        rl = damping * rl + (1 - damping) * r_new
        rp = np.maximum(rl, 0)
        rdiag = rl[:, rows, rows]
        rp[:, rows, rows] = rdiag
        a_new = rp.sum(1, keepdims=True) - rp            # r(k,k) + Σ_{i'∉{i,k}} max(0, r(i',k))
        adiag = a_new[:, rows, rows].copy()              # Σ_{i'≠k} max(0, r(i',k))
        a_new = np.minimum(a_new, 0)
        a_new[:, rows, rows] = adiag
        al = damping * al + (1 - damping) * a_new
        r[idx], a[idx] = rl, al
        ex = al[:, rows, rows] + rdiag > 0
        same = (ex == last[idx]).all(1)
        stable[idx] = np.where(same, stable[idx] + 1, 0)
        last[idx] = ex
        for j in idx[(stable[idx] >= convergence_iter) & ex.any(1)]:
            exemplars = np.flatnonzero(last[j])
            labels = exemplars[np.argmax(s[j][:, exemplars], 1)]
            labels[exemplars] = exemplars
            results[j] = AffinityPropagationResult(labels, tuple(int(k) for k in exemplars), True, it)
            live[j] = False
    for j in np.flatnonzero(live):
        results[j] = AffinityPropagationResult(np.full(n, -1), (), False, max_iter)
    return results


def group_tasks_batch(affinities, *, eps: float = 1e-12, preference: float | None = None,
                      damping: float = 0.5, max_iter: int = 200,
                      convergence_iter: int = 50) -> list[tuple[tuple[int, ...], ...] | None]:
    """:func:`group_tasks` for E affinity matrices (E, K, K) at once (one affinity propagation run
    over all of them); None where it does not converge."""
    sims = np.stack([symmetrize(normalize_by_self_affinity(m, eps)) for m in affinities])
    res = affinity_propagation_batch(sims, preference=preference, damping=damping, max_iter=max_iter,
                                     convergence_iter=convergence_iter)
    return [groups_from_labels(r.labels) if r.converged else None for r in res]


def groups_from_labels(labels) -> tuple[tuple[int, ...], ...]:
    """Groups of equal labels, each sorted, ordered by their smallest member."""
    out: dict[int, list[int]] = {}
    for i, lab in enumerate(np.asarray(labels).tolist()):
        out.setdefault(lab, []).append(i)
    return tuple(sorted(tuple(g) for g in out.values()))


def group_tasks(affinity, *, eps: float = 1e-12, preference: float | None = None,
                damping: float = 0.5, max_iter: int = 200,
                convergence_iter: int = 50) -> tuple[tuple[int, ...], ...] | None:
    """Task groups from ``affinity`` (``A[source, target]``): normalise by self-affinity, symmetrise,
    affinity propagation (``convergence_iter=50`` as the selective-update code). Returns None when
    affinity propagation does not converge (callers keep their previous grouping)."""
    s = symmetrize(normalize_by_self_affinity(affinity, eps))
    res = affinity_propagation(s, preference=preference, damping=damping, max_iter=max_iter,
                               convergence_iter=convergence_iter)
    return groups_from_labels(res.labels) if res.converged else None
