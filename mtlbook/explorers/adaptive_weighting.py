"""Chapter 3: adaptive loss weightings. A method picker and a hyperparameter picker (GradNorm's and
LBTW's α, DWA's temperature T, DTP's focusing γ) over a precomputed grid of training runs, showing
the weight traces and the per-task test curves against equal weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from mtlbook.weighting.runs import Run
from mtlbook.widgets import Explorer, choice_slider, dropdown, explorer

LABELS = {"equal": "equal weights", "gradnorm": "GradNorm", "dwa": "DWA", "dtp": "DTP",
          "dtp_normalized": "DTP (renormalized)", "lbtw": "LBTW", "random": "random weights",
          "uncertainty": "uncertainty weighting"}


@dataclass
class WeightingGrid:
    """Single-model runs keyed by (method, setting index): ``methods[m] = (name, values)`` names the
    hyperparameter of method m and its grid (``("", (None,))`` for a method without one);
    ``runs[(m, i)]`` is the run at ``values[i]``; ``runs[(baseline, 0)]`` is the reference."""

    methods: dict[str, tuple[str, tuple]]
    runs: dict[tuple[str, int], Run]
    baseline: str = "equal"

    def __post_init__(self):
        if (self.baseline, 0) not in self.runs:
            raise ValueError(f"runs must hold the baseline run ({self.baseline!r}, 0)")
        for m, (_, values) in self.methods.items():
            missing = [i for i in range(len(values)) if (m, i) not in self.runs]
            if missing:
                raise ValueError(f"method {m!r} lacks runs for settings {missing}")
        for key, run in self.runs.items():
            if run.weights.shape[1] != 1:
                raise ValueError(f"run {key} holds {run.weights.shape[1]} models: use Run.model(e)")

    @property
    def levels(self) -> int:
        return max(len(v) for _, v in self.methods.values())


def grid_from_runs(methods: Mapping[str, tuple[str, Sequence]], runs: Mapping[str, Run | Sequence[Run]],
                   baseline: Run, baseline_name: str = "equal") -> WeightingGrid:
    """Assemble a grid: ``runs[m]`` is one side-by-side Run whose models are the settings of m in
    order (or a list of single-model runs)."""
    out = {(baseline_name, 0): baseline.model(0)}
    for m, (_, values) in methods.items():
        r = runs[m]
        parts = [r.model(i) for i in range(r.weights.shape[1])] if isinstance(r, Run) else \
            [x.model(0) for x in r]
        if len(parts) != len(values):
            raise ValueError(f"method {m!r}: {len(values)} settings but {len(parts)} runs")
        out.update({(m, i): p for i, p in enumerate(parts)})
    return WeightingGrid({m: (n, tuple(v)) for m, (n, v) in methods.items()}, out, baseline_name)


def _tail_mean(w: torch.Tensor) -> torch.Tensor:
    n = max(1, w.shape[0] // 10)
    return w[-n:].mean(0)


def weighting_view(grid: WeightingGrid, method: str, level: int) -> dict:
    """Pure: the run of ``method`` at setting ``level`` (clipped to the method's grid) and the
    baseline: final weights (mean over the last tenth of the steps), final per-task curves, and
    per task whether the method ends better than the baseline."""
    if method not in grid.methods:
        raise ValueError(f"method must be one of {sorted(grid.methods)}, got {method!r}")
    if not isinstance(level, int) or level < 0:
        raise ValueError(f"level must be an int >= 0, got {level!r}")
    name, values = grid.methods[method]
    i = min(level, len(values) - 1)
    run, base = grid.runs[(method, i)], grid.runs[(grid.baseline, 0)]
    final, base_final = run.curves[-1, 0], base.curves[-1, 0]
    lower = run.metric != "test accuracy"
    better = (final < base_final) if lower else (final > base_final)
    return {"method": method, "setting": name, "value": values[i], "run": run, "baseline": base,
            "weights": _tail_mean(run.weights[:, 0]), "final": final, "baseline_final": base_final,
            "better": better, "metric": run.metric, "tasks": run.task_names}


def _fmt(v) -> str:
    return "-" if v is None else f"{v:g}"


def _render(r: dict):
    title = LABELS.get(r["method"], r["method"]) + (f", {r['setting']} = {_fmt(r['value'])}" if r["setting"] else "")
    w = ", ".join(f"{t} {x:.2f}" for t, x in zip(r["tasks"], r["weights"].tolist()))
    fin = ", ".join(f"{t} {x:.3f}" for t, x in zip(r["tasks"], r["final"].tolist()))
    base = ", ".join(f"{t} {x:.3f}" for t, x in zip(r["tasks"], r["baseline_final"].tolist()))
    wins = int(r["better"].sum())
    text = (f"{title}\nfinal weights: {w}\nfinal {r['metric']}: {fin}\nequal weights: {base}\n"
            f"better than equal weights on {wins} of {len(r['tasks'])} tasks")
    run, base_run = r["run"], r["baseline"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.0, 3.4), layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, t in enumerate(r["tasks"]):
        c = colors[k % len(colors)]
        a.plot(run.weights[:, 0, k].numpy(), color=c, lw=1.2, label=t)
        b.plot(run.eval_steps.numpy(), run.curves[:, 0, k].numpy(), color=c, lw=1.5, label=t)
        b.plot(base_run.eval_steps.numpy(), base_run.curves[:, 0, k].numpy(), color=c, lw=1.0, ls="--")
    a.set(xlabel="step", ylabel="task weight", title="weights")
    b.set(xlabel="step", ylabel=r["metric"], title="test curves (dashed: equal weights)")
    if len(r["tasks"]) <= 4:
        a.legend(fontsize=8)
    return text, fig


def adaptive_weighting_explorer(grid: WeightingGrid, *, method: str | None = None,
                                title: str = "Adaptive loss weighting") -> Explorer:
    """A method dropdown and a setting slider (index into each method's hyperparameter grid) over
    a precomputed :class:`WeightingGrid`."""
    methods = list(grid.methods)
    method = methods[0] if method is None else method
    controls = {
        "method": dropdown([(LABELS.get(m, m), m) for m in methods], method, "method"),
        "level": choice_slider(list(range(grid.levels)), 0, "setting (α, T or γ: low → high)"),
    }
    return explorer(lambda method, level: weighting_view(grid, method, level), _render, controls,
                    title=title)
