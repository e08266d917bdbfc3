"""Regression tasks in planted groups: teacher networks that share features within a group only.

Tasks k = 1..K = ``num_groups × group_size`` have labels y_k = c_k a_kᵀ tanh(W_k x) + ε with
x ~ N(0, I_dim), ε ~ N(0, noise²) and c_k scaling the noise-free signal to unit variance. The
teacher feature rows of task k in group g mix a feature matrix S_g of its group with a private
one P_k,

    W_k = √ρ · S_g + √(1 − ρ) · P_k,        the rows of every S_g and P_k orthonormal,

and, with ``shared_readout`` (default), the output weights mix the same way,
a_k = √ρ · b_g + √(1 − ρ) · b_k (entries N(0, 1)); otherwise a_k is drawn for each task alone.
With ρ = ``relatedness`` close to 1 the tasks of a group are nearly the same function (each with
its own noise); tasks of different groups read orthogonal features, so (x being Gaussian) their labels are
independent. Without a shared readout the
tasks of a group read the same features but combine them differently, so their labels need not be
correlated. This is the two-task relatedness family of chapter 1 with a planted block structure: the
ground truth that task-grouping methods (Standley et al., ICML 2020; Fifty et al., NeurIPS 2021;
Jeong & Yoon, ICLR 2025) should find. Test targets are noise-free by default.

``meta["group"]`` holds each task's group, ``meta["groups"]`` the planted groups as tuples of task
indices, ``meta["feature_cosine"]`` the K×K mean cosine between the tasks' teacher feature rows and
``meta["label_correlation"]`` the K×K correlation of the noise-free labels (Monte Carlo, 20 000 inputs).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlbook.data.core import MultiTaskData, Split
from mtlbook.tasks import regression


def grouped_teacher_tasks(*, n_train: int = 2_000, n_test: int = 2_000, num_groups: int = 3,
                          group_size: int = 2, relatedness: float = 1.0, dim: int = 20,
                          hidden: int = 2, noise: float = 0.5, shared_readout: bool = True,
                          clean_test: bool = True, seed: int = 0) -> Split:
    """K = ``num_groups × group_size`` regression tasks in planted groups (module docstring).

    Tasks are named ``g{group}t{member}`` and ordered group by group.
    """
    if not isinstance(relatedness, (int, float)) or not 0.0 <= relatedness <= 1.0:
        raise ValueError(f"relatedness must be a number in [0, 1], got {relatedness!r}")
    for name, v in (("n_train", n_train), ("n_test", n_test), ("num_groups", num_groups),
                    ("group_size", group_size), ("dim", dim), ("hidden", hidden)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not isinstance(noise, (int, float)) or noise < 0:
        raise ValueError(f"noise must be a number >= 0, got {noise!r}")
    k = num_groups * group_size
    group = np.repeat(np.arange(num_groups), group_size)
    rng = np.random.default_rng(seed)
    if dim < (num_groups + k) * hidden:
        raise ValueError(f"dim must be >= (num_groups + K) * hidden = {(num_groups + k) * hidden} for "
                         f"orthogonal teacher features, got {dim}")
    basis = np.linalg.qr(rng.standard_normal((dim, (num_groups + k) * hidden)))[0].T
    basis = basis.reshape(num_groups + k, hidden, dim)                                # orthonormal rows
    shared, private = basis[:num_groups], basis[num_groups:]
    w = np.sqrt(relatedness) * shared[group] + np.sqrt(1 - relatedness) * private     # (K, h, d)
    a = rng.standard_normal((k, hidden))
    if shared_readout:
        a = np.sqrt(relatedness) * rng.standard_normal((num_groups, hidden))[group] + np.sqrt(1 - relatedness) * a

    def signal(x: np.ndarray) -> np.ndarray:                                         # (n, K)
        return np.einsum("kh,nkh->nk", a, np.tanh(np.einsum("khd,nd->nkh", w, x)))

    c = 1.0 / signal(np.random.default_rng(seed + 1).standard_normal((20_000, dim))).std(0)
    rows = w / np.linalg.norm(w, axis=-1, keepdims=True)
    tasks = tuple(regression(f"g{g}t{t}") for g in range(num_groups) for t in range(group_size))
    meta = {"group": torch.from_numpy(group), "relatedness": float(relatedness), "noise": float(noise),
            "label_correlation": torch.from_numpy(np.corrcoef(signal(np.random.default_rng(seed + 2)
                                                                     .standard_normal((20_000, dim))).T)),
            "groups": tuple(tuple(range(g * group_size, (g + 1) * group_size)) for g in range(num_groups)),
            "feature_cosine": torch.from_numpy(np.einsum("ihd,jhd->ij", rows, rows) / hidden)}
    parts = []
    for n, noisy in ((n_train, True), (n_test, not clean_test)):
        x = rng.standard_normal((n, dim))
        y = c * signal(x)
        if noisy:
            y = y + noise * rng.standard_normal(y.shape)
        parts.append(MultiTaskData(torch.from_numpy(x).float(),
                                   tuple(torch.from_numpy(np.ascontiguousarray(y[:, i])).float()
                                         for i in range(k)), tasks, meta))
    return Split(*parts)
