"""Real annotation exports (issue 3): long CSV/TSV and stdin, string ids and classes, missing answers,
repeated (item, worker) pairs, truth by id, pipes and ``emcrowd info``."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emcrowd.cli import app
from emcrowd.io import load_labels
from emcrowd.models.simulate import simulate_glad
from tests.helpers import DATASETS, needs_datasets

ROOT = Path(__file__).resolve().parents[1]
REAL = ["adult2", "bluebirds", "dog", "rte", "temp"]
MATRIX_REAL = ["bluebirds", "rte", "temp"]  # the binary data sets that also ship L.npy and items.txt

runner = CliRunner()


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def invoke(*args: object, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def run_cli(*args: object, cwd: Path, input: str | bytes | None = None) -> subprocess.CompletedProcess:
    """A separate interpreter with real stdin/stdout/stderr pipes."""
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "emcrowd", *(str(a) for a in args)],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=isinstance(input, str) or input is None,
        timeout=120,
        env=env,
    )


def write(path: Path, text: str) -> Path:
    """Write text byte for byte (no newline translation)."""
    path.write_bytes(text.encode("utf-8"))
    return path


def long_text(
    rows: list[tuple[str, ...]], header: tuple[str, ...] = ("item", "worker", "label"), sep=","
) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def posteriors(out: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """posteriors.csv of a fit: its header and item id -> posterior row."""
    header, rows = read_table(out / "posteriors.csv")
    table = {r["item"]: np.array([float(r[c]) for c in header[1:]]) for r in rows}
    assert len(table) == len(rows), "an item appears twice in posteriors.csv"
    return header, table


def fit_dir(labels: Path | str, out: Path, *options: object) -> tuple[list[str], dict[str, np.ndarray]]:
    res = invoke("fit", labels, "--out", out, "-q", *options)
    assert res.exit_code == 0, res.stderr
    return posteriors(out)


def info_json(labels: Path | str, *options: object, input: str | None = None) -> dict:
    res = invoke("info", labels, "--json", *options, input=input)
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def user_error(res) -> str:
    """A user error: exit 2, nothing on stdout, one line on stderr; returns that line."""
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    assert res.stdout == ""
    message = res.stderr.strip()
    assert "\n" not in message, message
    assert message.startswith("emcrowd: error:")
    return message


def assert_same_posteriors(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert set(got) == set(want)
    for item, p in want.items():
        assert np.allclose(got[item], p, rtol=0, atol=1e-9), (item, got[item], p)


def triples(loaded) -> Counter:
    """The observed labels of a load, as (item id, worker id, class name) with multiplicity."""
    lab = loaded.labels
    return Counter(
        (lab.item_names[i], lab.worker_names[w], lab.class_names[k])
        for i, w, k in zip(lab.item.tolist(), lab.worker.tolist(), lab.label.tolist(), strict=True)
    )


def read_long(path: Path) -> list[tuple[str, str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        return [(r[0], r[1], r[2]) for r in reader if r]


# --------------------------------------------------------------------------------------------------
# the real data sets: labels.csv with string ids, fit and compare keyed by them
# --------------------------------------------------------------------------------------------------
@needs_datasets
@pytest.mark.parametrize("name", REAL)
def test_real_labels_csv_fits_with_outputs_keyed_by_original_ids(name, tmp_path):
    folder = DATASETS / name
    rows = read_long(folder / "labels.csv")
    stats = json.loads((folder / "meta.json").read_text())["stats"]
    items = {r[0] for r in rows}
    workers = {r[1] for r in rows}
    classes = sorted({r[2] for r in rows}, key=int)

    out = tmp_path / "fit"
    res = invoke("fit", folder / "labels.csv", "--out", out)
    assert res.exit_code == 0, res.stderr
    assert res.stdout == ""
    header, post = posteriors(out)
    assert header == ["item"] + [f"p_{c}" for c in classes]
    assert set(post) == items and len(post) == stats["items"]
    p = np.array(list(post.values()))
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)

    _, worker_rows = read_table(out / "workers.csv")
    assert {r["worker"] for r in worker_rows} == workers
    assert len(worker_rows) == len(workers) == stats["workers"]
    assert sum(int(r["n_labels"]) for r in worker_rows) == len(rows)

    _, item_rows = read_table(out / "items.csv")
    assert {r["item"] for r in item_rows} == items
    assert {r["label"] for r in item_rows} <= set(classes)
    # the chosen label is the class with the largest posterior, looked up by the item's own id
    for r in item_rows:
        assert classes[int(np.argmax(post[r["item"]]))] == r["label"]

    summary = json.loads((out / "summary.json").read_text())
    assert summary["classes"] == classes
    assert summary["input"]["format"] == "long"
    assert summary["input"]["n_duplicate_pairs"] == stats["duplicate_item_worker_pairs"]
    assert summary["n_labels"] == stats["labels"]


@needs_datasets
@pytest.mark.parametrize("name", REAL)
def test_real_compare_matches_gold_by_id(name):
    folder = DATASETS / name
    rows = read_long(folder / "labels.csv")
    gold = {r[0]: r[1] for r in read_long_truth(folder / "truth.csv")}
    # independent majority vote: every row is a vote (repeats too), ties to the smallest class
    votes: dict[str, Counter] = defaultdict(Counter)
    for item, _, label in rows:
        votes[item][int(label)] += 1
    majority = {item: min(c, key=lambda k: (-c[k], k)) for item, c in votes.items()}
    expected_correct = sum(majority[item] == int(label) for item, label in gold.items())

    res = invoke("compare", folder / "labels.csv", "--truth", folder / "truth.csv", "--json", "-q")
    assert res.exit_code == 0, res.stderr
    metrics = json.loads(res.stdout)
    assert metrics["n_items"] == len(votes)
    assert metrics["n_workers"] == len({r[1] for r in rows})
    assert metrics["n_labels"] == len(rows)
    assert metrics["classes"] == sorted({r[2] for r in rows}, key=int)
    assert metrics["n_gold"] == len(gold)
    assert metrics["n_gold_unknown_items"] == 0
    assert metrics["methods"]["majority"]["correct"] == expected_correct
    assert metrics["methods"]["majority"]["total"] == len(gold)
    assert metrics["methods"]["glad"]["converged"] is True
    assert metrics["methods"]["glad"]["accuracy"] > 0.7


def read_long_truth(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        assert next(reader) == ["item", "label"]
        return [(r[0], r[1]) for r in reader if r]


@needs_datasets
def test_adult2_repeated_pairs_are_counted_and_policies_apply(tmp_path):
    path = DATASETS / "adult2" / "labels.csv"
    kept = load_labels(path)
    rep = kept.report
    assert rep.format == "long"
    assert rep.n_duplicate_pairs == 2918
    assert rep.n_duplicate_rows == 2922
    assert rep.n_conflicting_pairs == 149
    assert rep.n_dropped == 0
    assert kept.labels.n_labels == 92721
    assert (kept.labels.n_items, kept.labels.n_workers) == (11040, 825)

    first = load_labels(path, duplicates="first")
    assert first.report.n_duplicate_pairs == 2918
    assert first.report.n_dropped == 2922
    assert first.labels.n_labels == 92721 - 2922
    pairs = first.labels.item.astype(np.int64) * first.labels.n_workers + first.labels.worker
    assert np.unique(pairs).size == pairs.size

    res = invoke("fit", path, "--duplicates", "error", "--out", tmp_path / "out")
    assert "--duplicates" in user_error(res)
    assert not (tmp_path / "out").exists()


@needs_datasets
def test_adult2_info_json_reports_repeats():
    record = info_json(DATASETS / "adult2" / "labels.csv")
    assert record["source"]["n_duplicate_pairs"] == 2918
    assert record["source"]["n_duplicate_rows"] == 2922
    assert record["source"]["n_conflicting_pairs"] == 149
    assert record["n_labels"] == 92721
    assert record["classes"] == {"0": 70706, "1": 10579, "2": 4340, "3": 7096}


@needs_datasets
@pytest.mark.parametrize("name", MATRIX_REAL)
def test_real_matrix_and_long_files_give_the_same_posteriors(name, tmp_path):
    folder = DATASETS / name
    item_ids = (folder / "items.txt").read_text().split()
    _, from_matrix = fit_dir(folder / "L.npy", tmp_path / "matrix")
    assert len(item_ids) == len(from_matrix)
    by_id = {item_ids[int(j)]: p for j, p in from_matrix.items()}
    _, from_long = fit_dir(folder / "labels.csv", tmp_path / "long")
    assert_same_posteriors(from_long, by_id)


# --------------------------------------------------------------------------------------------------
# the same data in every format
# --------------------------------------------------------------------------------------------------
N_ITEMS, N_WORKERS = 60, 8
ITEM_IDS = [f"it{j}" for j in range(N_ITEMS)]  # string order differs from row order: it10 < it2
WORKER_IDS = [f"w{i}" for i in range(N_WORKERS)]


@pytest.fixture(scope="module")
def sim():
    s = simulate_glad(N_ITEMS, N_WORKERS, labels_per_item=4, n_classes=3, seed=3)
    lab = s.labels
    assert lab.labels_per_item().min() > 0 and lab.labels_per_worker().min() > 0
    assert np.bincount(lab.label, minlength=3).min() > 0
    rows = [
        (ITEM_IDS[j], WORKER_IDS[i], str(k))
        for j, i, k in zip(lab.item.tolist(), lab.worker.tolist(), lab.label.tolist(), strict=True)
    ]
    return lab.to_matrix(), rows


@pytest.fixture(scope="module")
def reference(sim, tmp_path_factory) -> dict[str, np.ndarray]:
    """GLAD posteriors from the .npy matrix, keyed by the long files' item ids."""
    matrix, _ = sim
    folder = tmp_path_factory.mktemp("ref")
    np.save(folder / "L.npy", matrix)
    header, post = fit_dir(folder / "L.npy", folder / "out")
    assert header == ["item", "p_0", "p_1", "p_2"]
    return {ITEM_IDS[int(j)]: p for j, p in post.items()}


