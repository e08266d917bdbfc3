import pytest
import torch

from mtlbook.models import MixtureOfExperts
from mtlbook.models.ensemble_moe import EnsembleMixtureOfExperts, correlation_sweep, matching_width
from mtlbook.tasks import regression

TASKS = (regression("a"), regression("b"))


def _copy_from(ens: EnsembleMixtureOfExperts, ref: MixtureOfExperts, e: int) -> None:
    w, n = ens.expert_width, ens.num_experts
    with torch.no_grad():
        for i, f in enumerate(ref.experts):
            ens.experts.weight[e, :, i * w:(i + 1) * w] = f[0].weight.T
            ens.experts.bias[e, 0, i * w:(i + 1) * w] = f[0].bias
        for k, g in enumerate(ref.gates):
            ens.gates.weight[e, :, k * n:(k + 1) * n] = g.weight.T
            ens.gates.bias[e, 0, k * n:(k + 1) * n] = g.bias
        for tower, ref_tower in zip(ens.towers, ref.towers):
            for layer, lin in zip(tower.layers, (ref_tower[0], ref_tower[2])):
                layer.weight[e] = lin.weight.T
                layer.bias[e, 0] = lin.bias


@pytest.mark.parametrize("gating,experts", [("multi", 4), ("one", 4), ("none", 1)])
def test_each_side_by_side_model_equals_the_single_model(gating, experts):
    torch.manual_seed(0)
    ens = EnsembleMixtureOfExperts(3, TASKS, 6, num_experts=experts, expert_width=5, tower_hidden=4, gating=gating)
    ref = MixtureOfExperts(TASKS, 6, num_experts=experts, expert_width=5, tower_hidden=4, gating=gating)
    _copy_from(ens, ref, 1)
    x = torch.randn(7, 6)
    for a, b in zip(ens(x), ref(x)):
        assert a.shape == (3, 7, 1) and torch.allclose(a[1], b, atol=1e-5)
    assert ens.parameters_per_model() == sum(p.numel() for p in ref.parameters())
    if gating != "none":
        g = ens.gate_weights(x)
        assert torch.allclose(g[1], ref.gate_weights(x), atol=1e-6)
        assert torch.allclose(g.sum(-1), torch.ones_like(g.sum(-1)))


def test_per_model_inputs_and_gradients_reach_every_parameter():
    ens = EnsembleMixtureOfExperts(2, TASKS, 6, num_experts=3, expert_width=4)
    outs = ens(torch.randn(2, 5, 6))
    sum(o.sum() for o in outs).backward()
    for name, p in ens.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_matching_width_matches_the_parameter_count():
    ens = EnsembleMixtureOfExperts(1, TASKS, 100)
    w = matching_width(100, 2, ens.parameters_per_model())
    sb = EnsembleMixtureOfExperts(1, TASKS, 100, num_experts=1, expert_width=w, gating="none")
    assert abs(sb.parameters_per_model() - ens.parameters_per_model()) <= 117


def test_correlation_sweep_shapes_on_a_tiny_run():
    r = correlation_sweep((0.2, 1.0), seeds=2, steps=3, n_train=64, n_test=32, dim=10, num_experts=3,
                          expert_width=4, batch_size=16)
    assert r.models == ("MMoE", "OMoE", "shared-bottom")
    assert r.test_loss.shape == (3, 2, 2, 2) and r.gates.shape == (3, 2, 2, 2, 3)
    assert torch.isnan(r.gates[2]).all() and torch.allclose(r.gates[:2].sum(-1), torch.ones(2, 2, 2, 2))
    assert torch.equal(r.gates[1, ..., 0, :], r.gates[1, ..., 1, :])           # OMoE: one gate
    assert r.gap().shape == (3, 2) and r.label_correlation.shape == r.label_variance.shape == (2, 2)
    assert (r.label_correlation[1] > 0.99).all()


def test_input_checks():
    with pytest.raises(ValueError, match="gating"):
        EnsembleMixtureOfExperts(1, TASKS, 4, gating="two")
    with pytest.raises(ValueError, match="num_experts=1"):
        EnsembleMixtureOfExperts(1, TASKS, 4, gating="none")
    with pytest.raises(ValueError, match="num_models"):
        EnsembleMixtureOfExperts(0, TASKS, 4)
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        EnsembleMixtureOfExperts(1, TASKS, 4)(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="correlations"):
        correlation_sweep((1.5,))
    with pytest.raises(ValueError, match="seeds"):
        correlation_sweep((0.5,), seeds=0)
