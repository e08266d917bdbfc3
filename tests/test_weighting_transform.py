import pytest
import torch

import mtlbook as mb
from mtlbook.strategy import StepContext
from mtlbook.weighting import (EqualWeighting, GradientNormWeighting, InitialLossWeighting, PriorLossWeighting,
                               RealTimeLossWeighting, TransformedLosses)
from mtlbook.weighting.transform import train_in_units


@pytest.fixture(scope="module")
def split():
    return mb.data.multidigits(n_train=256, n_test=64, tasks=("left", "sum"))


def ensemble(split, num_models):
    return mb.models.EnsembleHardSharing(num_models, split.tasks, 100, hidden=(16,),
                                         generator=torch.Generator().manual_seed(0))


def test_transform_and_recorded_losses(split):
    t = TransformedLosses(EqualWeighting(), scale=torch.tensor([1.0, 4.0]), shift=torch.tensor([0.0, 2.0]))
    assert torch.equal(t.transform(torch.tensor([[1.0, 1.0], [2.0, 3.0]])), torch.tensor([[1.0, 6.0], [2.0, 14.0]]))
    h = mb.train.fit(ensemble(split, 1), split.train, steps=3, batch_size=32, strategy=t, progress=False)
    plain = mb.train.fit(ensemble(split, 1), split.train, steps=1, batch_size=32, progress=False)
    assert torch.allclose(h.losses[0], plain.losses[0])          # the history keeps the data's own units


# condition 0 in the data's units, 1 with the sum's loss ×1024 (a power of two: exact in floats), 2 with
# the sum's loss ÷1024, 3 with the sum's loss shifted by 50
SCALE = torch.tensor([[1.0, 1.0], [1.0, 1024.0], [1.0, 1 / 1024], [1.0, 1.0]])
SHIFT = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 50.0]])
PRIOR = torch.tensor([2.3, 16.0])


@pytest.mark.parametrize("scheme", ["initial", "prior", "realtime", "gradnorm", "equal"])
def test_scale_invariant_schemes_train_identically_in_any_units(split, scheme):
    make = {"initial": lambda c, b: InitialLossWeighting(), "realtime": lambda c, b: RealTimeLossWeighting(),
            "gradnorm": lambda c, b: GradientNormWeighting(), "equal": lambda c, b: EqualWeighting(),
            "prior": lambda c, b: PriorLossWeighting(c * PRIOR + b)}[scheme]
    h = train_in_units(split, make, SCALE, SHIFT, seeds=2, hidden=(16,), steps=20, batch_size=32)
    assert h.final_metrics.shape == (4, 2, 2) and h.weights.shape == (20, 4, 2, 2)
    m = h.final_losses
    same_under_scale = torch.allclose(m[0], m[1], rtol=1e-5) and torch.allclose(m[0], m[2], rtol=1e-5)
    assert same_under_scale == (scheme != "equal")
    assert torch.allclose(m[0], m[3], rtol=1e-5) == (scheme in ("equal", "gradnorm"))
    if scheme == "equal":
        assert (m[2, :, 1] > 1.1 * m[0, :, 1]).all()           # the sum, now tiny, is left behind
    else:
        assert torch.allclose(h.weights[:, 0, :, 1], 1024 * h.weights[:, 1, :, 1], rtol=1e-5)


def test_gradient_norm_weighting_side_by_side_matches_one_model(split):
    net = ensemble(split, 2)
    x, ys = split.train.x[:32], tuple(y[:32] for y in split.train.targets)
    ctx = StepContext(net, split.tasks, None, x, ys, 0, 0)
    w = GradientNormWeighting().backward(ctx.compute_losses(), ctx)
    for e in range(2):
        net.zero_grad()
        losses = ctx.compute_losses()[e]
        g = [torch.autograd.grad(losses[k], net.shared_parameters(), retain_graph=True) for k in range(2)]
        norms = torch.stack([torch.sqrt(sum(t[e].pow(2).sum() for t in gk)) for gk in g])
        assert torch.allclose(w[e], 1 / norms, rtol=1e-5)


def test_bad_input():
    with pytest.raises(TypeError, match="inner must be an mtlbook Strategy"):
        TransformedLosses("equal")
    with pytest.raises(ValueError, match="scale must be finite and > 0"):
        TransformedLosses(EqualWeighting(), scale=torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="shift must be finite"):
        TransformedLosses(EqualWeighting(), shift=float("nan"))
    with pytest.raises(ValueError, match="must broadcast"):
        TransformedLosses(EqualWeighting(), scale=torch.ones(3)).transform(torch.ones(2))
    with pytest.raises(ValueError, match="must not change the shape"):
        TransformedLosses(EqualWeighting(), scale=torch.ones(4, 2)).backward(torch.ones(2), None)
    with pytest.raises(ValueError, match="scale and shift must both be"):
        train_in_units(mb.data.multidigits(n_train=8, n_test=8), lambda c, b: EqualWeighting(), torch.ones(2))
    with pytest.raises(TypeError, match="data must be a Split"):
        train_in_units("digits", lambda c, b: EqualWeighting(), torch.ones(1, 2))
    with pytest.raises(ValueError, match="losses must be \\(K,\\) for one model or \\(E, K\\)"):
        GradientNormWeighting().backward(torch.ones(2, 2, 2), None)
