"""Gradient aggregation (chapter 4): min-norm solvers (MGDA) and methods for conflicting gradients."""

from mtlbook.aggregation.gram import (check_gram, duality_gap, gram_matrix,
                                      relative_duality_gap)
from mtlbook.aggregation.min_norm import (MinNormSolution, min_norm_weights,
                                          min_norm_weights_from_gram, solve_min_norm,
                                          two_task_min_norm)

__all__ = [
    "MinNormSolution", "check_gram", "duality_gap", "gram_matrix", "min_norm_weights",
    "min_norm_weights_from_gram", "relative_duality_gap", "solve_min_norm", "two_task_min_norm",
]
