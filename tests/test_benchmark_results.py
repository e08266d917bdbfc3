"""Benchmark results: a quick (smoke) run never replaces the recorded results."""

from __future__ import annotations

import json

import torch

from benchmarks import common


def test_quick_runs_write_beside_the_recorded_results(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    cpu = torch.device("cpu")
    recorded = common.write_results("demo", cpu, {"rows": [1]}, quick=False)
    quick = common.write_results("demo", cpu, {"rows": [2]}, quick=True)
    assert (recorded.name, quick.name) == ("demo-cpu.json", "demo-cpu-quick.json")
    assert json.loads(recorded.read_text())["rows"] == [1]
    doc = json.loads(quick.read_text())
    assert doc["rows"] == [2] and doc["quick"] is True and doc["device"] == "cpu"
