"""The gradient playground of chapter 4: its pure compute function and its headless view."""

from __future__ import annotations

import base64
import math

import pytest
import torch

from mtlbook.explorers.gradient_playground import gradient_playground, playground, playground_text


def test_two_conflicting_gradients_give_the_closed_form_and_equal_rates():
    """g1 = (1, 0), g2 = 2(cos 120°, sin 120°): ⟨g1, g2⟩ = −1, so
    α_1 = (G22 − G12)/(G11 + G22 − 2G12) = 5/7, and ⟨g_k, d⟩ = ‖d‖² for both tasks."""
    r = playground([0.0, 120.0], [1.0, 2.0])
    assert r["conflicts"] == [(0, 1)]
    assert torch.allclose(r["alpha"], torch.tensor([5 / 7, 2 / 7], dtype=torch.float64), atol=1e-12)
    d = r["directions"]["mgda"]
    assert torch.allclose(r["inner"]["mgda"], (d @ d).expand(2), atol=1e-12)
    # PCGrad: each projected gradient is orthogonal to the other task's gradient
    p, g = r["projections"], r["grads"]
    assert abs(float(p[0] @ g[1])) < 1e-12 and abs(float(p[1] @ g[0])) < 1e-12
    assert bool((r["inner"]["pcgrad"] > 0).all())
    # the mean conflicts with g1 here: ⟨g1, (g1 + g2)/2⟩ = (1 − 1)/2 = 0
    assert abs(float(r["inner"]["mean"][0])) < 1e-12


def test_aligned_gradients_are_left_alone():
    r = playground([10.0, 40.0], [1.0, 1.0])
    assert r["conflicts"] == []
    assert torch.allclose(r["projections"], r["grads"])
    # the min-norm point of two unit vectors is their midpoint
    assert torch.allclose(r["alpha"], torch.tensor([0.5, 0.5], dtype=torch.float64), atol=1e-12)


def test_dominated_gradient_gets_weight_exactly_zero():
    """⟨g1, g2⟩ >= ‖g1‖²: the min-norm point is g1 itself, weights exactly (1, 0)."""
    r = playground([0.0, 30.0], [1.0, 3.0])
    assert r["alpha"].tolist() == [1.0, 0.0]


def test_three_gradients_around_the_origin_are_pareto_stationary():
    r = playground([0.0, 120.0, 240.0], [1.0, 1.0, 1.0])
    assert float(r["directions"]["mgda"].norm()) < 1e-9
    assert torch.allclose(r["alpha"], torch.full((3,), 1 / 3, dtype=torch.float64), atol=1e-9)


def test_cagrad_interpolates_between_the_mean_and_mgda():
    mean = playground([0.0, 150.0], [1.0, 3.0], c=0.0)
    assert torch.allclose(mean["directions"]["cagrad"], mean["directions"]["mean"], atol=1e-12)
    big = playground([0.0, 150.0], [1.0, 3.0], c=1.0)
    # for c >= 1 CAGrad does not conflict with any task
    assert bool((big["inner"]["cagrad"] >= -1e-9).all())
    assert float(mean["inner"]["mean"].min()) < 0


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="2 or 3"):
        playground([0.0], [1.0])
    with pytest.raises(ValueError, match="norms"):
        playground([0.0, 90.0], [1.0])
    with pytest.raises(ValueError, match="norms\\[1\\]"):
        playground([0.0, 90.0], [1.0, -1.0])
    with pytest.raises(TypeError, match="angles\\[0\\]"):
        playground(["a", 90.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="c must"):
        playground([0.0, 90.0], [1.0, 1.0], c=math.inf)


def test_text_lists_weights_and_inner_products():
    text = playground_text(playground([0.0, 120.0], [1.0, 2.0]))
    assert "MGDA weights alpha: 0.714, 0.286" in text
    assert text.count("<g_k, d>") == 4


def test_view_recomputes_from_its_controls():
    ex = gradient_playground()
    assert "2 tasks" in ex.text and len(ex.output.outputs) == 1
    ex.controls["tasks"].value = 3
    assert ex.text.startswith("3 tasks") and ex.updates == 2
    ex.controls["norm2"].value = 1.0
    assert "MGDA weights alpha: 0.333, 0.333, 0.333" in ex.text
    (out,) = ex.output.outputs
    assert base64.b64decode(out["data"]["image/png"]).startswith(b"\x89PNG")
    assert "mtl-angle1" in ex.controls["angle1"]._dom_classes
