"""Gradient aggregation (chapter 4): min-norm solvers (MGDA) and methods for conflicting gradients."""

from mtlbook.aggregation.directions import (cagrad_direction, cagrad_inner_weights,
                                            cagrad_weights, mgda_direction, pcgrad_direction,
                                            pcgrad_projections, pcgrad_weights)
from mtlbook.aggregation.gram import (check_gram, duality_gap, gram_matrix,
                                      relative_duality_gap)
from mtlbook.aggregation.imtl import IMTLG, imtlg_direction, imtlg_weights
from mtlbook.aggregation.min_norm import (MinNormSolution, min_norm_weights,
                                          min_norm_weights_from_gram, solve_min_norm,
                                          two_task_min_norm)
from mtlbook.aggregation.strategies import MGDA, MGDAUB, CAGrad, GradientAggregation, PCGrad

__all__ = [
    "IMTLG", "MGDA", "MGDAUB", "CAGrad", "GradientAggregation", "MinNormSolution", "PCGrad",
    "cagrad_direction", "cagrad_inner_weights", "cagrad_weights", "check_gram", "duality_gap",
    "gram_matrix", "imtlg_direction", "imtlg_weights", "mgda_direction", "min_norm_weights",
    "min_norm_weights_from_gram",
    "pcgrad_direction", "pcgrad_projections", "pcgrad_weights", "relative_duality_gap",
    "solve_min_norm", "two_task_min_norm",
]
