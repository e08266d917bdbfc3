"""Every loss weighting of the chapter by name, with its default hyperparameters (for method pickers,
comparisons and benchmarks). Σw = K wherever the method offers that convention."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mtlbook.strategy import Strategy
from mtlbook.tasks import Task
from mtlbook.weighting.dtp import DynamicTaskPrioritization
from mtlbook.weighting.dwa import DynamicWeightAverage
from mtlbook.weighting.gradnorm import GradNorm
from mtlbook.weighting.lbtw import LossBalancedTaskWeighting
from mtlbook.weighting.rlw import RandomLossWeighting
from mtlbook.weighting.scale import GradientNormWeighting, InitialLossWeighting, RealTimeLossWeighting
from mtlbook.weighting.static import EqualWeighting
from mtlbook.weighting.uncertainty import UncertaintyWeighting

_FACTORIES: dict[str, Callable[[tuple[Task, ...]], Strategy]] = {
    "equal": lambda tasks: EqualWeighting(),
    "initial_loss": lambda tasks: InitialLossWeighting(),
    "realtime_loss": lambda tasks: RealTimeLossWeighting(),
    "gradient_norm": lambda tasks: GradientNormWeighting(),
    "uncertainty": lambda tasks: UncertaintyWeighting(len(tasks), [t.kind for t in tasks]),
    "dwa": lambda tasks: DynamicWeightAverage(len(tasks)),
    "random": lambda tasks: RandomLossWeighting(len(tasks), normalize=True),
    "dtp": lambda tasks: DynamicTaskPrioritization(len(tasks), normalize=True),
    "lbtw": lambda tasks: LossBalancedTaskWeighting(len(tasks)),
    "gradnorm": lambda tasks: GradNorm(len(tasks)),
}
METHODS = tuple(_FACTORIES)


def make_weighting(name: str, tasks: Sequence[Task]) -> Strategy:
    """A fresh weighting ``name`` (one of :data:`METHODS`) for ``tasks``, with default settings."""
    if name not in _FACTORIES:
        raise ValueError(f"method must be one of {METHODS}, got {name!r}")
    tasks = tuple(tasks)
    if not tasks or not all(isinstance(t, Task) for t in tasks):
        raise TypeError("tasks must be a non-empty sequence of mtlbook Task objects")
    return _FACTORIES[name](tasks)
