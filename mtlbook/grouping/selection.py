"""Network selection from an inter-task affinity matrix (TAG: Fifty et al., NeurIPS 2021, §3.2).

Given Ẑ (``Z[source i, target j]``) and a budget of at most B networks, choose task groups S_1..S_b
(b ≤ B; groups may overlap) that cover every task. Each task is trained in every chosen group that
contains it but is *served* (evaluated) by the group that scores highest for it, where a group's
score for a member j is the mean affinity onto j from the other members:

    s_S(j) = 1/(|S|−1) · Σ_{i∈S∖{j}} Ẑ_{i→j},        objective = (1/K) Σ_j max_{S∋j, S chosen} s_S(j).

A singleton has no other member; its score is ``singleton_score`` (default −∞, as TAG's notebook,
which uses −10⁶: a one-task network serves its task only if nothing else can). The problem is
NP-hard (Standley et al., ICML 2020). :func:`select_networks` searches exhaustively for K ≤ 8 tasks
and B ≤ 3 (all 2^K − 1 groups, vectorised over combinations), and otherwise runs a greedy forward
selection followed by single-swap local search (see :func:`greedy_selection`). Among equally good
selections the one with fewer networks wins; remaining exact ties go to the first in enumeration
order (groups by size, then lexicographically), so only tie-free results are independent of task order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

EXHAUSTIVE_MAX_TASKS = 8
EXHAUSTIVE_MAX_BUDGET = 3


@dataclass(frozen=True)
class NetworkSelection:
    """The chosen ``groups`` (tuples of task indices), for each task the index of the group that
    serves it (``served_by``), the per-task scores, their mean (``score``) and whether the search
    was exhaustive."""

    groups: tuple[tuple[int, ...], ...]
    served_by: tuple[int, ...]
    task_scores: Tensor
    score: float
    exhaustive: bool


def _check_affinity(affinity) -> np.ndarray:
    if not isinstance(affinity, (Tensor, np.ndarray)):
        raise TypeError(f"affinity must be a (K, K) tensor or array, got {type(affinity).__name__}")
    a = affinity.detach().cpu().double().numpy() if isinstance(affinity, Tensor) \
        else np.asarray(affinity, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"affinity must be a square (K, K) matrix, got shape {a.shape}")
    if a.shape[0] < 2:
        raise ValueError(f"network selection needs at least 2 tasks, got K={a.shape[0]}")
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(f"affinity must be finite, got {a[tuple(bad)]} at [{bad[0]}, {bad[1]}]")
    return a


def group_scores(affinity, groups, singleton_score: float = float("-inf")) -> np.ndarray:
    """(len(groups), K) array: s_S(j) for j ∈ S, −∞ for tasks outside S."""
    a = np.asarray(affinity, dtype=np.float64)
    k = a.shape[0]
    off = a - np.diag(np.diag(a))
    out = np.full((len(groups), k), -np.inf)
    for g, members in enumerate(groups):
        m = list(members)
        if len(m) == 1:
            out[g, m[0]] = singleton_score
        else:
            out[g, m] = off[np.ix_(m, m)].sum(0) / (len(m) - 1)
    return out


def _all_groups(k: int, max_size: int | None = None) -> list[tuple[int, ...]]:
    top = k if max_size is None else min(k, max_size)
    return [c for r in range(1, top + 1) for c in itertools.combinations(range(k), r)]


def _result(groups, scores_rows, exhaustive) -> NetworkSelection:
    best = scores_rows.max(0)
    served = tuple(int(i) for i in scores_rows.argmax(0))
    return NetworkSelection(tuple(groups), served, torch.from_numpy(best.copy()),
                            float(best.mean()), exhaustive)


def exhaustive_selection(affinity, budget: int, *,
                         singleton_score: float = float("-inf")) -> NetworkSelection:
    """The best selection of at most ``budget`` groups over all 2^K − 1 candidate groups.

    For each b = 1..budget the objective of every b-combination is evaluated at once (b ≤ 3: an
    elementwise max over a (combinations, K) array). Cost O(C(2^K, b)·K); K ≤ 8, b ≤ 3 is ~2.7M
    combinations.
    """
    a = _check_affinity(affinity)
    _check_budget(budget)
    k = a.shape[0]
    if budget > EXHAUSTIVE_MAX_BUDGET or k > EXHAUSTIVE_MAX_TASKS:
        raise ValueError(f"exhaustive search supports K <= {EXHAUSTIVE_MAX_TASKS} and budget <= "
                         f"{EXHAUSTIVE_MAX_BUDGET}, got K={k}, budget={budget}")
    groups = _all_groups(k)
    s = group_scores(a, groups, singleton_score)                  # (G, K)
    n = len(groups)
    best_score, best_combo = -np.inf, None
    with np.errstate(invalid="ignore"):
        for b in range(1, budget + 1):
            if b == 1:
                obj = s.mean(1)
                combos = [(g,) for g in range(n)]
                idx = int(np.argmax(obj))
                cand, cand_combo = obj[idx], combos[idx]
            else:
                iu, ju = np.triu_indices(n, k=1)
                pair = np.maximum(s[iu], s[ju])                    # (P, K)
                if b == 2:
                    obj = pair.mean(1)
                    idx = int(np.argmax(obj))
                    cand, cand_combo = obj[idx], (int(iu[idx]), int(ju[idx]))
                else:
                    cand, cand_combo = -np.inf, None
                    for c in range(2, n):                          # third group c > both of the pair
                        mask = ju < c
                        if not mask.any():
                            continue
                        obj = np.maximum(pair[mask], s[c]).mean(1)
                        idx = int(np.argmax(obj))
                        if obj[idx] > cand:
                            sel = np.flatnonzero(mask)[idx]
                            cand, cand_combo = obj[idx], (int(iu[sel]), int(ju[sel]), c)
            if cand > best_score:                                  # strictly better: fewer networks win ties
                best_score, best_combo = cand, cand_combo
    if best_combo is None:                                         # only when every choice is -inf
        best_combo = (n - 1,)                                      # the group of all tasks
    chosen = [groups[g] for g in best_combo]
    return _result(chosen, s[list(best_combo)], exhaustive=True)


def greedy_selection(affinity, budget: int, *, singleton_score: float = float("-inf"),
                     max_group_size: int | None = None) -> NetworkSelection:
    """A heuristic for large K or B (no optimality guarantee).

    Candidates: every group of at most ``max_group_size`` tasks (default: all groups when K ≤ 12,
    else groups of ≤ 3 tasks) plus the group of all tasks. Start from the group of all tasks (the
    only single network that covers every task), add the candidate that raises the objective most
    while the budget allows and some candidate improves it, then repeatedly swap one chosen group
    for one candidate while that strictly improves the objective (the swap keeps every task
    covered, since an uncovered task scores −∞).
    """
    a = _check_affinity(affinity)
    _check_budget(budget)
    k = a.shape[0]
    if max_group_size is None:
        max_group_size = k if k <= 12 else 3
    if not isinstance(max_group_size, int) or max_group_size < 1:
        raise ValueError(f"max_group_size must be a positive int, got {max_group_size!r}")
    groups = _all_groups(k, max_group_size)
    if len(groups[-1]) != k:
        groups.append(tuple(range(k)))
    s = group_scores(a, groups, singleton_score)
    full = len(groups) - 1

    def objective(rows: list[int]) -> float:
        with np.errstate(invalid="ignore"):
            return float(s[rows].max(0).mean())

    chosen = [full]
    current = objective(chosen)
    while len(chosen) < budget:
        with np.errstate(invalid="ignore"):
            gains = np.maximum(s[chosen].max(0), s).mean(1)
        gains[chosen] = -np.inf
        g = int(np.argmax(gains))
        if not gains[g] > current:
            break
        chosen.append(g)
        current = float(gains[g])
    improved = True
    while improved:
        improved = False
        for pos in range(len(chosen)):
            rest = chosen[:pos] + chosen[pos + 1:]
            with np.errstate(invalid="ignore"):
                base = s[rest].max(0) if rest else np.full(k, -np.inf)
                obj = np.maximum(base, s).mean(1)
            obj[chosen] = -np.inf
            g = int(np.argmax(obj))
            if obj[g] > current:
                chosen[pos], current, improved = g, float(obj[g]), True
    return _result([groups[g] for g in chosen], s[chosen], exhaustive=False)


def _check_budget(budget) -> None:
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise ValueError(f"budget must be a positive int (number of networks), got {budget!r}")


def select_networks(affinity, budget: int, *, singleton_score: float = float("-inf")) -> NetworkSelection:
    """Choose at most ``budget`` task groups from ``affinity`` (see the module docstring).

    Exhaustive when K ≤ 8 and budget ≤ 3, :func:`greedy_selection` otherwise. Raises ValueError for
    fewer than 2 tasks, a non-square or non-finite affinity, or a budget < 1.
    """
    a = _check_affinity(affinity)
    _check_budget(budget)
    if a.shape[0] <= EXHAUSTIVE_MAX_TASKS and budget <= EXHAUSTIVE_MAX_BUDGET:
        return exhaustive_selection(a, budget, singleton_score=singleton_score)
    return greedy_selection(a, budget, singleton_score=singleton_score)
