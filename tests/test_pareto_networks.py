"""FlatLeNet as a function of a flat vector, the batched weighted-sum sweep, tangents at several
points at once, the weighted-sum predictor and tangent steps."""

import math

import pytest
import torch
from torch import nn

from mtlbook.data.pareto_toys import zdt2_variant, zdt2_variant_normal, zdt2_variant_pareto_point
from mtlbook.pareto import (FlatLeNet, explore, predict_weighted_sum, tangent_directions, tangent_steps,
                            tangents_at, weighted_sum_sweep)


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 10, 10, generator=g)
    return x, [torch.randint(0, 10, (n,), generator=g), torch.randint(0, 10, (n,), generator=g)]


def test_flat_lenet_matches_the_same_network_built_from_modules():
    net = FlatLeNet()
    theta = net.init(generator=torch.Generator().manual_seed(1))
    assert theta.shape == (net.numel,)
    w = net.unflatten(theta)
    conv, fc = nn.Conv2d(1, 6, 4, stride=2), nn.Linear(net.features, 12)
    heads = [nn.Linear(12, 10), nn.Linear(12, 10)]
    with torch.no_grad():
        conv.weight.copy_(w["conv.weight"]), conv.bias.copy_(w["conv.bias"])
        fc.weight.copy_(w["fc.weight"]), fc.bias.copy_(w["fc.bias"])
        for i, h in enumerate(heads):
            h.weight.copy_(w[f"head{i}.weight"]), h.bias.copy_(w[f"head{i}.bias"])
    x, _ = _data()
    z = torch.tanh(fc(torch.tanh(conv(x)).flatten(1)))
    for out, h in zip(net.logits(theta, x), heads):
        torch.testing.assert_close(out, h(z))
    n = sum(p.numel() for p in [*conv.parameters(), *fc.parameters(), *heads[0].parameters(),
                                *heads[1].parameters()])
    assert net.numel == n == 6 * 16 + 6 + 12 * 96 + 12 + 2 * (12 * 10 + 10)


def test_flat_lenet_vmaps_over_networks_and_checks_inputs():
    net = FlatLeNet()
    thetas = net.init(3, generator=torch.Generator().manual_seed(0))
    x, y = _data()
    batched = torch.func.vmap(net.objective(x, y))(thetas)
    assert batched.shape == (3, 2)
    torch.testing.assert_close(batched[1], net.losses(thetas[1], x, y))
    with pytest.raises(ValueError, match="theta"):
        net.logits(thetas, x)
    with pytest.raises(ValueError, match="x must have shape"):
        net.logits(thetas[0], x[:, 0])
    with pytest.raises(ValueError, match="targets"):
        net.losses(thetas[0], x, y[:1])
    with pytest.raises(ValueError, match="kernel"):
        FlatLeNet(3, kernel=4)


def test_weighted_sum_sweep_equals_separate_runs():
    net = FlatLeNet(hidden=4)
    x, y = _data(32)
    f = net.objective(x, y)
    init = net.init(generator=torch.Generator().manual_seed(2))
    weights = torch.tensor([[0.2, 0.8], [0.9, 0.1]])
    together = weighted_sum_sweep(f, init, weights, steps=20, lr=1e-2)
    alone = weighted_sum_sweep(f, init, weights[1:], steps=20, lr=1e-2)
    torch.testing.assert_close(together[1:], alone, rtol=1e-5, atol=1e-6)
    # the loss of each row fell under its own weights
    w_before = (weights * torch.func.vmap(f)(init.expand(2, -1))).sum(1)
    assert bool(((weights * torch.func.vmap(f)(together)).sum(1) < w_before).all())
    with pytest.raises(ValueError, match="weights"):
        weighted_sum_sweep(f, init, torch.ones(2), steps=1)


def _quadratic_pair(seed=0, n=5):
    g = torch.Generator().manual_seed(seed)
    mats = [torch.randn(n, n, generator=g, dtype=torch.float64) for _ in range(2)]
    a, b = (m @ m.T + n * torch.eye(n, dtype=torch.float64) for m in mats)
    ca, cb = torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)

    def f(x):
        return torch.stack([0.5 * (x - ca) @ a @ (x - ca), 0.5 * (x - cb) @ b @ (x - cb) + (x ** 4).sum()])

    return f


