"""Synthetic regression task families with controllable relatedness (Ma et al., MMoE, KDD 2018, §4).

For each task k a weight vector w_k ∈ R^d is built from orthonormal directions so that tasks in the
same group have cosine similarity ``correlation`` and tasks in different groups are orthogonal:
w_k = c (√p u_g + √(1−p) u_k). (MMoE writes the pair as w1 = c u1, w2 = c (p u1 + √(1−p²) u2); the
two constructions have the same Gram matrix, and since x ~ N(0, I) is rotation invariant they give
the same distribution of labels.) The labels are

    y_k = w_kᵀx + Σ_{i=1}^{m} sin(α_i w_kᵀx + β_i) + ε,   ε ~ N(0, noise²),

with α_i = i and β_i = (i − 1)² (the paper leaves α, β unspecified; these are the values of the public
generator of its authors' group). The Pearson correlation of the labels falls as p falls.
"""

from __future__ import annotations

import numpy as np
import torch

from mtlbook.data.core import MultiTaskData, Split
from mtlbook.tasks import regression


def task_weight_vectors(num_groups: int, group_size: int, correlation: float, dim: int,
                        scale: float, rng: np.random.Generator) -> np.ndarray:
    """(K, dim) weight vectors: cosine ``correlation`` within a group, 0 across groups."""
    k = num_groups * group_size
    if dim < num_groups + k:
        raise ValueError(f"dim={dim} is too small for {num_groups} groups of {group_size} tasks: "
                         f"need dim >= {num_groups + k}")
    q, _ = np.linalg.qr(rng.standard_normal((dim, num_groups + k)))
    basis = q.T                                                        # orthonormal rows
    groups = np.repeat(np.arange(num_groups), group_size)
    p = correlation
    return scale * (np.sqrt(p) * basis[groups] + np.sqrt(1 - p) * basis[num_groups:])


def related_regression(*, n_train: int = 10_000, n_test: int = 2_000, correlation: float = 0.9,
                       num_groups: int = 1, group_size: int = 2, dim: int = 100, num_sines: int = 10,
                       scale: float = 1.0, noise: float = 0.01, seed: int = 0) -> Split:
    """A family of ``num_groups × group_size`` regression tasks (see the module docstring).

    ``meta["task_cosine"]`` holds the designed K×K cosine similarity of the task weights and
    ``meta["group"]`` each task's group.
    """
    if not 0.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must be in [0, 1], got {correlation}")
    for name, v in (("n_train", n_train), ("n_test", n_test), ("num_groups", num_groups),
                    ("group_size", group_size), ("dim", dim)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if num_sines < 0 or noise < 0 or scale <= 0:
        raise ValueError(f"need num_sines >= 0, noise >= 0 and scale > 0, got {num_sines}, {noise}, {scale}")
    rng = np.random.default_rng(seed)
    w = task_weight_vectors(num_groups, group_size, correlation, dim, scale, rng)
    alpha = np.arange(1, num_sines + 1, dtype=np.float64)
    beta = (alpha - 1) ** 2
    k = len(w)
    names = [f"g{g}t{t}" if num_groups > 1 else f"task{t}" for g in range(num_groups)
             for t in range(group_size)]
    tasks = tuple(regression(n) for n in names)
    cosine = (w @ w.T) / np.outer(np.linalg.norm(w, axis=1), np.linalg.norm(w, axis=1))
    meta = {"task_cosine": torch.from_numpy(cosine), "group": torch.arange(num_groups).repeat_interleave(group_size)}
    parts = []
    for n in (n_train, n_test):
        x = rng.standard_normal((n, dim))
        z = x @ w.T                                                    # (n, K)
        y = z + np.sin(alpha[None, None, :] * z[..., None] + beta).sum(-1)
        y = y + noise * rng.standard_normal((n, k))
        parts.append(MultiTaskData(torch.from_numpy(x).float(),
                                   tuple(torch.from_numpy(np.ascontiguousarray(y[:, i])).float() for i in range(k)),
                                   tasks, meta))
    return Split(*parts)


def teacher_tasks(*, n_train: int = 2_000, n_test: int = 2_000, num_tasks: int = 2,
                  relatedness: float = 1.0, dim: int = 20, hidden: int = 1, noise: float = 0.5,
                  clean_test: bool = True, seed: int = 0) -> Split:
    """Regression tasks produced by small teacher networks that share a fraction of their features.

    Task k is y_k = c_k a_kᵀ tanh(W_k x) + ε with x ~ N(0, I_dim), ε ~ N(0, noise²) and c_k scaling
    the noise-free signal to unit variance (so ``noise`` is the noise-to-signal ratio of std's). Each
    teacher feature row is W_k = √ρ · S + √(1−ρ) · P_k, mixing a feature matrix S common to all tasks
    with a private one P_k (entries N(0, 1/dim)); output weights a_k are drawn per task. With
    ρ = ``relatedness`` = 1 every task reads the same features (the tasks still differ through a_k and
    their noise), with ρ = 0 the features are independent. This is the setting in which a shared
    representation can pool evidence across tasks (Baxter, JAIR 2000; Caruana, 1997).

    With ``clean_test`` (default) the test targets are the noise-free teacher outputs, so a test MSE
    measures what a network learned (its excess risk) rather than the noise it cannot predict.
    ``meta["feature_cosine"]`` holds the K×K mean cosine between the tasks' teacher feature rows.
    """
    if not 0.0 <= relatedness <= 1.0:
        raise ValueError(f"relatedness must be in [0, 1], got {relatedness}")
    for name, v in (("n_train", n_train), ("n_test", n_test), ("num_tasks", num_tasks), ("dim", dim),
                    ("hidden", hidden)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((hidden, dim)) / np.sqrt(dim)
    private = rng.standard_normal((num_tasks, hidden, dim)) / np.sqrt(dim)
    w = np.sqrt(relatedness) * shared + np.sqrt(1 - relatedness) * private      # (K, h, d)
    a = rng.standard_normal((num_tasks, hidden))
    probe = np.random.default_rng(seed + 1).standard_normal((20_000, dim))
    c = 1.0 / np.einsum("kh,nkh->nk", a, np.tanh(np.einsum("khd,nd->nkh", w, probe))).std(0)
    rows = w / np.linalg.norm(w, axis=-1, keepdims=True)
    cosine = np.einsum("ihd,jhd->ij", rows, rows) / hidden
    tasks = tuple(regression(f"task{k}") for k in range(num_tasks))
    meta = {"feature_cosine": torch.from_numpy(cosine), "relatedness": relatedness, "noise": noise}
    parts = []
    for n, noisy in ((n_train, True), (n_test, not clean_test)):
        x = rng.standard_normal((n, dim))
        clean = c * np.einsum("kh,nkh->nk", a, np.tanh(np.einsum("khd,nd->nkh", w, x)))
        y = clean + noise * rng.standard_normal(clean.shape) if noisy else clean
        parts.append(MultiTaskData(torch.from_numpy(x).float(),
                                   tuple(torch.from_numpy(np.ascontiguousarray(y[:, k])).float()
                                         for k in range(num_tasks)), tasks, meta))
    return Split(*parts)
