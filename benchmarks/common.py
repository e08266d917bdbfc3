"""Shared benchmark helpers: timing with warm-up and device synchronization, machine facts, result
tables and atomic JSON results."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from mtlbook.report import atomic_write_bytes

RESULTS = Path(__file__).resolve().parent / "results"


def pick_device(spec: str = "auto") -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, *, repeat: int = 20, warmup: int = 3,
              min_time: float = 0.0) -> dict:
    """Median, min and interquartile range (seconds) of ``repeat`` timed calls after ``warmup``."""
    for _ in range(warmup):
        fn()
    sync(device)
    samples = []
    start_all = time.perf_counter()
    while len(samples) < repeat or time.perf_counter() - start_all < min_time:
        t0 = time.perf_counter()
        fn()
        sync(device)
        samples.append(time.perf_counter() - t0)
    q = statistics.quantiles(samples, n=4) if len(samples) >= 4 else [min(samples), 0, max(samples)]
    return {"median": statistics.median(samples), "min": min(samples), "q1": q[0], "q3": q[2],
            "repeat": len(samples)}


def interleaved(fns: dict[str, Callable[[], object]], device: torch.device, *, rounds: int = 10,
                warmup: int = 2) -> dict[str, dict]:
    """Time several functions in alternation (round-robin), so that machine noise hits them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync(device)
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            sync(device)
            samples[name].append(time.perf_counter() - t0)
    return {k: {"median": statistics.median(v), "min": min(v), "repeat": len(v)} for k, v in samples.items()}


def machine() -> dict:
    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    return info


def print_table(rows: Sequence[dict], columns: Sequence[str]) -> None:
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).rjust(w) for c, w in zip(columns, widths)))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return "" if v is None else str(v)


def write_results(name: str, device: torch.device, payload: dict, *, quick: bool) -> Path:
    """Write ``benchmarks/results/<name>-<cpu|cuda>.json`` with the machine facts; a quick (smoke)
    run writes ``<name>-<cpu|cuda>-quick.json`` instead, which git ignores, so that it never
    replaces the recorded results."""
    path = RESULTS / f"{name}-{device.type}{'-quick' if quick else ''}.json"
    doc = {"benchmark": name, "device": device.type, "quick": quick, "machine": machine(), **payload}
    atomic_write_bytes(path, (json.dumps(doc, indent=1, default=float) + "\n").encode())
    print(f"wrote {path.relative_to(RESULTS.parent.parent)}")
    return path
