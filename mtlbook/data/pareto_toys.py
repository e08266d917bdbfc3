"""The ZDT2-variant of Ma, Du & Matusik (ICML 2020, §5.1, Fig. 2): a smooth two-objective problem in
three variables whose Pareto set is a known curved surface.

ZDT2 (Zitzler, Deb & Thiele, 2000) on y ∈ [0, 1]³: f_1 = y_1, g = 1 + (9/2)(y_2 + y_3),
f_2 = g (1 − (f_1/g)²). The variant composes it with the smooth map

    y_1 = ½ sin(x_1 + x_2² + x_3²) + ½,    y_2 = y_3 = ½ cos(x_2² + x_3²) + ½,

so x is unconstrained. The Pareto set is where y_2 = y_3 = 0, the cylinder x_2² + x_3² = π with
x_1 ∈ [−3π/2, −π/2] (where y_1 = ½ − ½ sin x_1 runs over [0, 1]); its front is f_2 = 1 − f_1². The
normal of the cylinder at x is (0, x_2, x_3). On the set ∇g = 0 and ∇f_2 = −2 f_1 ∇f_1, so the
Pareto-stationary weights are α = (2 f_1, 1) / (1 + 2 f_1).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _check_x(x: Tensor) -> Tensor:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor of shape (..., 3), got "
                        f"{type(x).__name__ if not isinstance(x, Tensor) else x.dtype}")
    if x.dim() < 1 or x.shape[-1] != 3:
        raise ValueError(f"x must have shape (..., 3), got {tuple(x.shape)}")
    return x


def zdt2_variant(x: Tensor) -> Tensor:
    """The two objectives (..., 2) at x (..., 3), differentiable (use float64 for tangency checks)."""
    x = _check_x(x)
    r2 = x[..., 1] ** 2 + x[..., 2] ** 2
    y1 = 0.5 * torch.sin(x[..., 0] + r2) + 0.5
    y23 = 0.5 * torch.cos(r2) + 0.5
    g = 1.0 + 9.0 * y23                                  # (9/2)(y_2 + y_3) with y_2 = y_3
    f1 = y1
    f2 = g * (1.0 - (f1 / g) ** 2)
    return torch.stack([f1, f2], dim=-1)


def zdt2_variant_pareto_point(x1: float | Tensor, angle: float | Tensor, *, dtype=torch.float64) -> Tensor:
    """The point (x_1, √π cos θ, √π sin θ) of the Pareto set (x_1 ∈ [−3π/2, −π/2]), shape (..., 3)."""
    x1 = torch.as_tensor(x1, dtype=dtype)
    angle = torch.as_tensor(angle, dtype=dtype)
    if bool(((x1 < -1.5 * math.pi - 1e-12) | (x1 > -0.5 * math.pi + 1e-12)).any()):
        raise ValueError(f"x1 must lie in [-3π/2, -π/2] for a Pareto-optimal point, got {x1}")
    x1, angle = torch.broadcast_tensors(x1, angle)
    rad = math.sqrt(math.pi)
    return torch.stack([x1, rad * torch.cos(angle), rad * torch.sin(angle)], dim=-1)


def zdt2_variant_normal(x: Tensor) -> Tensor:
    """The unit normal (0, x_2, x_3)/‖·‖ of the Pareto set's cylinder at x (..., 3)."""
    x = _check_x(x)
    n = torch.cat([torch.zeros_like(x[..., :1]), x[..., 1:]], dim=-1)
    return n / torch.linalg.vector_norm(n, dim=-1, keepdim=True)


def zdt2_variant_front(f1: Tensor) -> Tensor:
    """The analytic Pareto front f_2 = 1 − f_1² for f_1 ∈ [0, 1]."""
    return 1.0 - f1 ** 2


def zdt2_variant_weights(x: Tensor) -> Tensor:
    """The Pareto-stationary weights α = (2 f_1, 1)/(1 + 2 f_1) at a point x of the Pareto set."""
    f1 = zdt2_variant(x)[..., 0]
    return torch.stack([2 * f1, torch.ones_like(f1)], dim=-1) / (1 + 2 * f1).unsqueeze(-1)
