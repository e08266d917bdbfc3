"""MGDA, PCGrad and CAGrad directions and strategies: non-conflict, closed forms, degenerate cases,
task order, input errors, and a short fit with each strategy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import mtlbook as mb
from mtlbook.aggregation import (MGDA, MGDAUB, CAGrad, PCGrad, cagrad_direction,
                                 cagrad_inner_weights, cagrad_weights, gram_matrix,
                                 mgda_direction, pcgrad_direction, pcgrad_projections,
                                 pcgrad_weights)


@st.composite
def jacobians(draw, min_k: int = 2, max_k: int = 5, max_n: int = 6) -> torch.Tensor:
    k = draw(st.integers(min_k, max_k))
    n = draw(st.integers(1, max_n))
    unit = st.floats(-1.0, 1.0).map(lambda v: v if abs(v) > 1e-6 else 0.0)   # sizes come from `scale`
    j = draw(arrays(np.float64, (k, n), elements=unit))
    scale = 10.0 ** draw(arrays(np.float64, (k, 1), elements=st.floats(-3.0, 3.0)))
    return torch.from_numpy(j * scale)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- MGDA

@settings(max_examples=60, deadline=None)
@given(jacobians())
def test_mgda_direction_decreases_every_task(j):
    d = mgda_direction(j)
    dots = j @ d
    norm2 = d @ d
    tol = 1e-9 * float((j * j).sum(-1).max()) + 1e-300
    assert bool((dots >= norm2 - tol).all())          # ⟨g_k, d⟩ >= ‖d‖² >= 0


@settings(max_examples=30, deadline=None)
@given(jacobians(), st.randoms(use_true_random=False))
def test_mgda_direction_invariant_to_task_order(j, rnd):
    perm = list(range(j.shape[0]))
    rnd.shuffle(perm)
    d1, d2 = mgda_direction(j), mgda_direction(j[perm])
    scale = float(j.abs().max()) + 1e-300
    assert torch.allclose(d1, d2, atol=1e-7 * scale, rtol=1e-6)


# ---------------------------------------------------------------- PCGrad

def test_pcgrad_two_conflicting_gradients_closed_form():
    g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    pc = pcgrad_projections(g, _gen())
    assert torch.allclose(pc[0] @ g[1], torch.tensor(0.0, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(pc[1] @ g[0], torch.tensor(0.0, dtype=torch.float64), atol=1e-12)
    # g1 − (−1/2) g2 = (0.5, 0.5); g2 − (−1) g1 = (0, 1)
    assert torch.allclose(pc, torch.tensor([[0.5, 0.5], [0.0, 1.0]], dtype=torch.float64))
    assert torch.allclose(pcgrad_direction(g, _gen()), torch.tensor([0.5, 1.5], dtype=torch.float64))


@settings(max_examples=60, deadline=None)
@given(jacobians(min_k=2, max_k=2))
def test_pcgrad_two_tasks_projections_do_not_conflict(j):
    pc = pcgrad_projections(j, _gen())
    scale = float((j * j).sum(-1).max()) + 1e-300
    assert float(pc[0] @ j[1]) >= -1e-9 * scale
    assert float(pc[1] @ j[0]) >= -1e-9 * scale
    d = pc.sum(0)
    assert bool((j @ d >= -1e-9 * scale).all())       # the sum conflicts with neither task


@settings(max_examples=40, deadline=None)
@given(jacobians(min_k=1, max_k=5))
def test_pcgrad_non_conflicting_returns_the_sum(j):
    j = j.abs()                                       # all inner products >= 0
    assert torch.allclose(pcgrad_direction(j, _gen()), j.sum(0))


@settings(max_examples=40, deadline=None)
@given(jacobians(min_k=2, max_k=5), st.integers(0, 1000))
def test_pcgrad_weights_match_the_loop_on_gradients(j, seed):
    d_gram = pcgrad_direction(j, _gen(seed))
    d_loop = pcgrad_projections(j, _gen(seed)).sum(0)
    scale = float(j.abs().max()) * j.shape[0] ** 2 + 1e-300
    assert torch.allclose(d_gram, d_loop, atol=1e-9 * scale, rtol=1e-7)


def test_pcgrad_same_seed_same_direction_and_order_matters():
    torch.manual_seed(3)
    j = torch.randn(5, 4, dtype=torch.float64)
    assert torch.equal(pcgrad_direction(j, _gen(1)), pcgrad_direction(j, _gen(1)))
    outs = {tuple(pcgrad_direction(j, _gen(s)).round(decimals=8).tolist()) for s in range(20)}
    assert len(outs) > 1                              # the projection order is random for K > 2


def test_pcgrad_two_tasks_invariant_to_task_order():
    torch.manual_seed(0)
    j = torch.randn(2, 7, dtype=torch.float64)
    assert torch.allclose(pcgrad_direction(j, _gen()), pcgrad_direction(j.flip(0), _gen()))


def test_pcgrad_zero_gradient_projects_nothing():
    j = torch.tensor([[1.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(pcgrad_direction(j, _gen()), j[0])


def test_pcgrad_batched_matches_one_at_a_time():
    torch.manual_seed(1)
    j = torch.randn(6, 2, 3, dtype=torch.float64)
    batched = pcgrad_weights(gram_matrix(j), _gen())
    single = torch.stack([pcgrad_weights(gram_matrix(m), _gen()) for m in j])
    assert torch.allclose(batched, single)


# ---------------------------------------------------------------- CAGrad

@settings(max_examples=20, deadline=None)
@given(jacobians(min_k=1, max_k=4))
def test_cagrad_c0_is_the_mean(j):
    assert torch.allclose(cagrad_direction(j, 0.0), j.mean(0), atol=1e-12, rtol=1e-9)


def _inner_objective(gram, w, c):
    gu = gram.mean(-1)
    s = c * gram.mean().clamp_min(0).sqrt()
    return float(w @ gu + s * (w @ gram @ w).clamp_min(0).sqrt())


@settings(max_examples=50, deadline=None)
@given(jacobians(min_k=2, max_k=2), st.floats(0.05, 2.0))
def test_cagrad_two_task_closed_form_is_optimal(j, c):
    g = gram_matrix(j)
    w = cagrad_inner_weights(g, c, method="closed_form")
    assert torch.allclose(w.sum(), torch.tensor(1.0, dtype=torch.float64)) and bool((w >= 0).all())
    best = _inner_objective(g, w, c)
    grid = torch.linspace(0, 1, 2001, dtype=torch.float64)
    ws = torch.stack([grid, 1 - grid], -1)
    s = c * g.mean().clamp_min(0).sqrt()
    vals = ws @ g.mean(-1) + s * ((ws @ g) * ws).sum(-1).clamp_min(0).sqrt()
    scale = float(torch.diagonal(g).max()) + 1e-300
    assert best <= float(vals.min()) + 1e-9 * scale


@settings(max_examples=25, deadline=None)
@given(jacobians(min_k=2, max_k=2), st.floats(0.05, 2.0))
def test_cagrad_general_solver_agrees_with_closed_form(j, c):
    g = gram_matrix(j)
    w_cf = cagrad_inner_weights(g, c, method="closed_form")
    w_sq = cagrad_inner_weights(g, c, method="slsqp")
    scale = float(torch.diagonal(g).max()) + 1e-300
    assert abs(_inner_objective(g, w_cf, c) - _inner_objective(g, w_sq, c)) <= 1e-6 * scale


def test_cagrad_maximizes_the_worst_decrease_in_the_ball():
    """d maximizes min_k ⟨g_k, d⟩ over ‖d − g_0‖ <= c‖g_0‖ (Liu et al. 2021, eq. 3)."""
    torch.manual_seed(2)
    j = torch.randn(3, 2, dtype=torch.float64)
    c = 0.7
    d = cagrad_direction(j, c, rescale=False)
    g0 = j.mean(0)
    assert float((d - g0).norm()) <= c * float(g0.norm()) + 1e-6
    angles = torch.linspace(0, 2 * np.pi, 3601, dtype=torch.float64)
    ring = g0 + c * g0.norm() * torch.stack([angles.cos(), angles.sin()], -1)
    assert float((j @ d).min()) >= float((ring @ j.T).min(-1).values.max()) - 1e-5


def test_cagrad_conflicts_with_no_task_for_large_c():
    torch.manual_seed(4)
    for _ in range(20):
        j = torch.randn(3, 5, dtype=torch.float64)
        d = cagrad_direction(j, 1.0, method="slsqp")
        assert bool((j @ d >= -1e-7).all())


@pytest.mark.parametrize("c", [1.0, 2.0, 5.0])
def test_cagrad_with_c_at_least_one_never_conflicts_where_the_origin_is_in_the_hull(c):
    gen = torch.Generator().manual_seed(0)
    surrounded = 0
    for _ in range(100):
        angles = 2 * np.pi * torch.rand(3, generator=gen, dtype=torch.float64)
        norms = 0.1 + 2 * torch.rand(3, 1, generator=gen, dtype=torch.float64)
        j = norms * torch.stack([angles.cos(), angles.sin()], -1)
        surrounded += int((j @ mgda_direction(j)).max() < 1e-12)          # min-norm point ~ 0
        d = cagrad_direction(j, c)
        assert bool((j @ d >= -1e-9).all()), (j, d)
    assert surrounded >= 10                                               # the case is exercised
    opposite = torch.tensor([[1.0, 0.0], [-3.0, 0.0]], dtype=torch.float64)
    assert torch.equal(cagrad_direction(opposite, c), torch.zeros(2, dtype=torch.float64))


def test_cagrad_invariant_to_task_order():
    torch.manual_seed(5)
    j = torch.randn(3, 4, dtype=torch.float64)
    d1, d2 = cagrad_direction(j, 0.5), cagrad_direction(j[[2, 0, 1]], 0.5)
    assert torch.allclose(d1, d2, atol=1e-6)
    j2 = j[:2]
    assert torch.allclose(cagrad_direction(j2, 0.5), cagrad_direction(j2.flip(0), 0.5), atol=1e-12)


def test_cagrad_batched_closed_form_matches_single():
    torch.manual_seed(6)
    j = torch.randn(8, 2, 3, dtype=torch.float64)
    batched = cagrad_weights(gram_matrix(j), 0.5)
    single = torch.stack([cagrad_weights(gram_matrix(m), 0.5) for m in j])
    assert torch.allclose(batched, single)


def test_cagrad_degenerate_gradients():
    zeros = torch.zeros(2, 3, dtype=torch.float64)
    assert torch.equal(cagrad_direction(zeros, 0.5), torch.zeros(3, dtype=torch.float64))
    same = torch.tensor([[1.0, 2.0], [1.0, 2.0]], dtype=torch.float64)
    assert torch.allclose(cagrad_direction(same, 0.5), same[0])   # (g0 + c g0) / (1 + c)
    opposite = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)  # origin in the hull
    assert torch.allclose(cagrad_direction(opposite, 0.5), torch.zeros(2, dtype=torch.float64))


# ---------------------------------------------------------------- errors

def test_bad_inputs_raise_clear_errors():
    good = torch.randn(2, 3)
    with pytest.raises(TypeError, match="grads"):
        pcgrad_direction([[1.0, 2.0]])
    with pytest.raises(ValueError, match="grads"):
        mgda_direction(torch.randn(3))
    with pytest.raises(ValueError, match="K >= 1"):
        cagrad_direction(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="finite.*task 1"):
        pcgrad_direction(torch.tensor([[1.0, 2.0], [float("nan"), 0.0]]))
    with pytest.raises(ValueError, match="c must"):
        cagrad_direction(good, -1.0)
    with pytest.raises(TypeError, match="c must"):
        cagrad_direction(good, "0.5")
    with pytest.raises(TypeError, match="generator"):
        pcgrad_direction(good, 0)
    with pytest.raises(ValueError, match="method"):
        cagrad_direction(good, 0.5, method="newton")
    with pytest.raises(ValueError, match="two tasks"):
        cagrad_inner_weights(gram_matrix(torch.randn(3, 2)), 0.5, method="closed_form")
    with pytest.raises(ValueError, match="method"):
        MGDA(method="pgd")
    with pytest.raises(TypeError, match="seed"):
        PCGrad(seed=1.5)
    with pytest.raises(ValueError, match="c must"):
        CAGrad(c=float("inf"))


# ---------------------------------------------------------------- strategies

@pytest.fixture(scope="module")
def split():
    return mb.data.multidigits(n_train=256, n_test=128)


@pytest.mark.parametrize("strategy", [MGDA(), MGDA(weight_heads=True), MGDAUB(), PCGrad(seed=0),
                                      CAGrad(0.5)], ids=["mgda", "mgda-heads", "mgda-ub", "pcgrad",
                                                         "cagrad"])
def test_fit_with_each_strategy(split, strategy):
    torch.manual_seed(0)
    net = mb.models.hard_sharing(split.tasks, (1, 10, 10), width=16)
    h = mb.train.fit(net, split.train, steps=12, batch_size=64, lr=3e-3, strategy=strategy,
                     eval_data=split.test, progress=False)
    assert h.weights.shape == (12, len(split.tasks))
    assert bool(torch.isfinite(h.losses).all())
    assert float(h.losses[-4:].mean()) < float(h.losses[:4].mean())   # it learns


def test_mgda_strategy_matches_manual_update(split):
    """Shared parameters get K Σ α_k g_k; heads get their own unweighted gradients."""
    torch.manual_seed(0)
    net = mb.models.hard_sharing(split.tasks, (1, 10, 10), width=8)
    x, targets = split.train.x[:32], tuple(t[:32] for t in split.train.targets)
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    ctx = mb.strategy.StepContext(net, split.tasks, opt, x, targets, 0, 0)
    losses, weights = MGDA().step(ctx)
    got = {id(p): p.grad.clone() for p in net.parameters()}
    net.zero_grad()
    out = net(x)
    ls = mb.tasks.task_losses(split.tasks, out, targets)
    shared = net.shared_parameters()
    jac = mb.gradients.task_jacobian(ls, shared, retain_graph=True)
    alpha = mb.aggregation.min_norm_weights(jac)
    assert torch.allclose(weights, len(alpha) * alpha, atol=1e-6)
    ls.sum().backward()
    ids = {id(p) for p in shared}
    for p in net.parameters():
        if id(p) not in ids:
            assert torch.allclose(got[id(p)], p.grad, atol=1e-6)
    flat = torch.cat([got[id(p)].reshape(-1) for p in shared])
    assert torch.allclose(flat, len(alpha) * alpha @ jac, atol=1e-5)


def test_full_jacobian_strategies_keep_one_buffer_across_steps(split):
    """J's storage is allocated once and reused; each step's update is still that step's own."""
    torch.manual_seed(0)
    net = mb.models.hard_sharing(split.tasks, (1, 10, 10), width=8)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    strategy = PCGrad(seed=0)
    pointers = []
    for step in range(3):
        batch = slice(32 * step, 32 * step + 32)
        x, targets = split.train.x[batch], tuple(t[batch] for t in split.train.targets)
        ls = mb.tasks.task_losses(split.tasks, net(x), targets)
        before = mb.gradients.task_jacobian(ls, net.shared_parameters())
        opt.zero_grad()
        strategy.step(mb.strategy.StepContext(net, split.tasks, opt, x, targets, step, 0))
        assert torch.allclose(strategy._jacobian, before, atol=1e-6)
        pointers.append(strategy._jacobian.data_ptr())
    assert len(set(pointers)) == 1


