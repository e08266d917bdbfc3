"""mtlbook: the helper package of a notebook-first book on multi-task learning.

Start every notebook with ``import mtlbook as mb; mb.setup()``. Subpackages load on first use:
``mb.data``, ``mb.models``, ``mb.train``, ``mb.weighting`` and the rest.
"""

from __future__ import annotations

import importlib

from mtlbook import config, report
from mtlbook.session import seed_everything, setup

__version__ = "0.1.0"
__all__ = ["__version__", "config", "report", "seed_everything", "setup"]


def __getattr__(name: str):
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        module = importlib.import_module(f"mtlbook.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"mtlbook.{name}":
            raise AttributeError(f"module 'mtlbook' has no attribute {name!r}") from None
        raise
    globals()[name] = module
    return module
