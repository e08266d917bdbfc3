"""Chapter 2: sharing architectures side by side, on regression tasks with planted relatedness.

:func:`architecture_grid` trains every architecture of :data:`ARCHITECTURES` for each task
relatedness ρ, width and seed (one batched program per architecture and width, see
:mod:`mtlbook.models.side_by_side`); :func:`pick_architecture` reads one point of that grid (the
pure function behind :func:`architecture_picker`), and :func:`alpha_matrix` the learned mixing
units of cross-stitch and sluice (behind :func:`alpha_viewer`). :func:`draw_architectures` and
:func:`draw_tree` are the small diagrams of the chapter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from mtlbook import models as M
from mtlbook.data.core import Split
from mtlbook.models.fully_adaptive import SharingTree
from mtlbook.plotting import heatmap
from mtlbook.tasks import Task, delta_m
from mtlbook.widgets import Explorer, choice_slider, dropdown, explorer

LABELS = {"single_task": "single-task", "hard_sharing": "hard sharing", "soft_sharing": "soft sharing",
          "cross_stitch": "cross-stitch", "sluice": "sluice", "mrn": "MRN", "mtan": "MTAN",
          "mmoe": "MMoE", "fully_adaptive": "fully-adaptive"}


def mrn_shared_init(tasks: Sequence[Task], input_shape, *, width: int = 64, strength: float = 1e-3,
                    eps: float = 1e-4) -> M.MultilinearRelationship:
    """An MRN whose task heads all start from one draw, as MRN's task-specific layers start from
    one pretrained layer: related tasks' heads then stay alike, and Σ3 can see it (heads drawn
    independently differ by an arbitrary permutation of their hidden units)."""
    net = M.mrn(tasks, input_shape, width=width, strength=strength, eps=eps)
    for head in net.heads[1:]:
        head.load_state_dict(net.heads[0].state_dict())
    return net


def architecture_builders(tasks: Sequence[Task], input_shape, width: int) -> dict[str, Callable[[], nn.Module]]:
    """The trained architectures of the chapter (MLP backbone of depth 2 and ``width``), by name."""
    tasks = tuple(tasks)
    return {
        "single_task": lambda: M.single_task_networks(tasks, input_shape, width=width),
        "hard_sharing": lambda: M.hard_sharing(tasks, input_shape, width=width),
        "soft_sharing": lambda: M.soft_sharing(tasks, input_shape, width=width, strength=1e-2),
        "cross_stitch": lambda: M.cross_stitch(tasks, input_shape, width=width),
        "sluice": lambda: M.sluice(tasks, input_shape, width=width, orthogonality=1e-6),
        "mrn": lambda: mrn_shared_init(tasks, input_shape, width=width),
    }


ARCHITECTURES = tuple(architecture_builders([Task("t", "regression")], 1, 1))


@dataclass
class ArchitectureGrid:
    """Test metrics ``metrics[a, w, r, s, k]`` of architecture a, width w, relatedness r, seed s,
    task k; ``parameters[a, w]``; the trained models ``runs[(a, w)]`` (a SideBySide each)."""

    architectures: tuple[str, ...]
    widths: tuple[int, ...]
    rhos: tuple[float, ...]
    task_names: tuple[str, ...]
    higher_is_better: tuple[bool, ...]
    metrics: Tensor
    parameters: dict[tuple[str, int], int]
    groups: Tensor
    runs: dict = field(default_factory=dict, repr=False)

    def delta_m(self) -> Tensor:
        """Δm (%) of every run against the seed-mean of single-task networks: (A, W, R, S)."""
        base = self.metrics[self.architectures.index("single_task")].mean(2, keepdim=True)
        return delta_m(self.metrics, base[None], self.higher_is_better)


def architecture_grid(splits: Sequence[Split], rhos: Sequence[float], widths: Sequence[int], *,
                      seeds: int = 3, steps: int = 200, lr: float = 3e-3, batch_size: int = 64,
                      architectures: Sequence[str] = ARCHITECTURES, seed: int = 0) -> ArchitectureGrid:
    """Train every architecture for each width on every split (one per ρ) with ``seeds`` seeds."""
    if len(splits) != len(rhos):
        raise ValueError(f"need one split per relatedness value: {len(splits)} splits, {len(rhos)} rhos")
    unknown = [a for a in architectures if a not in ARCHITECTURES]
    if unknown or "single_task" not in architectures:
        raise ValueError(f"architectures must include 'single_task' and come from {ARCHITECTURES}, "
                         f"got {list(architectures)}")
    tasks, shape = splits[0].tasks, tuple(splits[0].train.x.shape[1:])
    groups = torch.as_tensor(splits[0].train.meta.get("group", torch.arange(len(tasks))))
    metrics = torch.empty(len(architectures), len(widths), len(rhos), seeds, len(tasks))
    parameters, runs = {}, {}
    for i, a in enumerate(architectures):
        for j, w in enumerate(widths):
            make = architecture_builders(tasks, shape, w)[a]
            run = M.train_side_by_side(make, splits, seeds=seeds, steps=steps, lr=lr,
                                       batch_size=batch_size, seed=seed)
            metrics[i, j] = run.grid()
            parameters[(a, w)] = M.count_parameters(run.models[0])
            runs[(a, w)] = run
    return ArchitectureGrid(tuple(architectures), tuple(widths), tuple(float(r) for r in rhos),
                            tuple(t.name for t in tasks), tuple(t.higher_is_better for t in tasks),
                            metrics, parameters, groups, runs)


def _index(options: Sequence, value, name: str) -> int:
    if value not in options:
        raise ValueError(f"{name} must be one of the computed values {list(options)}, got {value!r}")
    return list(options).index(value)


def pick_architecture(grid: ArchitectureGrid, architecture: str, rho: float, width: int) -> dict:
    """Pure: parameter count, per-task metric (mean and std over seeds) and Δm of one grid point,
    with the seed-mean Δm of every architecture at the same (ρ, width) for comparison."""
    a = _index(grid.architectures, architecture, "architecture")
    w = _index(grid.widths, width, "width")
    r = _index(grid.rhos, float(rho), "rho")
    m = grid.metrics[a, w, r]                                         # (S, K)
    dm = grid.delta_m()[:, w, r]                                      # (A, S)
    order = sorted(range(len(grid.architectures)), key=lambda i: -float(dm[i].mean()))
    return {"architecture": architecture, "rho": float(rho), "width": width,
            "parameters": grid.parameters[(architecture, width)],
            "stl_parameters": grid.parameters[("single_task", width)],
            "metric_mean": m.mean(0), "metric_std": m.std(0) if m.shape[0] > 1 else torch.zeros(m.shape[1]),
            "delta_m": float(dm[a].mean()), "delta_m_std": float(dm[a].std()) if dm.shape[1] > 1 else 0.0,
            "all_delta_m": {grid.architectures[i]: float(dm[i].mean()) for i in range(len(dm))},
            "rank": order.index(a) + 1, "seeds": m.shape[0], "task_names": grid.task_names}


def _render_pick(r: dict):
    tasks = ", ".join(f"{n} {mu:.3f}±{sd:.3f}" for n, mu, sd in
                      zip(r["task_names"], r["metric_mean"].tolist(), r["metric_std"].tolist()))
    text = (f"{LABELS[r['architecture']]}, relatedness {r['rho']:.1f}, width {r['width']}: "
            f"{r['parameters']} parameters ({r['parameters'] / r['stl_parameters']:.2f} x single-task)\n"
            f"test MSE per task (mean±std over {r['seeds']} seeds): {tasks}\n"
            f"Δm against single-task: {r['delta_m']:+.1f}% ± {r['delta_m_std']:.1f}%, "
            f"rank {r['rank']} of {len(r['all_delta_m'])}")
    names = list(r["all_delta_m"])
    vals = [r["all_delta_m"][n] for n in names]
    fig, ax = plt.subplots(figsize=(5.6, 3.0))
    colors = ["#d62728" if n == r["architecture"] else "#9aa7b8" for n in names]
    ax.barh(range(len(names)), vals, color=colors)
    ax.set_yticks(range(len(names)), [LABELS[n] for n in names])
    ax.axvline(0, color="black", lw=0.8)
    ax.invert_yaxis()
    ax.set(xlabel="Δm against single-task (%), seed mean", title=f"ρ = {r['rho']:.1f}, width {r['width']}")
    return text, fig


def architecture_picker(grid: ArchitectureGrid) -> Explorer:
    """Architecture, relatedness and width pickers over a precomputed :func:`architecture_grid`."""
    controls = {
        "architecture": dropdown([(LABELS[a], a) for a in grid.architectures], "cross_stitch"
                                 if "cross_stitch" in grid.architectures else grid.architectures[0],
                                 "architecture"),
        "rho": choice_slider([(f"{v:.1f}", v) for v in grid.rhos], grid.rhos[-1], "relatedness ρ"),
        "width": choice_slider(list(grid.widths), grid.widths[-1], "width"),
    }
    return explorer(lambda architecture, rho, width: pick_architecture(grid, architecture, rho, width),
                    _render_pick, controls, title="Which sharing architecture?")


def alpha_matrix(grid: ArchitectureGrid, architecture: str, rho: float, width: int, layer: int,
                 seed: int = 0) -> dict:
    """Pure: the learned mixing unit α of one cross-stitch or sluice network, with its mean
    diagonal, within-group and across-group entries (the planted groups of the data) and, for
    sluice, the layer weights β."""
    if architecture not in ("cross_stitch", "sluice"):
        raise ValueError(f"architecture must be 'cross_stitch' or 'sluice', got {architecture!r}")
    w = _index(grid.widths, width, "width")
    r = _index(grid.rhos, float(rho), "rho")
    run = grid.runs[(architecture, grid.widths[w])]
    if not 0 <= seed < run.seeds:
        raise ValueError(f"seed must be in [0, {run.seeds}), got {seed}")
    model = run.models[r * run.seeds + seed]
    if not 0 <= layer < len(model.alphas):
        raise ValueError(f"layer must be in [0, {len(model.alphas)}), got {layer}")
    alpha = model.alphas[layer].detach().clone()
    g = 1 if architecture == "cross_stitch" else model.subspaces
    k = model.num_tasks
    groups = grid.groups
    task_of = torch.arange(k * g) // g
    same_task = task_of[:, None] == task_of[None, :]
    same_group = groups[task_of][:, None] == groups[task_of][None, :]
    def mean(mask):
        return float(alpha[mask].mean()) if bool(mask.any()) else float("nan")
    beta = model.beta.detach().clone() if architecture == "sluice" and model.mixed_stages else None
    labels = [grid.task_names[t] + (f"/{s + 1}" if g > 1 else "") for t in range(k) for s in range(g)]
    return {"architecture": architecture, "rho": float(rho), "width": width, "layer": layer,
            "alpha": alpha, "labels": labels, "same_task": mean(same_task),
            "within_group": mean(~same_task & same_group), "across_group": mean(~same_group),
            "beta": beta}


def _render_alpha(r: dict):
    n = len(r["labels"])
    text = (f"{LABELS[r['architecture']]}, ρ = {r['rho']:.1f}, width {r['width']}, unit after layer "
            f"{r['layer'] + 1}: a {n}x{n} matrix\n"
            f"mean α within a task {r['same_task']:.2f}, between the tasks of a group "
            f"{r['within_group']:.2f}, across groups {r['across_group']:.2f}")
    if r["beta"] is not None:
        rows = "; ".join(" ".join(f"{v:.2f}" for v in row) for row in r["beta"].tolist())
        text += f"\nβ (one row per task, one column per layer): {rows}"
    fig, ax = plt.subplots(figsize=(1.6 + 0.5 * len(r["labels"]), 1.2 + 0.45 * len(r["labels"])))
    heatmap(r["alpha"], r["labels"], ax=ax, vmin=-1.2, vmax=1.2, fmt="{:.2f}",
            title="learned α (row: receiving, column: sending)")
    return text, fig


def alpha_viewer(grid: ArchitectureGrid) -> Explorer:
    """The learned α of cross-stitch and sluice at each grid point and layer."""
    controls = {
        "architecture": dropdown([("cross-stitch", "cross_stitch"), ("sluice", "sluice")],
                                 "cross_stitch", "network"),
        "rho": choice_slider([(f"{v:.1f}", v) for v in grid.rhos], grid.rhos[-1], "relatedness ρ"),
        "width": choice_slider(list(grid.widths), grid.widths[-1], "width"),
        "layer": dropdown([("after layer 1", 0), ("after layer 2", 1)], 0, "unit"),
    }
    return explorer(lambda architecture, rho, width, layer: alpha_matrix(grid, architecture, rho, width, layer),
                    _render_alpha, controls, title="Learned mixing units")


# ---------------------------------------------------------------------------------------- diagrams

_TASK = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
_SHARED = "#b9c2cf"


def _box(ax, x, y, text="", color=_SHARED, w=0.8, h=0.5, **kw):
    ax.add_patch(plt.Rectangle((x - w / 2, y - h / 2), w, h, facecolor=color, edgecolor="black",
                               lw=0.8, **kw))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=7)


def _line(ax, a, b, **kw):
    ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="-|>", lw=0.8, color=kw.get("color", "black"),
                                                    linestyle=kw.get("ls", "-"), shrinkA=0, shrinkB=0))


def _columns(ax, xs, layers=2, colors=_TASK, labels=("layer 1", "layer 2")):
    for i, x in enumerate(xs):
        _line(ax, (x, -0.35), (x, -0.05))
        for l in range(layers):
            _box(ax, x, 0.3 + l, labels[l], colors[i])
            if l < layers - 1:
                _line(ax, (x, 0.55 + l), (x, 1.05 + l))


def _heads(ax, xs, y=2.3, colors=_TASK):
    for i, x in enumerate(xs):
        _box(ax, x, y, f"head {'AB'[i]}", colors[i], w=0.7, h=0.4)


def draw_architecture(ax, name: str) -> None:
    """A small two-task diagram of architecture ``name`` (input at the bottom, heads on top)."""
    ax.set_xlim(-0.9, 2.9)
    ax.set_ylim(-0.6, 2.75)
    ax.axis("off")
    ax.set_title(LABELS.get(name, name), fontsize=9)
    xs = (0.4, 1.6)
    if name in ("hard_sharing", "mrn"):
        _columns(ax, [1.0], colors=[_SHARED])
        for x in xs:
            _line(ax, (1.0, 1.55), (x, 2.1))
        if name == "mrn":
            for i, x in enumerate(xs):
                _box(ax, x, 1.95, "fc", _TASK[i], w=0.5, h=0.3)
            ax.text(1.0, 2.62, "prior N(0, Σ₁⊗Σ₂⊗Σ₃)", ha="center", fontsize=6.5)
            _heads(ax, xs, y=2.38)
        else:
            _heads(ax, xs)
    elif name in ("single_task", "soft_sharing", "cross_stitch", "sluice"):
        _columns(ax, xs)
        for i, x in enumerate(xs):
            _line(ax, (x, 1.55), (x, 2.1))
        _heads(ax, xs)
        if name == "soft_sharing":
            for l in range(2):
                ax.plot([0.8, 1.2], [0.3 + l, 0.3 + l], ls="--", color="black", lw=0.8)
            ax.text(1.0, 2.62, "+ λ Σ‖θA − θB‖²", ha="center", fontsize=6.5)
        if name in ("cross_stitch", "sluice"):
            for l in range(2):
                y = 0.8 + l
                ax.plot([xs[0], xs[1]], [y - 0.1, y + 0.1], color="black", lw=0.8)
                ax.plot([xs[0], xs[1]], [y + 0.1, y - 0.1], color="black", lw=0.8)
                ax.text(1.0, y + 0.12, "α", ha="center", fontsize=8)
        if name == "sluice":
            for i, x in enumerate(xs):
                for l in range(2):
                    ax.plot([x, x], [0.05 + l, 0.55 + l], color="white", lw=1.2)
                ax.plot([x + 0.45, x + 0.45], [0.3, 2.0], ls=":", color=_TASK[i], lw=1)
                ax.text(x + 0.5, 1.5, "β", fontsize=7, color=_TASK[i])
    elif name == "mtan":
        _columns(ax, [1.0], colors=[_SHARED])
        for i, x in enumerate((0.0, 2.0)):
            for l in range(2):
                _box(ax, x, 0.3 + l, "mask", _TASK[i], w=0.55, h=0.4)
                ax.text((x + 1.0) / 2, 0.38 + l, "⊙", ha="center", fontsize=9)
            _line(ax, (x, 1.5), (x, 2.1))
        _heads(ax, (0.0, 2.0))
    elif name == "mmoe":
        for e, x in enumerate((0.2, 1.0, 1.8)):
            _box(ax, x, 0.5, f"expert {e + 1}", _SHARED, w=0.7)
            _line(ax, (x, -0.35), (x, 0.25))
        for i, x in enumerate(xs):
            _box(ax, x, 1.5, "gate", _TASK[i], w=0.6, h=0.4)
            for xe in (0.2, 1.0, 1.8):
                _line(ax, (xe, 0.75), (x, 1.3), color="#777777")
            _line(ax, (x, 1.7), (x, 2.1))
        _heads(ax, xs)
    else:
        raise ValueError(f"no diagram for {name!r}")
    ax.text(1.0, -0.5, "input x", ha="center", fontsize=7)


def draw_architectures(names: Sequence[str], ncols: int = 4) -> Figure:
    """The diagrams of ``names`` in one figure."""
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 2.2 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        draw_architecture(ax, name)
    fig.tight_layout()
    return fig


def draw_tree(tree: SharingTree, task_names: Sequence[str], *, ax=None, title: str | None = None) -> Figure:
    """The network of a :class:`SharingTree`: one box per copy of a layer (bottom: input side),
    coloured by the tasks it serves, edges to the copy it reads."""
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 1.1 * tree.num_tasks, 0.9 * tree.num_layers + 1.6))
    k = tree.num_tasks
    def centre(group):
        return float(np.mean(group))
    for l, groups in enumerate(tree.layers):
        for g, group in enumerate(groups):
            x = centre(group)
            color = _SHARED if len(group) > 1 else _TASK[group[0] % len(_TASK)]
            _box(ax, x, l, "+".join(str(t) for t in group) if len(group) < k else "all",
                 color, w=0.35 + 0.9 * (max(group) - min(group)), h=0.45)
            if l:
                p = tree.layers[l - 1][tree.parent(l, g)]
                _line(ax, (centre(p), l - 1 + 0.225), (x, l - 0.225))
    top = tree.num_layers
    for t in range(k):
        g = next(grp for grp in tree.layers[-1] if t in grp)
        _line(ax, (centre(g), top - 1 + 0.225), (t, top - 0.2))
        ax.text(t, top, task_names[t], ha="center", va="bottom", fontsize=8)
    ax.set_xlim(-0.8, k - 0.2)
    ax.set_ylim(-0.6, top + 0.5)
    ax.set_yticks(range(tree.num_layers), [f"layer {l + 1}" for l in range(tree.num_layers)])
    ax.set_xticks([])
    ax.grid(False)
    for s in ("top", "right", "bottom"):
        ax.spines[s].set_visible(False)
    if title:
        ax.set_title(title)
    return ax.figure
