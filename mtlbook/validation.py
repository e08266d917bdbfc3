"""Argument checks shared across the package."""

from __future__ import annotations

import math

import torch


def check_broadcast(shape_a: torch.Size, shape_b: torch.Size, message: str) -> None:
    """Raise ``ValueError(message)`` unless the two shapes broadcast together."""
    try:
        torch.broadcast_shapes(shape_a, shape_b)
    except RuntimeError:
        raise ValueError(message) from None


def check_nonnegative_number(name: str, value: object) -> float:
    """``value`` as a float, or ``ValueError`` unless it is a finite real number >= 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_positive_int(name: str, value: object) -> int:
    """``value``, or ``ValueError`` unless it is an int >= 1 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value
