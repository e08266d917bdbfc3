"""Toy objectives (CAGrad, Nash-MTL, Pareto MTL): analytic gradients against autograd, the known
optima, and the end states of the batched driver."""

from __future__ import annotations

import pytest
import torch

from mtlbook.data.toys import (CAGRAD_TOY_PARETO_X2, CAGRAD_TOY_STARTS, cagrad_toy, nash_mtl_toy,
                               pareto_mtl_front, pareto_mtl_toy, run_toy)


def _autograd_jacobian(fn, x):
    x = x.clone().requires_grad_(True)
    losses, _ = fn(x)
    rows = [torch.autograd.grad(losses[..., k].sum(), x, retain_graph=True)[0]
            for k in range(losses.shape[-1])]
    return torch.stack(rows, -2)


@pytest.mark.parametrize("fn", [cagrad_toy, nash_mtl_toy], ids=["cagrad", "nash"])
def test_cagrad_toy_gradients_match_autograd(fn):
    torch.manual_seed(0)
    x = torch.empty(500, 2, dtype=torch.float64).uniform_(-10, 10)
    _, grads = fn(x)
    assert torch.allclose(grads, _autograd_jacobian(fn, x), atol=1e-9, rtol=1e-7)


def test_pareto_mtl_toy_gradients_and_front():
    torch.manual_seed(0)
    x = torch.empty(50, 20, dtype=torch.float64).uniform_(-0.5, 0.5)
    _, grads = pareto_mtl_toy(x)
    assert torch.allclose(grads, _autograd_jacobian(pareto_mtl_toy, x), atol=1e-12)
    t = torch.linspace(-1, 1, 11, dtype=torch.float64)
    on_set = t[:, None] * torch.ones(20, dtype=torch.float64) / 20 ** 0.5
    assert torch.allclose(pareto_mtl_toy(on_set)[0], pareto_mtl_front(t))
    ends = pareto_mtl_front(torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64))
    e4, e1 = 1 - torch.exp(torch.tensor(-4.0)), 1 - torch.exp(torch.tensor(-1.0))
    assert torch.allclose(ends, torch.tensor([[e4, 0.0], [e1, e1], [0.0, e4]], dtype=torch.float64),
                          atol=1e-7)


def test_cagrad_toy_average_optimum():
    """The mean loss is stationary at (0, −8.3552), and every point of x2 = −8.3552 with
    |x1| <= 7 is Pareto-stationary (the two gradients are anti-parallel)."""
    star = torch.tensor([0.0, CAGRAD_TOY_PARETO_X2], dtype=torch.float64)
    _, g = cagrad_toy(star)
    assert float(g.mean(0).norm()) < 1e-3
    for x1 in (-5.0, 2.0):
        _, g = cagrad_toy(torch.tensor([x1, CAGRAD_TOY_PARETO_X2], dtype=torch.float64))
        cos = float(g[0] @ g[1] / (g[0].norm() * g[1].norm()))
        assert cos < -0.999


def test_run_toy_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown method"):
        run_toy(cagrad_toy, CAGRAD_TOY_STARTS, ("adam",), steps=1)
    with pytest.raises(ValueError, match="steps"):
        run_toy(cagrad_toy, CAGRAD_TOY_STARTS, steps=0)
    with pytest.raises(ValueError, match="starts"):
        run_toy(cagrad_toy, torch.zeros(3, dtype=torch.float64), steps=1)
    with pytest.raises(ValueError, match="x must"):
        cagrad_toy(torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="objective"):
        run_toy("toy", CAGRAD_TOY_STARTS, steps=1)
