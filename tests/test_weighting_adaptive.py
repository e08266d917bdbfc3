import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mtlbook.strategy import StepContext
from mtlbook.weighting import (
    DynamicTaskPrioritization, DynamicWeightAverage, GradNorm, LossBalancedTaskWeighting,
    RandomLossWeighting, UncertaintyWeighting, dwa_weights, focal_task_weights, lbtw_weights)

pos_losses = st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=6)
epoch_losses = st.lists(st.floats(0.1, 10.0), min_size=1, max_size=6)   # ratios up to 100


def as_t(xs):
    return torch.tensor(xs, dtype=torch.float64)


# ---- uncertainty weighting ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_uncertainty_equilibrium_weight_is_one_over_twice_the_loss(kind):
    uw = UncertaintyWeighting(2, [kind, kind], lr=0.05)
    losses = torch.tensor([0.3, 4.0])
    s_star = uw.equilibrium_log_vars(losses)
    for _ in range(400):
        uw.optimizer.zero_grad()
        uw.objective(losses).backward()
        uw.optimizer.step()
    assert torch.allclose(uw.log_vars.detach(), s_star, atol=1e-2)
    assert torch.allclose(uw.raw_weights().detach(), 1 / (2 * losses), rtol=2e-2)


def test_uncertainty_bad_input():
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match="init .* must be finite"):
            UncertaintyWeighting(2, init=bad)
    with pytest.raises(TypeError, match="init .* must be a number"):
        UncertaintyWeighting(2, init="0")
    uw = UncertaintyWeighting(2)
    for losses in ([0.0, 1.0], [1.0, -0.5]):
        with pytest.raises(ValueError, match="losses must be > 0"):
            uw.equilibrium_log_vars(torch.tensor(losses))


def test_uncertainty_forms_match_the_paper():
    uw = UncertaintyWeighting(2, ["regression", "classification"], init=math.log(4.0))
    # regression: L/(2σ²) + log σ ; classification: L/σ² + log σ, with σ² = 4
    expected = 1.0 / 8 + math.log(2) + 1.0 / 4 + math.log(2)
    assert uw.objective(torch.ones(2)).item() == pytest.approx(expected, rel=1e-6)


# ---- DWA -----------------------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(a=epoch_losses, b=epoch_losses)
def test_dwa_sums_to_k_and_is_positive(a, b):
    k = min(len(a), len(b))
    w = dwa_weights(torch.stack([as_t(a[:k]), as_t(b[:k])]), 2.0)
    assert torch.all(w > 0) and w.sum().item() == pytest.approx(k)


@settings(max_examples=30, deadline=None)
@given(a=pos_losses, b=pos_losses)
def test_dwa_infinite_temperature_gives_equal_weights(a, b):
    k = min(len(a), len(b))
    w = dwa_weights(torch.stack([as_t(a[:k]), as_t(b[:k])]), 1e12)
    assert torch.allclose(w, torch.ones(k, dtype=torch.float64))


def test_dwa_schedule_and_closed_form():
    dwa = DynamicWeightAverage(2, temperature=2.0)
    assert dwa.weights(torch.ones(2)).tolist() == [1.0, 1.0]          # epoch 0
    dwa.end_epoch(torch.tensor([1.0, 1.0]))
    assert dwa.weights(torch.ones(2)).tolist() == [1.0, 1.0]          # epoch 1
    dwa.end_epoch(torch.tensor([0.5, 1.0]))                           # task 1 stalled
    r = torch.tensor([0.5, 1.0])
    expected = 2 * torch.exp(r / 2) / torch.exp(r / 2).sum()
    assert torch.allclose(dwa.weights(torch.ones(2)), expected)
    assert dwa.weights(torch.ones(2))[1] > 1


def test_dwa_bad_input():
    dwa = DynamicWeightAverage(2)
    with pytest.raises(ValueError, match="epoch_losses must have 2 tasks"):
        dwa.end_epoch(torch.ones(3))
    with pytest.raises(ValueError, match="epoch_losses must be finite"):
        dwa.end_epoch(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match=r"epoch_losses must be a tensor \(E, K\)"):
        dwa_weights(torch.ones(3))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        DynamicWeightAverage(2, temperature=0.0)
    with pytest.raises(ValueError, match="num_tasks must be an int >= 1"):
        DynamicWeightAverage(0)


# ---- random loss weighting -----------------------------------------------------------------------

@pytest.mark.parametrize("normalize, total", [(False, 1.0), (True, 3.0)])
def test_random_weights_on_the_simplex(normalize, total):
    rlw = RandomLossWeighting(3, normalize=normalize, generator=torch.Generator().manual_seed(0))
    ws = torch.stack([rlw.weights(torch.ones(3)) for _ in range(200)])
    assert torch.all(ws > 0) and torch.allclose(ws.sum(1), torch.full((200,), total))
    assert ws.std(0).min() > 0.05, "weights vary between steps"


