"""Chapter 6: tangents of the Pareto set on the ZDT2-variant, and a network moved along a
continuous local Pareto set (figures and widgets)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from mtlbook.data.pareto_toys import (zdt2_variant, zdt2_variant_front, zdt2_variant_normal,
                                      zdt2_variant_pareto_point)
from mtlbook.pareto.local_sets import patch_points
from mtlbook.pareto.networks import FlatLeNet
from mtlbook.pareto.tangents import stationarity_weights, tangent_directions
from mtlbook.widgets import Explorer, explorer, int_slider, slider

# ---------------------------------------------------------------------------------------------
# ZDT2-variant: one tangent, one gradient step


def zdt2_tangent(x1: float, angle: float, step: float, damping: float, beta1: float = 1.0) -> dict:
    """Pure: at the Pareto-optimal point (x1, √π cos θ, √π sin θ) of the ZDT2-variant, solve
    (H_α + λI) v = Jᵀβ with β = (β_1, 1 − β_1) and compare x ± s·v/‖v‖ with the normalized
    gradient step x − s·∇f_1/‖∇f_1‖: cosines with the set's normal and distances from the front."""
    if not -1.5 * math.pi <= x1 <= -0.5 * math.pi:
        raise ValueError(f"x1 must lie in [-3π/2, -π/2], got {x1}")
    if not step > 0 or not damping >= 0:
        raise ValueError(f"step must be > 0 and damping >= 0, got {step} and {damping}")
    x = zdt2_variant_pareto_point(x1, angle)
    jac = torch.func.jacrev(zdt2_variant)(x)
    alpha = stationarity_weights(jac)
    hess = torch.func.hessian(lambda t: (alpha * zdt2_variant(t)).sum())(x)
    beta = torch.tensor([beta1, 1.0 - beta1], dtype=x.dtype)
    res = tangent_directions(hess, jac, beta, damping=damping, rtol=1e-14, maxiter=3)
    normal = zdt2_variant_normal(x)
    rhs_norm = float(res.rhs.norm())
    if rhs_norm <= 1e-12 * float(jac.norm()):         # β ∝ α: Jᵀβ = 0 up to rounding, no motion
        v = torch.zeros_like(x)
    else:
        v = res.unit()[0]
    g = jac[0] / jac[0].norm()
    s = torch.linspace(-step, step, 41, dtype=x.dtype)
    along = zdt2_variant(x + s[:, None] * v)
    grad_line = zdt2_variant(x - s[s >= 0][:, None] * g)

    def gap(f: Tensor) -> Tensor:
        return (f[..., 1] - zdt2_variant_front(f[..., 0])).abs()

    return {"x": x, "f": zdt2_variant(x), "alpha": alpha, "v": v, "gradient": g,
            "cos_tangent": float((v @ normal).abs()), "cos_gradient": float((g @ normal).abs()),
            "gap_tangent": float(gap(along).max()), "gap_gradient": float(gap(grad_line).max()),
            "tangent_losses": along, "gradient_losses": grad_line, "step": step, "damping": damping,
            "beta1": beta1, "rhs_norm": rhs_norm, "hessian_eigenvalues": torch.linalg.eigvalsh(hess)}


def plot_zdt2_front(ax, results: Sequence[dict] | dict, *, legend: bool = True) -> None:
    """The analytic front (black), and for each result its tangent line (blue, C0, solid) and its
    normalized gradient steps on f₁ (purple, C3, dashed)."""
    results = [results] if isinstance(results, dict) else list(results)
    f1 = np.linspace(0, 1, 200)
    ax.plot(f1, 1 - f1 ** 2, color="black", lw=1, label="analytic front $f_2 = 1 - f_1^2$")
    for i, r in enumerate(results):
        t, g = r["tangent_losses"].numpy(), r["gradient_losses"].numpy()
        ax.plot(t[:, 0], t[:, 1], "-", color="C0", lw=3, alpha=0.8, label="x* ± s v (tangent)" if i == 0 else None)
        ax.plot(g[:, 0], g[:, 1], "--", color="C3", lw=2, label="x* − s ∇f₁/‖∇f₁‖" if i == 0 else None)
        ax.plot(*r["f"].numpy(), "o", color="black", ms=5)
    ax.set(xlabel="$f_1$", ylabel="$f_2$")
    if legend:
        ax.legend(fontsize=8)


