"""Chapter 5: TAG's lookahead affinity over training, and the groups it selects under a budget."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor

from mtlbook.grouping import select_networks
from mtlbook.widgets import Explorer, explorer, int_slider


def _fmt(groups) -> str:
    return " ".join("{" + ",".join(str(i) for i in g) + "}" for g in groups)


def affinity_snapshot(history: Tensor, measured_at: Sequence[int], index: int, budget: int,
                      planted: Sequence[Sequence[int]] | None = None) -> dict:
    """Pure: TAG's running average Ẑ over the first ``index + 1`` measurements and its selection.

    ``history`` (T, K, K) holds the measurements Z^t (``[source, target]``; average seeds first),
    ``measured_at`` their training steps. Returns Ẑ, the selected ``groups`` (at most ``budget``
    networks, :func:`mtlbook.grouping.select_networks`), which group serves each task, the mean
    score, and whether the groups equal ``planted`` (as sets of sets).
    """
    if not isinstance(history, Tensor) or history.dim() != 3 or history.shape[1] != history.shape[2]:
        raise ValueError(f"history must be a (T, K, K) tensor, got "
                         f"{tuple(history.shape) if isinstance(history, Tensor) else type(history).__name__}")
    if len(measured_at) != history.shape[0]:
        raise ValueError(f"measured_at must give a step for each of the {history.shape[0]} measurements, "
                         f"got {len(measured_at)}")
    if not isinstance(index, int) or not 0 <= index < history.shape[0]:
        raise ValueError(f"index must be an int in [0, {history.shape[0]}), got {index!r}")
    z = history[:index + 1].mean(0)
    sel = select_networks(z, budget)
    recovered = None
    if planted is not None:
        recovered = {frozenset(g) for g in sel.groups} == {frozenset(g) for g in planted}
    return {"z": z, "step": int(measured_at[index]), "index": index, "budget": budget,
            "groups": sel.groups, "served_by": sel.served_by, "score": sel.score,
            "recovered": recovered, "measurements": index + 1}


def _render(r: dict, names: Sequence[str]):
    lines = [f"budget {r['budget']}, Z averaged over the first {r['measurements']} measurements: "
             f"groups {_fmt(r['groups'])}"]
    if r["recovered"] is not None:
        lines[0] += f" (planted groups: {r['recovered']})"
    lines.append(f"up to step {r['step']}; mean score of the serving groups {r['score']:.3g}")
    z = r["z"].numpy().astype(float).copy()
    np.fill_diagonal(z, np.nan)
    lim = float(np.nanmax(np.abs(z))) or 1.0
    fig, ax = plt.subplots(figsize=(4.8, 4.0))
    im = ax.imshow(z, cmap="RdBu", vmin=-lim, vmax=lim)
    k = len(names)
    ax.set_xticks(range(k), names, rotation=45)
    ax.set_yticks(range(k), names)
    ax.set(xlabel="target task j", ylabel="source task i",
           title=f"lookahead affinity Ẑ (i→j), up to step {r['step']}")
    ax.grid(False)
    for g, members in enumerate(r["groups"]):
        for i in members:
            for j in members:
                if i != j:
                    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2, color=f"C{g % 10}"))
    fig.colorbar(im, ax=ax, shrink=0.85)
    return "\n".join(lines), fig


def grouping_explorer(history: Tensor, measured_at: Sequence[int], task_names: Sequence[str],
                      planted: Sequence[Sequence[int]] | None = None, max_budget: int = 3) -> Explorer:
    """A time slider (``time``: how many measurements are averaged) and a ``budget`` slider over a
    recorded affinity history (see :func:`affinity_snapshot`)."""
    if len(task_names) != history.shape[-1]:
        raise ValueError(f"task_names must name the {history.shape[-1]} tasks, got {len(task_names)}")
    last = history.shape[0] - 1
    controls = {"time": int_slider(last, 0, last, "measurements − 1"),
                "budget": int_slider(min(max_budget, 3), 1, max_budget, "networks B")}
    return explorer(lambda time, budget: affinity_snapshot(history, measured_at, time, budget, planted),
                    lambda r: _render(r, task_names), controls, title="Lookahead affinity over training")
