"""The min-norm point of the convex hull of the task gradients: MGDA's common descent direction.

Sener & Koltun (NeurIPS 2018), following Désidéri's MGDA (2012): the weights

    α* = argmin_{α ∈ Δ^K} ‖Σ_k α_k g_k‖²,   Δ^K = {α >= 0, Σ α_k = 1},

give d = Σ α*_k g_k with ⟨g_k, d⟩ >= ‖d‖² for every task k, so −d decreases every loss unless
d = 0, in which case the parameters are Pareto-stationary. Only the Gram matrix G = J Jᵀ enters.

Solvers (``method``):
- ``"closed_form"``: two tasks, α_1 = clip((G_22 − G_12) / (G_11 + G_22 − 2G_12), 0, 1), batched
  on the device without a host synchronization;
- ``"active_set"``: Wolfe's exact active-set method (the default for K > 2);
- ``"frank_wolfe"``: Sener & Koltun's Algorithm 2 with a duality-gap stopping rule (taught; slow);
- ``"auto"``: closed form for K = 2, active set otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mtlbook.aggregation.active_set import wolfe_min_norm
from mtlbook.aggregation.frank_wolfe import frank_wolfe_min_norm
from mtlbook.aggregation.gram import check_gram, check_gram_host, duality_gap, gram_matrix, squared_norm

METHODS = ("auto", "closed_form", "active_set", "frank_wolfe")


@dataclass
class MinNormSolution:
    """Weights on the simplex (..., K) and how good they are: the duality gap αᵀGα − min(Gα), the
    squared norm ‖d‖² = αᵀGα (both float64, shape (...)), the solver's iterations and whether it
    met its tolerance."""

    weights: Tensor
    gap: Tensor
    norm2: Tensor
    iterations: Tensor
    converged: Tensor

    @property
    def relative_gap(self) -> Tensor:
        """gap / ‖d‖²: undefined where d = 0 (a Pareto-stationary point): NaN (0 / 0) or inf."""
        return self.gap / self.norm2


def two_task_min_norm(gram: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """Closed-form min-norm weights of two gradients from their (..., 2, 2) Gram matrix.

    α_1 = (G_22 − G_12) / ‖g_1 − g_2‖², α_2 = (G_11 − G_12) / ‖g_1 − g_2‖², clipped to [0, 1]: exactly
    (1, 0) when ⟨g_1, g_2⟩ >= ‖g_1‖² (g_1 already decreases both losses at least as fast) and (0, 1)
    in the mirror case. (Sener & Koltun's code returns 0.999/0.001 there instead, which leaves the
    dominated task a 0.1% weight.) Equal gradients (G_11 = G_22 = G_12) get (½, ½). The denominator
    is formed as (G_11 − G_12) + (G_22 − G_12), the sum of the two numerators, so that the weights
    add up to 1 to rounding even for nearly equal gradients (G_11 + G_22 − 2G_12 would lose that to
    cancellation). Takes a floating tensor or NumPy array of shape (..., 2, 2), batched over the
    leading dimensions. A NumPy array or a tensor on the CPU must be finite (ValueError otherwise);
    on an accelerator the tensor is not checked, to avoid a host synchronization, and a problem with
    a non-finite entry gets NaN weights instead.
    """
    if isinstance(gram, np.ndarray):
        xp = np
        if not np.issubdtype(gram.dtype, np.floating):
            raise TypeError(f"gram must be a floating-point array, got dtype {gram.dtype}")
    elif isinstance(gram, Tensor):
        xp = torch
        if not gram.is_floating_point():
            raise TypeError(f"gram must be a floating-point tensor, got {gram.dtype}")
    else:
        raise TypeError(f"gram must be a torch.Tensor or a NumPy array of shape (..., 2, 2), got "
                        f"{type(gram).__name__}")
    if gram.ndim < 2 or tuple(gram.shape[-2:]) != (2, 2):
        raise ValueError(f"gram must have shape (..., 2, 2) (the Gram matrix of two gradients), got "
                         f"shape {tuple(gram.shape)}")
    if xp is np or gram.device.type == "cpu":
        if not bool(xp.isfinite(gram).all()):
            raise ValueError("gram must be finite (the Gram matrix of two finite gradients)")
        finite = None
    else:
        finite = torch.isfinite(gram).all(-1).all(-1)             # (...,), stays on the device
    g12 = gram[..., 0, 1]
    to_1, to_2 = gram[..., 0, 0] - g12, gram[..., 1, 1] - g12   # ⟨g_1 − g_2, g_1⟩, ⟨g_2 − g_1, g_2⟩
    den = to_1 + to_2                                     # ‖g_1 − g_2‖² >= 0
    safe = xp.where(den > 0, den, 1.0)
    a1 = xp.where(den > 0, xp.clip(to_2 / safe, 0.0, 1.0), 0.5)
    a2 = xp.where(den > 0, xp.clip(to_1 / safe, 0.0, 1.0), 0.5)
    weights = xp.stack([a1, a2], -1)
    if finite is not None:
        weights = torch.where(finite.unsqueeze(-1), weights, torch.full_like(weights, float("nan")))
    return weights


def _on_cpu(gram: object) -> bool:
    return isinstance(gram, Tensor) and gram.device.type == "cpu"


def solve_min_norm(gram: Tensor, *, method: str = "auto", rtol: float | None = None,
                   atol: float | None = None, max_iter: int | None = None) -> MinNormSolution:
    """Min-norm weights of the gradients whose Gram matrix is ``gram`` (..., K, K), with the
    solution's duality gap and the solver's iteration count.

    The iterative solvers stop when gap <= ``rtol``·‖d‖² + ``atol``·max_k ‖g_k‖² (defaults: active
    set 1e-12 and 0, Frank-Wolfe 1e-4 and 1e-10; the absolute part matters when the origin is in
    the hull, d → 0) or after ``max_iter`` iterations (defaults: 20K + 100 and 1000). The iterative
    solvers, and the closed form for a Gram matrix on the CPU, run in NumPy on the host; the closed
    form of a Gram matrix on an accelerator stays there."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    k = gram.shape[-1] if isinstance(gram, Tensor) and gram.dim() >= 2 else None
    if method == "auto":
        method = "closed_form" if k == 2 else "active_set"
    if method == "closed_form" and not _on_cpu(gram):
        g = check_gram(gram)
        k, lead = g.shape[-1], g.shape[:-2]
        if k != 2:
            raise ValueError(f"the closed form solves two tasks; gram describes K={k} tasks")
        weights = two_task_min_norm(g)
        iterations = torch.zeros(lead, dtype=torch.long, device=g.device)
        converged = torch.ones(lead, dtype=torch.bool, device=g.device)
        norm2 = squared_norm(g, weights)
        return MinNormSolution(weights, duality_gap(g, weights), norm2, iterations, converged)
    if rtol is not None and not 0.0 <= rtol < 1.0:
        raise ValueError(f"rtol must lie in [0, 1), got {rtol}")
    if atol is not None and not atol >= 0.0:
        raise ValueError(f"atol must be >= 0, got {atol}")
    if max_iter is not None and (not isinstance(max_iter, int) or max_iter < 0):
        raise ValueError(f"max_iter must be a non-negative int, got {max_iter!r}")
    host = check_gram_host(gram)
    k, lead = host.shape[-1], host.shape[:-2]
    flat = host.reshape(-1, k, k)
    if method == "closed_form":
        if k != 2:
            raise ValueError(f"the closed form solves two tasks; gram describes K={k} tasks")
        results = [(w, 0, True) for w in two_task_min_norm(flat)]
    elif method == "active_set":
        tol, floor = 1e-12 if rtol is None else rtol, 0.0 if atol is None else atol
        results = [wolfe_min_norm(m, tol, max_iter, floor) for m in flat]
    else:
        tol, floor = 1e-4 if rtol is None else rtol, 1e-10 if atol is None else atol
        cap = 1000 if max_iter is None else max_iter
        results = [frank_wolfe_min_norm(m, tol, cap, floor) for m in flat]
    w = np.stack([r[0] for r in results])                    # (B, K), on the host
    gw = np.einsum("bij,bj->bi", flat, w)
    norm2 = np.einsum("bi,bi->b", w, gw)
    out = (w.reshape(*lead, k), (norm2 - gw.min(-1)).reshape(lead), norm2.reshape(lead))
    weights, gap, norm2 = (torch.from_numpy(a).to(gram.device) for a in out)
    iterations = torch.from_numpy(np.array([r[1] for r in results], dtype=np.int64)).reshape(lead)
    converged = torch.from_numpy(np.array([r[2] for r in results], dtype=bool)).reshape(lead)
    iterations, converged = iterations.to(gram.device), converged.to(gram.device)
    return MinNormSolution(weights, gap, norm2, iterations, converged)


def min_norm_weights_from_gram(gram: Tensor, *, method: str = "auto") -> Tensor:
    """The min-norm weights α (..., K) on the simplex, from the Gram matrix G (..., K, K) of the task
    gradients, in the Gram's floating dtype and on its device. See :func:`solve_min_norm`."""
    weights = solve_min_norm(gram, method=method).weights
    return weights.to(gram.dtype)


def min_norm_weights(grads: Tensor, *, method: str = "auto") -> Tensor:
    """The min-norm weights α on the simplex for task gradients ``grads`` (K, n), or (..., K, n)
    for a batch of problems: α = argmin_{α∈Δ} ‖Σ_k α_k g_k‖². Returns (..., K) in ``grads``' dtype
    and on its device. The Gram matrix is formed in float64 with one matrix product on the device;
    for K > 2 the K×K problem is then solved exactly on the CPU (one small transfer)."""
    return min_norm_weights_from_gram(gram_matrix(grads), method=method).to(grads.dtype)
