"""Per-task Jacobians (loop and batched), representation gradients, and writing gradients back."""

from __future__ import annotations

import pytest
import torch

import mtlbook as mb
from mtlbook.gradients import (add_to_grad_, gradients_through_outputs, jacobian_buffer,
                               representation_gradients, task_jacobian)

TASKS = (mb.tasks.classification("a", 3), mb.tasks.regression("b", 2), mb.tasks.classification("c", 4))


def _batch(n: int = 9, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    ys = (torch.randint(0, 3, (n,), generator=g), torch.randn(n, 2, generator=g),
          torch.randint(0, 4, (n,), generator=g))
    return x, ys


def _reference_rows(losses, params):
    """One full backward per task, reading .grad: the textbook way (and LibMTL's)."""
    rows = []
    for k in range(losses.shape[-1]):
        for p in params:
            p.grad = None
        losses[k].backward(retain_graph=True)
        rows.append(torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).flatten()
                               for p in params]))
    return torch.stack(rows)


@pytest.mark.parametrize("method", ["loop", "batched"])
def test_jacobian_rows_are_the_task_gradients(method):
    torch.manual_seed(0)
    net = mb.models.hard_sharing(TASKS, input_shape=5, width=8)
    x, ys = _batch()
    losses = mb.tasks.task_losses(TASKS, net(x), ys)
    jac = task_jacobian(losses, net.shared_parameters(), method=method, retain_graph=True)
    n = mb.models.count_parameters(net.shared_parameters())
    assert jac.shape == (3, n)
    assert torch.allclose(jac, _reference_rows(losses, net.shared_parameters()), atol=1e-6)


def test_jacobian_written_into_a_kept_buffer():
    """A buffer kept across steps is reused as is (same storage) and gives the same rows; one of
    the wrong shape is refused, and ``jacobian_buffer`` replaces it."""
    torch.manual_seed(0)
    net = mb.models.hard_sharing(TASKS, input_shape=5, width=8)
    x, ys = _batch()
    losses = mb.tasks.task_losses(TASKS, net(x), ys)
    fresh = task_jacobian(losses, net.shared_parameters(), retain_graph=True)
    buf = torch.full_like(fresh, float("nan"))
    assert jacobian_buffer(losses, list(net.shared_parameters()), buf) is buf
    jac = task_jacobian(losses, net.shared_parameters(), retain_graph=True, out=buf)
    assert jac.data_ptr() == buf.data_ptr() and torch.equal(jac, fresh)
    wrong = buf[:, :-1]
    assert jacobian_buffer(losses, list(net.shared_parameters()), wrong) is not wrong
    with pytest.raises(ValueError, match="out must be a tensor of shape"):
        task_jacobian(losses, net.shared_parameters(), retain_graph=True, out=wrong)
    with pytest.raises(ValueError, match='method="loop" only'):
        task_jacobian(losses, net.shared_parameters(), method="batched", out=buf)


def test_jacobian_frees_the_graph_unless_asked():
    net = mb.models.hard_sharing(TASKS, input_shape=5, width=8)
    x, ys = _batch()
    losses = mb.tasks.task_losses(TASKS, net(x), ys)
    task_jacobian(losses, net.shared_parameters())
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        losses.sum().backward()


def test_head_parameters_have_a_single_task_gradient():
    """A head belongs to one task: its rows in the full Jacobian are zero for every other task."""
    net = mb.models.hard_sharing(TASKS, input_shape=5, width=8)
    x, ys = _batch()
    losses = mb.tasks.task_losses(TASKS, net(x), ys)
    jac = task_jacobian(losses, net.task_parameters(1))
    assert jac[0].abs().max() == 0 and jac[2].abs().max() == 0 and jac[1].abs().max() > 0


@pytest.mark.parametrize("method", ["loop", "batched"])
def test_ensemble_jacobian_is_one_jacobian_per_model(method):
    torch.manual_seed(1)
    net = mb.models.EnsembleHardSharing(4, TASKS, 5, hidden=(8, 8))
    x, ys = _batch()
    losses = mb.tasks.task_losses(TASKS, net(x), ys)              # (E, K)
    jac = task_jacobian(losses, net.shared_parameters(), method=method, retain_graph=True)
    assert jac.shape[:2] == (4, 3)
    for e in (0, 3):
        grads = torch.autograd.grad(losses[e, 2], net.shared_parameters(), retain_graph=True)
        assert torch.allclose(jac[e, 2], torch.cat([g[e].flatten() for g in grads]), atol=1e-6)


