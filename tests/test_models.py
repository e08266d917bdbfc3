import copy

import pytest
import torch
from torch import nn

import mtlbook as mb
from mtlbook.models import (EnsembleHardSharing, EnsembleLinear, count_parameters, hard_sharing,
                            single_task_networks)

TASKS = (mb.tasks.classification("left", 10), mb.tasks.regression("sum"))


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_hard_sharing_outputs_and_parameter_split(kind):
    net = hard_sharing(TASKS, (1, 10, 10), kind=kind, width=16)
    out = net(torch.rand(5, 1, 10, 10))
    assert [o.shape for o in out] == [(5, 10), (5, 1)]
    shared = {id(p) for p in net.shared_parameters()}
    heads = [{id(p) for p in net.task_parameters(k)} for k in range(2)]
    assert shared.isdisjoint(heads[0] | heads[1]) and heads[0].isdisjoint(heads[1])
    assert shared | heads[0] | heads[1] == {id(p) for p in net.parameters()}
    assert isinstance(net.last_shared_layer(), (nn.Linear, nn.Conv2d))
    with pytest.raises(IndexError):
        net.task_parameters(2)


@pytest.mark.parametrize("x, error", [
    (torch.rand(5, 1, 9, 9), ValueError),
    (torch.rand(1, 10, 10), ValueError),
    (torch.randint(0, 2, (5, 1, 10, 10)), TypeError),
])
def test_input_shape_is_checked(x, error):
    with pytest.raises(error, match="x must"):
        hard_sharing(TASKS, (1, 10, 10))(x)


def test_sharing_saves_exactly_one_trunk_per_extra_task():
    mtl = hard_sharing(TASKS, (1, 10, 10), width=32)
    stl = single_task_networks(TASKS, (1, 10, 10), width=32)
    trunk = count_parameters(mtl.encoder)
    assert count_parameters(stl) - count_parameters(mtl) == (len(TASKS) - 1) * trunk
    assert stl.shared_parameters() == []


def test_ensemble_linear_equals_separate_linears():
    ens = EnsembleLinear(3, 4, 2, generator=torch.Generator().manual_seed(0))
    x = torch.randn(3, 5, 4)
    for e in range(3):
        assert torch.allclose(ens(x)[e], x[e] @ ens.weight[e] + ens.bias[e])
    assert torch.allclose(ens(x[0])[1], x[0] @ ens.weight[1] + ens.bias[1])   # shared batch
    with pytest.raises(ValueError, match="x must"):
        ens(torch.randn(2, 5, 4))


def test_ensemble_training_equals_training_each_model_alone():
    """Adam is element-wise and the models share nothing: the sum of losses trains each exactly."""
    torch.manual_seed(0)
    tasks = (mb.tasks.regression("a"), mb.tasks.regression("b"))
    ens = EnsembleHardSharing(3, tasks, 6, hidden=(8,), generator=torch.Generator().manual_seed(1))
    x, ys = torch.randn(3, 16, 6), (torch.randn(3, 16), torch.randn(3, 16))
    alone = [copy.deepcopy(ens) for _ in range(3)]
    opt = torch.optim.Adam(ens.parameters(), lr=1e-2)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in alone]
    for _ in range(5):
        opt.zero_grad()
        mb.tasks.task_losses(tasks, ens(x), ys).sum().backward()
        opt.step()
        for e, (m, o) in enumerate(zip(alone, opts)):
            o.zero_grad()
            losses = mb.tasks.task_losses(tasks, m(x), ys)[e]
            losses.sum().backward()
            o.step()
    for e in range(3):
        for p, q in zip(ens.parameters(), alone[e].parameters()):
            assert torch.allclose(p[e], q[e], atol=1e-6)


def test_ensemble_hard_sharing_shapes():
    ens = EnsembleHardSharing(4, TASKS, 100, hidden=(16, 16))
    out = ens(torch.rand(7, 1, 10, 10))
    assert [o.shape for o in out] == [(4, 7, 10), (4, 7, 1)]
    assert [o.shape for o in ens(torch.rand(4, 7, 1, 10, 10))] == [(4, 7, 10), (4, 7, 1)]
    with pytest.raises(ValueError, match="features per example"):
        ens(torch.rand(7, 1, 9, 9))
