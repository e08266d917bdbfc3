import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mtlbook as mb
from mtlbook.models.mrn import mrn

TASKS = (mb.tasks.classification("left", 10), mb.tasks.regression("sum"), mb.tasks.regression("b"))
SHAPE = (1, 10, 10)


def test_penalty_equals_the_tensor_normal_quadratic_form():
    """vec(𝒲)ᵀ (Σ1⊗Σ2⊗Σ3)⁻¹ vec(𝒲) with Σ1 = Σ2 = I, written out with an explicit Kronecker product."""
    torch.manual_seed(0)
    net = mrn(TASKS, 5, width=3, depth=1, head_hidden=2, strength=1.0).double()
    a = torch.randn(3, 3, dtype=torch.float64)
    net.task_covariance.copy_(a @ a.T + torch.eye(3, dtype=torch.float64))
    w = net.stacked_weights()                                     # (D1 D2, T)
    vec = w.reshape(-1)                                           # row-major: task index fastest
    full = torch.kron(torch.eye(w.shape[0], dtype=torch.float64), net.task_covariance)
    assert torch.allclose(net.penalty(), 0.5 * vec @ torch.linalg.solve(full, vec))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_covariance_update_minimizes_the_negative_log_prior(seed):
    torch.manual_seed(seed)
    net = mrn(TASKS, 4, width=3, depth=1, head_hidden=2, eps=0.0).double()
    w = net.stacked_weights().detach()

    def nll(s):
        return 0.5 * torch.trace(w @ torch.linalg.solve(s, w.T)) + 0.5 * w.shape[0] * torch.logdet(s)

    best = net.update_covariance()
    assert torch.allclose(best, w.T @ w / w.shape[0])
    g = torch.Generator().manual_seed(seed)
    for _ in range(5):
        d = 0.05 * torch.randn(3, 3, generator=g, dtype=torch.float64)
        other = best + (d + d.T) * best.diagonal().min()
        if torch.linalg.eigvalsh(other).min() > 0:
            assert nll(other) >= nll(best) - 1e-10


def test_correlation_recovers_identical_heads():
    torch.manual_seed(0)
    net = mrn(TASKS, SHAPE, width=8, head_hidden=4, eps=0.0)
    with torch.no_grad():
        net.heads[1][0].weight.copy_(net.heads[0][0].weight)
        net.heads[2][0].weight.copy_(-net.heads[0][0].weight)
    net.update_covariance()
    c = net.task_correlation()
    assert torch.allclose(c[0, 1], torch.tensor(1.0), atol=1e-3)
    assert torch.allclose(c[0, 2], torch.tensor(-1.0), atol=1e-3)
    assert torch.allclose(c.diagonal(), torch.ones(3))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="head_hidden"):
        mrn(TASKS, SHAPE, head_hidden=0)
    with pytest.raises(ValueError, match="strength"):
        mrn(TASKS, SHAPE, strength=-1)
    with pytest.raises(ValueError, match="eps"):
        mrn(TASKS, SHAPE, eps=-1e-3)


def test_fit_updates_the_task_covariance_each_epoch():
    from mtlbook.data.core import MultiTaskData

    torch.manual_seed(0)
    net = mrn(TASKS, SHAPE, width=8, head_hidden=4, strength=1.0)
    x = torch.rand(16, *SHAPE)
    data = MultiTaskData(x, (torch.randint(0, 10, (16,)), torch.randn(16), torch.randn(16)), TASKS)
    strategy = mb.models.PenalizedStrategy(mb.weighting.EqualWeighting(), net.penalty,
                                           end_epoch=net.update_covariance)
    mb.train.fit(net, data, steps=5, batch_size=8, progress=False, strategy=strategy)
    w = net.stacked_weights().detach()
    assert not torch.allclose(net.task_covariance, torch.eye(3))
    assert torch.allclose(net.task_covariance, w.T @ w / w.shape[0] + net.eps * torch.eye(3),
                          rtol=0.05, atol=1e-4)
