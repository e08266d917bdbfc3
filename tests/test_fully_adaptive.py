import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.models.fully_adaptive import (_partitions, best_split, branch_affinity, split_cost,
                                           task_affinity)


def test_affinity_closed_form():
    losses = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    a = task_affinity(losses)
    # tasks 0, 1 agree on examples 0, 1; task 2 is the opposite of task 0 everywhere
    assert torch.allclose(a, torch.tensor([[1.0, 0.5, 0.0], [0.5, 1.0, 0.5], [0.0, 0.5, 1.0]],
                                          dtype=torch.float64))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 30), st.integers(1, 5), st.integers(0, 10_000))
def test_affinity_is_symmetric_with_unit_diagonal(n, k, seed):
    losses = torch.rand(n, k, generator=torch.Generator().manual_seed(seed))
    a = task_affinity(losses)
    assert torch.allclose(a, a.T) and torch.allclose(a.diagonal(), torch.ones(k, dtype=a.dtype))
    assert bool(((a >= 0) & (a <= 1)).all())


def test_partitions_are_counted_by_bell_numbers():
    assert [sum(1 for _ in _partitions(list(range(k)))) for k in range(1, 6)] == [1, 2, 5, 15, 52]


def test_best_split_groups_related_tasks_and_cost_controls_branching():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(200, 2, generator=g)
    losses = torch.stack([base[:, 0], base[:, 0] + 0.01, base[:, 1], base[:, 1] * 2], 1)
    a = task_affinity(losses)
    split = best_split(a, base_cost=0.05, strength=1.0)
    assert sorted(sorted(s) for s in split) == [[0, 1], [2, 3]]
    assert best_split(a, base_cost=10.0) == [[0, 1, 2, 3]]               # branches too expensive
    assert branch_affinity(a, [0, 1], [0, 1]) > branch_affinity(a, [0, 1], [2, 3])
    assert split_cost(a, [[0], [1], [2], [3]], base_cost=1.0, poolings_above=2) == pytest.approx(12.0)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="per_example_losses"):
        task_affinity(torch.rand(5))
    with pytest.raises(ValueError, match="groups"):
        split_cost(torch.eye(2), [[0], []])
    with pytest.raises(ValueError, match="max_tasks"):
        best_split(torch.eye(11))
    with pytest.raises(ValueError, match="branches"):
        branch_affinity(torch.eye(2), [], [1])
