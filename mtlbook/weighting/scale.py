"""Weights that undo each task's loss scale: 1/L(0), 1/L_prior, 1/sg(L(t)), 1/sg(‖∇L‖).

With weights w_k held constant, the update is d = Σ_k w_k ∇L_k. Multiplying task k's loss by c > 0
multiplies ∇L_k by c; adding b leaves ∇L_k alone but changes any weight computed from the loss value.

* 1/L_k(0) and 1/L_prior,k: cancel a constant factor c (scale-invariant), not a shift b.
* 1/sg(L_k(t)): the gradient of Σ L_k / sg(L_k) is Σ ∇L_k / L_k = ∇ Σ log L_k, the gradient of the log
  of the geometric mean; scale-invariant at every step, not shift-invariant.
* 1/sg(‖∇L_k‖): d = Σ ∇L_k / ‖∇L_k‖, the sum of unit gradients: invariant to both.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mtlbook.strategy import StepContext
from mtlbook.weighting.base import LossWeighting, check_losses, task_gradient_norms

SCHEMES = ("equal", "initial", "prior", "realtime", "gradnorm")


def _positive(values: Tensor, name: str) -> Tensor:
    check_losses(values, name=name)
    if bool((values <= 0).any()):
        raise ValueError(f"{name} must be > 0 to be inverted, got {values.tolist()}")
    return values


def initial_loss_weights(initial_losses: Tensor) -> Tensor:
    """w_k = 1 / L_k(0): each task's loss measured in units of its initial loss."""
    return 1.0 / _positive(initial_losses, "initial_losses")


def prior_loss_weights(prior_losses: Tensor) -> Tensor:
    """w_k = 1 / L_prior,k, where L_prior is the loss of the best input-free predictor (see
    :func:`label_entropy` and :func:`label_variance`)."""
    return 1.0 / _positive(prior_losses, "prior_losses")


def label_entropy(labels: Tensor, num_classes: int) -> Tensor:
    """H(y) = −Σ_c p_c log p_c (nats) of the empirical label distribution: the cross-entropy of the
    best constant predictor (predicting p). A uniform predictor gives log C instead."""
    if not isinstance(labels, Tensor) or labels.dtype not in (torch.int64, torch.int32, torch.int16,
                                                               torch.uint8, torch.int8):
        raise TypeError(f"labels must be an integer tensor, got "
                        f"{labels.dtype if isinstance(labels, Tensor) else type(labels).__name__}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if labels.numel() == 0 or int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(f"labels must be a non-empty tensor of values in [0, {num_classes}), "
                         f"got {labels.numel()} labels")
    p = torch.bincount(labels.reshape(-1).long(), minlength=num_classes).double() / labels.numel()
    p = p[p > 0]
    return -(p * p.log()).sum().to(torch.get_default_dtype())


def label_variance(targets: Tensor) -> Tensor:
    """Var(y) averaged over output dimensions (population variance): the mean squared error of the
    best constant predictor E[y]. ``targets`` is (B,) or (B, D)."""
    if not isinstance(targets, Tensor) or not targets.is_floating_point():
        raise TypeError("targets must be a floating-point tensor (B,) or (B, D)")
    if targets.dim() not in (1, 2) or targets.shape[0] < 1:
        raise ValueError(f"targets must have shape (B,) or (B, D) with B >= 1, got {tuple(targets.shape)}")
    return targets.var(0, unbiased=False).mean()


def uniform_cross_entropy(num_classes: int) -> float:
    """log C: the cross-entropy of a uniform prediction over C classes (a theoretical L(0))."""
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    return math.log(num_classes)


class InitialLossWeighting(LossWeighting):
    """w_k = 1 / L_k(0), with L(0) the losses of the first batch (kept in ``initial_losses``) unless
    given. Scale-invariant; not shift-invariant. Weights every parameter's gradient, heads included."""

    def __init__(self, initial_losses: Tensor | None = None):
        self.initial_losses = None if initial_losses is None else \
            _positive(torch.as_tensor(initial_losses, dtype=torch.get_default_dtype()), "initial_losses")

    def weights(self, losses: Tensor, ctx: StepContext | None = None) -> Tensor:
        check_losses(losses, finite=False)
        self.check_later("losses", losses, ctx, check_losses)
        if self.initial_losses is None:
            self.initial_losses = _positive(losses.detach().clone(), "initial_losses")
        if self.initial_losses.shape != losses.shape:
            raise ValueError(f"initial_losses of shape {tuple(self.initial_losses.shape)} do not match "
                             f"losses of shape {tuple(losses.shape)}")
        return 1.0 / self.initial_losses.to(losses)


class PriorLossWeighting(InitialLossWeighting):
    """w_k = 1 / L_prior,k for user-supplied prior losses (label entropy, label variance)."""

    def __init__(self, prior_losses: Tensor):
        super().__init__(_positive(torch.as_tensor(prior_losses, dtype=torch.get_default_dtype()),
                                   "prior_losses"))


class RealTimeLossWeighting(LossWeighting):
    """w_k = 1 / sg(L_k(t)): the update is ∇ Σ_k log L_k. Scale-invariant at every step."""

    def __init__(self, eps: float = 1e-12):
        self.eps = float(eps)

    def weights(self, losses: Tensor, ctx: StepContext | None = None) -> Tensor:
        check_losses(losses, finite=False)
        self.check_later("losses", losses, ctx, lambda v: _positive(v, "losses"))
        return 1.0 / losses.detach().clamp_min(self.eps)


