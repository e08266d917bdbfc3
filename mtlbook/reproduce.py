"""Build the book: execute every notebook headless and write ``build/``.

    python -m mtlbook reproduce [--out build] [--mode quick|full] [NOTEBOOK ...]

For each notebook (in chapter order) the kernel runs with ``MTLBOOK_OUTPUT`` pointing at the
notebook's figure folder, so that figures and headline numbers named with :mod:`mtlbook.report` land
there. Written, each atomically and only after its notebook succeeded:

- ``build/notebooks/<name>.ipynb`` (executed) and ``build/notebooks/<name>.html`` (standalone page),
- ``build/figures/<name>/<figure>.png`` with ``figures.json`` and ``numbers.json``,
- ``build/index.html``: one section per chapter with its title, figures and headline numbers, linking
  the chapter pages; self-contained (inline style, relative links), so it displays offline.

On a failing cell the build stops with a non-zero exit status and names the notebook and the cell.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import html
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mtlbook import __version__
from mtlbook.config import MODES, REPO_ROOT
from mtlbook.report import FIGURES_FILE, NUMBERS_FILE, atomic_write_bytes

NOTEBOOKS = REPO_ROOT / "notebooks"


@dataclass
class NotebookResult:
    """What one executed notebook contributed to the book."""

    name: str
    title: str
    summary: str
    seconds: float
    figures: list[dict] = field(default_factory=list)
    numbers: list[dict] = field(default_factory=list)

    @property
    def chapter(self) -> int:
        return int(self.name[:2])


class NotebookFailed(RuntimeError):
    """A cell raised; the message names the notebook and the cell."""


def _title_and_summary(nb) -> tuple[str, str]:
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    lines = first.strip().split("\n")
    title = lines[0].lstrip("# ").strip() if lines else ""
    paragraph = []
    for line in lines[1:]:
        if line.strip():
            paragraph.append(line.strip())
        elif paragraph:
            break
    return title, " ".join(paragraph)


def _plain(markdown: str) -> str:
    """Markdown inline syntax removed (for the index's one-paragraph summaries)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    return re.sub(r"[*_`]", "", text)


def execute(path: Path, figures_dir: Path, mode: str, timeout: int, progress: bool = True):
    """Execute ``path``; figures go to ``figures_dir``. Returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(code_cells), desc=path.stem, unit="cell", leave=True, file=sys.stderr)
    failure: dict = {}

    def on_cell_executed(cell, cell_index, execute_reply):
        if bar is not None:
            bar.update(1)

    def on_cell_error(cell, cell_index, execute_reply):
        failure.update(index=cell_index, source=cell.source)

    env = {"MTLBOOK_OUTPUT": str(figures_dir), "MTLBOOK_MODE": mode, "MTLBOOK_PROGRESS": "0"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}},
                                on_cell_executed=on_cell_executed, on_cell_error=on_cell_error)
        client.execute(stderr=subprocess.DEVNULL)  # the kernel process's own log; cells' stderr is kept
    except CellExecutionError as e:
        index = failure.get("index")
        number = code_cells.index(index) + 1 if index in code_cells else "?"
        first = failure.get("source", "").strip().split("\n")[0][:80]
        error = str(e).strip().split("\n")[-1][:300]
        raise NotebookFailed(f"{path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}: "
                             f"cell {index} (code cell {number}: {first!r}) failed: {error}") from None
    finally:
        if bar is not None:
            bar.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def _to_html(nb) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb)
    return body


def build_notebook(path: Path, out: Path, mode: str, timeout: int, progress: bool = True) -> NotebookResult:
    """Execute one notebook and write its executed copy, HTML page and figures under ``out``."""
    import nbformat

    name, out = path.stem, Path(out).resolve()
    figures_root = out / "figures"
    figures_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=figures_root))
    start = time.perf_counter()
    try:
        nb = execute(path, staging, mode, timeout, progress)
        seconds = time.perf_counter() - start
        atomic_write_bytes(out / "notebooks" / f"{name}.ipynb", nbformat.writes(nb).encode())
        atomic_write_bytes(out / "notebooks" / f"{name}.html", _to_html(nb).encode())
        final = figures_root / name
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    title, summary = _title_and_summary(nb)
    read = lambda f: json.loads((final / f).read_text()) if (final / f).exists() else []  # noqa: E731
    return NotebookResult(name, title, _plain(summary), seconds, read(FIGURES_FILE), read(NUMBERS_FILE))


def _number(v: float) -> str:
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"


def index_html(results: list[NotebookResult], mode: str, total_seconds: float) -> str:
    """The book's front page: one section per chapter (self-contained HTML)."""
    chapters: dict[int, list[NotebookResult]] = {}
    for r in results:
        chapters.setdefault(r.chapter, []).append(r)
    esc = html.escape
    parts = []
    for chapter, notebooks in sorted(chapters.items()):
        parts.append(f'<section id="chapter-{chapter}"><h2>Chapter {chapter}</h2>')
        for r in notebooks:
            parts.append(f'<article><h3><a href="notebooks/{esc(r.name)}.html">{esc(r.title)}</a></h3>'
                         f'<p>{esc(r.summary)}</p>')
            if r.numbers:
                rows = "".join(f"<tr><td>{esc(n['text'])}</td><td class=num>{esc(_number(n['value']))}</td></tr>"
                               for n in r.numbers)
                parts.append(f'<table class="numbers"><tr><th>headline number</th><th>value</th></tr>{rows}</table>')
            if r.figures:
                figs = "".join(
                    f'<figure><a href="figures/{esc(r.name)}/{esc(f["file"])}">'
                    f'<img src="figures/{esc(r.name)}/{esc(f["file"])}" alt="{esc(f["name"])}"></a>'
                    f'<figcaption>{esc(f["name"])}</figcaption></figure>' for f in r.figures)
                parts.append(f'<div class="figures">{figs}</div>')
            parts.append(f'<p class="meta">executed in {r.seconds:.0f} s · '
                         f'<a href="notebooks/{esc(r.name)}.ipynb">notebook</a></p></article>')
        parts.append("</section>")
    toc = "".join(f'<li><a href="#chapter-{c}">Chapter {c}: {esc(nbs[0].title.split(". ", 1)[-1])}</a></li>'
                  for c, nbs in sorted(chapters.items()))
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mtlbook — multi-task learning, notebook by notebook</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #1d1d1f; line-height: 1.45; }}
h1 {{ margin-bottom: 0.2em; }} h2 {{ border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }}
h3 a {{ color: #0b5394; text-decoration: none; }} h3 a:hover {{ text-decoration: underline; }}
article {{ margin-bottom: 1.5em; }}
.figures {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; width: 320px; }} figure img {{ width: 100%; border: 1px solid #e3e3e3; background: #fff; }}
figcaption {{ font-size: 0.8em; color: #666; text-align: center; }}
table.numbers {{ border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.92em; }}
table.numbers td, table.numbers th {{ border: 1px solid #ddd; padding: 3px 8px; text-align: left; }}
td.num {{ font-variant-numeric: tabular-nums; text-align: right; }}
.meta {{ color: #777; font-size: 0.85em; }}
</style></head>
<body>
<h1>mtlbook</h1>
<p>A notebook-first book on multi-task learning in PyTorch: every method derived, implemented, checked
numerically, made interactive and reproduced. This page was built by <code>make reproduce</code> in
<b>{esc(mode)}</b> mode on {stamp} (mtlbook {esc(__version__)}, Python {esc(platform.python_version())},
{len(results)} notebooks in {total_seconds:.0f} s). The chapter pages are static; open the notebooks in
JupyterLab (<code>make lab</code>) to use the widgets.</p>
<nav><ol start="0">{toc}</ol></nav>
{''.join(parts)}
</body></html>
"""


def screenshot(index: Path, png: Path) -> bool:
    """Render ``index`` in headless Chromium to ``png`` when Chromium is installed."""
    browser = next((b for b in ("/usr/bin/chromium", shutil.which("chromium") or "",
                                shutil.which("chromium-browser") or "") if b and Path(b).exists()), None)
    if browser is None:
        return False
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1280,2400",
               index.resolve().as_uri()]
        done = subprocess.run(cmd, capture_output=True, timeout=120)
    return done.returncode == 0 and png.exists()


def reproduce(out: Path, notebooks: list[Path], mode: str, timeout: int, progress: bool = True) -> int:
    """Build every notebook into ``out``; 0 on success, 1 (with the failing notebook and cell named)."""
    out = Path(out).resolve()  # the kernels run in notebooks/: a relative path would land there
    out.mkdir(parents=True, exist_ok=True)
    results, start = [], time.perf_counter()
    for path in notebooks:
        try:
            results.append(build_notebook(path, out, mode, timeout, progress))
        except NotebookFailed as e:
            print(f"\nFAILED {e}", file=sys.stderr)
            return 1
    total = time.perf_counter() - start
    index = out / "index.html"
    atomic_write_bytes(index, index_html(results, mode, total).encode())
    print(f"\n{'seconds':>8}  notebook ({mode} mode)")
    for r in results:
        print(f"{r.seconds:8.1f}  {r.name}")
    print(f"{total:8.1f}  in all\nwrote {index}")
    if screenshot(index, out / "index.png"):
        print(f"wrote {out / 'index.png'} (headless Chromium)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlbook reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all, in order)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build")
    parser.add_argument("--mode", choices=MODES, default=os.environ.get("MTLBOOK_MODE", "quick"))
    parser.add_argument("--timeout", type=int, default=None,
                        help="seconds per cell (default: 600 in quick mode, 7200 in full mode)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]*.ipynb"))
    missing = [p for p in paths if not p.exists()]
    if missing:
        parser.error(f"no such notebook: {', '.join(map(str, missing))}")
    timeout = args.timeout or (600 if args.mode == "quick" else 7200)
    return reproduce(args.out, [p.resolve() for p in paths], args.mode, timeout, not args.no_progress)
