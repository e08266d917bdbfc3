"""Pareto dominance and non-dominated filtering, for losses to be minimized.

A point p dominates q when p_j <= q_j for every objective j and p_j < q_j for at least one. The
non-dominated subset of a finite set is its empirical Pareto front. Duplicated points do not
dominate each other, so all copies of a non-dominated point are kept.
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_points(points: Tensor, name: str = "points") -> Tensor:
    """Check a (N, m) floating tensor of objective values without NaN; return it."""
    if not isinstance(points, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, m), got {type(points).__name__}")
    if points.dim() != 2 or points.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, m) with m >= 1 objectives, got {tuple(points.shape)}")
    if not points.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {points.dtype}")
    if bool(torch.isnan(points).any()):
        raise ValueError(f"{name} must not contain NaN")
    return points


def dominates(p: Tensor, q: Tensor) -> Tensor:
    """Whether p dominates q, elementwise over leading dimensions: (..., m) × (..., m) → (...)."""
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
