"""Two-objective toy problems with analytic losses and gradients, and a batched optimizer driver.

- :func:`cagrad_toy` (B. Liu et al., CAGrad, NeurIPS 2021, the toy of Figure 1): x ∈ R², c = 5·10⁻⁶,

      f1_log = log(max(|0.5(−x1 − 7) − tanh(−x2)|, c)) + 6,
      f2_log = log(max(|0.5(−x1 + 3) + tanh(−x2) + 2|, c)) + 6,
      f1_sq = ((−x1 + 7)² + 0.1(−x2 − 8)²)/10 − 20,  f2_sq = ((−x1 − 7)² + 0.1(−x2 − 8)²)/10 − 20,
      g1 = max(tanh(x2/2), 0),  g2 = max(tanh(−x2/2), 0),  L_k = g1 f_k,log + g2 f_k,sq.

  The paper draws the Pareto set as the segment x2 = −8.3552, x1 ∈ [−7, 7] (CAGRAD_TOY_PARETO_X2).
  The true Pareto set, where the two gradients are anti-parallel, bends slightly below it toward
  its ends: x2 = −8.3551, −8.3705, −8.3969, −8.4324, −8.4345 at |x1| = 0, 3, 5, 6.9, 7 (at |x1| = 7 one
  gradient vanishes). The average loss is smallest at its middle, (0, −8.3551). Scaling a loss does
  not move the set.
- :func:`nash_mtl_toy` (Navon et al., Nash-MTL, ICML 2022): the same with L1 scaled by 0.1.
- :func:`pareto_mtl_toy` (Lin et al., Pareto MTL, NeurIPS 2019, eq. 19): x ∈ R^d,
  f_{1,2}(x) = 1 − exp(−‖x ∓ 𝟙/√d‖²); Pareto set x = t𝟙/√d, t ∈ [−1, 1]; the front is concave in
  the middle and convex near its ends (for |t| above about 0.71).

Each objective maps x (..., d) to (losses (..., 2), gradients (..., 2, d)) with hand-derived
gradients, so that :func:`run_toy` can run every method from every start as one tensor program
(methods × starts in the leading dimensions) without autograd.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mtlbook.aggregation.directions import _cagrad_weights, _pcgrad_weights
from mtlbook.aggregation.gram import check_gram
from mtlbook.aggregation.min_norm import two_task_min_norm

CAGRAD_TOY_STARTS = ((-8.5, 7.5), (-8.5, -5.0), (9.0, 9.0))
NASH_MTL_TOY_STARTS = ((-8.5, 7.5), (0.0, 0.0), (9.0, 9.0), (-7.5, -0.5), (9.0, -1.0))
CAGRAD_TOY_PARETO_X2 = -8.3552
_FLOOR = 5e-6


def _check_points(x: Tensor, dim: int | None, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point torch.Tensor, got "
                        f"{type(x).__name__ if not isinstance(x, Tensor) else x.dtype}")
    if x.dim() < 1 or (dim is not None and x.shape[-1] != dim) or x.shape[-1] < 1:
        want = f"(..., {dim})" if dim is not None else "(..., d) with d >= 1"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
    return x


def _log_part(u: Tensor) -> tuple[Tensor, Tensor]:
    """log(max(|u|, c)) + 6 and its derivative in u (0 below the floor)."""
    au = u.abs()
    val = au.clamp_min(_FLOOR).log() + 6.0
    der = torch.where(au > _FLOOR, 1.0 / torch.where(au > _FLOOR, u, torch.ones_like(u)),
                      torch.zeros_like(u))
    return val, der


def cagrad_toy(x: Tensor, scale1: float = 1.0) -> tuple[Tensor, Tensor]:
    """Losses (..., 2) and gradients (..., 2, 2) of the CAGrad toy at x (..., 2); L1 times
    ``scale1`` (0.1 gives the Nash-MTL variant)."""
    x = _check_points(x, 2)
    x1, x2 = x[..., 0], x[..., 1]
    t = torch.tanh(x2)
    sech2 = 1.0 - t * t
    f1l, d1l = _log_part(-0.5 * x1 - 3.5 + t)           # u1 = 0.5(−x1 − 7) − tanh(−x2)
    f2l, d2l = _log_part(-0.5 * x1 + 3.5 - t)           # u2 = 0.5(−x1 + 3) + tanh(−x2) + 2
    q = 0.1 * (x2 + 8.0) ** 2
    f1s = ((x1 - 7.0) ** 2 + q) / 10.0 - 20.0
    f2s = ((x1 + 7.0) ** 2 + q) / 10.0 - 20.0
    th = torch.tanh(x2 / 2.0)
    dth = 0.5 * (1.0 - th * th)
    # max(·, 0) has the one-sided derivative at 0 that torch.clamp uses, so (0, 0) is not a trap
    g1, dg1 = th.clamp_min(0.0), torch.where(th >= 0, dth, torch.zeros_like(dth))
    g2, dg2 = (-th).clamp_min(0.0), torch.where(th <= 0, -dth, torch.zeros_like(dth))
    l1 = g1 * f1l + g2 * f1s
    l2 = g1 * f2l + g2 * f2s
    d1 = torch.stack([g1 * d1l * -0.5 + g2 * 0.2 * (x1 - 7.0),
                      g1 * d1l * sech2 + f1l * dg1 + g2 * 0.02 * (x2 + 8.0) + f1s * dg2], -1)
    d2 = torch.stack([g1 * d2l * -0.5 + g2 * 0.2 * (x1 + 7.0),
                      g1 * d2l * -sech2 + f2l * dg1 + g2 * 0.02 * (x2 + 8.0) + f2s * dg2], -1)
    return torch.stack([scale1 * l1, l2], -1), torch.stack([scale1 * d1, d2], -2)


def nash_mtl_toy(x: Tensor) -> tuple[Tensor, Tensor]:
    """The Nash-MTL variant of the CAGrad toy: L1 scaled by 0.1 (Navon et al. 2022)."""
    return cagrad_toy(x, scale1=0.1)


def pareto_mtl_toy(x: Tensor) -> tuple[Tensor, Tensor]:
    """Losses (..., 2) and gradients (..., 2, d) of Pareto MTL's problem (Lin et al. 2019, eq. 19):
    f_k = 1 − exp(−‖x − a_k‖²), a_1 = 𝟙/√d, a_2 = −𝟙/√d; ∇f_k = 2 (x − a_k) exp(−‖x − a_k‖²)."""
    x = _check_points(x, None)
    a = x.shape[-1] ** -0.5
    diffs = torch.stack([x - a, x + a], -2)              # (..., 2, d)
    e = torch.exp(-(diffs * diffs).sum(-1))              # (..., 2)
    return 1.0 - e, 2.0 * diffs * e.unsqueeze(-1)


def pareto_mtl_front(t: Tensor) -> Tensor:
    """The Pareto front of :func:`pareto_mtl_toy` at x = t𝟙/√d, t ∈ [−1, 1]: (..., 2)."""
    return torch.stack([1 - torch.exp(-(t - 1) ** 2), 1 - torch.exp(-(t + 1) ** 2)], -1)


def _mean(gram: Tensor) -> Tensor:
    return torch.full(gram.shape[:-1], 1.0 / gram.shape[-1], dtype=gram.dtype, device=gram.device)


def _mgda(gram: Tensor) -> Tensor:
    if gram.shape[-1] != 2:
        raise ValueError("the toy driver's MGDA uses the two-task closed form")
    return two_task_min_norm(gram)


def _pcgrad(gram: Tensor) -> Tensor:            # the mean of the projected gradients, as in the toy
    return _pcgrad_weights(gram.to(torch.float64), None) / gram.shape[-1]


def _cagrad(gram: Tensor) -> Tensor:
    return _cagrad_weights(gram.to(torch.float64), 0.5, True, "closed_form")


TOY_METHODS: dict[str, Callable[[Tensor], Tensor]] = {
    "mean": _mean, "mgda": _mgda, "pcgrad": _pcgrad, "cagrad": _cagrad}


class _AdamStep:
    """Adam (Kingma & Ba 2015; torch's defaults β = (0.9, 0.999), ε = 1e-8) on the single tensor x,
    written out in place: the same arithmetic as ``torch.optim.Adam`` without its per-step Python
    overhead, which dominates a step of a 2-D toy."""

    def __init__(self, x: Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.x, self.lr, self.betas, self.eps = x, lr, betas, eps
        self.m, self.v, self.t = torch.zeros_like(x), torch.zeros_like(x), 0

    def __call__(self, grad: Tensor) -> None:
        b1, b2 = self.betas
        self.t += 1
        self.m.lerp_(grad, 1.0 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1.0 - b2)
        denom = (self.v.sqrt() / (1.0 - b2 ** self.t) ** 0.5).add_(self.eps)
        self.x.addcdiv_(self.m, denom, value=-self.lr / (1.0 - b1 ** self.t))


@dataclass
class ToyRun:
    """What :func:`run_toy` recorded: ``path`` (T, M, S, d) and ``losses`` (T, M, S, K) at the
    recorded steps ``steps`` (T,), for methods ``methods`` (M) and starts (S); ``x`` (M, S, d) and
    ``final_losses`` (M, S, K) at the end."""

    methods: tuple[str, ...]
    steps: Tensor
    path: Tensor
    losses: Tensor
    x: Tensor
    final_losses: Tensor


def run_toy(objective: Callable[[Tensor], tuple[Tensor, Tensor]], starts: Tensor | Sequence,
            methods: Sequence[str | tuple[str, Callable[[Tensor], Tensor]]] = ("mean", "mgda",
                                                                              "pcgrad", "cagrad"),
            *, steps: int = 100_000, lr: float = 1e-3, optimizer: str = "adam",
            record_every: int | None = None) -> ToyRun:
    """Run every method from every start at once: x (M, S, d), one tensor program per step.

    Each step evaluates ``objective`` (losses (M, S, K), gradients (M, S, K, d)), forms the Gram
    matrices, asks each method for its weights c (S, K) on the gradients, and moves x along
    −Σ c_k g_k with Adam (``optimizer="adam"``, torch's Adam on the single tensor x, which is
    elementwise and so independent per run) or plain gradient descent (``"sgd"``). A method is a
    name of :data:`TOY_METHODS` (mean: ½(g1 + g2); MGDA: the min-norm point; PCGrad: the mean of
    the projected gradients; CAGrad: c = 0.5, divided by 1 + c) or a pair (name, weights function
    of the (S, K, K) Gram matrix). The path is recorded every ``record_every`` steps (default:
    about 200 points)."""
    if not callable(objective):
        raise TypeError(f"objective must be callable, got {type(objective).__name__}")
    starts = torch.as_tensor(starts, dtype=torch.float64) if not isinstance(starts, Tensor) else starts
    starts = _check_points(starts, None, "starts")
    if starts.dim() != 2:
        raise ValueError(f"starts must have shape (S, d), got {tuple(starts.shape)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    names, fns = [], []
    for m in methods:
        if isinstance(m, str):
            if m not in TOY_METHODS:
                raise ValueError(f"unknown method {m!r}: expected one of {tuple(TOY_METHODS)} "
                                 "or a (name, function) pair")
            names.append(m)
            fns.append(TOY_METHODS[m])
        else:
            name, fn = m
            if not callable(fn):
                raise TypeError(f"method {name!r}: expected a callable, got {type(fn).__name__}")
            names.append(str(name))
            fns.append(fn)
    if not names:
        raise ValueError("methods must name at least one method")
    every = max(1, steps // 200) if record_every is None else record_every
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"record_every must be a positive int, got {every!r}")

    with torch.inference_mode():                 # no autograd bookkeeping: a step is ~100 tiny ops
        x = starts.unsqueeze(0).repeat(len(names), 1, 1).clone().requires_grad_(False)
        step_fn = _AdamStep(x, lr) if optimizer == "adam" else (lambda g: x.sub_(lr * g))
        rec_steps, path, rec_losses = [], [], []
        for step in range(steps):
            losses, grads = objective(x)
            if step % every == 0:
                rec_steps.append(step)
                path.append(x.detach().clone())
                rec_losses.append(losses.detach())
            gram = check_gram(grads @ grads.transpose(-1, -2)) if step == 0 else \
                grads @ grads.transpose(-1, -2)
            weights = torch.stack([fn(gram[i]) for i, fn in enumerate(fns)])  # (M, S, K)
            step_fn((weights.to(grads.dtype).unsqueeze(-2) @ grads).squeeze(-2))
    x = x.clone()                                # a normal tensor again, outside inference mode
    final_losses, _ = objective(x)
    if not bool(torch.isfinite(x).all()):
        bad = (~torch.isfinite(x)).any(-1).nonzero()[0].tolist()
        raise FloatingPointError(f"method {names[bad[0]]!r} diverged from start {bad[1]} "
                                 f"(non-finite x); lower lr")
    return ToyRun(tuple(names), torch.tensor(rec_steps), torch.stack(path), torch.stack(rec_losses),
                  x, final_losses)
