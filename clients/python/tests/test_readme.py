"""The README's Python example runs unchanged, and again (everything in it is idempotent)."""

import os
import re
from pathlib import Path

import pytest


def readme_example():
    readme = Path(os.environ.get("SIMBENCH_README", Path(__file__).parents[3] / "README.md"))
    section = readme.read_text().split("With Python (the `simbench` client)", 1)
    if len(section) != 2:
        pytest.fail("README.md has no section 'With Python (the `simbench` client)'")
    blocks = re.findall(r"```python\n(.*?)```", section[1], flags=re.DOTALL)
    if not blocks:
        pytest.fail("the README's Python section has no python block")
    return blocks[0]


def test_the_readme_example_runs_unchanged_and_again(capsys):
    code = readme_example()
    for _ in range(2):
        namespace = {"__name__": "__main__"}
        exec(compile(code, "README.md", "exec"), namespace)
        leaderboard = namespace["leaderboard"]
        assert {"cka", "pwcca", "procrustes"} <= set(leaderboard.index)
        assert "sst2-finetune-seeds" in leaderboard.columns
    assert "procrustes" in capsys.readouterr().out