@pytest.mark.parametrize("ensemble", [False, True])
@pytest.mark.parametrize("weight_heads", [False, True])
def test_mgda_ub_matches_the_backward_pass_of_the_weighted_losses(split, weight_heads, ensemble):
    """The trunk's update back-propagated from z equals the gradient of Σ_k K α_k L_k (for models
    trained side by side, per model)."""
    torch.manual_seed(0)
    net = (mb.models.EnsembleHardSharing(2, split.tasks, 100, hidden=(8,)) if ensemble
           else mb.models.hard_sharing(split.tasks, (1, 10, 10), width=8))
    x, targets = split.train.x[:32], tuple(t[:32] for t in split.train.targets)
    if ensemble:
        x = x.reshape(32, 100)
    ctx = mb.strategy.StepContext(net, split.tasks, torch.optim.SGD(net.parameters(), lr=0.0), x,
                                  targets, 0, 0)
    _, weights = MGDAUB(weight_heads=weight_heads).step(ctx)
    got = {id(p): p.grad.clone() for p in net.parameters()}
    net.zero_grad()
    z = net.encode(x)
    ls = mb.tasks.task_losses(split.tasks, net.decode(z), targets)
    alpha = mb.aggregation.min_norm_weights(mb.gradients.representation_gradients(ls, z, method="loop"))
    assert torch.allclose(weights, alpha.shape[-1] * alpha, atol=1e-6)
    torch.autograd.backward((weights * ls).sum(), inputs=list(net.shared_parameters()), retain_graph=True)
    ids = {id(p) for p in net.shared_parameters()}
    heads = [p for p in net.parameters() if id(p) not in ids]
    torch.autograd.backward(((weights if weight_heads else torch.ones_like(weights)) * ls).sum(),
                            inputs=heads)
    for p in net.parameters():
        assert torch.allclose(got[id(p)], p.grad, rtol=1e-5, atol=1e-7)


def test_mgda_ub_needs_the_representation(split):
    net = mb.models.single_task_networks(split.tasks, (1, 10, 10), width=8)
    x, targets = split.train.x[:16], tuple(t[:16] for t in split.train.targets)
    ctx = mb.strategy.StepContext(net, split.tasks, torch.optim.SGD(net.parameters(), lr=0.1), x,
                                  targets, 0, 0)
    with pytest.raises(ValueError, match="encode"):
        MGDAUB().step(ctx)
    with pytest.raises(ValueError, match="shared_parameters"):
        MGDA().step(mb.strategy.StepContext(net, split.tasks, ctx.optimizer, x, targets, 0, 0))
