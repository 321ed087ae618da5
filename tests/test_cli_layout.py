"""What a person sees in a terminal: ``compare``, ``fit`` and ``info`` under a pseudo-terminal at 60, 80
and 120 columns never cut a number or an id, never split a word, and stay within the width; every
``--help`` at 80 columns shows whole option names and an example."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest
from rich.cells import cell_len

from emcrowd.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
WIDTHS = (60, 80, 120)

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")
#: Characters of table borders, which separate words like spaces do.
BORDERS = "│┃┏┓┗┛┡┩┢┪━─┳┻╇╈┼┬┴├┤└┘┌┐╭╮╰╯"
#: A cut: text ended with an ellipsis (a lone "…" marks rows left out, and is fine).
CUT = re.compile(r"[^\s" + BORDERS + r"]…")


def run_tty(args: list[str], columns: int, cwd: Path) -> tuple[int, str, str]:
    """Run ``emcrowd args`` with stderr a pseudo-terminal ``columns`` wide and stdout a pipe."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "40", "TERM": "xterm-256color", "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "emcrowd", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        cwd=cwd,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    stdout = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(timeout=300), stdout, b"".join(chunks).decode("utf-8", "replace")


#: Progress lines (transient on a real terminal, left in the captured stream).
PROGRESS = re.compile(r": iteration \d|: starting$|^(Reading|Writing) ")


def screen(raw: str) -> list[str]:
    """The lines written: escapes removed, the spinner of progress lines too."""
    lines = []
    for line in ANSI.sub("", raw.replace("\r\n", "\n")).split("\n"):
        line = line.rsplit("\r", 1)[-1]
        lines.append(re.sub("[\u2800-\u28ff]", "", line).strip() if PROGRESS.search(line) else line.rstrip())
    return lines


def words(text: str) -> set[str]:
    """The words of ``text``, without the punctuation around them (layouts differ in punctuation)."""
    return {w.strip("()[],;:.") for w in re.split(r"[\s" + BORDERS + r"]+", text)} - {""}


def log_words(args: list[str], cwd: Path) -> set[str]:
    """The words of the log layout (stderr not a terminal), run twice (the second fit says it replaces
    the first's results)."""
    return words(run_piped(args, cwd).stderr) | words(run_piped(args, cwd).stderr)


