"""A results cache keyed by a hash of the configuration that produced the results.

``load_or_compute("gradnorm-toy", {"sigmas": [1, 100], "steps": 5000}, run)`` returns the stored
result when one was computed from the same configuration (and the same ``version``), and otherwise
runs ``run()`` and stores its result. Files are written atomically and verified on load: a file
whose checksum does not match its record is recomputed, never trusted. Results are dictionaries of
tensors, numbers, strings and lists, saved with ``torch.save`` and loaded with
``weights_only=True`` (no pickle of arbitrary objects).

The cache folder is ``MTLBOOK_CACHE`` (``off`` disables caching; the tests do this).
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from mtlbook import config as _config
from mtlbook.report import _check_name, atomic_write_bytes


def config_key(name: str, config: Mapping[str, Any], version: str = "1") -> str:
    """The sha256 of the canonical JSON of ``(name, version, config)``."""
    try:
        blob = json.dumps({"name": name, "version": version, "config": config}, sort_keys=True)
    except TypeError as e:
        raise TypeError(f"config must be JSON-serializable: {e}") from None
    return hashlib.sha256(blob.encode()).hexdigest()


def _paths(folder: Path, name: str, key: str) -> tuple[Path, Path]:
    stem = f"{name}-{key[:16]}"
    return folder / f"{stem}.pt", folder / f"{stem}.json"


def load(name: str, config: Mapping[str, Any], version: str = "1",
         folder: Path | None = None) -> dict | None:
    """The cached result for this configuration, or None (missing, disabled or failing verification)."""
    folder = folder if folder is not None else _config.get().cache_dir
    if folder is None:
        return None
    key = config_key(_check_name(name), config, version)
    data_path, record_path = _paths(Path(folder), name, key)
    if not (data_path.exists() and record_path.exists()):
        return None
    blob = data_path.read_bytes()
    record = json.loads(record_path.read_text())
    if record.get("key") != key or record.get("sha256") != hashlib.sha256(blob).hexdigest():
        warnings.warn(f"cache entry {data_path.name} failed verification; recomputing", stacklevel=2)
        return None
    return torch.load(io.BytesIO(blob), weights_only=True)


def store(name: str, config: Mapping[str, Any], result: dict, version: str = "1",
          folder: Path | None = None) -> None:
    """Store ``result`` for this configuration (no-op when the cache is off)."""
    folder = folder if folder is not None else _config.get().cache_dir
    if folder is None:
        return
    if not isinstance(result, dict):
        raise TypeError(f"result must be a dict, got {type(result).__name__}")
    key = config_key(_check_name(name), config, version)
    data_path, record_path = _paths(Path(folder), name, key)
    buf = io.BytesIO()
    torch.save(result, buf)
    blob = buf.getvalue()
    atomic_write_bytes(data_path, blob)
    record = {"name": name, "version": version, "key": key,
              "sha256": hashlib.sha256(blob).hexdigest(), "config": config}
    atomic_write_bytes(record_path, json.dumps(record, indent=1, sort_keys=True, default=str).encode())


def load_or_compute(name: str, config: Mapping[str, Any], compute: Callable[[], dict],
                    version: str = "1", folder: Path | None = None) -> dict:
    """Return the cached result for ``config`` or compute, store and return it."""
    cached = load(name, config, version, folder)
    if cached is not None:
        return cached
    result = compute()
    store(name, config, result, version, folder)
    return result
