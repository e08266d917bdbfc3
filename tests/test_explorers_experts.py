import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from mtlbook.explorers.experts import (experts_at, experts_explorer, gate_difference, gate_figure,
                                       sweep_figure)
from mtlbook.models.ensemble_moe import ExpertsSweep


def _sweep():
    loss = torch.tensor([[1.0, 1.1], [1.2, 1.3], [1.4, 1.5]])            # (models, correlations)
    loss = loss[:, :, None, None].expand(3, 2, 2, 2).clone()
    loss[:, :, 1] += 0.2                                                 # seed 1 is worse
    gates = torch.full((3, 2, 2, 2, 4), 0.25)
    gates[0, 0, :, 0] = torch.tensor([1.0, 0.0, 0.0, 0.0])               # MMoE at p=0.5: disjoint experts
    gates[0, 0, :, 1] = torch.tensor([0.0, 0.0, 0.5, 0.5])
    gates[2] = float("nan")
    return ExpertsSweep(("MMoE", "OMoE", "shared-bottom"), (0.5, 1.0), loss, gates,
                        {"MMoE": 10, "OMoE": 9, "shared-bottom": 10}, torch.tensor([[0.2, 0.26], [1.0, 1.0]]), torch.full((2, 2), 2.0))


def test_experts_at_reads_one_grid_point():
    r = experts_at(_sweep(), 0.5)
    assert r["seeds"] == 2 and np.allclose(r["mean"], [1.1, 1.3, 1.5]) and np.allclose(r["std"], 0.1414, atol=1e-3)
    assert r["tv"] == 1.0 and r["gates"].shape == (2, 4) and abs(r["r"] - 0.23) < 1e-6
    assert experts_at(_sweep(), 1.0)["tv"] == 0.0
    with pytest.raises(ValueError, match="computed values"):
        experts_at(_sweep(), 0.7)


def test_gap_and_gate_difference():
    s = _sweep()
    assert torch.allclose(s.gap(), torch.tensor(-0.1).expand(3, 2))
    assert np.allclose(gate_difference(s), [[1.0, 1.0], [0.0, 0.0]])


def test_figures_and_widget():
    s = _sweep()
    for fig in (sweep_figure(s), gate_figure(s)):
        assert fig.axes
        plt.close(fig)
    with pytest.raises(ValueError, match="gated model"):
        gate_figure(s, "shared-bottom")
    ex = experts_explorer(s)
    assert ex.text.splitlines()[:2] == ["task correlation p = 0.50: 3 models, 2 seeds",
                                        "label correlation of the test targets: 0.23"]
    assert "lowest: MMoE" in ex.text and len(ex.output.outputs) == 1
    ex.controls["p"].value = 1.0
    assert ex.text.startswith("task correlation p = 1.00: 3 models") and "targets: 1.00" in ex.text
    assert ex.updates == 2
