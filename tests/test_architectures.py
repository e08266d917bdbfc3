"""What every chapter-2 architecture must do, with the MLP and the small CNN backbone."""

import pytest
import torch

import mtlbook as mb
from mtlbook.data.core import MultiTaskData
from mtlbook.models import (PenalizedStrategy, cross_stitch, mmoe, mrn, mtan, omoe, shared_bottom, sluice,
                            soft_sharing)
from mtlbook.weighting import EqualWeighting

TASKS = (mb.tasks.classification("left", 10), mb.tasks.regression("sum"))
SHAPE = (1, 10, 10)
FACTORIES = {
    "soft_sharing": lambda kind, shape=SHAPE: soft_sharing(TASKS, shape, kind=kind, width=8),
    "cross_stitch": lambda kind, shape=SHAPE: cross_stitch(TASKS, shape, kind=kind, width=8),
    "sluice": lambda kind, shape=SHAPE: sluice(TASKS, shape, kind=kind, width=8),
    "mtan": lambda kind, shape=SHAPE: mtan(TASKS, shape, kind=kind, width=8),
    "mrn": lambda kind, shape=SHAPE: mrn(TASKS, shape, kind=kind, width=8, head_hidden=4, strength=1.0),
    "mmoe": lambda kind, shape=SHAPE: mmoe(TASKS, shape, kind=kind, num_experts=3, expert_width=8),
    "omoe": lambda kind, shape=SHAPE: omoe(TASKS, shape, kind=kind, num_experts=3, expert_width=8),
    "shared_bottom": lambda kind, shape=SHAPE: shared_bottom(TASKS, shape, kind=kind, width=8),
}
CASES = [(name, kind) for name in FACTORIES for kind in ("mlp", "cnn")]

def _data(n=12):
    g = torch.Generator().manual_seed(0)
    return MultiTaskData(torch.rand(n, *SHAPE, generator=g),
                         (torch.randint(0, 10, (n,), generator=g), torch.randn(n, generator=g)), TASKS)

def _strategy(net):
    return PenalizedStrategy(EqualWeighting(), net.penalty) if hasattr(net, "penalty") else EqualWeighting()

@pytest.mark.parametrize("name, kind", CASES)
def test_gradients_reach_every_parameter(name, kind):
    torch.manual_seed(0)
    net = FACTORIES[name](kind)
    if name == "sluice":
        with torch.no_grad():
            net.beta.fill_(0.5)                  # a zero β would cut earlier layers off the heads
    data = _data()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    _strategy(net).step(mb.strategy.StepContext(net, TASKS, opt, data.x, data.targets, 0, 0))
    for pname, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname

@pytest.mark.parametrize("name, kind", CASES)
def test_parameter_split_covers_the_model_once(name, kind):
    net = FACTORIES[name](kind)
    shared = set(map(id, net.shared_parameters()))
    own = [set(map(id, net.task_parameters(k))) for k in range(2)]
    assert shared | own[0] | own[1] == set(map(id, net.parameters()))
    assert shared.isdisjoint(own[0] | own[1]) and own[0].isdisjoint(own[1])
    with pytest.raises(IndexError):
        net.task_parameters(2)

@pytest.mark.parametrize("name, kind", CASES)
def test_fit_trains_it(name, kind):
    net = FACTORIES[name](kind)
    hist = mb.train.fit(net, _data(), steps=2, batch_size=6, progress=False, strategy=_strategy(net))
    assert hist.losses.shape == (2, 2) and bool(torch.isfinite(hist.losses).all())
    assert [tuple(o.shape) for o in net(_data().x[:3])] == [(3, 10), (3, 1)]

@pytest.mark.parametrize("name, kind", CASES)
@pytest.mark.parametrize("x, error", [
    (torch.rand(4, 1, 9, 9), ValueError),
    (torch.rand(1, 10, 10), ValueError),
    (torch.randint(0, 2, (4, 1, 10, 10)), TypeError),
])
def test_bad_inputs_raise_clear_errors(name, kind, x, error):
    with pytest.raises(error, match="x must"):
        FACTORIES[name](kind)(x)

@pytest.mark.parametrize("name", FACTORIES)
def test_bad_constructor_arguments_raise(name):
    with pytest.raises(ValueError, match="kind"):
        FACTORIES[name]("rnn")
    with pytest.raises(ValueError, match="input_shape"):
        FACTORIES[name]("cnn", (10, 10))
    with pytest.raises(ValueError, match="input_shape"):
        FACTORIES[name]("mlp", (0, 3))
