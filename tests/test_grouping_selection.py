"""Network selection: exhaustive search against a plain brute force, order invariance, degenerate inputs."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.grouping import greedy_selection, group_scores, select_networks


def brute_force(a, budget, singleton=-np.inf):
    """Every combination of at most ``budget`` distinct non-empty groups, scored directly."""
    k = a.shape[0]
    groups = [c for r in range(1, k + 1) for c in itertools.combinations(range(k), r)]

    def s(group, j):
        if len(group) == 1:
            return singleton
        return sum(a[i, j] for i in group if i != j) / (len(group) - 1)

    best = -np.inf
    for b in range(1, budget + 1):
        for combo in itertools.combinations(groups, b):
            per_task = [max((s(g, j) for g in combo if j in g), default=-np.inf) for j in range(k)]
            best = max(best, float(np.mean(per_task)))
    return best


@settings(max_examples=25, deadline=None)
@given(k=st.integers(2, 4), budget=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_exhaustive_matches_brute_force(k, budget, seed):
    a = np.random.default_rng(seed).standard_normal((k, k))
    sel = select_networks(a, budget)
    assert sel.exhaustive and len(sel.groups) <= budget
    assert sel.score == pytest.approx(brute_force(a, budget), abs=1e-12)
    # every task is covered and served by a group that contains it, with that group's score
    s = group_scores(a, sel.groups)
    for j in range(k):
        assert j in sel.groups[sel.served_by[j]]
        assert float(sel.task_scores[j]) == pytest.approx(s[sel.served_by[j], j])


@settings(max_examples=15, deadline=None)
@given(k=st.integers(2, 5), budget=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_invariant_to_task_order(k, budget, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, k))
    perm = rng.permutation(k)
    sel = select_networks(a, budget)
    sel_p = select_networks(a[np.ix_(perm, perm)], budget)          # new task q is old task perm[q]
    assert sel_p.score == pytest.approx(sel.score, abs=1e-12)
    mapped = {tuple(sorted(int(perm[q]) for q in g)) for g in sel_p.groups}
    assert mapped == {tuple(g) for g in sel.groups}
    torch.testing.assert_close(sel_p.task_scores, sel.task_scores[perm])


def test_planted_pairs_are_selected():
    a = np.full((6, 6), -1.0)
    for g in range(3):
        a[2 * g:2 * g + 2, 2 * g:2 * g + 2] = 1.0
    sel = select_networks(a, 3)
    assert sorted(sel.groups) == [(0, 1), (2, 3), (4, 5)] and sel.score == 1.0
    sel2 = select_networks(a, 2)                                       # two networks cannot serve all
    assert len(sel2.groups) == 2 and sel2.score < 1.0


def test_fewer_networks_win_ties():
    a = np.ones((3, 3))                                                # every group scores 1
    sel = select_networks(a, 3)
    assert sel.groups == ((0, 1, 2),)


def test_singleton_score_lets_one_task_alone():
    a = np.array([[1.0, -5.0], [-5.0, 1.0]])
    assert select_networks(a, 2).groups == ((0, 1),)                  # default: singletons never serve
    assert sorted(select_networks(a, 2, singleton_score=0.0).groups) == [(0,), (1,)]


def test_greedy_is_exact_on_planted_blocks_and_never_beats_exhaustive():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.standard_normal((5, 5))
        assert greedy_selection(a, 3).score <= select_networks(a, 3).score + 1e-12
    a = np.full((10, 10), -1.0)
    blocks = [(0, 1, 2), (3, 4, 5, 6), (7, 8, 9)]
    for b in blocks:
        a[np.ix_(b, b)] = 1.0
    sel = select_networks(a, 4)                                        # K = 10: greedy path
    assert not sel.exhaustive and sel.score == 1.0
    assert set(blocks) <= set(sel.groups)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((1, 1)), "at least 2 tasks"),
    (np.zeros((2, 3)), "square"),
    (np.array([[0.0, np.nan], [1.0, 0.0]]), "finite"),
    (np.array([[0.0, np.inf], [1.0, 0.0]]), "finite"),
])
def test_degenerate_affinities_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        select_networks(bad, 2)


def test_bad_budget_and_type():
    with pytest.raises(ValueError, match="budget"):
        select_networks(np.zeros((3, 3)), 0)
    with pytest.raises(TypeError, match="affinity"):
        select_networks([[0.0, 1.0], [1.0, 0.0]], 1)


def test_all_zero_affinity_gives_one_network():
    sel = select_networks(torch.zeros(4, 4), 3)
    assert sel.groups == ((0, 1, 2, 3),) and sel.score == 0.0


def test_eight_tasks_budget_three_runs():
    a = np.random.default_rng(1).standard_normal((8, 8))
    sel = select_networks(a, 3)
    assert sel.exhaustive and len(sel.groups) <= 3
    assert greedy_selection(a, 3).score <= sel.score + 1e-12
