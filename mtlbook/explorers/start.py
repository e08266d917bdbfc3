"""Chapter 0: a MultiDigits viewer (how canvas, shift, jitter and overlay shape the two tasks)."""

from __future__ import annotations

from mtlbook.data import multidigits
from mtlbook.plotting import image_grid
from mtlbook.widgets import Explorer, dropdown, explorer, int_slider


def digits_overlap(canvas: int, shift: int, jitter: int, overlay: str, n: int = 1000,
                   seed: int = 0) -> dict:
    """Pure: build ``n`` test pairs and measure how much of the left digit the right one inks.

    Returns ``{"error": message}`` for settings that do not fit the canvas.
    """
    try:
        split = multidigits(n_train=1, n_test=n, canvas=canvas, shift=shift, jitter=jitter,
                            overlay=overlay, seed=seed)
    except ValueError as e:
        return {"error": str(e)}
    test = split.test
    return {"images": test.x[:8], "left": test.targets[0][:8], "right": test.targets[1][:8],
            "covered": float(test.meta["left_covered"].mean()), "canvas": canvas, "shift": shift,
            "jitter": jitter, "overlay": overlay}


def _render(r: dict):
    if "error" in r:
        return f"not possible: {r['error']}", None
    titles = [f"{int(a)} | {int(b)}" for a, b in zip(r["left"], r["right"])]
    text = (f"canvas {r['canvas']}x{r['canvas']}, shift {r['shift']}, jitter {r['jitter']}, "
            f"overlay {r['overlay']}\nleft-digit ink also inked by the right digit: "
            f"{100 * r['covered']:.1f}%")
    return text, image_grid(r["images"], titles, ncols=8)


def digits_viewer() -> Explorer:
    """Sliders for canvas, shift and jitter, and the overlay rule; shows 8 pairs (left | right)."""
    controls = {
        "canvas": int_slider(10, 8, 14, "canvas"),
        "shift": int_slider(2, 0, 6, "shift"),
        "jitter": int_slider(0, 0, 2, "jitter"),
        "overlay": dropdown(["max", "right_on_top"], "max", "overlay"),
    }
    return explorer(digits_overlap, _render, controls, title="MultiDigits: two digits, one image")