def matrix_csv(matrix: np.ndarray, header: list[str] | None) -> str:
    lines = [",".join(header)] if header else []
    lines += [",".join("" if np.isnan(v) else str(int(v)) for v in row) for row in matrix]
    return "\n".join(lines) + "\n"


def variant_file(kind: str, sim, folder: Path) -> Path:
    matrix, rows = sim
    if kind == "npy":
        np.save(folder / "L.npy", matrix)
        return folder / "L.npy"
    if kind == "matrix-csv":
        return write(folder / "L.csv", matrix_csv(matrix, None))
    if kind == "matrix-csv-header":
        return write(folder / "L.csv", matrix_csv(matrix, WORKER_IDS))
    if kind == "long-csv":
        return write(folder / "labels.csv", long_text(rows))
    if kind == "long-tsv":
        return write(folder / "labels.tsv", long_text(rows, sep="\t"))
    if kind == "long-shuffled":
        shuffled = rows[:]
        random.Random(5).shuffle(shuffled)
        assert shuffled != rows
        return write(folder / "labels.csv", long_text(shuffled))
    if kind == "long-reversed-tsv":
        return write(folder / "labels.tsv", long_text(rows[::-1], sep="\t"))
    if kind == "long-other-columns":
        # other recognised names, in another order, with extra columns (one holding commas and quotes)
        extra = [
            (label, f'note, "{n}"', worker, "2024-01-01", item)
            for n, (item, worker, label) in enumerate(rows)
        ]
        header = ("answer", "comment", "annotator", "time", "task")
        return write(folder / "export.csv", long_text(extra, header=header))
    if kind == "long-crlf-bom":
        return write(folder / "labels.csv", "\ufeff" + long_text(rows).replace("\n", "\r\n"))
    if kind == "long-blank-lines":
        text = long_text(rows).replace("\n", "\n\n", 10)
        return write(folder / "labels.csv", "\n" + text + "\n\n")
    raise AssertionError(kind)


