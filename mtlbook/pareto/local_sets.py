"""Continuous local Pareto sets and the stitching of their fronts (our design; the construction
follows the linear local sets of Ma, Du & Matusik, ICML 2020, §4.3, which their code does not ship).

Patch. An anchor x* (Pareto-stationary) and K explored neighbours x_1..x_K (corrected points near
it) span the affine patch

    P = { x(t) = x* + Σ_k t_k (x_k − x*) },   t ∈ T ⊂ ℝ^K,

parametrized by K low-dimensional coordinates t: t = 0 is the anchor, t = e_k the k-th neighbour.
T is the simplex {t >= 0, Σ t_k <= 1} (interpolation only, the default) or a box [lo, hi]^K (which
also extrapolates). The patch's front is the set of losses f(x(t)) over a grid of T; to first
order it is the local front, and it is exact where the Pareto set is flat (the ZDT2-variant's
cylinder along x_1).

Stitching. The local fronts of several anchors are merged by keeping the non-dominated points of
their union; each kept point remembers its anchor and its coordinates, so that a point of the
merged front maps back to a network. Two local fronts overlap where one dominates part of the
other: ``overlap[i, j]`` is the fraction of front j's points that some point of front i
dominates (0: front i takes nothing away from front j).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mtlbook.pareto.fronts import check_points, dominates, non_dominated_mask


def simplex_grid(num_coords: int, resolution: int, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """All t ∈ {0, 1/r, ..., 1}^K with Σ t_k <= 1: C(r + K, K) rows of shape (K,)."""
    if not isinstance(num_coords, int) or num_coords < 1:
        raise ValueError(f"num_coords must be a positive int, got {num_coords!r}")
    if not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}")
    rows = [c for c in itertools.product(range(resolution + 1), repeat=num_coords) if sum(c) <= resolution]
    return torch.tensor(rows, dtype=dtype) / resolution


def box_grid(num_coords: int, resolution: int, low: float = -1.0, high: float = 1.0, *,
             dtype: torch.dtype = torch.float64) -> Tensor:
    """The tensor grid of (resolution + 1)^K points of [low, high]^K."""
    if not isinstance(num_coords, int) or num_coords < 1:
        raise ValueError(f"num_coords must be a positive int, got {num_coords!r}")
    if not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}")
    if not low < high:
        raise ValueError(f"low must be < high, got {low} and {high}")
    axis = torch.linspace(low, high, resolution + 1, dtype=dtype)
    return torch.cartesian_prod(*([axis] * num_coords)).reshape(-1, num_coords)


def patch_points(anchor: Tensor, neighbours: Tensor, coords: Tensor) -> Tensor:
    """x(t) = x* + Σ_k t_k (x_k − x*) for anchor (n,), neighbours (K, n), coords (G, K) → (G, n)."""
    if not isinstance(anchor, Tensor) or anchor.dim() != 1:
        raise ValueError(f"anchor must be a vector (n,), got "
                         f"{tuple(anchor.shape) if isinstance(anchor, Tensor) else type(anchor).__name__}")
    n = anchor.shape[0]
    if not isinstance(neighbours, Tensor) or neighbours.dim() != 2 or neighbours.shape[1] != n:
        raise ValueError(f"neighbours must have shape (K, {n}), got "
                         f"{tuple(neighbours.shape) if isinstance(neighbours, Tensor) else type(neighbours).__name__}")
    k = neighbours.shape[0]
    if not isinstance(coords, Tensor) or coords.dim() != 2 or coords.shape[1] != k:
        raise ValueError(f"coords must have shape (G, {k}), got "
                         f"{tuple(coords.shape) if isinstance(coords, Tensor) else type(coords).__name__}")
    return anchor + coords.to(anchor) @ (neighbours - anchor)


@dataclass
class LocalFront:
    """A patch's coordinates (G, K), points (G, n) and losses (G, m), over the whole grid: the local
    front is the non-dominated part of ``losses`` (which :func:`stitch_fronts` keeps)."""

    coords: Tensor
    points: Tensor
    losses: Tensor


def patch_front(losses_fn: Callable[[Tensor], Tensor], anchor: Tensor, neighbours: Tensor,
                coords: Tensor) -> LocalFront:
    """Evaluate the losses (one call of ``losses_fn`` per grid point, without gradients) over the
    patch spanned by ``anchor`` and ``neighbours`` at ``coords``."""
    points = patch_points(anchor.detach(), neighbours.detach(), coords)
    with torch.no_grad():
        losses = torch.stack([losses_fn(p) for p in points])
    return LocalFront(coords, points, losses)


@dataclass
class StitchedFront:
    """The merged non-dominated front: ``losses`` (N, m), the ``source`` front of each point (N,)
    and its ``index`` within that front (N,); ``overlap`` (F, F) as in the module docstring."""

    losses: Tensor
    source: Tensor
    index: Tensor
    overlap: Tensor


def overlap_matrix(fronts: Sequence[Tensor]) -> Tensor:
    """overlap[i, j] = fraction of the points of fronts[j] dominated by some point of fronts[i]."""
    fronts = [check_points(f, f"fronts[{i}]") for i, f in enumerate(fronts)]
    out = torch.zeros(len(fronts), len(fronts), dtype=torch.float64)
    for i, a in enumerate(fronts):
        for j, b in enumerate(fronts):
            if i != j and b.shape[0] and a.shape[0]:
                hit = dominates(a.unsqueeze(1), b.unsqueeze(0)).any(0)
                out[i, j] = hit.double().mean().cpu()
    return out


def stitch_fronts(fronts: Sequence[Tensor]) -> StitchedFront:
    """Merge local fronts (each (N_i, m), same m) into one non-dominated front with provenance."""
    if isinstance(fronts, Tensor) or len(fronts) == 0:
        raise ValueError("fronts must be a non-empty sequence of (N_i, m) tensors")
    fronts = [check_points(f, f"fronts[{i}]") for i, f in enumerate(fronts)]
    m = fronts[0].shape[1]
    for i, f in enumerate(fronts):
        if f.shape[1] != m:
            raise ValueError(f"fronts[{i}] has {f.shape[1]} objectives, fronts[0] has {m}")
    union = torch.cat(fronts)
    source = torch.cat([torch.full((f.shape[0],), i, dtype=torch.long) for i, f in enumerate(fronts)])
    index = torch.cat([torch.arange(f.shape[0]) for f in fronts])
    keep = non_dominated_mask(union).cpu()
    return StitchedFront(union[keep.to(union.device)], source[keep], index[keep], overlap_matrix(fronts))
