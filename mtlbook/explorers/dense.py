"""Chapter 2b figures for dense prediction (scenes with their maps, MTAN masks, cross-stitch units) and
a scene picker over precomputed predictions."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from mtlbook.data.core import MultiTaskData
from mtlbook.widgets import Explorer, dropdown, explorer, int_slider


def _image(x: torch.Tensor) -> np.ndarray:
    return x.detach().permute(1, 2, 0).clamp(0, 1).cpu().numpy()


def scenes_figure(data: MultiTaskData, indices: Sequence[int], predictions: dict | None = None) -> Figure:
    """One row per image: the image, then each task's target map (and, given ``predictions`` =
    {label: [K maps (N, H, W)]}, one extra row per label under each image)."""
    indices = list(indices)
    if not indices or any(not 0 <= i < len(data) for i in indices):
        raise ValueError(f"indices must be a non-empty list in [0, {len(data)}), got {indices}")
    predictions = predictions or {}
    rows = [r for i in indices for r in [(i, "target", list(data.targets))]
            + [(i, name, maps) for name, maps in predictions.items()]]
    k = data.num_tasks
    fig, axes = plt.subplots(len(rows), k + 1, figsize=(1.6 * (k + 1), 1.6 * len(rows)), squeeze=False)
    cmaps = {"segmentation": ("tab10", 0, 9), "depth": ("viridis_r", 0.25, 1.0), "edges": ("gray_r", 0, 1)}
    for r, (i, name, maps) in enumerate(rows):
        axes[r, 0].imshow(_image(data.x[i]) if name == "target" else np.ones((2, 2, 3)))
        axes[r, 0].set_ylabel(name, fontsize=8)
        for j, (task, m) in enumerate(zip(data.tasks, maps)):
            cmap, lo, hi = cmaps[task.kind]
            axes[r, j + 1].imshow(m[i].detach().cpu().numpy(), cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
            if r == 0:
                axes[r, j + 1].set_title(task.name, fontsize=9)
        if r == 0:
            axes[r, 0].set_title("image", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
        ax.grid(False)
    return fig


def mask_figure(masks: Sequence[torch.Tensor], image: torch.Tensor, task_names: Sequence[str],
                model: int = 0, index: int = 0) -> Figure:
    """MTAN masks of one image: for each task (row) and block (column), the mask averaged over its
    channels, a_i^{(j)} ∈ (0, 1). ``masks`` as returned by :meth:`DenseMTAN.masks`."""
    k, blocks = len(task_names), len(masks)
    fig, axes = plt.subplots(k, blocks + 1, figsize=(1.7 * (blocks + 1), 1.7 * k), squeeze=False)
    for i, name in enumerate(task_names):
        axes[i, 0].imshow(_image(image))
        axes[i, 0].set_ylabel(name, fontsize=9)
        for j, a in enumerate(masks):
            im = axes[i, j + 1].imshow(a[model, i, index].mean(0).detach().cpu().numpy(), cmap="magma",
                                       vmin=0, vmax=1, interpolation="nearest")
            if i == 0:
                axes[i, j + 1].set_title(f"block {j + 1}", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
        ax.grid(False)
    fig.colorbar(im, ax=axes, shrink=0.7, label="mean mask")
    return fig


def alpha_figure(alphas: torch.Tensor, task_names: Sequence[str], init: torch.Tensor | None = None) -> Figure:
    """The learned cross-stitch units, (blocks, K, K), one heat map per block (row k: what task k's
    column receives from each column l)."""
    a = alphas.detach().cpu().numpy()
    blocks, k = a.shape[0], a.shape[1]
    fig, axes = plt.subplots(1, blocks, figsize=(2.3 * blocks, 2.5), squeeze=False)
    lim = max(1.0, float(np.abs(a).max()))
    for j, ax in enumerate(axes[0]):
        im = ax.imshow(a[j], cmap="RdBu_r", vmin=-lim, vmax=lim)
        for r in range(k):
            for c in range(k):
                ax.text(c, r, f"{a[j, r, c]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(a[j, r, c]) > 0.6 * lim else "black")
        ax.set_xticks(range(k), task_names, rotation=45, fontsize=7)
        ax.set_yticks(range(k), task_names if j == 0 else [""] * k, fontsize=7)
        ax.set_title(f"α after block {j + 1}", fontsize=9)
        ax.grid(False)
    fig.colorbar(im, ax=axes, shrink=0.8)
    return fig


def metrics_figure(metrics: dict, tasks: Sequence) -> Figure:
    """One panel per task: each architecture's test metric, mean ± std over the side-by-side seeds.
    ``metrics`` maps a name to a (seeds, K) tensor."""
    names = list(metrics)
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.0 * len(tasks), 2.8), squeeze=False)
    for k, (ax, task) in enumerate(zip(axes[0], tasks)):
        vals = [metrics[n][:, k].detach().cpu().numpy() for n in names]
        ax.bar(range(len(names)), [v.mean() for v in vals], yerr=[v.std() for v in vals], capsize=3,
               color=[f"C{i}" for i in range(len(names))])
        for i, v in enumerate(vals):
            ax.plot([i] * len(v), v, "k.", ms=4)
        ax.set_xticks(range(len(names)), names, rotation=30, fontsize=8)
        arrow = "↑" if task.higher_is_better else "↓"
        ax.set_title(f"{task.name}: {task.metric_name} {arrow}", fontsize=9)
        lo = min(v.min() for v in vals)
        ax.set_ylim(max(0.0, lo - 0.15 * abs(lo) - 0.02), None)
    return fig


def scene_view(data: MultiTaskData, predictions: dict, index: int, network: str) -> dict:
    """Pure: one test scene, its shapes, and ``network``'s predicted maps with per-task scores.

    ``predictions`` maps a network's name to its K predicted maps (N, H, W) of the first N images of
    ``data`` (classes, depth, 0/1 edges, as :meth:`DenseTask.predict` gives them)."""
    if network not in predictions:
        raise ValueError(f"network must be one of {list(predictions)}, got {network!r}")
    maps = predictions[network]
    n = len(maps[0])
    if not 0 <= index < n:
        raise ValueError(f"index must be in [0, {n}), got {index}")
    from mtlbook.data.scenes import CLASSES

    scores = []
    for task, m, y in zip(data.tasks, maps, data.targets):
        p, t = m[index], y[index]
        if task.kind == "segmentation":
            scores.append(("pixel accuracy", float((p == t).float().mean())))
        elif task.kind == "depth":
            scores.append(("abs. error", float((p - t).abs().mean())))
        else:
            tp, wrong = float((p.bool() & t.bool()).sum()), float((p.bool() ^ t.bool()).sum())
            scores.append(("F1", 2 * tp / (2 * tp + wrong) if tp + wrong else 1.0))
    shapes = [CLASSES[s.cls] for s in data.meta.get("shapes", [[]] * len(data))[index]]
    return {"index": index, "network": network, "shapes": shapes, "scores": scores,
            "names": data.task_names, "figure": (data.subset(slice(index, index + 1)),
                                                 {network: [m[index:index + 1] for m in maps]})}


def _render_scene(r: dict):
    shapes = ", ".join(r["shapes"]) if r["shapes"] else "no shape"
    lines = [f"test image {r['index']}: {shapes} ({len(r['shapes'])} shape{'s' * (len(r['shapes']) != 1)})"]
    lines += [f"{r['network']}: " + "; ".join(f"{n} {m} {v:.3f}" for n, (m, v) in zip(r["names"], r["scores"]))]
    data, preds = r["figure"]
    return "\n".join(lines), scenes_figure(data, [0], predictions=preds)


def scene_explorer(data: MultiTaskData, predictions: dict) -> Explorer:
    """An image slider and a network picker over precomputed predictions (:func:`scene_view`)."""
    n = len(next(iter(predictions.values()))[0])
    controls = {"image": int_slider(0, 0, n - 1, "test image"),
                "network": dropdown(list(predictions), list(predictions)[0], "network")}
    return explorer(lambda image, network: scene_view(data, predictions, image, network), _render_scene,
                    controls, title="Scenes and predictions")
