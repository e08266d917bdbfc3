"""The adaptive-weighting explorer: a pure view of a precomputed grid of runs, driven headless."""

import pytest
import torch

from mtlbook.explorers.adaptive_weighting import (WeightingGrid, adaptive_weighting_explorer, grid_from_runs,
                                                  weighting_view)
from mtlbook.weighting.runs import Run


def fake_run(models, final, metric="task-normalized test loss", steps=10):
    """A run whose models have weights (e+1, 1) and curves that go from 1 to ``final[e]``."""
    e = len(final)
    weights = torch.stack([torch.tensor([[m + 1.0, 1.0] for m in range(models)])] * steps)
    curves = torch.stack([torch.ones(e, 2), torch.tensor(final)])
    return Run(("a", "b"), weights, torch.tensor([0, steps]), curves, metric)


def grid():
    gn = fake_run(3, [[0.5, 0.9], [0.4, 1.2], [0.3, 1.5]])
    dwa = [fake_run(1, [[0.7, 0.7]]), fake_run(1, [[0.6, 0.8]])]
    base = fake_run(1, [[0.6, 1.0]])
    return grid_from_runs({"gradnorm": ("α", (0.0, 0.5, 1.5)), "dwa": ("T", (1.0, 2.0))},
                          {"gradnorm": gn, "dwa": dwa}, base)


def test_view_reports_weights_finals_and_wins():
    g = grid()
    v = weighting_view(g, "gradnorm", 1)
    assert v["value"] == 0.5 and v["setting"] == "α"
    assert v["weights"].tolist() == [2.0, 1.0]
    assert v["final"].tolist() == pytest.approx([0.4, 1.2])
    assert v["better"].tolist() == [True, False]              # lower loss is better
    assert weighting_view(g, "dwa", 5)["value"] == 2.0         # clipped to the method's grid


def test_accuracy_runs_are_better_when_higher():
    acc = fake_run(1, [[0.9, 0.5]], metric="test accuracy")
    base = fake_run(1, [[0.8, 0.6]], metric="test accuracy")
    g = grid_from_runs({"lbtw": ("α", (0.5,))}, {"lbtw": acc}, base)
    assert weighting_view(g, "lbtw", 0)["better"].tolist() == [True, False]


def test_bad_input():
    g = grid()
    with pytest.raises(ValueError, match="method must be one of"):
        weighting_view(g, "nash", 0)
    with pytest.raises(ValueError, match="level must be"):
        weighting_view(g, "dwa", -1)
    with pytest.raises(ValueError, match="2 settings but 3 runs"):
        grid_from_runs({"dwa": ("T", (1.0, 2.0))}, {"dwa": fake_run(3, [[1, 1]] * 3)}, fake_run(1, [[1, 1]]))
    with pytest.raises(ValueError, match="baseline run"):
        WeightingGrid({}, {})
    with pytest.raises(ValueError, match="lacks runs for settings"):
        WeightingGrid({"dwa": ("T", (1.0,))}, {("equal", 0): fake_run(1, [[1, 1]])})
    with pytest.raises(ValueError, match="holds 2 models"):
        WeightingGrid({}, {("equal", 0): fake_run(2, [[1, 1], [1, 1]])})


def test_explorer_is_driven_by_its_controls():
    ex = adaptive_weighting_explorer(grid())
    assert ex.text.splitlines()[0] == "GradNorm, α = 0"
    ex.controls["level"].value = 2
    assert ex.text.splitlines()[0] == "GradNorm, α = 1.5"
    assert "better than equal weights on 1 of 2 tasks" in ex.text
    ex.controls["method"].value = "dwa"
    assert ex.text.splitlines()[0] == "DWA, T = 2"
    assert ex.output.outputs and "image/png" in ex.output.outputs[0]["data"]
    assert set(ex.controls) == {"method", "level"}
