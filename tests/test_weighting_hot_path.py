"""The training step of the weightings: no per-step host check (bad values are caught at the next
check interval, with the same clear error), and the faster paths compute what the plain ones do."""

import pytest
import torch

from mtlbook.data import gradnorm_toy
from mtlbook.models import hard_sharing
from mtlbook.strategy import StepContext
from mtlbook.tasks import Task
from mtlbook.train import fit
from mtlbook.weighting import (
    DynamicTaskPrioritization, DynamicWeightAverage, GradNorm, InitialLossWeighting,
    LossBalancedTaskWeighting, RandomLossWeighting, RealTimeLossWeighting, UncertaintyWeighting,
    focal_task_weights, gradnorm_loss)
from mtlbook.weighting.base import CHECK_EVERY, normalized
from mtlbook.weighting.dtp import accuracy_kpi
from mtlbook.weighting.gradnorm import gradnorm_loss_grad


def ctx_at(step, epoch=0):
    return StepContext(None, (), None, None, (), step, epoch)


LOSS_ONLY = [
    lambda: RandomLossWeighting(2),
    lambda: DynamicWeightAverage(2),
    lambda: LossBalancedTaskWeighting(2),
    lambda: InitialLossWeighting(),
    lambda: RealTimeLossWeighting(),
    lambda: DynamicTaskPrioritization(2, kpi=lambda ctx: torch.tensor([0.5, 0.7])),
]


@pytest.mark.parametrize("make", LOSS_ONLY)
def test_non_finite_loss_is_reported_at_the_next_check(make):
    m = make()
    good, bad = torch.tensor([1.0, 2.0]), torch.tensor([1.0, float("nan")])
    m.weights(good, ctx_at(0))
    m.weights(bad, ctx_at(3))                               # no host sync here: the step goes on
    for step in range(4, CHECK_EVERY):
        m.weights(good, ctx_at(step))
    with pytest.raises(ValueError, match="losses must be finite"):
        m.weights(good, ctx_at(CHECK_EVERY))
    with pytest.raises(ValueError, match="losses must be finite"):   # a direct call: at once
        make().weights(torch.tensor([float("inf"), 1.0]))


def test_pending_checks_are_bounded_without_a_step_counter():
    m = RandomLossWeighting(2)
    m.weights(torch.tensor([1.0, 1.0]), ctx_at(1))
    m.weights(torch.tensor([float("inf"), 1.0]), ctx_at(1))
    with pytest.raises(ValueError, match="losses must be finite"):
        for _ in range(CHECK_EVERY):
            m.weights(torch.tensor([1.0, 1.0]), ctx_at(1))


def test_deferred_kpi_and_lbtw_checks_keep_their_messages():
    dtp = DynamicTaskPrioritization(2, kpi=lambda ctx: torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match=r"kpi must lie in \[0, 1\]"):
        dtp.weights(torch.tensor([1.0, 1.0]), ctx_at(0))
    lb = LossBalancedTaskWeighting(2)
    lb.weights(torch.tensor([1.0, 1.0]), ctx_at(0))
    lb.weights(torch.tensor([-1.0, 1.0]), ctx_at(1))
    with pytest.raises(ValueError, match="losses must be >= 0"):
        lb.run_checks()
    with pytest.raises(ValueError, match="initial_losses must be > 0"):
        LossBalancedTaskWeighting(2).weights(torch.tensor([0.0, 1.0]), ctx_at(0))


def regression_net_and_batch(k=2, bad_from=None):
    torch.manual_seed(0)
    tasks = tuple(Task(f"r{i}", "regression") for i in range(k))
    net = hard_sharing(tasks, 5, width=8)
    x = torch.randn(16, 5)
    ys = tuple(torch.randn(16) for _ in tasks)
    return tasks, net, x, ys


@pytest.mark.parametrize("make", [lambda k: UncertaintyWeighting(k), lambda k: GradNorm(k)])
def test_step_methods_report_non_finite_losses_at_the_next_check(make):
    tasks, net, x, ys = regression_net_and_batch()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    m = make(len(tasks))
    bad = (ys[0], torch.full_like(ys[1], float("nan")))
    m.step(StepContext(net, tasks, opt, x, ys, 0, 0))
    m.step(StepContext(net, tasks, opt, x, bad, 1, 0))        # no error yet: no host round trip
    with pytest.raises(ValueError, match="losses must be finite"):
        for step in range(2, CHECK_EVERY + 1):
            m.step(StepContext(net, tasks, opt, x, ys, step, 0))


# ---- same values as the plain paths ----------------------------------------------------------------

