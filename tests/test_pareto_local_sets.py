"""Continuous local Pareto sets (patches) and stitched fronts."""

import math

import pytest
import torch

from mtlbook.data.pareto_toys import zdt2_variant, zdt2_variant_front, zdt2_variant_pareto_point
from mtlbook.pareto import (box_grid, hypervolume_2d, patch_front, patch_points, simplex_grid,
                            stitch_fronts, overlap_matrix)


def test_grids():
    g = simplex_grid(2, 4)
    assert g.shape == (math.comb(6, 2), 2)
    assert bool((g >= 0).all()) and bool((g.sum(1) <= 1 + 1e-15).all())
    b = box_grid(3, 2, -0.5, 0.5)
    assert b.shape == (27, 3) and float(b.min()) == -0.5 and float(b.max()) == 0.5


def test_patch_vertices_are_the_anchor_and_the_neighbours():
    anchor = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    neighbours = torch.tensor([[0.0, 2.0, 3.0], [1.0, 5.0, 3.0]], dtype=torch.float64)
    coords = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], dtype=torch.float64)
    pts = patch_points(anchor, neighbours, coords)
    torch.testing.assert_close(pts[0], anchor)
    torch.testing.assert_close(pts[1:3], neighbours)
    torch.testing.assert_close(pts[3], neighbours.mean(0))


def test_patch_on_the_flat_direction_of_the_zdt2_set_is_on_the_front():
    anchor = zdt2_variant_pareto_point(-math.pi, 0.5)
    neighbours = torch.stack([zdt2_variant_pareto_point(-math.pi + 0.3, 0.5),
                              zdt2_variant_pareto_point(-math.pi - 0.3, 0.5)])
    front = patch_front(zdt2_variant, anchor, neighbours, simplex_grid(2, 10))
    gap = (front.losses[:, 1] - zdt2_variant_front(front.losses[:, 0])).abs()
    assert float(gap.max()) < 1e-12
    # Across the cylinder (both neighbours on the circle) the chords leave the set: worse losses.
    across = torch.stack([zdt2_variant_pareto_point(-math.pi, 0.5 + 0.8),
                          zdt2_variant_pareto_point(-math.pi, 0.5 - 0.8)])
    off = patch_front(zdt2_variant, anchor, across, simplex_grid(2, 10))
    assert float((off.losses[:, 1] - zdt2_variant_front(off.losses[:, 0])).max()) > 1e-2


def test_stitching_keeps_the_non_dominated_union_with_provenance():
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    line = torch.stack([t, 1 - t], 1)
    a = line[:6]                                  # f1 in [0, 0.5]
    b = line[4:]                                  # overlaps a on two points
    c = line[3:8] + 0.05                          # dominated copy
    out = stitch_fronts([a, b, c])
    assert out.losses.shape[0] == 6 + 7           # both copies of the two shared points are kept
    assert set(out.source.tolist()) == {0, 1}
    torch.testing.assert_close(torch.cat([a, b])[[*range(6), *range(6, 13)]], out.losses)
    # Provenance maps back.
    for loss, s, i in zip(out.losses, out.source, out.index):
        torch.testing.assert_close([a, b, c][int(s)][int(i)], loss)
    ov = out.overlap
    assert float(ov[0, 2]) == pytest.approx(0.6) and float(ov[1, 2]) == pytest.approx(0.8)
    assert float(ov[2, 0]) == 0.0 and float(ov[2, 1]) == 0.0
    assert float(ov[0, 1]) == 0.0                 # equal points do not dominate
    ref = [1.1, 1.1]
    assert float(hypervolume_2d(out.losses, ref)) == pytest.approx(float(hypervolume_2d(torch.cat([a, b, c]), ref)))


def test_input_checks():
    with pytest.raises(ValueError, match="resolution"):
        simplex_grid(2, 0)
    with pytest.raises(ValueError, match="low"):
        box_grid(2, 3, 1.0, 0.0)
    with pytest.raises(ValueError, match="neighbours"):
        patch_points(torch.zeros(3), torch.zeros(2, 4), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="coords"):
        patch_points(torch.zeros(3), torch.zeros(2, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="non-empty"):
        stitch_fronts([])
    with pytest.raises(ValueError, match="objectives"):
        stitch_fronts([torch.zeros(1, 2), torch.zeros(1, 3)])
    with pytest.raises(TypeError, match="fronts"):
        overlap_matrix([[0.0, 1.0]])