@pytest.mark.parametrize("engine", ["graph", "forward"])
def test_tangents_at_several_points_equal_one_at_a_time(engine):
    f = _quadratic_pair()
    points = torch.randn(3, 5, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    beta = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.3, -0.7]], dtype=torch.float64)
    res = tangents_at(f, points, beta, damping=0.1, engine=engine, rtol=1e-12, maxiter=50)
    assert res.directions.shape == (3, 5) and res.products >= 3
    for e in range(3):
        jac = torch.func.jacrev(f)(points[e])
        alpha = res.weights[e]
        hess = torch.func.hessian(lambda x: (alpha * f(x)).sum())(points[e])
        one = tangent_directions(hess, jac, beta[e], damping=0.1, rtol=1e-12)
        torch.testing.assert_close(res.directions[e], one.directions[0], rtol=1e-8, atol=1e-10)
        torch.testing.assert_close(res.rhs[e], beta[e] @ jac)
    with pytest.raises(ValueError, match="beta"):
        tangents_at(f, points, torch.ones(3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="points"):
        tangents_at(f, points[0], beta[0])


def test_tangents_at_are_tangent_to_the_zdt2_variant_cylinder():
    points = zdt2_variant_pareto_point(torch.tensor([-1.2, -1.0, -0.8]) * math.pi, torch.tensor([0.3, 1.5, 2.5]))
    res = tangents_at(zdt2_variant, points, torch.tensor([1.0, 0.0], dtype=torch.float64), rtol=1e-14, maxiter=3)
    cos = (res.unit() * zdt2_variant_normal(points)).sum(1).abs()
    assert float(cos.max()) < 1e-10


def test_weighted_sum_predictor_steps_have_the_requested_length_and_leave_the_set():
    x = zdt2_variant_pareto_point(-1.1 * math.pi, 0.4)
    guesses = predict_weighted_sum(zdt2_variant, x, num_directions=4, step=0.1,
                                   generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.linalg.vector_norm(guesses - x, dim=1), torch.full((4,), 0.1, dtype=torch.float64))
    radius_gap = (guesses[:, 1] ** 2 + guesses[:, 2] ** 2 - math.pi).abs()
    assert float(radius_gap.min()) > 1e-3
    with pytest.raises(ValueError, match="noise"):
        predict_weighted_sum(zdt2_variant, x, noise=1.5)


def test_explore_counts_the_baseline_without_hessian_products():
    start = zdt2_variant_pareto_point(-math.pi, 1.0)
    base = explore(zdt2_variant, start, num_points=5, predictor="weighted_sum", seed=0)
    tang = explore(zdt2_variant, start, num_points=5, predictor="tangent", seed=0, maxiter=3)
    assert base.expand.hvps == 0 and tang.expand.hvps > 0
    assert base.points.shape == tang.points.shape == (5, 3)
    with pytest.raises(ValueError, match="predictor"):
        explore(zdt2_variant, start, predictor="random")


def test_tangent_steps_with_beta_e1_lower_f1_on_a_convex_problem():
    f = _quadratic_pair(3)
    # a Pareto-stationary start: the minimizer of the equal-weight sum
    x = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], max_iter=200, tolerance_grad=1e-12, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = f(x).sum()
        loss.backward()
        return loss

    opt.step(closure)
    start = x.detach().unsqueeze(0)
    path, counts = tangent_steps(f, start, torch.tensor([1.0, 0.0], dtype=torch.float64), num_steps=3,
                                 step=0.05, damping=0.0, rtol=1e-10, maxiter=20)
    losses = torch.func.vmap(f)(path[:, 0])
    assert path.shape == (4, 1, 5) and counts.jacobians == 3
    _, three = tangent_steps(f, start.expand(3, -1), torch.tensor([1.0, 0.0], dtype=torch.float64), num_steps=3,
                             step=0.05, damping=0.0, rtol=0.0, maxiter=4)
    assert three.hvps == 3 * 4                    # per start: one product per MINRES iteration and step
    assert bool((losses[1:, 0] < losses[:-1, 0]).all()) and bool((losses[1:, 1] > losses[:-1, 1]).all())


def test_tangents_at_uses_given_weights_and_checks_their_shape():
    f = _quadratic_pair(1)
    points = torch.randn(2, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    w = torch.tensor([[0.5, 0.5], [0.2, 0.8]], dtype=torch.float64)
    res = tangents_at(f, points, torch.tensor([1.0, -1.0], dtype=torch.float64), weights=w, rtol=1e-12, maxiter=50)
    torch.testing.assert_close(res.weights, w)
    hess = torch.func.hessian(lambda x: (w[1] * f(x)).sum())(points[1])
    torch.testing.assert_close(hess @ res.directions[1], res.rhs[1], rtol=1e-8, atol=1e-9)
    with pytest.raises(ValueError, match="weights"):
        tangents_at(f, points, torch.tensor([1.0, -1.0], dtype=torch.float64), weights=w[:1])
