import numpy as np
import pytest
import torch

from mtlbook.data import scenes
from mtlbook.data.scenes import CLASSES, Shape, class_edges, render, shape_mask


def test_same_seed_same_scenes_other_seed_other_scenes():
    a, b, c = (scenes(n_train=20, n_test=5, size=16, seed=s) for s in (3, 3, 4))
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.targets[1], b.test.targets[1])
    assert not torch.equal(a.train.x, c.train.x)


def test_shapes_and_dtypes():
    s = scenes(n_train=12, n_test=4, size=24)
    assert s.train.x.shape == (12, 3, 24, 24) and s.test.x.shape == (4, 3, 24, 24)
    sem, dep, edg = s.train.targets
    assert sem.shape == dep.shape == edg.shape == (12, 24, 24)
    assert sem.dtype == torch.long and dep.dtype == edg.dtype == torch.float32
    assert set(sem.unique().tolist()) <= set(range(len(CLASSES))) and set(edg.unique().tolist()) <= {0.0, 1.0}
    assert s.task_names == ("semantic", "depth", "edges")
    assert [t.output_size for t in s.tasks] == [4, 1, 1]
    assert 0.25 <= float(dep.min()) and float(dep.max()) <= 1.0


def test_edges_are_exactly_the_class_boundaries():
    s = scenes(n_train=30, n_test=2, size=20, seed=1)
    sem, _, edg = (t.numpy() for t in s.train.targets)
    # brute force over every pixel and its 4 neighbours
    want = np.zeros_like(edg)
    n, h, w = sem.shape
    for i in range(h):
        for j in range(w):
            for di, dj in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                a, b = i + di, j + dj
                if 0 <= a < h and 0 <= b < w:
                    want[:, i, j] = np.maximum(want[:, i, j], sem[:, i, j] != sem[:, a, b])
    assert np.array_equal(edg, want) and edg.sum() > 0


def test_nearer_shape_occludes_and_sets_the_depth():
    near = Shape(2, 8.0, 8.0, 4.0, 0.3, (1.0, 0.0, 0.0))
    far = Shape(1, 10.0, 10.0, 5.0, 0.6, (0.0, 0.0, 1.0))
    for order in ([near, far], [far, near]):                   # drawing order must not matter
        r = render(order, 16)
        both = shape_mask(near, 16) & shape_mask(far, 16)
        only_far = shape_mask(far, 16) & ~shape_mask(near, 16)
        assert both.any() and only_far.any()
        assert (r["semantic"][both] == 2).all() and np.allclose(r["depth"][both], 0.3)
        assert (r["semantic"][only_far] == 1).all() and np.allclose(r["depth"][only_far], 0.6)
        assert np.allclose(r["image"][:, both], (np.array([1.0, 0, 0]) * 0.85)[:, None])


def test_visible_depth_is_the_nearest_shape_covering_each_pixel():
    s = scenes(n_train=40, n_test=1, size=16, seed=5, noise=0.0)
    dep = s.train.targets[1].numpy()
    for i, shapes in enumerate(s.train.meta["shapes"]):
        for sh in shapes:
            m = shape_mask(sh, 16)
            assert (dep[i][m] <= sh.depth + 1e-6).all()


def test_background_is_class_zero_and_depth_recedes_upwards():
    r = render([], 12)
    assert (r["semantic"] == 0).all() and r["edges"].sum() == 0
    assert (np.diff(r["depth"][:, 0]) < 0).all() and r["depth"].max() <= 1.0


def test_class_edges_of_a_square():
    sem = np.zeros((6, 6), dtype=np.int64)
    sem[2:4, 2:4] = 1
    e = class_edges(sem)
    assert e.sum() == 4 + 8 and e[2:4, 2:4].all() and e[0].sum() == 0


def test_noise_and_input_checks():
    a = scenes(n_train=4, n_test=2, size=8, noise=0.0)
    b = scenes(n_train=4, n_test=2, size=8, noise=0.1)
    assert not torch.equal(a.train.x, b.train.x) and torch.equal(a.train.targets[0], b.train.targets[0])
    for kw, word in ((dict(n_train=0), "n_train"), (dict(size=4), "size"), (dict(size=16.0), "size"),
                     (dict(max_shapes=0), "max_shapes"), (dict(noise=-1), "noise"), (dict(n_test=True), "n_test")):
        with pytest.raises(ValueError, match=word):
            scenes(**kw)
    with pytest.raises(ValueError, match="cls"):
        shape_mask(Shape(7, 1, 1, 1, 0.5, (1, 1, 1)), 8)