@pytest.mark.parametrize("ensemble", [False, True])
def test_gradients_through_outputs_are_the_jacobian_rows(ensemble):
    """Task by task through its own output: the rows of ∇_z L_k and of the heads' gradients equal
    those of the stacked losses' Jacobian, with None for the heads a task does not reach."""
    torch.manual_seed(3)
    net = (mb.models.EnsembleHardSharing(2, TASKS, 5, hidden=(8, 8)) if ensemble
           else mb.models.hard_sharing(TASKS, input_shape=5, width=8))
    x, ys = _batch(n=6)
    z = net.encode(x)
    outputs = net.decode(z)
    losses = mb.tasks.task_losses(TASKS, outputs, ys)
    heads = [p for k in range(3) for p in net.task_parameters(k)]
    per_task = gradients_through_outputs(losses, outputs, [z, *heads])
    rows = task_jacobian(losses, [z, *heads], retain_graph=True)          # (*lead, K, n)
    lead = losses.shape[:-1]
    for k, grads in enumerate(per_task):
        mine = set(map(id, net.task_parameters(k)))
        assert all((g is None) == (id(p) not in mine) for g, p in zip(grads[1:], heads))
        got = torch.cat([(torch.zeros_like(p) if g is None else g).reshape(*lead, -1)
                         for g, p in zip(grads, [z, *heads])], dim=-1)
        assert torch.allclose(got, rows[..., k, :], atol=1e-6)
    with pytest.raises(ValueError, match="one output per task"):
        gradients_through_outputs(losses, outputs[:2], [z])


def test_representation_gradients_are_per_example():
    torch.manual_seed(2)
    net = mb.models.hard_sharing(TASKS, input_shape=5, width=8)
    x, ys = _batch(n=6)
    z = net.encode(x)
    losses = mb.tasks.task_losses(TASKS, net.decode(z), ys)
    rep = representation_gradients(losses, z)
    assert rep.shape == (3, 6 * 8)
    # the chain rule: J_θ = R · ∂z/∂θ, so Σ_k w_k R_k pushed back through the trunk is J_θᵀ w
    w = torch.tensor([0.2, 1.0, 0.7])
    params = net.shared_parameters()
    pushed = torch.autograd.grad(z, params, grad_outputs=(w @ rep).reshape(z.shape),
                                 retain_graph=True)
    jac = task_jacobian(losses, params, retain_graph=True)
    assert torch.allclose(torch.cat([g.flatten() for g in pushed]), w @ jac, atol=1e-6)


def test_add_to_grad_lays_out_like_the_jacobian():
    net = mb.models.hard_sharing(TASKS, input_shape=5, width=8)
    x, ys = _batch()
    losses = mb.tasks.task_losses(TASKS, net(x), ys)
    params = net.shared_parameters()
    jac = task_jacobian(losses, params, retain_graph=True)
    add_to_grad_(params, jac.sum(0))
    ref = torch.autograd.grad(losses.sum(), params)
    assert all(torch.allclose(p.grad, r, atol=1e-6) for p, r in zip(params, ref))
    add_to_grad_(params, jac.sum(0))                                # accumulates
    assert torch.allclose(params[0].grad, 2 * ref[0], atol=1e-6)
    with pytest.raises(ValueError, match="entries per model"):
        add_to_grad_(params, jac[0, :-1])


def test_clear_errors():
    net = mb.models.hard_sharing(TASKS, input_shape=5, width=8)
    x, ys = _batch()
    losses = mb.tasks.task_losses(TASKS, net(x), ys)
    with pytest.raises(ValueError, match="method must be one of"):
        task_jacobian(losses, net.shared_parameters(), method="vmap")
    with pytest.raises(ValueError, match="at least one tensor"):
        task_jacobian(losses, [])
    with pytest.raises(ValueError, match="require grad"):
        task_jacobian(losses.detach(), net.shared_parameters())
    with pytest.raises(ValueError, match="K >= 1"):
        task_jacobian(losses[:0], net.shared_parameters())
    with pytest.raises(ValueError, match="model dimensions"):
        task_jacobian(losses.expand(2, 3), net.shared_parameters())
    with pytest.raises(TypeError, match="losses must be a torch.Tensor"):
        task_jacobian([losses[0]], net.shared_parameters())
