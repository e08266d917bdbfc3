"""Min-norm solvers side by side, and the per-step cost of the aggregation strategies.

Part 1: for K tasks, a Gram matrix G = J Jᵀ of random gradients J (K × n, n = 10000) in three cases:
"random" (independent Gaussian gradients: nearly orthogonal, the min-norm point is interior),
"collinear" (g_k = u + 1e-3·ξ_k, ξ_k ⟂ u: nearly collinear, a badly conditioned G whose min-norm
point is still interior) and "collinear_scaled" (the same with task scales spread over 10^±1, so that the
smallest gradient dominates and the solution is a vertex). Each solver (closed form for K = 2,
Frank-Wolfe with its default tolerance, the exact active-set default) is timed per solve and its relative duality gap gap(α)/‖d‖² measured with
:func:`mtlbook.aggregation.relative_duality_gap`, next to SciPy's SLSQP on the same QP
min αᵀGα s.t. α >= 0, Σα = 1 (its solution clipped to α >= 0 and renormalized before the gap),
run on G divided by its largest diagonal entry (the baseline of the time ratios) and on G as is,
and, when torchjd is installed, its MGDA weighting (Frank-Wolfe) with its default settings.

Part 2: full training steps (forward, the strategy's backward, optimizer step) of MGDA, MGDA-UB,
PCGrad and CAGrad for K = 2, 5, 10 tasks on two hard-sharing MLPs with one Linear head per task (a
small one, and one whose trunk dominates the cost), as a ratio to equal weighting, interleaved
round-robin. Targets: MGDA-UB at most 1.5x at K = 10 on the trunk-dominated model, the full-Jacobian
methods at most (K + 1)x.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize

from benchmarks.common import interleaved, pick_device, print_table, time_call, write_results
from mtlbook.aggregation import MGDA, MGDAUB, CAGrad, PCGrad, gram_matrix, relative_duality_gap, solve_min_norm
from mtlbook.models import hard_sharing
from mtlbook.strategy import StepContext
from mtlbook.tasks import Task
from mtlbook.weighting import EqualWeighting

N = 10_000
CASES = ("random", "collinear", "collinear_scaled")


def make_gram(k: int, case: str, device: torch.device, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if case == "random":
        j = torch.randn(k, N, generator=gen, dtype=torch.float64)
    elif case == "collinear":
        u = torch.randn(1, N, generator=gen, dtype=torch.float64)
        xi = torch.randn(k, N, generator=gen, dtype=torch.float64)
        xi = xi - (xi @ u.T) / (u @ u.T) * u          # noise orthogonal to u: an interior optimum
        j = u + 1e-3 * xi
    elif case == "collinear_scaled":
        u = torch.randn(1, N, generator=gen, dtype=torch.float64)
        scales = 10.0 ** torch.linspace(-1.0, 1.0, k, dtype=torch.float64).unsqueeze(1)
        j = scales * (u + 1e-3 * torch.randn(k, N, generator=gen, dtype=torch.float64))
    else:
        raise ValueError(f"case must be one of {CASES}, got {case!r}")
    return gram_matrix(j.to(device))


def slsqp_weights(g: np.ndarray, scale: bool = True) -> np.ndarray:
    """SLSQP on min αᵀGα over the simplex; ``scale`` divides G by its largest diagonal entry first
    (unscaled, SLSQP can stop at its starting point on a large, badly conditioned G and still report
    success)."""
    k = len(g)
    if scale:
        g = g / np.max(np.diag(g))
    res = minimize(lambda a: a @ g @ a, np.full(k, 1.0 / k), jac=lambda a: 2.0 * g @ a,
                   method="SLSQP", bounds=[(0.0, 1.0)] * k,
                   constraints=({"type": "eq", "fun": lambda a: a.sum() - 1.0,
                                 "jac": lambda a: np.ones_like(a)},),
                   options={"maxiter": 1000, "ftol": 1e-12})
    a = np.clip(res.x, 0.0, None)
    return a / a.sum()


def torchjd_weighting():
    """torchjd's MGDA weighting with its defaults (epsilon = 1e-3, max_iters = 100), or None."""
    try:
        from torchjd.aggregation import MGDAWeighting
    except ImportError:
        return None
    return MGDAWeighting()


