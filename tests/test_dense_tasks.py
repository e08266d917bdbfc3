import pytest
import torch
import torch.nn.functional as F

from mtlbook.dense_tasks import DenseTask, depth, edges, segmentation
from mtlbook.tasks import delta_m


def test_segmentation_loss_is_pixel_cross_entropy_and_broadcasts_over_models():
    t = segmentation("sem", 3)
    out = torch.randn(2, 4, 3, 5, 5)                 # E=2 models, B=4
    y = torch.randint(0, 3, (4, 5, 5))
    want = torch.stack([F.cross_entropy(out[e], y) for e in range(2)])
    assert torch.allclose(t.loss(out, y), want, atol=1e-6)
    assert t.loss(out[0], y).shape == ()


def test_miou_and_pixel_accuracy_on_a_hand_example():
    t = segmentation("sem", 2)
    y = torch.tensor([[[0, 0], [1, 1]]])
    pred = torch.tensor([[[0, 1], [1, 1]]])
    out = F.one_hot(pred, 2).permute(0, 3, 1, 2).float()
    # class 0: I=1, U=2; class 1: I=2, U=3
    assert torch.isclose(t.metric(out, y), torch.tensor((1 / 2 + 2 / 3) / 2))
    assert torch.isclose(t.pixel_accuracy(out, y), torch.tensor(0.75))
    assert t.metric(F.one_hot(y, 2).permute(0, 3, 1, 2).float(), y) == 1.0


def test_miou_ignores_classes_absent_from_prediction_and_target():
    t = segmentation("sem", 4)
    y = torch.zeros(1, 3, 3, dtype=torch.long)
    out = F.one_hot(y, 4).permute(0, 3, 1, 2).float()
    assert t.metric(out, y) == 1.0


def test_depth_l1_and_edge_bce_and_f1():
    d = depth()
    out = torch.zeros(2, 1, 3, 3)
    y = torch.full((2, 3, 3), 0.5)
    assert torch.isclose(d.loss(out, y), torch.tensor(0.5)) and torch.isclose(d.metric(out, y), torch.tensor(0.5))
    e = edges()
    logits = torch.tensor([[[[3.0, -3.0], [3.0, -3.0]]]])
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    assert torch.isclose(e.loss(logits, target), F.binary_cross_entropy_with_logits(logits[:, 0], target))
    # TP = 1, FP = 1, FN = 1 -> F1 = 2 / 4
    assert torch.isclose(e.metric(logits, target), torch.tensor(0.5))
    heavy = edges(pos_weight=4.0)
    assert heavy.loss(logits, target) > e.loss(logits, target)


def test_directions_and_delta_m():
    ts = (segmentation("s", 3), depth(), edges())
    assert [t.higher_is_better for t in ts] == [True, False, True]
    assert [t.metric_name for t in ts] == ["mIoU", "abs. error", "F1"]
    dm = delta_m([0.55, 0.09, 0.5], [0.5, 0.10, 0.5], [t.higher_is_better for t in ts])
    assert torch.isclose(dm, torch.tensor(100 * (0.1 + 0.1 + 0) / 3, dtype=torch.float64))


def test_input_checks():
    with pytest.raises(ValueError, match="kind"):
        DenseTask("x", "normals")
    with pytest.raises(ValueError, match="num_classes"):
        segmentation("x", 1)
    with pytest.raises(ValueError, match="pos_weight"):
        edges(pos_weight=0.0)
    t = segmentation("s", 3)
    with pytest.raises(ValueError, match=r"\(\.\.\., B, 3, H, W\)"):
        t.loss(torch.zeros(2, 4, 5, 5), torch.zeros(2, 5, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="int64"):
        t.loss(torch.zeros(2, 3, 5, 5), torch.zeros(2, 5, 5))
    with pytest.raises(ValueError, match="pixel accuracy"):
        depth().pixel_accuracy(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 2))
