import pytest
import torch

import mtlbook as mb
from mtlbook.strategy import Strategy
from mtlbook.weighting import EqualWeighting, FixedWeights


@pytest.fixture(scope="module")
def split():
    return mb.data.multidigits(n_train=512, n_test=256)


def test_fit_records_losses_weights_and_metrics(split):
    mb.seed_everything(0)
    net = mb.models.hard_sharing(split.tasks, (1, 10, 10), width=32)
    h = mb.train.fit(net, split.train, epochs=3, batch_size=64, eval_data=split.test, eval_every=8,
                     progress=False)
    assert h.losses.shape == (24, 2) and torch.equal(h.weights, torch.ones(24, 2))
    assert h.eval_steps.tolist() == [8, 16, 24] and h.eval_metrics.shape == (3, 2)
    assert h.epochs.tolist() == [0] * 8 + [1] * 8 + [2] * 8
    assert h.epoch_means().shape == (3, 2)
    assert (h.losses[-8:].mean(0) < h.losses[:8].mean(0)).all(), "training lowers both losses"
    assert ((0 <= h.final_metrics) & (h.final_metrics <= 1)).all()


def test_fit_is_reproducible(split):
    runs = []
    for _ in range(2):
        mb.seed_everything(1)
        net = mb.models.hard_sharing(split.tasks, (1, 10, 10), width=16)
        runs.append(mb.train.fit(net, split.train, steps=10, seed=1, progress=False).losses)
    assert torch.equal(*runs)


class Recorder(FixedWeights):
    def __init__(self):
        super().__init__([1.0, 0.5])
        self.seen = []

    def end_epoch(self, epoch_losses):
        self.seen.append(epoch_losses)


def test_strategy_weights_and_epoch_hook(split):
    net = mb.models.hard_sharing(split.tasks, (1, 10, 10), width=16)
    rec = Recorder()
    h = mb.train.fit(net, split.train, epochs=3, batch_size=128, strategy=rec, progress=False)
    assert torch.equal(h.weights[0], torch.tensor([1.0, 0.5]))
    assert len(rec.seen) == 2, "end_epoch runs after each epoch that another one follows"
    assert torch.allclose(rec.seen[0], h.epoch_means()[0])


class Explodes(Strategy):
    def backward(self, losses, ctx):
        losses.sum().backward()
        if ctx.step == 7:
            with torch.no_grad():
                for p in ctx.model.heads[1].parameters():
                    p.fill_(float("nan"))
        return torch.ones_like(losses)


def test_divergence_names_task_and_step(split):
    net = mb.models.hard_sharing(split.tasks, (1, 10, 10), width=16)
    with pytest.raises(FloatingPointError, match=r"task 'right' is nan at step 8"):
        mb.train.fit(net, split.train, steps=20, check_every=5, strategy=Explodes(), progress=False)


def test_fit_rejects_bad_arguments(split):
    net = mb.models.hard_sharing(split.tasks, (1, 10, 10), width=16)
    with pytest.raises(ValueError, match="exactly one of steps and epochs"):
        mb.train.fit(net, split.train)
    with pytest.raises(ValueError, match="steps must be"):
        mb.train.fit(net, split.train, steps=0)
    with pytest.raises(TypeError, match="Strategy"):
        mb.train.fit(net, split.train, steps=1, strategy="mgda")
    with pytest.raises(TypeError, match="data must be"):
        mb.train.fit(net, [1, 2], steps=1)
    with pytest.raises(ValueError, match="weights"):
        FixedWeights([1.0, -1.0])
    assert torch.equal(EqualWeighting().weights(torch.rand(3)), torch.ones(3))


def test_evaluate_restores_training_mode(split):
    net = mb.models.hard_sharing(split.tasks, (1, 10, 10), width=16)
    net.train()
    losses, metrics = mb.train.evaluate(net, split.test, batch_size=100)
    assert net.training and losses.shape == (2,) and metrics.shape == (2,)