def _render_zdt2(r: dict):
    if not float(r["v"].norm()):
        verdict = "is zero (β ∝ α: Jᵀβ = 0)"
    else:
        verdict = "tangent to the Pareto set" if r["cos_tangent"] < 1e-8 else "leaves the Pareto set"
    text = (f"x1 = {float(r['x'][0]):.2f}, f = ({float(r['f'][0]):.3f}, {float(r['f'][1]):.3f}), "
            f"alpha = ({float(r['alpha'][0]):.3f}, {float(r['alpha'][1]):.3f})\n"
            f"beta = ({r['beta1']:.2f}, {1 - r['beta1']:.2f}), damping {r['damping']:g}: v {verdict}\n"
            f"|cos(v, normal)| = {r['cos_tangent']:.1e}, |cos(grad f1, normal)| = {r['cos_gradient']:.2f}\n"
            f"unit direction v = ({', '.join(f'{round(float(c), 2) + 0.0:+.2f}' for c in r['v'])})\n"
            f"largest distance from the front within s = {r['step']:g}: "
            f"tangent {r['gap_tangent']:.1e}, gradient {r['gap_gradient']:.1e}")
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    plot_zdt2_front(ax, r)
    ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.1), title="ZDT2-variant: one tangent, one gradient step")
    return text, fig


def zdt2_explorer() -> Explorer:
    """Sliders: the point on the set (x1, angle), the step s, the damping λ and β_1."""
    controls = {
        "x1": slider(-1.2 * math.pi, -1.5 * math.pi, -0.5 * math.pi, 0.05, "x1 (position on the set)"),
        "angle": slider(0.7, 0.0, 6.28, 0.05, "angle θ on the circle"),
        "step": slider(0.1, 0.01, 0.5, 0.01, "step s"),
        "damping": slider(0.0, 0.0, 100.0, 0.5, "damping λ"),
        "beta1": slider(1.0, -1.0, 2.0, 0.05, "β₁ (β₂ = 1 − β₁)"),
    }
    return explorer(zdt2_tangent, _render_zdt2, controls, title="Tangent or gradient?")


# ---------------------------------------------------------------------------------------------
# A network on a continuous local Pareto set


@dataclass
class LocalSets:
    """Everything the local-set widget needs: the network, the anchors (A, n), their neighbours
    (A, K, n), a few test inputs with their labels, the training batch and the test set, and the
    stitched front (losses (N, m)) drawn for reference."""

    net: FlatLeNet
    anchors: Tensor
    neighbours: Tensor
    train_x: Tensor
    train_y: tuple[Tensor, ...]
    test_x: Tensor
    test_y: tuple[Tensor, ...]
    front: Tensor
    sample: int = 4


def local_set_state(sets: LocalSets, anchor: int, t1: float, t2: float) -> dict:
    """Pure: the network x(t) = x*_a + t_1 (x_{a,1} − x*_a) + t_2 (x_{a,2} − x*_a) of anchor ``a``:
    its training losses, test accuracies and predictions on the first ``sets.sample`` test inputs."""
    if not isinstance(anchor, int) or not 0 <= anchor < sets.anchors.shape[0]:
        raise ValueError(f"anchor must be an int in [0, {sets.anchors.shape[0]}), got {anchor!r}")
    coords = torch.tensor([[t1, t2]], dtype=sets.anchors.dtype, device=sets.anchors.device)
    theta = patch_points(sets.anchors[anchor], sets.neighbours[anchor], coords)[0]
    with torch.no_grad():
        losses = sets.net.losses(theta, sets.train_x, sets.train_y)
        acc = sets.net.accuracy(theta, sets.test_x, sets.test_y)
        logits = sets.net.logits(theta, sets.test_x[:sets.sample])
    preds = torch.stack([z.argmax(1) for z in logits], 1)
    with torch.no_grad():
        anchor_losses = sets.net.losses(sets.anchors[anchor], sets.train_x, sets.train_y)
    return {"anchor": anchor, "t": (t1, t2), "losses": losses.cpu(), "accuracy": acc.cpu(),
            "predictions": preds.cpu(), "labels": torch.stack([y[:sets.sample] for y in sets.test_y], 1).cpu(),
            "images": sets.test_x[:sets.sample, 0].cpu(), "front": sets.front.cpu(),
            "anchor_losses": anchor_losses.cpu()}


