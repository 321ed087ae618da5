"""The README's Python example runs as written."""

from __future__ import annotations

import re

from tests.helpers import ROOT


def test_readme_python_example_runs(monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Python API\n\n```python\n(.*?)```", text, re.S)
    assert block is not None, "README has no Python API example"
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    assert namespace["model"].converged_
    assert set(namespace["metrics"]["methods"]) == {"majority", "glad", "dawid_skene"}
