"""GradNorm for side-by-side models: E weight vectors trained at once equal E separate GradNorms; the
recorded runs of the adaptive weightings."""

import pytest
import torch

from mtlbook.data import gradnorm_toy
from mtlbook.models import EnsembleHardSharing
from mtlbook.train import fit
from mtlbook.weighting import EqualWeighting, GradNorm, gradnorm_loss
from mtlbook.weighting.runs import Run, record_run, tied_ensemble

W = lambda net: net.encoder.layers[-1]


def small_toy():
    return gradnorm_toy((1.0, 30.0, 5.0), n_train=256, n_test=64, in_features=10, out_features=4)


def train(net, split, strategy, steps=25):
    return fit(net, split.train, steps=steps, batch_size=32, lr=1e-2, strategy=strategy, seed=0,
               progress=False)


def test_tied_ensemble_starts_identical():
    split = small_toy()
    net = tied_ensemble(3, split.tasks, 10, (8, 8), seed=1)
    for p in net.parameters():
        assert torch.equal(p[0], p[1]) and torch.equal(p[0], p[2])


def test_side_by_side_equals_separate_runs():
    split = small_toy()
    alphas = [0.0, 0.5, 1.5]
    net = tied_ensemble(3, split.tasks, 10, (8, 8), seed=1)
    together = GradNorm(3, alphas, num_models=3, layer=W, lr=0.05)
    hist = train(net, split, together)
    assert hist.weights.shape == (25, 3, 3)
    for e, a in enumerate(alphas):
        single = tied_ensemble(1, split.tasks, 10, (8, 8), seed=1)
        alone = GradNorm(3, a, num_models=1, layer=W, lr=0.05)
        train(single, split, alone)
        assert torch.allclose(together.task_weights.detach()[e], alone.task_weights.detach()[0], atol=1e-4)
        for p, q in zip(net.parameters(), single.parameters()):
            assert torch.allclose(p[e], q[0], atol=1e-4)
    assert torch.allclose(together.task_weights.sum(-1), torch.full((3,), 3.0), atol=1e-5)
    assert together.initial_losses.shape == (3, 3)


def test_loss_broadcasts_alpha_per_model():
    w = torch.ones(2, 2, requires_grad=True)
    norms = torch.tensor([[1.0, 2.0], [1.0, 2.0]])
    cur, first = torch.tensor([[1.0, 0.5], [1.0, 0.5]]), torch.ones(2, 2)
    per_model = gradnorm_loss(w, norms, cur, first, torch.tensor([0.0, 1.0]))
    separate = sum(gradnorm_loss(w[e], norms[e], cur[e], first[e], a) for e, a in enumerate([0.0, 1.0]))
    assert torch.allclose(per_model, separate)


def test_bad_input():
    with pytest.raises(ValueError, match="one per model needs num_models=2"):
        GradNorm(2, [0.1, 0.2])
    with pytest.raises(ValueError, match="one per model needs num_models=2"):
        GradNorm(2, [0.1, 0.2], num_models=3)
    with pytest.raises(ValueError, match="alpha must be finite"):
        GradNorm(2, [0.1, -1.0], num_models=2)
    with pytest.raises(ValueError, match="num_models must be"):
        GradNorm(2, num_models=0)
    split = small_toy()
    net = EnsembleHardSharing(2, split.tasks, 10, (8,))
    with pytest.raises(ValueError, match=r"GradNorm needs losses \(3, K\)"):
        train(net, split, GradNorm(3, num_models=3, layer=W), steps=1)
    with pytest.raises(ValueError, match=r"GradNorm needs losses \(K,\) of one model"):
        train(net, split, GradNorm(3, layer=W), steps=1)


