import re
from pathlib import Path

import nbformat
import pytest

from mtlbook import reproduce


def _result(name, title, figures=(), numbers=()):
    return reproduce.NotebookResult(name, title, "What it is about.", 3.0,
                                    [{"name": f, "file": f"{f}.png"} for f in figures],
                                    [{"name": n, "value": v, "text": t} for n, v, t in numbers])


def test_index_has_a_section_per_chapter_and_works_offline():
    page = reproduce.index_html([
        _result("00_start_here", "0. Start here", ["examples"]),
        _result("03a_fixed_weights", "3a. Fixed weights", ["table"], [("w0", 1.93, "final w0")]),
        _result("03b_gradnorm", "3b. GradNorm"),
    ], "quick", 12.0)
    assert page.count("<section") == 2 and 'id="chapter-3"' in page
    assert 'href="notebooks/03a_fixed_weights.html"' in page and 'src="figures/03a_fixed_weights/table.png"' in page
    assert "final w0" in page and "1.93" in page
    assert not re.search(r"""(src|href)=["']https?://""", page), "no resource that needs the network"
    assert "<script" not in page


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 9. Test\n\nA test notebook.")]
                                  + [nbformat.v4.new_code_cell(c) for c in cells],
                                  metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nbformat.write(nb, path)
    return path


def test_build_writes_notebook_page_and_figures(tmp_path):
    nb = _notebook(tmp_path / "09_test.ipynb", [
        "import matplotlib.pyplot as plt\nimport mtlbook as mb\nfig, ax = plt.subplots()\nax.plot([1, 2])",
        "mb.report.figure(fig, 'line')\nmb.report.number('two', 2, 'a two')",
    ])
    r = reproduce.build_notebook(nb, tmp_path / "build", "quick", timeout=120, progress=False)
    assert r.title == "9. Test" and r.summary == "A test notebook."
    assert r.figures == [{"name": "line", "file": "line.png"}] and r.numbers[0]["value"] == 2
    assert (tmp_path / "build" / "figures" / "09_test" / "line.png").exists()
    assert (tmp_path / "build" / "notebooks" / "09_test.html").read_text().count("<img") >= 1
    assert not [p for p in (tmp_path / "build" / "figures").iterdir() if p.name.startswith(".")]


def test_relative_output_folder_collects_the_figures(tmp_path, monkeypatch):
    # The kernel starts in the notebook's folder; figures must still land under the build folder.
    (tmp_path / "nb").mkdir()
    nb = _notebook(tmp_path / "nb" / "09_test.ipynb", [
        "import matplotlib.pyplot as plt\nimport mtlbook as mb\nfig, ax = plt.subplots()\nax.plot([1, 2])",
        "mb.report.figure(fig, 'line')",
    ])
    monkeypatch.chdir(tmp_path)
    assert reproduce.reproduce(Path("build"), [nb], "quick", timeout=120, progress=False) == 0
    assert (tmp_path / "build" / "figures" / "09_test" / "line.png").exists()
    assert 'src="figures/09_test/line.png"' in (tmp_path / "build" / "index.html").read_text()
    assert not (tmp_path / "nb" / "build").exists()


def test_failure_names_notebook_and_cell_and_writes_nothing(tmp_path, capsys):
    nb = _notebook(tmp_path / "09_broken.ipynb", ["x = 1", "raise ValueError('broken on purpose')"])
    code = reproduce.reproduce(tmp_path / "build", [nb], "quick", timeout=120, progress=False)
    err = capsys.readouterr().err
    assert code == 1
    assert "09_broken.ipynb" in err and "cell 2 (code cell 2" in err and "broken on purpose" in err
    assert not (tmp_path / "build" / "notebooks" / "09_broken.ipynb").exists()
    assert not (tmp_path / "build" / "index.html").exists()
    assert not list((tmp_path / "build" / "figures").iterdir())


def test_cli_rejects_missing_notebooks(tmp_path):
    with pytest.raises(SystemExit):
        reproduce.main([str(tmp_path / "nope.ipynb")])
