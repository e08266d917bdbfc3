"""MINRES for symmetric (possibly indefinite or singular) systems, in torch, on the device.

Paige & Saunders (SIAM J. Numer. Anal. 12(4), 1975): the Lanczos process builds an orthonormal basis
v_1, v_2, ... of the Krylov space K_k(A, r_0) with the three-term recurrence

    β_{k+1} v_{k+1} = A v_k − α_k v_k − β_k v_{k−1},    α_k = v_kᵀ A v_k,

so that A V_k = V_{k+1} T̄_k with T̄_k tridiagonal. The iterate x_k = x_0 + V_k y_k minimizes
‖b − A x_k‖ over x_0 + K_k; a QR factorization of T̄_k updated by one Givens rotation per step
gives x_k by a short recurrence on search directions w_k, and the residual norm ‖r_k‖ = φ̄_k for
free (no extra product).

This version solves (A − σI) x = b (σ = ``shift``, SciPy's convention: a damping λ is σ = −λ) for
several right-hand sides at once, the columns of b (n, K), each with its own Lanczos scalars, so
that one call of the operator multiplies K vectors. Every scalar stays a (K,) tensor on the device;
the host is asked only every ``check_every`` iterations whether every column has converged
(‖r_k‖ <= rtol·‖b‖) or broken down (β_{k+1} = 0: the Krylov space is invariant and x_k is exact).
Converged columns are frozen, so each column's result is its own MINRES iterate (they still ride
along in the batched operator call until every column has stopped or the next check).

Inside, the K vectors of each kind are the rows of one contiguous (K, n) tensor, updated in place
(``addcmul_``): about ten passes over memory per iteration besides the operator. A frozen column is
not masked in the long vectors; its scalar coefficients are zero, so its x stays as it was and its
other vectors become zero. The operator receives the rows' transposed view, (n, K).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

Operator = Callable[[Tensor], Tensor]


@dataclass
class MinresResult:
    """``solution`` (n,) or (n, K) like b; ``iterations`` (K,) (or ()) the steps each column took;
    ``residual_norm`` the recurrence's ‖b − (A − σI)x‖ per column; ``converged`` whether it met
    rtol (or reached rounding level, eps·(‖A‖‖x‖ + ‖b‖)); ``steps`` the loop's iteration count (= operator calls, the same for every column)."""

    solution: Tensor
    iterations: Tensor
    residual_norm: Tensor
    converged: Tensor
    steps: int


def _as_operator(a: Operator | Tensor, n: int, dtype: torch.dtype) -> Operator:
    if isinstance(a, Tensor):
        if a.dim() != 2 or a.shape != (n, n):
            raise ValueError(f"a as a matrix must have shape ({n}, {n}) to match b, got {tuple(a.shape)}")
        if not torch.allclose(a, a.mT, rtol=1e-6, atol=1e-12 * float(a.abs().max().clamp_min(1.0))):
            raise ValueError("a must be symmetric, got a matrix with a ≠ aᵀ")
        mat = a.to(dtype)
        return lambda v: mat @ v
    if callable(a):
        return a
    raise TypeError(f"a must be a symmetric tensor (n, n) or a callable v -> A v, got {type(a).__name__}")


