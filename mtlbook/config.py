"""Run configuration shared by every chapter: mode (quick | full), seed, device and paths.

Everything is read from the environment once, so that a notebook, `make reproduce` and the tests
agree without passing arguments around:

- ``MTLBOOK_MODE``: ``quick`` (default; a laptop CPU, each notebook within about a minute) or
  ``full`` (the papers' settings; a GPU helps).
- ``MTLBOOK_SEED``: an integer (default 0).
- ``MTLBOOK_DEVICE``: ``auto`` (default: CPU in quick mode, CUDA when present in full mode),
  ``cpu``, ``cuda`` or ``cuda:N``.
- ``MTLBOOK_DATA``: where files the reader already has live (MNIST IDX files); default ``data/``
  of the repository.
- ``MTLBOOK_CACHE``: the results cache folder, or ``off`` (default ``~/.cache/mtlbook``).
- ``MTLBOOK_OUTPUT``: set by ``make reproduce``; named figures and numbers are saved there.
- ``MTLBOOK_PROGRESS``: ``0`` hides progress bars (the tests and the book build set it).
- ``MTLBOOK_THREADS``: torch's intra-op threads, applied by ``mtlbook.setup()``: ``auto`` (default:
  1 in quick mode, whose models are small and where OpenMP's busy-waiting on a shared or busy CPU
  costs far more than a second thread gains; torch's own default in full mode) or a positive int.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import torch

MODES = ("quick", "full")
T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Config:
    """The active configuration; every size knob of a notebook comes from ``pick``."""

    mode: str = "quick"
    seed: int = 0
    device: torch.device = torch.device("cpu")
    data_dir: Path = REPO_ROOT / "data"
    cache_dir: Path | None = None
    output_dir: Path | None = None
    progress: bool = True
    threads: int | None = 1

    @property
    def quick(self) -> bool:
        return self.mode == "quick"

    def pick(self, quick: T, full: T) -> T:
        """The value for the current mode: ``cfg.pick(quick=200, full=20_000)``."""
        return quick if self.mode == "quick" else full


def _parse_mode(value: str) -> str:
    mode = value.strip().lower()
    if mode not in MODES:
        raise ValueError(f"MTLBOOK_MODE must be one of {MODES}, got {value!r}")
    return mode


def _parse_seed(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"MTLBOOK_SEED must be an integer, got {value!r}") from None


def resolve_device(spec: str | torch.device, mode: str) -> torch.device:
    """``auto`` means CPU in quick mode and CUDA (when present) in full mode."""
    if isinstance(spec, torch.device):
        return spec
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if mode == "full" and torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"MTLBOOK_DEVICE={spec!r} asks for CUDA, but torch sees no CUDA device")
        return torch.device(spec)
    raise ValueError(f"MTLBOOK_DEVICE must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {spec!r}")


def _parse_threads(value: str, mode: str) -> int | None:
    spec = value.strip().lower()
    if spec == "auto":
        return 1 if mode == "quick" else None
    try:
        n = int(spec)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"MTLBOOK_THREADS must be 'auto' or a positive int, got {value!r}")
    return n


def from_env(environ: Mapping[str, str] | None = None) -> Config:
    """Build a :class:`Config` from ``MTLBOOK_*`` environment variables."""
    env = os.environ if environ is None else environ
    mode = _parse_mode(env.get("MTLBOOK_MODE", "quick"))
    cache = env.get("MTLBOOK_CACHE", str(Path.home() / ".cache" / "mtlbook"))
    output = env.get("MTLBOOK_OUTPUT")
    return Config(
        mode=mode,
        seed=_parse_seed(env.get("MTLBOOK_SEED", "0")),
        device=resolve_device(env.get("MTLBOOK_DEVICE", "auto"), mode),
        data_dir=Path(env.get("MTLBOOK_DATA", str(REPO_ROOT / "data"))),
        cache_dir=None if cache.strip().lower() == "off" else Path(cache),
        output_dir=Path(output) if output else None,
        progress=env.get("MTLBOOK_PROGRESS", "1") != "0",
        threads=_parse_threads(env.get("MTLBOOK_THREADS", "auto"), mode),
    )


_active: Config | None = None


def get() -> Config:
    """The active configuration (read from the environment on first use)."""
    global _active
    if _active is None:
        _active = from_env()
    return _active


def configure(**changes) -> Config:
    """Replace fields of the active configuration, e.g. ``configure(mode="full")``."""
    global _active
    current = get()
    if "mode" in changes:
        changes["mode"] = _parse_mode(str(changes["mode"]))
    if "seed" in changes and not isinstance(changes["seed"], int):
        raise TypeError(f"seed must be an int, got {type(changes['seed']).__name__}")
    if "device" in changes:
        changes["device"] = resolve_device(changes["device"], changes.get("mode", current.mode))
    unknown = set(changes) - {f.name for f in dataclasses.fields(Config)}
    if unknown:
        raise TypeError(f"unknown configuration field(s): {sorted(unknown)}")
    _active = dataclasses.replace(current, **changes)
    return _active