def run_piped(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emcrowd", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def check_layout(args: list[str], cwd: Path, columns: int, vocabulary: set[str]) -> tuple[list[str], str]:
    status, stdout, raw = run_tty(args, columns, cwd)
    lines = screen(raw)
    text = "\n".join(lines)
    assert status == 0, text
    assert "Traceback" not in text
    for line in lines:
        assert cell_len(line) <= columns, (columns, line)
        assert not CUT.search(line), (columns, line)
    # a word split across lines leaves pieces that the one-line (log) layout never shows
    shown = "\n".join(line for line in lines if not PROGRESS.search(line))  # (a log has no progress)
    for word in words(shown):
        if re.search(r"[A-Za-z]", word) and not re.search(r"\d", word):
            assert word in vocabulary, (columns, word, text)
    return lines, stdout


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("small")
    for name in ("L.npy", "y.npy"):
        shutil.copy(SAMPLE / name, d / name)
    return d


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> Path:
    """400,000 items, 3 labels each, as .npz code arrays, with the truth."""
    from emcrowd.io import labels_npz
    from emcrowd.models.simulate import simulate_glad

    d = tmp_path_factory.mktemp("large")
    sim = simulate_glad(400_000, 40, labels_per_item=3, seed=3)
    np.savez(d / "L.npz", **labels_npz(sim.labels))
    np.save(d / "y.npy", sim.truth.astype(np.float64))
    return d


def _values(metrics: dict) -> list[str]:
    """Every number of compare's table as the table prints it."""
    out = []
    for entry in metrics["methods"].values():
        lo, hi = entry["accuracy_ci"]
        out += [f"{entry['accuracy']:.4f}", f"{entry['correct']:,}/{entry['total']:,}", f"{lo:.3f}–{hi:.3f}"]
    return out


def _compare(data: Path, args: list[str]) -> None:
    vocabulary = words(run_piped(args, data).stderr)
    for columns in WIDTHS:
        lines, stdout = check_layout([*args, "--json"], data, columns, vocabulary)
        metrics = json.loads(stdout)
        text = "\n".join(lines)
        for value in _values(metrics):
            assert value in text, (columns, value, text)  # whole, on one line
        best = max(e["accuracy"] for e in metrics["methods"].values())
        assert "tied items" not in text or metrics["methods"]["majority"]["n_ties"] > 0
        assert sum(e["accuracy"] == best for e in metrics["methods"].values()) >= 1


def test_compare_small(small):
    _compare(small, ["compare", "L.npy", "-t", "y.npy", "--disagreements", "4"])


def test_compare_large(large):
    _compare(large, ["compare", "L.npz", "-t", "y.npy", "--methods", "majority,one-coin"])


@pytest.mark.parametrize("method", ["glad", "one-coin"])
def test_fit_small(small, tmp_path, method):
    args = ["fit", str(small / "L.npy"), "--method", method, "--out", str(tmp_path / "out")]
    vocabulary = log_words(args, tmp_path)
    for columns in WIDTHS:
        lines, _ = check_layout(args, tmp_path, columns, vocabulary)
        text = "\n".join(lines)
        assert "Annotators' estimated accuracy" in text
        assert "majority ties" not in text  # five labels per item, two classes: no ties


def test_fit_large(large, tmp_path):
    args = ["fit", str(large / "L.npz"), "--method", "one-coin", "--out", str(tmp_path / "out")]
    vocabulary = log_words(args, tmp_path)
    for columns in WIDTHS:
        check_layout(args, tmp_path, columns, vocabulary)


@pytest.mark.parametrize("data", ["small", "large"])
def test_info(request, data):
    d = request.getfixturevalue(data)
    args = ["info", "L.npy" if data == "small" else "L.npz"]
    vocabulary = words(run_piped(args, d).stderr)
    for columns in WIDTHS:
        lines, _ = check_layout(args, d, columns, vocabulary)
        assert any("annotators" in line for line in lines)


def test_long_item_ids_stay_whole_in_the_disagreements(tmp_path):
    rng = np.random.default_rng(5)
    ids = [f"item-{i:04d}-{'x' * 40}" for i in range(60)]
    truth = rng.integers(0, 2, 60)
    rows = ["item,worker,label"]
    for i, item in enumerate(ids):
        for w in range(5):
            label = truth[i] if rng.random() < (0.9 if w < 2 else 0.55) else 1 - truth[i]
            rows.append(f"{item},w{w},{label}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "truth.csv").write_text(
        "item,label\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, truth, strict=True))
    )
    args = ["compare", "labels.csv", "-t", "truth.csv", "--methods", "dawid-skene", "--disagreements", "5"]
    res = run_piped([*args, "--json", "-q"], tmp_path)
    shown = [row["item"] for row in json.loads(res.stdout)["disagreements"]]
    assert shown
    vocabulary = words(run_piped(args, tmp_path).stderr)
    for columns in WIDTHS:
        lines, _ = check_layout(args, tmp_path, columns, vocabulary)
        for item in shown:
            assert any(item in line for line in lines), (columns, item)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_at_80_columns_has_whole_option_names_and_an_example(command):
    from typer.main import get_command

    from emcrowd.cli import app

    args = ["--help"] if command is None else [command, "--help"]
    res = subprocess.run(
        [sys.executable, "-m", "emcrowd", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80", "TERM": "dumb"},
    )
    assert res.returncode == 0
    text = res.stdout
    assert all(cell_len(line) <= 80 for line in text.splitlines())
    assert not CUT.search(text), text
    if command is None:
        return
    names = {o for p in get_command(app).commands[command].params for o in (*p.opts, *p.secondary_opts)}
    for name in names:
        if name.startswith("--"):
            assert re.search(re.escape(name) + r"(?![\w-])", text), (command, name)
    assert "Examples:" in text and f"emcrowd {command} " in text.split("Examples:")[1]
