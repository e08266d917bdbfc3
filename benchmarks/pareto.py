"""Costs of the matrix-free tangent machinery of chapter 6, measured side by side.

An MLP (tanh, two hidden layers, four regression heads as one output layer) on a random batch,
with n parameters from about 1e4 to 3e6 (to 1e7 on a GPU). Four comparisons, each interleaved round-robin:

1. One Hessian-vector product (Pearlmutter 1994) as a ratio to one gradient (forward + backward),
   for both engines of :class:`mtlbook.pareto.HessianVectorProduct`: ``"graph"`` (the
   double-backward graph built once, one backward per product) and ``"forward"``
   (forward-over-reverse, nothing kept).
2. One tangent solve (H_α + λI) v = Jᵀβ (Ma, Du & Matusik 2020, eq. 6; λ = 0.1, exactly 20 MINRES
   iterations) with mtlbook's torch MINRES against ``scipy.sparse.linalg.minres`` behind a
   ``LinearOperator`` that wraps the same HVP (a host round trip per product).
3. K = 4 right-hand sides (β = e_1..e_4) in one batched MINRES call against 4 separate calls.
4. Growth with n: the log-log slope of the time per tangent direction against n, from 1e5 to 1e6
   at batch 512, where the matrix products run at BLAS's full speed. At batch 64 (fitted over the
   sizes >= 3e5, shown too) the (64 × w)(w × w) products get faster per flop as w grows, so even
   one gradient's cost grows more slowly than n on a small CPU.

Besides the MLP sweep (batch 64), two cases the targets name: the MLP at n ≈ 1e5 with batch 2048,
and a small CNN (LeNet-like, tanh and average pooling, n ≈ 1e4, batch 64) where the HVPs dominate.
SciPy's solve runs at n <= 1e5 on a CPU (at 1e6 a round takes minutes on a small one) and at
n <= 1e6 on a GPU, where the target (at least 5x faster at n >= 1e6) is measured; the torch solves
run at every size.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from scipy.sparse.linalg import minres as scipy_minres
from torch import nn

from benchmarks.common import interleaved, pick_device, print_table, write_results
from mtlbook.pareto.hvp import ENGINES, module_loss
from mtlbook.pareto.tangents import tangent_directions, weighted_hvp

TASKS, BATCH, BIG_BATCH, CNN_BATCH, SLOPE_BATCH, DAMPING, ITERS = 4, 64, 2048, 64, 512, 0.1, 20


def _width_for(n: int) -> int:
    """Hidden width w of Linear(w, w)-tanh-Linear(w, w)-tanh-Linear(w, 4): n ≈ 2w² + 7w."""
    return max(4, round((-7 + (49 + 8 * n) ** 0.5) / 4))


def _cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(256, 32), nn.Tanh(), nn.Linear(32, TASKS))


def _problem(n: int, dev: torch.device, batch: int = BATCH, cnn: bool = False):
    torch.manual_seed(0)
    w = _width_for(n)
    if cnn:
        model = _cnn().to(dev).eval()
        x = torch.randn(batch, 1, 28, 28, device=dev)
    else:
        model = nn.Sequential(nn.Linear(w, w), nn.Tanh(), nn.Linear(w, w), nn.Tanh(),
                              nn.Linear(w, TASKS)).to(dev).eval()
        x = torch.randn(batch, w, device=dev)
    y = torch.randn(batch, TASKS, device=dev)
    _, params = module_loss(model, lambda call: call(x).sum())
    names = [name for name, p in model.named_parameters() if p.requires_grad]

    def losses_fn(tensors):
        out = torch.func.functional_call(model, dict(zip(names, tensors)), (x,))
        return ((out - y) ** 2).mean(0)                  # (TASKS,) per-task losses

    alpha = torch.full((TASKS,), 1.0 / TASKS, device=dev)
    return model, params, losses_fn, alpha


def _jacobian(losses_fn, params) -> torch.Tensor:
    losses = losses_fn(params)
    rows = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(losses[i], params, retain_graph=True)])
            for i in range(TASKS)]
    return torch.stack(rows).detach()


SLOPE_N_MIN = 300_000


def _slope(rows: list[dict], key: str, n_min: int = SLOPE_N_MIN) -> float | None:
    """Least-squares slope of log(rows[key]) against log(rows["n"]) over the rows with n >= n_min."""
    pts = [(np.log(r["n"]), np.log(r[key])) for r in rows if r["n"] >= n_min and r.get(key)]
    if len(pts) < 2:
        return None
    x, y = np.array(pts).T
    return float(np.polyfit(x, y, 1)[0])


def _solve_row(case: str, n: int, batch: int, losses_fn, params, alpha, dev: torch.device, *,
               rounds: int, with_scipy: bool = True) -> dict:
    """Time one tangent solve (torch against SciPy) and 4 directions batched against separate."""
    numel = sum(p.numel() for p in params)
    hess = weighted_hvp(losses_fn, params, alpha, engine="graph")   # the cheapest per product
    jac = _jacobian(losses_fn, params)
    eye = torch.eye(TASKS, device=dev)
    kw = dict(damping=DAMPING, rtol=0.0, maxiter=ITERS, check_every=ITERS)
    steps = tangent_directions(hess, jac, eye[0], **kw).solve.steps
    rhs0 = (eye[0] @ jac).cpu().numpy()

    def scipy_mv(u):
        vec = torch.from_numpy(np.ascontiguousarray(u, dtype=np.float32).reshape(-1)).to(dev)
        return hess(vec).cpu().numpy()
    lin = LinearOperator((numel, numel), matvec=scipy_mv, dtype=np.float32)
    solves = {
        "torch_1": lambda: tangent_directions(hess, jac, eye[0], **kw),
        "torch_4_batched": lambda: tangent_directions(hess, jac, eye, **kw),
        "torch_4_separate": lambda: [tangent_directions(hess, jac, eye[k], **kw) for k in range(TASKS)],
    }
    if with_scipy:
        solves["scipy_1"] = lambda: scipy_minres(lin, rhs0, shift=-DAMPING, rtol=0.0, maxiter=ITERS)
    s = interleaved(solves, dev, rounds=rounds, warmup=1)
    med = {k: s[k]["median"] for k in s}
    row = {"case": case, "n": numel, "batch": batch, "iters": steps, "torch_ms": 1e3 * med["torch_1"],
           "scipy_ms": None, "torch/scipy": None,
           "batched4_ms": 1e3 * med["torch_4_batched"], "separate4_ms": 1e3 * med["torch_4_separate"],
           "batched/separate": med["torch_4_batched"] / med["torch_4_separate"],
           "per_direction_ms": 1e3 * med["torch_4_batched"] / TASKS}
    if with_scipy:
        row["scipy_ms"], row["torch/scipy"] = 1e3 * med["scipy_1"], med["torch_1"] / med["scipy_1"]
    return row


def main(quick: bool = False, device: str = "auto") -> None:
    dev = pick_device(device)
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 300_000, 1_000_000, 3_000_000)
    if dev.type == "cuda" and not quick:
        sizes += (10_000_000,)
    scipy_max = 1_000_000 if dev.type == "cuda" else 100_000
    hvp_rows, solve_rows = [], []
    for n in sizes:
        model, params, losses_fn, alpha = _problem(n, dev)
        numel = sum(p.numel() for p in params)
        weighted = lambda ts: (alpha * losses_fn(ts)).sum()  # noqa: E731
        ops = {e: weighted_hvp(losses_fn, params, alpha, engine=e) for e in ENGINES}
        v = torch.randn(numel, device=dev)

        def grad():
            torch.autograd.grad(weighted(params), params)
        fns = {"grad": grad, **{e: (lambda op=op: op(v)) for e, op in ops.items()}}
        rounds = (5 if quick else 20) if n <= 100_000 else 5
        t = interleaved(fns, dev, rounds=rounds, warmup=3)
        g = t["grad"]["median"]
        hvp_rows.append({"n": numel, "grad_ms": 1e3 * g,
                         **{f"{e}_ms": 1e3 * t[e]["median"] for e in ENGINES},
                         **{f"{e}_ratio": t[e]["median"] / g for e in ENGINES}})
        rounds = (3 if quick else 6) if n <= 100_000 else 3
        solve_rows.append(_solve_row("mlp", n, BATCH, losses_fn, params, alpha, dev, rounds=rounds,
                                     with_scipy=n <= scipy_max))
    # The two cases the targets name: the MLP at n ≈ 1e5 with batch 2048, and a small CNN.
    _, params, losses_fn, alpha = _problem(100_000, dev, batch=BIG_BATCH)
    solve_rows.append(_solve_row("mlp", 100_000, BIG_BATCH, losses_fn, params, alpha, dev, rounds=3))
    _, params, losses_fn, alpha = _problem(0, dev, batch=CNN_BATCH, cnn=True)
    solve_rows.append(_solve_row("cnn", 0, CNN_BATCH, losses_fn, params, alpha, dev, rounds=3))
    # Growth with n where the products run at full speed: batch 512, n from 1e5 to 1e6.
    for n in (100_000, 300_000) if quick else (100_000, 300_000, 1_000_000):
        _, params, losses_fn, alpha = _problem(n, dev, batch=SLOPE_BATCH)
        solve_rows.append(_solve_row("mlp", n, SLOPE_BATCH, losses_fn, params, alpha, dev, rounds=3,
                                     with_scipy=False))
    sweep = [r for r in solve_rows if r["case"] == "mlp" and r["batch"] == BATCH]
    full_speed = [r for r in solve_rows if r["case"] == "mlp" and r["batch"] == SLOPE_BATCH]
    slopes = {"n_min": SLOPE_N_MIN, "graph_hvp_ms": _slope(hvp_rows, "graph_ms"),
              "forward_hvp_ms": _slope(hvp_rows, "forward_ms"), "grad_ms": _slope(hvp_rows, "grad_ms"),
              "torch_1_solve_ms": _slope(sweep, "torch_ms"), "per_direction_ms": _slope(sweep, "per_direction_ms"),
              "batch512_torch_1_solve_ms": _slope(full_speed, "torch_ms", n_min=0),
              "batch512_per_direction_ms": _slope(full_speed, "per_direction_ms", n_min=0)}
    print("HVP cost per product, as a ratio to one gradient")
    print_table(hvp_rows, ["n", "grad_ms", *(f"{e}_ms" for e in ENGINES), *(f"{e}_ratio" for e in ENGINES)])
    print(f"\nTangent solve, {ITERS} MINRES iterations, damping {DAMPING}, graph-engine HVP")
    print_table(solve_rows, ["case", "n", "batch", "iters", "torch_ms", "scipy_ms", "torch/scipy", "batched4_ms",
                             "separate4_ms", "batched/separate", "per_direction_ms"])
    print(f"\nlog-log slope of cost against n: MLP, batch {BATCH} over n >= {slopes['n_min']}; "
          f"batch {SLOPE_BATCH} over 1e5..1e6")
    print_table([slopes], list(slopes))
    write_results("pareto", dev, {"tasks": TASKS, "batch": BATCH, "big_batch": BIG_BATCH, "cnn_batch": CNN_BATCH,
                                  "slope_batch": SLOPE_BATCH,
                                  "damping": DAMPING, "minres_iterations": ITERS, "hvp": hvp_rows,
                                  "solve": solve_rows, "slope": slopes}, quick=quick)


if __name__ == "__main__":
    main()