# ---- dynamic task prioritization -----------------------------------------------------------------

def test_focal_weights_closed_form_and_ordering():
    w = focal_task_weights(torch.tensor([0.9, 0.5]), 1.0)
    assert w[0].item() == pytest.approx(-0.1 * math.log(0.9), rel=1e-6)      # ≈ 0.0105
    assert w[1] > w[0], "the harder task gets more weight"


def test_dtp_ema_and_renormalization():
    dtp = DynamicTaskPrioritization(2, gamma=2.0, smoothing=0.5)
    dtp.update_kpi(torch.tensor([0.2, 0.6]))
    ema = dtp.update_kpi(torch.tensor([0.4, 0.8]))
    assert torch.allclose(ema, torch.tensor([0.3, 0.7]))
    raw = dtp.current_weights()
    assert torch.allclose(raw, focal_task_weights(torch.tensor([0.3, 0.7]), 2.0))
    assert raw.sum() < 1, "raw DTP weights shrink the step"
    dtp.normalize = True
    assert dtp.current_weights().sum().item() == pytest.approx(2.0)


@settings(max_examples=50, deadline=None)
@given(kpi=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5), gamma=st.floats(0.0, 5.0))
def test_dtp_normalized_weights_positive_sum_k(kpi, gamma):
    dtp = DynamicTaskPrioritization(len(kpi), gamma=gamma, normalize=True)
    dtp.update_kpi(as_t(kpi))
    w = dtp.current_weights()
    assert torch.all(w > 0) and w.sum().item() == pytest.approx(len(kpi))


def test_dtp_bad_input():
    with pytest.raises(ValueError, match="kpi must lie in"):
        DynamicTaskPrioritization(2).update_kpi(torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="no KPI has been recorded"):
        DynamicTaskPrioritization(2).current_weights()
    with pytest.raises(ValueError, match="smoothing must be in"):
        DynamicTaskPrioritization(2, smoothing=0.0)
    with pytest.raises(ValueError, match=r"kpi_range must satisfy 0 < low <= high < 1"):
        DynamicTaskPrioritization(2, kpi_range=(0.01, 1.0), normalize=True)
    with pytest.raises(ValueError, match=r"kpi_range must satisfy"):
        DynamicTaskPrioritization(2, kpi_range=(0.0, 0.5))


def test_dtp_perfect_kpis_keep_normalized_weights_defined():
    dtp = DynamicTaskPrioritization(2, kpi_range=(0.01, 0.999), normalize=True)
    dtp.update_kpi(torch.tensor([1.0, 1.0]))
    w = dtp.current_weights()
    assert torch.isfinite(w).all() and torch.allclose(w, torch.ones(2))


def test_dtp_default_smoothing_weights_the_current_batch():
    """smoothing = a is the weight of the current batch: 0.9 leaves the EMA near the last KPI."""
    dtp = DynamicTaskPrioritization(1)
    for k in (0.2, 0.8, 0.2, 0.8):
        ema = dtp.update_kpi(torch.tensor([k]))
    assert ema.item() == pytest.approx(0.9 * 0.8 + 0.1 * (0.9 * 0.2 + 0.1 * (0.9 * 0.8 + 0.1 * 0.2)))
    assert abs(ema.item() - 0.8) < 0.07


# ---- loss-balanced task weighting ----------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(l=pos_losses, alpha=st.floats(0.0, 3.0))
def test_lbtw_sums_to_k_and_is_positive(l, alpha):
    losses = as_t(l)
    w = lbtw_weights(losses, losses.flip(0), alpha)
    assert torch.all(w > 0) and w.sum().item() == pytest.approx(len(l))


def test_lbtw_closed_form_and_resets():
    w = lbtw_weights(torch.tensor([1.0, 0.25]), torch.ones(2), 0.5)
    assert torch.allclose(w, torch.tensor([2 / 1.5, 1 / 1.5]))
    assert torch.allclose(lbtw_weights(torch.tensor([1.0, 0.1]), torch.ones(2), 0.0), torch.ones(2))

    def ctx(epoch):
        return StepContext(None, (), None, None, (), 0, epoch)

    per_epoch = LossBalancedTaskWeighting(2, reset="epoch")
    once = LossBalancedTaskWeighting(2, reset="never")
    for m in (per_epoch, once):
        m.weights(torch.tensor([2.0, 2.0]), ctx(0))
        m.weights(torch.tensor([1.0, 0.5]), ctx(1))
    assert per_epoch.initial_losses.tolist() == [1.0, 0.5]
    assert once.initial_losses.tolist() == [2.0, 2.0]
    with pytest.raises(ValueError, match="reset must be one of"):
        LossBalancedTaskWeighting(2, reset="sometimes")
    with pytest.raises(ValueError, match="losses must be finite"):
        once.weights(torch.tensor([1.0, float("inf")]), ctx(1))


