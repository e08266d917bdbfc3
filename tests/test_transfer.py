import pytest
import torch

import mtlbook as mb
from mtlbook.explorers.intro import sharing_explorer, sharing_gap
from mtlbook.transfer import SharingComparison, compare_sharing


def test_masked_heads_make_single_task_networks():
    """A head whose loss weight is zero never moves: the network is a single-task network."""
    tasks = (mb.tasks.regression("a"), mb.tasks.regression("b"))
    data = mb.data.teacher_tasks(n_train=64, n_test=8)
    net = mb.models.EnsembleHardSharing(2, tasks, 20, (8,), generator=torch.Generator().manual_seed(0))
    before = [p.detach().clone() for p in net.heads[1].parameters()]
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    mb.train.fit(net, mb.data.EnsembleBatches(data.train, [torch.arange(64)] * 2, 16), steps=5,
                 strategy=mb.weighting.FixedWeights(mask), progress=False)
    after = list(net.heads[1].parameters())
    assert not torch.equal(after[0][0], before[0][0]), "the multi-task model trains head b"
    assert torch.equal(after[0][1], before[0][1]) and torch.equal(after[1][1], before[1][1])


def test_compare_sharing_shapes_and_counts():
    splits = [mb.data.teacher_tasks(n_train=120, n_test=50, relatedness=r) for r in (0.0, 1.0)]
    res = compare_sharing(splits, [20, 40], seeds=2, hidden=(8,), steps=40, val_size=50, eval_every=20)
    assert res.mtl.shape == res.stl.shape == (2, 2, 2, 2) and res.sizes == (20, 40)
    trunk, head = 20 * 8 + 8, 8 + 1
    assert res.mtl_parameters == trunk + 2 * head and res.stl_parameters == 2 * (trunk + head)
    assert (res.mtl > 0).all() and (res.stl > 0).all() and res.relative_gain().shape == (2, 2, 2)
    with pytest.raises(ValueError, match="training rows"):
        compare_sharing(splits, [100], val_size=50)
    with pytest.raises(ValueError, match="same tasks"):
        compare_sharing([splits[0], mb.data.multidigits(n_train=200, n_test=10)], [20], val_size=50)


def test_compare_sharing_trains_exactly_the_requested_steps(monkeypatch):
    import mtlbook.transfer as transfer

    counted, real_fit = [], transfer.fit

    def counting_fit(*args, steps, **kwargs):
        counted.append(steps)
        return real_fit(*args, steps=steps, **kwargs)
    monkeypatch.setattr(transfer, "fit", counting_fit)
    splits = [mb.data.teacher_tasks(n_train=120, n_test=20)]
    compare_sharing(splits, [20], seeds=1, hidden=(4,), steps=50, val_size=50, eval_every=20)
    assert counted == [20, 20, 10]                         # 50 steps, evaluated every 20 and at the end


def _fake() -> SharingComparison:
    mtl = torch.full((2, 2, 3, 2), 1.0)
    stl = torch.full((2, 2, 3, 2), 1.0)
    stl[1] = 2.0                                  # related tasks: sharing halves the error
    mtl[0, 0] = 1.5                               # unrelated, small data: negative transfer
    return SharingComparison((10, 100), mtl, stl, (False, False), 10, 20)


def test_sharing_gap_reads_the_grid():
    r = sharing_gap(_fake(), [0.0, 1.0], 1.0, 10)
    assert r["gain"] == pytest.approx(0.5) and r["mtl"] == 1.0 and r["stl"] == 2.0 and r["stderr"] == 0.0
    assert sharing_gap(_fake(), [0.0, 1.0], 0.0, 10)["gain"] == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="relatedness"):
        sharing_gap(_fake(), [0.0, 1.0], 0.5, 10)
    with pytest.raises(ValueError, match="sizes"):
        sharing_gap(_fake(), [0.0, 1.0], 1.0, 50)


def test_sharing_explorer_readout():
    ex = sharing_explorer(_fake(), [0.0, 1.0])
    assert ex.text.startswith("relatedness 1.00, 10 training examples: multi-task better")
    ex.controls["rho"].value = 0.0
    assert ex.text.splitlines()[0].endswith("single-task better")
    assert "mtl-rho" in ex.controls["rho"]._dom_classes and len(ex.output.outputs) == 1
