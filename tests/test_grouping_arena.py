"""Networks for task subsets side by side: masks, random partitions, transfer, serving, training."""

import pytest
import torch

from mtlbook.data import grouped_teacher_tasks
from mtlbook.grouping import pairwise_transfer, random_groups, served_metrics, task_masks, train_side_by_side


def test_task_masks_and_their_checks():
    m = task_masks([(0, 2), (1,)], 3)
    assert torch.equal(m, torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
    with pytest.raises(ValueError, match="task indices"):
        task_masks([(0, 3)], 3)
    with pytest.raises(ValueError, match="task indices"):
        task_masks([()], 3)


def test_random_groups_partition_the_tasks_when_the_sizes_sum_to_k():
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(50):
        p = random_groups(6, [2, 2, 2], gen)
        assert sorted(i for g in p for i in g) == list(range(6)) and [len(g) for g in p] == [2, 2, 2]
        seen.add(p)
    assert len(seen) > 5                                  # 15 partitions exist; many are drawn
    for bad in ([2, 2], [0, 6], [7], []):
        with pytest.raises(ValueError, match="sum to at least num_tasks"):
            random_groups(6, bad, gen)


def test_random_groups_may_overlap_and_cover_every_task():
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(50):
        groups = random_groups(6, [6, 2, 2], gen)
        assert sorted(len(g) for g in groups) == [2, 2, 6]
        assert {i for g in groups for i in g} == set(range(6))
        seen.add(groups)
    assert len(seen) > 5
    groups = random_groups(4, [3, 2], gen)                # 3 + 2 > 4: must overlap and cover
    assert {i for g in groups for i in g} == set(range(4))
    with pytest.raises(ValueError, match="covered all 6 tasks in 1 draws"):
        while True:                                       # some single draw misses a task
            random_groups(6, [3, 3, 1], gen, max_draws=1)


def test_pairwise_transfer_by_hand():
    single = torch.tensor([1.0, 2.0, 4.0])               # lower is better (MSE)
    pairs = torch.tensor([[0.5, 3.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 5.0]])
    t = pairwise_transfer(single, pairs[[0, 2]], [(0, 1), (1, 2)], [False] * 3)
    assert t[1, 0] == pytest.approx(0.5)                  # task 1 helps task 0: 1 -> 0.5
    assert t[0, 1] == pytest.approx(-0.5)                 # task 0 hurts task 1: 2 -> 3
    assert t[2, 1] == pytest.approx(0.5) and t[1, 2] == pytest.approx(-0.25)
    assert t[0, 2] == 0 and torch.all(t.diagonal() == 0)
    acc = pairwise_transfer(torch.tensor([0.5, 0.5]), torch.tensor([[0.6, 0.4]]), [(0, 1)], [True, True])
    assert acc[1, 0] == pytest.approx(0.2) and acc[0, 1] == pytest.approx(-0.2)


def test_served_metrics_reads_each_task_from_its_group():
    test = torch.arange(12.0).reshape(2, 6)               # 2 networks, K = 6 (no seed dimension)
    out = served_metrics(test, ((0, 1, 2), (2, 3, 4, 5)), [0, 0, 1, 1, 1, 1])
    assert out.tolist() == [0.0, 1.0, 8.0, 9.0, 10.0, 11.0]
    with pytest.raises(ValueError, match="does not contain"):
        served_metrics(test, ((0, 1, 2), (2, 3, 4, 5)), [1, 0, 1, 1, 1, 1])


def test_train_side_by_side_shapes_masks_and_learning():
    split = grouped_teacher_tasks(n_train=700, n_test=200, num_groups=2, group_size=2, dim=12, seed=0)
    masks = task_masks([(0,), (0, 1), (0, 1, 2, 3)], 4)
    res, model, _ = train_side_by_side(split, masks, seeds=2, hidden=(8, 8), steps=200, lr=3e-3,
                                       batch_size=32, val_size=200, eval_every=50)
    assert res.test.shape == (3, 2, 4) and res.best_step.shape == (3, 2)
    assert ((res.best_step >= 50) & (res.best_step <= 200)).all()
    assert (res.test[:, :, 0] < 1.0).all()                # every network learned task 0 (unit-variance labels)
    init = train_side_by_side(split, masks, seeds=2, hidden=(8, 8), steps=1, eval_every=1, val_size=200,
                              batch_size=32)[1]
    # heads of tasks a network does not train receive no gradient: they stay at their initialization
    for k in (1, 2, 3):
        torch.testing.assert_close(model.heads[k].weight[:2], init.heads[k].weight[:2])
    with pytest.raises(ValueError, match="all zero"):
        train_side_by_side(split, torch.zeros(1, 4))
    with pytest.raises(ValueError, match="0/1 tensor"):
        train_side_by_side(split, torch.ones(1, 3))
    with pytest.raises(ValueError, match="too few"):
        train_side_by_side(split, masks, val_size=690)
