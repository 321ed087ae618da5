"""The package's imports go one way: from the CLI down to the models and the readers, never back up,
and no module imports itself through others (no cycle). Every import counts, at the top of a module, in
a function, or under ``TYPE_CHECKING``: a lazy import is still a dependency.

The layer order is written once, here. A module may import its own layer or any lower one; within a
layer the import graph must still have no cycle. ``emcrowd.io`` and ``emcrowd.models`` are both at the
bottom, but ``io`` reads and writes without numerics, so it may not import the models.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "emcrowd"

#: Lowest first. Names are module prefixes: ``emcrowd.io`` covers ``emcrowd.io.labels`` and the rest.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "core",
        (
            "emcrowd._version",
            "emcrowd.errors",
            "emcrowd._terminal",
            "emcrowd._signals",
            "emcrowd._stdout",
            "emcrowd.budget",
            "emcrowd.data",
            "emcrowd.multilabels",
            "emcrowd.predictions",
            "emcrowd.numeric_data",
        ),
    ),
    ("io", ("emcrowd.io",)),
    ("models", ("emcrowd.models",)),
    ("analysis", ("emcrowd.analysis",)),
    ("engines", ("emcrowd.distributed",)),
    (
        "output",
        (
            "emcrowd.tables",
            "emcrowd.multilabel_tables",
            "emcrowd.numeric_tables",
            "emcrowd.machine_tables",
            "emcrowd.update_tables",
            "emcrowd.html_report",
            "emcrowd.console",
        ),
    ),
    ("cli", ("emcrowd.cli", "emcrowd.__main__")),
    ("api", ("emcrowd",)),  # the package itself: the public names, imported lazily by name
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank is not None, f"{module} is in no layer: add it to LAYERS in {__file__}"
    return rank


def imports_of(path: Path, module: str) -> set[str]:
    """The emcrowd modules that ``path`` imports, anywhere in it."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name.split(".")[0] == "emcrowd")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "emcrowd":
                continue
            for alias in node.names:  # ``from emcrowd.models import glad``: the submodule when it is one
                sub = f"{target}.{alias.name}"
                out.add(sub if MODULES.get(sub) else target)
    out.discard(module)
    return out


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
GRAPH: dict[str, set[str]] = {m: {i for i in imports_of(p, m) if i in MODULES} for m, p in MODULES.items()}


def test_the_graph_is_read():
    assert len(MODULES) > 40
    assert "emcrowd.models" in GRAPH["emcrowd.analysis.aggregate"]
    assert "emcrowd.analysis.aggregate" in GRAPH["emcrowd.tables"]


def test_every_module_is_in_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_import_goes_up_a_layer():
    upward = [
        f"{m} ({LAYERS[layer_of(m)][0]}) imports {i} ({LAYERS[layer_of(i)][0]})"
        for m, targets in GRAPH.items()
        for i in sorted(targets)
        if layer_of(i) > layer_of(m)
    ]
    assert not upward, "\n".join(upward)


def test_io_does_no_numerics_of_the_models():
    wrong = [f"{m} imports {i}" for m, t in GRAPH.items() if m.startswith("emcrowd.io") for i in t]
    wrong = [w for w in wrong if " emcrowd.models" in w or " emcrowd.analysis" in w]
    assert not wrong, "\n".join(wrong)


def test_no_cycles():
    state: dict[str, int] = {}  # 1: on the path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node, [])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py"))
def test_each_package_says_what_lives_there(package):
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text()))
    assert doc and len(doc) > 60, f"{package} has no docstring saying what lives there"
    if package not in ("emcrowd",):
        assert "import" in doc.lower(), f"{package}'s docstring does not say what it may import"
