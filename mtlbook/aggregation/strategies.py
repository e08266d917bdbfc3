"""MGDA, MGDA-UB, PCGrad and CAGrad as training strategies for :func:`mtlbook.train.fit`.

Each strategy computes the per-task gradients of the shared parameters θ (the rows of the Jacobian
J, :func:`mtlbook.gradients.task_jacobian`, K backward passes through the trunk), turns them into one
update direction with the pure functions of :mod:`mtlbook.aggregation.directions`, and writes it into
``.grad`` of θ. The model must expose ``shared_parameters()`` (every mtlbook multi-task model does);
every other trainable parameter counts as task-specific.

Task-specific heads. L_k does not depend on the head of task j ≠ k, so each head has one gradient,
its own, and there is nothing to aggregate: the heads receive ∇L_k unweighted, as in Sener & Koltun's
Algorithm 2 (and in PCGrad and CAGrad, which manipulate only the shared gradients). MGDA and MGDA-UB
take ``weight_heads=True`` to give the heads the loss weights K·α instead, as the MGDA-UB code does
when it back-propagates Σ_k α_k L_k through the whole network.

Scale: the convention of the book is Σ w = K (equal weighting is the plain sum of the losses), so
MGDA's simplex weights α become loss weights K·α, PCGrad uses the sum of the projected gradients as
in its paper, and CAGrad's mean-based direction is multiplied by K. The weights each strategy
returns (recorded by the training loop) are the coefficients c of the shared update Σ_k c_k g_k.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbook.aggregation.directions import _check_c, cagrad_weights, pcgrad_weights
from mtlbook.aggregation.gram import gram_matrix
from mtlbook.aggregation.min_norm import METHODS, min_norm_weights, min_norm_weights_from_gram
from mtlbook.gradients import add_to_grad_, gradients_through_outputs, jacobian_buffer, task_jacobian
from mtlbook.strategy import StepContext, Strategy


def _split_parameters(model) -> tuple[list[Tensor], list[Tensor]]:
    if not hasattr(model, "shared_parameters"):
        raise TypeError(f"gradient aggregation needs a model with shared_parameters(); "
                        f"{type(model).__name__} has none")
    shared = [p for p in model.shared_parameters() if p.requires_grad]
    if not shared:
        raise ValueError(f"{type(model).__name__}.shared_parameters() is empty: there is nothing "
                         "to aggregate (use a loss weighting for separate networks)")
    ids = {id(p) for p in shared}
    heads = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    return shared, heads


def _check_finite_jacobian(jac: Tensor, what: str) -> None:
    if not bool(torch.isfinite(jac).all()):
        k = int((~torch.isfinite(jac)).any(-1).nonzero()[0, -1])
        raise FloatingPointError(f"the gradient of task {k} with respect to the {what} is not finite")


def _backward_heads(losses: Tensor, heads: list[Tensor], weights: Tensor | None) -> None:
    if heads:
        total = losses.sum() if weights is None else (weights.detach().to(losses) * losses).sum()
        torch.autograd.backward(total, inputs=heads)


class GradientAggregation(Strategy):
    """Base class: ``coefficients(jacobian)`` returns c (..., K) for the shared update Σ_k c_k g_k.
    Methods that need J only through its Gram matrix implement ``coefficients_from_gram(gram,
    dtype)`` instead; the Gram matrix is then formed once per step and also serves the check that
    the gradients are finite (its diagonal holds their squared norms)."""

    jacobian_method = "loop"

    def coefficients(self, jacobian: Tensor) -> Tensor:
        return self.coefficients_from_gram(gram_matrix(jacobian), jacobian.dtype)

    def coefficients_from_gram(self, gram: Tensor, dtype: torch.dtype) -> Tensor:
        raise NotImplementedError

    def head_weights(self, coefficients: Tensor) -> Tensor | None:
        """Loss weights of the heads' gradients; None means unweighted."""
        return None

    def backward(self, losses: Tensor, ctx: StepContext) -> Tensor:
        shared, heads = _split_parameters(ctx.model)
        if self.jacobian_method == "loop":        # J's storage is kept from step to step
            self._jacobian = jacobian_buffer(losses, shared, getattr(self, "_jacobian", None))
            jac = task_jacobian(losses, shared, retain_graph=bool(heads), out=self._jacobian)
        else:
            jac = task_jacobian(losses, shared, method=self.jacobian_method,
                                retain_graph=bool(heads))
        if type(self).coefficients_from_gram is GradientAggregation.coefficients_from_gram:
            _check_finite_jacobian(jac, "shared parameters")
            coef = self.coefficients(jac).to(jac.dtype)
        else:
            gram = gram_matrix(jac)
            if not bool(torch.isfinite(gram.diagonal(dim1=-2, dim2=-1)).all()):
                _check_finite_jacobian(jac, "shared parameters")  # which task (or an overflow)
            coef = self.coefficients_from_gram(gram, jac.dtype).to(jac.dtype)
        _backward_heads(losses, heads, self.head_weights(coef))
        add_to_grad_(shared, (coef.unsqueeze(-2) @ jac).squeeze(-2))
        return coef