def test_batched_accuracy_kpi_equals_the_per_task_metrics():
    torch.manual_seed(1)
    tasks = tuple(Task(f"c{i}", "classification", num_classes=5) for i in range(3))
    ctx = StepContext(None, tasks, None, None, tuple(torch.randint(0, 5, (2, 33)) for _ in tasks), 0, 0)
    ctx.outputs = [torch.randn(2, 33, 5) for _ in tasks]            # side-by-side models (E=2)
    ref = torch.stack([t.metric(o, y) for t, o, y in zip(tasks, ctx.outputs, ctx.targets)], -1)
    assert torch.equal(accuracy_kpi(ctx), ref)
    ctx.targets = tuple(y[0] for y in ctx.targets)                  # broadcast targets: plain path
    ref = torch.stack([t.metric(o, y) for t, o, y in zip(tasks, ctx.outputs, ctx.targets)], -1)
    assert torch.equal(accuracy_kpi(ctx), ref)


def test_dtp_weights_equal_the_public_formula_during_training():
    torch.manual_seed(0)
    tasks = tuple(Task(f"c{i}", "classification", num_classes=4) for i in range(3))
    net = hard_sharing(tasks, 6, width=8)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    dtp = DynamicTaskPrioritization(3, gamma=2.0, smoothing=0.7, normalize=True)
    ema = None
    for step in range(6):
        x = torch.randn(20, 6)
        ys = tuple(torch.randint(0, 4, (20,)) for _ in tasks)
        ctx = StepContext(net, tasks, opt, x, ys, step, 0)
        _, w = dtp.step(ctx)
        kpi = torch.stack([t.metric(o, y) for t, o, y in zip(tasks, ctx.outputs, ys)], -1)
        ema = kpi if ema is None else 0.7 * kpi + 0.3 * ema
        assert torch.equal(w, normalized(focal_task_weights(ema.clamp(0.01, 0.99), 2.0)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_closed_form_gradnorm_gradient_equals_autograd(dtype):
    torch.manual_seed(3)
    for shape, alpha in (((4,), 1.5), ((3, 4), torch.tensor([0.0, 0.5, 2.0]))):
        w = (torch.rand(shape) + 0.5).requires_grad_()
        norms = torch.rand(shape, dtype=dtype) + 0.1
        losses, first = torch.rand(shape, dtype=dtype) + 0.1, torch.rand(shape, dtype=dtype) + 0.1
        gradnorm_loss(w, norms, losses, first, alpha).backward()
        assert torch.equal(gradnorm_loss_grad(w, norms, losses, first, alpha), w.grad)


def test_uncertainty_single_backward_equals_two_backwards():
    tasks, net, x, ys = regression_net_and_batch(3)
    ref_net = hard_sharing(tasks, 5, width=8)
    ref_net.load_state_dict(net.state_dict())
    uw, ref = UncertaintyWeighting(3, init=0.3), UncertaintyWeighting(3, init=0.3)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    uw.step(StepContext(net, tasks, opt, x, ys, 0, 0))
    # the plain form: the weighted loss, then the log-variances' objective, as two backward passes
    ctx = StepContext(ref_net, tasks, torch.optim.SGD(ref_net.parameters(), lr=0.1), x, ys, 0, 0)
    losses = ctx.compute_losses()
    w = ref.raw_weights()
    (w.detach() * losses).sum().backward()
    (w * losses.detach() + 0.5 * ref.log_vars).sum().backward()
    ctx.optimizer.step()
    ref.optimizer.step()
    assert torch.equal(uw.log_vars, ref.log_vars)
    for p, q in zip(net.parameters(), ref_net.parameters()):
        assert torch.equal(p, q)


def test_gradnorm_graph_reuse_matches_the_generic_path_on_a_deeper_trunk(monkeypatch):
    import mtlbook.weighting.gradnorm as gradnorm

    split = gradnorm_toy((1.0, 30.0, 5.0), n_train=256, n_test=64, in_features=10, out_features=4)

    def run(reuse):
        if not reuse:
            monkeypatch.setattr(gradnorm, "_split_parameters", lambda ctx, layer: None)
        torch.manual_seed(4)
        net = hard_sharing(split.tasks, 10, width=8, depth=3, head_hidden=6)
        gn = GradNorm(3, 1.0, lr=0.05)
        fit(net, split.train, steps=6, batch_size=32, optimizer=torch.optim.Adam(net.parameters(), 1e-2),
            strategy=gn, seed=0, progress=False)
        return gn.task_weights.detach().clone(), [p.detach().clone() for p in net.parameters()]

    fast_w, fast_p = run(True)
    slow_w, slow_p = run(False)
    assert torch.allclose(fast_w, slow_w, atol=1e-5)
    for p, q in zip(fast_p, slow_p):
        assert torch.allclose(p, q, atol=1e-5)
