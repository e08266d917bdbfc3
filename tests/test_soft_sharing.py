import pytest
import torch

import mtlbook as mb
from mtlbook.models.soft_sharing import PenalizedStrategy, soft_sharing
from mtlbook.weighting import EqualWeighting

TASKS = (mb.tasks.classification("left", 10), mb.tasks.regression("sum"))
SHAPE = (1, 10, 10)


def _data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *SHAPE, generator=g)
    return x, (torch.randint(0, 10, (n,), generator=g), torch.randn(n, generator=g))


def _train(model, strategy, steps=4):
    x, ys = _data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(steps):
        ctx = mb.strategy.StepContext(model, TASKS, opt, x, ys, step, 0)
        strategy.step(ctx)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_zero_penalty_trains_exactly_like_independent_networks(kind):
    torch.manual_seed(0)
    soft = soft_sharing(TASKS, SHAPE, kind=kind, width=8, strength=0.0)
    alone = [soft_sharing(TASKS[k:k + 1], SHAPE, kind=kind, width=8, strength=0.0) for k in range(2)]
    for k, m in enumerate(alone):
        m.columns[0].load_state_dict(soft.columns[k].state_dict())
        m.heads[0].load_state_dict(soft.heads[k].state_dict())
    _train(soft, PenalizedStrategy(EqualWeighting(), soft.penalty))
    x, ys = _data()
    for k, m in enumerate(alone):
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        for _ in range(4):
            opt.zero_grad()
            TASKS[k].loss(m(x)[0], ys[k]).backward()
            opt.step()
        out_soft, out_alone = soft(x)[k], m(x)[0]
        assert torch.allclose(out_soft, out_alone, atol=1e-6)


def test_penalty_closed_form_and_gradient():
    torch.manual_seed(0)
    net = soft_sharing(TASKS, 6, width=4, depth=1, strength=0.5)
    (w0, b0), (w1, b1) = (list(c.parameters()) for c in net.columns)
    expected = 0.5 * ((w0 - w1).pow(2).sum() + (b0 - b1).pow(2).sum())
    assert torch.allclose(net.penalty(), expected)
    net.penalty().backward()
    assert torch.allclose(w0.grad, 0.5 * 2 * (w0 - w1).detach())
    assert torch.allclose(w1.grad, -w0.grad)


def test_penalty_pulls_networks_together():
    torch.manual_seed(0)
    net = soft_sharing(TASKS, SHAPE, width=8, strength=1.0)
    before = net.distance().item()
    _train(net, PenalizedStrategy(EqualWeighting(), net.penalty), steps=10)
    assert net.distance().item() < 0.5 * before


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="strength"):
        soft_sharing(TASKS, SHAPE, strength=-1)
    with pytest.raises(TypeError, match="penalty"):
        PenalizedStrategy(EqualWeighting(), 3.0)
    with pytest.raises(TypeError, match="base"):
        PenalizedStrategy(None, lambda: torch.zeros(()))
