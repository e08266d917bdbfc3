import base64

import pytest
import torch

from mtlbook.explorers.loss_scale import DEFAULT_PROBLEM, loss_scale_explorer, loss_scale_updates
from mtlbook.weighting import SCHEMES

SCALE_INVARIANT = {"initial", "prior", "realtime", "gradnorm"}
SHIFT_INVARIANT = {"equal", "gradnorm"}


@pytest.mark.parametrize("task", [0, 1])
@pytest.mark.parametrize("scale", [0.01, 0.5, 3.0, 100.0])
def test_scaling_one_task_moves_only_equal_weights(task, scale):
    r = loss_scale_updates(scale, 0.0, task)
    assert set(r["schemes"]) == set(SCHEMES)
    for name, v in r["schemes"].items():
        moved = name not in SCALE_INVARIANT
        assert v["changed"] == (moved, moved), name
        if not moved:
            assert v["angle"] < 1e-9 and v["norm_ratio"] == pytest.approx(1.0, rel=1e-12)
            # the weight of the scaled task is divided by c exactly
            assert v["w1"][task].item() == pytest.approx(v["w0"][task].item() / scale, rel=1e-12)


@pytest.mark.parametrize("shift", [0.5, 10.0, 50.0])
def test_shifting_one_task_moves_the_loss_value_schemes(shift):
    r = loss_scale_updates(1.0, shift, 1)
    for name, v in r["schemes"].items():
        moved = name not in SHIFT_INVARIANT
        assert v["changed"] == (moved, moved), name
        if moved:  # a shift lowers the shifted task's weight, so the update turns away from its gradient
            assert v["w1"][1] < v["w0"][1] and v["angle"] > 0.01


def test_equal_weights_closed_form():
    r = loss_scale_updates(4.0, 0.0, 1)
    g = torch.tensor(DEFAULT_PROBLEM["grads"], dtype=torch.float64)
    before, after = g.sum(0), g[0] + 4.0 * g[1]
    v = r["schemes"]["equal"]
    assert v["norm_ratio"] == pytest.approx(float(after.norm() / before.norm()))
    assert torch.allclose(v["d1"], after / after.norm())
    assert torch.allclose(r["moved_grads"][1], 4.0 * g[1])


def test_gradnorm_direction_is_the_sum_of_unit_gradients():
    r = loss_scale_updates(7.0, 3.0, 0)
    g = torch.tensor(DEFAULT_PROBLEM["grads"], dtype=torch.float64)
    s = (g / g.norm(dim=1, keepdim=True)).sum(0)
    assert torch.allclose(r["schemes"]["gradnorm"]["d1"], s / s.norm())


def test_bad_input():
    with pytest.raises(ValueError, match="task must be 0 or 1"):
        loss_scale_updates(1.0, 0.0, 2)
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        loss_scale_updates(0.0, 0.0)
    with pytest.raises(ValueError, match="shift must be a finite number"):
        loss_scale_updates(1.0, float("inf"))
    with pytest.raises(ValueError, match="<= 0"):
        loss_scale_updates(1.0, -100.0)
    with pytest.raises(ValueError, match="missing"):
        loss_scale_updates(1.0, 0.0, problem={"grads": DEFAULT_PROBLEM["grads"]})
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        loss_scale_updates(1.0, 0.0, problem=dict(DEFAULT_PROBLEM, grads=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))))


def test_explorer_view():
    ex = loss_scale_explorer()
    assert ex.text.splitlines()[0] == "task 2's loss L -> 1 L + 0"
    ex.controls["scale"].value = 10.0
    assert "update turned 0.0 deg, norm x1" in ex.text.splitlines()[2]      # 1/L(0)
    assert ex.text.splitlines()[1].startswith("equal weights") and "norm x1 " not in ex.text.splitlines()[1]
    ex.controls["task"].value = 0
    assert ex.text.splitlines()[0] == "task 1's loss L -> 10 L + 0"
    (out,) = ex.output.outputs
    assert base64.b64decode(out["data"]["image/png"]).startswith(b"\x89PNG")
    for name in ("scale", "shift", "task"):
        assert f"mtl-{name}" in ex.controls[name]._dom_classes
