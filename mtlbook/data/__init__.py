"""Data for the book: containers and samplers, MultiDigits, MultiMNIST, synthetic task families, toy
objectives with analytic gradients (chapters 4 and 6)."""

from mtlbook.data.core import EnsembleBatches, EpochBatches, MultiTaskData, Split
from mtlbook.data.gradnorm_toy import gradnorm_toy
from mtlbook.data.grouped import grouped_teacher_tasks
from mtlbook.data.multidigits import DERIVED_TASKS, multidigits
from mtlbook.data.multimnist import multimnist, multimnist_available, read_idx
from mtlbook.data.pareto_toys import zdt2_variant, zdt2_variant_pareto_point
from mtlbook.data.scenes import scenes
from mtlbook.data.synthetic import related_regression, task_weight_vectors, teacher_tasks
from mtlbook.data.toys import cagrad_toy, nash_mtl_toy, pareto_mtl_toy, run_toy
from mtlbook.data.toys_numpy import run_cagrad_toy

__all__ = [
    "DERIVED_TASKS", "EnsembleBatches", "EpochBatches", "MultiTaskData", "Split", "cagrad_toy",
    "gradnorm_toy", "grouped_teacher_tasks", "multidigits", "multimnist", "multimnist_available",
    "nash_mtl_toy", "pareto_mtl_toy", "read_idx", "related_regression", "run_toy", "scenes",
    "task_weight_vectors", "teacher_tasks", "zdt2_variant", "zdt2_variant_pareto_point",
]
