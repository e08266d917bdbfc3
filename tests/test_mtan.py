import pytest
import torch
from torch import nn

import mtlbook as mb
from mtlbook.models import HardSharing
from mtlbook.models.mtan import mtan

TASKS = (mb.tasks.classification("left", 10), mb.tasks.regression("sum"))
SHAPE = (1, 10, 10)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_masks_of_ones_equal_hard_sharing(kind):
    torch.manual_seed(0)
    net = mtan(TASKS, SHAPE, kind=kind, width=8)
    with torch.no_grad():
        for per_block in net.attention:
            for att in per_block:
                att[2].weight.zero_()
                att[2].bias.fill_(50.0)                       # sigmoid(50) == 1 in float32
    hard = HardSharing(nn.Sequential(*net.stages), net.heads)
    x = torch.rand(5, *SHAPE)
    assert all(torch.equal(a, torch.ones_like(a)) for m in net.masks(x) for a in m)
    for a, b in zip(net(x), hard(x)):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_masks_lie_in_unit_interval_and_match_block_shapes(kind):
    torch.manual_seed(0)
    net = mtan(TASKS, SHAPE, kind=kind, width=8)
    x = torch.rand(4, *SHAPE)
    masks = net.masks(x)
    h = x
    for j, stage in enumerate(net.stages):
        h = stage(h)
        for i in range(2):
            assert masks[i][j].shape == h.shape
            assert bool(((masks[i][j] > 0) & (masks[i][j] < 1)).all())
    assert not torch.allclose(masks[0][0], masks[1][0])          # each task has its own mask


def test_no_tasks_raises():
    with pytest.raises(ValueError, match="tasks"):
        mtan((), SHAPE)
