"""Chapter 1: when does sharing help? Relatedness and training-set size against the multi-task gain."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from mtlbook.transfer import SharingComparison
from mtlbook.widgets import Explorer, choice_slider, explorer


def sharing_gap(result: SharingComparison, relatedness: Sequence[float], rho: float, size: int) -> dict:
    """Pure: the multi-task gain at one grid point of a regression comparison over (relatedness, size).

    Returns the mean test MSE of both models (over seeds and tasks), the relative gain
    (STL − MTL) / STL with its standard error over seeds, and the whole grid of mean relative gains.
    """
    if rho not in relatedness:
        raise ValueError(f"rho must be one of the computed relatedness values {list(relatedness)}, got {rho}")
    if size not in result.sizes:
        raise ValueError(f"size must be one of the computed sizes {list(result.sizes)}, got {size}")
    i, j = list(relatedness).index(rho), list(result.sizes).index(size)
    gains = result.relative_gain()                                 # (datasets, sizes, seeds)
    g = gains[i, j]
    return {"rho": rho, "size": size, "mtl": float(result.mtl[i, j].mean()), "stl": float(result.stl[i, j].mean()),
            "gain": float(g.mean()), "stderr": float(g.std() / np.sqrt(len(g))) if len(g) > 1 else float("nan"),
            "seeds": len(g), "grid": gains.mean(-1), "relatedness": list(relatedness), "sizes": list(result.sizes)}


def _render(r: dict):
    verdict = "multi-task better" if r["gain"] > 0 else "single-task better"
    text = (f"relatedness {r['rho']:.2f}, {r['size']} training examples: {verdict}\n"
            f"test MSE (noise-free targets): multi-task {r['mtl']:.3f}, single-task {r['stl']:.3f}\n"
            f"gain of sharing: {100 * r['gain']:+.0f}% ± {100 * r['stderr']:.0f}% (mean ± s.e. over {r['seeds']} seeds)")
    grid = r["grid"].numpy() if isinstance(r["grid"], torch.Tensor) else r["grid"]
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    lim = max(0.05, float(np.abs(grid).max()))
    im = ax.imshow(100 * grid, cmap="RdBu", vmin=-100 * lim, vmax=100 * lim, origin="lower", aspect="auto")
    ax.set_xticks(range(len(r["sizes"])), r["sizes"])
    ax.set_yticks(range(len(r["relatedness"])), [f"{v:.2f}" for v in r["relatedness"]])
    ax.set(xlabel="training examples per task", ylabel="task relatedness ρ",
           title="gain of sharing (%), blue: multi-task better")
    ax.grid(False)
    ax.add_patch(plt.Rectangle((r["sizes"].index(r["size"]) - 0.5, r["relatedness"].index(r["rho"]) - 0.5), 1, 1,
                               fill=False, lw=2.5, color="black"))
    fig.colorbar(im, ax=ax, shrink=0.85)
    return text, fig


def sharing_explorer(result: SharingComparison, relatedness: Sequence[float]) -> Explorer:
    """Relatedness and training-set size pickers over a precomputed :func:`compare_sharing` grid."""
    relatedness = [float(v) for v in relatedness]
    controls = {
        "rho": choice_slider([(f"{v:.2f}", v) for v in relatedness], relatedness[-1], "relatedness ρ"),
        "size": choice_slider(list(result.sizes), result.sizes[0], "training examples"),
    }
    return explorer(lambda rho, size: sharing_gap(result, relatedness, rho, size), _render, controls,
                    title="When does sharing help?")