def _render_local_set(r: dict):
    l, a = r["losses"], r["accuracy"]
    text = (f"anchor {r['anchor']}, t = ({r['t'][0]:+.2f}, {r['t'][1]:+.2f})\n"
            f"training losses: left {float(l[0]):.3f}, right {float(l[1]):.3f}\n"
            f"test accuracy: left {float(a[0]):.3f}, right {float(a[1]):.3f}")
    k = r["images"].shape[0]
    fig = plt.figure(figsize=(8.4, 3.2), layout="constrained")
    grid = fig.add_gridspec(1, k + 3)
    ax = fig.add_subplot(grid[0, :3])
    front = r["front"].numpy()
    ax.plot(front[:, 0], front[:, 1], ".", color="0.6", ms=3, label="stitched front")
    ax.plot(*r["anchor_losses"].numpy(), "s", color="black", ms=6, label="anchor")
    ax.plot(*l.numpy(), "o", color="C3", ms=8, label="x(t)")
    ax.set(xscale="log", yscale="log", xlabel="training loss, left digit", ylabel="training loss, right digit")
    ax.legend(fontsize=7)
    for i in range(k):
        axi = fig.add_subplot(grid[0, 3 + i])
        axi.imshow(r["images"][i].numpy(), cmap="gray_r")
        p, y = r["predictions"][i].tolist(), r["labels"][i].tolist()
        ok = "✓" if p == y else "✗"
        axi.set_title(f"pred {p[0]}{p[1]} {ok}\ntrue {y[0]}{y[1]}", fontsize=8)
        axi.axis("off")
    return text, fig


def local_set_explorer(sets: LocalSets, *, span: float = 1.0) -> Explorer:
    """Sliders: the anchor and the two coordinates t ∈ [−span, span]² of its local set."""
    controls = {
        "anchor": int_slider(0, 0, sets.anchors.shape[0] - 1, "anchor (start network)"),
        "t1": slider(0.0, -span, span, 0.05, "t₁ (towards neighbour 1)"),
        "t2": slider(0.0, -span, span, 0.05, "t₂ (towards neighbour 2)"),
    }
    return explorer(lambda anchor, t1, t2: local_set_state(sets, anchor, t1, t2), _render_local_set,
                    controls, title="A network on its local Pareto set")



def plot_zdt2_set(ax, results: Sequence[dict] | dict, *, length: float = 0.6) -> None:
    """The Pareto set (the cylinder x₂² + x₃² = π, x₁ ∈ [−3π/2, −π/2]) on a 3-D axis, with each
    result's tangent segment (blue, C0, solid) and normalized gradient segment −∇f₁/‖∇f₁‖ (purple, C3,
    dashed)."""
    results = [results] if isinstance(results, dict) else list(results)
    a, b = np.meshgrid(np.linspace(0, 2 * np.pi, 40), np.linspace(-1.5 * np.pi, -0.5 * np.pi, 12))
    rad = math.sqrt(math.pi)
    ax.plot_wireframe(b, rad * np.cos(a), rad * np.sin(a), color="0.75", lw=0.4)
    for i, r in enumerate(results):
        x, v, g = (r[k].numpy() for k in ("x", "v", "gradient"))
        seg = np.stack([x - length * v, x + length * v])
        ax.plot(*seg.T, color="C0", lw=3, label="tangent v" if i == 0 else None)
        seg = np.stack([x, x - length * g])
        ax.plot(*seg.T, "--", color="C3", lw=2, label="−∇f₁" if i == 0 else None)
        ax.scatter(*x, color="black", s=12)
    ax.set(xlabel="$x_1$", ylabel="$x_2$", zlabel="$x_3$")
    ax.legend(fontsize=8, loc="upper left")


