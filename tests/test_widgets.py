import base64

import ipywidgets as W
import matplotlib.pyplot as plt
import pytest

from mtlbook import widgets
from mtlbook.explorers.start import digits_overlap, digits_viewer


def _square(x: float) -> dict:
    return {"x": x, "y": x * x}


def _render(r):
    fig, ax = plt.subplots()
    ax.plot([0, r["x"]], [0, r["y"]])
    return f"x={r['x']:.1f}, x^2={r['y']:.2f}", fig


def test_explorer_recomputes_on_change_and_shows_a_png():
    ex = widgets.explorer(_square, _render, {"x": widgets.slider(1.0, 0.0, 2.0, 0.1, "x")})
    assert ex.text == "x=1.0, x^2=1.00" and ex.updates == 1
    ex.controls["x"].value = 1.5
    assert ex.text == "x=1.5, x^2=2.25" and ex.updates == 2
    assert "mtl-x" in ex.controls["x"]._dom_classes and "mtl-readout" in ex.readout._dom_classes
    (out,) = ex.output.outputs
    assert base64.b64decode(out["data"]["image/png"]).startswith(b"\x89PNG")
    assert "x^2=2.25" in ex.readout.value


def test_explorer_checks_its_controls():
    with pytest.raises(ValueError, match="at least one"):
        widgets.explorer(_square, _render, {})
    with pytest.raises(TypeError, match="value widget"):
        widgets.explorer(_square, _render, {"x": W.Button()})
    with pytest.raises(ValueError, match="must lie in"):
        widgets.slider(3.0, 0.0, 2.0, 0.1, "x")
    with pytest.raises(ValueError, match="one of the options"):
        widgets.dropdown(["a", "b"], "c", "pick")


def test_digits_viewer_compute_and_view():
    r = digits_overlap(canvas=10, shift=2, jitter=0, overlay="max", n=200)
    assert 0.0 < r["covered"] < 1.0 and r["images"].shape == (8, 1, 10, 10)
    assert "too small" in digits_overlap(canvas=8, shift=2, jitter=0, overlay="max")["error"]
    assert digits_overlap(canvas=12, shift=4, jitter=0, overlay="max")["covered"] < r["covered"]
    ex = digits_viewer()
    ex.controls["canvas"].value = 8
    assert ex.text.startswith("not possible") and ex.output.outputs == ()
    ex.controls["canvas"].value = 12
    assert ex.text.startswith("canvas 12x12") and len(ex.output.outputs) == 1
