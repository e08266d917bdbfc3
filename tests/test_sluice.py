import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mtlbook as mb
from mtlbook.models.cross_stitch import cross_stitch
from mtlbook.models.sluice import sluice

TASKS = (mb.tasks.classification("left", 10), mb.tasks.regression("sum"))
SHAPE = (1, 10, 10)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_one_subspace_without_beta_equals_cross_stitch(kind):
    torch.manual_seed(0)
    cs = cross_stitch(TASKS, SHAPE, kind=kind, width=8)
    with torch.no_grad():
        for a in cs.alphas:
            a.add_(0.3 * torch.randn_like(a))                   # any units, not only the init
    sl = sluice(TASKS, SHAPE, kind=kind, width=8, subspaces=1, layer_mixing=False)
    sl.load_state_dict(cs.state_dict())
    x = torch.rand(5, *SHAPE)
    for a, b in zip(cs(x), sl(x)):
        assert torch.allclose(a, b, atol=1e-6)
    assert sl.penalty().item() == 0.0


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_initial_beta_reads_the_last_layer_like_cross_stitch(kind):
    torch.manual_seed(0)
    cs = cross_stitch(TASKS, SHAPE, kind=kind, width=8)
    sl = sluice(TASKS, SHAPE, kind=kind, width=8, subspaces=1)
    sl.load_state_dict({**cs.state_dict(), "beta": sl.beta.data}, strict=True)
    x = torch.rand(3, *SHAPE)
    for a, b in zip(cs(x), sl(x)):
        assert torch.allclose(a, b, atol=1e-6)


def test_alpha_spans_all_subspaces_of_all_tasks_and_beta_all_layers():
    net = sluice(TASKS, 12, width=8, depth=3, subspaces=2)
    assert [tuple(a.shape) for a in net.alphas] == [(4, 4)] * 3
    assert torch.equal(net.alphas[0].data, torch.kron(torch.tensor([[0.9, 0.1], [0.1, 0.9]]),
                                                      torch.eye(2)))
    assert tuple(net.beta.shape) == (2, 3)
    assert sluice(TASKS, SHAPE, kind="cnn", width=8).beta.shape == (2, 1)


def test_subspace_mixing_moves_the_right_block():
    """α that swaps task A's subspace 2 with task B's subspace 1 moves exactly those features."""
    net = sluice(TASKS, 4, width=4, depth=1, subspaces=2)
    perm = torch.eye(4)[[0, 2, 1, 3]]
    a, b = torch.arange(4.0).repeat(3, 1), 10 + torch.arange(4.0).repeat(3, 1)
    ma, mb_ = net._stitch(perm, [a, b])
    assert torch.equal(ma[0], torch.tensor([0.0, 1.0, 10.0, 11.0]))
    assert torch.equal(mb_[0], torch.tensor([2.0, 3.0, 12.0, 13.0]))


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 5), st.integers(1, 3), st.integers(0, 1000))
def test_orthogonality_loss_closed_form(n, half, seed):
    net = sluice(TASKS, 4, width=2 * half, depth=1, subspaces=2)
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, 2 * half, generator=g)
    expected = (h[:, :half].T @ h[:, half:]).pow(2).sum()
    assert torch.allclose(net.orthogonality_loss([h]), expected, rtol=1e-5, atol=1e-6)
    q, _ = torch.linalg.qr(torch.randn(2 * half, 2 * half, generator=g))
    ortho = torch.cat([q[:, :half], q[:, half:]], 1)           # orthogonal columns: zero loss
    assert net.orthogonality_loss([ortho]).item() < 1e-8


def test_identity_alpha_with_subspaces_keeps_columns_independent():
    torch.manual_seed(0)
    net = sluice(TASKS, SHAPE, kind="cnn", width=8, subspaces=2, layer_mixing=False)
    with torch.no_grad():
        for a in net.alphas:
            a.copy_(torch.eye(4))
    x = torch.rand(3, *SHAPE)
    for k, out in enumerate(net(x)):
        h = x
        for stage in net.columns[k]:
            h = stage(h)
        assert torch.allclose(out, net.heads[k](h), atol=1e-6)
    assert net.penalty().item() > 0


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="subspaces must divide"):
        sluice(TASKS, SHAPE, width=9, subspaces=2)
    with pytest.raises(ValueError, match="subspaces must be"):
        sluice(TASKS, SHAPE, subspaces=0)
    with pytest.raises(ValueError, match="orthogonality"):
        sluice(TASKS, SHAPE, orthogonality=-1.0)
    with pytest.raises(RuntimeError, match="forward"):
        sluice(TASKS, SHAPE).penalty()
