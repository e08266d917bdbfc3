"""Selective task group updates: the credit rule, pass counts, and recovery of planted groups."""

from collections import Counter

import pytest
import torch

from mtlbook.data import related_regression
from mtlbook.grouping import SelectiveGroupUpdates
from mtlbook.models import hard_sharing
from mtlbook.train import fit


def test_credit_rule_by_hand():
    s = SelectiveGroupUpdates(3, decay=0.5)
    before = torch.tensor([1.0, 1.0, 1.0])
    after = torch.tensor([0.8, 1.2, 0.9])          # A_G→j = 1 − after/before = [0.2, −0.2, 0.1]
    s.credit((0, 1), before, after)                 # a_j = A / |G| = [0.1, −0.1, 0.05]
    expected = torch.zeros(3, 3)
    # source 0: self 0.1 (>= 0, kept); onto 1 (in G, conflict): −max(0.1, −0.1) = −0.1; onto 2: 0.05
    expected[0] = 0.5 * torch.tensor([0.1, -0.1, 0.05])
    # source 1: onto 0 (in G, conflict): −max(−0.1, 0.1) = −0.1; self −0.1 < 0 (not recorded); onto 2
    expected[1] = 0.5 * torch.tensor([-0.1, 0.0, 0.05])
    torch.testing.assert_close(s.affinity, expected)
    s.credit((2,), before, torch.tensor([0.5, 0.9, 0.7]))      # singleton: a_j = [0.5, 0.1, 0.3]
    expected[2] = 0.5 * torch.tensor([0.5, 0.1, 0.3])
    torch.testing.assert_close(s.affinity, expected)


def _data():
    return related_regression(n_train=1024, n_test=256, num_groups=2, group_size=2, correlation=0.95,
                              dim=20, num_sines=2, seed=0)


def test_fit_counts_passes_and_lowers_the_loss():
    split = _data()
    torch.manual_seed(0)
    model = hard_sharing(split.tasks, 20, width=16)
    strategy = SelectiveGroupUpdates(4, decay=0.05, warmup=10, seed=1)
    h = fit(model, split.train, steps=30, batch_size=64, lr=3e-3, strategy=strategy, progress=False)
    assert h.losses.shape == (30, 4) and torch.equal(h.weights, torch.ones(30, 4))
    assert all(sorted(g) == [(0,), (1,), (2,), (3,)] for g in strategy.group_history[:10])
    m = [len(g) for g in strategy.group_history]
    assert strategy.optimizer_steps == strategy.backward_passes == sum(m)
    assert strategy.forward_passes == sum(m) + 30                 # one measuring pass per batch
    assert h.losses[-5:].mean() < h.losses[:5].mean()
    for groups in strategy.group_history:                         # every task stepped once per batch
        assert sorted(k for g in groups for k in g) == [0, 1, 2, 3]


def test_recovers_planted_groups():
    split = _data()
    torch.manual_seed(0)
    model = hard_sharing(split.tasks, 20, width=16)
    strategy = SelectiveGroupUpdates(4, decay=0.05, warmup=40, seed=0)
    fit(model, split.train, steps=120, batch_size=64, lr=3e-3, strategy=strategy, progress=False)
    late = Counter(tuple(sorted(g)) for g in strategy.group_history[80:])
    assert late.most_common(1)[0][0] == ((0, 1), (2, 3))
    a = strategy.affinity
    assert a[0, 1] > 0 and a[1, 0] > 0 and a[2, 3] > 0 and a[3, 2] > 0
    assert a[0, 2] < a[0, 1] and a[2, 0] < a[2, 3]


def test_input_checks():
    with pytest.raises(ValueError, match="num_tasks"):
        SelectiveGroupUpdates(0)
    with pytest.raises(ValueError, match="decay"):
        SelectiveGroupUpdates(3, decay=0.0)
    with pytest.raises(ValueError, match="warmup"):
        SelectiveGroupUpdates(3, warmup=-1)
    split = _data()
    model = hard_sharing(split.tasks, 20, width=8)
    with pytest.raises(ValueError, match="num_tasks=3"):
        fit(model, split.train, steps=1, batch_size=8, strategy=SelectiveGroupUpdates(3), progress=False)
