"""MultiDigits: two handwritten digits overlaid on a small canvas, built from scikit-learn's
bundled 8×8 digits (no download).

The recipe follows Sener & Koltun's MultiMNIST (NeurIPS 2018) at a smaller scale: the left digit
sits at the top-left corner, the right digit is shifted down and right by ``shift`` pixels and the
two are overlaid with a pixel-wise maximum (or with the right digit drawn on top, which occludes
the left one). The base digits are split into train and test *before* pairing, so no test digit
appears in any training pair. Everything is deterministic given ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import torch

from mtlbook.data.core import MultiTaskData, Split
from mtlbook.tasks import Task, classification, regression

DIGIT_SIZE = 8
LOOPED = (0, 6, 8, 9)  # digits drawn with a closed loop

# name -> (label function of (left, right) class arrays, task)
DERIVED_TASKS: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], Task]] = {
    "left": (lambda l, r: l, classification("left", 10)),
    "right": (lambda l, r: r, classification("right", 10)),
    "sum_parity": (lambda l, r: (l + r) % 2, classification("sum_parity", 2)),
    "left_greater": (lambda l, r: (l > r).astype(int), classification("left_greater", 2)),
    "sum_mod3": (lambda l, r: (l + r) % 3, classification("sum_mod3", 3)),
    "left_ge5": (lambda l, r: (l >= 5).astype(int), classification("left_ge5", 2)),
    "right_ge5": (lambda l, r: (r >= 5).astype(int), classification("right_ge5", 2)),
    "left_parity": (lambda l, r: l % 2, classification("left_parity", 2)),
    "right_parity": (lambda l, r: r % 2, classification("right_parity", 2)),
    "left_loop": (lambda l, r: np.isin(l, LOOPED).astype(int), classification("left_loop", 2)),
    "right_loop": (lambda l, r: np.isin(r, LOOPED).astype(int), classification("right_loop", 2)),
    "sum": (lambda l, r: (l + r).astype(np.float32), regression("sum")),
}


@lru_cache(maxsize=1)
def _base_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    images, labels = (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _stratified_split(labels: np.ndarray, test_fraction: float, rng: np.random.Generator):
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(test_fraction * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _pairs(pool: np.ndarray, labels: np.ndarray, n: int, rng: np.random.Generator):
    """n (left, right) index pairs from ``pool`` whose classes differ."""
    left = rng.choice(pool, size=n)
    right = rng.choice(pool, size=n)
    same = labels[left] == labels[right]
    while same.any():
        right[same] = rng.choice(pool, size=int(same.sum()))
        same = labels[left] == labels[right]
    return left, right


def _compose(images, left, right, canvas, shift, jitter, overlay, rng):
    n = len(left)
    out = np.zeros((n, canvas, canvas), dtype=np.float32)
    top = np.zeros((n, canvas, canvas), dtype=np.float32)
    lo = rng.integers(0, jitter + 1, size=(n, 2))                      # left: (0..j, 0..j)
    ro = shift + rng.integers(-jitter, jitter + 1, size=(n, 2))        # right: shift ± j
    for offsets, idx, dst in ((lo, left, out), (ro, right, top)):
        for dy, dx in {tuple(o) for o in offsets.tolist()}:
            rows = np.flatnonzero((offsets[:, 0] == dy) & (offsets[:, 1] == dx))
            dst[rows, dy:dy + DIGIT_SIZE, dx:dx + DIGIT_SIZE] = images[idx[rows]]
    covered = ((out > 0) & (top > 0)).sum((1, 2)) / np.maximum((out > 0).sum((1, 2)), 1)
    image = np.maximum(out, top) if overlay == "max" else np.where(top > 0, top, out)
    return image, covered.astype(np.float32)


def multidigits(*, n_train: int = 10_000, n_test: int = 2_000, canvas: int = 10, shift: int = 2,
                jitter: int = 0, tasks: Sequence[str] = ("left", "right"), overlay: str = "max",
                test_fraction: float = 0.3, seed: int = 0) -> Split:
    """Build MultiDigits: ``x`` is (N, 1, canvas, canvas) in [0, 1]; the targets are ``tasks``
    (default: the left and the right digit's class; see ``DERIVED_TASKS`` for the others).

    ``shift`` moves the right digit down and right (smaller means more overlap: ``shift=1`` on a
    9-pixel canvas makes the left digit clearly harder); ``jitter`` moves each digit by up to that
    many pixels; ``overlay`` is ``"max"`` (symmetric) or ``"right_on_top"`` (the left digit is
    occluded wherever the right one has ink). ``meta["left_covered"]`` is, per example, the
    fraction of the left digit's ink pixels that the right digit also inks.
    """
    for name, v in (("n_train", n_train), ("n_test", n_test), ("canvas", canvas), ("shift", shift),
                    ("jitter", jitter), ("seed", seed)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be positive, got {n_train} and {n_test}")
    if jitter < 0 or shift < jitter:
        raise ValueError(f"need 0 <= jitter <= shift so the right digit stays on the canvas, "
                         f"got shift={shift}, jitter={jitter}")
    if canvas < DIGIT_SIZE + shift + jitter:
        raise ValueError(f"canvas={canvas} is too small for shift={shift} and jitter={jitter}: "
                         f"need canvas >= {DIGIT_SIZE} + shift + jitter = {DIGIT_SIZE + shift + jitter}")
    if overlay not in ("max", "right_on_top"):
        raise ValueError(f"overlay must be 'max' or 'right_on_top', got {overlay!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if isinstance(tasks, str) or not tasks:
        raise ValueError("tasks must be a non-empty sequence of task names")
    unknown = [t for t in tasks if t not in DERIVED_TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; available: {sorted(DERIVED_TASKS)}")

    images, labels = _base_digits()
    rng = np.random.default_rng(seed)
    train_pool, test_pool = _stratified_split(labels, test_fraction, rng)
    parts = []
    for pool, n in ((train_pool, n_train), (test_pool, n_test)):
        left, right = _pairs(pool, labels, n, rng)
        x, covered = _compose(images, left, right, canvas, shift, jitter, overlay, rng)
        l, r = labels[left], labels[right]
        targets = []
        for t in tasks:
            fn, task = DERIVED_TASKS[t]
            y = torch.from_numpy(np.ascontiguousarray(fn(l, r)))
            targets.append(y.long() if task.kind == "classification" else y.float())
        meta = {"left_index": torch.from_numpy(left), "right_index": torch.from_numpy(right),
                "left_covered": torch.from_numpy(covered),
                "canvas": canvas, "shift": shift, "jitter": jitter, "overlay": overlay}
        parts.append(MultiTaskData(torch.from_numpy(x)[:, None], tuple(targets),
                                   tuple(DERIVED_TASKS[t][1] for t in tasks), meta))
    return Split(*parts)
