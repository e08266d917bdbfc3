"""Small networks as pure functions of one flat parameter vector, for exploring their Pareto sets.

The tangent machinery of this chapter (tangents, predictor and corrector, local patches
x* + Σ_k t_k (x_k − x*)) works on points x ∈ ℝⁿ. :class:`FlatLeNet` is the small LeNet of Ma, Du &
Matusik (ICML 2020, Fig. 4: one strided convolution, one hidden layer, one linear head per task,
about 1,500 parameters) written as ``logits(theta, x)`` for a flat ``theta`` (n,), so that a point of
parameter space *is* a network, and E networks are a tensor (E, n) evaluated side by side with
``torch.func.vmap``.

:func:`weighted_sum_sweep` trains E such networks at once on the scalarizations
Σ_i w_{e,i} f_i(θ_e) (one weight vector per network) with full-batch Adam: because the networks share
no parameter and Adam is element-wise, minimizing the sum over e trains each network on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


ACTIVATIONS = {"tanh": torch.tanh, "relu": F.relu}


class FlatLeNet:
    """conv(1 → ``channels``, ``kernel``, stride ``stride``) → act → fc(→ ``hidden``) → act → one
    linear head per task (``classes``), as a function of one flat vector θ (n,) (``numel``).
    ``activation`` is ``"tanh"`` (default: smooth, so the Hessian is continuous and no unit dies)
    or ``"relu"``.

    ``logits(theta, x)`` takes x (B, 1, S, S) and returns one (B, c_i) tensor per task;
    ``losses(theta, x, targets)`` the m mean cross-entropies (m,); ``accuracy`` the m accuracies.
    Under ``torch.func.vmap`` over θ (E, n) every method evaluates E networks at once.
    """

    def __init__(self, input_size: int = 10, *, channels: int = 6, kernel: int = 4, stride: int = 2,
                 hidden: int = 12, classes: Sequence[int] = (10, 10), activation: str = "tanh"):
        for name, v in (("input_size", input_size), ("channels", channels), ("kernel", kernel),
                        ("stride", stride), ("hidden", hidden)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if kernel > input_size:
            raise ValueError(f"kernel must be <= input_size ({input_size}), got {kernel}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        self.activation, self._act = activation, ACTIVATIONS[activation]
        classes = tuple(classes)
        if not classes or any(not isinstance(c, int) or c < 2 for c in classes):
            raise ValueError(f"classes must be a non-empty sequence of ints >= 2, got {classes!r}")
        self.input_size, self.channels, self.kernel, self.stride = input_size, channels, kernel, stride
        self.hidden, self.classes = hidden, classes
        side = (input_size - kernel) // stride + 1
        self.features = channels * side * side
        shapes = [("conv.weight", (channels, 1, kernel, kernel)), ("conv.bias", (channels,)),
                  ("fc.weight", (hidden, self.features)), ("fc.bias", (hidden,))]
        for i, c in enumerate(classes):
            shapes += [(f"head{i}.weight", (c, hidden)), (f"head{i}.bias", (c,))]
        self.shapes = dict(shapes)
        self.numel = sum(math.prod(s) for s in self.shapes.values())

    @property
    def num_tasks(self) -> int:
        return len(self.classes)

    def unflatten(self, theta: Tensor) -> dict[str, Tensor]:
        """The named weight tensors of θ (n,) (views)."""
        if not isinstance(theta, Tensor) or theta.shape[-1:] != (self.numel,) or theta.dim() != 1:
            got = tuple(theta.shape) if isinstance(theta, Tensor) else type(theta).__name__
            raise ValueError(f"theta must have shape ({self.numel},), got {got}")
        out, start = {}, 0
        for name, shape in self.shapes.items():
            size = math.prod(shape)
            out[name] = theta[start:start + size].reshape(shape)
            start += size
        return out

    def init(self, num_models: int | None = None, *, generator: torch.Generator | None = None,
             dtype: torch.dtype = torch.float32) -> Tensor:
        """θ (n,), or (num_models, n), drawn like ``nn.Conv2d``/``nn.Linear``: U(±1/√fan_in)."""
        rows = 1 if num_models is None else num_models
        if not isinstance(rows, int) or rows < 1:
            raise ValueError(f"num_models must be a positive int or None, got {num_models!r}")
        pieces = []
        for name, shape in self.shapes.items():
            fan_in = math.prod(self.shapes[name.replace("bias", "weight")][1:])
            bound = 1.0 / math.sqrt(fan_in)
            pieces.append((torch.rand(rows, math.prod(shape), generator=generator, dtype=dtype) * 2 - 1) * bound)
        theta = torch.cat(pieces, dim=1)
        return theta[0] if num_models is None else theta

    def _check_x(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1:] != (1, self.input_size, self.input_size):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must have shape (B, 1, {self.input_size}, {self.input_size}), got {got}")

    def logits(self, theta: Tensor, x: Tensor) -> list[Tensor]:
        self._check_x(x)
        w = self.unflatten(theta)
        # The convolution as a matrix product over the image's patches (B, k², L): the same
        # numbers as conv2d, and cheap for many networks side by side under vmap.
        patches = F.unfold(x.to(theta.dtype), self.kernel, stride=self.stride)
        conv = w["conv.weight"].reshape(self.channels, -1) @ patches + w["conv.bias"][:, None]
        z = self._act(conv).flatten(1)                                  # (B, channels·L), conv2d order
        z = self._act(F.linear(z, w["fc.weight"], w["fc.bias"]))
        return [F.linear(z, w[f"head{i}.weight"], w[f"head{i}.bias"]) for i in range(self.num_tasks)]

    def _check_targets(self, targets: Sequence[Tensor]) -> None:
        if isinstance(targets, Tensor) or len(targets) != self.num_tasks:
            raise ValueError(f"targets must be a sequence of {self.num_tasks} label tensors")

    def losses(self, theta: Tensor, x: Tensor, targets: Sequence[Tensor]) -> Tensor:
        """The m mean cross-entropy losses (m,)."""
        self._check_targets(targets)
        return torch.stack([F.cross_entropy(z, y) for z, y in zip(self.logits(theta, x), targets)])

    def accuracy(self, theta: Tensor, x: Tensor, targets: Sequence[Tensor]) -> Tensor:
        """The m accuracies (m,) (no gradient)."""
        self._check_targets(targets)
        with torch.no_grad():
            return torch.stack([(z.argmax(1) == y).to(theta.dtype).mean()
                                for z, y in zip(self.logits(theta, x), targets)])

    def objective(self, x: Tensor, targets: Sequence[Tensor]) -> Callable[[Tensor], Tensor]:
        """θ ↦ losses(θ, x, targets) at a fixed batch (the function the Pareto tools take)."""
        self._check_x(x)
        self._check_targets(targets)
        return lambda theta: self.losses(theta, x, targets)


def weighted_sum_sweep(losses_fn: Callable[[Tensor], Tensor], init: Tensor, weights: Tensor, *,
                       steps: int = 500, lr: float = 1e-2) -> Tensor:
    """Minimize Σ_i w_{e,i} f_i(θ_e) for every row e at once, by full-batch Adam from ``init``.

    ``losses_fn``: θ (n,) ↦ (m,) losses (vmapped over the rows); ``init`` (E, n) or (n,) (shared
    start); ``weights`` (E, m). Returns the trained θ (E, n). The E problems are independent, so
    this is E separate Adam runs computed as one tensor program.
    """
    if not isinstance(weights, Tensor) or weights.dim() != 2:
        raise ValueError(f"weights must have shape (E, m), got "
                         f"{tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__}")
    if not isinstance(init, Tensor) or init.dim() not in (1, 2):
        raise ValueError(f"init must have shape (n,) or (E, n), got "
                         f"{tuple(init.shape) if isinstance(init, Tensor) else type(init).__name__}")
    e = weights.shape[0]
    start = init.expand(e, -1) if init.dim() == 1 else init
    if start.shape[0] != e:
        raise ValueError(f"init has {start.shape[0]} rows, weights has {e}")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    theta = start.detach().clone().requires_grad_(True)
    batched = torch.func.vmap(losses_fn)
    w = weights.to(theta)
    opt = torch.optim.Adam([theta], lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        (w * batched(theta)).sum().backward()
        opt.step()
    return theta.detach()
