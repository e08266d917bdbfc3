"""Per-step cost of each loss weighting as a ratio to equal weighting, measured side by side.

Hard-sharing networks on random inputs with K classification tasks; each method runs full training
steps (forward, its backward, optimizer step) on the same batch, interleaved round-robin. Two cases:

* ``mlp``: a 3-layer MLP trunk whose last layer W (GradNorm's layer) is a third of the trunk's work,
  so GradNorm's K per-task gradients of W (K extra products of W's size) weigh heavily.
* ``cnn``: a convolutional trunk, then W, a linear layer on the pooled features, as in the GradNorm
  paper's networks (convolutions, then the last shared layer): W holds most of the trunk's
  parameters but little of its work, and the convolutions dominate the cost.
"""

from __future__ import annotations

import torch

from benchmarks.common import interleaved, pick_device, print_table, write_results
from mtlbook.models import hard_sharing
from mtlbook.strategy import StepContext
from mtlbook.tasks import Task
from mtlbook.weighting import METHODS, make_weighting


def case(kind: str, dev: torch.device, quick: bool) -> dict:
    if kind == "mlp":
        k, batch, width, depth, shape = (2, 64, 64, 2, (1, 10, 10)) if quick else (4, 256, 256, 3, (1, 10, 10))
        rounds = 10 if quick else 50
    else:
        k, batch, width, depth, shape = (2, 16, 64, 2, (3, 16, 16)) if quick else (4, 64, 256, 2, (3, 16, 16))
        rounds = 5 if quick else 30
    tasks = tuple(Task(f"t{i}", "classification", num_classes=10) for i in range(k))
    torch.manual_seed(0)
    x = torch.randn(batch, *shape, device=dev)
    targets = tuple(torch.randint(0, 10, (batch,), device=dev) for _ in tasks)
    steps = {}
    for name in METHODS:
        torch.manual_seed(1)
        net = hard_sharing(tasks, shape, kind=kind, width=width, depth=depth).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)
        strategy = make_weighting(name, tasks)
        ctx = StepContext(net, tasks, opt, x, targets, 0, 0)

        def one(strategy=strategy, ctx=ctx):
            strategy.step(ctx)
            ctx.step += 1
        steps[name] = one
    w = net.last_shared_layer()
    trunk = sum(p.numel() for p in net.shared_parameters())
    times = interleaved(steps, dev, rounds=rounds, warmup=3)
    base, base_min = times["equal"]["median"], times["equal"]["min"]
    rows = [{"method": n, "median_ms": 1e3 * t["median"], "ratio": t["median"] / base,
             "min_ms": 1e3 * t["min"], "ratio_of_min": t["min"] / base_min}
            for n, t in times.items()]
    print(f"\n-- {kind} trunk: K={k}, batch {batch}, input {shape}, width {width}, depth {depth}; "
          f"W {type(w).__name__} with {sum(p.numel() for p in w.parameters())} of {trunk} trunk parameters")
    print_table(rows, ["method", "median_ms", "ratio", "min_ms", "ratio_of_min"])
    return {"model": kind, "tasks": k, "batch": batch, "input_shape": list(shape), "width": width,
            "depth": depth, "w_parameters": sum(p.numel() for p in w.parameters()),
            "trunk_parameters": trunk, "rounds": rounds, "results": rows}


def main(quick: bool = False, device: str = "auto") -> None:
    dev = pick_device(device)
    cases = [case(kind, dev, quick) for kind in ("mlp", "cnn")]
    write_results("weighting_step", dev, {"cases": cases}, quick=quick)


if __name__ == "__main__":
    main()
