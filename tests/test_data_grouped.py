"""Regression tasks in planted groups."""

import pytest
import torch

from mtlbook.data import grouped_teacher_tasks


def test_planted_block_structure_of_the_labels():
    s = grouped_teacher_tasks(n_train=4000, n_test=100, num_groups=3, group_size=2, relatedness=0.9,
                              noise=0.0, seed=0)
    assert s.task_names == ("g0t0", "g0t1", "g1t0", "g1t1", "g2t0", "g2t1")
    assert s.train.meta["groups"] == ((0, 1), (2, 3), (4, 5))
    corr = s.train.meta["label_correlation"]
    same = s.train.meta["group"][:, None] == s.train.meta["group"][None, :]
    off = ~torch.eye(6, dtype=torch.bool)
    assert (corr[same & off] > 0.5).all() and (corr[~same].abs() < 0.05).all()
    empirical = torch.corrcoef(torch.stack(s.train.targets))
    torch.testing.assert_close(empirical, corr.float(), atol=0.06, rtol=0)
    y = torch.stack(s.train.targets)                          # unit-variance noise-free signal
    torch.testing.assert_close(y.std(1), torch.ones(6), atol=0.06, rtol=0)


def test_relatedness_one_with_shared_readout_makes_identical_tasks_in_a_group():
    s = grouped_teacher_tasks(n_train=50, n_test=50, relatedness=1.0, noise=0.3, seed=1)
    torch.testing.assert_close(s.test.targets[0], s.test.targets[1])   # clean test targets
    assert not torch.equal(s.train.targets[0], s.train.targets[1])     # each task its own noise


def test_without_shared_readout_groups_share_features_only():
    s = grouped_teacher_tasks(n_train=10, n_test=10, relatedness=1.0, shared_readout=False, seed=0)
    cos = s.train.meta["feature_cosine"]
    assert cos[0, 1] == pytest.approx(1.0) and abs(float(cos[0, 2])) < 1e-9


def test_same_seed_same_data_and_input_checks():
    a, b = grouped_teacher_tasks(n_train=20, n_test=5, seed=3), grouped_teacher_tasks(n_train=20, n_test=5, seed=3)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.train.targets[2], b.train.targets[2])
    with pytest.raises(ValueError, match="relatedness"):
        grouped_teacher_tasks(relatedness=1.5)
    with pytest.raises(ValueError, match="num_groups"):
        grouped_teacher_tasks(num_groups=0)
    with pytest.raises(ValueError, match="dim must be"):
        grouped_teacher_tasks(dim=10)
    with pytest.raises(ValueError, match="noise"):
        grouped_teacher_tasks(noise=-1.0)
