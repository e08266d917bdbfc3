import warnings

import pytest
import torch

from mtlbook import cache


def test_round_trip_and_key(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"w": torch.arange(3.0), "note": "ok", "n": 3}

    cfg = {"steps": 10, "sigmas": [1, 100]}
    first = cache.load_or_compute("toy", cfg, compute, folder=tmp_path)
    second = cache.load_or_compute("toy", cfg, compute, folder=tmp_path)
    assert len(calls) == 1 and torch.equal(first["w"], second["w"]) and second["note"] == "ok"
    cache.load_or_compute("toy", {**cfg, "steps": 11}, compute, folder=tmp_path)
    cache.load_or_compute("toy", cfg, compute, version="2", folder=tmp_path)
    assert len(calls) == 3
    assert not list(tmp_path.glob("*.tmp")), "no temporary file is left behind"


def test_key_is_order_independent():
    assert cache.config_key("a", {"x": 1, "y": 2}) == cache.config_key("a", {"y": 2, "x": 1})
    assert cache.config_key("a", {"x": 1}) != cache.config_key("b", {"x": 1})


def test_corrupted_entry_is_recomputed(tmp_path):
    cache.store("toy", {"k": 1}, {"v": torch.ones(2)}, folder=tmp_path)
    data = next(tmp_path.glob("toy-*.pt"))
    data.write_bytes(data.read_bytes()[:-3] + b"xyz")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cache.load("toy", {"k": 1}, folder=tmp_path) is None
    assert any("failed verification" in str(w.message) for w in caught)


def test_disabled_cache_always_computes(monkeypatch):
    from mtlbook import config

    monkeypatch.setattr(config, "_active", config.from_env({"MTLBOOK_CACHE": "off"}))
    calls = []
    for _ in range(2):
        cache.load_or_compute("toy", {}, lambda: calls.append(1) or {"x": 1})
    assert len(calls) == 2


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="name must be"):
        cache.store("Bad Name", {}, {}, folder=tmp_path)
    with pytest.raises(TypeError, match="JSON-serializable"):
        cache.config_key("toy", {"f": {1, 2}})
    with pytest.raises(TypeError, match="result must be a dict"):
        cache.store("toy", {}, [1, 2], folder=tmp_path)
