"""The CAGrad toy (and its Nash-MTL variant) with the four two-task methods, in NumPy, for long runs.

:func:`mtlbook.data.run_toy` is general (any objective, any method as a torch function of the Gram
matrix), but a step of a 2-D toy is about a hundred operations on tensors of a dozen numbers, and
torch's per-operation overhead makes the papers' 100 000 Adam steps take minutes on a CPU. NumPy's
overhead is several times smaller. :func:`run_cagrad_toy` runs the same arithmetic as
``run_toy(cagrad_toy, starts, methods)`` for the methods ``mean``, ``mgda``, ``pcgrad`` and
``cagrad`` (two tasks, closed forms):

- mean: c = (½, ½);
- MGDA: c = (γ, 1 − γ), γ = clip((G22 − G12) / (G11 + G22 − 2G12), 0, 1) (Sener & Koltun 2018);
- PCGrad (Yu et al. 2020), as the mean of the projected gradients: c = ½ (1 − G12/G11, 1 − G12/G22)
  when G12 < 0, else (½, ½);
- CAGrad (Liu et al. 2021, c = 0.5): w = (x, 1 − x) minimizing βx + s√(Ax² + Bx + C) (the closed
  form of :func:`mtlbook.aggregation.cagrad_inner_weights`), c = (½ + λw) / (1 + c),
  λ = c‖g_0‖/‖g_w‖;

and Adam with torch's defaults. The tests check it against ``run_toy`` step for step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from mtlbook.data.toys import ToyRun

FAST_METHODS = ("mean", "mgda", "pcgrad", "cagrad")
_FLOOR = 5e-6
_CAGRAD_C = 0.5


def _losses_and_grads(x: np.ndarray, scale1: float) -> tuple[np.ndarray, np.ndarray]:
    """Losses (..., 2) and gradients (..., 2, 2) of the CAGrad toy (see :func:`cagrad_toy`)."""
    x1, x2 = x[..., 0], x[..., 1]
    t = np.tanh(x2)
    u = np.stack([-0.5 * x1 - 3.5 + t, -0.5 * x1 + 3.5 - t])              # the two log arguments
    au = np.abs(u)
    big = au > _FLOOR
    f_log = np.log(np.maximum(au, _FLOOR)) + 6.0
    d_log = np.where(big, 1.0 / np.where(big, u, 1.0), 0.0)
    q = 0.1 * (x2 + 8.0) ** 2
    f_sq = np.stack([((x1 - 7.0) ** 2 + q) / 10.0 - 20.0, ((x1 + 7.0) ** 2 + q) / 10.0 - 20.0])
    th = np.tanh(0.5 * x2)
    dth = 0.5 * (1.0 - th * th)
    up, down = np.maximum(th, 0.0), np.maximum(-th, 0.0)                  # the gates g1, g2
    d_up, d_down = np.where(th >= 0, dth, 0.0), np.where(th <= 0, -dth, 0.0)
    losses = up * f_log + down * f_sq                                     # (2, ...)
    sech2 = np.stack([1.0 - t * t, t * t - 1.0])                          # d u_k / d x2
    dx1 = -0.5 * up * d_log + 0.2 * down * np.stack([x1 - 7.0, x1 + 7.0])
    dx2 = up * d_log * sech2 + f_log * d_up + 0.02 * down * (x2 + 8.0) + f_sq * d_down
    scale = np.array([scale1, 1.0]).reshape(2, *([1] * x1.ndim))
    grads = np.stack([dx1, dx2], -1) * scale[..., None]                   # (2, ..., 2)
    return np.moveaxis(losses * scale, 0, -1), np.moveaxis(grads, 0, -2)


def _coefficients(method: str, g11, g22, g12) -> tuple[np.ndarray, np.ndarray]:
    if method == "mean":
        half = np.full_like(g11, 0.5)
        return half, half
    if method == "mgda":
        den = g11 + g22 - 2.0 * g12
        ok = den > 0
        gamma = np.where(ok, np.clip((g22 - g12) / np.where(ok, den, 1.0), 0.0, 1.0), 0.5)
        return gamma, 1.0 - gamma
    if method == "pcgrad":
        neg = g12 < 0
        c1 = np.where(neg & (g11 > 0), 1.0 - g12 / np.where(g11 > 0, g11, 1.0), 1.0)
        c2 = np.where(neg & (g22 > 0), 1.0 - g12 / np.where(g22 > 0, g22, 1.0), 1.0)
        return 0.5 * c1, 0.5 * c2
    # CAGrad: the inner problem in w = (x, 1 - x), then the weights on the raw gradients
    gu1, gu2 = 0.5 * (g11 + g12), 0.5 * (g12 + g22)                       # <g_k, g_0>
    s = _CAGRAD_C * np.sqrt(np.maximum(0.5 * (gu1 + gu2), 0.0))           # c |g_0|
    beta, a, b, cc = gu1 - gu2, g11 + g22 - 2.0 * g12, 2.0 * (g12 - g22), g22
    r = -beta / np.where(s > 0, s, 1.0)
    ok = (s > 0) & (a > r * r)
    y = np.sign(r) * np.sqrt(r * r * np.maximum(4.0 * a * cc - b * b, 0.0) / np.where(ok, a - r * r, 1.0))
    x_stat = np.clip(np.where(ok & (a > 0), (y - b) / np.where(a > 0, 2.0 * a, 1.0), 0.5), 0.0, 1.0)
    cand = np.stack([np.zeros_like(a), np.ones_like(a), x_stat])
    vals = beta * cand + s * np.sqrt(np.maximum(a * cand * cand + b * cand + cc, 0.0))
    x = np.take_along_axis(cand, vals.argmin(0)[None], 0)[0]
    x = np.where(a > 0, x, 0.5)
    gw2 = np.maximum(x * x * g11 + 2.0 * x * (1.0 - x) * g12 + (1.0 - x) ** 2 * g22, 0.0)
    g02 = np.maximum(0.25 * (g11 + g22 + 2.0 * g12), 0.0)
    lam = np.where(gw2 > 0, _CAGRAD_C * np.sqrt(g02) / np.sqrt(np.where(gw2 > 0, gw2, 1.0)), 0.0)
    return (0.5 + lam * x) / (1.0 + _CAGRAD_C), (0.5 + lam * (1.0 - x)) / (1.0 + _CAGRAD_C)


def run_cagrad_toy(starts: Tensor | Sequence, methods: Sequence[str] = FAST_METHODS, *,
                   steps: int = 100_000, lr: float = 1e-3, scale1: float = 1.0,
                   record_every: int | None = None) -> ToyRun:
    """Adam from every start for every method on the CAGrad toy (L1 times ``scale1``; 0.1 is the
    Nash-MTL variant), in NumPy float64. Same arguments and result as :func:`mtlbook.data.run_toy`
    with ``objective=cagrad_toy`` (or ``nash_mtl_toy``) and named methods."""
    x0 = np.asarray(starts.detach().cpu().numpy() if isinstance(starts, Tensor) else starts,
                    dtype=np.float64)
    if x0.ndim != 2 or x0.shape[1] != 2:
        raise ValueError(f"starts must have shape (S, 2), got {x0.shape}")
    if not np.all(np.isfinite(x0)):
        raise ValueError("starts must be finite")
    methods = tuple(methods)
    unknown = [m for m in methods if m not in FAST_METHODS]
    if not methods or unknown:
        raise ValueError(f"methods must be a non-empty selection of {FAST_METHODS}, got {methods}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if not (np.isfinite(scale1) and scale1 > 0):
        raise ValueError(f"scale1 must be a finite number > 0, got {scale1}")
    every = max(1, steps // 200) if record_every is None else record_every
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"record_every must be a positive int, got {every!r}")

    x = np.repeat(x0[None], len(methods), axis=0)                         # (M, S, 2)
    m, v = np.zeros_like(x), np.zeros_like(x)
    b1, b2, eps = 0.9, 0.999, 1e-8
    rec_steps, path, rec_losses = [], [], []
    for step in range(steps):
        losses, grads = _losses_and_grads(x, scale1)
        if step % every == 0:
            rec_steps.append(step)
            path.append(x.copy())
            rec_losses.append(losses)
        g1, g2 = grads[..., 0, :], grads[..., 1, :]
        g11, g22, g12 = (g1 * g1).sum(-1), (g2 * g2).sum(-1), (g1 * g2).sum(-1)
        c1, c2 = zip(*(_coefficients(name, g11[i], g22[i], g12[i]) for i, name in enumerate(methods)))
        grad = np.stack(c1)[..., None] * g1 + np.stack(c2)[..., None] * g2
        m += (1.0 - b1) * (grad - m)
        v *= b2
        v += (1.0 - b2) * grad * grad
        t = step + 1
        x -= (lr / (1.0 - b1 ** t)) * m / (np.sqrt(v) / np.sqrt(1.0 - b2 ** t) + eps)
    if not np.all(np.isfinite(x)):
        raise FloatingPointError("a run diverged (non-finite x); lower lr")
    final_losses, _ = _losses_and_grads(x, scale1)
    as_t = torch.from_numpy
    return ToyRun(methods, torch.tensor(rec_steps), as_t(np.stack(path)), as_t(np.stack(rec_losses)),
                  as_t(x), as_t(final_losses))
