"""Per-step cost of task grouping against joint training (equal weights), measured side by side:
TAG's lookahead affinity every step and every 10 steps, and selective task group updates
(regrouping each batch). Ratios are time per training step over joint training's."""

from __future__ import annotations

import torch

from benchmarks.common import interleaved, pick_device, print_table, write_results
from mtlbook.data import EpochBatches, related_regression
from mtlbook.grouping import AffinityTracker, SelectiveGroupUpdates
from mtlbook.models import hard_sharing
from mtlbook.train import fit
from mtlbook.weighting import EqualWeighting


def main(quick: bool = False, device: str = "auto") -> None:
    dev = pick_device(device)
    steps, rounds = (10, 3) if quick else (50, 7)
    rows = []
    for groups, width in ((2, 32), (4, 64)) if not quick else ((2, 32),):
        split = related_regression(n_train=4096, n_test=256, num_groups=groups, group_size=2,
                                   dim=32, num_sines=2, seed=0).to(dev)
        k = 2 * groups
        runs = {}
        for name, make in (("joint", EqualWeighting),
                           ("tag every 1", lambda: AffinityTracker(1e-3, every=1, keep_history=False)),
                           ("tag every 10", lambda: AffinityTracker(1e-3, every=10, keep_history=False)),
                           ("selective", lambda: SelectiveGroupUpdates(k, decay=0.05, warmup=0))):
            torch.manual_seed(0)
            model = hard_sharing(split.tasks, 32, width=width).to(dev)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            strategy = make()
            sampler = EpochBatches(split.train, 128, generator=torch.Generator().manual_seed(0))
            runs[name] = (lambda m=model, o=opt, s=strategy, b=sampler:
                          fit(m, b, steps=steps, optimizer=o, strategy=s, progress=False))
        times = interleaved(runs, dev, rounds=rounds, warmup=1)
        base = times["joint"]["median"]
        for name, t in times.items():
            rows.append({"tasks": k, "width": width, "method": name,
                         "ms/step": 1e3 * t["median"] / steps, "ratio": t["median"] / base})
    print_table(rows, ["tasks", "width", "method", "ms/step", "ratio"])
    write_results("grouping", dev, {"steps_per_call": steps, "rows": rows}, quick=quick)
