import pytest
import torch

from mtlbook import config


def test_defaults_from_an_empty_environment():
    cfg = config.from_env({})
    assert cfg.mode == "quick" and cfg.seed == 0 and cfg.device == torch.device("cpu")
    assert cfg.quick and cfg.pick(quick=1, full=2) == 1
    assert cfg.progress and cfg.output_dir is None


def test_full_mode_and_cache_off():
    cfg = config.from_env({"MTLBOOK_MODE": "FULL", "MTLBOOK_CACHE": "off", "MTLBOOK_SEED": "7",
                           "MTLBOOK_DEVICE": "cpu", "MTLBOOK_PROGRESS": "0"})
    assert cfg.mode == "full" and not cfg.quick and cfg.pick(quick=1, full=2) == 2
    assert cfg.cache_dir is None and cfg.seed == 7 and not cfg.progress


@pytest.mark.parametrize("env, message", [
    ({"MTLBOOK_MODE": "fast"}, "MTLBOOK_MODE"),
    ({"MTLBOOK_SEED": "x"}, "MTLBOOK_SEED"),
    ({"MTLBOOK_DEVICE": "tpu"}, "MTLBOOK_DEVICE"),
])
def test_bad_environment_is_named(env, message):
    with pytest.raises(ValueError, match=message):
        config.from_env(env)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda():
    with pytest.raises(ValueError, match="no CUDA"):
        config.resolve_device("cuda", "quick")


def test_configure_replaces_fields_and_checks_them():
    before = config.get()
    try:
        cfg = config.configure(seed=5)
        assert cfg.seed == 5 and config.get() is cfg
        with pytest.raises(TypeError, match="unknown configuration"):
            config.configure(colour="red")
        with pytest.raises(TypeError, match="seed must be an int"):
            config.configure(seed="5")
        with pytest.raises(ValueError, match="MTLBOOK_MODE"):
            config.configure(mode="slow")
    finally:
        config._active = before
