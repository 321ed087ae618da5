"""Incremental aggregation (issue 27): warm starts, the fit state, ``emcrowd update``, ``emcrowd stream``."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emcrowd.cli import app
from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models import MODELS
from emcrowd.models.simulate import simulate_dawid_skene, simulate_glad, simulate_mace
from tests.helpers import DATASETS, assert_non_decreasing, needs_datasets

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def part(data: Labels, keep: np.ndarray, n_items: int | None = None) -> Labels:
    """The labels ``keep`` of ``data`` (all items, or the first ``n_items``)."""
    names = data.item_names if n_items is None else data.item_names[:n_items]
    return Labels(
        data.item[keep], data.worker[keep], data.label[keep], names, data.worker_names, data.class_names
    )


def write_csv(path: Path, data: Labels, rows: np.ndarray | None = None) -> Path:
    rows = np.arange(data.n_labels) if rows is None else rows
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("item,worker,label\n")
        for o in rows.tolist():
            fh.write(
                f"{data.item_names[data.item[o]]},{data.worker_names[data.worker[o]]},"
                f"{data.class_names[data.label[o]]}\n"
            )
    return path


def items_of(directory: Path) -> dict[str, str]:
    with open(directory / "items.csv", newline="", encoding="utf-8") as fh:
        return {r["item"]: r["label"] for r in csv.DictReader(fh)}


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


# -- warm starts in Python ---------------------------------------------------------------------------


SIMULATIONS = {
    "glad": lambda n, seed: simulate_glad(n, 30, labels_per_item=5, seed=seed).labels,
    "dawid_skene": lambda n, seed: simulate_dawid_skene(n, 30, labels_per_item=5, n_classes=3, seed=seed)[0],
    "one_coin": lambda n, seed: simulate_dawid_skene(n, 30, labels_per_item=5, seed=seed)[0],
    "mace": lambda n, seed: simulate_mace(n, 30, labels_per_item=5, seed=seed).labels,
    "bayesian_ds": lambda n, seed: simulate_dawid_skene(n, 30, labels_per_item=5, seed=seed)[0],
}


@pytest.mark.parametrize("method", sorted(SIMULATIONS))
@pytest.mark.parametrize("n_items", [300, 2000])
def test_warm_start_is_a_fit_of_all_the_labels_in_fewer_iterations(method, n_items):
    data = SIMULATIONS[method](n_items, n_items)
    n_old = int(n_items * 0.9)
    previous = MODELS[method]().fit(part(data, data.item < n_old, n_old))
    cold = MODELS[method]().fit(data)
    warm = MODELS[method]().fit(data, init=previous)
    assert warm.converged_
    assert_non_decreasing(warm.history_)
    if n_items >= 2000:  # (on few items EM can take a slow path from anywhere)
        assert warm.n_iter_ < cold.n_iter_
    assert np.mean(warm.labels_ == cold.labels_) >= 0.99
    # the same optimum, or as good a one, to the tolerance
    assert warm.lower_bound_ >= cold.lower_bound_ - 1e-4 * abs(cold.lower_bound_)


def test_warm_start_matches_annotators_and_items_by_id():
    """The new data's codes are in another order (and has a new annotator): the start is by name."""
    data = simulate_dawid_skene(400, 12, labels_per_item=5, seed=3)[0]
    previous = MODELS["dawid_skene"]().fit(data)
    order = np.random.default_rng(0).permutation(data.n_workers)  # codes shuffled
    inverse = np.argsort(order)
    renamed = Labels(
        data.item, inverse[data.worker], data.label, data.item_names,
        tuple(data.worker_names[i] for i in order), data.class_names,
    )  # fmt: skip
    warm = MODELS["dawid_skene"]().fit(renamed, init=previous)
    assert warm.n_iter_ <= 3  # already at the optimum: it only checks
    np.testing.assert_allclose(warm.confusion_, previous.confusion_[order], atol=1e-2)


