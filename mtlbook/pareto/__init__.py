"""Continuous Pareto exploration (chapter 6): Hessian-vector products, MINRES, tangent directions,
predictor-corrector expansion, continuous local sets and their stitching, non-dominated fronts and
hypervolume (Ma, Du & Matusik, ICML 2020)."""

from mtlbook.pareto.expansion import (PREDICTORS, Correction, Counts, Exploration, explore, mgda_correct, predict,
                                      predict_weighted_sum, tangent_steps)
from mtlbook.pareto.fronts import dominates, domination_matrix, non_dominated, non_dominated_mask
from mtlbook.pareto.hvp import ENGINES, HessianVectorProduct, hvp, module_loss
from mtlbook.pareto.hypervolume import hypervolume, hypervolume_2d, hypervolume_3d
from mtlbook.pareto.local_sets import (LocalFront, StitchedFront, box_grid, overlap_matrix,
                                       patch_front, patch_points, simplex_grid, stitch_fronts)
from mtlbook.pareto.minres import MinresResult, minres
from mtlbook.pareto.networks import FlatLeNet, weighted_sum_sweep
from mtlbook.pareto.tangents import (PointTangents, TangentResult, stationarity_weights, tangent_directions,
                                     tangents_at, weighted_hvp)

__all__ = [
    "PREDICTORS", "Correction", "Counts", "Exploration", "explore", "mgda_correct", "predict",
    "predict_weighted_sum", "tangent_steps", "FlatLeNet", "weighted_sum_sweep", "PointTangents", "tangents_at",
    "LocalFront", "StitchedFront", "box_grid", "overlap_matrix", "patch_front", "patch_points",
    "simplex_grid", "stitch_fronts",
    "ENGINES", "HessianVectorProduct", "MinresResult", "TangentResult", "dominates", "domination_matrix", "hvp",
    "hypervolume", "hypervolume_2d", "hypervolume_3d", "minres", "module_loss", "non_dominated",
    "non_dominated_mask", "stationarity_weights", "tangent_directions", "weighted_hvp",
]