class GradientNormWeighting(LossWeighting):
    """w_k = 1 / sg(‖∇_θ L_k‖) over the shared parameters θ (``model.shared_parameters()``, else all
    parameters): the shared update is Σ_k ∇L_k/‖∇L_k‖. Invariant to a task's loss scale and shift.
    Head gradients are weighted by the same w_k. Costs K extra backward passes.

    A task whose shared gradient vanishes (‖∇_θ L_k‖ ≤ ``eps``: a zero-initialized head, a batch with
    no labels for the task) gets w_k = 1 for that step rather than 1/eps, which would blow up its
    head's gradient: its head trains as under equal weights (a zero-initialized head leaves zero, and
    the task's shared gradient with it), and the trunk receives nothing from the task.

    Models trained side by side (losses (E, K), parameters with a leading model dimension E, as in
    ``EnsembleHardSharing``) get one norm per model and task from the same K passes."""

    def __init__(self, eps: float = 1e-12):
        if not 0 < eps < float("inf"):
            raise ValueError(f"eps must be finite and > 0, got {eps!r}")
        self.eps = float(eps)

    def backward(self, losses: Tensor, ctx: StepContext) -> Tensor:
        check_losses(losses)
        if losses.dim() not in (1, 2):
            raise ValueError(f"losses must be (K,) for one model or (E, K) for E models side by side, "
                             f"got {tuple(losses.shape)}")
        model = ctx.model
        params = list(model.shared_parameters()) if hasattr(model, "shared_parameters") \
            else [p for p in model.parameters() if p.requires_grad]
        norms = task_gradient_norms(losses, params)
        w = torch.where(norms > self.eps, 1.0 / norms.clamp_min(self.eps), torch.ones_like(norms))
        (w * losses).sum().backward()
        return w


def scheme_weights(scheme: str, losses: Tensor, initial_losses: Tensor, prior_losses: Tensor,
                   grads: Tensor) -> Tensor:
    """The weights (K,) of one static ``scheme`` (one of :data:`SCHEMES`) from loss values and the
    per-task gradients ``grads`` (K, n)."""
    if scheme == "equal":
        return torch.ones_like(losses)
    if scheme == "initial":
        return initial_loss_weights(initial_losses)
    if scheme == "prior":
        return prior_loss_weights(prior_losses)
    if scheme == "realtime":
        return 1.0 / _positive(losses, "losses")
    if scheme == "gradnorm":
        return 1.0 / _positive(grads.norm(dim=-1), "gradient norms")
    raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")


def _per_task(value: Tensor | float, k: int, name: str, dtype: torch.dtype) -> Tensor:
    """``value`` as K per-task values: a number, or a tensor of shape () or (K,)."""
    if not isinstance(value, (Tensor, int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a tensor of shape () or ({k},), "
                        f"got {type(value).__name__}")
    v = torch.as_tensor(value, dtype=dtype)
    if v.shape not in ((), (1,), (k,)):
        raise ValueError(f"{name} must be a number or a tensor of shape () or ({k},) (one value per "
                         f"task), got shape {tuple(v.shape)}")
    return v.expand(k)


def transformed_update(scheme: str, losses: Tensor, initial_losses: Tensor, prior_losses: Tensor,
                       grads: Tensor, scale: Tensor | float = 1.0, shift: Tensor | float = 0.0
                       ) -> tuple[Tensor, Tensor]:
    """Pure: the update d = Σ_k w_k c_k g_k when each task's loss L_k becomes c_k L_k + b_k.

    Loss values (current, initial, prior) map to c·L + b, gradients to c·g; the weights of ``scheme``
    are recomputed from the transformed values. Returns (unit direction d/‖d‖ (n,), magnitude ‖d‖).
    """
    grads = check_losses(grads, name="grads")
    k = grads.shape[0] if grads.dim() == 2 else None
    if k is None:
        raise ValueError(f"grads must have shape (K, n), got {tuple(grads.shape)}")
    for name, v in (("losses", losses), ("initial_losses", initial_losses), ("prior_losses", prior_losses)):
        check_losses(v, k, name)
    c, b = (_per_task(v, k, name, grads.dtype) for v, name in ((scale, "scale"), (shift, "shift")))
    if not bool(torch.isfinite(c).all()) or bool((c <= 0).any()):
        raise ValueError(f"scale must be finite and > 0, got {c.tolist()}")
    if not bool(torch.isfinite(b).all()):
        raise ValueError(f"shift must be finite, got {b.tolist()}")
    g = c[:, None] * grads
    w = scheme_weights(scheme, c * losses + b, c * initial_losses + b, c * prior_losses + b, g)
    d = (w[:, None] * g).sum(0)
    magnitude = d.norm()
    return d / magnitude.clamp_min(torch.finfo(d.dtype).tiny), magnitude


def invariance_table(losses: Tensor, initial_losses: Tensor, prior_losses: Tensor, grads: Tensor,
                     scale: Tensor | float, shift: Tensor | float, rtol: float = 1e-6
                     ) -> dict[str, tuple[bool, bool]]:
    """Pure: for each scheme, (direction changed, magnitude changed) when the losses are transformed
    by ``scale`` and ``shift`` (per task or for all), compared with the untransformed update."""
    table = {}
    for scheme in SCHEMES:
        d0, m0 = transformed_update(scheme, losses, initial_losses, prior_losses, grads)
        d1, m1 = transformed_update(scheme, losses, initial_losses, prior_losses, grads, scale, shift)
        table[scheme] = (not torch.allclose(d0, d1, rtol=rtol, atol=rtol),
                         not torch.allclose(m0, m1, rtol=rtol, atol=0.0))
    return table
