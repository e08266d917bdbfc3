"""Gram matrices of task gradients, their checks, and the duality gap of the min-norm problem.

Every method of chapter 4 needs the task gradients g_1..g_K only through their inner products
G_ij = ⟨g_i, g_j⟩ (the Gram matrix, K×K), so the solvers work on G and never on the n-dimensional
gradients. Gram matrices are formed in float64: the solvers resolve weights to 1e-8 and better, and
gradients of very different sizes (1e-8 next to 1e8) lose their small partner in float32.

The products are accumulated over blocks of columns, each converted to float64 on its own (the
copy stays in cache), and a block's K × w product is formed as a batch of K × 1024 products. BLAS
multiplies such short, wide pieces far faster than one K × n matrix with K small and n in the
millions: on a 2-core CPU, K = 10 and n = 2.4M take about 35 ms, against 146 ms for converting J
whole and multiplying it (the float32 product takes as long as the blocked float64 one).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from mtlbook.validation import check_broadcast


def check_grads(grads: Tensor, name: str = "grads") -> Tensor:
    """Check that ``grads`` is a floating (..., K, n) tensor with K >= 1 and n >= 1."""
    if not isinstance(grads, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (..., K, n), got {type(grads).__name__}")
    if not grads.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {grads.dtype}")
    if grads.dim() < 2:
        raise ValueError(f"{name} must have shape (..., K, n) (one row per task), got shape "
                         f"{tuple(grads.shape)}")
    if grads.shape[-2] < 1:
        raise ValueError(f"{name} must hold at least one task gradient (K >= 1), got shape "
                         f"{tuple(grads.shape)}")
    if grads.shape[-1] < 1:
        raise ValueError(f"{name} must have at least one coordinate (n >= 1), got shape "
                         f"{tuple(grads.shape)}")
    return grads


GRAM_BLOCK_BYTES = 1 << 22        # float64 bytes of one block of columns (4 MiB: fits in cache)
GRAM_PIECE = 1024                 # columns of one product in a block's batch


def gram_matrix(grads: Tensor) -> Tensor:
    """G = J Jᵀ in float64 for task gradients J of shape (..., K, n); returns (..., K, K)."""
    j = check_grads(grads)
    *lead, k, n = j.shape
    piece = GRAM_PIECE
    width = max(piece, GRAM_BLOCK_BYTES // (8 * j[..., 0].numel()) // piece * piece)
    gram = torch.zeros(*lead, k, k, dtype=torch.float64, device=j.device)
    for start in range(0, n, width):
        block = j[..., start:start + width].to(torch.float64, memory_format=torch.contiguous_format)
        whole = block.shape[-1] // piece * piece
        if whole:
            pieces = block[..., :whole].reshape(*lead, k, whole // piece, piece).transpose(-3, -2)
            gram += (pieces @ pieces.transpose(-1, -2)).sum(-3)
        if whole < block.shape[-1]:
            rest = block[..., whole:]
            gram += rest @ rest.transpose(-1, -2)
    return gram


def _check_gram_shape(gram: Tensor, name: str) -> None:
    if not isinstance(gram, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (..., K, K), got {type(gram).__name__}")
    if not gram.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {gram.dtype}")
    if gram.dim() < 2 or gram.shape[-1] != gram.shape[-2]:
        raise ValueError(f"{name} must be a square (..., K, K) matrix, got shape {tuple(gram.shape)}")
    if gram.shape[-1] < 1:
        raise ValueError(f"{name} must describe at least one task (K >= 1), got shape "
                         f"{tuple(gram.shape)}")


def check_gram(gram: Tensor, name: str = "gram") -> Tensor:
    """Check a (..., K, K) Gram matrix: square, K >= 1, finite, symmetric, non-negative diagonal.
    Returns it in float64, symmetrized. (One host synchronization for the finiteness checks.)"""
    _check_gram_shape(gram, name)
    g = gram.to(torch.float64)
    diag = g.diagonal(dim1=-2, dim2=-1)
    scale = diag.abs().amax(dim=-1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
    asym = (g - g.transpose(-1, -2)).abs().amax(dim=(-1, -2))
    ok = (torch.isfinite(g).all() & (diag >= -1e-10 * scale).all()
          & (asym <= 1e-6 * scale.squeeze(-1)).all())
    if bool(ok):                                                # one synchronization when all is well
        return 0.5 * (g + g.transpose(-1, -2))
    if not bool(torch.isfinite(g).all()):
        bad_diag = ~torch.isfinite(diag)                        # (..., K): task k is not finite
        if bool(bad_diag.any()):
            where = bad_diag.nonzero()[0].tolist()
            raise ValueError(f"{name} must be finite: the gradient of task {where[-1]} has "
                             f"non-finite entries{_where(where[:-1])}")
        raise ValueError(f"{name} must be finite: inner products of the task gradients overflow")
    if bool((diag < -1e-10 * scale).any()):
        raise ValueError(f"{name} must have a non-negative diagonal (squared gradient norms), got "
                         f"{diag.min().item():.3g}")
    if bool((asym > 1e-6 * scale.squeeze(-1)).any()):
        raise ValueError(f"{name} must be symmetric (G_ij = G_ji), got an asymmetry of "
                         f"{asym.max().item():.3g}")
    return 0.5 * (g + g.transpose(-1, -2))


def check_gram_host(gram: Tensor, name: str = "gram") -> np.ndarray:
    """:func:`check_gram` for the solvers that run on the host: one transfer of the Gram matrix,
    then the same checks in NumPy (the same errors); returns a symmetrized float64 NumPy array."""
    _check_gram_shape(gram, name)
    h = gram.detach().to("cpu", torch.float64).numpy()
    diag = np.diagonal(h, axis1=-2, axis2=-1)
    scale = np.maximum(np.abs(diag).max(-1), np.finfo(np.float64).tiny)
    with np.errstate(invalid="ignore"):                          # inf − inf: reported below
        asym = np.abs(h - np.swapaxes(h, -1, -2)).max((-1, -2))
    if not (np.isfinite(h).all() and (diag >= -1e-10 * scale[..., None]).all()
            and (asym <= 1e-6 * scale).all()):
        return check_gram(gram, name).detach().cpu().numpy()       # raises the precise error
    return 0.5 * (h + np.swapaxes(h, -1, -2))


def _where(lead: list[int]) -> str:
    return f" (at batch index {tuple(lead)})" if lead else ""


def squared_norm(gram: Tensor, weights: Tensor) -> Tensor:
    """‖Σ_k α_k g_k‖² = αᵀGα for gram (..., K, K) and weights (..., K) → (...), unchecked."""
    return (weights * (gram @ weights.unsqueeze(-1)).squeeze(-1)).sum(-1)


def _check_gap_inputs(gram: Tensor, weights: Tensor) -> None:
    _check_gram_shape(gram, "gram")
    if not isinstance(weights, Tensor):
        raise TypeError(f"weights must be a torch.Tensor of shape (..., K), got {type(weights).__name__}")
    if not weights.is_floating_point():
        raise TypeError(f"weights must be a floating-point tensor, got {weights.dtype}")
    k = gram.shape[-1]
    if weights.dim() < 1 or weights.shape[-1] != k:
        raise ValueError(f"weights must have shape (..., K) with K = {k} (gram is {k}×{k}), got "
                         f"shape {tuple(weights.shape)}")
    check_broadcast(gram.shape[:-2], weights.shape[:-1], f"the leading dimensions of gram {tuple(gram.shape)} "
                    f"and weights {tuple(weights.shape)} do not broadcast")


def duality_gap(gram: Tensor, weights: Tensor) -> Tensor:
    """Duality gap of the min-norm problem at ``weights`` α on the simplex:

        gap(α) = αᵀGα − min_k (Gα)_k = ‖d‖² − min_k ⟨g_k, d⟩,   d = Σ_k α_k g_k.

    With chapter 4a's names — (P) the max-min problem max_u min_k ⟨g_k, u⟩ − ½‖u‖², (D) the
    min-norm problem min_α ½‖Σ_k α_k g_k‖² — it is the value of (D) at α, ½‖d‖², minus the value of
    (P) at u = d, min_k ⟨g_k, d⟩ − ½‖d‖²; it is also the Frank-Wolfe gap. It is >= 0, zero exactly
    at the min-norm point, and bounds the error: ½‖d‖² − ½‖d*‖² <= gap. Shapes: gram (..., K, K),
    weights (..., K) with broadcastable leading dimensions → (...). (The shapes are checked; the
    values are not, so that the function adds no host synchronization.)
    """
    _check_gap_inputs(gram, weights)
    g = gram.to(torch.float64)
    a = weights.to(torch.float64)
    ga = (g @ a.unsqueeze(-1)).squeeze(-1)
    return (a * ga).sum(-1) - ga.amin(-1)


def relative_duality_gap(gram: Tensor, weights: Tensor) -> Tensor:
    """gap(α) / ‖d‖² = 1 − min_k ⟨g_k, d⟩ / ‖d‖², the scale-free accuracy of a min-norm solution
    (0 at the optimum: there every task's rate of decrease ⟨g_k, d⟩ is at least ‖d‖²). It is
    undefined when d = 0, i.e. at a Pareto-stationary point: there it returns NaN (0 / 0), or inf
    where rounding leaves a positive gap; use :func:`duality_gap` with an absolute tolerance there.
    Shapes as in :func:`duality_gap`."""
    _check_gap_inputs(gram, weights)
    g = gram.to(torch.float64)
    a = weights.to(torch.float64)
    return duality_gap(g, a) / squared_norm(g, a)
