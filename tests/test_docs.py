"""The README and docs/ stay true: every command they show runs, and they describe the product as it is.

* Every shell command in a fenced ``sh``, ``bash``, ``shell`` or ``console`` block (in ``console``
  blocks, the lines after ``$ ``) of README.md and docs/*.md is run, in order, in a temporary
  directory holding a copy of ``sample_data/``, with this environment's ``bin`` (its ``emcrowd``,
  ``python``) first on ``PATH``; it must exit 0, or with the status its comment gives (``# exit 2``).
  ``make TARGET`` is checked with ``make -n TARGET`` in the project (the target exists and its
  prerequisites resolve), and ``python benchmarks/SCRIPT ARGS`` by the script's ``--help``, which must
  list every option the command uses: those run for minutes.
* Every ``python`` block of a page runs, in order, in one namespace, in such a directory.
* A block that cannot run (a cluster's address, a file only the reader has) is marked by a line
  ``<!-- not run -->`` just before it; there may be only a few of them.
* A block marked ``<!-- head of PATH -->`` shows the first lines of that file (in the directory where
  the commands above it ran): they must be exactly those lines.
* README.md is at most 12 KB; no page speaks of the project's history (outside inline code and quotes);
  links between the pages resolve.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = "<!-- not run -->"
#: Most blocks marked as not run, over all pages together.
MAX_NOT_RUN = 6
SHELL = {"sh", "bash", "shell", "console"}
#: Phrases of development history, which user docs must not carry (matched as whole words, any case).
HISTORY = (
    "this round",
    "last round",
    "previous round",
    "this session",
    "before this change",
    "after this change",
    "this change",
    "now",
    "was",
    "used to",
    "no longer",
    "previously",
    "formerly",
    "anymore",
)
#: Pages other helpers write; README may link to them before they exist on this branch.
WRITTEN_ELSEWHERE = {"docs/python.md", "docs/auto.md", "docs/mace.md"}


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    run: bool
    head_of: str | None = None  # the file whose first lines the block shows


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page."""
    found = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)", lines[i])
        if not fence:
            i += 1
            continue
        start, marker, lang = i, fence.group(2), fence.group(3).lower()
        i += 1
        body = []
        while i < len(lines) and not lines[i].strip().startswith(marker):
            body.append(lines[i])
            i += 1
        before = next((lines[k].strip() for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        head = re.fullmatch(r"<!-- head of (\S+) -->", before)
        found.append(
            Block(page, start + 1, lang, "\n".join(body), before != NOT_RUN, head.group(1) if head else None)
        )
        i += 1
    return found


def commands(block: Block) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments kept (they carry ``# exit N``)."""
    lines = block.text.splitlines()
    if block.lang == "console":
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    out: list[str] = []
    pending = ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        command = (pending + line).strip()
        pending = ""
        if command and not command.startswith("#"):
            out.append(command)
    return out


def _split_comment(command: str) -> tuple[str, int]:
    """The command without its trailing comment, and the exit status that comment expects (else 0)."""
    match = re.search(r"\s#\s(.*)$", command)
    if match is None:
        return command, 0
    status = re.search(r"\bexit (\d+)\b", match.group(1))
    return command[: match.start()], int(status.group(1)) if status else 0


def _environment() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "COLUMNS": "100",
        "TERM": "dumb",
    }


def run_command(command: str, workdir: Path) -> tuple[int, int, str]:
    """(status, expected status, what it printed) of one documented command."""
    command, expected = _split_comment(command)
    words = shlex.split(command)
    env = _environment()
    if words[0] == "make":
        done = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, env=env, capture_output=True, text=True)
    elif words[0] in ("python", "python3") and words[1].startswith("benchmarks/"):
        done = subprocess.run(
            [sys.executable, words[1], "--help"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        unknown = [
            w.split("=")[0] for w in words[2:] if w.startswith("--") and w.split("=")[0] not in done.stdout
        ]
        if done.returncode == 0 and unknown:
            return 1, expected, f"{words[1]} has no option(s) {', '.join(unknown)}"
    else:
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    return done.returncode, expected, done.stdout[-2000:] + done.stderr[-3000:]


def _workdir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "sample_data", tmp_path / "sample_data")
    return tmp_path


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_shell_command_runs(page, tmp_path):
    workdir = _workdir(tmp_path)
    ran = 0
    for block in blocks(page):
        if block.head_of is not None:
            shown = block.text.splitlines()
            with open(workdir / block.head_of, encoding="utf-8") as f:
                actual = [f.readline().rstrip("\n") for _ in shown]
            assert shown == actual, (
                f"{_page_id(page)}, block at line {block.line}: not the head of {block.head_of}"
            )
        if block.lang not in SHELL or not block.run:
            continue
        for command in commands(block):
            status, expected, output = run_command(command, workdir)
            assert status == expected, (
                f"{_page_id(page)}, block at line {block.line}: `{command}` exited {status} "
                f"(expected {expected}):\n{output}"
            )
            ran += 1
    if any(b.lang in SHELL for b in blocks(page)):
        assert ran, f"{_page_id(page)}: every shell block is marked {NOT_RUN}"


@pytest.mark.parametrize(
    "page", [p for p in PAGES if any(b.lang == "python" for b in blocks(p))], ids=_page_id
)
def test_every_python_block_runs(page, tmp_path, monkeypatch):
    workdir = _workdir(tmp_path)
    monkeypatch.chdir(workdir)
    namespace: dict = {"__name__": "__docs__"}
    for block in blocks(page):
        if block.lang == "python" and block.run:
            code = compile("\n" * (block.line) + block.text, str(page), "exec")  # tracebacks name the line
            exec(code, namespace)


def test_readme_python_example_gives_the_labels():
    """The README's example computes what it says: class names per item and an accuracy."""
    (block,) = [b for b in blocks(ROOT / "README.md") if b.lang == "python"]
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        namespace: dict = {}
        exec(compile(block.text, "README.md", "exec"), namespace)
    finally:
        os.chdir(cwd)
    data = namespace["data"]
    assert len(namespace["labels"]) == data.n_items and set(namespace["labels"]) <= set(data.class_names)
    assert 0.8 < namespace["accuracy"] <= 1


def test_readme_compare_table_is_what_compare_says(tmp_path):
    """The accuracies in README's worked example are those `emcrowd compare` reports."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    command = next(
        c for b in blocks(ROOT / "README.md") if b.lang == "sh" for c in commands(b) if " compare " in c
    )
    row = re.search(r"^\| accuracy \|(.*)\|$", text, re.M)
    assert row is not None, "README has no accuracy row"
    shown = [float(cell.strip(" *")) for cell in row.group(1).split("|")]
    done = subprocess.run(
        [*shlex.split(command.replace("emcrowd", f"{sys.executable} -m emcrowd", 1)), "--json", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=_environment(),
    )
    assert done.returncode == 0, done.stderr
    methods = json.loads(done.stdout)["methods"]
    assert shown == [round(m["accuracy"], 4) for m in methods.values()], (shown, list(methods))
    chosen = methods["auto"]["chosen"].replace("_", " ")
    assert re.search(rf"auto \(chose {chosen}\)", text, re.IGNORECASE), f"auto chooses {chosen}"


def test_few_blocks_are_not_run():
    skipped = [f"{_page_id(b.page)}:{b.line}" for p in PAGES for b in blocks(p) if not b.run]
    assert len(skipped) <= MAX_NOT_RUN, f"too many blocks marked {NOT_RUN}: {skipped}"
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert text.count(NOT_RUN) == sum(not b.run for b in blocks(page)), (
            f"{_page_id(page)}: a {NOT_RUN} marker that is not right before a code block"
        )


def test_readme_is_short():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= 12 * 1024, f"README.md is {size:,} bytes; at most 12 KB (move details to docs/)"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_no_development_history(page):
    text = page.read_text(encoding="utf-8")
    found = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        # inline code and quoted words are names and messages, not the docs' own voice
        line = re.sub(r'`[^`]*`|"[^"]*"', "", line)
        for phrase in HISTORY:
            if re.search(rf"(?<![\w`-]){re.escape(phrase)}(?![\w`-])", line, re.IGNORECASE):
                found.append(f"line {lineno}: {phrase!r}: {line.strip()[:100]}")
    assert not found, f"{_page_id(page)} speaks of history:\n" + "\n".join(found)


def test_links_to_docs_resolve():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            path = (page.parent / target).resolve()
            relative = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else target
            if relative in WRITTEN_ELSEWHERE and not path.exists():
                continue
            assert path.is_file(), f"{_page_id(page)} links to {target}, which does not exist"


def test_anchors_to_docs_resolve():
    """Links such as docs/formats.md#long-tables name a heading of that page."""
    for page in PAGES:
        for target, anchor in re.findall(r"\]\(([^)#\s]+\.md)#([^)\s]+)\)", page.read_text(encoding="utf-8")):
            path = page.parent / target
            if not path.exists():
                continue
            headings = re.findall(r"^#+\s+(.*)$", path.read_text(encoding="utf-8"), re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
            assert anchor in slugs, f"{_page_id(page)} links to {target}#{anchor}: no such heading"
