"""Per-task gradients: the Jacobian of the task losses with respect to the shared parameters, and the
gradients with respect to the shared representation z (MGDA-UB).

Gradient methods (MGDA, PCGrad, CAGrad, ...) need one gradient per task, g_k = ∇_θ L_k, for the
parameters θ that the tasks share. :func:`task_jacobian` returns them as the rows of J (K × n),
flattened over the parameters in the order given, computed either with a loop of K
``torch.autograd.grad`` calls or with one batched (vmapped) call. Task-specific parameters (heads)
are not part of J: a loss L_k does not depend on the head of task j ≠ k, so each head has only one
gradient, its own, and the methods give it to the head unweighted (Sener & Koltun, Algorithm 2).

Models trained side by side (``EnsembleHardSharing``: E independent models, losses (E, K), every
parameter with a leading model dimension E) are handled too: losses of shape (*lead, K) give
J of shape (*lead, K, n), one Jacobian per model. Because the models share nothing, one backward
pass of Σ_e L_{e,k} yields every model's gradient of task k at once.

Cost: the loop makes K backward passes through the shared trunk (about (K + 1)× a plain step);
the batched call does the same work in one vmapped pass (faster on a GPU, not on a CPU). MGDA-UB
replaces J by the gradients with respect to z, which need only backward passes through the heads.
"""

from __future__ import annotations

import functools

from collections.abc import Sequence

import torch
from torch import Tensor

JACOBIAN_METHODS = ("loop", "batched")


def _check_losses(losses: Tensor) -> Tensor:
    if not isinstance(losses, Tensor):
        raise TypeError(f"losses must be a torch.Tensor of shape (..., K), got {type(losses).__name__}")
    if losses.dim() < 1 or losses.shape[-1] < 1:
        raise ValueError(f"losses must have shape (..., K) with K >= 1 tasks, got {tuple(losses.shape)}")
    if not losses.requires_grad:
        raise ValueError("losses must require grad (compute them from the model, not under no_grad)")
    return losses


def _check_params(params: Sequence[Tensor], lead: torch.Size, name: str) -> list[Tensor]:
    params = list(params)
    if not params:
        raise ValueError(f"{name} must hold at least one tensor")
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}[{i}] must be a tensor, got {type(p).__name__}")
        if tuple(p.shape[:len(lead)]) != tuple(lead):
            raise ValueError(f"{name}[{i}] has shape {tuple(p.shape)}; with losses of shape "
                             f"(*{tuple(lead)}, K) every tensor must start with the model "
                             f"dimensions {tuple(lead)}")
    return params


def flatten_grads(grads: Sequence[Tensor | None], params: Sequence[Tensor], lead: torch.Size,
                  out: Tensor | None = None) -> Tensor:
    """Concatenate per-parameter gradients into (*lead, n), written into ``out`` when given; a missing
    gradient (a parameter the loss does not use) counts as zero."""
    pieces = [(torch.zeros_like(p) if g is None else g).reshape(*lead, -1) for g, p in zip(grads, params)]
    return torch.cat(pieces, dim=-1) if out is None else torch.cat(pieces, dim=-1, out=out)


def jacobian_buffer(losses: Tensor, params: Sequence[Tensor], reuse: Tensor | None = None) -> Tensor:
    """A (K, *lead, n) tensor to hold J for ``losses`` (*lead, K) and ``params``: ``reuse`` when it
    has that shape, dtype and device, else a new, uninitialized one."""
    lead, k = losses.shape[:-1], losses.shape[-1]
    shape = (k, *lead, sum(p[(0,) * len(lead)].numel() for p in params))
    dtype = functools.reduce(torch.promote_types, [p.dtype for p in params])
    if (reuse is not None and tuple(reuse.shape) == shape and reuse.dtype == dtype
            and reuse.device == params[0].device):
        return reuse
    return torch.empty(shape, dtype=dtype, device=params[0].device)


