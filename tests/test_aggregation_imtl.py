"""IMTL-G: equal projections on the unit gradients, weights summing to 1, scale invariance of the
direction, the two-task formula of the paper, degenerate inputs, and a short fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import mtlbook as mb
from mtlbook.aggregation import IMTLG, gram_matrix, imtlg_direction, imtlg_weights


@st.composite
def full_rank_jacobians(draw, min_k: int = 2, max_k: int = 5) -> torch.Tensor:
    k = draw(st.integers(min_k, max_k))
    n = draw(st.integers(k, k + 4))
    j = draw(arrays(np.float64, (k, n), elements=st.floats(-1.0, 1.0, allow_subnormal=False)))
    scale = 10.0 ** draw(arrays(np.float64, (k, 1), elements=st.floats(-2.0, 2.0)))
    j = torch.from_numpy(j * scale)
    unit = j / j.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    assume(bool((j.norm(dim=-1) > 1e-100).all()))                       # squared norms stay normal floats
    assume(float(torch.linalg.svdvals(unit).min()) > 1e-2)               # well-conditioned directions
    return j


@settings(max_examples=60, deadline=None)
@given(full_rank_jacobians())
def test_equal_projections_on_the_unit_gradients(j):
    w = imtlg_weights(gram_matrix(j))
    assert abs(float(w.sum()) - 1.0) < 1e-9
    d = w @ j
    proj = (j / j.norm(dim=-1, keepdim=True)) @ d
    assert torch.allclose(proj, proj.mean().expand_as(proj), rtol=1e-6, atol=1e-9 * float(d.norm()))


@settings(max_examples=40, deadline=None)
@given(full_rank_jacobians(), arrays(np.float64, (5,), elements=st.floats(-3.0, 3.0)))
def test_direction_does_not_change_when_a_loss_is_scaled(j, log_scales):
    """Up to its sign: Σα = 1 fixes the sign through Σ_k α_k, which scaling can flip. Where the
    unnormalized weights G⁺s sum to zero the direction is undefined, so such draws are skipped."""
    c = torch.from_numpy(10.0 ** log_scales[: j.shape[0]])[:, None]
    for grads in (j, c * j):
        norms = grads.norm(dim=-1)
        unit = grads / norms[:, None]
        raw = torch.linalg.solve(unit @ unit.T, torch.ones_like(norms)) / norms       # G⁻¹ s
        assume(float(raw.sum().abs()) > 1e-6 * float(raw.abs().sum()))
    d, d_scaled = imtlg_direction(j), imtlg_direction(c * j)
    cos = float(d @ d_scaled / (d.norm() * d_scaled.norm()))
    assert abs(abs(cos) - 1.0) < 1e-6


def test_the_sum_constraint_can_turn_the_update_into_ascent():
    """The paper's normalization Σα = 1: scaling the third loss by 0.1 makes Σα change sign, and the
    common projection ⟨d, u_k⟩ = 1 / 𝟙ᵀ(G⁺s) becomes negative for every task."""
    j = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    for scale, sign in ((1.0, 1.0), (0.1, -1.0)):
        js = j * torch.tensor([[1.0], [1.0], [scale]], dtype=torch.float64)
        proj = (js / js.norm(dim=-1, keepdim=True)) @ imtlg_direction(js)
        assert bool((sign * proj > 0).all())
        assert torch.allclose(proj, proj[0].expand(3), atol=1e-10)


def test_two_tasks_match_the_paper_formula():
    """Liu et al. (2021), eq. 9 for K = 2: α_2 = ⟨g_1, u_1 − u_2⟩ / ⟨g_1 − g_2, u_1 − u_2⟩."""
    torch.manual_seed(0)
    for _ in range(20):
        j = torch.randn(2, 6, dtype=torch.float64) * torch.tensor([[0.3], [4.0]], dtype=torch.float64)
        u = j / j.norm(dim=-1, keepdim=True)
        a2 = (j[0] @ (u[0] - u[1])) / ((j[0] - j[1]) @ (u[0] - u[1]))
        assert torch.allclose(imtlg_weights(gram_matrix(j)),
                              torch.stack([1 - a2, a2]), atol=1e-10)


def test_batched_and_order():
    torch.manual_seed(1)
    j = torch.randn(4, 3, 5, dtype=torch.float64)
    w = imtlg_weights(gram_matrix(j))
    assert w.shape == (4, 3)
    for b in range(4):
        assert torch.allclose(w[b], imtlg_weights(gram_matrix(j[b])), atol=1e-12)
    perm = torch.tensor([2, 0, 1])
    assert torch.allclose(imtlg_weights(gram_matrix(j[0, perm])), w[0, perm], atol=1e-10)


def test_degenerate_inputs():
    zero = torch.zeros(3, 4, dtype=torch.float64)
    assert torch.allclose(imtlg_weights(gram_matrix(zero)), torch.full((3,), 1 / 3, dtype=torch.float64))
    same = torch.tensor([[1.0, 2.0], [1.0, 2.0]], dtype=torch.float64)        # rank one
    w = imtlg_weights(gram_matrix(same))
    assert bool(torch.isfinite(w).all()) and abs(float(w.sum()) - 1) < 1e-9
    with pytest.raises(ValueError, match="rtol"):
        imtlg_weights(gram_matrix(same), rtol=2.0)
    # Full rank, but the raw weights G⁻¹s of the first and third tasks (norms ~1e-119) cancel:
    # Σα = 1 cannot be met, and the weights fall back to uniform.
    tiny = -1.236e-119
    cancel = torch.full((4, 5), tiny, dtype=torch.float64)
    cancel[0, 0], cancel[1, 1], cancel[3, 2] = 0.0, -1.0, -1.0
    assert torch.equal(imtlg_weights(gram_matrix(cancel)), torch.full((4,), 0.25, dtype=torch.float64))
    with pytest.raises(ValueError, match="finite"):
        imtlg_direction(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        imtlg_weights(torch.zeros(2, 3))


def test_fit_with_imtlg():
    split = mb.data.multidigits(n_train=256, n_test=64)
    torch.manual_seed(0)
    net = mb.models.hard_sharing(split.tasks, (1, 10, 10), width=16)
    h = mb.train.fit(net, split.train, steps=12, batch_size=64, lr=3e-3, strategy=IMTLG(),
                     eval_data=split.test, progress=False)
    assert h.weights.shape == (12, 2)
    assert torch.allclose(h.weights.sum(-1), torch.full((12,), 2.0), atol=1e-5)
    assert float(h.losses[-4:].mean()) < float(h.losses[:4].mean())


def test_agrees_with_torchjd_imtlg_direction():
    torchjd = pytest.importorskip("torchjd", reason="torchjd (the optional `bench` extra) is not "
                                                    "installed")
    from torchjd.aggregation import IMTLG as TorchJDIMTLG

    torch.manual_seed(2)
    for k in (2, 3, 5):
        j = torch.randn(k, 8, dtype=torch.float64) * torch.rand(k, 1, dtype=torch.float64).add(0.1)
        theirs = TorchJDIMTLG()(j)
        ours = imtlg_direction(j)
        cos = float(theirs @ ours / (theirs.norm() * ours.norm()))
        assert abs(abs(cos) - 1.0) < 1e-6
    assert torchjd is not None


def test_linearly_dependent_gradients_use_the_scale_free_pseudo_inverse():
    """For independent gradients D⁻¹Ĝ⁺𝟙 = G⁻¹s. For dependent ones the two pseudo-inverse solutions
    differ; where some direction has equal projections on every unit gradient both find one, and
    where none has, only the library's keeps its direction when a loss is rescaled."""

    def g_plus_s(j):
        g = j @ j.T
        raw = torch.linalg.pinv(g, hermitian=True) @ g.diagonal().sqrt()
        return raw / raw.sum()

    def unit_proj(j, w):
        return (j / j.norm(dim=-1, keepdim=True)) @ (w @ j)

    torch.manual_seed(3)
    indep = torch.randn(3, 5, dtype=torch.float64)
    assert torch.allclose(imtlg_weights(gram_matrix(indep)), g_plus_s(indep), atol=1e-10)

    # Dependent, and no direction has equal projections: the two choices differ.
    j = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 1.0]], dtype=torch.float64)
    ours, theirs = imtlg_weights(gram_matrix(j)), g_plus_s(j)
    assert torch.allclose(ours, torch.tensor([0.2603, 0.6015, 0.1382], dtype=torch.float64), atol=1e-4)
    assert torch.allclose(theirs, torch.tensor([-0.1375, 0.7750, 0.3625], dtype=torch.float64),
                          atol=1e-4)
    for w in (ours, theirs):
        p = unit_proj(j, w)
        assert float(p.max() - p.min()) > 0.1
    c = torch.tensor([[1.0], [1.0], [10.0]], dtype=torch.float64)
    direction = lambda w, jj: (w @ jj) / (w @ jj).norm()
    assert torch.allclose(direction(ours, j), direction(imtlg_weights(gram_matrix(c * j)), c * j),
                          atol=1e-10)
    assert float((direction(theirs, j) - direction(g_plus_s(c * j), c * j)).norm()) > 0.01

    # Dependent, but equal projections are possible (task 3 is task 1 at another scale): both have
    # them, along the same direction; the weights (and so |d|) differ.
    rep = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]], dtype=torch.float64)
    ours, theirs = imtlg_weights(gram_matrix(rep)), g_plus_s(rep)
    for w in (ours, theirs):
        p = unit_proj(rep, w)
        assert torch.allclose(p, p[0].expand(3), rtol=1e-9) and float(p[0]) > 0
    assert torch.allclose(direction(ours, rep), direction(theirs, rep), atol=1e-10)
    assert float((ours - theirs).abs().max()) > 0.1
