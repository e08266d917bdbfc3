"""TAG's lookahead affinity against its closed form on a linear model, and the running average."""

import pytest
import torch
from torch import nn

from mtlbook.data.core import MultiTaskData
from mtlbook.grouping import AffinityTracker, lookahead_affinity
from mtlbook.models import HardSharing
from mtlbook.tasks import regression
from mtlbook.train import fit


def linear_problem(k=3, d=5, h=2, n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    ys = tuple(torch.randn(n, generator=g, dtype=torch.float64) for _ in range(k))
    enc = nn.Linear(d, h, bias=False).double()
    heads = [nn.Linear(h, 1, bias=False).double() for _ in range(k)]
    model = HardSharing(enc, heads)
    tasks = tuple(regression(f"t{i}") for i in range(k))
    return model, tasks, x, ys


def closed_form(model, x, ys, lr):
    """L_j(W) = mean((X Wᵀ a_j − y_j)²), ∇_W L_i = (2/n) a_i r_iᵀ X with r_i = X Wᵀ a_i − y_i."""
    w = model.encoder.weight.detach()
    a = [hd.weight.detach()[0] for hd in model.heads]
    n = x.shape[0]

    def loss(wm, j):
        return ((x @ wm.T @ a[j] - ys[j]) ** 2).mean()

    k = len(a)
    z = torch.empty(k, k, dtype=torch.float64)
    for i in range(k):
        r = x @ w.T @ a[i] - ys[i]
        grad = (2.0 / n) * torch.outer(a[i], x.T @ r)
        for j in range(k):
            z[i, j] = 1 - loss(w - lr * grad, j) / loss(w, j)
    return z


@pytest.mark.parametrize("lr", [1e-3, 0.1, 0.7])
def test_matches_closed_form_on_linear_model(lr):
    model, tasks, x, ys = linear_problem()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    z = lookahead_affinity(model, tasks, x, ys, lr)
    torch.testing.assert_close(z, closed_form(model, x, ys, lr), rtol=1e-10, atol=1e-12)
    for n, p in model.named_parameters():                     # the model itself is never stepped
        assert torch.equal(p, before[n]), n


def test_small_lr_limit_is_gradient_inner_product():
    model, tasks, x, ys = linear_problem(seed=1)
    lr = 1e-6
    losses = torch.stack([t.loss(o, y) for t, o, y in zip(tasks, model(x), ys)])
    g = torch.stack([torch.cat([q.flatten() for q in torch.autograd.grad(l, model.shared_parameters(),
                                                                         retain_graph=True)])
                     for l in losses])
    expected = (g @ g.T) / losses.detach()[None, :]           # Z_ij ≈ lr g_i·g_j / L_j
    z = lookahead_affinity(model, tasks, x, ys, lr, per_lr=True)
    torch.testing.assert_close(z, expected, rtol=1e-4, atol=1e-8)


def test_only_shared_parameters_are_stepped():
    """Stepping only the heads: a step on task i cannot change task j ≠ i's loss."""
    model, tasks, x, ys = linear_problem()
    heads = [p for hd in model.heads for p in hd.parameters()]
    z = lookahead_affinity(model, tasks, x, ys, 0.1, shared=heads)
    off = z[~torch.eye(3, dtype=torch.bool)]
    assert torch.equal(off, torch.zeros_like(off))
    assert (z.diagonal() > 0).all()


def test_input_checks():
    model, tasks, x, ys = linear_problem()
    with pytest.raises(ValueError, match="lr must be"):
        lookahead_affinity(model, tasks, x, ys, 0.0)
    with pytest.raises(ValueError, match="shared must"):
        lookahead_affinity(model, tasks, x, ys, 0.1, shared=[])
    with pytest.raises(ValueError, match="belong to model"):
        lookahead_affinity(model, tasks, x, ys, 0.1, shared=[nn.Parameter(torch.zeros(2))])
    with pytest.raises(TypeError, match="shared_parameters"):
        lookahead_affinity(nn.Linear(5, 1), tasks[:1], x.float(), ys[:1], 0.1)
    with pytest.raises(ValueError, match="every must"):
        AffinityTracker(0.1, every=0)
    with pytest.raises(ValueError, match="no affinity"):
        _ = AffinityTracker(0.1).mean
    with pytest.raises(ValueError, match="square"):
        AffinityTracker(0.1).update(torch.zeros(2, 3))


def test_tracker_averages_over_training():
    model, tasks, x, ys = linear_problem(n=64)
    model = model.float()
    data = MultiTaskData(x.float(), tuple(y.float() for y in ys), tasks)
    tracker = AffinityTracker(0.05, every=3)
    fit(model, data, steps=10, batch_size=16, strategy=tracker, progress=False, seed=0)
    assert tracker.measured_at == [0, 3, 6, 9]
    assert tracker.count == 4 and len(tracker.history) == 4
    torch.testing.assert_close(tracker.mean, torch.stack(tracker.history).mean(0))
    assert torch.isfinite(tracker.mean).all()


def test_tag_recovers_planted_pairs():
    """Averaged over joint training, Ẑ on two planted task pairs selects the pairs (B = 2)."""
    from mtlbook.data import related_regression
    from mtlbook.grouping import group_tasks, select_networks
    from mtlbook.models import hard_sharing

    split = related_regression(n_train=1024, n_test=256, num_groups=2, group_size=2,
                               correlation=0.95, dim=20, num_sines=2, seed=0)
    torch.manual_seed(1)
    model = hard_sharing(split.tasks, 20, width=16)
    tracker = AffinityTracker(3e-3, every=2)
    fit(model, split.train, steps=100, batch_size=64, lr=3e-3, strategy=tracker, progress=False, seed=1)
    z = tracker.mean
    assert z[0, 1] > 0 and z[2, 3] > 0 and z[0, 1] > z[0, 2] and z[2, 3] > z[2, 0]
    assert select_networks(z, 2).groups == ((0, 1), (2, 3))
    assert group_tasks(z) == ((0, 1), (2, 3))
