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
