import pytest
import torch

import mtlbook as mb
from mtlbook import weighting as W

METHODS = {
    "initial": lambda k: W.InitialLossWeighting(),
    "realtime": lambda k: W.RealTimeLossWeighting(),
    "gradient-norm": lambda k: W.GradientNormWeighting(),
    "uncertainty": lambda k: W.UncertaintyWeighting(k, ["classification"] * k),
    "dwa": lambda k: W.DynamicWeightAverage(k),
    "random": lambda k: W.RandomLossWeighting(k, normalize=True),
    "dtp": lambda k: W.DynamicTaskPrioritization(k, normalize=True),
    "lbtw": lambda k: W.LossBalancedTaskWeighting(k),
    "gradnorm": lambda k: W.GradNorm(k),
}


@pytest.fixture(scope="module")
def split():
    return mb.data.multidigits(n_train=256, n_test=64)


@pytest.mark.parametrize("name", list(METHODS))
def test_each_method_trains_through_fit(split, name):
    mb.seed_everything(0)
    net = mb.models.hard_sharing(split.tasks, (1, 10, 10), width=16)
    k = len(split.tasks)
    method = METHODS[name](k)
    h = mb.train.fit(net, split.train, epochs=3, batch_size=64, strategy=method, progress=False)
    assert h.weights.shape == (12, k) and torch.isfinite(h.weights).all() and (h.weights > 0).all()
    assert torch.isfinite(h.losses).all()
    if name == "dwa":
        assert torch.equal(h.weights[:8], torch.ones(8, k)) and not torch.equal(h.weights[8:], torch.ones(4, k))
    if name in ("dwa", "random", "dtp", "lbtw", "gradnorm"):
        assert torch.allclose(h.weights.sum(1), torch.full((12,), float(k)), atol=1e-4)
