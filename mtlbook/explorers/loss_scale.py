"""Chapter 3a: what a change of units of one task's loss does to the update of each loss weighting.

Task ``task``'s loss L becomes c·L + b (scale c, shift b); its gradient becomes c·∇L. Every scheme of
:data:`mtlbook.weighting.SCHEMES` recomputes its weights from the transformed values, and the readout
says how far the update d = Σ_k w_k ∇L_k turned and how its length changed.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor

from mtlbook.plotting import TASK_COLORS
from mtlbook.weighting.scale import SCHEMES, scheme_weights, transformed_update
from mtlbook.widgets import Explorer, dropdown, explorer, slider

SCHEME_LABELS = {"equal": "equal weights", "initial": "1/L(0)", "prior": "1/L_prior",
                 "realtime": "1/L(t)", "gradnorm": "1/‖∇L‖"}

# A two-task problem in two dimensions: task gradients at an angle of about 72°, losses and gradients on
# very different scales (a cross-entropy near log 10 and a squared error), as in the notebook.
DEFAULT_PROBLEM = {
    "grads": ((1.0, 0.15), (2.0, 12.0)),
    "losses": (0.9, 12.0),
    "initial_losses": (2.3, 95.0),
    "prior_losses": (2.3, 16.5),
}


def _as_problem(problem: dict | None) -> dict[str, Tensor]:
    p = DEFAULT_PROBLEM if problem is None else problem
    missing = {"grads", "losses", "initial_losses", "prior_losses"} - set(p)
    if missing:
        raise ValueError(f"problem must give grads, losses, initial_losses and prior_losses, missing {sorted(missing)}")
    out = {k: torch.as_tensor(p[k], dtype=torch.float64) for k in ("grads", "losses", "initial_losses", "prior_losses")}
    if out["grads"].shape != (2, 2):
        raise ValueError(f"problem['grads'] must be two 2-D task gradients (2, 2), got {tuple(out['grads'].shape)}")
    return out


def _angle(u: Tensor, v: Tensor) -> float:
    cross = float(u[0] * v[1] - u[1] * v[0])
    return abs(math.degrees(math.atan2(cross, float(u @ v))))


def loss_scale_updates(scale: float, shift: float, task: int = 1, problem: dict | None = None) -> dict:
    """Pure: each scheme's weights, unit update direction and update norm, before and after task
    ``task``'s loss L becomes ``scale``·L + ``shift``.

    Returns a dict with ``grads`` and ``moved_grads`` (2, 2), and per scheme (``schemes[name]``):
    ``w0``/``w1`` (weights before/after), ``d0``/``d1`` (unit directions), ``angle`` (degrees the update
    turned), ``norm_ratio`` (‖d after‖ / ‖d before‖) and ``changed`` = (direction, magnitude) flags.
    """
    if task not in (0, 1):
        raise ValueError(f"task must be 0 or 1, got {task!r}")
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    if not (isinstance(shift, (int, float)) and math.isfinite(shift)):
        raise ValueError(f"shift must be a finite number, got {shift!r}")
    p = _as_problem(problem)
    c = torch.ones(2, dtype=torch.float64)
    b = torch.zeros(2, dtype=torch.float64)
    c[task], b[task] = float(scale), float(shift)
    for name in ("losses", "initial_losses", "prior_losses"):
        if bool(((c * p[name] + b) <= 0).any()):
            raise ValueError(f"shift {shift} makes a transformed {name.replace('_', ' ')} value <= 0; "
                             f"weights 1/L need positive losses")
    args = (p["losses"], p["initial_losses"], p["prior_losses"], p["grads"])
    schemes = {}
    for s in SCHEMES:
        d0, m0 = transformed_update(s, *args)
        d1, m1 = transformed_update(s, *args, scale=c, shift=b)
        w0 = scheme_weights(s, *args)
        w1 = scheme_weights(s, c * p["losses"] + b, c * p["initial_losses"] + b, c * p["prior_losses"] + b,
                            c[:, None] * p["grads"])
        angle = _angle(d0, d1)
        ratio = float(m1 / m0)
        schemes[s] = {"w0": w0, "w1": w1, "d0": d0, "d1": d1, "norm0": float(m0), "norm1": float(m1),
                      "angle": angle, "norm_ratio": ratio,
                      "changed": (angle > 1e-6, abs(ratio - 1.0) > 1e-9)}
    return {"scale": float(scale), "shift": float(shift), "task": task, "grads": p["grads"],
            "moved_grads": c[:, None] * p["grads"], "schemes": schemes}


def _share(v: dict, r: dict, key: str) -> float:
    """Task ``r['task']``'s share w_k‖∇L_k‖ / Σ_j w_j‖∇L_j‖ of the update, before or after."""
    w, g = (v["w0"], r["grads"]) if key == "before" else (v["w1"], r["moved_grads"])
    part = w * g.norm(dim=1)
    return float(part[r["task"]] / part.sum())


