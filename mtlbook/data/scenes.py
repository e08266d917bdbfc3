"""Scenes: a small procedurally generated dense-prediction data set (segmentation, depth, edges).

Each image shows up to ``max_shapes`` flat shapes (disk, square, triangle) in front of a floor. A
shape at depth d ∈ [0.25, 0.75] has a radius proportional to 1/d (perspective); its colour is its
class's hue (reddish disks, greenish squares, bluish triangles) jittered by ±``color_jitter`` per
channel, and dimmed by distance, c · (1 − d/2). The shapes are painted far to near (the painter's algorithm), so
at every pixel the visible surface is the nearest one. Three dense targets come with every image,
as in the NYUv2 set-up of cross-stitch and MTAN (segmentation, depth, and a third geometric task):

- ``semantic``: the class of the visible surface, 0 = background, 1 = disk, 2 = square, 3 = triangle;
- ``depth``: its depth (the floor recedes from 0.9 at the bottom row to 1.0 at the top);
- ``edges``: 1 where a pixel's class differs from one of its 4 neighbours (the class boundaries,
  two pixels thick), else 0.

The tasks are related by construction: edges are a function of the semantic map, and the depth of a
shape is tied to its size. Everything is drawn with NumPy from one seed, so the same seed gives the
same images on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mtlbook.data.core import MultiTaskData, Split
from mtlbook.dense_tasks import depth, edges, segmentation

CLASSES = ("background", "disk", "square", "triangle")
NEAR, FAR = 0.25, 0.75


@dataclass(frozen=True)
class Shape:
    """One shape: class index (1..3), centre (cx, cy) and radius in pixels, depth, RGB colour."""

    cls: int
    cx: float
    cy: float
    radius: float
    depth: float
    color: tuple[float, float, float]


def shape_mask(shape: Shape, size: int) -> np.ndarray:
    """Boolean (size, size) mask of the pixels whose centres lie inside ``shape``."""
    y, x = np.mgrid[0:size, 0:size] + 0.5
    dx, dy, r = x - shape.cx, y - shape.cy, shape.radius
    if shape.cls == 1:
        return dx ** 2 + dy ** 2 <= r ** 2
    if shape.cls == 2:
        return (np.abs(dx) <= 0.85 * r) & (np.abs(dy) <= 0.85 * r)
    if shape.cls == 3:                                   # apex up, base of width 2r at cy + r
        return (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)
    raise ValueError(f"shape.cls must be 1 (disk), 2 (square) or 3 (triangle), got {shape.cls!r}")


def class_edges(semantic: np.ndarray) -> np.ndarray:
    """1 where a pixel's class differs from one of its 4 neighbours inside the image, else 0."""
    s = np.asarray(semantic)
    e = np.zeros(s.shape, dtype=bool)
    dv = s[..., 1:, :] != s[..., :-1, :]
    dh = s[..., :, 1:] != s[..., :, :-1]
    e[..., 1:, :] |= dv
    e[..., :-1, :] |= dv
    e[..., :, 1:] |= dh
    e[..., :, :-1] |= dh
    return e.astype(np.float32)


def render(shapes: list[Shape], size: int, floor_color=(0.45, 0.45, 0.45)) -> dict[str, np.ndarray]:
    """Paint ``shapes`` far to near on the floor: image (3, size, size) without noise, semantic,
    depth and edges (size, size)."""
    rows = (np.arange(size) + 0.5) / size
    depth_map = np.repeat((1.0 - 0.1 * rows)[:, None], size, axis=1)
    shade = (0.7 + 0.3 * rows)[:, None] * np.ones(size)                 # darker far away (top)
    image = np.asarray(floor_color, dtype=np.float64)[:, None, None] * shade
    semantic = np.zeros((size, size), dtype=np.int64)
    for s in sorted(shapes, key=lambda s: -s.depth):
        m = shape_mask(s, size)
        semantic[m] = s.cls
        depth_map[m] = s.depth
        image[:, m] = (np.asarray(s.color) * (1.0 - s.depth / 2))[:, None]
    return {"image": image.astype(np.float32), "semantic": semantic,
            "depth": depth_map.astype(np.float32), "edges": class_edges(semantic)}


HUES = np.array([[0.45, 0.45, 0.45], [0.9, 0.35, 0.3], [0.35, 0.85, 0.35], [0.3, 0.4, 0.9]])


def random_shapes(rng: np.random.Generator, size: int, max_shapes: int,
                  color_jitter: float = 0.15) -> list[Shape]:
    """Between 1 and ``max_shapes`` shapes of random class, place and depth, coloured by class."""
    out = []
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        cls, d = int(rng.integers(1, 4)), float(rng.uniform(NEAR, FAR))
        r = float(size * 0.09 / d * rng.uniform(0.85, 1.15))
        color = np.clip(HUES[cls] + rng.uniform(-color_jitter, color_jitter, 3), 0.0, 1.0)
        out.append(Shape(cls, float(rng.uniform(0.15, 0.85) * size), float(rng.uniform(0.15, 0.85) * size),
                         r, d, tuple(float(c) for c in color)))
    return out


def _check_int(name: str, v, lo: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")


def scenes(*, n_train: int = 1000, n_test: int = 200, size: int = 24, max_shapes: int = 3,
           noise: float = 0.03, color_jitter: float = 0.15, seed: int = 0) -> Split:
    """Train and test images (N, 3, size, size) with targets semantic (N, H, W) int64, depth and
    edges (N, H, W) float32. ``meta["shapes"]`` lists each image's shapes; ``meta["classes"]`` names
    the classes; Gaussian pixel noise of std ``noise`` is added to the images."""
    _check_int("n_train", n_train, 1)
    _check_int("n_test", n_test, 1)
    _check_int("size", size, 8)
    _check_int("max_shapes", max_shapes, 1)
    for name, v in (("noise", noise), ("color_jitter", color_jitter)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {v!r}")
    rng = np.random.default_rng(seed)
    tasks = (segmentation("semantic", len(CLASSES)), depth("depth"), edges("edges"))
    parts = []
    for n in (n_train, n_test):
        all_shapes = [random_shapes(rng, size, max_shapes, color_jitter) for _ in range(n)]
        floors = HUES[0] + rng.uniform(-color_jitter, color_jitter, (n, 3))
        drawn = [render(s, size, f) for s, f in zip(all_shapes, floors)]
        x = np.stack([d["image"] for d in drawn]) + noise * rng.standard_normal((n, 3, size, size))
        targets = tuple(torch.from_numpy(np.stack([d[key] for d in drawn]))
                        for key in ("semantic", "depth", "edges"))
        meta = {"shapes": all_shapes, "classes": CLASSES}
        parts.append(MultiTaskData(torch.from_numpy(x.astype(np.float32)), targets, tasks, meta))
    return Split(*parts)
