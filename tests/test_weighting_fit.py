import pytest
import torch

import mtlbook as mb
from mtlbook.weighting import METHODS, make_weighting

SUM_TO_K = ("equal", "dwa", "random", "dtp", "lbtw", "gradnorm")


@pytest.fixture(scope="module")
def split():
    return mb.data.multidigits(n_train=256, n_test=64)


@pytest.mark.parametrize("name", METHODS)
def test_each_method_trains_through_fit(split, name):
    mb.seed_everything(0)
    net = mb.models.hard_sharing(split.tasks, (1, 10, 10), width=16)
    k = len(split.tasks)
    h = mb.train.fit(net, split.train, epochs=3, batch_size=64, strategy=make_weighting(name, split.tasks),
                     progress=False)
    assert h.weights.shape == (12, k) and torch.isfinite(h.weights).all() and (h.weights > 0).all()
    assert torch.isfinite(h.losses).all()
    if name == "dwa":
        assert torch.equal(h.weights[:8], torch.ones(8, k)) and not torch.equal(h.weights[8:], torch.ones(4, k))
    if name in SUM_TO_K:
        assert torch.allclose(h.weights.sum(1), torch.full((12,), float(k)), atol=1e-4)


def test_unknown_method_and_bad_tasks(split):
    with pytest.raises(ValueError, match="method must be one of"):
        make_weighting("gradnrom", split.tasks)
    with pytest.raises(TypeError, match="tasks must be a non-empty sequence"):
        make_weighting("dwa", [])