def test_warm_start_refusals():
    data = simulate_dawid_skene(100, 8, labels_per_item=4, seed=1)[0]
    ds = MODELS["dawid_skene"]().fit(data)
    with pytest.raises(EmcrowdError, match="same method"):
        MODELS["glad"]().fit(data, init=ds)
    with pytest.raises(EmcrowdError, match="not fitted"):
        MODELS["dawid_skene"]().fit(data, init=MODELS["dawid_skene"]())
    with pytest.raises(EmcrowdError, match="ebcc cannot start from a previous fit: its class subtypes"):
        MODELS["ebcc"]().fit(data, init=ds)
    other = Labels(data.item, data.worker, data.label, data.item_names, data.worker_names, ("a", "b"))
    with pytest.raises(EmcrowdError, match="same class set"):
        MODELS["dawid_skene"]().fit(other, init=ds)


# -- fit --keep-state, update ------------------------------------------------------------------------


@pytest.fixture
def two_batches(tmp_path) -> tuple[Labels, Path, Path, Path]:
    """400 items; the first 320 in a.csv, the rest (and a few labels more on known items) in b.csv."""
    data = simulate_dawid_skene(400, 15, labels_per_item=5, seed=5)[0]
    rows = np.arange(data.n_labels)
    late = (data.item >= 320) | (rows % 97 == 0)
    a = write_csv(tmp_path / "a.csv", data, rows[~late])
    b = write_csv(tmp_path / "b.csv", data, rows[late])
    everything = write_csv(tmp_path / "all.csv", data)
    return data, a, b, everything


@pytest.mark.parametrize("method", ["glad", "dawid-skene", "one-coin", "mace", "bayesian-ds", "majority"])
def test_update_equals_a_fit_of_all_the_labels(two_batches, tmp_path, method):
    _, a, b, everything = two_batches
    res = invoke("fit", a, "-m", method, "--keep-state", "-o", tmp_path / "prev", "-q")
    assert res.exit_code == 0, res.stderr
    res = invoke("update", tmp_path / "prev", b, "-o", tmp_path / "next", "-q")
    assert res.exit_code == 0, res.stderr
    res = invoke("fit", everything, "-m", method, "-o", tmp_path / "full", "-q")
    assert res.exit_code == 0, res.stderr
    updated, full = items_of(tmp_path / "next"), items_of(tmp_path / "full")
    assert updated.keys() == full.keys()
    assert np.mean([updated[k] == full[k] for k in full]) >= 0.99
    summary = json.loads((tmp_path / "next" / "summary.json").read_text())
    assert summary["n_labels"] == json.loads((tmp_path / "full" / "summary.json").read_text())["n_labels"]
    assert summary["update"]["new_items"] == 80
    # the update keeps a state too: a second update works from it
    res = invoke("update", tmp_path / "next", b, "-q")
    assert res.exit_code == 0, res.stderr


def test_update_in_place_and_labels_already_known_change_nothing(two_batches, tmp_path):
    _, a, b, _ = two_batches
    prev = tmp_path / "prev"
    assert invoke("fit", a, "-m", "ds", "--keep-state", "-o", prev, "-q").exit_code == 0
    before = files_of(prev)
    res = invoke("update", prev, a)  # every label of a.csv is in the fit already
    assert res.exit_code == 0, res.stderr
    assert "nothing changes" in res.stderr
    assert files_of(prev) == before
    res = invoke("update", prev, a, "-o", tmp_path / "elsewhere", "-q")
    assert res.exit_code == 0 and not (tmp_path / "elsewhere").exists()
    res = invoke("update", prev, b, "-q", "--json")  # in place
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["update"]["new_items"] == 80
    assert files_of(prev) != before
    assert len(items_of(prev)) == 400
    assert not [p for p in prev.iterdir() if p.name.startswith(".")]


def test_update_follows_the_duplicates_policy(tmp_path):
    data = simulate_dawid_skene(60, 6, labels_per_item=3, seed=2)[0]
    a = write_csv(tmp_path / "a.csv", data)
    o = 0  # the first label again, with the other class
    b = tmp_path / "b.csv"
    flipped = data.class_names[1 - data.label[o]]
    b.write_text(
        f"item,worker,label\n{data.item_names[data.item[o]]},{data.worker_names[data.worker[o]]},{flipped}\n"
    )
    for policy, expected in (("keep", data.n_labels + 1), ("last", data.n_labels), ("first", data.n_labels)):
        out = tmp_path / policy
        res = invoke("fit", a, "-m", "ds", "--duplicates", policy, "--keep-state", "-o", out, "-q")
        assert res.exit_code == 0, res.stderr
        res = invoke("update", out, b, "-q")
        assert res.exit_code == 0, res.stderr
        assert json.loads((out / "summary.json").read_text())["n_labels"] == expected
    out = tmp_path / "strict"
    assert (
        invoke("fit", a, "-m", "ds", "--duplicates", "error", "--keep-state", "-o", out, "-q").exit_code == 0
    )
    before = files_of(out)
    res = invoke("update", out, b)
    assert res.exit_code == 2 and "labelled item" in res.stderr
    assert files_of(out) == before


