"""Chapter 4: a 2-D gradient playground. Two or three task gradients in the plane, their convex hull,
MGDA's min-norm point, PCGrad's projections and CAGrad's direction, with every ⟨g_k, d⟩."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from mtlbook.aggregation.directions import cagrad_weights, pcgrad_projections
from mtlbook.aggregation.gram import gram_matrix
from mtlbook.aggregation.min_norm import min_norm_weights
from mtlbook.widgets import Explorer, explorer, int_slider, slider

DIRECTIONS = ("mean", "mgda", "pcgrad", "cagrad")


def _check_real(name: str, value, lo: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value) or (lo is not None and value < lo):
        bound = f" >= {lo}" if lo is not None else ""
        raise ValueError(f"{name} must be a finite number{bound}, got {value}")
    return float(value)


def playground(angles, norms, c: float = 0.5) -> dict:
    """Pure: the directions of the chapter's methods for K = 2 or 3 gradients in the plane.

    ``angles`` (degrees) and ``norms`` give g_k = norm_k (cos θ_k, sin θ_k). Returns the gradients
    (K, 2); MGDA's simplex weights α and its direction d = Σ α_k g_k, the min-norm point of the
    convex hull (Sener & Koltun 2018, eq. 3); PCGrad's projected gradients g_k^PC (Yu et al. 2020,
    Algorithm 1; for K = 3 the projection order comes from a generator seeded with 0) and their sum;
    CAGrad's direction with radius ``c`` (Liu et al. 2021, eq. 3, divided by 1 + c); the mean
    gradient; and for each direction d the inner products ⟨g_k, d⟩ (a negative one means that a
    small step along −d increases L_k) and the coefficients on the raw gradients.
    """
    angles, norms = list(angles), list(norms)
    if len(angles) not in (2, 3):
        raise ValueError(f"angles must give 2 or 3 task gradients, got {len(angles)}")
    if len(norms) != len(angles):
        raise ValueError(f"norms must have one entry per angle ({len(angles)}), got {len(norms)}")
    th = [math.radians(_check_real(f"angles[{k}]", a)) for k, a in enumerate(angles)]
    rs = [_check_real(f"norms[{k}]", r, 0.0) for k, r in enumerate(norms)]
    c = _check_real("c", c, 0.0)
    k = len(th)
    grads = torch.tensor([[r * math.cos(t), r * math.sin(t)] for t, r in zip(th, rs)],
                         dtype=torch.float64)
    gram = gram_matrix(grads)
    alpha = min_norm_weights(grads)
    projections = pcgrad_projections(grads, torch.Generator().manual_seed(0))
    coef = {"mean": torch.full((k,), 1.0 / k, dtype=torch.float64), "mgda": alpha,
            "cagrad": cagrad_weights(gram, c)}
    dirs = {name: w @ grads for name, w in coef.items()}
    dirs["pcgrad"] = projections.sum(0)
    dirs = {name: dirs[name] for name in DIRECTIONS}
    inner = {name: grads @ d for name, d in dirs.items()}
    return {"grads": grads, "alpha": alpha, "projections": projections, "directions": dirs,
            "inner": inner, "coefficients": coef, "c": c, "gram": gram,
            "conflicts": [(i, j) for i in range(k) for j in range(i + 1, k) if gram[i, j] < 0]}


_COLORS = {"mean": "tab:gray", "mgda": "tab:red", "pcgrad": "tab:green", "cagrad": "tab:purple"}
_TASK_COLORS = ("tab:blue", "tab:orange", "tab:olive")


def _signed(v) -> str:
    """+0.123 / -0.123, with values that round to zero printed as +0.000 (never -0.000)."""
    return f"{(round(float(v), 3) or 0.0):+.3f}"


def playground_text(r: dict) -> str:
    """The readout: the conflicting pairs, MGDA's weights, and ⟨g_k, d⟩ for every direction."""
    k = len(r["grads"])
    pairs = ", ".join(f"(g{i + 1}, g{j + 1})" for i, j in r["conflicts"]) or "none"
    lines = [f"{k} tasks; conflicting pairs (<g_i, g_j> < 0): {pairs}",
             "MGDA weights alpha: " + ", ".join(f"{float(a):.3f}" for a in r["alpha"])
             + f"; |d_MGDA| = {round(float(r['directions']['mgda'].norm()), 3) or 0.0:.3f}"]
    for name in DIRECTIONS:
        vals = ", ".join(_signed(v) for v in r["inner"][name])
        label = f"cagrad (c={r['c']:.2f})" if name == "cagrad" else name
        lines.append(f"{label:>15}: <g_k, d> = {vals}")
    return "\n".join(lines)