def test_record_run_curves_start_at_one_and_keep_weights():
    split = small_toy()
    net = tied_ensemble(2, split.tasks, 10, (8,))
    run = record_run(net, split, EqualWeighting(), steps=20, eval_every=10, batch_size=32,
                     optimizer=torch.optim.Adam(net.parameters(), lr=1e-2))
    assert run.metric == "task-normalized test loss"
    assert run.eval_steps.tolist() == [0, 10, 20]
    assert run.curves.shape == (3, 2, 3) and torch.allclose(run.curves[0], torch.ones(2, 3))
    assert run.weights.shape == (20, 2, 3) and bool((run.weights == 1).all())
    one = run.model(1)
    assert isinstance(one, Run) and one.weights.shape == (20, 1, 3)
    assert run.losses.shape == (20, 2, 3) and torch.equal(one.losses, run.losses[:, 1:])
    assert bool((run.losses > 0).all())
    with pytest.raises(ValueError, match="e must index"):
        run.model(2)
    with pytest.raises(TypeError, match="torch module"):
        record_run("net", split, EqualWeighting(), steps=1,
                   optimizer=torch.optim.SGD(net.parameters(), lr=0.1))


def test_record_run_of_one_model_has_a_model_dimension():
    from mtlbook.models import hard_sharing

    split = small_toy()
    net = hard_sharing(split.tasks, 10, width=8)
    run = record_run(net, split, EqualWeighting(), steps=10, eval_every=5, batch_size=32,
                     optimizer=torch.optim.Adam(net.parameters(), lr=1e-2))
    assert run.weights.shape == (10, 1, 3) and run.curves.shape == (3, 1, 3)
    assert run.losses.shape == (10, 1, 3)


# ---- the graph-reusing step computes what the generic step computes -----------------------------

def run_steps(net, split, gn, steps=5):
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    fit(net, split.train, steps=steps, batch_size=64, optimizer=opt, strategy=gn, seed=0, progress=False)
    return gn.task_weights.detach().clone(), [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize("ensemble", [False, True])
def test_graph_reuse_gives_the_same_weights_and_updates(monkeypatch, ensemble):
    import mtlbook.weighting.gradnorm as gradnorm
    from mtlbook.models import hard_sharing

    split = small_toy()
    calls = []
    real = gradnorm._weighted_backward_through_features
    monkeypatch.setattr(gradnorm, "_weighted_backward_through_features",
                        lambda *a: calls.append(1) or real(*a))

    def make():
        if ensemble:
            return tied_ensemble(2, split.tasks, 10, (8, 8), seed=2), dict(num_models=2, layer=W)
        torch.manual_seed(2)
        return hard_sharing(split.tasks, 10, width=8), {}

    net, kw = make()
    fast_w, fast_p = run_steps(net, split, GradNorm(3, 1.5, lr=0.05, **kw))
    assert len(calls) == 5                                       # the graph-reusing path ran
    monkeypatch.setattr(gradnorm, "_split_parameters", lambda ctx, layer: None)
    net, kw = make()
    slow_w, slow_p = run_steps(net, split, GradNorm(3, 1.5, lr=0.05, **kw))
    assert len(calls) == 5                                       # the generic path ran
    assert torch.allclose(fast_w, slow_w, atol=1e-5)
    for p, q in zip(fast_p, slow_p):
        assert torch.allclose(p, q, atol=1e-5)


def test_graph_reuse_is_skipped_without_features():
    import mtlbook.weighting.gradnorm as gradnorm
    from mtlbook.strategy import StepContext

    split = small_toy()
    net = tied_ensemble(1, split.tasks, 10, (8,))
    ctx = StepContext(net, split.tasks, torch.optim.SGD(net.parameters(), lr=0.1), split.train.x[:8],
                      tuple(y[:8] for y in split.train.targets), 0, 0)
    assert gradnorm._split_parameters(ctx, list(W(net).parameters())) is None     # not forwarded yet
    ctx.compute_losses()
    assert gradnorm._split_parameters(ctx, list(W(net).parameters())) is not None
    assert gradnorm._split_parameters(ctx, list(net.heads[0].parameters())) is None  # W must be shared
