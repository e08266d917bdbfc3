import matplotlib.pyplot as plt
import pytest
import torch

from mtlbook import models as M
from mtlbook.data import related_regression
from mtlbook.explorers import architectures as A


@pytest.fixture(scope="module")
def grid():
    rhos = (0.0, 1.0)
    splits = [related_regression(n_train=64, n_test=64, correlation=r, num_groups=2, group_size=2, dim=8,
                                 seed=0) for r in rhos]
    return A.architecture_grid(splits, rhos, (8, 12), seeds=2, steps=3, batch_size=16,
                               architectures=("single_task", "hard_sharing", "cross_stitch", "sluice"))


def test_grid_shapes_parameters_and_delta_m(grid):
    assert grid.metrics.shape == (4, 2, 2, 2, 4)
    dm = grid.delta_m()
    assert dm.shape == (4, 2, 2, 2)
    assert torch.allclose(dm[0].mean(-1), torch.zeros(2, 2, dtype=dm.dtype), atol=1e-4)  # baseline: 0 on average
    c = (8 * 12 + 12) + (12 * 12 + 12)
    assert grid.parameters[("hard_sharing", 12)] == c + 4 * 13
    assert grid.parameters[("cross_stitch", 12)] == 4 * (c + 13) + 2 * 16
    assert grid.groups.tolist() == [0, 0, 1, 1]


def test_pick_architecture_reads_one_point(grid):
    r = A.pick_architecture(grid, "hard_sharing", 1.0, 8)
    assert r["parameters"] == grid.parameters[("hard_sharing", 8)]
    assert torch.allclose(r["metric_mean"], grid.metrics[1, 0, 1].mean(0))
    assert r["delta_m"] == pytest.approx(float(grid.delta_m()[1, 0, 1].mean()))
    assert sorted(r["all_delta_m"]) == sorted(grid.architectures) and 1 <= r["rank"] <= 4
    with pytest.raises(ValueError, match="rho must be one of"):
        A.pick_architecture(grid, "hard_sharing", 0.5, 8)
    with pytest.raises(ValueError, match="architecture must be one of"):
        A.pick_architecture(grid, "mtan", 1.0, 8)


def test_alpha_matrix_of_cross_stitch_and_sluice(grid):
    cs = A.alpha_matrix(grid, "cross_stitch", 0.0, 12, layer=1)
    model = grid.runs[("cross_stitch", 12)].models[0]
    assert torch.equal(cs["alpha"], model.alphas[1].detach())
    assert cs["same_task"] == pytest.approx(float(model.alphas[1].detach().diagonal().mean()))
    sl = A.alpha_matrix(grid, "sluice", 1.0, 8, layer=0)
    assert sl["alpha"].shape == (8, 8) and len(sl["labels"]) == 8 and sl["beta"].shape == (4, 2)
    # three steps from the block-identity start: own subspaces dominate
    assert sl["same_task"] > abs(sl["across_group"])
    with pytest.raises(ValueError, match="cross_stitch' or 'sluice"):
        A.alpha_matrix(grid, "hard_sharing", 0.0, 8, layer=0)
    with pytest.raises(ValueError, match="layer must be"):
        A.alpha_matrix(grid, "sluice", 0.0, 8, layer=5)


def test_widgets_are_driven_by_their_controls(grid):
    ex = A.architecture_picker(grid)
    ex.controls["architecture"].value = "sluice"
    ex.controls["width"].value = 8
    ex.controls["rho"].value = 0.0
    p, q = grid.parameters[("sluice", 8)], grid.parameters[("single_task", 8)]
    assert ex.text.splitlines()[0] == f"sluice, relatedness 0.0, width 8: {p} parameters ({p / q:.2f} x single-task)"
    assert "Δm against single-task" in ex.text and len(ex.output.outputs) == 1
    viewer = A.alpha_viewer(grid)
    viewer.controls["architecture"].value = "sluice"
    assert viewer.text.splitlines()[0].endswith("a 8x8 matrix") and "β" in viewer.text
    viewer.controls["architecture"].value = "cross_stitch"
    assert viewer.text.splitlines()[0].endswith("a 4x4 matrix") and "β" not in viewer.text


def test_diagrams_draw_every_architecture_and_a_tree():
    fig = A.draw_architectures(["hard_sharing", "single_task", "soft_sharing", "cross_stitch", "sluice",
                                "mrn", "mtan", "mmoe"])
    assert len([ax for ax in fig.axes if ax.get_title()]) == 8
    plt.close(fig)
    with pytest.raises(ValueError, match="no diagram"):
        A.draw_architecture(plt.subplots()[1], "transformer")
    tree = M.SharingTree(3, (((0, 1, 2),), ((0, 1), (2,))))
    fig = A.draw_tree(tree, ["a", "b", "c"])
    assert {"a", "b", "c"} <= {t.get_text() for t in fig.axes[0].texts}
    plt.close("all")
