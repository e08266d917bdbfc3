import gzip
import struct

import numpy as np
import pytest
import torch

import mtlbook as mb
from mtlbook.data import (EnsembleBatches, EpochBatches, MultiTaskData, multidigits, multimnist,
                          multimnist_available, read_idx)


def test_multidigits_is_deterministic_and_split_before_pairing():
    a = multidigits(n_train=500, n_test=200, seed=3)
    b = multidigits(n_train=500, n_test=200, seed=3)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.targets[1], b.test.targets[1])
    assert not torch.equal(a.train.x, multidigits(n_train=500, n_test=200, seed=4).train.x)
    train_base = set(a.train.meta["left_index"].tolist()) | set(a.train.meta["right_index"].tolist())
    test_base = set(a.test.meta["left_index"].tolist()) | set(a.test.meta["right_index"].tolist())
    assert not train_base & test_base
    for part in (a.train, a.test):
        assert (part.targets[0] != part.targets[1]).all()
        assert part.x.shape[1:] == (1, 10, 10) and 0 <= part.x.min() and part.x.max() <= 1


def test_multidigits_layout():
    s = multidigits(n_train=50, n_test=50, canvas=12, shift=4, jitter=0)
    x = s.train.x[:, 0]
    assert (x[:, 8:, :4] == 0).all() and (x[:, :4, 8:] == 0).all()   # corners no digit reaches
    j = multidigits(n_train=300, n_test=10, canvas=12, shift=2, jitter=2)
    assert j.train.x.shape[-1] == 12
    occluded = multidigits(n_train=300, n_test=10, overlay="right_on_top").train.meta["left_covered"]
    assert 0 < float(occluded.mean()) < 1


def test_multidigits_derived_tasks():
    s = multidigits(n_train=300, n_test=10, tasks=("left", "sum_parity", "left_greater", "sum"))
    left, parity, greater, total = s.train.targets
    assert s.train.tasks[1].num_classes == 2 and s.train.tasks[3].kind == "regression"
    right = total.long() - left
    assert torch.equal(parity, (left + right) % 2) and torch.equal(greater, (left > right).long())


@pytest.mark.parametrize("kwargs, message", [
    (dict(canvas=9, shift=2), "canvas=9 is too small"),
    (dict(shift=1, jitter=2, canvas=12), "jitter <= shift"),
    (dict(tasks=("left", "colour")), "unknown task"),
    (dict(overlay="min"), "overlay"),
    (dict(n_train=0), "n_train"),
    (dict(canvas=10.0), "canvas must be an int"),
    (dict(test_fraction=1.5), "test_fraction"),
])
def test_multidigits_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        multidigits(**kwargs)


def _write_idx(path, array, gz=False, dtype_code=0x08):
    header = struct.pack(">BBBB", 0, 0, dtype_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


@pytest.fixture
def mnist(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 20)):
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), gz=split == "t10k")
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    (tmp_path / "t10k-images-idx3-ubyte").rename(tmp_path / "t10k-images-idx3-ubyte.gz")
    return tmp_path


def test_multimnist_sener_and_pareto(mnist):
    s = multimnist(mnist)
    assert s.train.x.shape == (40, 1, 28, 28) and s.test.x.shape == (20, 1, 28, 28)
    assert s.task_names == ("top_left", "bottom_right")
    p = multimnist(mnist, variant="pareto", n_train=30, n_test=10)
    assert p.train.x.shape == (30, 1, 36, 36) and (p.train.targets[0] != p.train.targets[1]).all()
    assert torch.equal(multimnist(mnist, seed=1).train.x, multimnist(mnist, seed=1).train.x)
    small = multimnist(mnist, size=14, seed=1)                # Ma et al.'s Fig. 4 scale
    assert small.train.x.shape == (40, 1, 14, 14)
    big = multimnist(mnist, seed=1).train.x
    assert torch.allclose(small.train.x, big.reshape(40, 1, 14, 2, 14, 2).mean((3, 5)))
    assert multimnist_available(mnist)


def test_multimnist_missing_and_bad_files(tmp_path, mnist):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*MTLBOOK_DATA"):
        multimnist(tmp_path / "nowhere")
    assert not multimnist_available(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="size must be a positive int"):
        multimnist(mnist, size=0)
    _write_idx(mnist / "train-labels-idx1-ubyte", np.zeros(40), dtype_code=0x0D)
    with pytest.raises(ValueError, match="unsigned bytes"):
        multimnist(mnist)
    (mnist / "bad").write_bytes(b"\x01\x02")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(mnist / "bad")
    with pytest.raises(ValueError, match="variant"):
        multimnist(mnist, variant="lin")


def test_related_regression_designed_cosines():
    s = mb.data.related_regression(n_train=100, n_test=10, correlation=0.6, num_groups=2, group_size=2)
    cos = s.train.meta["task_cosine"]
    assert torch.allclose(cos, torch.tensor([[1, .6, 0, 0], [.6, 1, 0, 0], [0, 0, 1, .6], [0, 0, .6, 1]],
                                            dtype=torch.float64), atol=1e-10)
    assert s.train.meta["group"].tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="correlation"):
        mb.data.related_regression(correlation=1.5)


def test_teacher_tasks_relatedness_and_scale():
    same = mb.data.teacher_tasks(n_train=4000, n_test=10, relatedness=1.0, noise=0.0)
    assert torch.allclose(same.train.meta["feature_cosine"], torch.ones(2, 2, dtype=torch.float64))
    for y in same.train.targets:
        assert abs(float(y.std()) - 1.0) < 0.1
    apart = mb.data.teacher_tasks(n_train=10, n_test=10, relatedness=0.0)
    assert abs(float(apart.train.meta["feature_cosine"][0, 1])) < 0.3


def test_multitask_data_checks_and_selects():
    x = torch.zeros(4, 2)
    with pytest.raises(TypeError, match="int64"):
        MultiTaskData(x, (torch.zeros(4),), (mb.tasks.classification("c", 2),))
    with pytest.raises(ValueError, match="rows"):
        MultiTaskData(x, (torch.zeros(3),), (mb.tasks.regression("r"),))
    d = MultiTaskData(x, (torch.zeros(4), torch.ones(4)), (mb.tasks.regression("a"), mb.tasks.regression("b")))
    assert d.select_tasks(["b"]).task_names == ("b",) and len(d.head(2)) == 2
    with pytest.raises(ValueError, match="unknown task"):
        d.select_tasks(["c"])


def test_epoch_batches_cover_each_epoch_once():
    d = MultiTaskData(torch.arange(10.0)[:, None], (torch.arange(10.0),), (mb.tasks.regression("r"),))
    it = EpochBatches(d, 3, generator=torch.Generator().manual_seed(0))
    seen = torch.cat([next(it)[0][:, 0] for _ in range(it.steps_per_epoch)])
    assert it.steps_per_epoch == 3 and len(set(seen.tolist())) == 9 and it.epoch == 0
    next(it)
    assert it.epoch == 1
    with pytest.raises(ValueError, match="batch_size"):
        EpochBatches(d, 11)


def test_ensemble_batches_draw_from_each_subset():
    d = MultiTaskData(torch.arange(20.0)[:, None], (torch.arange(20.0),), (mb.tasks.regression("r"),))
    it = EnsembleBatches(d, [torch.arange(0, 3), torch.arange(10, 20)], batch_size=50)
    x, (y,) = next(it)
    assert x.shape == (2, 50, 1) and set(y[0].tolist()) <= {0.0, 1.0, 2.0}
    assert set(y[1].tolist()) <= set(range(10, 20)) and len(set(y[1].tolist())) > 3