def task_jacobian(losses: Tensor, params: Sequence[Tensor], *, method: str = "loop",
                  retain_graph: bool = False, out: Tensor | None = None) -> Tensor:
    """J[..., k, :] = ∇_θ L_k for losses (..., K) and the tensors ``params`` (θ, flattened in order).

    ``method="loop"``: K calls of ``torch.autograd.grad``; ``"batched"``: one call with the K unit
    cotangents batched (``is_grads_batched``, i.e. vmap over the backward pass). The graph is freed
    after the last pass unless ``retain_graph``. Returns (*lead, K, n) in the parameters' dtype.

    ``out`` (loop only): a (K, *lead, n) buffer of that dtype to write the rows into, kept by a caller
    that forms J every step. J is large (K × 2.4M floats is 94 MB), and a fresh allocation of that
    size is paid in page faults on each step; the result is then a view of ``out``.
    """
    if method not in JACOBIAN_METHODS:
        raise ValueError(f"method must be one of {JACOBIAN_METHODS}, got {method!r}")
    losses = _check_losses(losses)
    lead, k = losses.shape[:-1], losses.shape[-1]
    params = _check_params(params, lead, "params")
    per_task = losses.reshape(-1, k).sum(0)                # Σ over independent models: (K,)
    if method == "loop":                                   # each row is written in place
        if out is None:
            out = jacobian_buffer(losses, params)
        elif out is not jacobian_buffer(losses, params, out):
            raise ValueError(f"out must be a tensor of shape (K, *lead, n) = "
                             f"{(k, *lead, sum(p[(0,) * len(lead)].numel() for p in params))} in "
                             f"the parameters' dtype and device, got {out.dtype} "
                             f"{tuple(out.shape)} on {out.device}")
        for i in range(k):
            flatten_grads(torch.autograd.grad(per_task[i], params, allow_unused=True,
                                              retain_graph=retain_graph or i < k - 1),
                          params, lead, out=out[i])
        return out.movedim(0, -2)
    if out is not None:
        raise ValueError('out is used by method="loop" only')
    eye = torch.eye(k, dtype=per_task.dtype, device=per_task.device)
    grads = torch.autograd.grad(per_task, params, grad_outputs=eye, is_grads_batched=True,
                                allow_unused=True, retain_graph=retain_graph)
    flat = torch.cat([(torch.zeros(k, *p.shape, dtype=p.dtype, device=p.device) if g is None else g)
                      .reshape(k, *lead, -1) for g, p in zip(grads, params)], dim=-1)
    return flat.movedim(0, -2)


def representation_gradients(losses: Tensor, features: Tensor, *, method: str = "loop",
                             retain_graph: bool = True) -> Tensor:
    """The MGDA-UB matrix: ∇_z L_k for the shared representation z = ``features`` (..., B, D),
    flattened over the batch and feature dimensions: (..., K, B·D).

    Sener & Koltun (2018, Theorem 1) bound ‖Σ α_k ∇_θ L_k‖ <= ‖∂z/∂θ‖ · ‖Σ α_k ∇_z L_k‖, so the
    min-norm weights of these gradients (MGDA-UB) need only backward passes through the task heads.
    The per-example gradients are kept (not summed over the batch), as in the paper's code. The graph
    is kept by default, because the update is then back-propagated through the trunk.
    """
    if not isinstance(features, Tensor):
        raise TypeError(f"features must be a tensor, got {type(features).__name__}")
    return task_jacobian(losses, [features], method=method, retain_graph=retain_graph)


def gradients_through_outputs(losses: Tensor, outputs: Sequence[Tensor], inputs: Sequence[Tensor]
                              ) -> list[tuple[Tensor | None, ...]]:
    """∇ L_k with respect to each of ``inputs``, task by task, for losses (..., K) in which L_k
    depends on ``outputs[k]`` alone (as :func:`mtlbook.tasks.task_losses` builds them).

    One backward pass from the losses to the outputs, then one from each output with its cotangent
    ∂L_k/∂outputs[k]: K passes through the heads in all. The stacked losses would cost K² (each of
    K passes from L_k also walks every other head with a zero cotangent), or a vmapped pass that
    loops over the K cotangents where an operator has no batching rule. Returns, per task, one
    gradient per input (None where L_k does not reach it); the graph below the outputs is kept.
    """
    losses = _check_losses(losses)
    outputs = list(outputs)
    if len(outputs) != losses.shape[-1]:
        raise ValueError(f"need one output per task: losses have K = {losses.shape[-1]}, got "
                         f"{len(outputs)} outputs")
    cotangents = torch.autograd.grad(losses.sum(), outputs, retain_graph=True)
    return [torch.autograd.grad(out, list(inputs), grad_outputs=cot, retain_graph=True,
                                allow_unused=True)
            for out, cot in zip(outputs, cotangents)]


def add_to_grad_(params: Sequence[Tensor], flat: Tensor) -> None:
    """Add a flat gradient (*lead, n), laid out as :func:`task_jacobian` lays out J's rows, to the
    ``.grad`` of ``params``."""
    params = list(params)
    lead = flat.shape[:-1]
    sizes = [p[(0,) * len(lead)].numel() for p in params]
    if sum(sizes) != flat.shape[-1]:
        raise ValueError(f"flat has {flat.shape[-1]} entries per model, the parameters hold "
                         f"{sum(sizes)}")
    for p, piece in zip(params, torch.split(flat, sizes, dim=-1)):
        piece = piece.reshape(p.shape).to(p.dtype)
        if p.grad is None:
            p.grad = piece.clone()
        else:
            p.grad.add_(piece)
