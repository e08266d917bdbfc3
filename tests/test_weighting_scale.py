import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.weighting.scale import (
    SCHEMES, GradientNormWeighting, InitialLossWeighting, RealTimeLossWeighting, invariance_table,
    label_entropy, label_variance, prior_loss_weights, initial_loss_weights, transformed_update,
    uniform_cross_entropy)

D = torch.float64


def problem(seed, k=3, n=5):
    g = torch.Generator().manual_seed(seed)
    losses = torch.rand(k, generator=g, dtype=D) + 0.1
    return (losses, losses + torch.rand(k, generator=g, dtype=D), losses + 2 * torch.rand(k, generator=g, dtype=D),
            torch.randn(k, n, generator=g, dtype=D))


# Expected (direction changed, magnitude changed) under a scale c != 1 and a shift b != 0 of task 0.
EXPECTED_SCALE = {"equal": (True, True), "initial": (False, False), "prior": (False, False),
                  "realtime": (False, False), "gradnorm": (False, False)}
EXPECTED_SHIFT = {"equal": (False, False), "initial": (True, True), "prior": (True, True),
                  "realtime": (True, True), "gradnorm": (False, False)}


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), c=st.floats(1.5, 100.0), b=st.floats(0.5, 10.0))
def test_invariance_table(seed, c, b):
    args = problem(seed)
    scale = torch.tensor([c, 1.0, 1.0], dtype=D)
    shift = torch.tensor([b, 0.0, 0.0], dtype=D)
    assert invariance_table(*args, scale=scale, shift=0.0) == EXPECTED_SCALE
    assert invariance_table(*args, scale=1.0, shift=shift) == EXPECTED_SHIFT


def test_scaling_every_task_keeps_equal_direction():
    d0, m0 = transformed_update("equal", *problem(0))
    d1, m1 = transformed_update("equal", *problem(0), scale=3.0)
    assert torch.allclose(d0, d1) and torch.allclose(m1, 3 * m0)


def test_realtime_gradient_is_gradient_of_sum_of_logs():
    theta = torch.randn(4, dtype=D, requires_grad=True)
    a = torch.randn(3, 4, dtype=D)
    losses = (a @ theta).pow(2) + 0.5
    w = RealTimeLossWeighting().weights(losses.detach())
    g1, = torch.autograd.grad((w * losses).sum(), theta, retain_graph=True)
    g2, = torch.autograd.grad(losses.log().sum(), theta)
    assert torch.allclose(g1, g2)


def test_gradnorm_scheme_is_sum_of_unit_gradients():
    losses, l0, lp, grads = problem(1)
    d, m = transformed_update("gradnorm", losses, l0, lp, grads)
    s = (grads / grads.norm(dim=1, keepdim=True)).sum(0)
    assert torch.allclose(d * m, s)