MATRIX_KINDS = ["npy", "matrix-csv", "matrix-csv-header"]
LONG_KINDS = [
    "long-csv",
    "long-tsv",
    "long-shuffled",
    "long-reversed-tsv",
    "long-other-columns",
    "long-crlf-bom",
    "long-blank-lines",
]


@pytest.mark.parametrize("kind", MATRIX_KINDS + LONG_KINDS)
def test_every_format_gives_the_same_posteriors(kind, sim, reference, tmp_path):
    path = variant_file(kind, sim, tmp_path)
    header, post = fit_dir(path, tmp_path / "out")
    assert header == ["item", "p_0", "p_1", "p_2"]
    if kind in MATRIX_KINDS:
        post = {ITEM_IDS[int(j)]: p for j, p in post.items()}
    assert_same_posteriors(post, reference)


@pytest.mark.parametrize("kind", LONG_KINDS)
def test_every_long_format_reads_the_same_labels(kind, sim, tmp_path):
    _, rows = sim
    loaded = load_labels(variant_file(kind, sim, tmp_path))
    assert loaded.report.format == "long"
    assert triples(loaded) == Counter(rows)
    assert loaded.report.n_rows == len(rows)
    assert loaded.labels.class_names == ("0", "1", "2")


@pytest.mark.parametrize("sep", [",", "\t"])
def test_stdin_gives_the_same_posteriors(sep, sim, reference, tmp_path):
    _, rows = sim
    shuffled = rows[:]
    random.Random(11).shuffle(shuffled)
    res = run_cli("fit", "-", "--out", tmp_path / "out", cwd=tmp_path, input=long_text(shuffled, sep=sep))
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    _, post = posteriors(tmp_path / "out")
    assert_same_posteriors(post, reference)


def test_stdin_pipe_output_agrees_with_the_posteriors(sim, reference, tmp_path):
    _, rows = sim
    res = run_cli("fit", "-", "--out", "-", cwd=tmp_path, input=long_text(rows))
    assert res.returncode == 0, res.stderr
    table = list(csv.reader(io.StringIO(res.stdout)))
    assert table[0] == ["item", "label", "confidence"]
    assert len(table) == N_ITEMS + 1
    assert {r[0] for r in table[1:]} == set(ITEM_IDS)
    for item, label, confidence in table[1:]:
        p = reference[item]
        assert label == str(int(np.argmax(p)))
        assert abs(float(confidence) - p.max()) <= 1e-9
    assert list(tmp_path.iterdir()) == []  # nothing written to disk


def test_string_ids_and_classes_are_opaque(sim, reference, tmp_path):
    """Renaming the classes (keeping their order) and ids changes the names in the outputs, nothing else."""
    _, rows = sim
    names = {"0": "bird", "1": "cat", "2": "dog"}
    renamed = [(f"id {item}, v2", f"annotator:{w}", names[k]) for item, w, k in rows]
    header, post = fit_dir(write(tmp_path / "x.csv", long_text(renamed)), tmp_path / "out")
    assert header == ["item", "p_bird", "p_cat", "p_dog"]
    assert_same_posteriors(post, {f"id {item}, v2": p for item, p in reference.items()})
    _, workers = read_table(tmp_path / "out" / "workers.csv")
    assert {r["worker"] for r in workers} == {f"annotator:{w}" for w in WORKER_IDS}


def test_classes_named_like_columns_are_just_classes(sim, reference, tmp_path):
    _, rows = sim
    # item < label < task, so the class order (and hence every number) is that of 0 < 1 < 2
    names = {"0": "item", "1": "label", "2": "task"}
    path = write(tmp_path / "x.csv", long_text([(i, w, names[k]) for i, w, k in rows]))
    header, post = fit_dir(path, tmp_path / "out")
    assert header == ["item", "p_item", "p_label", "p_task"]
    assert_same_posteriors(post, reference)
    _, items = read_table(tmp_path / "out" / "items.csv")
    assert {r["label"] for r in items} <= {"item", "label", "task"}
    for r in items:
        assert r["label"] == ["item", "label", "task"][int(np.argmax(reference[r["item"]]))]
    record = info_json(path)
    assert list(record["classes"]) == ["item", "label", "task"]
    assert sum(record["classes"].values()) == len(rows)


