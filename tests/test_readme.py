"""The README's example of mtlbook in a reader's own training loop runs and learns."""

import re

from conftest import REPO


def test_own_training_loop_example(capsys):
    readme = (REPO / "README.md").read_text()
    match = re.search(r"<!-- example: own-training-loop -->\s*```python\n(.*?)```", readme, re.S)
    assert match, "README lost its example block"
    namespace: dict = {}
    exec(compile(match.group(1), "README.md", "exec"), namespace)
    assert (namespace["accuracy"] > 0.3).all(), "three epochs should read both digits at three times chance (0.1) or better"
    assert "test accuracy per task" in capsys.readouterr().out
