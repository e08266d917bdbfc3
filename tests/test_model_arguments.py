"""Non-finite strengths and bools where counts are expected get clear errors from every model."""

import math

import pytest
import torch

import mtlbook as mb

TASKS = (mb.tasks.regression("a"), mb.tasks.regression("b"))


@pytest.mark.parametrize("build, match", [
    (lambda: mb.models.soft_sharing(TASKS, 5, strength=math.nan), "strength must be a finite number"),
    (lambda: mb.models.sluice(TASKS, 5, orthogonality=math.inf), "orthogonality must be a finite number"),
    (lambda: mb.models.sluice(TASKS, 5, subspaces=True), "subspaces must be a positive int"),
    (lambda: mb.models.mmoe(TASKS, 5, num_experts=True), "num_experts must be a positive int"),
    (lambda: mb.models.mrn(TASKS, 5, strength=math.inf), "strength must be a finite number"),
    (lambda: mb.models.widen(torch.eye(2), 2, base_cost=math.nan), "base_cost must be a finite number"),
])
def test_bad_model_arguments_raise(build, match):
    with pytest.raises(ValueError, match=match):
        build()
