"""The widget pattern of the book: a pure compute function plus a thin view.

``explorer(compute, render, controls)`` wires ipywidgets controls to ``compute(**values)`` and
shows ``render(result) -> (text, figure)``: the text in a readout, the figure as a PNG in an
Output widget. The Output is updated by state (``outputs = (...)``), never by printing inside
``with out:``, so that headless runs, nbval and the browser see the same thing.

Every control gets the CSS class ``mtl-<name>``; the readout is ``mtl-readout`` and the figure
area ``mtl-figure`` (the browser test finds them by these classes). A notebook shows
``ex.ui`` in one cell and drives it from the next: ``ex.controls["alpha"].value = 0.5;
print(ex.text)``.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as W
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from mtlbook.plotting import to_png

Render = Callable[[Any], tuple[str, Figure | None]]


@dataclass
class Explorer:
    """A built widget: its named controls, readout, figure area and the assembled ``ui``."""

    controls: dict[str, W.ValueWidget]
    readout: W.HTML
    output: W.Output
    ui: W.Box
    compute: Callable[..., Any]
    render: Render
    text: str = ""
    result: Any = None
    updates: int = field(default=0)

    def values(self) -> dict[str, Any]:
        return {name: c.value for name, c in self.controls.items()}

    def refresh(self, *_change) -> None:
        """Recompute from the controls' current values and redraw the readout and figure."""
        self.result = self.compute(**self.values())
        text, fig = self.render(self.result)
        self.text = text
        self.readout.value = f"<pre class='mtl-readout-text'>{html.escape(text)}</pre>"
        if fig is None:
            self.output.outputs = ()
        else:
            png = to_png(fig)
            plt.close(fig)
            self.output.outputs = ({
                "output_type": "display_data",
                "data": {"image/png": base64.b64encode(png).decode("ascii"),
                         "text/plain": "<figure>"},
                "metadata": {},
            },)
        self.updates += 1

    def _repr_mimebundle_(self, **kwargs):
        return self.ui._repr_mimebundle_(**kwargs)


def explorer(compute: Callable[..., Any], render: Render, controls: Mapping[str, W.ValueWidget],
             *, title: str | None = None, layout: str = "vertical") -> Explorer:
    """Wire ``controls`` to ``compute`` and ``render`` (see the module docstring)."""
    if not controls:
        raise ValueError("controls must name at least one widget")
    for name, c in controls.items():
        if not isinstance(c, W.ValueWidget):
            raise TypeError(f"control {name!r} must be an ipywidgets value widget, got {type(c).__name__}")
        c.add_class(f"mtl-{name}")
        if hasattr(c, "continuous_update"):
            c.continuous_update = False
    readout = W.HTML().add_class("mtl-readout")
    output = W.Output().add_class("mtl-figure")
    panel = W.VBox(list(controls.values()) + [readout])
    parts = [W.HTML(f"<b>{html.escape(title)}</b>")] if title else []
    body = W.HBox([panel, output]) if layout == "horizontal" else W.VBox([panel, output])
    ui = W.VBox(parts + [body]).add_class("mtl-explorer")
    ex = Explorer(dict(controls), readout, output, ui, compute, render)
    for c in controls.values():
        c.observe(ex.refresh, names="value")
    ex.refresh()
    return ex


def slider(value: float, lo: float, hi: float, step: float, description: str,
           *, log: bool = False, readout_format: str = ".2f") -> W.ValueWidget:
    """A float slider with the book's defaults (linear, or log10-spaced when ``log``)."""
    if not lo <= value <= hi:
        raise ValueError(f"value must lie in [{lo}, {hi}], got {value}")
    style = {"description_width": "initial"}
    if log:
        import math

        return W.FloatLogSlider(value=value, base=10, min=math.log10(lo), max=math.log10(hi),
                                step=step, description=description, style=style,
                                readout_format=readout_format)
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=description,
                         style=style, readout_format=readout_format)


def int_slider(value: int, lo: int, hi: int, description: str, step: int = 1) -> W.ValueWidget:
    if not lo <= value <= hi:
        raise ValueError(f"value must lie in [{lo}, {hi}], got {value}")
    return W.IntSlider(value=value, min=lo, max=hi, step=step, description=description,
                       style={"description_width": "initial"})


def dropdown(options, value, description: str) -> W.ValueWidget:
    options = list(options)
    if value not in [o[1] if isinstance(o, tuple) else o for o in options]:
        raise ValueError(f"value must be one of the options, got {value!r}")
    return W.Dropdown(options=options, value=value, description=description,
                      style={"description_width": "initial"})


def choice_slider(options, value, description: str) -> W.ValueWidget:
    """A slider over a few discrete values (e.g. the points of a precomputed grid); ``options`` are
    values or (label, value) pairs."""
    options = list(options)
    if value not in [o[1] if isinstance(o, tuple) else o for o in options]:
        raise ValueError(f"value must be one of the options, got {value!r}")
    return W.SelectionSlider(options=options, value=value, description=description,
                             style={"description_width": "initial"})