# --------------------------------------------------------------------------------------------------
# class order and --classes
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("labels", "order"),
    [
        (["9", "10", "2", "10"], ["2", "9", "10"]),
        (["cat", "dog", "bird", "cat"], ["bird", "cat", "dog"]),
        (["positive", "negative", "positive", "positive"], ["negative", "positive"]),
        (["10", "9", "a", "9"], ["10", "9", "a"]),
        (["-1", "1", "-1", "1"], ["-1", "1"]),
    ],
)
def test_default_class_order(labels, order, tmp_path):
    rows = [(f"q{n // 2}", f"u{n % 2}", lab) for n, lab in enumerate(labels)]
    path = write(tmp_path / "x.csv", long_text(rows))
    assert list(info_json(path)["classes"]) == order
    header, _ = fit_dir(path, tmp_path / "out")
    assert header == ["item"] + [f"p_{c}" for c in order]


def test_declared_classes_set_order_and_add_a_class_that_never_occurs(tmp_path):
    rows = [
        ("a", "u1", "cat"),
        ("a", "u2", "cat"),
        ("b", "u1", "dog"),
        ("b", "u2", "bird"),
        ("c", "u1", "dog"),
    ]
    path = write(tmp_path / "x.csv", long_text(rows))
    record = info_json(path, "--classes", "dog,cat,bird,fish")
    assert record["classes"] == {"dog": 2, "cat": 2, "bird": 1, "fish": 0}
    header, post = fit_dir(path, tmp_path / "out", "--classes", "dog, cat, bird, fish")
    assert header == ["item", "p_dog", "p_cat", "p_bird", "p_fish"]
    assert set(post) == {"a", "b", "c"}
    for p in post.values():
        assert np.all((p >= 0) & (p <= 1)) and abs(p.sum() - 1) < 1e-9
    assert post["a"][1] == max(post["a"])  # cat, in its declared place
    assert post["c"][0] == max(post["c"])  # dog


def test_label_outside_declared_classes_names_file_and_line(tmp_path):
    path = write(tmp_path / "x.csv", "item,worker,label\na,u1,cat\n\na,u2,dog\nb,u1,cow\n")
    message = user_error(invoke("fit", path, "--classes", "cat,dog", "--out", tmp_path / "out"))
    assert str(path) in message
    assert "line 5" in message  # physical line, counting the blank one
    assert "'cow'" in message
    assert not (tmp_path / "out").exists()


def test_one_class_needs_classes_option(tmp_path):
    path = write(tmp_path / "x.csv", "item,worker,label\na,u1,yes\na,u2,yes\nb,u1,yes\n")
    message = user_error(invoke("fit", path, "--out", tmp_path / "out"))
    assert "--classes" in message and "'yes'" in message
    header, post = fit_dir(path, tmp_path / "out", "--classes", "yes,no")
    assert header == ["item", "p_yes", "p_no"]
    assert all(p[0] > 0.5 for p in post.values())


# --------------------------------------------------------------------------------------------------
# columns
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "header",
    [
        ("item", "worker", "label"),
        ("task", "annotator", "answer"),
        ("question", "rater", "response"),
        ("example", "labeler", "value"),
        ("object", "user", "label"),
        ("Item", "WORKER", " Label "),
        ("item_id", "worker_id", "annotation"),
    ],
)
def test_column_names_are_recognised(header, tmp_path):
    rows = [("a", "u1", "x"), ("a", "u2", "y"), ("b", "u1", "y")]
    # put the columns in another order, with an ignored column between them
    text = long_text([(r[2], "ignored", r[0], r[1]) for r in rows], header=(header[2], "notes", *header[:2]))
    loaded = load_labels(write(tmp_path / "x.csv", text))
    assert loaded.report.format == "long"
    assert loaded.report.columns == {
        "item": header[0].strip(),
        "worker": header[1],
        "label": header[2].strip(),
    }
    assert triples(loaded) == Counter(rows)


def test_column_options_override_recognised_names(tmp_path):
    text = "item,task,worker,label,answer\nI1,a,u1,x,cat\nI1,a,u2,x,dog\nI2,b,u1,y,dog\n"
    path = write(tmp_path / "x.csv", text)
    default = info_json(path)
    assert default["source"]["columns"] == {"item": "item", "worker": "worker", "label": "label"}
    assert default["classes"] == {"x": 2, "y": 1}
    record = info_json(path, "--item-col", "task", "--label-col", "answer")
    assert record["source"]["columns"] == {"item": "task", "worker": "worker", "label": "answer"}
    assert record["classes"] == {"cat": 1, "dog": 2}
    _, post = fit_dir(path, tmp_path / "out", "--item-col", "task", "--label-col", "answer")
    assert set(post) == {"a", "b"}


