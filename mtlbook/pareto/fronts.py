"""Pareto dominance and non-dominated filtering, for losses to be minimized.

A point p dominates q when p_j <= q_j for every objective j and p_j < q_j for at least one. The
non-dominated subset of a finite set is its empirical Pareto front. Duplicated points do not
dominate each other, so all copies of a non-dominated point are kept.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbook.validation import check_broadcast


def check_points(points: Tensor, name: str = "points") -> Tensor:
    """Check a floating-point tensor of objective values, shape (N, m) with m >= 1 (N may be 0), every
    value finite; return it unchanged. NaN and ±inf are rejected: a diverged loss has no place on a
    front, and a hypervolume with an infinite coordinate is undefined."""
    if not isinstance(points, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, m), got {type(points).__name__}")
    if points.dim() != 2 or points.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, m) with m >= 1 objectives, got {tuple(points.shape)}")
    if not points.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {points.dtype}")
    if not bool(torch.isfinite(points).all()):                 # one check; the message says which
        if bool(torch.isnan(points).any()):
            raise ValueError(f"{name} must not contain NaN")
        raise ValueError(f"{name} must be finite, got ±inf")
    return points


def dominates(p: Tensor, q: Tensor) -> Tensor:
    """Whether p dominates q, elementwise over leading dimensions: (..., m) × (..., m) → (...).

    Both must have the same number m >= 1 of objectives in their last dimension; the leading
    dimensions broadcast as usual (``p[:, None]`` against ``q[None]`` compares every pair)."""
    for name, t in (("p", p), ("q", q)):
        if not isinstance(t, Tensor) or t.dim() < 1 or t.shape[-1] < 1:
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a tensor of shape (..., m) with m >= 1 objectives, got {got}")
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"p and q must have the same number of objectives (last dimension), got "
                         f"{tuple(p.shape)} and {tuple(q.shape)}")
    check_broadcast(p.shape[:-1], q.shape[:-1], f"the leading dimensions of p and q must broadcast, got "
                    f"{tuple(p.shape)} and {tuple(q.shape)}")
    return (p <= q).all(-1) & (p < q).any(-1)


def domination_matrix(points: Tensor) -> Tensor:
    """D[i, j] = points[i] dominates points[j], for points (N, m): an (N, N) bool tensor."""
    pts = check_points(points)
    return dominates(pts.unsqueeze(1), pts.unsqueeze(0))


def non_dominated_mask(points: Tensor) -> Tensor:
    """(N,) bool: True for the points that no other point dominates. Uses the N×N×m pairwise
    comparison on the points' device (fine for the few thousand points of a local front)."""
    return ~domination_matrix(points).any(0)


def non_dominated(points: Tensor) -> tuple[Tensor, Tensor]:
    """The non-dominated points (in their original order) and their indices into ``points``."""
    mask = non_dominated_mask(points)
    idx = torch.nonzero(mask).squeeze(1)
    return points[idx], idx
