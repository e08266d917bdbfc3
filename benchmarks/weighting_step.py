"""Per-step cost of each loss weighting as a ratio to equal weighting, measured side by side.

A hard-sharing MLP on random inputs with K classification tasks; each method runs full training
steps (forward, its backward, optimizer step) on the same batch, interleaved round-robin.
"""

from __future__ import annotations

import torch

from benchmarks.common import interleaved, pick_device, print_table, write_results
from mtlbook.models import hard_sharing
from mtlbook.strategy import StepContext
from mtlbook.tasks import Task
from mtlbook.weighting import METHODS, make_weighting


def main(quick: bool = False, device: str = "auto") -> None:
    dev = pick_device(device)
    k, batch, width, depth = (2, 64, 64, 2) if quick else (4, 256, 256, 3)
    tasks = tuple(Task(f"t{i}", "classification", num_classes=10) for i in range(k))
    torch.manual_seed(0)
    x = torch.randn(batch, 1, 10, 10, device=dev)
    targets = tuple(torch.randint(0, 10, (batch,), device=dev) for _ in tasks)
    steps = {}
    for name in METHODS:
        net = hard_sharing(tasks, (1, 10, 10), width=width, depth=depth).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)
        strategy = make_weighting(name, tasks)
        ctx = StepContext(net, tasks, opt, x, targets, 0, 0)

        def one(strategy=strategy, ctx=ctx):
            strategy.step(ctx)
            ctx.step += 1
        steps[name] = one
    times = interleaved(steps, dev, rounds=10 if quick else 50, warmup=3)
    base, base_min = times["equal"]["median"], times["equal"]["min"]
    rows = [{"method": n, "median_ms": 1e3 * t["median"], "ratio": t["median"] / base,
             "min_ms": 1e3 * t["min"], "ratio_of_min": t["min"] / base_min}
            for n, t in times.items()]
    print_table(rows, ["method", "median_ms", "ratio", "min_ms", "ratio_of_min"])
    write_results("weighting_step", dev, {"tasks": k, "batch": batch, "width": width,
                                          "depth": depth, "results": rows})


if __name__ == "__main__":
    main()
