"""Notebook maintenance for the book.

    python tools/notebooks.py clean NB... [--check]   strip outputs except NBVAL_CHECK_OUTPUT cells
    python tools/notebooks.py record NB...            execute in quick mode, then clean (keeps the
                                                      check cells' outputs, which nbval compares)
    python tools/notebooks.py from-percent SRC.py NB  build a notebook from a py:percent script
    python tools/notebooks.py to-percent NB SRC.py    the reverse, for editing as text

Committed notebooks carry no outputs or execution counts except the NBVAL_CHECK_OUTPUT cells, no
widget state and a plain python3 kernelspec.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat

CHECK = "NBVAL_CHECK_OUTPUT"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
VOLATILE_CELL_KEYS = ("execution", "ExecuteTime", "collapsed", "scrolled", "jupyter")


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return ``nb`` with outputs, counts and volatile metadata removed (check cells keep theirs)."""
    for cell in nb.cells:
        for key in VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code" and CHECK not in cell.source:
            cell.outputs = []
            cell.execution_count = None
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC,
                                      "language_info": {"name": "python"}})
    return nb


def _serialize(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb, version=4) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def cmd_clean(paths: list[Path], check: bool) -> int:
    dirty = []
    for path in paths:
        original = path.read_text(encoding="utf-8")
        cleaned = _serialize(clean(nbformat.reads(original, as_version=4)))
        if cleaned != original:
            dirty.append(path)
            if not check:
                _write_atomic(path, cleaned)
    if check and dirty:
        print("notebooks with outputs or metadata to clean (run `make clean-notebooks`):")
        for p in dirty:
            print(f"  {p}")
        return 1
    return 0


def cmd_record(paths: list[Path], timeout: int) -> int:
    from nbclient import NotebookClient

    os.environ.update(MTLBOOK_MODE="quick", MTLBOOK_PROGRESS="0", MTLBOOK_CACHE="off")
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute(stderr=subprocess.DEVNULL)
        _write_atomic(path, _serialize(clean(nb)))
        print(f"{path}: recorded in {time.perf_counter() - start:.1f} s")
    return 0


def cmd_from_percent(src: Path, dst: Path) -> int:
    cells, kind, tags, lines = [], None, [], []

    def flush():
        if kind is None:
            return
        text = "\n".join(lines).strip("\n")
        if kind == "markdown":
            text = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in text.split("\n"))
            cell = nbformat.v4.new_markdown_cell(text)
        else:
            cell = nbformat.v4.new_code_cell(text)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)

    for line in src.read_text(encoding="utf-8").split("\n"):
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
            found = re.search(r"tags=\[([^\]]*)\]", line)
            tags = re.findall(r"[\"']([^\"']+)[\"']", found.group(1)) if found else []
        elif kind is not None:
            lines.append(line)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    old = nbformat.read(dst, as_version=4) if dst.exists() else None
    if old is not None:  # keep recorded check outputs of unchanged cells
        kept = {c.source: c for c in old.cells if c.cell_type == "code" and CHECK in c.source}
        for c in nb.cells:
            if c.source in kept:
                c.outputs, c.execution_count = kept[c.source].outputs, kept[c.source].execution_count
    _write_atomic(dst, _serialize(clean(nb)))
    return 0


def cmd_to_percent(src: Path, dst: Path) -> int:
    nb = nbformat.read(src, as_version=4)
    parts = []
    for c in nb.cells:
        tags = c.metadata.get("tags", [])
        marker = " tags=[" + ", ".join(f'"{t}"' for t in tags) + "]" if tags else ""
        if c.cell_type == "markdown":
            body = "\n".join(f"# {l}" if l else "#" for l in c.source.split("\n"))
            parts.append(f"# %% [markdown]{marker}\n{body}")
        else:
            parts.append(f"# %%{marker}\n{c.source}")
    dst.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("clean")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--check", action="store_true", help="only report; exit 1 if a file would change")
    p = sub.add_parser("record")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--timeout", type=int, default=600)
    p = sub.add_parser("from-percent")
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p = sub.add_parser("to-percent")
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    a = parser.parse_args(argv)
    if a.command == "clean":
        return cmd_clean(a.paths, a.check)
    if a.command == "record":
        return cmd_record(a.paths, a.timeout)
    if a.command == "from-percent":
        return cmd_from_percent(a.src, a.dst)
    return cmd_to_percent(a.src, a.dst)


if __name__ == "__main__":
    sys.exit(main())
