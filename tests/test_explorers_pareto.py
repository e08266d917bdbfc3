"""Chapter 6 widgets: the ZDT2-variant tangent readout and a network on its local Pareto set."""

import math

import pytest
import torch

from mtlbook.data.multidigits import multidigits
from mtlbook.explorers.pareto import (LocalSets, local_set_explorer, local_set_state, zdt2_explorer,
                                      zdt2_tangent)
from mtlbook.pareto import FlatLeNet


def test_zdt2_tangent_is_tangent_undamped_and_leaves_with_damping():
    r = zdt2_tangent(-1.2 * math.pi, 0.7, step=0.2, damping=0.0)
    assert r["cos_tangent"] < 1e-10 and r["gap_tangent"] < 1e-10
    assert r["cos_gradient"] > 0.5 and r["gap_gradient"] > 1e-2
    damped = zdt2_tangent(-1.2 * math.pi, 0.7, step=0.2, damping=50.0)
    assert damped["cos_tangent"] > 0.1
    torch.testing.assert_close(r["alpha"].sum(), torch.tensor(1.0, dtype=torch.float64))


def test_zdt2_tangent_beta_equal_to_alpha_does_not_move():
    a1 = float(zdt2_tangent(-1.0 * math.pi, 0.3, 0.1, 0.0)["alpha"][0])
    r = zdt2_tangent(-1.0 * math.pi, 0.3, 0.1, 0.0, beta1=a1)
    assert r["rhs_norm"] < 1e-12 and float(r["v"].norm()) == 0.0


def test_zdt2_tangent_checks_its_inputs():
    with pytest.raises(ValueError, match="x1"):
        zdt2_tangent(0.0, 0.0, 0.1, 0.0)
    with pytest.raises(ValueError, match="step"):
        zdt2_tangent(-math.pi, 0.0, 0.0, 0.0)


def test_zdt2_explorer_readout_follows_the_damping_slider():
    ex = zdt2_explorer()
    assert "tangent to the Pareto set" in ex.text
    ex.controls["damping"].value = 50.0
    assert "leaves the Pareto set" in ex.text and ex.updates == 2
    assert len(ex.output.outputs) == 1


@pytest.fixture(scope="module")
def sets():
    digits = multidigits(n_train=64, n_test=16, seed=1)
    net = FlatLeNet(channels=2, hidden=4)
    g = torch.Generator().manual_seed(0)
    anchors = net.init(2, generator=g)
    neighbours = anchors[:, None] + 0.1 * torch.randn(2, 2, net.numel, generator=g)
    front = torch.rand(10, 2, generator=g)
    return LocalSets(net, anchors, neighbours, digits.train.x, digits.train.targets, digits.test.x,
                     digits.test.targets, front, sample=3)


def test_local_set_state_moves_between_anchor_and_neighbours(sets):
    at_anchor = local_set_state(sets, 1, 0.0, 0.0)
    torch.testing.assert_close(at_anchor["losses"], at_anchor["anchor_losses"])
    at_first = local_set_state(sets, 1, 1.0, 0.0)
    torch.testing.assert_close(at_first["losses"],
                               sets.net.losses(sets.neighbours[1, 0], sets.train_x, sets.train_y))
    assert at_first["predictions"].shape == (3, 2) and at_first["images"].shape == (3, 10, 10)
    assert bool(((at_first["accuracy"] >= 0) & (at_first["accuracy"] <= 1)).all())
    with pytest.raises(ValueError, match="anchor"):
        local_set_state(sets, 2, 0.0, 0.0)


def test_local_set_explorer_readout_changes_with_the_sliders(sets):
    ex = local_set_explorer(sets, span=1.0)
    first = ex.text
    assert first.startswith("anchor 0, t = (+0.00, +0.00)")
    ex.controls["t1"].value = 0.5
    assert ex.text.startswith("anchor 0, t = (+0.50, +0.00)") and ex.text != first
    ex.controls["anchor"].value = 1
    assert ex.text.startswith("anchor 1")


def test_gap_at_equal_loss_measures_the_other_loss_at_the_same_level():
    from mtlbook.explorers.pareto import gap_at_equal_loss

    f1 = torch.linspace(0.0, 1.0, 11)
    line = torch.stack([f1, 1 - f1], 1)[None]                     # the front f2 = 1 - f1
    ends = torch.tensor([[0.25, 0.85]])                            # 0.1 above the line at f1 = 0.25
    torch.testing.assert_close(gap_at_equal_loss(line, ends, 0), torch.tensor([0.1]))
    torch.testing.assert_close(gap_at_equal_loss(line, torch.tensor([[0.7, 0.2]]), 1), torch.tensor([-0.1]))
    assert torch.isnan(gap_at_equal_loss(line, torch.tensor([[2.0, 0.0]]), 0)).all()
    with pytest.raises(ValueError, match="task"):
        gap_at_equal_loss(line, ends, 2)


def test_zdt2_explorer_direction_flips_as_beta1_crosses_alpha1():
    ex = zdt2_explorer()
    a1 = float(ex.result["alpha"][0])
    assert 0.25 < a1 < 0.30                                          # between two slider steps
    ex.controls["beta1"].value = 0.30
    assert "unit direction v = (-1.00, +0.00, +0.00)" in ex.text
    ex.controls["beta1"].value = 0.25
    assert "unit direction v = (+1.00, +0.00, +0.00)" in ex.text
