"""Name the figures and headline numbers of a chapter, so that ``make reproduce`` can collect them.

In a notebook, ``mb.report.figure(fig, "weight-traces")`` shows the figure inline; when the book is
being built (``MTLBOOK_OUTPUT`` is set) it is also saved as ``<output>/<name>.png``.
``mb.report.number("final-w0", w0, "GradNorm's final w0")`` records a headline number for the
chapter's section of ``build/index.html``. Files are written atomically.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from mtlbook import config as _config
from mtlbook.plotting import to_png

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
NUMBERS_FILE = "numbers.json"
FIGURES_FILE = "figures.json"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"name must be lowercase letters, digits, '-' or '_' (at most 64, starting with a letter "
            f"or digit), got {name!r}")
    return name


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _display_png(png: bytes) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:  # plain Python: nothing to show
        return
    if get_ipython() is not None:
        display(Image(data=png, format="png"))


def figure(fig: Figure, name: str, *, show: bool = True) -> None:
    """Show ``fig`` inline (unless ``show=False``), save it under its name when building, close it."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    _check_name(name)
    png = to_png(fig)
    plt.close(fig)
    out = _config.get().output_dir
    if out is not None:
        atomic_write_bytes(Path(out) / f"{name}.png", png)
        _append(Path(out) / FIGURES_FILE, {"name": name, "file": f"{name}.png"})
    if show:
        _display_png(png)


def number(name: str, value: float, text: str) -> float:
    """Record a headline number (``text`` says what it is); returns ``value`` unchanged."""
    _check_name(name)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"value must be a real number, got {type(value).__name__}") from None
    if not math.isfinite(v):
        raise ValueError(f"value of {name!r} must be finite, got {v}")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be a non-empty description of the number")
    out = _config.get().output_dir
    if out is not None:
        _append(Path(out) / NUMBERS_FILE, {"name": name, "value": v, "text": text})
    return value


def _append(path: Path, entry: dict) -> None:
    """Add ``entry`` to the JSON list at ``path``, replacing an entry of the same name."""
    entries = json.loads(path.read_text()) if path.exists() else []
    entries = [e for e in entries if e["name"] != entry["name"]] + [entry]
    atomic_write_bytes(path, json.dumps(entries, indent=1).encode())
