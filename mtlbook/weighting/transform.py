"""Task losses reported in other units: L_k → c_k L_k + b_k before a weighting sees them.

A loss measured in other units is the same loss multiplied by a constant (a squared error in
millimetres is 10⁶ times the one in metres); a loss with a constant term added (the log 2π / 2 of a
Gaussian negative log-likelihood, a fixed regularizer) is shifted. Neither changes what a task asks
of the model, yet both change the update of a weighting that reads loss values (Chen et al., GradNorm,
ICML 2018, §1: task losses of different magnitudes; Kendall, Gal & Cipolla, CVPR 2018, §1: tasks in
different units). :class:`TransformedLosses` lets one training loop compare the weightings of
:mod:`mtlbook.weighting.scale` under such a change of units.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from mtlbook.data.core import Split
from mtlbook.strategy import StepContext, Strategy
from mtlbook.weighting.base import check_losses


class TransformedLosses(Strategy):
    """Train with ``inner`` on c·L + b instead of L (elementwise over tasks, broadcast over models).

    ``scale`` c > 0 and ``shift`` b are floats or tensors broadcastable to the losses (..., K): a (K,)
    tensor transforms each task, an (E, K) tensor gives each of E side-by-side models its own units.
    The training history records the untransformed losses L (the losses in the data's own units) and
    the weights ``inner`` chose for the transformed ones.
    """

    def __init__(self, inner: Strategy, scale: Tensor | float = 1.0, shift: Tensor | float = 0.0):
        if not isinstance(inner, Strategy):
            raise TypeError(f"inner must be an mtlbook Strategy, got {type(inner).__name__}")
        c = torch.as_tensor(scale, dtype=torch.float64)
        b = torch.as_tensor(shift, dtype=torch.float64)
        if not bool(torch.isfinite(c).all()) or bool((c <= 0).any()):
            raise ValueError(f"scale must be finite and > 0, got {c.tolist()}")
        if not bool(torch.isfinite(b).all()):
            raise ValueError(f"shift must be finite, got {b.tolist()}")
        self.inner, self.scale, self.shift = inner, c, b

    def transform(self, losses: Tensor) -> Tensor:
        """c·L + b, in the losses' dtype and on their device."""
        check_losses(losses)
        c, b = self.scale.to(losses), self.shift.to(losses)
        try:
            return c * losses + b
        except RuntimeError:
            raise ValueError(f"scale {tuple(c.shape)} and shift {tuple(b.shape)} must broadcast to the "
                             f"losses {tuple(losses.shape)}") from None

    def backward(self, losses: Tensor, ctx: StepContext) -> Tensor:
        moved = self.transform(losses)
        if moved.shape != losses.shape:
            raise ValueError(f"scale and shift must not change the shape of the losses "
                             f"{tuple(losses.shape)}, got {tuple(moved.shape)}")
        return self.inner.backward(moved, ctx)

    def end_epoch(self, epoch_losses: Tensor) -> None:
        self.inner.end_epoch(self.transform(epoch_losses))


def train_in_units(data: Split, make_weighting: Callable[[Tensor, Tensor], Strategy], scale: Tensor,
                   shift: Tensor | None = None, *, seeds: int = 3, hidden: Sequence[int] = (64, 64),
                   steps: int = 1000, batch_size: int = 64, lr: float = 1e-3, seed: int = 0):
    """Train one weighting under U systems of units side by side: U × ``seeds`` hard-sharing MLPs.

    Row u of ``scale`` and ``shift`` (U, K) gives the units of condition u: every model of it trains
    on c_u·L + b_u (:class:`TransformedLosses`). Model (u, s) starts from the same initialization for
    every u (seed s), and all models see the same batches, so two conditions differ only by their
    units. ``make_weighting(scale_e, shift_e)`` builds the weighting from the per-model units (E, K)
    (a prior-based weighting needs its prior losses in the same units). Returns the training
    :class:`~mtlbook.train.History` with the model dimension reshaped to (U, seeds, ...).
    """
    from mtlbook.models.ensemble import EnsembleHardSharing
    from mtlbook.train import fit

    if not isinstance(data, Split):
        raise TypeError(f"data must be a Split, got {type(data).__name__}")
    k = len(data.tasks)
    scale = torch.as_tensor(scale, dtype=torch.get_default_dtype())
    shift = torch.zeros_like(scale) if shift is None else torch.as_tensor(shift, dtype=scale.dtype)
    if scale.dim() != 2 or scale.shape[1] != k or shift.shape != scale.shape:
        raise ValueError(f"scale and shift must both be (U, K={k}), got {tuple(scale.shape)} and "
                         f"{tuple(shift.shape)}")
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive int, got {seeds!r}")
    u = scale.shape[0]
    scale_e, shift_e = scale.repeat_interleave(seeds, 0), shift.repeat_interleave(seeds, 0)
    net = EnsembleHardSharing(u * seeds, data.tasks, math.prod(data.train.x.shape[1:]), hidden=hidden,
                              generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():                     # model (u, s) starts where model (0, s) starts
        for p in net.parameters():
            p.copy_(p[:seeds].repeat(u, *[1] * (p.dim() - 1)))
    device = data.train.x.device
    net = net.to(device)
    strategy = TransformedLosses(make_weighting(scale_e.to(device), shift_e.to(device)), scale_e, shift_e)
    history = fit(net, data.train, steps=steps, batch_size=batch_size, lr=lr, strategy=strategy,
                  eval_data=data.test, progress=False, seed=seed)
    for name in ("losses", "weights", "eval_losses", "eval_metrics"):
        v = getattr(history, name)
        setattr(history, name, v.reshape(v.shape[0], u, seeds, *v.shape[2:]))
    return history
