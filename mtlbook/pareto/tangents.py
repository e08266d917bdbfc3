"""Tangent directions of the local Pareto set at a Pareto-stationary point (Ma, Du & Matusik, ICML
2020, §4.1, eq. 6; after Hillermeier, 2001).

At a Pareto-stationary x* with weights α on the simplex, Σ_i α_i ∇f_i(x*) = 0. Following the set of
such points along a curve x(t) with weights α(t) and differentiating the stationarity condition gives

    H_α v = −Σ_i α̇_i ∇f_i = Jᵀβ,    H_α = Σ_i α_i ∇²f_i(x*),  J = [∇f_1; ...; ∇f_m]  (m × n),

so the tangent directions v are H_α⁻¹Jᵀβ for β ∈ ℝᵐ. Only stationarity was used: the system
describes the set of Pareto-*stationary* points, which is wider than the Pareto set (it contains
minimizers of a single loss that other points may dominate). β is not a loss weight: it is minus
the velocity of the weights, β = −α̇, up to adding a multiple of α. A true velocity keeps α on the
simplex, Σ_i β_i = 0; any β ∈ ℝᵐ gives the same v as β − (Σ_i β_i)α, because Jᵀα = 0. β = e_i
gives the direction that trades f_i against the others. A step x* − s v changes the losses by Δf ≈ −s J v to first order; for β = e_i,
∇f_iᵀv = ṽᵀH_α ṽ (ṽ = H_α⁻¹∇f_i), so the step lowers f_i (and raises the others) when H_α is
positive definite along ṽ, as near a convex part of the front, and raises it where the front is
concave (the ZDT2-variant), where H_α has negative curvature along the set. β ∝ α gives Jᵀα = 0 and
no motion. The system is solved matrix-free by MINRES,
with a damping λ, (H_α + λI) v = Jᵀβ (the paper's code uses λ = 0.1 for networks): λ → ∞ turns v
into the gradient of the β-weighted sum of the losses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mtlbook.aggregation import min_norm_weights
from mtlbook.pareto.hvp import ENGINES, HessianVectorProduct
from mtlbook.pareto.minres import MinresResult, minres


@dataclass
class TangentResult:
    """``directions`` (K, n): the solutions v_k of (H_α + λI) v = Jᵀβ_k, one row per β_k (not
    normalized); ``rhs`` (K, n) the right-hand sides Jᵀβ_k; ``solve`` MINRES's report."""

    directions: Tensor
    rhs: Tensor
    solve: MinresResult

    def unit(self) -> Tensor:
        """The directions scaled to unit length (rows)."""
        return self.directions / torch.linalg.vector_norm(self.directions, dim=1, keepdim=True)


def stationarity_weights(jacobian: Tensor) -> Tensor:
    """The weights α of a Pareto-stationary point: the min-norm weights of the rows of J (m, n)
    (Sener & Koltun 2018; chapter 4's solver)."""
    if not isinstance(jacobian, Tensor) or jacobian.dim() != 2:
        raise ValueError(f"jacobian must be a tensor of shape (m, n), got "
                         f"{tuple(jacobian.shape) if isinstance(jacobian, Tensor) else type(jacobian).__name__}")
    return min_norm_weights(jacobian)


def weighted_hvp(losses_fn: Callable[[Sequence[Tensor]], Tensor], params: Sequence[Tensor],
                 alpha: Tensor, *, engine: str = "graph") -> HessianVectorProduct:
    """The operator v ↦ H_α v = Σ_i α_i ∇²f_i v for losses_fn(tensors) -> (m,) losses; α (m,) is
    held constant (detached)."""
    if not isinstance(alpha, Tensor) or alpha.dim() != 1:
        raise ValueError(f"alpha must be a tensor of shape (m,), got "
                         f"{tuple(alpha.shape) if isinstance(alpha, Tensor) else type(alpha).__name__}")
    weights = alpha.detach()

    def loss_fn(tensors: Sequence[Tensor]) -> Tensor:
        losses = losses_fn(tensors)
        if not isinstance(losses, Tensor) or losses.shape != weights.shape:
            got = tuple(losses.shape) if isinstance(losses, Tensor) else type(losses).__name__
            raise ValueError(f"losses_fn must return {tuple(weights.shape)} losses to match alpha, got {got}")
        return (weights.to(losses.dtype) * losses).sum()

    return HessianVectorProduct(loss_fn, params, engine=engine)


