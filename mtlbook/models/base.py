"""What every multi-task model in the book provides.

A :class:`MultiTaskModel` maps a batch to a list of K task outputs and says which parameters are
shared between tasks and which belong to task k. Methods that need per-task gradients of the shared
parameters (MGDA, PCGrad, ...) use ``shared_parameters()``. Models with a single shared
representation z = encoder(x) (hard sharing) also expose ``encode``/``decode`` so that methods can
work with gradients with respect to z (MGDA-UB), and ``last_shared_layer`` (GradNorm).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class InputShape(nn.Module):
    """Check that inputs are (batch, *shape); raises a ValueError naming the expected shape."""

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a tensor, got {type(x).__name__}")
        if tuple(x.shape[-len(self.shape):]) != self.shape or x.dim() <= len(self.shape):
            raise ValueError(f"x must have shape (batch, {', '.join(map(str, self.shape))}), "
                             f"got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
        return x

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class MultiTaskModel(nn.Module):
    """Base class: ``forward(x) -> list`` of K outputs; subclasses define the parameter split."""

    num_tasks: int

    def shared_parameters(self) -> list[nn.Parameter]:
        raise NotImplementedError

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        raise NotImplementedError

    def _check_task(self, k: int) -> int:
        if not 0 <= k < self.num_tasks:
            raise IndexError(f"task index must be in [0, {self.num_tasks}), got {k}")
        return k


class HardSharing(MultiTaskModel):
    """Hard parameter sharing (Caruana 1997): a shared encoder and one head per task,
    y_k = h_k(f(x))."""

    def __init__(self, encoder: nn.Module, heads: Sequence[nn.Module]):
        super().__init__()
        if len(heads) < 1:
            raise ValueError("heads must hold at least one task head")
        self.encoder = encoder
        self.heads = nn.ModuleList(heads)
        self.num_tasks = len(heads)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, z: Tensor) -> list[Tensor]:
        return [h(z) for h in self.heads]

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.decode(self.encode(x))

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters())

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        return list(self.heads[self._check_task(k)].parameters())

    def last_shared_layer(self) -> nn.Module:
        """The last module of the encoder that owns parameters (GradNorm's W)."""
        last = None
        for m in self.encoder.modules():
            if any(True for _ in m.parameters(recurse=False)):
                last = m
        if last is None:
            raise ValueError("the encoder has no parameters")
        return last


class SingleTaskNetworks(MultiTaskModel):
    """K independent networks, one per task: the single-task baseline as one module (no parameter
    is shared). ``networks[k]`` maps x to task k's output."""

    def __init__(self, networks: Sequence[nn.Module]):
        super().__init__()
        if len(networks) < 1:
            raise ValueError("networks must hold at least one network")
        self.networks = nn.ModuleList(networks)
        self.num_tasks = len(networks)

    def forward(self, x: Tensor) -> list[Tensor]:
        return [net(x) for net in self.networks]

    def shared_parameters(self) -> list[nn.Parameter]:
        return []

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        return list(self.networks[self._check_task(k)].parameters())


def count_parameters(module: nn.Module | Sequence[nn.Parameter]) -> int:
    """Number of scalar parameters of a module (or of a list of parameters)."""
    params = module.parameters() if isinstance(module, nn.Module) else module
    return sum(p.numel() for p in params)


@torch.no_grad()
def copy_parameters_(dst: nn.Module, src: nn.Module) -> None:
    """Copy every parameter and buffer of ``src`` into ``dst`` (same architecture)."""
    dst.load_state_dict(src.state_dict())
