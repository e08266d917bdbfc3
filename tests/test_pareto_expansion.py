"""Predictor-corrector expansion on the ZDT2-variant, whose Pareto set is the cylinder x2² + x3² = π."""

import math

import pytest
import torch

from mtlbook.data.pareto_toys import zdt2_variant, zdt2_variant_front, zdt2_variant_pareto_point
from mtlbook.pareto import explore, mgda_correct, predict


def _radius_gap(x):
    return (x[..., 1] ** 2 + x[..., 2] ** 2 - math.pi).abs()


def test_predictor_moves_along_the_straight_generator_of_the_cylinder():
    # H_α is singular along the circle (a symmetry), so MINRES's tangent from x0 = 0 is the one
    # orthogonal to it: the cylinder's straight direction e_1, along which the set is exact.
    x = zdt2_variant_pareto_point(-1.1 * math.pi, 0.4)
    guesses = predict(zdt2_variant, x, num_directions=3, step=1e-2, generator=torch.Generator().manual_seed(0))
    assert guesses.shape == (3, 3)
    moves = guesses - x
    torch.testing.assert_close(moves[:, 0].abs(), torch.full((3,), 1e-2, dtype=torch.float64))
    assert float(moves[:, 1:].abs().max()) < 1e-14
    assert float(_radius_gap(guesses).max()) < 1e-12


def test_corrector_decreases_every_loss_and_ends_stationary():
    on = zdt2_variant_pareto_point(-1.2 * math.pi, 0.9)
    x = on + torch.tensor([0.05, 0.06, -0.04], dtype=torch.float64)  # off the set
    f0 = zdt2_variant(x)
    res = mgda_correct(zdt2_variant, x, tol=1e-6)
    assert res.steps > 0 and res.direction_norm < 1e-6
    assert bool((res.losses <= f0).all())
    assert float(_radius_gap(res.x)) < 1e-5
    assert res.counts.jacobians == res.steps + 1


def test_breadth_first_exploration_finds_points_on_the_front():
    start = zdt2_variant_pareto_point(-math.pi, 1.0)
    out = explore(zdt2_variant, start, num_points=10, num_directions=2, step=0.1, seed=3)
    assert out.points.shape == (10, 3) and out.losses.shape == (10, 2)
    assert float(_radius_gap(out.points).max()) < 1e-4
    gap = (out.losses[:, 1] - zdt2_variant_front(out.losses[:, 0])).abs()
    assert float(gap.max()) < 1e-4
    assert float(torch.cdist(out.points, out.points[:1]).max()) > 0.15    # it spread out
    # Counts: 5 expansions of 2 directions each → 9 new points; one Jacobian per expansion.
    assert out.expand.jacobians == 5 and out.expand.hvps > 0
    again = explore(zdt2_variant, start, num_points=10, num_directions=2, step=0.1, seed=3)
    assert torch.equal(again.points, out.points) and again.correct == out.correct


def test_input_checks():
    x = zdt2_variant_pareto_point(-math.pi, 0.0)
    with pytest.raises(ValueError, match="x must"):
        mgda_correct(zdt2_variant, x[None])
    with pytest.raises(ValueError, match="shrink"):
        mgda_correct(zdt2_variant, x, shrink=1.0)
    with pytest.raises(ValueError, match="num_directions"):
        predict(zdt2_variant, x, num_directions=0)
    with pytest.raises(ValueError, match="num_points"):
        explore(zdt2_variant, x, num_points=0)
    with pytest.raises(ValueError, match="losses_fn"):
        explore(lambda z: z.sum(), x, num_points=2)
