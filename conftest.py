"""Test-session setup: quick mode without progress bars or cache, nbval output rules, and a
per-notebook time table with a hard limit that catches runaway notebooks."""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

# Set before any kernel starts: nbval's kernels inherit this process's environment.
os.environ.setdefault("MTLBOOK_MODE", "quick")
os.environ["MTLBOOK_PROGRESS"] = "0"
os.environ.setdefault("MTLBOOK_CACHE", "off")


def pytest_configure(config):
    # The unit tests' models are tiny: one intra-op thread, as mtlbook.setup() uses in quick mode
    # (OpenMP's busy-waiting makes a second thread many times slower on a shared, busy CPU).
    import torch

    torch.set_num_threads(1)

NOTEBOOK_BUDGET_S = 60.0                    # quick mode, 2-core machine (reported, never asserted)
NOTEBOOK_HARD_LIMIT_S = 3 * NOTEBOOK_BUDGET_S
REPO = Path(__file__).resolve().parent

_notebook_seconds: dict[str, float] = defaultdict(float)


def _notebook_of(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    return path if path.endswith(".ipynb") else None


def pytest_collectstart(collector):
    if getattr(collector, "path", None) is not None and collector.path.suffix == ".ipynb":
        collector.skip_compare += ("text/html", "stderr", "application/vnd.jupyter.widget-view+json")


def pytest_runtest_setup(item):
    nb = _notebook_of(item.nodeid)
    if nb and _notebook_seconds[nb] > NOTEBOOK_HARD_LIMIT_S:
        pytest.fail(f"{nb} has run {_notebook_seconds[nb]:.0f} s, over the hard limit of "
                    f"{NOTEBOOK_HARD_LIMIT_S:.0f} s (3x its {NOTEBOOK_BUDGET_S:.0f} s budget)")


def pytest_runtest_logreport(report):
    nb = _notebook_of(report.nodeid)
    if nb:
        _notebook_seconds[nb] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    tr = terminalreporter
    tr.section("notebook times (quick mode budget %.0f s each)" % NOTEBOOK_BUDGET_S)
    for nb, sec in sorted(_notebook_seconds.items(), key=lambda kv: -kv[1]):
        flag = "  over budget" if sec > NOTEBOOK_BUDGET_S else ""
        tr.write_line(f"{sec:7.1f} s  {nb}{flag}")
    tr.write_line(f"{sum(_notebook_seconds.values()):7.1f} s  in all")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if candidate and Path(candidate).exists():
            return candidate
    return None