def tangent_directions(hessian: Callable[[Tensor], Tensor] | Tensor, jacobian: Tensor, beta: Tensor, *,
                       damping: float = 0.0, x0: Tensor | None = None, rtol: float = 1e-8,
                       maxiter: int | None = None, check_every: int = 10) -> TangentResult:
    """Solve (H_α + λI) v_k = Jᵀβ_k for every β_k at once (one MINRES call, K columns).

    ``hessian``: an operator mapping rows (K, n) to H_α rows (K, n) (e.g. :func:`weighted_hvp`) or a
    dense symmetric (n, n) tensor. ``jacobian`` J (m, n); ``beta`` (m,) or (K, m); ``damping`` λ >= 0;
    ``x0`` (K, n) warm starts. Returns the K directions as rows.
    """
    if not isinstance(jacobian, Tensor) or jacobian.dim() != 2:
        raise ValueError(f"jacobian must be a tensor of shape (m, n), got "
                         f"{tuple(jacobian.shape) if isinstance(jacobian, Tensor) else type(jacobian).__name__}")
    m, n = jacobian.shape
    if not isinstance(beta, Tensor):
        raise TypeError(f"beta must be a tensor of shape (m,) or (K, m), got {type(beta).__name__}")
    betas = beta.unsqueeze(0) if beta.dim() == 1 else beta
    if betas.dim() != 2 or betas.shape[1] != m:
        raise ValueError(f"beta must have shape ({m},) or (K, {m}) to match jacobian, got {tuple(beta.shape)}")
    if not damping >= 0.0:
        raise ValueError(f"damping must be >= 0, got {damping}")
    if x0 is not None and (not isinstance(x0, Tensor) or x0.shape != (betas.shape[0], n)):
        raise ValueError(f"x0 must have shape {(betas.shape[0], n)}, got "
                         f"{tuple(x0.shape) if isinstance(x0, Tensor) else type(x0).__name__}")
    rhs = betas.to(jacobian.dtype) @ jacobian            # (K, n): rows Jᵀβ_k
    if isinstance(hessian, Tensor):
        op: Callable[[Tensor], Tensor] | Tensor = hessian.to(jacobian.dtype)
    elif callable(hessian):
        # MINRES keeps its vectors as contiguous rows and passes their transposed view: the rows
        # go to the HVP without a copy, and its rows come back as a view.
        op = lambda cols: hessian(cols.mT).mT  # noqa: E731
    else:
        raise TypeError(f"hessian must be a callable or an (n, n) tensor, got {type(hessian).__name__}")
    solve = minres(op, rhs.mT, shift=-float(damping), x0=None if x0 is None else x0.mT,
                   rtol=rtol, maxiter=maxiter, check_every=check_every)
    return TangentResult(solve.solution.mT, rhs, solve)


@dataclass
class PointTangents:
    """Tangents at E points at once: ``directions`` (E, n) (not normalized), the min-norm
    ``weights`` α (E, m), the ``jacobian`` (E, m, n), the right-hand sides ``rhs`` (E, n), MINRES's
    report ``solve`` (one column per point) and the Hessian-vector ``products`` taken (per point)."""

    directions: Tensor
    weights: Tensor
    jacobian: Tensor
    rhs: Tensor
    solve: MinresResult
    products: int

    def unit(self) -> Tensor:
        """The directions scaled to unit length (rows)."""
        return self.directions / torch.linalg.vector_norm(self.directions, dim=1, keepdim=True)


