"""Torch MINRES against SciPy's on random symmetric indefinite systems."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.pareto import minres


def _indefinite(n, seed, spread=10.0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eig = rng.uniform(1.0, spread, n) * rng.choice([-1.0, 1.0], n)
    eig[0], eig[-1] = -abs(eig[0]), abs(eig[-1])          # surely indefinite
    return (q * eig) @ q.T, rng


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 30), seed=st.integers(0, 10_000), shift=st.sampled_from([0.0, 0.3, -2.5]),
       steps=st.integers(1, 8))
def test_iterates_agree_with_scipy(n, seed, shift, steps):
    a, rng = _indefinite(n, seed)
    b = rng.standard_normal(n)
    steps = min(steps, n - 1) or 1
    ref, _ = spla.minres(a, b, shift=shift, rtol=1e-300, maxiter=steps)
    out = minres(torch.from_numpy(a), torch.from_numpy(b), shift=shift, rtol=0.0, maxiter=steps)
    assert out.steps == steps and int(out.iterations) == steps
    scale = np.linalg.norm(ref) + 1.0
    np.testing.assert_allclose(out.solution.numpy(), ref, atol=1e-8 * scale)
    # The recurrence's residual norm is the true one.
    true = np.linalg.norm(b - (a - shift * np.eye(n)) @ out.solution.numpy())
    np.testing.assert_allclose(float(out.residual_norm), true, rtol=1e-6, atol=1e-10)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 40), k=st.integers(1, 4), seed=st.integers(0, 10_000),
       shift=st.sampled_from([0.0, 0.5, -1.5]))
def test_converged_solution_matches_scipy_and_direct_solve(n, k, seed, shift):
    a, rng = _indefinite(n, seed)
    bs = rng.standard_normal((n, k))
    shifted = a - shift * np.eye(n)
    if np.min(np.abs(np.linalg.eigvalsh(shifted))) < 0.2:
        shifted = a                                       # keep the shifted system well posed
        shift = 0.0
    out = minres(lambda v: torch.from_numpy(a) @ v, torch.from_numpy(bs), shift=shift, rtol=1e-12,
                 maxiter=10 * n)
    assert out.solution.shape == (n, k) and out.iterations.shape == (k,)
    assert bool(out.converged.all())
    exact = np.linalg.solve(shifted, bs)
    for j in range(k):
        ref, info = spla.minres(a, bs[:, j], shift=shift, rtol=1e-12, maxiter=10 * n)
        assert info == 0
        np.testing.assert_allclose(out.solution[:, j].numpy(), ref, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(out.solution[:, j].numpy(), exact[:, j], rtol=1e-8, atol=1e-9)
        assert float(out.residual_norm[j]) <= 1e-12 * np.linalg.norm(bs[:, j]) * 1.0001


def test_exact_after_n_steps_and_breakdown_is_clean():
    a, rng = _indefinite(3, 7)
    b = rng.standard_normal(3)
    out = minres(torch.from_numpy(a), torch.from_numpy(b), rtol=0.0, maxiter=50)
    assert int(out.iterations) <= 4
    assert torch.isfinite(out.solution).all()
    np.testing.assert_allclose(out.solution.numpy(), np.linalg.solve(a, b), rtol=1e-10)


def test_singular_consistent_system_gives_minimum_norm_solution():
    d = torch.tensor([2.0, -1.0, 0.0, 3.0], dtype=torch.float64)
    b = torch.tensor([1.0, 1.0, 0.0, 1.0], dtype=torch.float64)      # orthogonal to the null space
    out = minres(torch.diag(d), b, rtol=1e-14)
    torch.testing.assert_close(out.solution, torch.tensor([0.5, -1.0, 0.0, 1 / 3], dtype=torch.float64))


def test_x0_columns_and_freezing():
    a, rng = _indefinite(12, 3)
    at = torch.from_numpy(a)
    bs = torch.from_numpy(rng.standard_normal((12, 2)))
    exact = torch.linalg.solve(at, bs)
    # Column 0 starts at its solution: it converges at once and is left untouched.
    x0 = torch.stack([exact[:, 0], torch.zeros(12, dtype=torch.float64)], dim=1)
    out = minres(at, bs, x0=x0, rtol=1e-10, check_every=3)
    assert int(out.iterations[0]) == 0 and int(out.iterations[1]) > 0
    torch.testing.assert_close(out.solution, exact, rtol=1e-8, atol=1e-9)
    zero = minres(at, torch.zeros(12, dtype=torch.float64))
    assert zero.steps == 0 and torch.equal(zero.solution, torch.zeros(12, dtype=torch.float64))


@pytest.mark.parametrize("single", [True, False])
def test_inputs_are_left_as_they_were(single):
    """The vectors are updated in place inside: b and x0 (which may share memory with them when K =
    1) must not change, and an operator that returns its argument's memory is handled."""
    a, rng = _indefinite(10, 4)
    at = torch.from_numpy(a)
    b = torch.from_numpy(rng.standard_normal(10 if single else (10, 1)))
    x0 = torch.from_numpy(rng.standard_normal(b.shape))
    b_copy, x0_copy = b.clone(), x0.clone()
    out = minres(at, b, x0=x0, rtol=1e-12, shift=0.3)
    assert torch.equal(b, b_copy) and torch.equal(x0, x0_copy)
    exact = torch.linalg.solve(at - 0.3 * torch.eye(10, dtype=torch.float64), b_copy)
    torch.testing.assert_close(out.solution, exact, rtol=1e-8, atol=1e-9)
    ident = minres(lambda v: v, b, shift=-1.0, rtol=1e-12)          # (I + I) x = b
    torch.testing.assert_close(ident.solution, b_copy / 2)


def test_input_checks():
    a = torch.eye(3, dtype=torch.float64)
    b = torch.ones(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="symmetric"):
        minres(torch.triu(torch.ones(3, 3, dtype=torch.float64)), b)
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        minres(torch.eye(4, dtype=torch.float64), b)
    with pytest.raises(TypeError, match="b must"):
        minres(a, torch.ones(3, dtype=torch.long))
    with pytest.raises(TypeError, match="a must"):
        minres("A", b)
    with pytest.raises(ValueError, match="x0"):
        minres(a, b, x0=torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="rtol"):
        minres(a, b, rtol=-1.0)
    with pytest.raises(ValueError, match="maxiter"):
        minres(a, b, maxiter=-2)
    with pytest.raises(ValueError, match=r"a\(v\)"):
        minres(lambda v: v[:2], b)
