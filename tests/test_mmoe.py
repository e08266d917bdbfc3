import pytest
import torch

import mtlbook as mb
from mtlbook.models.mmoe import MixtureOfExperts, mmoe, omoe, shared_bottom

TASKS = (mb.tasks.classification("left", 10), mb.tasks.regression("sum"))
SHAPE = (1, 10, 10)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_one_expert_equals_shared_bottom(kind):
    torch.manual_seed(0)
    moe = mmoe(TASKS, SHAPE, kind=kind, num_experts=1, expert_width=12)
    sb = shared_bottom(TASKS, SHAPE, kind=kind, width=12)
    sb.load_state_dict({k: v for k, v in moe.state_dict().items() if not k.startswith("gates")})
    x = torch.rand(7, *SHAPE)
    for a, b in zip(moe(x), sb(x)):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_mmoe_output_is_the_gated_mixture(kind):
    torch.manual_seed(0)
    net = mmoe(TASKS, SHAPE, kind=kind, num_experts=3, expert_width=5)
    x = torch.rand(4, *SHAPE)
    z = net.stem(x)
    g = net.gate_weights(z)
    assert g.shape == (2, 4, 3) and torch.allclose(g.sum(-1), torch.ones(2, 4))
    for k, out in enumerate(net(x)):
        mix = sum(g[k, :, i:i + 1] * net.experts[i](z) for i in range(3))
        assert torch.allclose(out, net.towers[k](mix), atol=1e-6)


def test_omoe_gives_every_task_the_same_mixture():
    torch.manual_seed(0)
    net = omoe(TASKS, 20, num_experts=4)
    x = torch.randn(6, 20)
    z = net.stem(x)
    assert net.gate_weights(z).shape == (1, 6, 4)
    seen = []
    hooks = [t.register_forward_hook(lambda m, i, o: seen.append(i[0])) for t in net.towers]
    net(x)
    for h in hooks:
        h.remove()
    assert torch.equal(seen[0], seen[1])


def test_gates_read_stem_features_for_cnn_and_raw_input_for_mlp():
    assert mmoe(TASKS, SHAPE, kind="mlp").gates[0].in_features == 100
    cnn = mmoe(TASKS, SHAPE, kind="cnn")
    assert cnn.gates[0].in_features == 32 * 2 * 2 and len(list(cnn.stem.parameters())) == 4


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="gating"):
        MixtureOfExperts(TASKS, SHAPE, gating="two")
    with pytest.raises(ValueError, match="num_experts=1"):
        MixtureOfExperts(TASKS, SHAPE, num_experts=2, gating="none")
    with pytest.raises(ValueError, match="num_experts"):
        mmoe(TASKS, SHAPE, num_experts=0)
