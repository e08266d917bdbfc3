"""Side-by-side grouping: MemberAdam, batched credit and affinity propagation, ensemble lookahead
affinity and selective updates equal to the same models trained one at a time."""

import numpy as np
import pytest
import torch

from mtlbook.data import grouped_teacher_tasks
from mtlbook.grouping import (AffinityTracker, EnsembleSelectiveUpdates, MemberAdam, affinity_propagation,
                              affinity_propagation_batch, group_tasks, group_tasks_batch, lookahead_affinity,
                              proximal_credit)
from mtlbook.models.ensemble import EnsembleHardSharing
from mtlbook.train import fit


def test_member_adam_matches_torch_adam_when_all_step():
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(3, 4, 5))
    b = torch.nn.Parameter(a.detach().clone())
    mine, ref = MemberAdam([a], 3, lr=1e-2), torch.optim.Adam([b], lr=1e-2)
    for _ in range(25):
        g = torch.randn(3, 4, 5)
        a.grad, b.grad = g.clone(), g.clone()
        mine.step()
        ref.step()
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_member_adam_inactive_members_stay_and_keep_their_own_count():
    torch.manual_seed(1)
    a = torch.nn.Parameter(torch.randn(2, 3))
    alone = torch.nn.Parameter(a.detach()[1:].clone())
    opt, opt_alone = MemberAdam([a], 2, lr=0.1), torch.optim.Adam([alone], lr=0.1)
    for t in range(12):
        g = torch.randn(2, 3)
        a.grad = g.clone()
        before = a.detach()[1].clone()
        active = torch.tensor([True, t % 3 == 0])
        opt.step(active)
        if active[1]:
            alone.grad = g[1:].clone()
            opt_alone.step()
        else:
            assert torch.equal(a.detach()[1], before)
    assert opt.steps.tolist() == [12, 4]
    torch.testing.assert_close(a.detach()[1:], alone.detach(), rtol=1e-5, atol=1e-6)


def test_member_adam_checks_inputs():
    with pytest.raises(ValueError, match="leading dimension"):
        MemberAdam([torch.nn.Parameter(torch.zeros(3, 2))], 2)
    opt = MemberAdam([torch.nn.Parameter(torch.zeros(2, 2))], 2)
    with pytest.raises(ValueError, match="active must have shape"):
        opt.step(torch.ones(3, dtype=torch.bool))


def test_batched_credit_equals_rowwise_credit():
    g = torch.Generator().manual_seed(0)
    aff = torch.randn(4, 5, 5, generator=g)
    members = torch.rand(4, 5, generator=g) > 0.5
    members[3] = False                                       # an empty group changes nothing
    before = torch.rand(4, 5, generator=g) + 0.5
    after = before * (1 + 0.2 * torch.randn(4, 5, generator=g))
    with pytest.raises(ValueError, match="decay must be a number in"):
        proximal_credit(aff, members, before, after, 5.0)
    out = proximal_credit(aff, members, before, after, 0.3)
    for e in range(4):
        torch.testing.assert_close(out[e], proximal_credit(aff[e], members[e], before[e], after[e], 0.3))
    assert torch.equal(out[3], aff[3])
    with pytest.raises(ValueError, match="need affinity"):
        proximal_credit(aff, members[:, :4], before, after, 0.3)


def test_batched_affinity_propagation_equals_single_calls():
    rng = np.random.default_rng(3)
    sims = []
    for _ in range(12):
        m = rng.standard_normal((6, 6))
        sims.append((m + m.T) / 2)
    sims = np.stack(sims)
    for conv in (15, 50):
        batch = affinity_propagation_batch(sims, convergence_iter=conv)
        for s, r in zip(sims, batch):
            one = affinity_propagation(s, convergence_iter=conv)
            assert np.array_equal(one.labels, r.labels) and one.converged == r.converged
            assert one.iterations == r.iterations
    aff = torch.from_numpy(np.abs(sims))
    assert group_tasks_batch(aff) == [group_tasks(a) for a in aff]


def _ensemble_and_copies(e=2, seed=0):
    split = grouped_teacher_tasks(n_train=256, n_test=16, num_groups=2, group_size=2, dim=12, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    big = EnsembleHardSharing(e, split.tasks, 12, (8, 8), generator=gen)
    copies = []
    for m in range(e):
        one = EnsembleHardSharing(1, split.tasks, 12, (8, 8))
        with torch.no_grad():
            for p, q in zip(one.parameters(), big.parameters()):
                p.copy_(q[m:m + 1])
        copies.append(one)
    return split, big, copies


def test_lookahead_affinity_of_an_ensemble_is_each_members_own():
    split, big, copies = _ensemble_and_copies(3)
    x, ys = split.train.x[:64], [y[:64] for y in split.train.targets]
    z = lookahead_affinity(big, split.tasks, x, ys, 0.1)
    assert z.shape == (3, 4, 4)
    for m, one in enumerate(copies):
        torch.testing.assert_close(z[m], lookahead_affinity(one, split.tasks, x, ys, 0.1)[0], rtol=1e-4, atol=1e-6)


def test_affinity_tracker_counts_steps_across_fit_calls():
    split, big, _ = _ensemble_and_copies(2)
    tracker = AffinityTracker(0.01, every=4)
    opt = torch.optim.Adam(big.parameters(), lr=1e-3)
    for _ in range(2):
        fit(big, split.train, steps=6, batch_size=32, optimizer=opt, strategy=tracker, progress=False)
    assert tracker.measured_at == [0, 4, 8] and tracker.mean.shape == (2, 4, 4)


def test_ensemble_selective_updates_train_each_member_as_alone():
    split, big, copies = _ensemble_and_copies(2, seed=1)
    runs = []
    for model, e, seed in ((big, 2, 5), (copies[0], 1, 5), (copies[1], 1, 6)):
        strategy = EnsembleSelectiveUpdates(e, 4, decay=0.2, warmup=5, seed=seed)
        opt = MemberAdam(model.parameters(), e, lr=3e-3)
        fit(model, split.train, steps=25, batch_size=32, optimizer=opt, strategy=strategy, progress=False, seed=0)
        runs.append((model, strategy))
    (big, s2), (one0, s0), (one1, s1) = runs
    for m, (one, s) in enumerate(((one0, s0), (one1, s1))):
        for p, q in zip(big.parameters(), one.parameters()):
            torch.testing.assert_close(p.detach()[m:m + 1], q.detach(), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(s2.affinity[m], s.affinity[0], rtol=1e-4, atol=1e-6)
        assert [h[m] for h in s2.group_history] == [h[0] for h in s.group_history]
    sizes = torch.tensor([[len(g) for g in h] for h in s2.group_history])
    assert torch.equal(s2.optimizer_steps, sizes.sum(0)) and torch.equal(s2.backward_passes, sizes.sum(0))
    assert torch.equal(s2.forward_passes, sizes.sum(0) + 25)
    assert s2.program_forward_passes == int(sizes.max(1).values.sum()) + 25
    assert all(sorted(g) == [(0,), (1,), (2,), (3,)] for h in s2.group_history[:5] for g in h)


def test_ensemble_selective_updates_check_inputs():
    split, big, _ = _ensemble_and_copies(2)
    with pytest.raises(TypeError, match="MemberAdam"):
        fit(big, split.train, steps=1, batch_size=32, strategy=EnsembleSelectiveUpdates(2, 4), progress=False)
    with pytest.raises(ValueError, match="decay"):
        EnsembleSelectiveUpdates(2, 4, decay=0.0)
    with pytest.raises(ValueError, match="num_models"):
        EnsembleSelectiveUpdates(0, 4)
