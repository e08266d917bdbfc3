"""The GradNorm toy: T regression tasks of very different scales that share most of their structure
(Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018, §4).

Task i is f_i(x) = σ_i tanh((B + ε_i) x), with B (shared) and ε_i (task-specific) constant
(out × in) matrices of i.i.d. entries N(0, 10²) and N(0, 3.5²). The paper leaves the input
distribution open; with unscaled inputs the pre-activations are of size ~100 and tanh saturates
(the targets become σ_i · sign(·)). Here the targets are computed at u = s x with x ~ N(0, I) and
s chosen (``input_std=None``) so that each pre-activation has unit variance,
s = 1 / √(in · (10² + 3.5²)); the network is given the standardized input x (the same function
of a rescaled input, so that its first layer starts at its usual scale). The scale σ_i is what
GradNorm acts on; the test metric is the task-normalized loss Σ_i L_i / L_i(0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mtlbook.data.core import MultiTaskData, Split
from mtlbook.tasks import regression


def gradnorm_toy(sigmas: Sequence[float] = (1.0, 100.0), *, n_train: int = 10_000, n_test: int = 2_000,
                 in_features: int = 250, out_features: int = 100, shared_std: float = 10.0,
                 task_std: float = 3.5, input_std: float | None = None, seed: int = 0) -> Split:
    """The toy tasks ``task0 … task{T-1}`` with scales ``sigmas`` (T = len(sigmas)); each target is
    (N, ``out_features``). ``meta["sigmas"]`` holds the scales and ``meta["input_std"]`` the input
    scale used (see the module docstring)."""
    sig = np.asarray(sigmas, dtype=np.float64)
    if sig.ndim != 1 or len(sig) < 1 or not np.all(np.isfinite(sig)) or np.any(sig <= 0):
        raise ValueError(f"sigmas must be a non-empty sequence of positive numbers, got {sigmas!r}")
    for name, v in (("n_train", n_train), ("n_test", n_test), ("in_features", in_features),
                    ("out_features", out_features)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not (shared_std >= 0 and task_std >= 0 and shared_std + task_std > 0):
        raise ValueError(f"shared_std and task_std must be >= 0 and not both 0, got {shared_std}, {task_std}")
    if input_std is None:
        input_std = 1.0 / np.sqrt(in_features * (shared_std ** 2 + task_std ** 2))
    elif not input_std > 0:
        raise ValueError(f"input_std must be > 0 (or None for unit-variance pre-activations), got {input_std!r}")
    rng = np.random.default_rng(seed)
    b = shared_std * rng.standard_normal((out_features, in_features))
    eps = task_std * rng.standard_normal((len(sig), out_features, in_features))
    weights = b + eps                                                       # (T, out, in)
    tasks = tuple(regression(f"task{i}", out_features) for i in range(len(sig)))
    meta = {"sigmas": torch.from_numpy(sig.copy()), "input_std": float(input_std)}
    parts = []
    for n in (n_train, n_test):
        x = rng.standard_normal((n, in_features))
        y = sig[:, None, None] * np.tanh(np.einsum("toi,ni->tno", weights, input_std * x))
        parts.append(MultiTaskData(torch.from_numpy(x).float(),
                                   tuple(torch.from_numpy(np.ascontiguousarray(y[i])).float()
                                         for i in range(len(sig))), tasks, meta))
    return Split(*parts)
