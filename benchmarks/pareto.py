"""Costs of the matrix-free tangent machinery of chapter 6, measured side by side.

An MLP (tanh, two hidden layers, four regression heads as one output layer) on a random batch,
with n parameters from about 1e4 to 1e6. Three comparisons, each interleaved round-robin:

1. One Hessian-vector product (Pearlmutter 1994) as a ratio to one gradient (forward + backward),
   for both engines of :class:`mtlbook.pareto.HessianVectorProduct`: ``"graph"`` (the
   double-backward graph built once, one backward per product) and ``"forward"``
   (forward-over-reverse, nothing kept).
2. One tangent solve (H_α + λI) v = Jᵀβ (Ma, Du & Matusik 2020, eq. 6; λ = 0.1, exactly 20 MINRES
   iterations) with mtlbook's torch MINRES against ``scipy.sparse.linalg.minres`` behind a
   ``LinearOperator`` that wraps the same HVP (a host round trip per product).
3. K = 4 right-hand sides (β = e_1..e_4) in one batched MINRES call against 4 separate calls.

The solves (2, 3) run at n <= 1e5 only: at 1e6 they take minutes on a small CPU.
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

TASKS, BATCH, DAMPING, ITERS = 4, 64, 0.1, 20


def _width_for(n: int) -> int:
    """Hidden width w of Linear(w, w)-tanh-Linear(w, w)-tanh-Linear(w, 4): n ≈ 2w² + 7w."""
    return max(4, round((-7 + (49 + 8 * n) ** 0.5) / 4))


def _problem(n: int, dev: torch.device):
    torch.manual_seed(0)
    w = _width_for(n)
    model = nn.Sequential(nn.Linear(w, w), nn.Tanh(), nn.Linear(w, w), nn.Tanh(),
                          nn.Linear(w, TASKS)).to(dev).eval()
    x = torch.randn(BATCH, w, device=dev)
    y = torch.randn(BATCH, TASKS, device=dev)
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


def main(quick: bool = False, device: str = "auto") -> None:
    dev = pick_device(device)
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
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

        if n > 100_000:                                  # solves at 1e6 would take minutes on a CPU
            continue
        # Tangent solves with the graph engine (the cheapest per product at a fixed batch).
        hess = ops["graph"]
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
            "scipy_1": lambda: scipy_minres(lin, rhs0, shift=-DAMPING, rtol=0.0, maxiter=ITERS),
            "torch_4_batched": lambda: tangent_directions(hess, jac, eye, **kw),
            "torch_4_separate": lambda: [tangent_directions(hess, jac, eye[k], **kw) for k in range(TASKS)],
        }
        rounds = 3 if quick else 6
        s = interleaved(solves, dev, rounds=rounds, warmup=2)
        med = {k: s[k]["median"] for k in s}
        solve_rows.append({"n": numel, "iters": steps, "torch_ms": 1e3 * med["torch_1"],
                           "scipy_ms": 1e3 * med["scipy_1"], "torch/scipy": med["torch_1"] / med["scipy_1"],
                           "batched4_ms": 1e3 * med["torch_4_batched"],
                           "separate4_ms": 1e3 * med["torch_4_separate"],
                           "batched/separate": med["torch_4_batched"] / med["torch_4_separate"]})
    print("HVP cost per product, as a ratio to one gradient")
    print_table(hvp_rows, ["n", "grad_ms", *(f"{e}_ms" for e in ENGINES), *(f"{e}_ratio" for e in ENGINES)])
    print(f"\nTangent solve, {ITERS} MINRES iterations, damping {DAMPING}, graph-engine HVP")
    print_table(solve_rows, ["n", "iters", "torch_ms", "scipy_ms", "torch/scipy", "batched4_ms",
                             "separate4_ms", "batched/separate"])
    write_results("pareto", dev, {"tasks": TASKS, "batch": BATCH, "damping": DAMPING,
                                  "minres_iterations": ITERS, "hvp": hvp_rows, "solve": solve_rows})


if __name__ == "__main__":
    main()
