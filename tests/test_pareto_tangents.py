"""Tangent directions on the ZDT2-variant, whose Pareto set is known in closed form."""

import math

import pytest
import torch

from mtlbook.data.pareto_toys import (zdt2_variant, zdt2_variant_front, zdt2_variant_normal,
                                      zdt2_variant_pareto_point, zdt2_variant_weights)
from mtlbook.gradients import task_jacobian
from mtlbook.pareto import (HessianVectorProduct, stationarity_weights, tangent_directions,
                            tangents_at, weighted_hvp)

POINTS = [(-1.2 * math.pi, 0.3), (-math.pi, 2.0), (-0.7 * math.pi, -1.1), (-1.4 * math.pi, 4.0)]


def _setup(x1, angle):
    x = zdt2_variant_pareto_point(x1, angle).requires_grad_(True)
    losses_fn = lambda t: zdt2_variant(t[0])                              # noqa: E731
    jac = task_jacobian(losses_fn([x]), [x])
    return x, losses_fn, jac


@pytest.mark.parametrize("x1, angle", POINTS)
def test_point_is_pareto_stationary_with_the_analytic_weights(x1, angle):
    x, _, jac = _setup(x1, angle)
    alpha = stationarity_weights(jac)
    torch.testing.assert_close(alpha, zdt2_variant_weights(x.detach()), rtol=1e-12, atol=1e-12)
    assert float(torch.linalg.vector_norm(alpha @ jac)) < 1e-12
    f = zdt2_variant(x.detach())
    assert float(f[1]) == pytest.approx(float(zdt2_variant_front(f[0])), abs=1e-12)


@pytest.mark.parametrize("x1, angle", POINTS)
def test_minres_tangents_are_tangent_to_the_pareto_set(x1, angle):
    x, losses_fn, jac = _setup(x1, angle)
    alpha = stationarity_weights(jac)
    op = weighted_hvp(losses_fn, [x], alpha)
    beta = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    res = tangent_directions(op, jac, beta, rtol=1e-14, maxiter=10)
    normal = zdt2_variant_normal(x.detach())
    cos = res.unit() @ normal
    assert float(cos.abs().max()) < 1e-10
    # Two Krylov steps suffice (the Hessian's range here is two-dimensional); one does not.
    two = tangent_directions(op, jac, beta, rtol=0.0, maxiter=2)
    assert float((two.unit() @ normal).abs().max()) < 1e-10
    one = tangent_directions(op, jac, beta, rtol=0.0, maxiter=1)
    assert float((one.unit() @ normal).abs().max()) > 1e-3
    # Gradient directions leave the set: they have a large normal component.
    grads = jac / torch.linalg.vector_norm(jac, dim=1, keepdim=True)
    assert float((grads @ normal).abs().min()) > 0.5
    # Along the tangent the front is followed to second order, along a gradient only to first.
    s = 1e-3
    def front_gap(y):
        f = zdt2_variant(y)
        return (f[..., 1] - zdt2_variant_front(f[..., 0])).abs()
    tangent_gap = front_gap(x.detach() + s * res.unit()).max()
    gradient_gap = front_gap(x.detach() - s * grads).min()
    assert float(tangent_gap) < 1e-4 * float(gradient_gap)


def _quadratic_problem(n=6, seed=0):
    """f_i = ½ (x − c_i)ᵀ A_i (x − c_i) with A_i SPD: a convex front, H_α positive definite."""
    g = torch.Generator().manual_seed(seed)
    mats, centres = [], []
    for _ in range(2):
        q = torch.randn(n, n, generator=g, dtype=torch.float64)
        mats.append(q @ q.T + 0.5 * torch.eye(n, dtype=torch.float64))
        centres.append(torch.randn(n, generator=g, dtype=torch.float64))

    def losses_fn(t):
        return torch.stack([0.5 * (t[0] - c) @ a @ (t[0] - c) for a, c in zip(mats, centres)])

    alpha = torch.tensor([0.3, 0.7], dtype=torch.float64)
    weighted = alpha[0] * mats[0] + alpha[1] * mats[1]
    x = torch.linalg.solve(weighted, alpha[0] * mats[0] @ centres[0] + alpha[1] * mats[1] @ centres[1])
    return x.requires_grad_(True), losses_fn, alpha


def test_first_order_sign_check_on_a_convex_front():
    x, losses_fn, alpha_true = _quadratic_problem()
    jac = task_jacobian(losses_fn([x]), [x])
    alpha = stationarity_weights(jac)
    torch.testing.assert_close(alpha, alpha_true, rtol=1e-10, atol=1e-12)
    op = weighted_hvp(losses_fn, [x], alpha)
    f0 = losses_fn([x.detach()])
    for k in range(2):
        res = tangent_directions(op, jac, torch.eye(2, dtype=torch.float64)[k], rtol=1e-12)
        f = losses_fn([x.detach() - 1e-3 * res.unit()[0]])
        assert float(f[k]) < float(f0[k]) and float(f[1 - k]) > float(f0[1 - k])