def test_column_options_for_unrecognised_names(tmp_path):
    path = write(tmp_path / "x.csv", "id,who,what\n1,ann,cat\n1,bob,dog\n2,ann,dog\n")
    record = info_json(path, "--item-col", "id", "--worker-col", "who", "--label-col", "what")
    assert record["source"]["format"] == "long"
    assert record["classes"] == {"cat": 1, "dog": 2}
    assert (record["n_items"], record["n_workers"]) == (2, 2)


@pytest.mark.parametrize(
    ("text", "options", "option"),
    [
        ("item,worker,lab\na,u1,x\n", ["--format", "long"], "--label-col"),
        ("item,person,label\na,u1,x\n", ["--format", "long"], "--worker-col"),
        ("id,worker,label\na,u1,x\n", ["--label-col", "label"], "--item-col"),
    ],
)
def test_missing_column_is_one_line_suggesting_the_option(text, options, option, tmp_path):
    path = write(tmp_path / "x.csv", text)
    message = user_error(invoke("info", path, *options))
    assert option in message
    assert str(path) in message


def test_unknown_column_option_names_it(tmp_path):
    path = write(tmp_path / "x.csv", "item,worker,label\na,u1,x\n")
    message = user_error(invoke("info", path, "--label-col", "nope"))
    assert "'nope'" in message and "item, worker, label" in message


def test_auto_format_with_one_unrecognised_column_suggests_the_option(tmp_path):
    path = write(tmp_path / "x.csv", "id,annotator,answer\nq1,u1,cat\nq1,u2,dog\n")
    message = user_error(invoke("info", path))
    assert "--item-col" in message


def test_auto_format_does_not_silently_read_a_long_file_as_a_matrix(tmp_path):
    path = write(tmp_path / "x.csv", "id,annotator,answer\n1,2,0\n1,3,1\n2,2,1\n")
    res = invoke("fit", path, "--out", tmp_path / "out")
    assert res.exit_code == 2
    assert "--item-col" in res.stderr


# --------------------------------------------------------------------------------------------------
# missing answers
# --------------------------------------------------------------------------------------------------
MISSING_TEXT = (
    "item,worker,label\n"
    "a,u1,pos\n"
    "a,u2,\n"
    "a,u3,nan\n"
    "b,u1,NA\n"
    "b,u2,neg\n"
    "b,u3,?\n"
    "c,u1,neg\n"
    'c,u2," "\n'
    "c,u3,NaN\n"
    "d,u1,pos\n"
    "d,u2,null\n"
    "d,u3,n/a\n"
)


def test_missing_answers_are_skipped_and_counted(tmp_path):
    path = write(tmp_path / "x.csv", MISSING_TEXT)
    loaded = load_labels(path)
    assert loaded.report.n_missing == 7
    assert loaded.report.n_rows == 12
    assert triples(loaded) == Counter(
        [("a", "u1", "pos"), ("b", "u2", "neg"), ("b", "u3", "?"), ("c", "u1", "neg"), ("d", "u1", "pos")]
    )
    record = info_json(path)
    assert record["source"]["n_missing"] == 7
    assert record["classes"] == {"?": 1, "neg": 2, "pos": 2}
    assert record["n_labels"] == 5
    header, post = fit_dir(path, tmp_path / "out")
    assert header == ["item", "p_?", "p_neg", "p_pos"]
    assert set(post) == {"a", "b", "c", "d"}


def test_missing_option_replaces_the_defaults(tmp_path):
    path = write(tmp_path / "x.csv", MISSING_TEXT)
    record = info_json(path, "--missing", "?")
    # '?', the empty answers and nan/NaN (always) are missing; NA, null, n/a are classes now
    assert record["source"]["n_missing"] == 5
    assert record["classes"] == {"NA": 1, "n/a": 1, "neg": 2, "null": 1, "pos": 2}
    both = info_json(path, "--missing", "?", "--missing", "na")
    assert both["source"]["n_missing"] == 6  # compared in any case
    assert "NA" not in both["classes"] and "null" in both["classes"]


def test_na_is_a_real_class_with_another_missing_marker(tmp_path):
    text = "item,worker,label\na,u1,NA\na,u2,NA\nb,u1,yes\nb,u2,?\nc,u1,yes\nc,u2,NA\n"
    path = write(tmp_path / "x.csv", text)
    header, post = fit_dir(path, tmp_path / "out", "--missing", "?")
    assert header == ["item", "p_NA", "p_yes"]
    assert post["a"][0] > 0.5 and post["b"][1] > 0.5
    default = info_json(path)  # by default NA is missing and '?' is a class
    assert default["classes"] == {"?": 1, "yes": 2}
    assert default["source"]["n_missing"] == 3


