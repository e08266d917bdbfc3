"""The book's plot style and the figure functions that several chapters share.

Every function returns (or draws into) a Matplotlib Figure; none calls ``plt.show``. Notebooks pass
finished figures to :func:`mtlbook.report.figure`, which shows and names them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

TASK_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf")

BOOK_STYLE = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 110,
    "savefig.format": "png",
    "savefig.bbox": "tight",
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=TASK_COLORS),
    "image.cmap": "viridis",
    "svg.hashsalt": "mtlbook",
}


def use_book_style() -> None:
    """Fix figure size, DPI, PNG output and colours, so that figures look the same everywhere."""
    matplotlib.rcParams.update(BOOK_STYLE)


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (what the widgets display and the book build saves)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=float)


def smooth(y, window: int) -> np.ndarray:
    """Moving average along the first axis (``window`` >= 1), for noisy per-step curves."""
    y = _numpy(y)
    if window <= 1 or len(y) < window:
        return y
    kernel = np.ones(window) / window
    return np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="valid"), 0, y)


def task_curves(values, task_names: Sequence[str], *, ax=None, ylabel: str = "loss",
                xlabel: str = "step", x=None, smoothing: int = 1, logy: bool = False,
                title: str | None = None) -> Figure:
    """One line per task from a (T, K) array (e.g. ``history.losses`` or ``history.weights``)."""
    v = smooth(values, smoothing)
    if v.ndim != 2 or v.shape[1] != len(task_names):
        raise ValueError(f"values must be (T, {len(task_names)}), got shape {tuple(v.shape)}")
    if ax is None:
        fig, ax = plt.subplots()
    xs = np.arange(len(v)) if x is None else _numpy(x)[: len(v)]
    for k, name in enumerate(task_names):
        ax.plot(xs, v[:, k], label=name, color=TASK_COLORS[k % len(TASK_COLORS)])
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax.figure


def heatmap(matrix, row_labels: Sequence[str], col_labels: Sequence[str] | None = None, *,
            ax=None, title: str | None = None, fmt: str = "{:.2f}", cmap: str = "RdBu_r",
            vmin: float | None = None, vmax: float | None = None, annotate: bool = True) -> Figure:
    """A labelled matrix with its values written in the cells (symmetric colour range by default)."""
    m = _numpy(matrix)
    col_labels = row_labels if col_labels is None else col_labels
    if m.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"matrix must be {len(row_labels)}x{len(col_labels)}, got {m.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(col_labels), 0.8 + 0.5 * len(row_labels)))
    if vmin is None and vmax is None:
        lim = float(np.nanmax(np.abs(m))) or 1.0
        vmin, vmax = -lim, lim
    im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=45, ha="right")
    ax.set_yticks(range(len(row_labels)), row_labels)
    ax.grid(False)
    if annotate:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=8)
    if title:
        ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, shrink=0.8)
    return ax.figure


def image_grid(images, titles: Sequence[str] | None = None, *, ncols: int = 8,
               cmap: str = "gray_r") -> Figure:
    """Show a few (N, H, W) or (N, 1, H, W) images with optional titles."""
    imgs = _numpy(images)
    if imgs.ndim == 4:
        imgs = imgs[:, 0]
    n = len(imgs)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.1 * ncols, 1.25 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(imgs[i], cmap=cmap, vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    return fig