# ---------------------------------------------------------------------------------------------
# Figures 4 and 5 of the paper on MultiDigits


def gap_at_equal_loss(lines: Tensor, ends: Tensor, task: int) -> Tensor:
    """For each start e, how much worse the other loss of ``ends[e]`` (m = 2) is than the tangent
    line ``lines[e]`` (G, 2) at the same value of loss ``task`` (linear interpolation along the
    line; the line's best crossing). Positive: the point lies inside (dominated side of) the line.
    NaN where the line does not reach that value. Returns (E,)."""
    if lines.dim() != 3 or lines.shape[-1] != 2 or ends.shape != (lines.shape[0], 2):
        raise ValueError(f"lines must be (E, G, 2) and ends (E, 2), got {tuple(lines.shape)} and {tuple(ends.shape)}")
    if task not in (0, 1):
        raise ValueError(f"task must be 0 or 1, got {task!r}")
    other = 1 - task
    out = torch.full((lines.shape[0],), float("nan"), dtype=lines.dtype, device=lines.device)
    for e in range(lines.shape[0]):
        a, b, level = lines[e, :-1], lines[e, 1:], ends[e, task]
        cross = (a[:, task] - level) * (b[:, task] - level) <= 0
        if bool(cross.any()):
            denom = b[cross, task] - a[cross, task]
            t = torch.where(denom == 0, torch.zeros_like(denom), (level - a[cross, task]) / torch.where(denom == 0, torch.ones_like(denom), denom))
            out[e] = ends[e, other] - (a[cross, other] + t * (b[cross, other] - a[cross, other])).min()
    return out


def plot_tangent_lines(ax, sweep: Tensor, lines: Tensor, descents: Sequence[Tensor]) -> None:
    """Fig. 4: the weighted-sum solutions (black dots), their tangent lines (blue, C0) and gradient
    descent on each task alone (purple, C3: task 1; green, C2: task 2), in loss space (log axes).
    Fixed-length normalized steps zig-zag, so their paths are drawn thin and their end points (the
    points the text compares) as triangles."""
    for e in range(lines.shape[0]):
        ax.plot(*lines[e].T.cpu().numpy(), "-", color="C0", lw=1, label="tangent lines" if e == 0 else None)
        for k, d in enumerate(descents):
            colour = ("C3", "C2")[k]
            ax.plot(*d[e].T.cpu().numpy(), "-", color=colour, lw=0.7, alpha=0.45)
            ax.plot(*d[e, -1:].T.cpu().numpy(), "^", color=colour, ms=5,
                    label=f"gradient steps on task {k + 1} (path, end ▲)" if e == 0 else None)
    ax.plot(*sweep.T.cpu().numpy(), "o", color="black", ms=4, label="weighted-sum solutions")
    ax.set(xscale="log", yscale="log", xlabel="training loss, left digit", ylabel="training loss, right digit")
    ax.legend(fontsize=8)


def plot_local_fronts(ax, sweep: Tensor, fronts: Sequence[Tensor], paths: Tensor, stitched: Tensor) -> None:
    """Fig. 5-like: each anchor's tangent paths (lines) and local-set front (dots, one colour per
    anchor), the stitched non-dominated front (black crosses) and the weighted-sum sweep (grey)."""
    ax.plot(*sweep.T.cpu().numpy(), "o", color="0.6", ms=4, label="weighted-sum sweep")
    a = len(fronts)
    for i, fr in enumerate(fronts):
        ax.plot(*fr.T.cpu().numpy(), ".", color=f"C{i}", ms=3, alpha=0.6)
        for j in (i, a + i):
            ax.plot(*paths[:, j].T.cpu().numpy(), "-", color=f"C{i}", lw=1.5)
    ax.plot(*stitched.T.cpu().numpy(), "x", color="black", ms=3, label="stitched front")
    ax.set(xscale="log", yscale="log", xlabel="training loss, left digit", ylabel="training loss, right digit")
    ax.legend(fontsize=8)
