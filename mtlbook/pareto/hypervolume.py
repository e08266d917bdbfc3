"""Exact hypervolume of a set of points (minimization) in two and three objectives.

The hypervolume (Zitzler & Thiele, 1998; the S-metric) of a set P with respect to a reference
point r is the Lebesgue measure of the region that P dominates and that dominates r:

    HV(P; r) = λ( ∪_{p ∈ P} [p_1, r_1] × ... × [p_m, r_m] ).

Points with some p_j >= r_j contribute nothing. In 2-D the non-dominated points, sorted by f_1, give
a staircase: HV = Σ_i (f_1^{(i+1)} − f_1^{(i)}) (r_2 − f_2^{(i)}) with f_1^{(N+1)} = r_1; with all the points
sorted by f_1 and f_2^{(i)} replaced by the running minimum of f_2, dominated points add nothing and need
no filtering (O(N log N)). In 3-D the
region is cut into slabs between consecutive f_3 values; the slab above the i-th smallest f_3 has the
2-D hypervolume of the first i points as its cross-section (O(N² log N), exact).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbook.pareto.fronts import check_points, non_dominated_mask


def _check(points: Tensor, reference: Tensor | list[float] | tuple[float, ...], m: int | None) -> tuple[Tensor, Tensor]:
    pts = check_points(points)
    ref = torch.as_tensor(reference, dtype=pts.dtype, device=pts.device)
    if ref.dim() != 1 or ref.shape[0] != pts.shape[1]:
        raise ValueError(f"reference must have shape ({pts.shape[1]},) to match points, got {tuple(ref.shape)}")
    if not bool(torch.isfinite(ref).all()):
        raise ValueError("reference must be finite")
    if m is not None and pts.shape[1] != m:
        raise ValueError(f"points must have {m} objectives, got {pts.shape[1]}")
    return pts, ref


def _hv2(pts: Tensor, ref: Tensor) -> Tensor:
    pts = pts[(pts < ref).all(1)]
    if pts.shape[0] == 0:
        return torch.zeros((), dtype=ref.dtype, device=ref.device)
    order = torch.argsort(pts[:, 0])
    f1, f2 = pts[order, 0], torch.cummin(pts[order, 1], 0).values
    nxt = torch.cat([f1[1:], ref[:1]])
    return ((nxt - f1) * (ref[1] - f2)).sum()


def hypervolume_2d(points: Tensor, reference) -> Tensor:
    """Exact 2-D hypervolume of ``points`` (N, 2) with respect to ``reference`` (2,); a 0-d tensor."""
    return _hv2(*_check(points, reference, 2))


def hypervolume_3d(points: Tensor, reference) -> Tensor:
    """Exact 3-D hypervolume of ``points`` (N, 3) with respect to ``reference`` (3,); a 0-d tensor."""
    pts, ref = _check(points, reference, 3)
    pts = pts[(pts < ref).all(1)]
    if pts.shape[0] == 0:
        return torch.zeros((), dtype=ref.dtype, device=ref.device)
    pts = pts[non_dominated_mask(pts)]
    pts = pts[torch.argsort(pts[:, 2])]
    z = torch.cat([pts[:, 2], ref[2:]])
    total = torch.zeros((), dtype=ref.dtype, device=ref.device)
    for i in range(pts.shape[0]):
        total = total + _hv2(pts[: i + 1, :2], ref[:2]) * (z[i + 1] - z[i])
    return total


def hypervolume(points: Tensor, reference) -> Tensor:
    """Exact hypervolume for 2 or 3 objectives (dispatches on ``points.shape[1]``)."""
    pts = check_points(points)
    if pts.shape[1] == 2:
        return hypervolume_2d(pts, reference)
    if pts.shape[1] == 3:
        return hypervolume_3d(pts, reference)
    raise ValueError(f"points must have 2 or 3 objectives for the exact hypervolume, got {pts.shape[1]}")