def test_fit_from_a_previous_fit(two_batches, tmp_path):
    _, a, _, everything = two_batches
    assert invoke("fit", a, "-m", "ds", "--keep-state", "-o", tmp_path / "prev", "-q").exit_code == 0
    res = invoke("fit", everything, "--from", tmp_path / "prev", "-o", tmp_path / "warm", "-q")
    assert res.exit_code == 0, res.stderr
    warm = json.loads((tmp_path / "warm" / "summary.json").read_text())
    assert warm["fitted_method"] == "dawid_skene"  # the previous fit's method
    res = invoke("fit", everything, "-m", "ds", "-o", tmp_path / "cold", "-q")
    cold = json.loads((tmp_path / "cold" / "summary.json").read_text())
    assert warm["n_iter"] < cold["n_iter"]
    res = invoke("fit", everything, "--from", tmp_path / "prev", "-m", "glad", "-o", tmp_path / "x")
    assert res.exit_code == 2 and "not glad" in res.stderr and not (tmp_path / "x").exists()


def _one_error_line(res) -> str:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2, res.stderr
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def _rewrite_json(path: Path, **changes) -> None:
    from emcrowd.io.state import _checksum

    doc = json.loads(path.read_text())
    doc.update(changes)
    doc["checksum"] = _checksum(doc)
    path.write_text(json.dumps(doc))


DAMAGE = {
    "truncated labels": lambda d: (d / "state-labels.npz").write_bytes(
        (d / "state-labels.npz").read_bytes()[:500]
    ),
    "flipped byte": lambda d: _flip(d / "state-labels.npz"),
    "missing params": lambda d: (d / "state-params.npz").unlink(),
    "edited json": lambda d: (d / "state.json").write_text(
        (d / "state.json").read_text().replace("dawid_skene", "glad")
    ),
    "not json": lambda d: (d / "state.json").write_text("{"),
    "other major version": lambda d: _rewrite_json(d / "state.json", emcrowd_version="99.0.0"),
    "other format version": lambda d: _rewrite_json(d / "state.json", format_version=99),
    "other fit's params": lambda d: _rewrite_json(d / "state.json", state_id="0" * 32),
    "no state": lambda d: (d / "state.json").unlink(),
}