# ---- GradNorm ------------------------------------------------------------------------------------

class LinearToy(nn.Module):
    """x → W x (shared, linear) → one linear head per task."""

    def __init__(self, k=3):
        super().__init__()
        self.shared = nn.Linear(4, 6)
        self.heads = nn.ModuleList(nn.Linear(6, 1) for _ in range(k))

    def forward(self, x):
        z = self.shared(x)
        return [h(z) for h in self.heads]

    def last_shared_layer(self):
        return self.shared


def toy_context(net, scales, step=0, opt=None):
    torch.manual_seed(1)
    x = torch.randn(32, 4)
    targets = tuple(s * torch.randn(32, 1) for s in scales)

    class Ctx(StepContext):
        def compute_losses(self):
            out = self.model(self.x)
            return torch.stack([(o - y).pow(2).mean() for o, y in zip(out, self.targets)])

    opt = opt or torch.optim.SGD(net.parameters(), lr=0.0)
    return Ctx(net, (), opt, x, targets, step, 0)


def weighted_norms(net, ctx, w):
    losses = ctx.compute_losses()
    return torch.stack([w[k] * torch.sqrt(sum(g.pow(2).sum() for g in torch.autograd.grad(
        losses[k], list(net.shared.parameters()), retain_graph=True))) for k in range(len(w))])


def test_gradnorm_alpha_zero_equalizes_weighted_gradient_norms():
    torch.manual_seed(0)
    net = LinearToy(3)
    gn = GradNorm(3, alpha=0.0, lr=0.02)
    ctx = toy_context(net, (1.0, 10.0, 100.0))         # a frozen network: lr = 0
    before = weighted_norms(net, ctx, torch.ones(3))
    assert before.max() / before.min() > 10
    for step in range(400):
        if step == 300:                                 # anneal: the L1 objective oscillates at ~lr
            gn.optimizer.param_groups[0]["lr"] = 0.002
        ctx.step = step
        _, w = gn.step(ctx)
        assert w.sum().item() == pytest.approx(3.0, rel=1e-5) and torch.all(w > 0)
    after = weighted_norms(net, ctx, gn.task_weights.detach())
    assert after.max() / after.min() < 1.05


def test_gradnorm_keeps_first_loss_and_sums_to_k():
    torch.manual_seed(0)
    net = LinearToy(2)
    gn = GradNorm(2, alpha=1.5, lr=0.05)
    ctx = toy_context(net, (1.0, 5.0), opt=torch.optim.Adam(net.parameters(), lr=1e-2))
    l0 = ctx.compute_losses().detach()
    for step in range(20):
        ctx.step = step
        gn.step(ctx)
        assert gn.task_weights.sum().item() == pytest.approx(2.0, rel=1e-5)
    assert torch.allclose(gn.initial_losses, l0)


def test_gradnorm_bad_input():
    with pytest.raises(ValueError, match="alpha must be finite"):
        GradNorm(2, alpha=-1.0)
    net = nn.Linear(4, 2)
    ctx = toy_context(LinearToy(2), (1.0, 1.0))
    ctx.model = net

    class Plain(type(ctx)):
        def compute_losses(self):
            return self.model(self.x).pow(2).mean(0)
    plain = Plain(net, (), torch.optim.SGD(net.parameters(), lr=0.0), ctx.x, (), 0, 0)
    with pytest.raises(ValueError, match="no last_shared_layer"):
        GradNorm(2).step(plain)
    with pytest.raises(ValueError, match="losses must have 3 tasks"):
        GradNorm(3).step(plain)


def test_uncertainty_learned_sigma_tracks_task_noise():
    torch.manual_seed(0)
    x = torch.randn(512, 5)
    noise = (0.1, 1.0)
    targets = tuple(x @ torch.randn(5, 1) + s * torch.randn(512, 1) for s in noise)
    net = LinearToy(2)
    net.shared = nn.Linear(5, 6)
    uw = UncertaintyWeighting(2, lr=0.05)
    ctx = toy_context(net, (1.0, 1.0), opt=torch.optim.Adam(net.parameters(), lr=0.05))
    ctx.x, ctx.targets = x, targets
    for step in range(400):
        ctx.step = step
        uw.step(ctx)
    sigma = torch.exp(uw.log_vars.detach() / 2)          # e^{s/2} = σ
    assert torch.allclose(sigma, torch.tensor(noise), rtol=0.2), sigma
    w = uw.raw_weights().detach()
    assert w[0] / w[1] > 50, "the low-noise task gets ≈ (1/0.1)² = 100 times the weight"
