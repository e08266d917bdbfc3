"""``mtlbook.setup()``: the one call at the top of every notebook."""

from __future__ import annotations

import random
import warnings

import numpy as np
import torch

from mtlbook import config as _config
from mtlbook import plotting


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a fresh torch generator with that seed."""
    if not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def setup(mode: str | None = None, seed: int | None = None, device: str | None = None) -> _config.Config:
    """Configure the session: mode, seed and device (arguments override ``MTLBOOK_*``), seeds every
    random number generator, selects deterministic torch kernels, torch's thread count
    (``MTLBOOK_THREADS``) and the book's plot style.

    Returns the active :class:`mtlbook.config.Config`.
    """
    changes = {k: v for k, v in dict(mode=mode, seed=seed, device=device).items() if v is not None}
    cfg = _config.configure(**changes) if changes else _config.get()
    seed_everything(cfg.seed)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    warnings.filterwarnings("ignore", message=".*does not have a deterministic implementation.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="torch.nn.modules.lazy")
    plotting.use_book_style()
    return cfg
