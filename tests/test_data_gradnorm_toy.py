"""The GradNorm toy tasks: shapes, scales, determinism and input checks."""

import numpy as np
import pytest
import torch

from mtlbook.data import gradnorm_toy


def test_shapes_names_and_meta():
    split = gradnorm_toy((1.0, 5.0, 20.0), n_train=50, n_test=30, in_features=12, out_features=7)
    assert split.train.x.shape == (50, 12) and split.test.x.shape == (30, 12)
    assert split.task_names == ("task0", "task1", "task2")
    assert all(y.shape == (50, 7) for y in split.train.targets)
    assert all(t.kind == "regression" and t.output_size == 7 for t in split.tasks)
    assert split.train.meta["sigmas"].tolist() == [1.0, 5.0, 20.0]


def test_targets_scale_with_sigma_and_stay_in_the_tanh_range():
    split = gradnorm_toy((1.0, 100.0), n_train=2000, n_test=10, out_features=20)
    y0, y1 = split.train.targets
    assert y0.abs().max() <= 1.0 and y1.abs().max() <= 100.0
    ratio = float(y1.std() / y0.std())
    assert 70 < ratio < 140                    # the tasks share B, so the scale dominates
    # unit-variance pre-activations: tanh is not saturated (|y/σ| well below 1 on average)
    assert 0.3 < float(y0.abs().mean()) < 0.8


def test_saturates_without_input_scaling():
    split = gradnorm_toy((1.0,), n_train=500, n_test=10, input_std=1.0)
    assert float(split.train.targets[0].abs().mean()) > 0.95


def test_deterministic_and_seeded():
    a = gradnorm_toy((1.0, 2.0), n_train=20, n_test=5, seed=3)
    b = gradnorm_toy((1.0, 2.0), n_train=20, n_test=5, seed=3)
    c = gradnorm_toy((1.0, 2.0), n_train=20, n_test=5, seed=4)
    assert torch.equal(a.train.targets[1], b.train.targets[1])
    assert not torch.equal(a.train.targets[1], c.train.targets[1])


def test_tasks_differ_only_through_epsilon():
    same = gradnorm_toy((1.0, 1.0), n_train=200, n_test=5, task_std=0.0)
    assert torch.allclose(*same.train.targets)
    diff = gradnorm_toy((1.0, 1.0), n_train=200, n_test=5)
    corr = np.corrcoef(diff.train.targets[0].flatten(), diff.train.targets[1].flatten())[0, 1]
    assert 0.8 < corr < 0.999


@pytest.mark.parametrize("kwargs, match", [
    ({"sigmas": ()}, "sigmas must be"), ({"sigmas": (1.0, -2.0)}, "sigmas must be"),
    ({"sigmas": (1.0, float("nan"))}, "sigmas must be"), ({"n_train": 0}, "n_train must be"),
    ({"out_features": 2.5}, "out_features must be"), ({"input_std": 0.0}, "input_std must be"),
    ({"shared_std": 0.0, "task_std": 0.0}, "not both 0"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gradnorm_toy(**{"n_train": 10, "n_test": 5, **kwargs})