def _render(r: dict):
    lines = [f"task {r['task'] + 1}'s loss L -> {r['scale']:.3g} L + {r['shift']:.3g}"]
    for s, v in r["schemes"].items():
        w0, w1 = v["w0"].tolist(), v["w1"].tolist()
        lines.append(f"{SCHEME_LABELS[s]:>13}: w ({w0[0]:.3g}, {w0[1]:.3g}) -> ({w1[0]:.3g}, {w1[1]:.3g}), "
                     f"update turned {v['angle']:.1f} deg, norm x{v['norm_ratio']:.3g}")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), width_ratios=(1, 1.25))
    names = list(r["schemes"])
    x = np.arange(len(names))
    for j, (key, label) in enumerate((("before", "before"), ("after", "after"))):
        share = [_share(v, r, key) for v in r["schemes"].values()]
        ax1.bar(x + (j - 0.5) * 0.38, share, width=0.38, color=TASK_COLORS[r["task"]],
                alpha=0.35 if key == "before" else 0.9, label=label)
    ax1.set_xticks(x, [SCHEME_LABELS[s] for s in names], rotation=20)
    ax1.set(ylim=(0, 1), ylabel=f"share of task {r['task'] + 1} in the update",
            title="w_k‖∇L_k‖ / Σ_j w_j‖∇L_j‖")
    ax1.axhline(0.5, color="black", lw=0.6, ls=":")
    ax1.legend(fontsize=8)
    for k in range(2):
        u = (r["grads"][k] / r["grads"][k].norm()).numpy()
        ax2.plot(*zip((0, 0), u), color=TASK_COLORS[k], lw=5, alpha=0.25, label=f"direction of ∇L{k + 1}")
    for i, (s, v) in enumerate(r["schemes"].items()):
        color = f"C{i + 2}"
        d0, d1 = v["d0"].numpy(), v["d1"].numpy()
        ax2.plot(*zip((0, 0), d0), ls="--", color=color, lw=1)
        ax2.annotate("", xy=d1, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=color, lw=2))
        ax2.plot([], [], color=color, lw=2, label=f"{SCHEME_LABELS[s]}: {v['angle']:.0f}°, ×{v['norm_ratio']:.2g}")
    lo = float(min(0.0, *(torch.stack([v["d1"] for v in r["schemes"].values()]).min(0).values.tolist())))
    ax2.set(xlim=(lo - 0.1, 1.1), ylim=(lo - 0.1, 1.1), aspect="equal",
            title="unit update direction (dashed: before)")
    ax2.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8,
               title="turn, norm ratio", title_fontsize=8)
    return "\n".join(lines), fig


def loss_scale_explorer(problem: dict | None = None) -> Explorer:
    """Scale and shift sliders on one task's loss; every scheme's weights and update before and after."""
    controls = {
        "scale": slider(1.0, 0.01, 100.0, 0.05, "scale c", log=True, readout_format=".3g"),
        "shift": slider(0.0, 0.0, 50.0, 0.5, "shift b", readout_format=".1f"),
        "task": dropdown([("task 1", 0), ("task 2", 1)], 1, "transform"),
    }
    return explorer(lambda scale, shift, task: loss_scale_updates(scale, shift, task, problem), _render,
                    controls, title="One task's loss in other units")
