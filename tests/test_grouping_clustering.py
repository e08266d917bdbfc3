"""Grouping from an affinity matrix: planted blocks, order invariance, degenerate inputs, sklearn."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.grouping import (affinity_propagation, group_tasks, groups_from_labels,
                              normalize_by_self_affinity, symmetrize)


def planted(sizes, rng, within=1.0, across=-0.3, noise=0.1, scale_rows=True):
    """Affinity A[source, target] with blocks; each target column has its own scale, which the
    normalisation by self-affinity must remove."""
    labels = np.repeat(np.arange(len(sizes)), sizes)
    same = labels[:, None] == labels[None, :]
    a = np.where(same, within, across) + noise * rng.standard_normal(same.shape)
    np.fill_diagonal(a, within + 0.5)
    if scale_rows:
        a = a * rng.uniform(0.01, 100.0, size=len(labels))[None, :]
    groups, start = [], 0
    for s in sizes:
        groups.append(tuple(range(start, start + s)))
        start += s
    return a, tuple(groups)


def _check_recovery(sizes, seed, **kw):
    rng = np.random.default_rng(seed)
    a, groups = planted(sizes, rng)
    assert group_tasks(a, **kw) == groups
    perm = rng.permutation(len(a))
    found = group_tasks(a[np.ix_(perm, perm)], **kw)               # new task q is old task perm[q]
    assert tuple(sorted(tuple(sorted(int(perm[q]) for q in g)) for g in found)) == groups


@settings(max_examples=25, deadline=None)
@given(size=st.integers(2, 3), blocks=st.integers(2, 4), seed=st.integers(0, 2**31 - 1))
def test_median_preference_recovers_equal_blocks_in_any_task_order(size, blocks, seed):
    _check_recovery([size] * blocks, seed)


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4), seed=st.integers(0, 2**31 - 1))
def test_set_preference_recovers_any_blocks_in_any_task_order(sizes, seed):
    _check_recovery(sizes, seed, preference=0.3)


def test_normalization_and_symmetrization():
    a = np.array([[2.0, 3.0], [1.0, 4.0]])
    x = normalize_by_self_affinity(a)
    np.testing.assert_allclose(x, [[1.0, 0.75], [0.5, 1.0]])
    np.testing.assert_allclose(symmetrize(x), [[1.0, 0.625], [0.625, 1.0]])
    # a target with non-positive self-affinity gets a zero column
    np.testing.assert_allclose(normalize_by_self_affinity(np.array([[0.0, 1.0], [3.0, 2.0]])),
                               [[0.0, 0.5], [0.0, 1.0]])


def test_matches_scikit_learn_on_random_similarities():
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    rng = np.random.default_rng(0)
    agree = 0
    for _ in range(15):
        k = int(rng.integers(3, 9))
        z = rng.standard_normal((k, 3))
        s = -((z[:, None] - z[None]) ** 2).sum(-1)
        pref = float(np.median(s)) - 0.01                          # away from every entry: no tie
        ours = affinity_propagation(s, preference=pref, convergence_iter=50, max_iter=500)
        ref = sklearn_cluster.AffinityPropagation(affinity="precomputed", preference=pref,
                                                  convergence_iter=50, max_iter=500,
                                                  random_state=0).fit(s)
        if ours.converged:
            agree += groups_from_labels(ours.labels) == groups_from_labels(ref.labels_)
    assert agree >= 13


def test_degenerate_inputs():
    # one task: one group
    assert group_tasks(np.array([[0.7]])) == ((0,),)
    # all-zero affinity: no information, documented as one group of all tasks
    assert group_tasks(torch.zeros(4, 4)) == ((0, 1, 2, 3),)
    for bad in (np.array([[1.0, np.nan], [0.0, 1.0]]), np.array([[np.inf, 0.0], [0.0, 1.0]])):
        with pytest.raises(ValueError, match="finite"):
            group_tasks(bad)
    with pytest.raises(ValueError, match="square"):
        group_tasks(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="affinity"):
        group_tasks([[1.0]])
    with pytest.raises(ValueError, match="damping"):
        affinity_propagation(np.eye(3), damping=1.0)


def test_non_convergence_is_reported():
    rng = np.random.default_rng(3)
    s = rng.standard_normal((6, 6))
    res = affinity_propagation(s, max_iter=2, convergence_iter=5)
    assert not res.converged and (res.labels == -1).all()
    assert group_tasks(s, max_iter=2) is None
