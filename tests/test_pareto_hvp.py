"""Hessian-vector products against the explicit Hessian of small float64 models."""

import pytest
import torch
from torch import nn

from mtlbook.pareto import HessianVectorProduct, hvp, module_loss


def _mlp_problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 3, generator=g, dtype=torch.float64)
    y = torch.randn(16, 2, generator=g, dtype=torch.float64)
    w1 = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    b1 = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    w2 = torch.randn(4, 2, generator=g, dtype=torch.float64, requires_grad=True)
    params = [w1, b1, w2]

    def loss_fn(t):
        a, b, c = t
        return ((torch.tanh(x @ a + b) @ c - y) ** 2).mean() + (a ** 4).sum() * 0.1

    return loss_fn, params


def _explicit_hessian(loss_fn, params):
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    sizes = [p.numel() for p in params]

    def f(z):
        pieces = torch.split(z, sizes)
        return loss_fn([piece.reshape(p.shape) for piece, p in zip(pieces, params)])

    return torch.autograd.functional.hessian(f, flat)


@pytest.mark.parametrize("engine", ["graph", "forward"])
def test_hvp_matches_explicit_hessian(engine):
    loss_fn, params = _mlp_problem()
    hess = _explicit_hessian(loss_fn, params)
    n = hess.shape[0]
    assert n == 3 * 4 + 4 + 4 * 2
    op = HessianVectorProduct(loss_fn, params, engine=engine)
    vecs = torch.randn(5, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(op(vecs), vecs @ hess, rtol=1e-10, atol=1e-12)   # H symmetric
    torch.testing.assert_close(op(vecs[0]), hess @ vecs[0], rtol=1e-10, atol=1e-12)
    assert op.products == 6
    # The unit vectors give back the whole Hessian, column by column.
    torch.testing.assert_close(op(torch.eye(n, dtype=torch.float64)), hess, rtol=1e-10, atol=1e-12)


def test_graph_reuse_gives_the_same_products_repeatedly():
    loss_fn, params = _mlp_problem(2)
    op = HessianVectorProduct(loss_fn, params)
    v = torch.randn(op.numel, dtype=torch.float64)
    first = op(v)
    for _ in range(3):
        torch.testing.assert_close(op(v), first, rtol=0, atol=0)
    torch.testing.assert_close(hvp(loss_fn, params, v, engine="forward"), first, rtol=1e-10, atol=1e-12)


def test_module_loss_with_batchnorm_in_eval_mode_and_dropout():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Dropout(0.5),
                          nn.Linear(5, 2)).double()
    model.train()
    for _ in range(3):                                  # non-trivial running statistics
        model(torch.randn(32, 3, dtype=torch.float64) * 3 + 1)
    model.eval()
    x = torch.randn(20, 3, dtype=torch.float64)
    y = torch.randint(0, 2, (20,))
    loss_fn, params = module_loss(model, lambda call: nn.functional.cross_entropy(call(x), y))
    hess = _explicit_hessian(loss_fn, params)
    n = hess.shape[0]
    vecs = torch.randn(3, n, dtype=torch.float64)
    for engine in ("graph", "forward"):
        op = HessianVectorProduct(loss_fn, params, engine=engine)
        torch.testing.assert_close(op(vecs), vecs @ hess, rtol=1e-9, atol=1e-12)
    # Running statistics untouched by the products.
    before = model[1].running_mean.clone()
    HessianVectorProduct(loss_fn, params)(vecs)
    torch.testing.assert_close(model[1].running_mean, before, rtol=0, atol=0)


def test_unused_parameter_and_linear_loss_give_zero_rows():
    a = torch.randn(3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    op = HessianVectorProduct(lambda t: (t[0] ** 2).sum(), [a, b])
    out = op(torch.ones(2, 5, dtype=torch.float64))
    torch.testing.assert_close(out, torch.tensor([[2.0] * 3 + [0.0] * 2] * 2, dtype=torch.float64))
    lin = HessianVectorProduct(lambda t: t[0].sum(), [a])
    torch.testing.assert_close(lin(torch.ones(3, dtype=torch.float64)), torch.zeros(3, dtype=torch.float64))


def test_input_checks():
    loss_fn, params = _mlp_problem()
    with pytest.raises(ValueError, match="engine"):
        HessianVectorProduct(loss_fn, params, engine="reverse")
    with pytest.raises(TypeError, match="params"):
        HessianVectorProduct(loss_fn, params[0])
    with pytest.raises(ValueError, match="scalar"):
        HessianVectorProduct(lambda t: t[0], params)
    with pytest.raises(ValueError, match="require grad"):
        HessianVectorProduct(loss_fn, [p.detach() for p in params])
    op = HessianVectorProduct(loss_fn, params)
    with pytest.raises(ValueError, match=r"v must have shape \(24,\)"):
        op(torch.zeros(23, dtype=torch.float64))
    with pytest.raises(TypeError, match="model"):
        module_loss("net", lambda call: call())


def test_vectors_are_cast_to_the_parameters_dtype():
    loss_fn, params = _mlp_problem()
    v = torch.randn(2, 24, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    op = HessianVectorProduct(loss_fn, params)
    out = op(v.float())
    assert out.dtype == torch.float64 and out.device == params[0].device
    torch.testing.assert_close(out, op(v), rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device")
@pytest.mark.parametrize("engine", ["graph", "forward"])
def test_vectors_on_another_device_are_moved_to_the_parameters(engine):
    loss_fn, params = _mlp_problem()
    v = torch.randn(3, 24, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    op = HessianVectorProduct(loss_fn, params, engine=engine)
    out = op(v.cuda())
    assert out.device == params[0].device
    torch.testing.assert_close(out, op(v))