def test_closed_form_priors():
    assert label_entropy(torch.arange(10).repeat(5), 10).item() == pytest.approx(math.log(10))
    assert label_entropy(torch.tensor([0, 0, 0, 1]), 2).item() == pytest.approx(
        -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert label_entropy(torch.zeros(7, dtype=torch.long), 3).item() == 0.0
    assert uniform_cross_entropy(4) == pytest.approx(math.log(4))
    y = torch.tensor([1.0, 3.0])
    assert label_variance(y).item() == pytest.approx(1.0)
    assert label_variance(torch.stack([y, 2 * y], 1)).item() == pytest.approx(2.5)
    assert torch.allclose(prior_loss_weights(torch.tensor([2.0, 4.0])), torch.tensor([0.5, 0.25]))


def test_initial_loss_weighting_records_first_losses():
    w = InitialLossWeighting()
    assert torch.allclose(w.weights(torch.tensor([2.0, 0.5])), torch.tensor([0.5, 2.0]))
    assert torch.allclose(w.weights(torch.tensor([1.0, 1.0])), torch.tensor([0.5, 2.0]))
    assert torch.allclose(initial_loss_weights(torch.tensor([4.0])), torch.tensor([0.25]))


def test_gradient_norm_weighting_equalizes_shared_gradient_norms():
    from mtlbook.strategy import StepContext
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    x = torch.randn(8, 3)
    out = net(x)
    losses = torch.stack([out[:, 0].pow(2).mean(), 100 * out[:, 1].pow(2).mean()])
    w = GradientNormWeighting().backward(losses, StepContext(net, (), None, x, (), 0, 0))
    g = [torch.autograd.grad(l, list(net.parameters()), retain_graph=True) for l in
         torch.stack([net(x)[:, 0].pow(2).mean(), 100 * net(x)[:, 1].pow(2).mean()])]
    norms = torch.stack([torch.sqrt(sum(t.pow(2).sum() for t in gi)) for gi in g])
    assert torch.allclose(w * norms, torch.ones(2), atol=1e-5)


def test_gradient_norm_weighting_gives_a_vanishing_gradient_weight_one():
    """A zero head makes the task's shared gradient zero: its weight is 1, not 1/eps, so the head
    trains as under equal weights."""
    from mtlbook.strategy import StepContext
    torch.manual_seed(0)
    body, heads = torch.nn.Linear(3, 4), torch.nn.ModuleList([torch.nn.Linear(4, 1) for _ in range(2)])
    with torch.no_grad():
        heads[1].weight.zero_(), heads[1].bias.zero_()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.heads = body, heads

        def shared_parameters(self):
            return self.body.parameters()

    net, x = Net(), torch.randn(8, 3)
    h = torch.tanh(body(x))
    losses = torch.stack([(heads[0](h) - 1).pow(2).mean(), (heads[1](h) - 1).pow(2).mean()])
    w = GradientNormWeighting().backward(losses, StepContext(net, (), None, x, (), 0, 0))
    assert w[0] > 0 and w[1] == 1
    expected, = torch.autograd.grad((heads[1](torch.tanh(body(x))) - 1).pow(2).mean(), heads[1].bias)
    assert torch.allclose(heads[1].bias.grad, expected) and heads[1].bias.grad.abs().max() > 0
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    with pytest.raises(ValueError, match="eps must be finite and > 0"):
        GradientNormWeighting(eps=0.0)


@pytest.mark.parametrize("name", ["scale", "shift"])
def test_per_task_scale_and_shift_must_have_k_entries(name):
    losses, l0, lp, grads = problem(0)
    with pytest.raises(ValueError, match=rf"{name} must be a number or a tensor of shape \(\) or \(3,\)"):
        transformed_update("equal", losses, l0, lp, grads, **{name: torch.ones(2, dtype=D)})
    with pytest.raises(TypeError, match=f"{name} must be a number"):
        transformed_update("equal", losses, l0, lp, grads, **{name: "2"})
    d, _ = transformed_update("equal", losses, l0, lp, grads, **{name: torch.full((3,), 2.0, dtype=D)})
    assert torch.isfinite(d).all()


@pytest.mark.parametrize("bad, err", [
    (dict(scheme="nope"), "scheme must be one of"),
    (dict(scale=-1.0), "scale must be finite and > 0"),
    (dict(shift=float("nan")), "shift must be finite"),
    (dict(losses=torch.tensor([1.0, float("inf"), 1.0], dtype=D)), "losses must be finite"),
    (dict(losses=torch.ones(2, dtype=D)), "losses must have 3 tasks"),
])
def test_bad_input(bad, err):
    losses, l0, lp, grads = problem(0)
    kw = dict(scheme="equal", losses=losses, initial_losses=l0, prior_losses=lp, grads=grads) | bad
    with pytest.raises(ValueError, match=err):
        transformed_update(**kw)


def test_bad_priors_and_losses():
    with pytest.raises(ValueError, match="initial_losses must be > 0"):
        initial_loss_weights(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="labels must be a non-empty"):
        label_entropy(torch.tensor([0, 5]), 3)
    with pytest.raises(TypeError, match="labels must be an integer"):
        label_entropy(torch.tensor([0.0]), 3)
    with pytest.raises(ValueError, match="losses must be finite"):
        RealTimeLossWeighting().weights(torch.tensor([1.0, float("nan")]))
    assert set(SCHEMES) == set(EXPECTED_SCALE)
