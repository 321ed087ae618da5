"""Degenerate but valid data, property-based checks on random inputs, and interrupted runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emcrowd import Labels
from emcrowd.analysis.aggregate import METHODS, aggregate
from emcrowd.errors import ConvergenceWarning
from emcrowd.io import load_labels
from tests.helpers import ROOT, assert_non_decreasing

EM_METHODS = [m for m in METHODS if m != "majority"]


def fit_all(data: Labels) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return {m: aggregate(data, m) for m in METHODS}


def check_sane(results: dict) -> None:
    for name, r in results.items():
        assert np.all(np.isfinite(r.posteriors)), name
        np.testing.assert_allclose(r.posteriors.sum(axis=1), 1.0, err_msg=name)
        if r.model is not None:
            assert np.isfinite(r.model.lower_bound_), name
            assert_non_decreasing(r.history) if len(r.history) > 1 else None


# -- degenerate data ------------------------------------------------------------------------------------
def test_all_annotators_unanimous_on_every_item():
    L = np.tile(np.array([[0.0], [1.0], [1.0], [0.0], [1.0]]), (1, 4))
    results = fit_all(Labels.from_matrix(L))
    check_sane(results)
    for name, r in results.items():
        np.testing.assert_array_equal(r.labels, [0, 1, 1, 0, 1], err_msg=name)


def test_a_single_class_everywhere():
    results = fit_all(Labels.from_matrix(np.ones((6, 3))))  # 0/1 data: still binary
    check_sane(results)
    for name, r in results.items():
        assert np.all(r.labels == 1), name


def test_a_single_class_in_a_long_file_with_declared_classes(tmp_path):
    (tmp_path / "x.csv").write_text("item,worker,label\na,u,yes\nb,u,yes\nb,v,yes\n")
    data = load_labels(tmp_path / "x.csv", classes="no,yes").labels
    results = fit_all(data)
    check_sane(results)
    assert all((r.labels == 1).all() for r in results.values())


def test_one_annotator():
    L = np.array([[0.0], [1.0], [1.0], [0.0]])
    results = fit_all(Labels.from_matrix(L))
    check_sane(results)
    for name, r in results.items():
        np.testing.assert_array_equal(r.labels, [0, 1, 1, 0], err_msg=name)


def test_one_item():
    results = fit_all(Labels.from_matrix(np.array([[1.0, 1.0, 0.0]])))
    check_sane(results)
    assert all(r.labels[0] == 1 for r in results.values())


def test_items_with_one_label_each():
    L = np.full((5, 5), np.nan)
    np.fill_diagonal(L, [0, 1, 0, 1, 1])
    results = fit_all(Labels.from_matrix(L))
    check_sane(results)
    # One label per item and per annotator: nothing to learn about anyone, so the symmetric models
    # follow the labels. Dawid-Skene's learned class prior (3 vs 2) may outvote a lone label: finite,
    # and defensible, but not checked here.
    for name in ("majority", "glad", "one_coin"):
        np.testing.assert_array_equal(results[name].labels, [0, 1, 0, 1, 1], err_msg=name)


def test_an_annotator_who_always_disagrees_is_found_out():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 200)
    good = np.stack([np.where(rng.random(200) < 0.85, truth, 1 - truth) for _ in range(4)], axis=1)
    contrarian = (1 - truth)[:, None]
    data = Labels.from_matrix(np.hstack([good, contrarian]).astype(float))
    results = fit_all(data)
    check_sane(results)
    assert results["glad"].model.alpha_[4] < 0
    assert results["one_coin"].model.accuracy_[4] < 0.2
    assert results["dawid_skene"].model.accuracy_[4] < 0.2
    for name in EM_METHODS:
        assert np.mean(results[name].labels == truth) > 0.9, name


def test_an_annotator_who_always_says_the_same_thing():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 200)
    good = np.stack([np.where(rng.random(200) < 0.8, truth, 1 - truth) for _ in range(4)], axis=1)
    data = Labels.from_matrix(np.hstack([good, np.ones((200, 1))]).astype(float))
    results = fit_all(data)
    check_sane(results)
    # Dawid-Skene sees the annotator's "1" says nothing about the truth: its rows are alike.
    confusion = results["dawid_skene"].model.confusion_[4]
    assert abs(confusion[0, 1] - confusion[1, 1]) < 0.1
    for name in EM_METHODS:
        assert np.mean(results[name].labels == truth) > 0.85, name


# -- properties on random valid inputs ------------------------------------------------------------------
@st.composite
def crowd_files(draw: st.DrawFn) -> tuple[list[tuple[str, str, str]], list[str]]:
    """A random long-format data set: (item, worker, label) rows with string ids, and the classes."""
    n_items = draw(st.integers(1, 12))
    n_workers = draw(st.integers(1, 5))
    classes = draw(
        st.lists(
            st.sampled_from(["cat", "dog", "owl", "0", "label", "x y"]), min_size=2, max_size=4, unique=True
        )
    )
    rows = []
    for j in range(n_items):
        for i in range(n_workers):
            if draw(st.booleans()) or not rows:
                rows.append((f"item{j}", f"w{i}", draw(st.sampled_from(classes))))
    return rows, classes


def to_csv(rows: list[tuple[str, str, str]]) -> str:
    return "item,worker,label\n" + "".join(f'{i},{w},"{lab}"\n' for i, w, lab in rows)


def fit_rows(tmp: Path, rows: list[tuple[str, str, str]], classes: list[str], name: str) -> dict:
    path = tmp / name
    path.write_text(to_csv(rows))
    data = load_labels(path, classes=classes).labels
    return {"data": data, "results": fit_all(data)}


def by_item(data: Labels, result) -> dict:
    return {
        item: dict(zip(data.class_names, result.posteriors[j], strict=True))
        for j, item in enumerate(data.item_names)
    }


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples on every run (see the known failure below)
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(drawn=crowd_files(), seed=st.integers(0, 2**16))
def test_random_inputs_give_sane_answers_whatever_the_row_order_and_names(tmp_path, drawn, seed):
    rows, classes = drawn
    base = fit_rows(tmp_path, rows, classes, "a.csv")
    check_sane(base["results"])
    shuffled = [rows[k] for k in np.random.default_rng(seed).permutation(len(rows))]
    renamed = [(f"q-{i}", f"annotator {w}", f"class<{lab}>") for i, w, lab in rows]
    for variant, rename in ((shuffled, False), (renamed, True)):
        names = [f"class<{c}>" for c in classes] if rename else classes
        other = fit_rows(tmp_path, variant, names, "b.csv")
        for name in METHODS:
            a = by_item(base["data"], base["results"][name])
            b = by_item(other["data"], other["results"][name])
            if rename:
                b = {k[2:]: {c[6:-1]: p for c, p in v.items()} for k, v in b.items()}
            assert a.keys() == b.keys()
            for item in a:
                for c in a[item]:
                    assert a[item][c] == pytest.approx(b[item][c], abs=1e-7), (name, item, c)


@pytest.mark.xfail(
    strict=True,
    reason="known: on this degenerate set (3 items, 7 labels, tied votes) the row order decides, through "
    "rounding, which optimum Dawid-Skene's EM reaches from the vote (objective -6.15 or -4.94); fitting "
    "small data in a canonical order (codes by name, labels sorted) would remove it",
)
def test_row_order_does_not_decide_dawid_skenes_optimum_on_a_tied_tiny_set(tmp_path):
    rows = [("item0", "w0", "cat"), ("item0", "w1", "cat"), ("item0", "w2", "dog"), ("item1", "w0", "cat"),
            ("item1", "w1", "dog"), ("item1", "w2", "cat"), ("item2", "w0", "dog")]  # fmt: skip
    shuffled = [rows[k] for k in np.random.default_rng(20666).permutation(len(rows))]
    a = fit_rows(tmp_path, rows, ["cat", "dog"], "a.csv")
    b = fit_rows(tmp_path, shuffled, ["cat", "dog"], "b.csv")
    pa = by_item(a["data"], a["results"]["dawid_skene"])
    pb = by_item(b["data"], b["results"]["dawid_skene"])
    assert pa["item0"]["cat"] == pytest.approx(pb["item0"]["cat"], abs=1e-7)


def _fit_files(tmp: Path, labels: Path, out: str, *extra: str) -> dict[str, bytes]:
    subprocess.run(
        [sys.executable, "-m", "emcrowd", "fit", str(labels), "--out", str(tmp / out), "-q", *extra],
        check=True,
    )
    files = {p.name: p.read_bytes() for p in sorted((tmp / out).iterdir())}
    summary = json.loads(files.pop("summary.json"))
    for timing in ("fit_seconds", "load_seconds", "peak_memory_mb"):
        summary.pop(timing)
    summary["input"].pop("seconds")
    summary["input"].pop("phases")
    files["summary.json"] = json.dumps(summary, sort_keys=True).encode()
    return files


@pytest.mark.parametrize("method", ["glad", "dawid-skene"])
def test_same_input_and_seed_give_byte_identical_files(tmp_path, method):
    rng = np.random.default_rng(3)
    rows = [
        (f"t{j}", f"w{i}", str(rng.integers(0, 3))) for j in range(60) for i in range(5) if rng.random() < 0.6
    ]
    (tmp_path / "x.csv").write_text(to_csv(rows))
    args = ("--method", method, "--n-init", "3", "--seed", "7")
    first = _fit_files(tmp_path, tmp_path / "x.csv", "a", *args)
    second = _fit_files(tmp_path, tmp_path / "x.csv", "b", *args)
    assert first == second


# -- interrupted runs -----------------------------------------------------------------------------------
def test_sigint_during_em_leaves_no_files(tmp_path):
    sim = tmp_path / "sim"
    subprocess.run(
        [sys.executable, "-m", "emcrowd", "simulate", "--items", "300000", "--workers", "3000", "-r", "5",
         "--format", "npz", "--out", str(sim), "-q"],
        check=True,
    )  # fmt: skip
    out = tmp_path / "out"
    proc = subprocess.Popen(
        # tol 1e-300: EM runs until max_iter, so the signal always lands inside it
        [
            sys.executable,
            "-m",
            "emcrowd",
            "fit",
            str(sim / "labels.npz"),
            "--out",
            str(out),
            "-q",
            "--tol",
            "1e-300",
            "--max-iter",
            "100000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    time.sleep(2.5)  # reading takes ~0.1 s and the fit several seconds: this lands inside EM
    assert proc.poll() is None, "the fit ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim"]
    _ = ROOT


def _python(*args: str) -> str:
    """Run this Python with ``args`` in a fresh process (module state is what is tested); its stdout."""
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_help_skips_markdown_but_leaves_it_importable():
    """The fast --help path imports Typer's renderer without rich.markdown and rich.traceback; the real
    modules must stay importable afterwards, and Typer's references must still reach the real classes
    if they are ever used."""
    code = (
        "import sys\n"
        "from emcrowd.cli import _help_renderer_without_markdown as f\n"
        "f()\n"
        "assert 'typer.rich_utils' in sys.modules and 'rich.markdown' not in sys.modules\n"
        "assert 'rich.traceback' not in sys.modules\n"
        "import typer.rich_utils as r\n"
        "m = r.Markdown('*x*')\n"
        "import rich.markdown, rich.traceback\n"
        "assert isinstance(m, rich.markdown.Markdown) and hasattr(rich.markdown, 'Heading')\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError as exc:\n"
        "    tb = r.Traceback.from_exception(type(exc), exc, exc.__traceback__)\n"
        "assert isinstance(tb, rich.traceback.Traceback)\n"
    )
    _python("-c", code)
    helped = _python("-m", "emcrowd", "--help")
    assert "Commands" in helped and "fit" in helped


def test_a_reader_that_stops_early_ends_fit_quietly(tmp_path):
    """``emcrowd fit L --out - | head``: stdout is written in chunks, and when the reader goes away the
    command ends quietly (status 0), not with an internal error."""
    from emcrowd.io import labels_npz
    from emcrowd.models.simulate import simulate_glad

    data = simulate_glad(70_000, 20, labels_per_item=3, seed=0).labels  # more rows than one chunk
    np.savez(tmp_path / "l.npz", **labels_npz(data))
    proc = subprocess.Popen(
        [sys.executable, "-m", "emcrowd", "fit", str(tmp_path / "l.npz"), "--out", "-", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert first.startswith(b"item,label,confidence")
    assert "error" not in err


def test_help_falls_back_when_the_renderer_needs_a_stood_in_module():
    """Should Typer or Rich come to import more from a stood-in module, --help still works: the
    renderer is then imported normally."""
    code = (
        "import sys\n"
        "import emcrowd.cli as cli\n"
        "cli._UNUSED_BY_HELP['rich.panel'] = 'NotPanel'  # typer.rich_utils needs rich.panel.Panel\n"
        "cli._help_renderer_without_markdown()\n"
        "assert 'typer.rich_utils' not in sys.modules and 'rich.panel' not in sys.modules\n"
        "sys.argv = ['emcrowd', '--help']\n"
        "cli.run()\n"
    )
    assert "Commands" in _python("-c", code)
