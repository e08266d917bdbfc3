import pytest
import torch

import mtlbook as mb
from mtlbook.models.columns import mix_tasks
from mtlbook.models.cross_stitch import cross_stitch, stitch_init

TASKS = (mb.tasks.classification("left", 10), mb.tasks.regression("sum"), mb.tasks.regression("b"))
SHAPE = (1, 10, 10)


def _column(net, k, x):
    h = x
    for stage in net.columns[k]:
        h = stage(h)
    return net.heads[k](h)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_identity_units_equal_independent_networks(kind):
    torch.manual_seed(0)
    net = cross_stitch(TASKS, SHAPE, kind=kind, width=8, alpha_same=1.0, alpha_diff=0.0)
    x = torch.rand(5, *SHAPE)
    out = net(x)
    for k in range(3):
        assert torch.allclose(out[k], _column(net, k, x), atol=1e-6)
    # and a near-identity unit does mix: task 0's output now depends on column 1
    net.alphas[0].data = stitch_init(3, 0.9, 0.1)
    assert not torch.allclose(net(x)[0], _column(net, 0, x), atol=1e-4)


def test_unit_gradient_matches_equation_2():
    """∂L/∂α_kj = Σ ∂L/∂x̃_k · x_j for one stitched layer."""
    torch.manual_seed(0)
    alpha = torch.randn(2, 2, requires_grad=True)
    xs = [torch.randn(4, 3), torch.randn(4, 3)]
    gs = [torch.randn(4, 3), torch.randn(4, 3)]
    mixed = mix_tasks(alpha, xs)
    sum((m * g).sum() for m, g in zip(mixed, gs)).backward()
    expected = torch.tensor([[(gs[k] * xs[j]).sum() for j in range(2)] for k in range(2)])
    assert torch.allclose(alpha.grad, expected, atol=1e-5)


def test_default_init_and_parameter_split():
    net = cross_stitch(TASKS[:2], SHAPE, kind="cnn", width=8)
    assert net.num_stages == 3                                   # two conv blocks, one feature layer
    assert torch.equal(net.alphas[0].data, torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    shared = set(map(id, net.shared_parameters()))
    own = [set(map(id, net.task_parameters(k))) for k in range(2)]
    assert shared | own[0] | own[1] == set(map(id, net.parameters()))
    assert shared.isdisjoint(own[0] | own[1]) and own[0].isdisjoint(own[1])


def test_bad_alpha_raises():
    with pytest.raises(ValueError, match="alpha_same"):
        cross_stitch(TASKS, SHAPE, alpha_same=float("nan"))
    with pytest.raises(ValueError, match="alpha_diff"):
        cross_stitch(TASKS, SHAPE, alpha_diff="0.1")


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_all_ones_units_give_every_head_the_same_features(kind):
    """The pitfall of an all-ones init: the tasks start hard-shared, not independent."""
    torch.manual_seed(0)
    net = cross_stitch(TASKS, SHAPE, kind=kind, width=8, alpha_same=1.0, alpha_diff=1.0)
    feats = net.features(torch.rand(4, *SHAPE))
    assert all(torch.equal(feats[0], f) for f in feats[1:])
    near = cross_stitch(TASKS, SHAPE, kind=kind, width=8).features(torch.rand(4, *SHAPE))
    assert not torch.allclose(near[0], near[1])
