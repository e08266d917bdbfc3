import pytest
import torch

from mtlbook.dense_tasks import depth, edges, segmentation
from mtlbook.models.dense import (DenseCrossStitch, DenseHardSharing, DenseMTAN, GroupedConv,
                                  dense_single_task)

TASKS = (segmentation("semantic", 4), depth(), edges())
BUILDERS = (DenseHardSharing, DenseCrossStitch, DenseMTAN, dense_single_task)


def _x(*lead):
    return torch.randn(*lead, 3, 3, 8, 8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("build", BUILDERS)
def test_output_shapes_for_shared_and_per_model_batches(build):
    torch.manual_seed(0)
    m = build(TASKS, 3, 4, num_models=2)
    for x in (_x(), _x(2)):
        outs = m(x)
        assert [tuple(o.shape) for o in outs] == [(2, 3, 4, 8, 8), (2, 3, 1, 8, 8), (2, 3, 1, 8, 8)]
        losses = torch.stack([t.loss(o, torch.zeros(3, 8, 8, dtype=torch.long) if t.kind == "segmentation"
                                     else torch.zeros(3, 8, 8)) for t, o in zip(TASKS, outs)], -1)
        assert losses.shape == (2, 3)


@pytest.mark.parametrize("build", BUILDERS)
def test_gradients_reach_every_parameter(build):
    torch.manual_seed(1)
    m = build(TASKS, 3, 4, num_models=2)
    sum(o.square().mean() for o in m(_x())).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def _take_group(dst: GroupedConv, src: GroupedConv, e: int) -> None:
    c = dst.c_out
    with torch.no_grad():
        dst.weight.copy_(src.weight[e * c:(e + 1) * c])
        dst.bias.copy_(src.bias[e * c:(e + 1) * c])


@pytest.mark.parametrize("build", (DenseHardSharing, DenseMTAN))
def test_side_by_side_models_equal_separate_models(build):
    torch.manual_seed(2)
    big = build(TASKS, 3, 4, num_models=3)
    small = build(TASKS, 3, 4, num_models=1)
    e = 1
    for (name, a), b in zip(small.named_modules(), big.modules()):
        if isinstance(a, GroupedConv):
            groups_per_model = a.groups
            if groups_per_model == 1:
                _take_group(a, b, e)
            else:                                    # MTAN attention: groups (model, task)
                c, k = a.c_out, groups_per_model
                with torch.no_grad():
                    a.weight.copy_(b.weight[e * k * c:(e + 1) * k * c])
                    a.bias.copy_(b.bias[e * k * c:(e + 1) * k * c])
    x = _x()
    for o_big, o_small in zip(big(x), small(x)):
        assert torch.allclose(o_big[e], o_small[0], atol=1e-5)
    assert big.parameters_per_model() == small.parameters_per_model()


def test_identity_units_are_independent_networks():
    torch.manual_seed(3)
    stl = dense_single_task(TASKS, 3, 4, num_models=2)
    assert stl.shared_parameters() == [] and stl.identity
    outs = stl(_x())
    outs[0].sum().backward()                          # task 0's loss only
    w = stl.column.convs[0].weight.grad.reshape(2, 3, 4, 3, 3, 3)   # (model, task column, ...)
    assert w[:, 0].abs().sum() > 0 and w[:, 1:].abs().sum() == 0
    mixing = DenseCrossStitch(TASKS, 3, 4, num_models=2, learn_alpha=False)          # 0.9 / 0.1 units
    stl.load_state_dict(mixing.state_dict())
    assert not stl.identity                                # the loaded units are mixed, not skipped
    assert all(torch.allclose(a, b) for a, b in zip(stl(_x()), mixing(_x())))
    stl = dense_single_task(TASKS, 3, 4, num_models=2)
    learned = DenseCrossStitch(TASKS, 3, 4, num_models=2, alpha_same=1.0, alpha_diff=0.0)
    learned.load_state_dict(stl.state_dict())
    for a, b in zip(learned(_x()), stl(_x())):
        assert torch.allclose(a, b, atol=1e-6)


def test_cross_stitch_default_units_and_the_all_ones_pitfall():
    m = DenseCrossStitch(TASKS, 3, 4, num_models=2)
    assert m.alphas.shape == (4, 2, 3, 3)
    assert torch.allclose(m.alphas[0, 0], 0.9 * torch.eye(3) + 0.1 * (1 - torch.eye(3)))
    ones = DenseCrossStitch(TASKS, 3, 4, num_models=1, alpha_same=1.0, alpha_diff=1.0)
    f = ones.features(_x())
    assert torch.allclose(f[0], f[1]) and torch.allclose(f[1], f[2])


def test_mtan_masks_lie_in_0_1_and_masks_of_ones_give_hard_sharing():
    torch.manual_seed(4)
    m = DenseMTAN(TASKS, 3, 4, num_models=2)
    masks = m.masks(_x())
    assert [tuple(a.shape) for a in masks] == [(2, 3, 3, 4, 8, 8), (2, 3, 3, 8, 4, 4),
                                               (2, 3, 3, 4, 4, 4), (2, 3, 3, 4, 8, 8)]
    assert all(((a > 0) & (a < 1)).all() for a in masks)
    hard = DenseHardSharing(TASKS, 3, 4, num_models=2)
    hard.column.load_state_dict(m.column.state_dict())
    hard.heads.load_state_dict(m.heads.state_dict())
    with torch.no_grad():
        for h in m.h:
            h.weight.zero_()
            h.bias.fill_(50.0)                   # sigmoid(50) = 1 in float32
    for a, b in zip(m(_x()), hard(_x())):
        assert torch.allclose(a, b, atol=1e-5)


def test_input_checks():
    m = DenseHardSharing(TASKS, 3, 4, num_models=2)
    with pytest.raises(ValueError, match="even height"):
        m(torch.zeros(1, 3, 7, 8))
    with pytest.raises(ValueError, match="3 channels"):
        m(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\(2, B, 3, H, W\)"):
        m(torch.zeros(3, 1, 3, 8, 8))
    with pytest.raises(TypeError, match="floating-point"):
        m(torch.zeros(1, 3, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="width"):
        DenseMTAN(TASKS, 3, 0)
    with pytest.raises(ValueError, match="tasks"):
        DenseCrossStitch((), 3, 4)
    with pytest.raises(ValueError, match="kernel odd"):
        GroupedConv(1, 2, 2, kernel=2)
