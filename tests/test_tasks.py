import math

import pytest
import torch

from mtlbook.tasks import classification, delta_m, regression, task_losses


def test_classification_loss_and_accuracy_with_model_dimension():
    t = classification("digit", 3)
    logits = torch.tensor([[[5.0, 0, 0], [0, 5.0, 0]], [[0, 0, 5.0], [0, 5.0, 0]]])  # (E=2, B=2, C=3)
    y = torch.tensor([0, 1])
    assert t.loss(logits, y).shape == (2,)
    assert torch.allclose(t.metric(logits, y), torch.tensor([1.0, 0.5]))
    assert torch.allclose(t.loss(logits[0], y), torch.nn.functional.cross_entropy(logits[0], y))
    assert math.isclose(float(classification("u", 4).loss(torch.zeros(5, 4), torch.zeros(5, dtype=torch.long))),
                        math.log(4), rel_tol=1e-6)


def test_regression_loss_shapes():
    t = regression("y")
    out = torch.zeros(3, 4, 1)
    assert torch.allclose(t.loss(out, torch.ones(4)), torch.ones(3))
    assert torch.allclose(t.loss(out, torch.ones(3, 4)), torch.ones(3))
    two = regression("yy", num_outputs=2)
    assert torch.allclose(two.loss(torch.zeros(4, 2), torch.full((4, 2), 2.0)), torch.tensor(4.0))
    assert not t.higher_is_better and t.metric_name == "mse"


def test_shape_errors_name_the_task():
    with pytest.raises(ValueError, match="'digit'"):
        classification("digit", 3).loss(torch.zeros(4, 5), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="'y'"):
        regression("y").loss(torch.zeros(4, 1), torch.zeros(5))
    with pytest.raises(ValueError, match="num_classes"):
        classification("bad", 1)
    with pytest.raises(ValueError, match="kind"):
        from mtlbook.tasks import Task
        Task("t", "ranking")


def test_task_losses_stack_per_task():
    tasks = [classification("a", 2), regression("b")]
    out = [torch.zeros(3, 2), torch.zeros(3, 1)]
    losses = task_losses(tasks, out, [torch.zeros(3, dtype=torch.long), torch.ones(3)])
    assert torch.allclose(losses, torch.tensor([math.log(2), 1.0]))
    with pytest.raises(ValueError, match="one output and one target"):
        task_losses(tasks, out[:1], [torch.zeros(3)])


def test_delta_m_signs_and_units():
    # accuracy +10% relative, MSE halves (+50% better): mean = +30%
    assert torch.isclose(delta_m([0.55, 1.0], [0.5, 2.0], [True, False]), torch.tensor(30.0, dtype=torch.float64))
    assert float(delta_m([0.5, 2.0], [0.5, 2.0], [True, False])) == 0.0
    batch = delta_m(torch.tensor([[0.5, 2.0], [0.45, 2.0]]), [0.5, 2.0], [True, False])
    assert batch.shape == (2,) and float(batch[1]) == pytest.approx(-5.0)
    with pytest.raises(ValueError, match="non-zero"):
        delta_m([1.0], [0.0], [True])
    with pytest.raises(ValueError, match="K=2"):
        delta_m([1.0, 2.0, 3.0], [1.0, 2.0], [True, True])