def minres(a: Operator | Tensor, b: Tensor, *, shift: float = 0.0, x0: Tensor | None = None,
           rtol: float = 1e-8, maxiter: int | None = None, check_every: int = 10) -> MinresResult:
    """Solve (A − shift·I) x = b by MINRES (Paige & Saunders 1975) for b (n,) or (n, K) columns.

    ``a``: a symmetric (n, n) tensor or a callable mapping (n, K) to (n, K) (K columns at once).
    Stops a column when its residual norm falls to ``rtol``·‖b‖ or to rounding level (SciPy's ``minres(rtol=)`` uses a
    different, operator-scaled test, so its iteration counts can differ; the iterates agree), on
    breakdown, or after ``maxiter`` (default 5n) steps.
    """
    if not isinstance(b, Tensor) or not b.is_floating_point():
        raise TypeError(f"b must be a floating-point tensor, got {type(b).__name__ if not isinstance(b, Tensor) else b.dtype}")
    if b.dim() not in (1, 2) or b.shape[0] == 0:
        raise ValueError(f"b must have shape (n,) or (n, K) with n >= 1, got {tuple(b.shape)}")
    if not rtol >= 0.0:
        raise ValueError(f"rtol must be >= 0, got {rtol}")
    if not isinstance(check_every, int) or check_every < 1:
        raise ValueError(f"check_every must be a positive int, got {check_every!r}")
    single = b.dim() == 1
    rhs = b.unsqueeze(1) if single else b
    n, k = rhs.shape
    if maxiter is None:
        maxiter = 5 * n
    if not isinstance(maxiter, int) or maxiter < 0:
        raise ValueError(f"maxiter must be a non-negative int, got {maxiter!r}")
    op = _as_operator(a, n, rhs.dtype)
    sigma = float(shift)

    def apply(v: Tensor) -> Tensor:                       # rows (K, n) -> A rows, (K, n)
        out = op(v.mT)
        if not isinstance(out, Tensor) or out.shape != (n, k):
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"a(v) must return a tensor of shape {(n, k)}, got {got}")
        return out.mT

    # The vectors are kept as rows (K, n), each contiguous; an inactive row's coefficients are zero,
    # so its x stays as it was and its other vectors become zero (no masking of the long vectors).
    if x0 is None:
        x = torch.zeros(k, n, dtype=rhs.dtype, device=rhs.device)
        r1 = rhs.mT.clone(memory_format=torch.contiguous_format)   # updated in place: b's copy
    else:
        if not isinstance(x0, Tensor) or x0.shape != b.shape:
            raise ValueError(f"x0 must have the shape of b {tuple(b.shape)}, got "
                             f"{tuple(x0.shape) if isinstance(x0, Tensor) else type(x0).__name__}")
        x = (x0.unsqueeze(1) if single else x0).to(rhs.dtype).mT.clone(
            memory_format=torch.contiguous_format)
        r1 = rhs.mT - apply(x) + sigma * x
    tiny = torch.finfo(rhs.dtype).tiny
    eps = torch.finfo(rhs.dtype).eps
    bnorm = torch.linalg.vector_norm(rhs, dim=0)
    tol = rtol * bnorm
    beta = torch.linalg.vector_norm(r1, dim=1)            # β_1 = ‖r_0‖
    r2 = r1.clone()
    zeros = torch.zeros(k, dtype=rhs.dtype, device=rhs.device)
    oldb, dbar, epsln = zeros.clone(), zeros.clone(), zeros.clone()
    phibar = beta.clone()
    cs, sn = -torch.ones_like(zeros), zeros.clone()
    w, w2, v = torch.zeros_like(x), torch.zeros_like(x), torch.empty_like(x)
    iterations = torch.zeros(k, dtype=torch.long, device=rhs.device)
    anorm = zeros.clone()                                 # running estimate of ‖A − σI‖
    active = (phibar > tol) & (beta > tiny)
    floor_now = zeros.clone()
    steps = 0
    for steps in range(1, maxiter + 1):
        if (steps - 1) % check_every == 0 and not bool(active.any()):
            steps -= 1
            break
        on = active.to(rhs.dtype)
        safe_beta = torch.where(active, beta, torch.ones_like(beta))
        v = torch.mul(r2, (on / safe_beta).unsqueeze(1), out=v)   # v_k (zero for an inactive row)
        back = torch.where(oldb > 0, beta / torch.where(oldb > 0, oldb, torch.ones_like(oldb)), zeros)
        y = r1.mul_(-(on * back).unsqueeze(1))            # y = A v − σv − (β_k/β_{k−1}) r1, in r1's place
        y.add_(apply(v))
        if sigma != 0.0:
            y.add_(v, alpha=-sigma)
        alfa = torch.linalg.vecdot(v, y)                  # α_k
        y.addcmul_(v, alfa.unsqueeze(1), value=-1.0)      # (α_k / β_k) r2 = α_k v_k
        new_beta = torch.linalg.vector_norm(y, dim=1)     # β_{k+1}
        oldeps = epsln
        delta = cs * dbar + sn * alfa                     # apply the previous rotation
        gbar = sn * dbar - cs * alfa
        new_epsln = sn * new_beta
        new_dbar = -cs * new_beta
        gamma = torch.sqrt(gbar * gbar + new_beta * new_beta).clamp_min(eps)
        new_cs, new_sn = gbar / gamma, new_beta / gamma   # the new rotation
        phi = new_cs * phibar
        new_w = w2.mul_(-(on * oldeps / gamma).unsqueeze(1))   # (v − ε w_{k−2} − δ w_{k−1}) / γ,
        new_w.addcmul_(v, (on / gamma).unsqueeze(1))              # in w_{k−2}'s place
        new_w.addcmul_(w, (on * delta / gamma).unsqueeze(1), value=-1.0)
        x.addcmul_(new_w, (on * phi).unsqueeze(1))
        w2, w = w, new_w
        r1, r2 = r2, y
        oldb = torch.where(active, beta, oldb)
        beta = torch.where(active, new_beta, beta)
        epsln = torch.where(active, new_epsln, epsln)
        dbar = torch.where(active, new_dbar, dbar)
        cs, sn = torch.where(active, new_cs, cs), torch.where(active, new_sn, sn)
        phibar = torch.where(active, new_sn * phibar, phibar)
        iterations = iterations + active.long()
        anorm = torch.where(active, torch.maximum(anorm, torch.sqrt(alfa * alfa + oldb * oldb
                                                                + new_beta * new_beta)), anorm)
        # Stop at rounding level: the residual cannot fall below eps (‖A‖‖x‖ + ‖b‖), and a
        # β_{k+1} at rounding level means the Krylov space is invariant (x is exact).
        floor = eps * (anorm * torch.linalg.vector_norm(x, dim=1) + bnorm)
        active = active & (phibar > torch.maximum(tol, floor)) & (new_beta > eps * anorm + tiny)
        floor_now = floor
    converged = phibar <= torch.maximum(tol, floor_now)
    if single:
        return MinresResult(x[0], iterations[0], phibar[0], converged[0], steps)
    return MinresResult(x.mT, iterations, phibar, converged, steps)
