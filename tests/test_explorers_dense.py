import matplotlib.pyplot as plt
import pytest
import torch

from mtlbook.data import scenes
from mtlbook.explorers.dense import alpha_figure, mask_figure, scenes_figure
from mtlbook.models.dense import DenseMTAN


def test_dense_figures():
    data = scenes(n_train=6, n_test=2, size=8).train
    fig = scenes_figure(data, [0, 1], predictions={"net": list(data.targets)})
    assert len(fig.axes) == 4 * 4
    plt.close(fig)
    with pytest.raises(ValueError, match="indices"):
        scenes_figure(data, [6])
    net = DenseMTAN(data.tasks, 3, 4, num_models=2)
    fig = mask_figure(net.masks(data.x[:2]), data.x[0], data.task_names, model=1)
    assert len(fig.axes) == 3 * 5 + 1
    plt.close(fig)
    fig = alpha_figure(torch.eye(3).expand(4, 3, 3), data.task_names)
    assert len(fig.axes) == 4 + 1
    plt.close(fig)


def test_metrics_figure():
    from mtlbook.explorers.dense import metrics_figure

    data = scenes(n_train=2, n_test=2, size=8)
    fig = metrics_figure({"a": torch.rand(2, 3), "b": torch.rand(2, 3)}, data.tasks)
    assert len(fig.axes) == 3
    plt.close(fig)


def test_scene_view_and_explorer():
    from mtlbook.explorers.dense import scene_explorer, scene_view

    data = scenes(n_train=2, n_test=3, size=8, seed=2).test
    perfect = [t[:3].clone() for t in data.targets]
    blank = [torch.zeros_like(perfect[0]), torch.zeros_like(perfect[1]), torch.zeros_like(perfect[2])]
    preds = {"perfect": perfect, "blank": blank}
    r = scene_view(data, preds, 1, "perfect")
    assert [v for _, v in r["scores"]] == [1.0, 0.0, 1.0]
    assert r["shapes"] == [["background", "disk", "square", "triangle"][s.cls] for s in data.meta["shapes"][1]]
    b = scene_view(data, preds, 1, "blank")
    assert b["scores"][0][1] < 1.0 and b["scores"][2][1] == 0.0
    with pytest.raises(ValueError, match="network"):
        scene_view(data, preds, 0, "other")
    with pytest.raises(ValueError, match="index"):
        scene_view(data, preds, 3, "perfect")
    ex = scene_explorer(data, preds)
    assert ex.text.startswith("test image 0: ") and len(ex.output.outputs) == 1
    ex.controls["network"].value = "blank"
    ex.controls["image"].value = 2
    assert ex.text.startswith("test image 2: ") and "blank: " in ex.text and ex.updates == 3