def solver_rows(ks, cases, dev, repeat: int) -> list[dict]:
    rows = []
    theirs = torchjd_weighting()
    for case in cases:
        for k in ks:
            gram = make_gram(k, case, dev)
            g_np = gram.cpu().numpy()
            cond = float(np.linalg.cond(g_np))
            slow = repeat if k <= 16 else 3            # SLSQP takes up to seconds per solve at K >= 32
            base = time_call(lambda: slsqp_weights(g_np), dev, repeat=slow, warmup=0)["median"]
            base_gap = float(relative_duality_gap(gram, torch.from_numpy(slsqp_weights(g_np))))
            rows.append({"case": case, "K": k, "solver": "slsqp", "cond": cond,
                         "rel_gap": base_gap, "iters": None, "ms": 1e3 * base, "ratio_slsqp": 1.0})
            raw = time_call(lambda: slsqp_weights(g_np, False), dev, repeat=slow,
                            warmup=0)["median"]
            raw_gap = float(relative_duality_gap(gram, torch.from_numpy(slsqp_weights(g_np, False))))
            rows.append({"case": case, "K": k, "solver": "slsqp_unscaled", "cond": cond,
                         "rel_gap": raw_gap, "iters": None, "ms": 1e3 * raw, "ratio_slsqp": raw / base})
            methods = (["closed_form"] if k == 2 else []) + ["frank_wolfe", "active_set"]
            for m in methods:
                sol = solve_min_norm(gram, method=m)
                t = time_call(lambda m=m: solve_min_norm(gram, method=m), dev, repeat=repeat,
                              warmup=1)["median"]
                rows.append({"case": case, "K": k, "solver": m, "cond": cond,
                             "rel_gap": float(relative_duality_gap(gram, sol.weights)),
                             "iters": int(sol.iterations), "ms": 1e3 * t, "ratio_slsqp": t / base})
            if theirs is not None:
                t = time_call(lambda: theirs(gram), dev, repeat=repeat, warmup=1)["median"]
                rows.append({"case": case, "K": k, "solver": "torchjd", "cond": cond,
                             "rel_gap": float(relative_duality_gap(gram, theirs(gram))),
                             "iters": None, "ms": 1e3 * t, "ratio_slsqp": t / base})
    return rows


MODELS = {  # name: (input shape, trunk width, trunk depth); one Linear head a task
    "small": ((1, 10, 10), 64, 2),
    "trunk": ((3, 32, 32), 512, 4),   # the trunk dominates the cost: ~2.4M shared parameters
}


def strategy_rows(ks, dev, rounds: int, models=tuple(MODELS)) -> list[dict]:
    rows = []
    for model in models:
        shape, width, depth = MODELS[model]
        for k in ks:
            tasks = tuple(Task(f"t{i}", "classification", num_classes=10) for i in range(k))
            torch.manual_seed(0)
            x = torch.randn(64, *shape, device=dev)
            targets = tuple(torch.randint(0, 10, (64,), device=dev) for _ in tasks)
            strategies = {"equal": EqualWeighting(), "mgda": MGDA(), "mgda_ub": MGDAUB(),
                          "pcgrad": PCGrad(seed=0), "cagrad": CAGrad(0.5)}
            steps = {}
            for name, strategy in strategies.items():
                torch.manual_seed(0)
                net = hard_sharing(tasks, shape, width=width, depth=depth).to(dev)
                opt = torch.optim.SGD(net.parameters(), lr=1e-3)
                ctx = StepContext(net, tasks, opt, x, targets, 0, 0)

                def one(strategy=strategy, ctx=ctx):
                    strategy.step(ctx)
                    ctx.step += 1
                steps[name] = one
            times = interleaved(steps, dev, rounds=rounds, warmup=3)
            base, base_min = times["equal"]["median"], times["equal"]["min"]
            rows += [{"model": model, "K": k, "method": n, "median_ms": 1e3 * t["median"],
                      "ratio": t["median"] / base, "min_ms": 1e3 * t["min"],
                      "ratio_of_min": t["min"] / base_min, "target": _target(model, n, k)}
                     for n, t in times.items()]
    return rows


def _target(model: str, method: str, k: int) -> float | None:
    """The ratio to equal weighting each method should stay within: MGDA-UB 1.5 at K = 10 on the
    trunk-dominated model, the full-Jacobian methods K + 1 (K backward passes and a solve)."""
    if method in ("mgda", "pcgrad", "cagrad"):
        return float(k + 1)
    return 1.5 if (model, method, k) == ("trunk", "mgda_ub", 10) else None


def main(quick: bool = False, device: str = "auto") -> None:
    dev = pick_device(device)
    ks = (2, 8, 32) if quick else (2, 4, 8, 16, 32, 64)
    solvers = solver_rows(ks, CASES, dev, repeat=3 if quick else 10)
    print_table(solvers, ["case", "K", "solver", "cond", "rel_gap", "iters", "ms", "ratio_slsqp"])
    rounds = 5 if quick else 30
    steps = strategy_rows((2, 5, 10), dev, rounds=rounds)
    print()
    print_table(steps, ["model", "K", "method", "median_ms", "ratio", "min_ms", "ratio_of_min",
                        "target"])
    write_results("min_norm", dev, {
        "n": N, "ks": list(ks), "cases": list(CASES), "solvers": solvers, "strategies": steps,
        "strategy_models": {name: {"batch": 64, "input": list(shape), "width": w, "depth": d,
                                   "rounds": rounds}
                            for name, (shape, w, d) in MODELS.items()}}, quick=quick)


if __name__ == "__main__":
    main()
