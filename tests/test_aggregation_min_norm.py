"""The min-norm solvers: simplex, optimality (KKT), the two-task formula, task order, degenerate and
badly scaled gradients, agreement with brute force and with torchjd, and input errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mtlbook.aggregation import (duality_gap, gram_matrix, min_norm_weights,
                                 min_norm_weights_from_gram, relative_duality_gap, solve_min_norm,
                                 two_task_min_norm)

EPS = np.finfo(np.float64).eps
KINDS = ("plain", "scaled", "zeros", "collinear", "duplicates", "shared")


@st.composite
def jacobians(draw, max_k: int = 8, max_n: int = 10, kinds=KINDS) -> np.ndarray:
    """K×n task gradients of several kinds: general position, sizes from 1e-8 to 1e8, some zero
    rows, all collinear, repeated rows, or a large common component (small angles)."""
    k = draw(st.integers(1, max_k))
    n = draw(st.integers(1, max_n))
    unit = st.floats(-1.0, 1.0).map(lambda v: v if abs(v) > 1e-6 else 0.0)  # sizes come from `kind`
    j = draw(arrays(np.float64, (k, n), elements=unit))
    kind = draw(st.sampled_from(kinds))
    if kind == "scaled":
        j = j * 10.0 ** draw(arrays(np.float64, (k, 1), elements=st.floats(-8.0, 8.0)))
    elif kind == "zeros":
        j[: draw(st.integers(1, k))] = 0.0
    elif kind == "collinear":
        j = np.outer(draw(arrays(np.float64, (k,), elements=unit)), j[0])
    elif kind == "duplicates":
        j = np.concatenate([j, j[: draw(st.integers(0, k))]])
    elif kind == "shared":
        j = j + 5.0 * draw(arrays(np.float64, (1, n), elements=unit))
    return j


def assert_optimal(gram: np.ndarray, alpha: np.ndarray, slack: float = 64.0) -> None:
    """KKT of min αᵀGα on the simplex: (Gα)_k >= αᵀGα for all k, with equality on the support, up
    to the rounding of row k of Gα and of αᵀGα (about K·eps·((|G|α)_k + αᵀ|G|α)) and to the weights'
    own resolution: on the simplex α is known to about eps absolutely, which moves (Gα)_k by up to
    eps·max_j |G_kj| (it matters when a tiny gradient sits next to a large one)."""
    assert alpha.min() >= 0.0 and abs(alpha.sum() - 1.0) < 1e-12
    ga = gram @ alpha
    f = alpha @ ga
    magnitude = np.abs(gram) @ alpha
    tol = slack * len(gram) * EPS * (magnitude + alpha @ magnitude + np.abs(gram).max(1)) + 1e-300
    assert np.all(ga >= f - tol), (ga - f) / tol
    support = alpha > 0
    assert np.all(np.abs(ga[support] - f) <= tol[support]), (ga - f) / tol


def brute_force_min(gram: np.ndarray) -> float:
    """min αᵀGα over the simplex by enumerating supports (the optimum is the affine minimizer of its
    support): small, well-scaled K only."""
    best = np.inf
    k = len(gram)
    for r in range(1, k + 1):
        for s in itertools.combinations(range(k), r):
            g = gram[np.ix_(s, s)]
            kkt = np.block([[g, np.ones((r, 1))], [np.ones((1, r)), np.zeros((1, 1))]])
            beta = np.linalg.lstsq(kkt, np.r_[np.zeros(r), 1.0], rcond=None)[0][:r]
            if beta.min() >= -1e-12:
                best = min(best, float(beta @ g @ beta))
    return best


@settings(max_examples=150, deadline=None)
@given(jacobians())
@example(np.array([[0.5, 0.0], [0.0, -0.75], [0.0, 0.5]]))       # the origin is a convex combination
@example(np.array([[0.5, 0.0], [0.0, -0.5], [0.0, 0.5], [0.0, 0.8125]]))
@example(np.array([[0.5, 0.0], [0.0, -0.5], [0.0, 0.5], [0.0, 0.859375]]))
def test_weights_lie_on_the_simplex_and_are_optimal(j):
    gram = j @ j.T
    sol = solve_min_norm(torch.from_numpy(gram))
    assert bool(sol.converged)
    assert_optimal(gram, sol.weights.numpy())


@settings(max_examples=60, deadline=None)
@given(jacobians(max_k=2, kinds=("plain", "scaled", "zeros", "collinear", "shared")).filter(
    lambda j: len(j) == 2))
@example(np.array([[8.39370764e-01, 0.0], [8.39370764e-01, 1.37248058e-05]]))  # nearly equal rows
def test_active_set_agrees_with_the_two_task_formula(j):
    gram = torch.from_numpy(j @ j.T)
    closed = two_task_min_norm(gram)
    assert np.array_equal(two_task_min_norm(gram.numpy()), closed.numpy())   # the host version
    exact = solve_min_norm(gram, method="active_set").weights
    assert_optimal(gram.numpy(), closed.numpy())
    f_closed, f_exact = (float(w @ gram @ w) for w in (closed, exact))
    scale = float(gram.diagonal().max())
    assert abs(f_closed - f_exact) <= 1e-12 * scale


@settings(max_examples=60, deadline=None)
@given(jacobians(), st.randoms(use_true_random=False))
def test_the_direction_does_not_depend_on_the_task_order(j, rnd):
    perm = list(range(len(j)))
    rnd.shuffle(perm)
    d = min_norm_weights(torch.from_numpy(j)).numpy() @ j
    d_perm = min_norm_weights(torch.from_numpy(j[perm])).numpy() @ j[perm]
    size = np.abs(j).sum(0).max()
    assert np.allclose(d, d_perm, rtol=1e-6, atol=1e-9 * size)


@settings(max_examples=40, deadline=None)
@given(jacobians(max_k=5, max_n=6, kinds=("plain", "shared", "duplicates")))
def test_the_minimum_matches_brute_force(j):
    gram = j @ j.T
    f = float(solve_min_norm(torch.from_numpy(gram)).norm2)
    assert f == pytest.approx(brute_force_min(gram), rel=1e-9, abs=1e-12 * gram.diagonal().max())


@settings(max_examples=30, deadline=None)
@given(jacobians(max_k=6, kinds=("plain", "shared")))
def test_frank_wolfe_reaches_its_gap_and_agrees(j):
    gram = torch.from_numpy(j @ j.T)
    fw = solve_min_norm(gram, method="frank_wolfe", rtol=1e-3, atol=1e-4, max_iter=20_000)
    exact = solve_min_norm(gram)
    assert bool(fw.converged)
    assert float(fw.gap) <= 1e-3 * float(fw.norm2) + 1e-4 * float(gram.diagonal().max())
    slack = 1e-14 * float(gram.diagonal().max())
    assert float(exact.norm2) - slack <= float(fw.norm2) <= float(exact.norm2) + 2 * float(fw.gap) + slack


def test_regression_values():
    j = torch.tensor([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
    assert torch.allclose(min_norm_weights(j), torch.tensor([0.6, 0.4]))
    assert torch.allclose(min_norm_weights(j, method="active_set"), torch.tensor([0.6, 0.4]))
    three = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])     # the origin is inside
    sol = solve_min_norm(gram_matrix(three))
    assert torch.allclose(sol.weights, torch.full((3,), 1 / 3, dtype=torch.float64))
    assert float(sol.norm2) < 1e-15


def test_two_task_ends_are_exact_not_0_999():
    gram = torch.tensor([[1.0, 2.0], [2.0, 9.0]])     # ⟨g1, g2⟩ >= ‖g1‖²: g1 alone is optimal
    assert two_task_min_norm(gram).tolist() == [1.0, 0.0]
    assert two_task_min_norm(gram.flip(0, 1)).tolist() == [0.0, 1.0]
    equal = torch.ones(2, 2)
    assert two_task_min_norm(equal).tolist() == [0.5, 0.5]


def test_badly_scaled_two_tasks_keep_the_small_weight():
    j = torch.tensor([[1e-8, 0.0], [-1e8, 0.0]], dtype=torch.float64)   # opposite, 1e16 apart
    w = min_norm_weights(j)
    assert w[1] == pytest.approx(1e-16, rel=1e-9)
    assert float((w @ j).norm()) < 1e-20


def test_zero_and_collinear_gradients():
    j = torch.tensor([[1.0, 2.0], [0.0, 0.0], [3.0, 1.0]])
    assert min_norm_weights(j).tolist() == [0.0, 1.0, 0.0]
    assert torch.equal(min_norm_weights(torch.zeros(4, 3)), torch.full((4,), 0.25))
    opposite = torch.tensor([[2.0, 0.0], [-1.0, 0.0], [5.0, 0.0]])
    w = min_norm_weights(opposite)
    assert float((w @ opposite).norm()) < 1e-7


def test_batches_devices_and_dtypes():
    torch.manual_seed(0)
    j = torch.randn(3, 4, 5, 7)
    w = min_norm_weights(j)
    assert w.shape == (3, 4, 5) and w.dtype == torch.float32
    assert torch.allclose(w[1, 2], min_norm_weights(j[1, 2]))
    g = gram_matrix(j)
    assert min_norm_weights_from_gram(g).dtype == torch.float64
    w64 = min_norm_weights_from_gram(g)
    assert torch.allclose(relative_duality_gap(g, w64), torch.zeros(3, 4, dtype=torch.float64),
                          atol=1e-12)
    assert (duality_gap(g, torch.full((3, 4, 5), 0.2, dtype=torch.float64)) >= 0).all()
    w2 = min_norm_weights(j[..., :2, :])
    assert w2.shape == (3, 4, 2)


@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 1500), (10, 70_001), (2, 3, 4, 50_000)])
def test_blocked_gram_equals_the_float64_product(shape):
    """The Gram matrix is accumulated over blocks of columns and pieces of 1024; across block and
    piece boundaries, with a remainder, leading dimensions and a non-contiguous view, it equals
    the product of J converted to float64 whole, to float64 rounding."""
    torch.manual_seed(0)
    j = torch.randn(*shape)
    ref = j.double() @ j.double().transpose(-1, -2)
    scale = ref.diagonal(dim1=-2, dim2=-1).amax()
    assert float((gram_matrix(j) - ref).abs().max() / scale) < 1e-13
    view = j.transpose(0, -2) if j.dim() > 2 else j[:, ::2]
    ref = view.double() @ view.double().transpose(-1, -2)
    assert float((gram_matrix(view) - ref).abs().max() / scale) < 1e-13
    assert gram_matrix(j.double()).dtype == torch.float64


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(0, 5), "at least one task"),
    (torch.zeros(5), r"\(\.\.\., K, n\)"),
    (torch.zeros(2, 0), "at least one coordinate"),
    (torch.ones(2, 3, dtype=torch.long), "floating-point"),
    (torch.tensor([[1.0, float("nan")], [1.0, 2.0]]), "task 0 has non-finite"),
    (torch.tensor([[1.0, 2.0], [float("inf"), 2.0]]), "task 1 has non-finite"),
])
def test_clear_errors_for_bad_gradients(bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        min_norm_weights(bad)


def test_clear_errors_for_bad_gram_matrices():
    with pytest.raises(ValueError, match="square"):
        min_norm_weights_from_gram(torch.ones(2, 3))
    with pytest.raises(ValueError, match="symmetric"):
        min_norm_weights_from_gram(torch.tensor([[1.0, 0.0], [0.5, 1.0]]))
    with pytest.raises(ValueError, match="closed form solves two tasks"):
        solve_min_norm(torch.eye(3), method="closed_form")
    with pytest.raises(ValueError, match="method must be one of"):
        solve_min_norm(torch.eye(3), method="simplex")
    with pytest.raises(TypeError, match="torch.Tensor"):
        min_norm_weights_from_gram(np.eye(2))


@settings(max_examples=25, deadline=None)
@given(jacobians(max_k=6, kinds=("plain", "shared")))
def test_agrees_with_torchjd_mgda_where_both_converge(j):
    torchjd = pytest.importorskip("torchjd", reason="torchjd (the optional `bench` extra) is not "
                                                    "installed")
    from torchjd.aggregation import MGDAWeighting

    gram = torch.from_numpy(j @ j.T)
    theirs = MGDAWeighting(epsilon=1e-9, max_iters=300)(gram)
    ours = solve_min_norm(gram)
    gap = float(duality_gap(gram, theirs))
    assume(gap <= 1e-6 * float(ours.norm2) + 1e-14 * float(gram.diagonal().max()))  # it converged
    assert float(theirs @ gram @ theirs) == pytest.approx(float(ours.norm2), rel=1e-5, abs=1e-12)
    assert torchjd.aggregation.MGDA is not None


@settings(max_examples=150, deadline=None)
@given(jacobians(max_k=12))
@example(np.array([[np.sqrt(1000.0), 0.0], [0.0, 1e-7], [0.0, 1e-7], [7.5, 0.0]]))  # tiny next to large
def test_the_warm_start_agrees_with_wolfes_cold_start(j):
    from mtlbook.aggregation.active_set import wolfe_min_norm

    gram = j @ j.T
    warm, _, warm_ok = wolfe_min_norm(gram)
    cold, _, cold_ok = wolfe_min_norm(gram, warm_start=False)
    assume(cold_ok)          # with atol = 0, a hull that holds the origin can exhaust max_iter
    assert warm_ok
    assert_optimal(gram, warm)
    scale = float(gram.diagonal().max())
    assert abs(float(warm @ gram @ warm) - float(cold @ gram @ cold)) <= 1e-12 * scale
    assert np.allclose(warm @ j, cold @ j, rtol=1e-6, atol=1e-9 * np.abs(j).sum(0).max())


def test_check_gram_host_raises_the_same_errors():
    from mtlbook.aggregation.gram import check_gram, check_gram_host

    bad = [torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]]),
           torch.tensor([[-1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.5], [0.0, 1.0]])]
    for g in bad:
        with pytest.raises(ValueError) as host:
            check_gram_host(g)
        with pytest.raises(ValueError) as dev:
            check_gram(g)
        assert str(host.value) == str(dev.value)
    good = torch.tensor([[2.0, 1.0], [1.0 + 1e-9, 3.0]], dtype=torch.float64)
    assert np.array_equal(check_gram_host(good), check_gram(good).numpy())


@pytest.mark.parametrize("bad, error, message", [
    (torch.eye(3), ValueError, r"shape \(\.\.\., 2, 2\)"),
    (np.eye(3), ValueError, r"shape \(\.\.\., 2, 2\)"),
    (torch.ones(2), ValueError, r"shape \(\.\.\., 2, 2\)"),
    (torch.full((2, 2), float("nan")), ValueError, "finite"),
    (np.array([[1.0, 0.0], [0.0, np.inf]]), ValueError, "finite"),
    (torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, float("nan")], [float("nan"), 1.0]]]),
     ValueError, "finite"),
    ([[1.0, 0.0], [0.0, 1.0]], TypeError, "torch.Tensor or a NumPy array"),
    (torch.eye(2, dtype=torch.long), TypeError, "floating-point"),
    (np.eye(2, dtype=np.int64), TypeError, "floating-point"),
])
def test_two_task_formula_rejects_bad_input(bad, error, message):
    """No silent (½, ½) for a 3×3 or non-finite Gram matrix, no raw TypeError for a list."""
    with pytest.raises(error, match=message):
        two_task_min_norm(bad)


@pytest.mark.parametrize("gram, weights, error, message", [
    (torch.eye(2), torch.ones(3) / 3, ValueError, r"shape \(\.\.\., K\) with K = 2"),
    (torch.eye(2, 3), torch.ones(2) / 2, ValueError, "square"),
    (torch.eye(2).expand(3, 2, 2), torch.ones(4, 2) / 2, ValueError, "do not broadcast"),
    (torch.eye(2), [0.5, 0.5], TypeError, "weights must be a torch.Tensor"),
    (np.eye(2), torch.ones(2) / 2, TypeError, "gram must be a torch.Tensor"),
    (torch.eye(2), torch.ones(2, dtype=torch.long), TypeError, "floating-point"),
])
def test_duality_gaps_reject_bad_shapes(gram, weights, error, message):
    for fn in (duality_gap, relative_duality_gap):
        with pytest.raises(error, match=message):
            fn(gram, weights)


def test_relative_gap_is_nan_where_d_is_zero():
    """At a Pareto-stationary point d = 0 the relative gap is 0 / 0, as documented."""
    zero = torch.zeros(2, 2, dtype=torch.float64)
    half = torch.full((2,), 0.5, dtype=torch.float64)
    assert float(duality_gap(zero, half)) == 0.0
    assert bool(torch.isnan(relative_duality_gap(zero, half)))
    assert bool(torch.isnan(solve_min_norm(zero).relative_gap))
    batch = torch.stack([zero, torch.eye(2, dtype=torch.float64)])
    assert duality_gap(batch, half).shape == (2,)                      # broadcast weights


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_closed_form_results_stay_on_the_accelerator():
    gram = torch.tensor([[[1.0, -0.5], [-0.5, 2.0]]] * 3, device="cuda")
    for method in ("closed_form", "active_set"):
        sol = solve_min_norm(gram, method=method)
        for t in (sol.weights, sol.gap, sol.norm2, sol.iterations, sol.converged):
            assert t.device.type == "cuda"
    bad = gram.clone()
    bad[1, 0, 0] = float("nan")
    w = two_task_min_norm(bad)                     # not checked on the device: NaN, not (½, ½)
    assert bool(torch.isnan(w[1]).all()) and bool(torch.isfinite(w[[0, 2]]).all())