def test_all_missing_is_an_error(tmp_path):
    path = write(tmp_path / "x.csv", "item,worker,label\na,u1,\na,u2,NA\nb,u1,nan\n")
    message = user_error(invoke("fit", path, "--out", tmp_path / "out"))
    assert "missing" in message and str(path) in message
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------------
# repeated (item, worker) pairs
# --------------------------------------------------------------------------------------------------
DUP_TEXT = (
    "item,worker,label\n"
    "a,u1,x\n"  # a/u1 first: x
    "a,u2,y\n"
    "b,u1,y\n"
    "a,u1,y\n"  # a/u1 again, conflicting: y
    "b,u1,y\n"  # b/u1 again, agreeing
    "b,u2,y\n"
    "c,u2,x\n"
    "c,u3,x\n"
)
DUP_COMMON = [("a", "u2", "y"), ("b", "u1", "y"), ("b", "u2", "y"), ("c", "u2", "x"), ("c", "u3", "x")]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("keep", [("a", "u1", "x"), ("a", "u1", "y"), ("b", "u1", "y")]),
        ("first", [("a", "u1", "x")]),
        ("last", [("a", "u1", "y")]),
    ],
)
def test_duplicate_policies(policy, expected, tmp_path):
    path = write(tmp_path / "x.csv", DUP_TEXT)
    loaded = load_labels(path, duplicates=policy)
    assert triples(loaded) == Counter(DUP_COMMON + expected)
    rep = loaded.report
    assert (rep.n_duplicate_pairs, rep.n_duplicate_rows, rep.n_conflicting_pairs) == (2, 2, 1)
    assert rep.n_dropped == (0 if policy == "keep" else 2)
    assert rep.duplicates == policy

    record = info_json(path, "--duplicates", policy)
    assert record["source"]["n_duplicate_pairs"] == 2
    assert record["source"]["n_duplicate_rows"] == 2
    assert record["source"]["n_conflicting_pairs"] == 1
    assert record["n_labels"] == len(DUP_COMMON) + len(expected)

    # the fit is that of a file holding exactly the labels the policy keeps
    _, got = fit_dir(path, tmp_path / "out", "--duplicates", policy)
    plain = write(tmp_path / "plain.csv", long_text(DUP_COMMON + expected))
    _, want = fit_dir(plain, tmp_path / "plain")
    assert_same_posteriors(got, want)


def test_keep_is_the_default_and_differs_from_first(tmp_path):
    path = write(tmp_path / "x.csv", DUP_TEXT)
    assert load_labels(path).report.duplicates == "keep"
    _, keep = fit_dir(path, tmp_path / "keep")
    _, explicit = fit_dir(path, tmp_path / "explicit", "--duplicates", "keep")
    _, first = fit_dir(path, tmp_path / "first", "--duplicates", "first")
    assert_same_posteriors(keep, explicit)
    assert not np.allclose(keep["a"], first["a"], atol=1e-6)


def test_duplicates_error_names_worker_and_item(tmp_path):
    path = write(tmp_path / "x.csv", DUP_TEXT)
    message = user_error(invoke("fit", path, "--duplicates", "error", "--out", tmp_path / "out"))
    assert "'u1'" in message and "'a'" in message
    assert "2 repeated pairs" in message
    assert str(path) in message
    assert not (tmp_path / "out").exists()


def test_missing_answer_does_not_make_a_duplicate(tmp_path):
    path = write(tmp_path / "x.csv", "item,worker,label\na,u1,\na,u1,x\na,u2,y\n")
    rep = load_labels(path, duplicates="error").report
    assert (rep.n_missing, rep.n_duplicate_pairs) == (1, 0)


# --------------------------------------------------------------------------------------------------
# truth by id
# --------------------------------------------------------------------------------------------------
# Unanimous items, so the outcome of both methods is known: 7 -> cat, 007 -> dog, x -> bird, y -> cat.
TRUTH_LABELS = (
    "task,annotator,answer\n"
    "7,u1,cat\n7,u2,cat\n7,u3,cat\n"
    "007,u1,dog\n007,u2,dog\n007,u3,dog\n"
    "x,u1,bird\nx,u2,bird\nx,u3,bird\n"
    "y,u1,cat\ny,u2,cat\ny,u3,cat\n"
)


def compare_json(labels: Path, truth: Path, *options: object) -> dict:
    res = invoke("compare", labels, "--truth", truth, "--json", *options)
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


@pytest.mark.parametrize("header", ["item,label", "task,gold", "question,truth", "Item,Label"])
def test_truth_by_id_matches_ids_as_strings(header, tmp_path):
    labels = write(tmp_path / "labels.csv", TRUTH_LABELS)
    # 7 and 007 are different items; x's gold is wrong on purpose
    truth = write(tmp_path / "truth.csv", f"{header}\n007,dog\n7,cat\nx,cat\n")
    metrics = compare_json(labels, truth)
    assert metrics["classes"] == ["bird", "cat", "dog"]
    assert metrics["n_gold"] == 3
    assert metrics["n_gold_unknown_items"] == 0
    for method in ("majority", "glad"):
        assert (metrics["methods"][method]["correct"], metrics["methods"][method]["total"]) == (2, 3)


def test_gold_for_items_without_labels_is_a_note(tmp_path):
    labels = write(tmp_path / "labels.csv", TRUTH_LABELS)
    truth = write(tmp_path / "truth.csv", "item,label\n7,cat\nzz,dog\n0007,dog\ny,\n")
    res = invoke("compare", labels, "--truth", truth, "--json")
    assert res.exit_code == 0, res.stderr
    metrics = json.loads(res.stdout)
    assert metrics["n_gold_unknown_items"] == 2
    assert metrics["n_gold"] == 1
    assert metrics["methods"]["majority"]["correct"] == 1
    assert "2 gold items" in res.stderr


def test_gold_label_not_among_the_classes_is_an_error(tmp_path):
    labels = write(tmp_path / "labels.csv", TRUTH_LABELS)
    truth = write(tmp_path / "truth.csv", "item,label\n7,cat\nx,cow\n")
    message = user_error(invoke("compare", labels, "--truth", truth, "-q"))
    assert str(truth) in message and "'cow'" in message and "line 3" in message


