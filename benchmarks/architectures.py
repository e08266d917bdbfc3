"""Sharing architectures: parameter count and time per training step (forward, backward, Adam) of
every chapter-2 architecture at two widths, for the MLP and the small CNN backbone, as ratios to
hard sharing measured in the same run (interleaved rounds)."""

from __future__ import annotations

import torch

import mtlbook as mb
from benchmarks.common import interleaved, pick_device, print_table, write_results
from mtlbook import models as M

TASKS = (mb.tasks.classification("digit", 10), mb.tasks.regression("sum"))
SHAPE = (1, 10, 10)


def builders(kind: str, width: int) -> dict:
    common = dict(kind=kind, width=width)
    return {
        "hard_sharing": lambda: M.hard_sharing(TASKS, SHAPE, **common),
        "single_task": lambda: M.single_task_networks(TASKS, SHAPE, **common),
        "soft_sharing": lambda: M.soft_sharing(TASKS, SHAPE, **common),
        "cross_stitch": lambda: M.cross_stitch(TASKS, SHAPE, **common),
        "sluice": lambda: M.sluice(TASKS, SHAPE, **common),
        "mtan": lambda: M.mtan(TASKS, SHAPE, **common),
        "mrn": lambda: M.mrn(TASKS, SHAPE, **common),
        "mmoe": lambda: M.mmoe(TASKS, SHAPE, kind=kind, num_experts=8, expert_width=width // 4),
        "omoe": lambda: M.omoe(TASKS, SHAPE, kind=kind, num_experts=8, expert_width=width // 4),
        "shared_bottom": lambda: M.shared_bottom(TASKS, SHAPE, kind=kind, width=width),
    }


def _step_fn(net, x, ys):
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    strategy = (M.PenalizedStrategy(mb.weighting.EqualWeighting(), net.penalty)
                if hasattr(net, "penalty") else mb.weighting.EqualWeighting())

    def step():
        ctx = mb.strategy.StepContext(net, TASKS, opt, x, ys, 0, 0)
        strategy.step(ctx)
    return step


def main(quick: bool = False, device: str = "auto") -> None:
    dev = pick_device(device)
    torch.manual_seed(0)
    batch = 128
    x = torch.rand(batch, *SHAPE, device=dev)
    ys = (torch.randint(0, 10, (batch,), device=dev), torch.randn(batch, device=dev))
    rows = []
    for kind in ("mlp", "cnn"):
        for width in (32, 128):
            nets = {name: make().to(dev) for name, make in builders(kind, width).items()}
            times = interleaved({n: _step_fn(net, x, ys) for n, net in nets.items()}, dev,
                                rounds=3 if quick else 20)
            base_t, base_p = times["hard_sharing"]["median"], M.count_parameters(nets["hard_sharing"])
            for name, net in nets.items():
                p = M.count_parameters(net)
                rows.append({"backbone": kind, "width": width, "model": name, "parameters": p,
                             "param_ratio": p / base_p, "step_ms": 1e3 * times[name]["median"],
                             "time_ratio": times[name]["median"] / base_t})
    print_table(rows, ["backbone", "width", "model", "parameters", "param_ratio", "step_ms", "time_ratio"])
    write_results("architectures", dev, {"batch": batch, "input_shape": SHAPE, "rows": rows},
                  quick=quick)


if __name__ == "__main__":
    main()
