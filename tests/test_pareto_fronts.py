"""Non-dominated filtering and exact hypervolume against brute force."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.pareto import dominates, hypervolume, hypervolume_2d, hypervolume_3d, non_dominated, non_dominated_mask


def _inclusion_exclusion(points, ref):
    total = 0.0
    for r in range(1, len(points) + 1):
        for subset in itertools.combinations(points, r):
            corner = np.max(np.array(subset), axis=0)
            total += (-1) ** (r + 1) * np.prod(np.clip(ref - corner, 0.0, None))
    return total


def _grid_count(points, ref):
    """Unit cells [c, c+1)^m below ref dominated by some integer point."""
    m = len(ref)
    count = 0
    for cell in itertools.product(*[range(int(r)) for r in ref]):
        if any(all(p[j] <= cell[j] for j in range(m)) for p in points):
            count += 1
    return count


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_hypervolume_matches_inclusion_exclusion(data):
    m = data.draw(st.sampled_from([2, 3]))
    n = data.draw(st.integers(0, 7))
    pts = np.array(data.draw(st.lists(st.lists(st.floats(0.0, 1.2), min_size=m, max_size=m),
                                      min_size=n, max_size=n)), dtype=float).reshape(n, m)
    ref = np.ones(m)
    hv = float(hypervolume(torch.from_numpy(pts), ref))
    assert hv == pytest.approx(_inclusion_exclusion(list(pts), ref), abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_hypervolume_matches_grid_count_on_integer_points(data):
    m = data.draw(st.sampled_from([2, 3]))
    pts = data.draw(st.lists(st.lists(st.integers(0, 5), min_size=m, max_size=m), min_size=1, max_size=8))
    ref = [6] * m
    hv = float(hypervolume(torch.tensor(pts, dtype=torch.float64), ref))
    assert hv == _grid_count(pts, ref)


def test_closed_forms_and_degenerate_cases():
    ref = [1.0, 1.0]
    one = torch.tensor([[0.25, 0.5]], dtype=torch.float64)
    assert float(hypervolume_2d(one, ref)) == pytest.approx(0.75 * 0.5)
    # A dominated point and a duplicate change nothing; a point outside the box adds nothing.
    more = torch.tensor([[0.25, 0.5], [0.5, 0.75], [0.25, 0.5], [1.5, 0.0]], dtype=torch.float64)
    assert float(hypervolume_2d(more, ref)) == pytest.approx(0.375)
    assert float(hypervolume_2d(torch.zeros(0, 2, dtype=torch.float64), ref)) == 0.0
    assert float(hypervolume_3d(torch.zeros(1, 3, dtype=torch.float64), [2.0, 3.0, 0.5])) == pytest.approx(3.0)
    # Points on the front f2 = 1 - f1^2 fill the area under it as they get dense: ∫(1 - (1 - f1²)) = 1/3.
    f1 = torch.linspace(0, 1, 4001, dtype=torch.float64)
    front = torch.stack([f1, 1 - f1 ** 2], 1)
    assert float(hypervolume_2d(front, ref)) == pytest.approx(1 / 3, abs=1e-3)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 4), min_size=3, max_size=3), min_size=0, max_size=12))
def test_non_dominated_mask_matches_definition(rows):
    pts = torch.tensor(rows, dtype=torch.float64).reshape(-1, 3)
    mask = non_dominated_mask(pts)
    for i in range(pts.shape[0]):
        dominated = any(bool(dominates(pts[j], pts[i])) for j in range(pts.shape[0]))
        assert bool(mask[i]) == (not dominated)
    front, idx = non_dominated(pts)
    assert torch.equal(front, pts[mask]) and torch.equal(pts[idx], front)
    # The front dominates at least what the set does: equal hypervolume.
    if pts.shape[0]:
        assert float(hypervolume(front, [5.0] * 3)) == float(hypervolume(pts, [5.0] * 3))


def test_input_checks():
    with pytest.raises(TypeError, match="points"):
        non_dominated_mask([[0.0, 1.0]])
    with pytest.raises(ValueError, match=r"shape \(N, m\)"):
        non_dominated_mask(torch.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        hypervolume(torch.tensor([[float("nan"), 0.0]]), [1.0, 1.0])
    for bad in (float("inf"), -float("inf")):
        with pytest.raises(ValueError, match="finite"):
            non_dominated_mask(torch.tensor([[0.0, 1.0], [bad, 0.0]]))
        with pytest.raises(ValueError, match="finite"):
            hypervolume(torch.tensor([[bad, 0.0]]), [1.0, 1.0])
    with pytest.raises(ValueError, match="reference"):
        hypervolume(torch.zeros(1, 2), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="2 or 3 objectives"):
        hypervolume(torch.zeros(1, 4), [1.0] * 4)
    with pytest.raises(ValueError, match="3 objectives"):
        hypervolume_3d(torch.zeros(1, 2), [1.0, 1.0])


def test_dominates_checks_shapes_and_broadcasts_leading_dimensions():
    p = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    pairs = dominates(p[:, None], p[None])                        # (3, 3): every pair
    assert pairs.tolist() == [[False, False, True], [False, False, True], [False, False, False]]
    assert dominates(p, torch.tensor([2.0, 2.0])).tolist() == [True, True, False]
    with pytest.raises(ValueError, match="same number of objectives"):
        dominates(p, torch.zeros(3, 1))                               # would broadcast m = 1 silently
    with pytest.raises(ValueError, match="same number of objectives"):
        dominates(p, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="broadcast"):
        dominates(p, torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., m\)"):
        dominates(torch.tensor(1.0), torch.tensor(0.0))
    with pytest.raises(ValueError, match="q must be a tensor"):
        dominates(p, [[0.0, 1.0]])