@pytest.mark.parametrize("kind", ["npy", "column-csv"])
def test_aligned_truth_is_refused_for_long_labels(kind, tmp_path):
    labels = write(tmp_path / "labels.csv", TRUTH_LABELS)
    if kind == "npy":
        truth = tmp_path / "y.npy"
        np.save(truth, np.array([1.0, 2.0, 0.0, 1.0]))
    else:
        truth = write(tmp_path / "y.csv", "1\n2\n0\n1\n")
    message = user_error(invoke("compare", labels, "--truth", truth, "-q"))
    assert str(truth) in message
    assert "item and label columns" in message


def test_truth_by_id_with_stdin_labels(tmp_path):
    truth = write(tmp_path / "truth.csv", "item,label\n7,cat\n007,cat\n")
    res = invoke("compare", "-", "--truth", truth, "--json", "-q", input=TRUTH_LABELS)
    assert res.exit_code == 0, res.stderr
    metrics = json.loads(res.stdout)
    assert metrics["labels_file"] == "<stdin>"
    assert metrics["methods"]["majority"]["correct"] == 1


def test_truth_na_is_gold_when_na_is_a_class(tmp_path):
    labels = write(tmp_path / "labels.csv", "item,worker,label\na,u1,NA\na,u2,NA\nb,u1,yes\nb,u2,yes\n")
    truth = write(tmp_path / "truth.csv", "item,label\na,NA\nb,yes\n")
    metrics = compare_json(labels, truth, "--missing", "?", "-q")
    assert metrics["n_gold"] == 2


# --------------------------------------------------------------------------------------------------
# pipes
# --------------------------------------------------------------------------------------------------
PIPE_TEXT = (
    "task,annotator,answer,comment\n"
    '"q 1, part a",ann,positive,"fine, thanks"\n'
    '"q 1, part a",bob,positive,\n'
    '"q 1, part a",cy,negative,\n'
    "q2,ann,negative,\n"
    "q2,bob,negative,\n"
    "q2,cy,,skipped\n"
    "q3,ann,positive,\n"
    "q3,cy,positive,\n"
    "q3,cy,negative,again\n"
)


def test_fit_stdin_to_stdout_prints_only_csv(tmp_path):
    res = run_cli("fit", "-", "--out", "-", cwd=tmp_path, input=PIPE_TEXT)
    assert res.returncode == 0, res.stderr
    table = list(csv.reader(io.StringIO(res.stdout, newline="")))
    assert table[0] == ["item", "label", "confidence"]
    assert all(len(r) == 3 for r in table)
    assert sorted(r[0] for r in table[1:]) == ["q 1, part a", "q2", "q3"]
    chosen = {r[0]: r[1] for r in table[1:]}
    assert chosen["q 1, part a"] == "positive" and chosen["q2"] == "negative"
    for r in table[1:]:
        assert r[1] in {"positive", "negative"}
        assert 0.0 <= float(r[2]) <= 1.0
    assert "Read <stdin>" in res.stderr  # the summary is for people: stderr
    assert "Read" not in res.stdout and "GLAD" not in res.stdout
    assert list(tmp_path.iterdir()) == []


def test_shell_pipeline_sort_head(tmp_path):
    if shutil.which("bash") is None or shutil.which("sort") is None:
        pytest.skip("needs bash and sort")
    export = write(tmp_path / "export.csv", PIPE_TEXT.replace("q 1, part a", "q1"))
    emcrowd = f"'{sys.executable}' -m emcrowd"
    script = (
        f"set -o pipefail; cat '{export}' | {emcrowd} fit - --out - "
        "| tail -n +2 | sort -t, -k3 -g | head -n 2"
    )
    res = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 2
    assert [float(line.rsplit(",", 1)[1]) for line in lines] == sorted(
        float(line.rsplit(",", 1)[1]) for line in lines
    )


def test_info_json_from_stdin(tmp_path):
    res = run_cli("info", "-", "--json", cwd=tmp_path, input=PIPE_TEXT)
    assert res.returncode == 0, res.stderr
    record = json.loads(res.stdout)
    assert record["source"]["source"] == "<stdin>"
    assert record["source"]["n_missing"] == 1
    assert record["source"]["n_duplicate_pairs"] == 1
    assert record["source"]["columns"] == {"item": "task", "worker": "annotator", "label": "answer"}
    assert record["classes"] == {"negative": 4, "positive": 4}
    assert "items" in res.stderr


def test_stdin_tsv_and_bom_are_recognised():
    text = "\ufeff" + long_text([("a", "u1", "x, y"), ("a", "u2", "z"), ("b", "u1", "z")], sep="\t")
    record = info_json("-", input=text.replace("\n", "\r\n"))
    assert record["source"]["format"] == "long"
    assert record["classes"] == {"x, y": 1, "z": 2}


def test_stdin_tsv_with_leading_blank_line():
    text = "\n" + long_text([("a", "u1", "x"), ("a", "u2", "y"), ("b", "u1", "y")], sep="\t")
    record = info_json("-", input=text)
    assert record["n_labels"] == 3


def test_empty_stdin_is_an_error():
    message = user_error(invoke("info", "-", input=""))
    assert "<stdin>" in message and "empty" in message