def tangents_at(losses_fn: Callable[[Tensor], Tensor], points: Tensor, beta: Tensor, *,
                damping: float = 0.0, engine: str = "graph",
                hessian_losses_fn: Callable[[Tensor], Tensor] | None = None, weights: Tensor | None = None,
                x0: Tensor | None = None, rtol: float = 1e-8, maxiter: int | None = None,
                check_every: int = 10) -> PointTangents:
    """One tangent direction at each of E points, (H_α(x_e) + λI) v_e = J(x_e)ᵀβ_e, in one MINRES call.

    ``losses_fn``: x (n,) ↦ (m,) losses (it is vmapped over the points); ``points`` (E, n); ``beta``
    (m,) (the same for every point) or (E, m). α_e are the min-norm weights of J(x_e) (the point's
    Pareto-stationarity weights when it is stationary), unless ``weights`` (E, m) gives them (e.g.
    the scalarization weights of weighted-sum solutions, which are their α when training has
    converged; min-norm weights of a nearly stationary point can sit on a vertex). The E systems are independent: the loss
    Σ_e α_e·f(x_e) of the stacked points (E, n) has a block-diagonal Hessian whose blocks are the
    H_α(x_e), so one Hessian-vector product of it (``engine`` as in :class:`HessianVectorProduct`)
    multiplies every point's vector, and MINRES keeps separate Lanczos scalars per column.
    ``hessian_losses_fn`` (default ``losses_fn``) lets H_α come from another batch than J (the
    paper's sample-based Hessian).
    """
    if not callable(losses_fn):
        raise TypeError(f"losses_fn must be callable, got {type(losses_fn).__name__}")
    if not isinstance(points, Tensor) or points.dim() != 2 or not points.is_floating_point():
        got = tuple(points.shape) if isinstance(points, Tensor) else type(points).__name__
        raise ValueError(f"points must be a floating-point tensor of shape (E, n), got {got}")
    if not damping >= 0.0:
        raise ValueError(f"damping must be >= 0, got {damping}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if hessian_losses_fn is not None and not callable(hessian_losses_fn):
        raise TypeError(f"hessian_losses_fn must be callable, got {type(hessian_losses_fn).__name__}")
    pts = points.detach()
    e, n = pts.shape
    # Everything that does not need m is checked before the Jacobian is computed.
    if not isinstance(beta, Tensor):
        raise TypeError(f"beta must be a tensor of shape (m,) or ({e}, m), got {type(beta).__name__}")
    if beta.dim() not in (1, 2) or (beta.dim() == 2 and beta.shape[0] != e):
        raise ValueError(f"beta must have shape (m,) or ({e}, m), got {tuple(beta.shape)}")
    if weights is not None and (not isinstance(weights, Tensor) or weights.dim() != 2 or weights.shape[0] != e):
        raise ValueError(f"weights must have shape ({e}, m), got "
                         f"{tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__}")
    if x0 is not None and (not isinstance(x0, Tensor) or x0.shape != (e, n)):
        raise ValueError(f"x0 must have shape ({e}, {n}), got "
                         f"{tuple(x0.shape) if isinstance(x0, Tensor) else type(x0).__name__}")
    jac = torch.func.vmap(torch.func.jacrev(losses_fn))(pts)          # (E, m, n)
    if jac.dim() != 3:
        raise ValueError(f"losses_fn must map a point ({n},) to a vector of m losses, got a Jacobian of "
                         f"shape {tuple(jac.shape[1:])} per point")
    m = jac.shape[1]
    if beta.shape[-1] != m:
        raise ValueError(f"beta must have shape ({m},) or ({e}, {m}) to match the {m} losses, got {tuple(beta.shape)}")
    betas = beta.expand(e, -1) if beta.dim() == 1 else beta
    if weights is None:
        alpha = min_norm_weights(jac)                                  # (E, m)
    elif weights.shape != (e, m):
        raise ValueError(f"weights must have shape ({e}, {m}), got {tuple(weights.shape)}")
    else:
        alpha = weights.to(jac).detach()
    rhs = torch.einsum("em,emn->en", betas.to(jac), jac)
    h_fn = losses_fn if hessian_losses_fn is None else hessian_losses_fn
    batched = torch.func.vmap(h_fn)
    stacked = pts.clone().requires_grad_(engine == "graph")
    op = HessianVectorProduct(lambda ts: (alpha * batched(ts[0])).sum(), [stacked], engine=engine)

    def columns(cols: Tensor) -> Tensor:                              # (n, E) -> (n, E)
        return op(cols.mT.reshape(-1)).reshape(e, n).mT

    solve = minres(columns, rhs.mT, shift=-float(damping),
                   x0=None if x0 is None else x0.mT, rtol=rtol, maxiter=maxiter,
                   check_every=check_every)
    return PointTangents(solve.solution.mT, alpha, jac, rhs, solve, op.products)
