"""Soft parameter sharing: one network per task, pulled together by an L2 penalty.

Duong, Cohn, Bird & Cook (ACL 2015) train one network per task and add to the task losses

    Ω(θ) = λ Σ_{k<l} Σ_p ‖θ_k^p − θ_l^p‖²,

the squared distance between corresponding parameters p of the task networks (the heads are left
out: their shapes differ between tasks). λ = 0 gives K independent networks; λ → ∞ forces the
backbones to be equal, which is hard sharing. The penalty is a method of the model; the training
strategy adds it to the loss (:class:`PenalizedStrategy`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from mtlbook.models.base import MultiTaskModel
from mtlbook.models.columns import task_columns
from mtlbook.strategy import StepContext, Strategy
from mtlbook.tasks import Task
from mtlbook.validation import check_nonnegative_number


class SoftSharing(MultiTaskModel):
    """K task networks ``columns[k]`` (backbone stages) with heads ``heads[k]``; no parameter is
    shared, so ``shared_parameters()`` is empty and the coupling lives in :meth:`penalty`."""

    def __init__(self, tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64,
                 depth: int = 2, head_hidden: int | None = None, strength: float = 1e-2):
        super().__init__()
        check_nonnegative_number("strength", strength)
        self.columns, self.heads = task_columns(tasks, input_shape, kind, width, depth, head_hidden)
        self.num_tasks, self.strength = len(self.heads), float(strength)

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = []
        for stages, head in zip(self.columns, self.heads):
            h = x
            for stage in stages:
                h = stage(h)
            outs.append(head(h))
        return outs

    def distance(self) -> Tensor:
        """Σ_{k<l} ‖θ_k − θ_l‖² over the corresponding backbone parameters (a scalar, no λ)."""
        params = [list(c.parameters()) for c in self.columns]
        total = params[0][0].new_zeros(())
        for k in range(self.num_tasks):
            for m in range(k + 1, self.num_tasks):
                for p, q in zip(params[k], params[m]):
                    total = total + (p - q).pow(2).sum()
        return total

    def penalty(self) -> Tensor:
        """Ω(θ) = λ Σ_{k<l} ‖θ_k − θ_l‖² (a scalar with gradients)."""
        return self.strength * self.distance()

    def shared_parameters(self) -> list[nn.Parameter]:
        return []

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        k = self._check_task(k)
        return [*self.columns[k].parameters(), *self.heads[k].parameters()]


class PenalizedStrategy(Strategy):
    """Adds a model's regularizer to another strategy's update: the gradient of ``penalty()`` is
    accumulated first, then ``base`` fills in the task gradients. The penalty is not a task: it is
    not weighted and not recorded among the task losses. ``end_epoch``, when given, is called after
    each epoch (e.g. ``MultilinearRelationship.update_covariance``)."""

    def __init__(self, base: Strategy, penalty: Callable[[], Tensor],
                 end_epoch: Callable[[], object] | None = None):
        if not isinstance(base, Strategy):
            raise TypeError(f"base must be an mtlbook Strategy, got {type(base).__name__}")
        if not callable(penalty):
            raise TypeError(f"penalty must be callable (e.g. model.penalty), got {type(penalty).__name__}")
        if end_epoch is not None and not callable(end_epoch):
            raise TypeError(f"end_epoch must be callable or None, got {type(end_epoch).__name__}")
        self.base, self.penalty, self.on_epoch = base, penalty, end_epoch

    def backward(self, losses: Tensor, ctx: StepContext) -> Tensor:
        value = self.penalty()
        if not isinstance(value, Tensor) or value.dim() != 0:
            raise ValueError(f"penalty() must return a scalar tensor, got {value!r}")
        if value.requires_grad:
            value.backward(retain_graph=True)      # the penalty may share the forward graph
        return self.base.backward(losses, ctx)

    def end_epoch(self, epoch_losses: Tensor) -> None:
        self.base.end_epoch(epoch_losses)
        if self.on_epoch is not None:
            self.on_epoch()


def soft_sharing(tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64,
                 depth: int = 2, head_hidden: int | None = None,
                 strength: float = 1e-2) -> SoftSharing:
    """A :class:`SoftSharing` model of ``kind`` ('mlp' or 'cnn') with penalty strength λ."""
    return SoftSharing(tasks, input_shape, kind=kind, width=width, depth=depth,
                       head_hidden=head_hidden, strength=strength)
