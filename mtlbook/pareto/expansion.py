"""Pareto expansion by predictor and corrector, explored breadth first (Ma, Du & Matusik, ICML
2020, §4.2 and Algorithm 1).

From a Pareto-stationary x with weights α, the predictor moves along K tangent directions,

    x_k = x + s · v_k/‖v_k‖,    (H_α + λI) v_k = Jᵀβ_k,   β_k ~ N(0, I_m),

and the corrector pulls each x_k back to a Pareto-stationary point with MGDA steps (Désidéri 2012):
d = −Σ_i α_i ∇f_i with α the min-norm weights, a backtracking line search t ← γt (γ = 0.9, from
t = ``corrector_step``) that accepts the first t with f_i(x + t d) <= f_i(x) for every i (an Armijo
rule with c_1 = 0), stopping when ‖d‖ < ``tol`` or t < ``min_step``. The corrected points enter a
first-in first-out queue, so the set grows breadth first around the start until ``num_points``
points are found.

The paper's baseline predictor (``predictor="weighted_sum"``) perturbs the weights instead: α_k =
α ⊙ u_k / Σ(α ⊙ u_k) with u_k ~ U(1 − ε, 1 + ε)^m (ε = 0.1), and takes one normalized gradient step of
the perturbed weighted sum, x_k = x − s · J^Tα_k / ‖J^Tα_k‖. It costs no Hessian-vector product, but
its guesses leave the Pareto set at first order, so the corrector has more work to do.

:func:`tangent_steps` is the network variant of the paper's code (its Fig. 5): from each start,
repeat x ← x − s · v/‖v‖ with (H_α + λI) v = Jᵀβ re-solved at every step (a fixed β per start), with
no corrector; for β = e_i each step lowers f_i to first order where H_α is positive definite.

Objectives are functions of one flat vector x (n,) returning the m losses (m,); for a network,
flatten its parameters and unflatten them inside the function. The outer loops read a few scalars
on the host (line-search tests); the Krylov solves inside stay on the device. Every evaluation is
counted (``Counts``: losses, Jacobians, Hessian-vector products) per phase, as in the paper's Fig. 3.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from mtlbook.aggregation import min_norm_weights
from mtlbook.pareto.tangents import tangent_directions, tangents_at, weighted_hvp

PREDICTORS = ("tangent", "weighted_sum")

Objective = Callable[[Tensor], Tensor]


@dataclass
class Counts:
    """Evaluations made: ``losses`` (forward passes), ``jacobians`` (all m gradients at one point),
    ``hvps`` (Hessian-vector products, one per vector)."""

    losses: int = 0
    jacobians: int = 0
    hvps: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.losses += other.losses
        self.jacobians += other.jacobians
        self.hvps += other.hvps
        return self


def _check_x(x: Tensor) -> Tensor:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() != 1:
        got = (f"shape {tuple(x.shape)}, {x.dtype}") if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a floating-point vector (n,), got {got}")
    return x.detach()


def _losses(fn: Objective, x: Tensor, counts: Counts) -> Tensor:
    with torch.no_grad():
        out = fn(x)
    if not isinstance(out, Tensor) or out.dim() != 1:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"losses_fn must return a vector of m losses, got {got}")
    counts.losses += 1
    return out


def _jacobian(fn: Objective, x: Tensor, counts: Counts) -> tuple[Tensor, Tensor]:
    f = _losses(fn, x, counts)
    counts.jacobians += 1
    return f, torch.func.jacrev(fn)(x.detach())


@dataclass
class Correction:
    """The corrected point, its losses and min-norm weights, ‖d‖ at the end, the MGDA steps taken."""

    x: Tensor
    losses: Tensor
    weights: Tensor
    direction_norm: float
    steps: int
    counts: Counts = field(default_factory=Counts)


def mgda_correct(losses_fn: Objective, x: Tensor, *, tol: float = 1e-5, corrector_step: float = 1.0,
                 shrink: float = 0.9, min_step: float = 1e-5, max_steps: int = 200) -> Correction:
    """MGDA steps with a backtracking line search (every loss may not increase) until ‖d‖ < tol,
    the step falls below ``min_step``, or ``max_steps`` steps; see the module docstring."""
    x = _check_x(x)
    if not tol > 0 or not corrector_step > 0 or not min_step > 0:
        raise ValueError(f"tol, corrector_step and min_step must be > 0, got {tol}, {corrector_step}, {min_step}")
    if not 0 < shrink < 1:
        raise ValueError(f"shrink must lie in (0, 1), got {shrink}")
    counts = Counts()
    f, jac = _jacobian(losses_fn, x, counts)
    steps = 0
    while True:
        alpha = min_norm_weights(jac)
        d = -(alpha @ jac)
        dnorm = float(torch.linalg.vector_norm(d))
        if dnorm < tol or steps >= max_steps:
            break
        t, accepted = corrector_step, False
        while t >= min_step:
            trial = x + t * d
            ft = _losses(losses_fn, trial, counts)
            if bool((ft <= f).all()):
                accepted = True
                break
            t *= shrink
        if not accepted:
            break
        x = trial
        steps += 1
        f, jac = _jacobian(losses_fn, x, counts)
    return Correction(x, f, alpha, dnorm, steps, counts)


def predict(losses_fn: Objective, x: Tensor, *, num_directions: int = 2, step: float = 0.1,
            damping: float = 0.0, rtol: float = 1e-8, maxiter: int | None = None,
            generator: torch.Generator | None = None, counts: Counts | None = None) -> Tensor:
    """The K predictor points x + s·v_k/‖v_k‖ (K, n) along tangents for β_k ~ N(0, I_m)."""
    x = _check_x(x)
    if not isinstance(num_directions, int) or num_directions < 1:
        raise ValueError(f"num_directions must be a positive int, got {num_directions!r}")
    counts = Counts() if counts is None else counts
    _, jac = _jacobian(losses_fn, x, counts)
    alpha = min_norm_weights(jac)
    point = x.clone().requires_grad_(True)
    op = weighted_hvp(lambda t: losses_fn(t[0]), [point], alpha, engine="forward")
    beta = torch.randn(num_directions, jac.shape[0], generator=generator, dtype=jac.dtype).to(jac.device)
    res = tangent_directions(op, jac, beta, damping=damping, rtol=rtol, maxiter=maxiter)
    counts.hvps += op.products
    return x + step * res.unit()


def predict_weighted_sum(losses_fn: Objective, x: Tensor, *, num_directions: int = 2, step: float = 0.1,
                         noise: float = 0.1, generator: torch.Generator | None = None,
                         counts: Counts | None = None) -> Tensor:
    """The baseline predictor: K points x − s·J^Tα_k/‖J^Tα_k‖ for perturbed weights α_k (see the
    module docstring); (K, n)."""
    x = _check_x(x)
    if not isinstance(num_directions, int) or num_directions < 1:
        raise ValueError(f"num_directions must be a positive int, got {num_directions!r}")
    if not 0 <= noise < 1:
        raise ValueError(f"noise must lie in [0, 1), got {noise}")
    counts = Counts() if counts is None else counts
    _, jac = _jacobian(losses_fn, x, counts)
    alpha = min_norm_weights(jac)
    u = 1 + noise * (2 * torch.rand(num_directions, jac.shape[0], generator=generator, dtype=jac.dtype) - 1)
    weights = alpha * u.to(jac.device)
    weights = weights / weights.sum(1, keepdim=True)
    d = weights @ jac
    return x - step * d / torch.linalg.vector_norm(d, dim=1, keepdim=True)


def tangent_steps(losses_fn: Objective, start: Tensor, beta: Tensor, *, num_steps: int = 10,
                  step: float = 0.1, damping: float = 0.1, engine: str = "graph",
                  hessian_losses_fn: Objective | None = None, rtol: float = 1e-5,
                  maxiter: int | None = 20) -> tuple[Tensor, Counts]:
    """Follow tangents from E starts at once (see the module docstring): ``start`` (E, n), ``beta``
    (m,) or (E, m). Returns the trajectory (num_steps + 1, E, n) (the starts first) and the counts
    per start (``jacobians`` and ``hvps`` per point; ``losses`` one per step)."""
    if not isinstance(start, Tensor) or start.dim() != 2:
        raise ValueError(f"start must have shape (E, n), got "
                         f"{tuple(start.shape) if isinstance(start, Tensor) else type(start).__name__}")
    if not isinstance(num_steps, int) or num_steps < 0:
        raise ValueError(f"num_steps must be a non-negative int, got {num_steps!r}")
    if not step > 0:
        raise ValueError(f"step must be > 0, got {step}")
    x = start.detach()
    path, counts = [x], Counts()
    for _ in range(num_steps):
        res = tangents_at(losses_fn, x, beta, damping=damping, engine=engine,
                          hessian_losses_fn=hessian_losses_fn, rtol=rtol, maxiter=maxiter)
        counts.losses += 1
        counts.jacobians += 1
        counts.hvps += res.products                     # stacked: one HVP per start each
        x = x - step * res.unit()
        path.append(x)
    return torch.stack(path), counts


@dataclass
class Exploration:
    """Explored points (N, n) in the order found (the start first), their losses (N, m), and the
    evaluation counts of the two phases (an uncorrected start's one loss evaluation is counted with
    the corrections)."""

    points: Tensor
    losses: Tensor
    expand: Counts
    correct: Counts


def explore(losses_fn: Objective, start: Tensor, *, num_points: int = 10, num_directions: int = 2,
            step: float = 0.1, damping: float = 0.0, rtol: float = 1e-8, maxiter: int | None = None,
            seed: int = 0, tol: float = 1e-5, correct_start: bool = True,
            predictor: str = "tangent", noise: float = 0.1) -> Exploration:
    """Breadth-first Pareto expansion (Algorithm 1): pop a point, predict ``num_directions``
    neighbours along tangents (``predictor="tangent"``) or by perturbed weighted sums
    (``"weighted_sum"``, the paper's baseline, weights perturbed by up to ``noise``), correct each
    with MGDA, queue them; stop at ``num_points`` points."""
    start = _check_x(start)
    if predictor not in PREDICTORS:
        raise ValueError(f"predictor must be one of {PREDICTORS}, got {predictor!r}")
    if not isinstance(num_points, int) or num_points < 1:
        raise ValueError(f"num_points must be a positive int, got {num_points!r}")
    gen = torch.Generator().manual_seed(seed)
    expand, correct = Counts(), Counts()
    if correct_start:
        first = mgda_correct(losses_fn, start, tol=tol)
        correct += first.counts
        x0, f0 = first.x, first.losses
    else:
        x0, f0 = start, _losses(losses_fn, start, correct)
    points, losses = [x0], [f0]
    queue = deque([x0])
    while queue and len(points) < num_points:
        x = queue.popleft()
        if predictor == "tangent":
            guesses = predict(losses_fn, x, num_directions=num_directions, step=step, damping=damping,
                              rtol=rtol, maxiter=maxiter, generator=gen, counts=expand)
        else:
            guesses = predict_weighted_sum(losses_fn, x, num_directions=num_directions, step=step,
                                           noise=noise, generator=gen, counts=expand)
        for guess in guesses:
            fixed = mgda_correct(losses_fn, guess, tol=tol)
            correct += fixed.counts
            points.append(fixed.x)
            losses.append(fixed.losses)
            queue.append(fixed.x)
            if len(points) >= num_points:
                break
    return Exploration(torch.stack(points), torch.stack(losses), expand, correct)
