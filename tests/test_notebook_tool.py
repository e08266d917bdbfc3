import subprocess
import sys

import nbformat

from conftest import REPO

TOOL = [sys.executable, str(REPO / "tools" / "notebooks.py")]


def test_percent_round_trip_and_clean(tmp_path):
    src = tmp_path / "a.py"
    src.write_text('# %% [markdown]\n# # 9. Title\n#\n# Text.\n\n# %%\nx = 1\n\n'
                   '# %% tags=["solution"]\nprint(x)\n')
    nb_path = tmp_path / "a.ipynb"
    subprocess.run([*TOOL, "from-percent", str(src), str(nb_path)], check=True)
    nb = nbformat.read(nb_path, as_version=4)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert nb.cells[0].source == "# 9. Title\n\nText." and nb.cells[2].metadata["tags"] == ["solution"]
    back = tmp_path / "b.py"
    subprocess.run([*TOOL, "to-percent", str(nb_path), str(back)], check=True)
    assert back.read_text().strip() == src.read_text().strip()


def test_clean_keeps_only_check_outputs(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print(1)", execution_count=1,
                                  outputs=[nbformat.v4.new_output("stream", text="1\n")]),
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(2)", execution_count=2,
                                  outputs=[nbformat.v4.new_output("stream", text="2\n")]),
    ], metadata={"widgets": {"state": {}}})
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    assert subprocess.run([*TOOL, "clean", "--check", str(path)], capture_output=True).returncode == 1
    subprocess.run([*TOOL, "clean", str(path)], check=True)
    assert subprocess.run([*TOOL, "clean", "--check", str(path)], capture_output=True).returncode == 0
    cleaned = nbformat.read(path, as_version=4)
    assert cleaned.cells[0].outputs == [] and cleaned.cells[0].execution_count is None
    assert cleaned.cells[1].outputs[0]["text"] == "2\n" and cleaned.cells[1].execution_count == 2
    assert "widgets" not in cleaned.metadata
