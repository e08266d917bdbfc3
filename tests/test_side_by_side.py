import pytest
import torch

from mtlbook import models as M
from mtlbook.data import related_regression
from mtlbook.tasks import task_losses


def _splits(n=64):
    return [related_regression(n_train=n, n_test=32, correlation=r, num_groups=1, group_size=2, dim=6,
                               seed=0) for r in (0.0, 1.0)]


def test_side_by_side_equals_training_each_model_alone():
    splits = _splits()
    tasks = splits[0].tasks
    make = lambda: M.cross_stitch(tasks, (6,), width=8)
    steps, batch = 5, 16
    run = M.train_side_by_side(make, splits, seeds=2, steps=steps, batch_size=batch, lr=1e-2,
                               alpha_lr_scale=10.0, seed=3)
    # replay: the same minibatch draws, one model at a time
    gen = torch.Generator().manual_seed(3)
    draws = [torch.randint(0, 64, (4, batch), generator=gen) for _ in range(steps)]
    for e in range(4):
        torch.manual_seed(3 + e % 2)
        net = make()
        opt = torch.optim.Adam([{"params": [p for n, p in net.named_parameters() if not n.startswith("alphas")],
                                 "lr": 1e-2}, {"params": list(net.alphas), "lr": 1e-1}])
        data = splits[e // 2].train
        for idx in draws:
            i = idx[e]
            opt.zero_grad()
            task_losses(tasks, net(data.x[i]), [y[i] for y in data.targets]).sum().backward()
            opt.step()
        for (n, p), q in zip(net.named_parameters(), run.models[e].parameters()):
            assert torch.allclose(p, q, atol=1e-5), (e, n)
    assert run.grid().shape == (2, 2, 2) and run.losses.shape == (steps, 4, 2)


def test_penalties_and_covariance_updates_are_applied():
    splits = _splits()
    tasks = splits[0].tasks
    soft = M.train_side_by_side(lambda: M.soft_sharing(tasks, (6,), width=8, strength=1.0), splits,
                                seeds=1, steps=40, batch_size=16, lr=1e-2)
    assert (soft.penalties[-1] < soft.penalties[0]).all()          # the penalty is minimized too
    mrn = M.train_side_by_side(lambda: M.mrn(tasks, (6,), width=8, head_hidden=4), splits, seeds=1,
                               steps=10, batch_size=16, epoch_steps=5)
    for m in mrn.models:                                           # Σ3 moved off its identity start
        assert not torch.allclose(m.task_covariance, torch.eye(2))


def test_side_by_side_checks_its_inputs():
    splits = _splits()
    make = lambda: M.hard_sharing(splits[0].tasks, (6,), width=4)
    with pytest.raises(ValueError, match="splits must share"):
        M.train_side_by_side(make, [splits[0], _splits(n=80)[0]])
    with pytest.raises(ValueError, match="batch_size"):
        M.train_side_by_side(make, splits, batch_size=100)
    with pytest.raises(ValueError, match="seeds"):
        M.train_side_by_side(make, splits, seeds=0)
    with pytest.raises(ValueError, match="splits must be a non-empty"):
        M.train_side_by_side(make, [])
