"""Every chapter notebook follows the book's anatomy (DESIGN §3) and is committed clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CHECK = "NBVAL_CHECK_OUTPUT"


def _md(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.name)
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


def test_file_name_gives_the_chapter_order(notebook):
    path, _ = notebook
    assert re.fullmatch(r"\d\d[a-z]?_[a-z0-9_]+\.ipynb", path.name), path.name


def test_title_cell(notebook):
    path, nb = notebook
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    chapter = int(path.name[:2])
    assert re.match(rf"# {chapter}[a-z]?\. \S", first.source), \
        f"{path.name}: first cell must start with '# {chapter}. Title'"
    head = first.source.lower()
    for word in ("objectives", "prerequisites", "run time"):
        assert word in head, f"{path.name}: the title cell must state the {word}"


def test_one_setup_cell_first(notebook):
    path, nb = notebook
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "import mtlbook as mb" in code[0].source and "mb.setup(" in code[0].source, \
        f"{path.name}: the first code cell must be the setup cell"
    assert sum("mb.setup(" in c.source for c in code) == 1, f"{path.name}: one setup cell only"


def test_sections(notebook):
    path, nb = notebook
    md = _md(nb)
    for heading in ("Try it", "Exercises", "Summary", "References"):
        assert re.search(rf"^#+ .*{heading}", md, re.M | re.I), f"{path.name}: no '{heading}' section"


def test_try_it_is_driven_by_a_checked_cell(notebook):
    path, nb = notebook
    try_idx = next(i for i, c in enumerate(nb.cells)
                   if c.cell_type == "markdown" and re.search(r"^#+ .*Try it", c.source, re.M | re.I))
    assert any(c.cell_type == "code" and CHECK in c.source for c in nb.cells[try_idx:]), \
        f"{path.name}: the Try it widget needs a driving cell marked {CHECK} after it"


def test_exercise_solutions_are_tagged(notebook):
    path, nb = notebook
    assert any("solution" in c.metadata.get("tags", []) for c in nb.cells), \
        f"{path.name}: exercise solutions belong in cells tagged 'solution'"


def test_only_check_cells_keep_outputs(notebook):
    path, nb = notebook
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        if CHECK in c.source:
            assert c.outputs and c.execution_count is not None, \
                f"{path.name} cell {i}: check cell without recorded output (run `make record NB=...`)"
            assert not re.search(r"perf_counter|time\.time\(|timeit", c.source), \
                f"{path.name} cell {i}: never print a timing in a check cell"
        else:
            assert not c.outputs, f"{path.name} cell {i}: stored outputs outside a check cell"
        assert not c.source.rstrip().endswith(";"), \
            f"{path.name} cell {i}: ends with ';' (nbval sees its output anyway; assign to _)"


def test_no_live_widget_idioms(notebook):
    path, nb = notebook
    src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for bad in ("%matplotlib widget", "interact(", "interactive_output(", "clear_output("):
        assert bad not in src, f"{path.name}: uses {bad!r}; use mtlbook.widgets.explorer"


def test_links_to_other_files_resolve(notebook):
    path, nb = notebook
    for target in re.findall(r"\]\(([^)\s#]+?)(?:#[^)]*)?\)", _md(nb)):
        if re.match(r"[a-z]+:", target):                          # https:, mailto:
            continue
        assert (path.parent / target).exists(), f"{path.name}: links to {target}, which does not exist"


def test_cleaner_check_passes():
    result = subprocess.run([sys.executable, str(REPO / "tools" / "notebooks.py"), "clean", "--check",
                             *map(str, NOTEBOOKS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