def _flip(path: Path) -> None:
    """One byte of the item codes changed (inside the first array member's data)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("item.npy")
    raw[info.header_offset + 200] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_or_mismatched_state_is_refused_with_one_line(two_batches, tmp_path, damage):
    _, a, b, _ = two_batches
    prev = tmp_path / "prev"
    assert invoke("fit", a, "-m", "ds", "--keep-state", "-o", prev, "-q").exit_code == 0
    DAMAGE[damage](prev)
    before = files_of(prev)
    line = _one_error_line(invoke("update", prev, b, "-o", tmp_path / "out"))
    assert str(prev) in line
    assert not (tmp_path / "out").exists()
    line = _one_error_line(invoke("update", prev, b))
    assert files_of(prev) == before
    line = _one_error_line(invoke("fit", b, "--from", prev, "-o", tmp_path / "warm"))
    assert not (tmp_path / "warm").exists()


def test_another_class_set_is_refused(two_batches, tmp_path):
    _, a, _, _ = two_batches
    prev = tmp_path / "prev"
    assert invoke("fit", a, "-m", "ds", "--keep-state", "-o", prev, "-q").exit_code == 0
    before = files_of(prev)
    other = tmp_path / "other.csv"
    other.write_text("item,worker,label\nx,y,maybe\n")
    line = _one_error_line(invoke("update", prev, other))
    assert "other.csv" in line
    assert files_of(prev) == before


@needs_datasets
@pytest.mark.parametrize("name", ["bluebirds", "rte", "temp", "dog", "adult2"])
@pytest.mark.parametrize("method", ["glad", "dawid-skene"])
def test_five_batches_of_updates_match_one_fit(tmp_path, name, method):
    """Labels split in five batches in file order, added one at a time: the accuracy of one fit of all
    the labels, within 0.002."""
    source = DATASETS / name / "labels.csv"
    lines = source.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    cuts = np.linspace(0, len(rows), 6).astype(int)
    batches = []
    for i in range(5):
        path = tmp_path / f"batch{i}.csv"
        path.write_text("\n".join([header, *rows[cuts[i] : cuts[i + 1]]]) + "\n", encoding="utf-8")
        batches.append(path)
    with open(DATASETS / name / "truth.csv", newline="") as fh:
        truth = {r["item"]: r["label"] for r in csv.DictReader(fh)}
    classes = ",".join(sorted({r.split(",")[-1] for r in rows}, key=int))
    common = ("--classes", classes, "-q")
    out = tmp_path / "inc"
    assert invoke("fit", batches[0], "-m", method, "--keep-state", "-o", out, *common).exit_code == 0
    for batch in batches[1:]:
        res = invoke("update", out, batch, "-q")
        assert res.exit_code == 0, res.stderr
    assert invoke("fit", source, "-m", method, "-o", tmp_path / "full", *common).exit_code == 0

    def accuracy(directory: Path) -> float:
        got = items_of(directory)
        return float(np.mean([got[k] == v for k, v in truth.items()]))

    assert abs(accuracy(out) - accuracy(tmp_path / "full")) <= 0.002


# -- incremental update ------------------------------------------------------------------------------


@pytest.fixture
def growing(tmp_path) -> tuple[Labels, list[Path], Path]:
    """3,000 items; the first fit on 2,700, then two batches of 150 new items each, the first with a
    few more labels on known items too; and all the labels in one file."""
    data = simulate_dawid_skene(3000, 40, labels_per_item=5, seed=11)[0]
    rows = np.arange(data.n_labels)
    extra = (data.item < 2700) & (rows % 211 == 0)  # labels that arrive late, on known items
    first = (data.item < 2700) & ~extra
    second = ((data.item >= 2700) & (data.item < 2850)) | extra
    third = data.item >= 2850
    paths = [
        write_csv(tmp_path / f"part{i}.csv", data, rows[m]) for i, m in enumerate((first, second, third))
    ]
    return data, paths, write_csv(tmp_path / "all.csv", data)


def _labels_arrays(directory: Path) -> tuple[np.ndarray, ...]:
    from emcrowd.io.state import read_codes, read_state_meta

    return read_codes(directory, read_state_meta(directory))


@pytest.mark.parametrize("method", ["dawid-skene", "glad"])
def test_incremental_update_keeps_exact_statistics_and_appends_chunks(growing, tmp_path, method):
    from emcrowd.io.state import read_names, read_state_meta, read_stats
    from emcrowd.models._incremental import answer_counts, confusion_counts

    data, (first, second, third), everything = growing
    prev, nxt = tmp_path / "prev", tmp_path / "next"
    assert invoke("fit", first, "-m", method, "--keep-state", "-o", prev, "-q").exit_code == 0
    res = invoke("update", prev, second, "-o", nxt, "-q", "--json")
    assert res.exit_code == 0, res.stderr
    record = json.loads(res.stdout)["update"]
    assert record["incremental"] and record["new_items"] == 150
    assert 150 + 1 < record["active_items"] < 1000  # the touched and the uncertain known items only
    res = invoke("update", nxt, third, "-q")  # in place, a second chunk
    assert res.exit_code == 0, res.stderr
    meta = read_state_meta(nxt)
    assert [c["file"] for c in meta["label_chunks"]] == ["state-labels-0001.npz", "state-labels-0002.npz"]
    assert (prev / "state-labels.npz").read_bytes() == (nxt / "state-labels.npz").read_bytes()
    item, worker, label = _labels_arrays(nxt)
    items, workers = read_names(nxt, meta)
    assert (len(items), len(workers), item.size) == (data.n_items, data.n_workers, data.n_labels)
    # the kept statistics are those of all the labels at the kept posteriors (the bookkeeping of the
    # active items' statistics, taken out and put back, loses nothing)
    stats = read_stats(nxt, meta)
    q = stats["item_q"]
    np.testing.assert_allclose(stats["class_counts"], q.sum(axis=0), rtol=1e-9)
    np.testing.assert_array_equal(stats["worker_n_labels"], np.bincount(worker, minlength=len(workers)))
    if method == "dawid-skene":
        counts = confusion_counts(item, worker, label, q, len(workers))
        np.testing.assert_allclose(stats["confusion_counts"], counts, rtol=1e-9, atol=1e-9)
    got = items_of(nxt)
    code = {c: i for i, c in enumerate(data.class_names)}
    chosen = np.array([code[got[name]] for name in items])
    kept = answer_counts(item, worker, label, chosen, len(workers), data.n_classes)
    np.testing.assert_array_equal(stats["answer_counts"], kept)
    # every item once in the tables; the labels as a full fit's
    with open(nxt / "posteriors.csv", newline="", encoding="utf-8") as fh:
        assert sorted(r["item"] for r in csv.DictReader(fh)) == sorted(data.item_names)
    assert invoke("fit", everything, "-m", method, "-o", tmp_path / "full", "-q").exit_code == 0
    full = items_of(tmp_path / "full")
    assert got.keys() == full.keys()
    assert np.mean([got[k] == full[k] for k in full]) >= 0.98  # (the first fit itself: 0.979)
    with open(nxt / "workers.csv", newline="", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == data.n_workers
    # a warm start from the chunked state, and an exact refit (--refit) of it: one labels file again
    res = invoke("fit", everything, "--from", nxt, "-o", tmp_path / "warm", "-q")
    assert res.exit_code == 0, res.stderr
    warm = items_of(tmp_path / "warm")
    assert np.mean([warm[k] == full[k] for k in full]) >= 0.995
    one = tmp_path / "one.csv"
    one.write_text(f"item,worker,label\nzz-new,{data.worker_names[0]},{data.class_names[0]}\n")
    res = invoke("update", nxt, one, "--refit", "-q")
    assert res.exit_code == 0, res.stderr
    assert "label_chunks" not in read_state_meta(nxt)
    assert not list(nxt.glob("state-labels-0*.npz"))
    assert items_of(nxt).keys() == {*full, "zz-new"}


def test_incremental_update_is_close_to_a_refit_on_simulations(tmp_path):
    """New items by known annotators, 2% of the labels: the update and a full fit agree on 99.5%."""
    for seed, (method, simulate) in enumerate(
        (("dawid_skene", SIMULATIONS["dawid_skene"]), ("glad", SIMULATIONS["glad"]))
    ):
        data = simulate(5000, seed)
        n_old = 4900
        old, new = part(data, data.item < n_old, n_old), data
        rows = np.arange(data.n_labels)
        a = write_csv(tmp_path / f"{method}-a.csv", old)
        b = write_csv(tmp_path / f"{method}-b.csv", data, rows[data.item >= n_old])
        prev = tmp_path / f"{method}-prev"
        assert invoke("fit", a, "-m", method, "--keep-state", "-o", prev, "-q").exit_code == 0
        res = invoke("update", prev, b, "-q")
        assert res.exit_code == 0, res.stderr
        assert json.loads((prev / "summary.json").read_text())["update"]["incremental"]
        full = tmp_path / f"{method}-full"
        assert (
            invoke("fit", write_csv(tmp_path / "all.csv", new), "-m", method, "-o", full, "-q").exit_code == 0
        )
        got, want = items_of(prev), items_of(full)
        assert np.mean([got[k] == want[k] for k in want]) >= 0.995


def test_a_damaged_chunk_is_refused_with_one_line(growing, tmp_path):
    _, (first, second, third), _ = growing
    prev = tmp_path / "prev"
    assert invoke("fit", first, "-m", "ds", "--keep-state", "-o", prev, "-q").exit_code == 0
    assert invoke("update", prev, second, "-q").exit_code == 0
    chunk = prev / "state-labels-0001.npz"
    _flip(chunk)
    before = files_of(prev)
    line = _one_error_line(invoke("update", prev, third))
    assert "state-labels-0001.npz" in line
    assert files_of(prev) == before
    chunk.unlink()
    line = _one_error_line(invoke("update", prev, third, "--refit"))
    assert "state-labels-0001.npz" in line and "missing" in line


def test_many_new_labels_or_gold_fit_all_the_labels_again(growing, tmp_path):
    _, (first, second, _), _ = growing
    prev = tmp_path / "prev"
    assert invoke("fit", first, "-m", "ds", "--keep-state", "-o", prev, "-q").exit_code == 0
    res = invoke("update", prev, second, "--cold-check", "0.01", "-o", tmp_path / "a", "--json")
    assert res.exit_code == 0, res.stderr
    assert "Fitting all the labels again" in res.stderr
    assert "incremental" not in json.loads(res.stdout)["update"]
    assert "label_chunks" not in json.loads((tmp_path / "a" / "state.json").read_text())


def test_incremental_update_with_csv_safe_guards_the_new_rows(growing, tmp_path):
    data, (first, _, _), _ = growing
    prev = tmp_path / "prev"
    assert invoke("fit", first, "-m", "ds", "--keep-state", "-o", prev, "-q").exit_code == 0
    evil = tmp_path / "evil.csv"
    evil.write_text(f"item,worker,label\n=cmd,{data.worker_names[0]},{data.class_names[1]}\n")
    res = invoke("update", prev, evil, "--csv-safe", "-q", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["update"]["incremental"]
    assert "'=cmd" in items_of(prev)


# -- stream ------------------------------------------------------------------------------------------


def test_stream_one_pass_from_stdin(tmp_path):
    data, truth, _ = simulate_dawid_skene(3000, 40, labels_per_item=5, seed=11)
    order = np.random.default_rng(1).permutation(data.n_labels)  # labels arrive in any order
    text = "".join(
        f"{data.item_names[data.item[o]]}\t{data.worker_names[data.worker[o]]}\t{data.class_names[data.label[o]]}\n"
        for o in order.tolist()
    )
    res = runner.invoke(
        app, ["stream", "--classes", "0,1", "--out", str(tmp_path / "s"), "--every", "4000"], input=text
    )
    assert res.exit_code == 0, res.stderr
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["final"] and summary["n_labels"] == data.n_labels and summary["n_items"] == 3000
    got = items_of(tmp_path / "s")
    accuracy = np.mean([int(got[data.item_names[j]]) == truth[j] for j in range(data.n_items)])
    from emcrowd.models.classification.majority import majority_vote

    mv = np.mean(majority_vote(data).labels == truth)
    assert accuracy >= mv - 0.01  # one pass, no revisiting: about majority vote or better
    with open(tmp_path / "s" / "workers.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 40


def test_stream_refuses_an_unknown_class(tmp_path):
    res = runner.invoke(app, ["stream", "--classes", "a,b", "--out", str(tmp_path / "s")], input="i,w,c\n")
    assert res.exit_code == 2 and "'c' is not one of the classes" in res.stderr


def test_sigterm_during_stream_leaves_the_last_complete_snapshot(tmp_path):
    source = tmp_path / "labels.csv"
    rng = np.random.default_rng(0)
    with open(source, "w") as fh:
        fh.write("task,worker,label\n")
        for j in range(2000):
            for w in rng.choice(30, 3, replace=False):
                fh.write(f"t{j},w{w},{rng.integers(2)}\n")
    out = tmp_path / "live"
    env = {**os.environ, "NO_COLOR": "1"}
    cmd = [
        sys.executable,
        "-m",
        "emcrowd",
        "stream",
        str(source),
        "--follow",
        "--classes",
        "0,1",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        [*cmd, "--every", "1000", "--interval", "0.2"], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            summary = out / "summary.json"
            if summary.exists() and json.loads(summary.read_text())["n_labels"] == 6000:
                break
            time.sleep(0.1)
        else:
            pytest.fail("no snapshot of all the labels within a minute")
        with open(source, "a") as fh:  # the file grows: followed
            fh.write("t0,w99,1\n")
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final"] and summary["n_labels"] == 6001
    assert len(items_of(out)) == summary["n_items"] == 2000
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left
