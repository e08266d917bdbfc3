"""Continuous Pareto exploration (chapter 6): Hessian-vector products, MINRES, tangent directions,
non-dominated fronts and hypervolume (Ma, Du & Matusik, ICML 2020)."""

from mtlbook.pareto.hvp import ENGINES, HessianVectorProduct, hvp, module_loss
from mtlbook.pareto.minres import MinresResult, minres

__all__ = ["ENGINES", "HessianVectorProduct", "MinresResult", "hvp", "minres", "module_loss"]