def _check_solver(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


class MGDA(GradientAggregation):
    """MGDA (Désidéri 2012; Sener & Koltun, NeurIPS 2018, Algorithm 2) on the exact per-task
    gradients of the shared parameters: α = argmin_{α∈Δ} ‖Σ α_k ∇_θ L_k‖², shared update
    K · Σ α_k ∇_θ L_k (loss weights K·α). Heads: unweighted, or K·α with ``weight_heads=True``.
    ``method`` picks the min-norm solver (see :func:`mtlbook.aggregation.solve_min_norm`)."""

    def __init__(self, *, method: str = "auto", weight_heads: bool = False):
        self.method = _check_solver(method)
        self.weight_heads = bool(weight_heads)

    def coefficients_from_gram(self, gram: Tensor, dtype: torch.dtype) -> Tensor:
        return gram.shape[-1] * min_norm_weights_from_gram(gram, method=self.method).to(dtype)

    def head_weights(self, coefficients: Tensor) -> Tensor | None:
        return coefficients if self.weight_heads else None


class MGDAUB(Strategy):
    """MGDA-UB (Sener & Koltun 2018, Section 3.3): the min-norm weights of the gradients with respect
    to the shared representation z = ``ctx.features`` (per example, flattened: K × B·D), which
    bound the shared-parameter problem (Theorem 1) and cost only backward passes through the heads.
    The update is then one backward pass of Σ_k K α_k L_k through the trunk. Heads: unweighted, or
    K·α with ``weight_heads=True``. Needs a model with ``encode``/``decode`` (e.g. HardSharing).

    The K representation gradients come from one backward pass to the task outputs and one from
    each output through its head (:func:`mtlbook.gradients.gradients_through_outputs`), which also
    yields the heads' own gradients. The trunk's update needs no further pass through the heads:
    ∇_z Σ_k w_k L_k = Σ_k w_k ∇_z L_k is at hand, and is back-propagated from z (the shared
    parameters enter the losses only through z, the split that MGDA-UB assumes)."""

    def __init__(self, *, method: str = "auto", weight_heads: bool = False):
        self.method = _check_solver(method)
        self.weight_heads = bool(weight_heads)

    def backward(self, losses: Tensor, ctx: StepContext) -> Tensor:
        if ctx.features is None:
            raise ValueError("MGDA-UB needs the shared representation: the model must have encode() "
                             f"and decode(); {type(ctx.model).__name__} does not")
        shared, heads = _split_parameters(ctx.model)
        z = ctx.features
        per_task = gradients_through_outputs(losses, ctx.outputs, [z, *heads])
        lead = losses.shape[:-1]
        z_grads = torch.stack([grads[0].reshape(*lead, -1) for grads in per_task], dim=-2)
        _check_finite_jacobian(z_grads, "shared representation")
        weights = losses.shape[-1] * min_norm_weights(z_grads, method=self.method).to(losses.dtype)
        w = weights.detach()
        for i, p in enumerate(heads, start=1):           # each head: its own task's gradient
            pieces = [g[i] * w[..., k].reshape(*lead, *[1] * (g[i].dim() - len(lead)))
                      if self.weight_heads else g[i]
                      for k, g in enumerate(per_task) if g[i] is not None]
            if pieces:
                total = torch.stack(pieces).sum(0) if len(pieces) > 1 else pieces[0]
                p.grad = total if p.grad is None else p.grad + total
        dz = (w.to(z_grads.dtype).unsqueeze(-2) @ z_grads).squeeze(-2)      # ∇_z Σ_k w_k L_k
        torch.autograd.backward(z, grad_tensors=dz.reshape(z.shape), inputs=shared)
        return weights


class PCGrad(GradientAggregation):
    """PCGrad (Yu et al., NeurIPS 2020, Algorithm 1): the shared update is Σ_i g_i^PC, each g_i
    projected onto the normal plane of every g_j it conflicts with, in a random order drawn from
    ``generator`` (a torch.Generator seeded with ``seed``; the state is the attribute
    ``generator``). Heads receive their own gradients unchanged."""

    def __init__(self, *, seed: int = 0):
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.generator = torch.Generator().manual_seed(seed)

    def coefficients_from_gram(self, gram: Tensor, dtype: torch.dtype) -> Tensor:
        return pcgrad_weights(gram, self.generator)


class CAGrad(GradientAggregation):
    """CAGrad (Liu et al., NeurIPS 2021, Algorithm 1) with radius ``c``: the shared update is K times
    d = (g_0 + c‖g_0‖ g_w / ‖g_w‖) / (1 + c) (``rescale=True``; the factor K keeps c = 0 equal to
    equal weighting, the sum of the losses). Two tasks use the closed form of the inner problem,
    more tasks SciPy's SLSQP (see :func:`mtlbook.aggregation.directions.cagrad_inner_weights`).
    Heads receive their own gradients unchanged."""

    def __init__(self, c: float = 0.5, *, rescale: bool = True):
        self.c = _check_c(c)
        self.rescale = bool(rescale)

    def coefficients_from_gram(self, gram: Tensor, dtype: torch.dtype) -> Tensor:
        return gram.shape[-1] * cagrad_weights(gram, self.c, rescale=self.rescale)
