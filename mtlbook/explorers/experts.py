"""Chapter 2b: MMoE, OMoE and shared-bottom as the task correlation falls (Ma et al., KDD 2018)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from mtlbook.models.ensemble_moe import ExpertsSweep
from mtlbook.widgets import Explorer, choice_slider, explorer

COLORS = {"MMoE": "tab:blue", "OMoE": "tab:orange", "shared-bottom": "tab:gray"}


def sweep_figure(sweep: ExpertsSweep) -> Figure:
    """Test MSE (mean over the two tasks) against the task correlation p, mean ± std over seeds."""
    m = sweep.mean_loss().numpy()                                  # (models, correlations, seeds)
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    for i, name in enumerate(sweep.models):
        ax.errorbar(sweep.correlations, m[i].mean(-1), yerr=m[i].std(-1) if m.shape[-1] > 1 else None,
                    marker="o", capsize=3, label=name, color=COLORS.get(name))
    ax.set(xlabel="task correlation p (cosine of the task weights)", ylabel="test MSE (mean of 2 tasks)",
           title="MMoE synthetic data")
    ax.legend()
    return fig


def gate_figure(sweep: ExpertsSweep, model: str = "MMoE") -> Figure:
    """Mean gate probability of each expert for each task, at every computed correlation."""
    if model not in sweep.models[:2]:
        raise ValueError(f"model must be a gated model {sweep.models[:2]}, got {model!r}")
    g = sweep.gates[sweep.models.index(model)].mean(1).numpy()     # (correlations, K, n)
    c = len(sweep.correlations)
    fig, axes = plt.subplots(1, c, figsize=(2.6 * c, 1.9), squeeze=False)
    for j, ax in enumerate(axes[0]):
        im = ax.imshow(g[j], cmap="Blues", vmin=0, vmax=max(0.3, float(g.max())), aspect="auto")
        ax.set_title(f"p = {sweep.correlations[j]:.2f}", fontsize=9)
        ax.set_xticks(range(g.shape[-1]), [str(i + 1) for i in range(g.shape[-1])], fontsize=7)
        ax.set_yticks(range(g.shape[1]), [f"task {k + 1}" for k in range(g.shape[1])], fontsize=7)
        ax.set_xlabel("expert", fontsize=8)
        ax.grid(False)
    fig.colorbar(im, ax=axes, shrink=0.8, label="mean gate")
    return fig


def gate_difference(sweep: ExpertsSweep, model: str = "MMoE") -> np.ndarray:
    """Total-variation distance between the two tasks' mean gate distributions, (correlations, seeds):
    0 when both tasks use the experts alike, 1 when they use disjoint experts."""
    g = sweep.gates[sweep.models.index(model)]                      # (correlations, seeds, K, n)
    return (0.5 * (g[..., 0, :] - g[..., 1, :]).abs().sum(-1)).numpy()


def experts_at(sweep: ExpertsSweep, correlation: float) -> dict:
    """Pure: losses (mean, std over seeds) of every model at one computed correlation, the label
    correlation of the data, and MMoE's gates."""
    if correlation not in sweep.correlations:
        raise ValueError(f"correlation must be one of the computed values {list(sweep.correlations)}, "
                         f"got {correlation}")
    j = sweep.correlations.index(correlation)
    m = sweep.mean_loss()[:, j]                                    # (models, seeds)
    return {"p": correlation, "r": float(sweep.label_correlation[j].mean()), "seeds": m.shape[-1],
            "models": sweep.models, "mean": m.mean(-1).numpy(),
            "std": m.std(-1).numpy() if m.shape[-1] > 1 else np.zeros(len(sweep.models)),
            "gates": sweep.gates[0, j].mean(0).numpy(), "tv": float(gate_difference(sweep)[j].mean())}


def _render(r: dict):
    lines = [f"task correlation p = {r['p']:.2f}: {len(r['models'])} models, {r['seeds']} seeds",
             f"label correlation of the test targets: {r['r']:.2f}"]
    best = r["models"][int(np.argmin(r["mean"]))]
    lines += [f"{n:>13}: test MSE {mu:.3f} ± {sd:.3f}" for n, mu, sd in zip(r["models"], r["mean"], r["std"])]
    lines += [f"lowest: {best}; MMoE's two gates differ by {r['tv']:.2f} (total variation)"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7.6, 2.8), gridspec_kw={"width_ratios": [1, 1.6]})
    a1.bar(range(len(r["models"])), r["mean"], yerr=r["std"], capsize=3,
           color=[COLORS.get(n) for n in r["models"]])
    a1.set_xticks(range(len(r["models"])), r["models"], fontsize=8)
    a1.set(ylabel="test MSE", title=f"p = {r['p']:.2f}")
    im = a2.imshow(r["gates"], cmap="Blues", vmin=0, vmax=max(0.3, float(r["gates"].max())), aspect="auto")
    a2.set_yticks(range(r["gates"].shape[0]), [f"task {k + 1}" for k in range(r["gates"].shape[0])])
    a2.set_xticks(range(r["gates"].shape[1]), [str(i + 1) for i in range(r["gates"].shape[1])])
    a2.set(xlabel="expert", title="MMoE mean gate")
    a2.grid(False)
    fig.colorbar(im, ax=a2, shrink=0.85)
    return "\n".join(lines), fig


def experts_explorer(sweep: ExpertsSweep) -> Explorer:
    """A correlation slider over a precomputed :func:`correlation_sweep`: losses and MMoE's gates."""
    controls = {"p": choice_slider([(f"{p:.2f}", p) for p in sweep.correlations], sweep.correlations[0],
                                   "task correlation p")}
    return explorer(lambda p: experts_at(sweep, p), _render, controls, title="Experts and task correlation")
