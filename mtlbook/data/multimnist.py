"""MultiMNIST from MNIST IDX files the reader already has (nothing is downloaded).

Two recipes:

- ``"sener"`` (Sener & Koltun, NeurIPS 2018; the default): every MNIST image is paired with a random
  partner; on a 36×36 canvas the first sits at [0:28, 0:28] and the partner at [6:34, 6:34],
  overlaid with a pixel-wise maximum, then the canvas is resized to 28×28 (nearest neighbour).
  Tasks: the top-left and the bottom-right digit. As many pairs as MNIST images (60k / 10k).
- ``"pareto"`` (Lin et al., Pareto MTL, NeurIPS 2019): two digits of *different* classes, one at the
  top-left and one at the bottom-right of a 36×36 canvas, each moved by up to 4 pixels; no resize;
  120k training and 20k test pairs by default. (The paper gives the ranges, not the exact offsets:
  here the top-left digit starts at (0..4, 0..4) and the bottom-right one at (4..8, 4..8).)
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mtlbook import config as _config
from mtlbook.data.core import MultiTaskData, Split
from mtlbook.tasks import classification

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) of unsigned bytes into a uint8 array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != UBYTE:
        raise ValueError(f"{path} holds IDX type 0x{dtype_code:02x}; MNIST files hold unsigned "
                         f"bytes (0x{UBYTE:02x})")
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(shape))
    if len(raw) - header != count:
        raise ValueError(f"{path}: header says {shape} ({count} bytes), file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(root: Path) -> dict[str, Path]:
    found, missing = {}, []
    for key, name in FILES.items():
        for candidate in (root / name, root / f"{name}.gz"):
            if candidate.exists():
                found[key] = candidate
                break
        else:
            missing.append(name)
    if missing:
        raise FileNotFoundError(
            f"MultiMNIST needs the MNIST IDX files in {root} (plain or .gz): missing "
            f"{', '.join(missing)}. Put them there, pass root=..., or set MTLBOOK_DATA "
            f"(files are looked for in $MTLBOOK_DATA/mnist).")
    return found


def _load_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{images_path} must hold 28x28 images, got shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{labels_path} must hold one label per image of {images_path}")
    if labels.max(initial=0) > 9:
        raise ValueError(f"{labels_path} holds labels above 9")
    return images.astype(np.float32) / 255.0, labels.astype(np.int64)


def _sener(images, labels, n, rng):
    n = len(images) if n is None else n
    first = rng.permutation(len(images))[:n] if n <= len(images) else rng.integers(0, len(images), n)
    partner = rng.integers(0, len(images), size=len(first))
    canvas = np.zeros((len(first), 36, 36), dtype=np.float32)
    canvas[:, 0:28, 0:28] = images[first]
    canvas[:, 6:34, 6:34] = np.maximum(canvas[:, 6:34, 6:34], images[partner])
    x = F.interpolate(torch.from_numpy(canvas)[:, None], size=(28, 28), mode="nearest")
    return x, labels[first], labels[partner]


def _pareto(images, labels, n, rng):
    first = rng.integers(0, len(images), size=n)
    partner = rng.integers(0, len(images), size=n)
    same = labels[first] == labels[partner]
    while same.any():
        partner[same] = rng.integers(0, len(images), size=int(same.sum()))
        same = labels[first] == labels[partner]
    canvas = np.zeros((n, 36, 36), dtype=np.float32)
    tl = rng.integers(0, 5, size=(n, 2))
    br = 8 - rng.integers(0, 5, size=(n, 2))
    for offsets, idx in ((tl, first), (br, partner)):
        for dy, dx in {tuple(o) for o in offsets.tolist()}:
            rows = np.flatnonzero((offsets[:, 0] == dy) & (offsets[:, 1] == dx))
            region = canvas[rows, dy:dy + 28, dx:dx + 28]
            canvas[rows, dy:dy + 28, dx:dx + 28] = np.maximum(region, images[idx[rows]])
    return torch.from_numpy(canvas)[:, None], labels[first], labels[partner]


def _root(root: str | Path | None) -> Path:
    return Path(root) if root is not None else _config.get().data_dir / "mnist"


def multimnist_available(root: str | Path | None = None) -> bool:
    """Whether the four MNIST IDX files are in ``root`` (default ``$MTLBOOK_DATA/mnist``)."""
    try:
        _find(_root(root))
    except FileNotFoundError:
        return False
    return True


def multimnist(root: str | Path | None = None, *, variant: str = "sener", n_train: int | None = None,
               n_test: int | None = None, size: int | None = None, seed: int = 0) -> Split:
    """MultiMNIST (see the module docstring). ``root`` holds the four MNIST IDX files; by default
    ``$MTLBOOK_DATA/mnist``. ``n_train``/``n_test`` default to the recipe's sizes. ``size`` scales
    the images to size × size by averaging over areas (Ma et al.'s Fig. 4 uses 14 × 14)."""
    if variant not in ("sener", "pareto"):
        raise ValueError(f"variant must be 'sener' or 'pareto', got {variant!r}")
    for name, v in (("n_train", n_train), ("n_test", n_test), ("size", size)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{name} must be a positive int or None, got {v!r}")
    files = _find(_root(root))
    rng = np.random.default_rng(seed)
    parts = []
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = _load_split(files[f"{split}_images"], files[f"{split}_labels"])
        if variant == "sener":
            x, l, r = _sener(images, labels, n, rng)
        else:
            x, l, r = _pareto(images, labels, n if n is not None else 2 * len(images), rng)
        if size is not None:
            x = F.interpolate(x, size=(size, size), mode="area")
        parts.append(MultiTaskData(
            x, (torch.from_numpy(l), torch.from_numpy(r)),
            (classification("top_left", 10), classification("bottom_right", 10)),
            {"variant": variant}))
    return Split(*parts)