# --------------------------------------------------------------------------------------------------
# emcrowd info
# --------------------------------------------------------------------------------------------------
INFO_TEXT = (
    "item,worker,label\n"
    "a,w1,cat\n"
    "a,w2,dog\n"
    "a,w3,cat\n"
    "b,w1,dog\n"
    "b,w2,\n"
    "b,w2,dog\n"
    "c,w1,cat\n"
    "c,w1,cat\n"
    "d,w2,bird\n"
)


def test_info_json_values(tmp_path):
    path = write(tmp_path / "x.csv", INFO_TEXT)
    record = info_json(path)
    assert record["n_items"] == 4
    assert record["n_workers"] == 3
    assert record["n_labels"] == 8
    assert record["classes"] == {"bird": 1, "cat": 4, "dog": 3}
    assert record["labels_per_item"] == {"min": 1, "median": 2.0, "max": 3}
    assert record["items_with_one_label"] == 1  # d
    assert record["workers_with_one_label"] == 1  # w3 (w1 has 4, w2 has 3)
    src = record["source"]
    assert src["format"] == "long"
    assert src["n_rows"] == 9
    assert src["n_missing"] == 1
    assert (src["n_duplicate_pairs"], src["n_duplicate_rows"], src["n_conflicting_pairs"]) == (1, 1, 0)
    assert src["duplicates"] == "keep"


def test_info_json_after_first_policy(tmp_path):
    path = write(tmp_path / "x.csv", INFO_TEXT)
    record = info_json(path, "--duplicates", "first")
    assert record["n_labels"] == 7
    assert record["classes"] == {"bird": 1, "cat": 3, "dog": 3}
    assert record["labels_per_item"] == {"min": 1, "median": 1.5, "max": 3}
    assert record["items_with_one_label"] == 2
    assert record["source"]["n_dropped"] == 1


def test_info_without_json_writes_only_to_stderr(tmp_path):
    path = write(tmp_path / "x.csv", INFO_TEXT)
    res = invoke("info", path)
    assert res.exit_code == 0, res.stderr
    assert res.stdout == ""
    for text in ("long format", "items", "bird (1), cat (4), dog (3)", "missing answers", "repeated"):
        assert text in res.stderr
    assert list(tmp_path.iterdir()) == [path]


# --------------------------------------------------------------------------------------------------
# edge cases
# --------------------------------------------------------------------------------------------------
def test_crlf_bom_and_quoted_commas(tmp_path):
    text = '\ufeffitem,worker,label\r\n"a, 1",w1,"yes, sure"\r\n"a, 1",w2,no\r\nb,w1,no\r\n\r\nb,w2,no\r\n'
    path = write(tmp_path / "x.csv", text)
    loaded = load_labels(path)
    assert loaded.report.columns == {"item": "item", "worker": "worker", "label": "label"}
    assert triples(loaded) == Counter(
        [("a, 1", "w1", "yes, sure"), ("a, 1", "w2", "no"), ("b", "w1", "no"), ("b", "w2", "no")]
    )
    header, post = fit_dir(path, tmp_path / "out")
    assert header == ["item", "p_no", "p_yes, sure"]
    assert set(post) == {"a, 1", "b"}
    _, same = fit_dir(
        write(tmp_path / "lf.csv", text.replace("\r\n", "\n").lstrip("\ufeff")), tmp_path / "o2"
    )
    assert_same_posteriors(same, post)


def test_tsv_file_with_commas_in_fields(tmp_path):
    text = long_text([("a,1", "w 1", "x"), ("a,1", "w 2", "y"), ("b", "w 1", "y")], sep="\t")
    loaded = load_labels(write(tmp_path / "x.tsv", text))
    assert triples(loaded) == Counter([("a,1", "w 1", "x"), ("a,1", "w 2", "y"), ("b", "w 1", "y")])


def test_blank_lines_between_rows(tmp_path):
    text = "item,worker,label\n\na,w1,x\n\n\na,w2,y\n \nb,w1,y\n\n"
    loaded = load_labels(write(tmp_path / "x.csv", text))
    assert loaded.report.n_rows == 3
    assert loaded.report.n_missing == 0
    assert triples(loaded) == Counter([("a", "w1", "x"), ("a", "w2", "y"), ("b", "w1", "y")])


def test_ids_with_leading_zeros_and_whitespace_stay_strings(tmp_path):
    text = "item,worker,label\n7,1,a\n007,01,b\n 7 ,1.0,b\n"
    loaded = load_labels(write(tmp_path / "x.csv", text))
    assert set(loaded.labels.item_names) == {"7", "007"}
    assert set(loaded.labels.worker_names) == {"1", "01", "1.0"}
    assert loaded.labels.n_labels == 3


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("item,worker,label\n", ["no rows"]),
        ("item,worker,label\na,w1,x\n,w2,y\n", ["line 3", "empty item"]),
        ("item,worker,label\na,w1,x\na,w2\n", ["line 3", "2 fields"]),
        ("item,worker,label\na,,x\n", ["line 2", "empty worker"]),
    ],
)
def test_broken_long_files(text, words, tmp_path):
    path = write(tmp_path / "x.csv", text)
    message = user_error(invoke("info", path))
    assert str(path) in message
    for word in words:
        assert word in message
