import json
import math

import matplotlib.pyplot as plt
import pytest

from mtlbook import config, report


@pytest.fixture
def output(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "_active", config.from_env({"MTLBOOK_OUTPUT": str(tmp_path)}))
    return tmp_path


def test_figures_and_numbers_are_saved_in_order(output):
    for name in ("second", "first"):
        fig, ax = plt.subplots()
        ax.plot([0, 1])
        report.figure(fig, name, show=False)
    assert (output / "first.png").read_bytes().startswith(b"\x89PNG")
    assert [f["name"] for f in json.loads((output / "figures.json").read_text())] == ["second", "first"]
    assert report.number("w0", 1.95, "final w0") == 1.95
    report.number("w0", 2.0, "final w0, again")
    entries = json.loads((output / "numbers.json").read_text())
    assert entries == [{"name": "w0", "value": 2.0, "text": "final w0, again"}]


def test_nothing_written_without_output(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "_active", config.from_env({}))
    monkeypatch.chdir(tmp_path)
    fig, _ = plt.subplots()
    report.figure(fig, "x", show=False)
    report.number("x", 1, "one")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call, error", [
    (lambda: report.number("Bad Name", 1, "x"), ValueError),
    (lambda: report.number("x", math.nan, "x"), ValueError),
    (lambda: report.number("x", "one", "x"), TypeError),
    (lambda: report.number("x", 1, " "), ValueError),
    (lambda: report.figure("not a figure", "x"), TypeError),
])
def test_bad_input(call, error):
    with pytest.raises(error):
        call()
