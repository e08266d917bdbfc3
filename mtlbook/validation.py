"""Argument checks shared across the package."""

from __future__ import annotations

import torch


def check_broadcast(shape_a: torch.Size, shape_b: torch.Size, message: str) -> None:
    """Raise ``ValueError(message)`` unless the two shapes broadcast together."""
    try:
        torch.broadcast_shapes(shape_a, shape_b)
    except RuntimeError:
        raise ValueError(message) from None