def playground_figure(r: dict):
    """The plane: gradients, their convex hull, the min-norm point, PCGrad's projections, the
    directions of the mean, MGDA, PCGrad and CAGrad."""
    g = r["grads"].numpy()
    fig, ax = plt.subplots(figsize=(5.4, 5.0))
    hull = g if len(g) == 2 else g[[0, 1, 2, 0]]
    if len(g) == 3:
        ax.fill(*hull.T, color="tab:red", alpha=0.08, lw=0)
    ax.plot(*hull.T, color="tab:red", lw=1, alpha=0.5, label="convex hull of the g_k")
    for i, (gi, pi) in enumerate(zip(g, r["projections"].numpy())):
        ax.annotate("", gi, (0, 0), arrowprops={"arrowstyle": "->", "color": _TASK_COLORS[i], "lw": 2})
        ax.text(*(1.08 * gi), f"g{i + 1}", color=_TASK_COLORS[i], ha="center", va="center")
        if not np.allclose(pi, gi):
            ax.annotate("", pi, (0, 0), arrowprops={"arrowstyle": "->", "color": "tab:green",
                                                     "lw": 1, "ls": "--"})
    for name in DIRECTIONS:
        d = r["directions"][name].numpy()
        ax.annotate("", d, (0, 0), arrowprops={"arrowstyle": "-|>", "color": _COLORS[name], "lw": 2.2})
        ax.plot([], [], color=_COLORS[name], lw=2.2, label={"mgda": "MGDA (min-norm point)",
                                                             "pcgrad": "PCGrad (sum of projections)",
                                                             "cagrad": f"CAGrad (c={r['c']:.2f})",
                                                             "mean": "mean gradient"}[name])
    dm = r["directions"]["mgda"].numpy()
    ax.plot(*dm, "o", color="tab:red", ms=6)
    pts = np.vstack([g, np.zeros((1, 2)), *[d.numpy()[None] for d in r["directions"].values()]])
    lim = 1.25 * max(1e-3, float(np.abs(pts).max()))
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal",
           title="task gradients and update directions (dashed: PCGrad's projections)")
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.legend(loc="lower left", fontsize=7)
    return fig


def gradient_playground() -> Explorer:
    """Sliders for the number of tasks, the angle and norm of each gradient, and CAGrad's c."""
    controls = {"tasks": int_slider(2, 2, 3, "tasks")}
    for k, (ang, nrm) in enumerate(((0.0, 1.0), (120.0, 2.0), (240.0, 1.0))):
        controls[f"angle{k + 1}"] = slider(ang, -180.0, 360.0, 5.0, f"angle of g{k + 1} (deg)",
                                           readout_format=".0f")
        controls[f"norm{k + 1}"] = slider(nrm, 0.0, 3.0, 0.05, f"norm of g{k + 1}")
    controls["c"] = slider(0.5, 0.0, 2.0, 0.05, "CAGrad c")

    def compute(tasks, angle1, norm1, angle2, norm2, angle3, norm3, c):
        angles, norms = [angle1, angle2, angle3][:tasks], [norm1, norm2, norm3][:tasks]
        return playground(angles, norms, c)

    return explorer(compute, lambda r: (playground_text(r), playground_figure(r)), controls,
                    title="Gradient playground: MGDA, PCGrad and CAGrad in the plane",
                    layout="horizontal")
