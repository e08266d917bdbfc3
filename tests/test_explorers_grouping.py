"""Chapter 5's widget: TAG's affinity over training and the groups chosen under a budget."""

import pytest
import torch

from mtlbook.explorers.grouping import affinity_snapshot, grouping_explorer

PLANTED = ((0, 1), (2, 3), (4, 5))


def _history(t=20, k=6, seed=0):
    """Noisy measurements whose average has the planted pairs; the first few are misleading."""
    g = torch.Generator().manual_seed(seed)
    block = torch.zeros(k, k)
    for a, b in PLANTED:
        block[a, b] = block[b, a] = 1.0
    h = 0.3 * torch.randn(t, k, k, generator=g) + block - 0.2
    h[:2] = -block + 0.3 * torch.randn(2, k, k, generator=g)
    return h


def test_snapshot_recovers_planted_groups_at_the_end_only():
    h = _history()
    end = affinity_snapshot(h, list(range(0, 100, 5)), 19, 3, PLANTED)
    assert end["recovered"] is True and set(end["groups"]) == set(PLANTED)
    torch.testing.assert_close(end["z"], h.mean(0))
    start = affinity_snapshot(h, list(range(0, 100, 5)), 0, 3, PLANTED)
    assert start["recovered"] is False and start["step"] == 0 and start["measurements"] == 1


def test_budget_one_is_all_tasks_and_inputs_are_checked():
    h = _history()
    r = affinity_snapshot(h, list(range(20)), 10, 1, PLANTED)
    assert r["groups"] == (tuple(range(6)),) and r["recovered"] is False
    with pytest.raises(ValueError, match="index"):
        affinity_snapshot(h, list(range(20)), 20, 1)
    with pytest.raises(ValueError, match="measured_at"):
        affinity_snapshot(h, list(range(5)), 1, 1)
    with pytest.raises(ValueError, match="history"):
        affinity_snapshot(h[0], list(range(20)), 1, 1)


def test_explorer_is_driven_by_its_controls():
    h = _history()
    ex = grouping_explorer(h, list(range(0, 100, 5)), [f"t{i}" for i in range(6)], PLANTED)
    assert "{0,1} {2,3} {4,5}" in ex.text and "planted groups: True" in ex.text
    ex.controls["time"].value = 0
    assert "first 1 measurements" in ex.text and "planted groups: False" in ex.text
    ex.controls["budget"].value = 1
    assert ex.text.startswith("budget 1") and "{0,1,2,3,4,5}" in ex.text
    assert len(ex.output.outputs) == 1 and "mtl-budget" in ex.controls["budget"]._dom_classes
    with pytest.raises(ValueError, match="task_names"):
        grouping_explorer(h, list(range(20)), ["a"])
