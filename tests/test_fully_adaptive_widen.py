import pytest
import torch

from mtlbook.models.base import count_parameters
from mtlbook.models.fully_adaptive import (SharingTree, TreeNetwork, branch_affinity,
                                           merge_branches, split_cost, task_affinity, widen)
from mtlbook.tasks import classification, regression


def _planted(groups=((0, 1), (2, 3)), n=400, seed=0):
    """Per-example losses in which the tasks of a group are hard on the same examples."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, len(groups), generator=g)
    cols = {}
    for i, grp in enumerate(groups):
        for t in grp:
            cols[t] = base[:, i] + 0.05 * torch.rand(n, generator=g)
    return torch.stack([cols[t] for t in sorted(cols)], 1)


def test_widen_recovers_planted_groups_and_stops_when_one_group_is_cheapest():
    a = task_affinity(_planted(((0, 2), (1, 3))))
    # without pooling a branch costs the same at every layer: the split goes all the way down
    assert widen(a, 3, base_cost=0.05).layers == (((0, 2), (1, 3)),) * 3
    # with poolings above the lower layers, their copies cost 2^p_l more: the tree stops widening
    tree = widen(a, 3, base_cost=0.2, strength=1.0, poolings_above=[2, 1, 0])
    assert tree.layers[2] == ((0, 2), (1, 3)) == tree.layers[1]   # the planted groups
    assert tree.layers[0] == ((0, 1, 2, 3),)
    assert tree.copies() == [1, 2, 2]
    # a cheap branch splits everything at the top, an expensive one keeps the thin network
    assert widen(a, 2, base_cost=1e-6, strength=1.0).layers[1] == ((0,), (1,), (2,), (3,))
    assert widen(a, 2, base_cost=10.0).layers == (((0, 1, 2, 3),),) * 2


def test_widening_cost_grows_with_poolings_above():
    a = task_affinity(_planted())
    # the split that pays at a layer without pooling above is too expensive under two poolings
    assert widen(a, 1, base_cost=0.1, poolings_above=[0]).copies() == [2]
    assert widen(a, 1, base_cost=0.1, poolings_above=[3]).copies() == [1]
    cost = split_cost(a, [[0, 1], [2, 3]], base_cost=0.1, poolings_above=3)
    assert cost == pytest.approx(0.8 + 1.0 - 0.5 * float(a[0, 1] + a[2, 3]))


def test_merging_joins_the_most_similar_branches_first():
    a = task_affinity(_planted(((0, 1), (2, 3), (4, 5))))
    steps = merge_branches(a, [(0,), (1,), (2,), (3,), (4,), (5,)])
    assert [len(g) for g in steps] == [6, 5, 4, 3, 2, 1]
    assert sorted(steps[3]) == [[0, 1], [2, 3], [4, 5]]                 # g_3: the planted groups
    # branches that hold several tasks are compared by their branch affinity
    merged = merge_branches(a, [(0, 1), (2,), (3,)])
    assert merged[1] == [[0], [1, 2]]
    assert branch_affinity(a, [2], [3]) > branch_affinity(a, [0, 1], [2])


def test_widen_does_not_split_one_task_off_a_group():
    # exhaustive search under the mean-over-groups cost prefers splitting a singleton off
    a = task_affinity(_planted(((0, 1), (2, 3), (4, 5))))
    assert widen(a, 1, base_cost=0.1).layers[0] == ((0, 1), (2, 3), (4, 5))


def test_tree_network_shapes_parameter_count_and_extremes():
    tasks = [classification("a", 3), regression("b"), regression("c"), regression("d")]
    tree = SharingTree(4, (((0, 1, 2, 3),), ((0, 1), (2, 3)), ((0,), (1,), (2, 3))))
    net = TreeNetwork(tasks, 7, tree, width=5)
    outs = net(torch.randn(6, 7))
    assert [tuple(o.shape) for o in outs] == [(6, 3), (6, 1), (6, 1), (6, 1)]
    want = 1 * (7 * 5 + 5) + 2 * (5 * 5 + 5) + 3 * (5 * 5 + 5) + (5 + 1) * (3 + 1 + 1 + 1)
    assert count_parameters(net) == want
    assert count_parameters(net.task_parameters(0)) == 30 + 18
    assert count_parameters(net.shared_parameters()) == 40 + 60 + 30
    outs[0].sum().backward()                      # task 0's output depends on its path only
    assert net.layers[2][2][0].weight.grad is None and net.layers[2][0][0].weight.grad is not None
    with pytest.raises(ValueError, match="partition"):
        SharingTree(3, (((0, 1),),))
    with pytest.raises(ValueError, match="inside a group"):
        SharingTree(3, (((0, 1), (2,)), ((0,), (1, 2))))
    with pytest.raises(ValueError, match="tasks must be 4"):
        TreeNetwork(tasks[:3], 7, tree)
    with pytest.raises(ValueError, match=r"shape \(batch, 7\)"):
        net(torch.randn(6, 8))


def test_widen_checks_its_inputs():
    with pytest.raises(ValueError, match="affinity must be a square"):
        widen(torch.ones(2, 3), 2)
    with pytest.raises(ValueError, match="num_layers"):
        widen(torch.eye(2), 0)
    with pytest.raises(ValueError, match="poolings_above"):
        widen(torch.eye(2), 2, poolings_above=[0])