@pytest.mark.parametrize("x1, angle", POINTS)
def test_first_order_prediction_on_the_concave_zdt2_front(x1, angle):
    # ZDT2's front is concave: H_α has negative curvature along the set, so −v for β = e_1 *raises*
    # f_1; in every case the losses move as the first-order prediction Δf = −s J v says, in
    # opposite directions (a move along the front).
    x, _, jac = _setup(x1, angle)
    alpha = stationarity_weights(jac)
    hess = torch.autograd.functional.hessian(lambda z: (alpha * zdt2_variant(z)).sum(), x.detach())
    f0 = zdt2_variant(x.detach())
    for k in range(2):
        res = tangent_directions(hess, jac, torch.eye(2, dtype=torch.float64)[k], rtol=1e-14)
        v = res.unit()[0]
        s = 1e-4
        change = zdt2_variant(x.detach() - s * v) - f0
        predicted = -s * (jac @ v)
        assert float(change[0] * change[1]) < 0
        torch.testing.assert_close(change, predicted, rtol=1e-3, atol=0)
        curvature = float(v @ hess @ v)
        assert (float(change[k]) < 0) == (curvature > 0)


def test_batched_equals_one_by_one_and_dense_equals_operator():
    x, losses_fn, jac = _setup(-1.1 * math.pi, 0.7)
    alpha = stationarity_weights(jac)
    op = weighted_hvp(losses_fn, [x], alpha)
    dense = op(torch.eye(3, dtype=torch.float64))
    betas = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.3, -2.0]], dtype=torch.float64)
    before = op.products
    together = tangent_directions(op, jac, betas, damping=0.1, rtol=1e-13)
    assert op.products - before == 3 * together.solve.steps     # one product per column per step
    for k in range(3):
        alone = tangent_directions(op, jac, betas[k], damping=0.1, rtol=1e-13)
        torch.testing.assert_close(alone.directions[0], together.directions[k], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(tangent_directions(dense, jac, betas, damping=0.1, rtol=1e-13).directions,
                               together.directions, rtol=1e-9, atol=1e-11)
    exact = torch.linalg.solve(dense + 0.1 * torch.eye(3, dtype=torch.float64), (betas @ jac).T).T
    torch.testing.assert_close(together.directions, exact, rtol=1e-9, atol=1e-11)


def test_large_damping_gives_the_weighted_gradient():
    x, losses_fn, jac = _setup(-1.1 * math.pi, 0.7)
    op = weighted_hvp(losses_fn, [x], stationarity_weights(jac))
    beta = torch.tensor([1.0, 0.5], dtype=torch.float64)
    res = tangent_directions(op, jac, beta, damping=1e8, rtol=1e-14)
    target = beta @ jac
    torch.testing.assert_close(res.unit()[0], target / target.norm(), rtol=0, atol=1e-6)


def test_input_checks():
    x, losses_fn, jac = _setup(-math.pi, 0.0)
    eye = torch.eye(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="beta"):
        tangent_directions(eye, jac, torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="jacobian"):
        tangent_directions(eye, jac[0], torch.ones(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="damping"):
        tangent_directions(eye, jac, torch.ones(2, dtype=torch.float64), damping=-1.0)
    with pytest.raises(TypeError, match="hessian"):
        tangent_directions("H", jac, torch.ones(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="beta"):
        tangent_directions(eye, jac, torch.tensor(1.0, dtype=torch.float64))       # 0-d
    with pytest.raises(ValueError, match="x0"):
        tangent_directions(eye, jac, torch.ones(2, 2, dtype=torch.float64), x0=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="alpha"):
        weighted_hvp(losses_fn, [x], torch.ones(2, 2))
    with pytest.raises(ValueError, match="losses_fn"):
        weighted_hvp(losses_fn, [x], torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="x1"):
        zdt2_variant_pareto_point(0.0, 0.0)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        zdt2_variant(torch.zeros(2, dtype=torch.float64))


def test_tangents_at_checks_cheap_inputs_before_evaluating_the_losses():
    points = zdt2_variant_pareto_point(torch.tensor([-1.2, -0.8]) * math.pi, torch.tensor([0.3, 2.0]))
    beta = torch.tensor([1.0, 0.0], dtype=torch.float64)

    def never(x):
        raise AssertionError("losses_fn was evaluated before the inputs were checked")

    cases = [({"beta": torch.tensor(1.0, dtype=torch.float64)}, "beta"),              # 0-d
             ({"beta": torch.ones(3, 2, dtype=torch.float64)}, "beta"),               # wrong E
             ({"beta": torch.ones(2, 2, 2, dtype=torch.float64)}, "beta"),
             ({"x0": torch.zeros(2, 2, dtype=torch.float64)}, "x0"),
             ({"weights": torch.ones(3, 2, dtype=torch.float64)}, "weights"),
             ({"engine": "reverse"}, "engine")]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            tangents_at(never, points, **{"beta": beta, **kwargs})
    with pytest.raises(TypeError, match="beta"):
        tangents_at(never, points, [1.0, 0.0])
    with pytest.raises(TypeError, match="hessian_losses_fn"):
        tangents_at(never, points, beta, hessian_losses_fn="f")
    # Checks that need the number of losses m come after the Jacobian, with a clear message too.
    with pytest.raises(ValueError, match=r"beta must have shape \(2,\) or \(2, 2\)"):
        tangents_at(zdt2_variant, points, torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="weights"):
        tangents_at(zdt2_variant, points, beta, weights=torch.ones(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="vector of m losses"):
        tangents_at(lambda x: zdt2_variant(x).sum(), points, beta)
    # And the valid call still works: tangent to the cylinder.
    res = tangents_at(zdt2_variant, points, beta, rtol=1e-14, maxiter=3)
    assert float((res.unit() * zdt2_variant_normal(points)).sum(1).abs().max()) < 1e-10
