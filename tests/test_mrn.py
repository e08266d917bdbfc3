import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mtlbook as mb
from mtlbook.models.mrn import flip_flop_update, mrn, negative_log_prior

TASKS = (mb.tasks.classification("left", 10), mb.tasks.regression("sum"), mb.tasks.regression("b"))
SHAPE = (1, 10, 10)


def _spd(d: int, gen: torch.Generator) -> torch.Tensor:
    a = torch.randn(d, d, generator=gen, dtype=torch.float64)
    return a @ a.T + torch.eye(d, dtype=torch.float64)


def test_penalty_equals_the_tensor_normal_quadratic_form():
    """½ vec(𝒲)ᵀ (Σ1⊗Σ2⊗Σ3)⁻¹ vec(𝒲), written out with explicit Kronecker products."""
    torch.manual_seed(0)
    net = mrn(TASKS, 5, width=3, depth=1, head_hidden=2, strength=1.0).double()
    gen = torch.Generator().manual_seed(0)
    for s in net.prior_covariances():
        s.copy_(_spd(s.shape[0], gen))
    w = net.weight_tensor()                                       # (D1, D2, T)
    vec = w.reshape(-1)                                           # row-major: task index fastest
    full = torch.kron(net.feature_covariance, torch.kron(net.output_covariance, net.task_covariance))
    assert torch.allclose(net.penalty(), 0.5 * vec @ torch.linalg.solve(full, vec))
    assert torch.equal(w[:, :, 1], net.heads[1][0].weight.T)
    nll = negative_log_prior(w, net.prior_covariances())
    assert torch.allclose(nll, 0.5 * (vec @ torch.linalg.solve(full, vec) + torch.logdet(full)))


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from((0, 1, 2)))
def test_each_flip_flop_update_minimizes_over_its_covariance(seed, mode):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(3, 2, 4, generator=gen, dtype=torch.float64)
    covs = [_spd(d, gen) for d in w.shape]
    covs[mode] = flip_flop_update(w, covs, mode)
    best = negative_log_prior(w, covs)
    for _ in range(5):
        b = torch.randn(w.shape[mode], w.shape[mode], generator=gen, dtype=torch.float64)
        other = list(covs)
        other[mode] = covs[mode] + 0.05 * (b @ b.T + torch.eye(len(b), dtype=torch.float64))
        assert negative_log_prior(w, other) > best
        q = torch.linalg.matrix_exp(0.1 * (b - b.T))                    # a rotation
        other[mode] = q @ covs[mode] @ q.T * 0.97
        assert negative_log_prior(w, other) > best


def test_flip_flop_sweeps_never_raise_the_negative_log_prior():
    torch.manual_seed(0)
    net = mrn(TASKS, SHAPE, width=6, head_hidden=3, eps=1e-12, covariances="all").double()
    w = net.weight_tensor().detach()
    values = [float(negative_log_prior(w, net.prior_covariances()))]
    for _ in range(6):
        net.update_covariance()
        values.append(float(negative_log_prior(w, net.prior_covariances())))
    assert all(b <= a + 1e-9 for a, b in zip(values, values[1:]))
    assert values[-1] < values[0] - 1.0
    for s in net.prior_covariances()[:2]:                         # the scale lives in Σ3
        assert torch.allclose(s.diagonal().mean(), torch.tensor(1.0, dtype=torch.float64))
    assert not torch.allclose(net.feature_covariance, torch.eye(6, dtype=torch.float64), atol=1e-2)


def test_task_only_update_keeps_identity_feature_and_output_covariances():
    torch.manual_seed(0)
    net = mrn(TASKS, SHAPE, width=6, head_hidden=3, eps=0.0)
    net.update_covariance()
    assert torch.equal(net.feature_covariance, torch.eye(6)) and torch.equal(net.output_covariance, torch.eye(3))
    w = net.stacked_weights().detach()
    assert torch.allclose(net.task_covariance, w.T @ w / w.shape[0], atol=1e-6)


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
    with pytest.raises(ValueError, match="strength must be a finite number"):
        mrn(TASKS, SHAPE, strength=float("nan"))
    with pytest.raises(ValueError, match="eps must be > 0 with covariances='all'"):
        mrn(TASKS, SHAPE, eps=0.0, covariances="all")
    with pytest.raises(ValueError, match="covariances must be one of"):
        mrn(TASKS, SHAPE, covariances="feature")
    with pytest.raises(ValueError, match="mode must be 0, 1 or 2"):
        flip_flop_update(torch.zeros(2, 2, 2), [torch.eye(2)] * 3, 3)


def test_fit_with_the_full_prior_learns_all_three_covariances():
    from mtlbook.data.core import MultiTaskData

    torch.manual_seed(0)
    net = mrn(TASKS, SHAPE, width=8, head_hidden=4, strength=1.0, covariances="all")
    x = torch.rand(16, *SHAPE)
    data = MultiTaskData(x, (torch.randint(0, 10, (16,)), torch.randn(16), torch.randn(16)), TASKS)
    strategy = mb.models.PenalizedStrategy(mb.weighting.EqualWeighting(), net.penalty,
                                           end_epoch=net.update_covariance)
    h = mb.train.fit(net, data, steps=6, batch_size=8, progress=False, strategy=strategy)
    assert bool(torch.isfinite(h.losses).all())
    for s, d in zip(net.prior_covariances(), (8, 4, 3)):
        assert not torch.allclose(s, torch.eye(d), atol=1e-3)
        assert bool((torch.linalg.eigvalsh(s) > 0).all())


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
