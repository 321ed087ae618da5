"""Real exports at full speed (issue 12): one Arrow reading path for text (plain, compressed, stdin),
Parquet and JSON; platform presets; truth files naming their own columns; matrices saved with an id
column; DataFrames and arrays; file objects; and the bad cases of each new kind."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from emcrowd import GLAD
from emcrowd.cli import app
from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io import labels_from_arrays, labels_from_frame, load_labels, load_truth, read_labels
from emcrowd.models.simulate import simulate_glad

runner = CliRunner()

# one small data set, written in every format: (item, worker, label) with string ids and classes
ROWS = [
    ("q1", "ann", "cat"),
    ("q1", "bob", "dog"),
    ("q1", "cid", "cat"),
    ("q2", "ann", "dog"),
    ("q2", "bob", "dog"),
    ("q3", "cid", "cat"),
    ("q3", "ann", ""),  # a missing answer
    ("q4", "bob", "dog"),
]
EXPECTED = Counter(r for r in ROWS if r[2])


def invoke(*args: object, input: str | bytes | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def user_error(res) -> str:
    """Exit 2, nothing on stdout, one line on stderr, no traceback; returns the line."""
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    assert res.stdout == ""
    message = res.stderr.strip()
    assert "\n" not in message and "Traceback" not in message, message
    assert message.startswith("emcrowd: error:")
    return message


def triples(data: Labels) -> Counter:
    return Counter(
        (data.item_names[i], data.worker_names[w], data.class_names[k])
        for i, w, k in zip(data.item.tolist(), data.worker.tolist(), data.label.tolist(), strict=True)
    )


def csv_text(rows, header=("item", "worker", "label"), sep=",") -> str:
    return "".join(sep.join(r) + "\n" for r in [header, *rows])


def snapshot(directory: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(directory)): None if p.is_dir() else p.read_bytes()
        for p in sorted(directory.rglob("*"))
    }


# --------------------------------------------------------------------------------------------------
# the same labels from every kind of file
# --------------------------------------------------------------------------------------------------
def table() -> pa.Table:
    return pa.table({k: [r[i] for r in ROWS] for i, k in enumerate(("item", "worker", "label"))})


def write_kind(kind: str, folder: Path) -> Path:
    text = csv_text(ROWS)
    if kind == "csv":
        return _bytes(folder / "x.csv", text.encode())
    if kind == "csv.gz":
        return _bytes(folder / "x.csv.gz", gzip.compress(text.encode()))
    if kind == "tsv.bz2":
        return _bytes(folder / "x.tsv.bz2", bz2.compress(csv_text(ROWS, sep="\t").encode()))
    if kind == "csv.zst":
        path = folder / "x.csv.zst"
        with pa.CompressedOutputStream(str(path), "zstd") as out:
            out.write(text.encode())
        return path
    if kind == "semicolon":
        return _bytes(folder / "x.csv", csv_text(ROWS, sep=";").encode())
    if kind == "parquet":
        pq.write_table(table(), folder / "x.parquet")
        return folder / "x.parquet"
    if kind == "parquet-dir":
        (folder / "parts").mkdir()
        t = table()
        pq.write_table(t.slice(0, 3), folder / "parts" / "a.parquet")
        pq.write_table(t.slice(3), folder / "parts" / "b.parquet")
        return folder / "parts"
    if kind == "jsonl":
        lines = [json.dumps(dict(zip(("item", "worker", "label"), r, strict=True))) for r in ROWS]
        return _bytes(folder / "x.jsonl", ("\n".join(lines) + "\n").encode())
    if kind == "json":
        records = [dict(zip(("task", "annotator", "answer"), r, strict=True)) for r in ROWS]
        return _bytes(folder / "x.json", json.dumps(records).encode())
    raise AssertionError(kind)


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


KINDS = ["csv", "csv.gz", "tsv.bz2", "csv.zst", "semicolon", "parquet", "parquet-dir", "jsonl", "json"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_reads_the_same_labels(kind, tmp_path):
    loaded = load_labels(write_kind(kind, tmp_path))
    assert loaded.report.format == "long"
    assert triples(loaded.labels) == EXPECTED
    assert loaded.labels.class_names == ("cat", "dog")
    assert loaded.report.n_rows == len(ROWS) and loaded.report.n_missing == 1
    # items and annotators in the order they first appear
    assert loaded.labels.item_names == ("q1", "q2", "q3", "q4")
    assert loaded.labels.worker_names == ("ann", "bob", "cid")


@pytest.mark.parametrize("kind", ["csv.gz", "parquet", "jsonl"])
def test_every_kind_fits_from_the_command_line(kind, tmp_path):
    path = write_kind(kind, tmp_path)
    res = invoke("fit", path, "--out", tmp_path / "out", "-q")
    assert res.exit_code == 0, res.stderr
    lines = (tmp_path / "out" / "items.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["q1", "q2", "q3", "q4"]


def run_cli(*args: object, input: bytes, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emcrowd", *(str(a) for a in args)],
        input=input,
        capture_output=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


@pytest.mark.parametrize("compress", [False, True])
def test_stdin_plain_and_gzip(compress, tmp_path):
    data = csv_text(ROWS, sep="\t").encode()
    res = run_cli("info", "-", "--json", input=gzip.compress(data) if compress else data, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    record = json.loads(res.stdout)
    assert record["n_labels"] == len(EXPECTED) and record["source"]["source"] == "<stdin>"


def test_stdin_is_read_in_blocks_and_counts_every_row(tmp_path):
    """More rows than one Arrow block: every row is read, and the first block's ids come first."""
    rows = [(f"i{j // 3}", f"w{j % 7}", "ab"[(j * 7) % 2]) for j in range(200_000)]
    data = csv_text(rows).encode()
    res = run_cli("info", "-", "--json", input=data, cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    record = json.loads(res.stdout)
    assert record["source"]["n_rows"] == 200_000 and record["n_items"] == 200_000 // 3 + 1


def test_file_objects_binary_and_text(tmp_path):
    text = csv_text(ROWS)
    assert triples(read_labels(io.BytesIO(text.encode()))) == EXPECTED
    assert triples(read_labels(io.StringIO(text))) == EXPECTED
    path = write_kind("parquet", tmp_path)
    with open(path, "rb") as fh:
        assert triples(read_labels(fh)) == EXPECTED
    with open(write_kind("csv.gz", tmp_path), "rb") as fh:
        assert triples(read_labels(fh)) == EXPECTED


def test_parquet_with_integer_ids_and_labels(tmp_path):
    t = pa.table({"item": [7, 7, 8, 8], "worker": [1, 2, 1, 2], "label": [0, 1, 1, 1]})
    pq.write_table(t, tmp_path / "x.parquet")
    data = read_labels(tmp_path / "x.parquet")
    assert data.item_names == ("7", "8") and data.worker_names == ("1", "2")
    assert data.class_names == ("0", "1")


def test_many_rows_fast_path_matches_the_row_by_row_reader(tmp_path):
    """The Arrow path and the Python reader (used for irregular files) give the same labels."""
    sim = simulate_glad(300, 12, labels_per_item=4, n_classes=3, seed=2).labels
    rows = [
        (f" it{j} ", f"w{i}", str(k))
        for j, i, k in zip(sim.item.tolist(), sim.worker.tolist(), sim.label.tolist(), strict=True)
    ]
    fast = load_labels(_bytes(tmp_path / "a.csv", csv_text(rows).encode())).labels
    # one row with an extra field sends the file to the row-by-row reader
    irregular = csv_text(rows) + "zz,w0,1,extra\n"
    slow = load_labels(_bytes(tmp_path / "b.csv", irregular.encode())).labels
    assert slow.n_labels == fast.n_labels + 1
    assert slow.item_names[:-1] == fast.item_names and slow.worker_names == fast.worker_names
    np.testing.assert_array_equal(slow.item[:-1], fast.item)
    np.testing.assert_array_equal(slow.label[:-1], fast.label)


# --------------------------------------------------------------------------------------------------
# platform presets
# --------------------------------------------------------------------------------------------------
TOLOKA = (
    "INPUT:image\tOUTPUT:result\tGOLDEN:result\tHINT:text\tASSIGNMENT:task_id\tASSIGNMENT:worker_id\t"
    "ASSIGNMENT:status\n"
    "https://x/img0.jpg\tcat\tcat\t\tt0\tw1\tAPPROVED\n"
    "https://x/img0.jpg\tdog\tcat\t\tt0\tw2\tAPPROVED\n"
    "https://x/img1.jpg\tdog\t\t\tt1\tw1\tAPPROVED\n"
    "https://x/img1.jpg\tcat\t\t\tt1\tw2\tREJECTED\n"
    "https://x/img1.jpg\tdog\t\t\tt1\tw3\tSUBMITTED\n"
    "https://x/img0.jpg\tcat\tcat\t\tt0\tw3\tAPPROVED\n"
)
MTURK = (
    '"HITId","HITTypeId","WorkerId","AssignmentStatus","Input.text","Answer.sentiment"\n'
    '"H1","T","A1","Approved","good, film","pos"\n'
    '"H1","T","A2","Approved","good, film","pos"\n'
    '"H1","T","A3","Rejected","good, film","neg"\n'
    '"H2","T","A1","Submitted","bad","neg"\n'
    '"H2","T","A2","Approved","bad","pos"\n'
)


def label_studio() -> list[dict]:
    def annotation(who, choice, cancelled=False, gold=False):
        result = (
            []
            if choice is None
            else [
                {
                    "type": "choices",
                    "from_name": "sentiment",
                    "to_name": "text",
                    "value": {"choices": [choice]},
                }
            ]
        )
        return {"completed_by": who, "was_cancelled": cancelled, "ground_truth": gold, "result": result}

    return [
        {"id": 11, "data": {"text": "a"}, "annotations": [
            annotation(1, "Positive"), annotation({"id": 2, "email": "b@x"}, "Negative"),
            annotation(3, "Positive", gold=True)]},
        {"id": 12, "data": {"text": "b"}, "annotations": [
            annotation(1, "Negative"), annotation(3, "Negative", cancelled=True), annotation(2, None)]},
    ]  # fmt: skip


def test_toloka_export_is_recognised_and_drops_rejected(tmp_path):
    path = _bytes(tmp_path / "assignments.tsv", TOLOKA.encode())
    loaded = load_labels(path)
    assert loaded.report.preset == "toloka"
    assert loaded.report.columns == {
        "item": "ASSIGNMENT:task_id",
        "worker": "ASSIGNMENT:worker_id",
        "label": "OUTPUT:result",
    }
    assert loaded.report.n_rejected == 1 and loaded.labels.n_labels == 5
    assert ("t1", "w2", "cat") not in triples(loaded.labels)
    kept = load_labels(path, keep_rejected=True)
    assert kept.labels.n_labels == 6 and ("t1", "w2", "cat") in triples(kept.labels)
    res = invoke("info", path)
    assert res.exit_code == 0
    assert "Toloka" in res.stderr and "1 rejected" in res.stderr


def test_toloka_control_answers_serve_as_gold_and_truth(tmp_path):
    path = _bytes(tmp_path / "assignments.tsv", TOLOKA.encode())
    data = load_labels(path).labels
    truth = load_truth(path, data, allow_aligned=False)
    assert truth.codes.tolist() == [data.class_names.index("cat"), -1]
    res = invoke("fit", path, "--gold", path, "--out", tmp_path / "out", "-q")
    assert res.exit_code == 0, res.stderr
    items = (tmp_path / "out" / "items.csv").read_text().splitlines()
    assert items[1].split(",")[6] == "cat"  # the gold column
    res = invoke("compare", path, "--truth", path, "--methods", "glad", "-q", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["n_gold"] == 1


def test_mturk_batch_results(tmp_path):
    path = _bytes(tmp_path / "Batch_1_batch_results.csv", MTURK.encode())
    loaded = load_labels(path)
    assert loaded.report.preset == "mturk"
    assert loaded.report.columns == {"item": "HITId", "worker": "WorkerId", "label": "Answer.sentiment"}
    assert triples(loaded.labels) == Counter(
        [("H1", "A1", "pos"), ("H1", "A2", "pos"), ("H2", "A1", "neg"), ("H2", "A2", "pos")]
    )
    assert load_labels(path, keep_rejected=True).labels.n_labels == 5


def test_mturk_with_two_answer_columns_asks_for_one(tmp_path):
    text = "HITId,WorkerId,Answer.a,Answer.b\nH1,A1,x,y\n"
    path = _bytes(tmp_path / "b.csv", text.encode())
    message = user_error(invoke("info", path))
    assert "Answer.a, Answer.b" in message and "--label-col" in message
    assert triples(read_labels(path, label_col="Answer.b", classes=["y", "z"])) == Counter(
        [("H1", "A1", "y")]
    )


def test_label_studio_json(tmp_path):
    path = _bytes(tmp_path / "export.json", json.dumps(label_studio()).encode())
    loaded = load_labels(path)
    assert loaded.report.preset == "label-studio"
    assert triples(loaded.labels) == Counter(
        [("11", "1", "Positive"), ("11", "b@x", "Negative"), ("11", "3", "Positive"), ("12", "1", "Negative")]
    )
    assert loaded.report.n_missing == 1  # the annotation without a choice
    assert "1 cancelled" in loaded.report.notes[-1]
    truth = load_truth(path, loaded.labels, allow_aligned=False)
    assert truth.codes.tolist() == [loaded.labels.class_names.index("Positive"), -1]


def test_crowd_kit_and_gal(tmp_path):
    ck = _bytes(tmp_path / "ck.csv", csv_text(ROWS, header=("worker", "task", "label")).encode())
    # (header names in another order: roles are found by name)
    loaded = load_labels(ck)
    assert loaded.report.preset == "crowd-kit"
    assert loaded.report.columns == {"item": "task", "worker": "worker", "label": "label"}
    gal_rows = [(w, i, lab) for i, w, lab in ROWS if lab]
    gal = _bytes(tmp_path / "labels.tsv", "".join("\t".join(r) + "\n" for r in gal_rows).encode())
    loaded = load_labels(gal)
    assert loaded.report.preset == "gal" and triples(loaded.labels) == EXPECTED
    txt = _bytes(tmp_path / "labels.txt", gal.read_bytes())
    assert "--preset gal" in user_error(invoke("info", txt))
    assert triples(read_labels(txt, preset="gal")) == EXPECTED


def test_forced_preset_names_what_is_missing(tmp_path):
    path = _bytes(tmp_path / "x.csv", csv_text(ROWS).encode())
    message = user_error(invoke("info", path, "--preset", "mturk"))
    assert "HITId" in message and "columns: item, worker, label" in message


def test_unrecognised_columns_list_what_was_seen(tmp_path):
    text = "HIT,Turker,Input.url,Choice\nh1,a,https://x/img0.jpg,cat\nh2,b,https://x/img1.jpg,dog\n"
    path = _bytes(tmp_path / "x.csv", text.encode())
    message = user_error(invoke("info", path))
    for word in ("HIT, Turker, Input.url, Choice", "--item-col", "--label-col", "--preset"):
        assert word in message


# --------------------------------------------------------------------------------------------------
# truth and gold files name their own columns
# --------------------------------------------------------------------------------------------------
def test_truth_file_names_its_own_columns(tmp_path):
    labels = _bytes(tmp_path / "x.csv", csv_text(ROWS).encode())
    gold = _bytes(tmp_path / "g.csv", b"key,expert,note\nq1,cat,x\nq2,dog,y\n")
    data = read_labels(labels)
    truth = load_truth(gold, data, own_item_col="key", own_label_col="expert")
    assert truth.codes.tolist() == [0, 1, -1, -1]
    res = invoke(
        "compare", labels, "--truth", gold, "--truth-item-col", "key", "--truth-label-col", "expert",
        "--methods", "glad", "-q", "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    message = user_error(
        invoke(
            "compare", labels, "--truth", gold, "--truth-item-col", "key", "--truth-label-col", "nope", "-q"
        )
    )
    assert "'nope'" in message and "key, expert, note" in message
    message = user_error(invoke("compare", labels, "--truth", gold, "-q"))
    assert "--truth-item-col" in message
    res = invoke(
        "fit", labels, "--gold", gold, "--gold-item-col", "key", "--gold-label-col", "expert",
        "--out", tmp_path / "out", "-q",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr


def test_truth_from_parquet_and_gzip(tmp_path):
    labels = _bytes(tmp_path / "x.csv", csv_text(ROWS).encode())
    data = read_labels(labels)
    pq.write_table(pa.table({"item": ["q3", "q1"], "gold": ["cat", "cat"]}), tmp_path / "g.parquet")
    assert load_truth(tmp_path / "g.parquet", data).codes.tolist() == [0, -1, 0, -1]
    _bytes(tmp_path / "g.csv.gz", gzip.compress(b"item,gold\nq2,dog\n"))
    assert load_truth(tmp_path / "g.csv.gz", data).codes.tolist() == [-1, 1, -1, -1]


# --------------------------------------------------------------------------------------------------
# matrices as users save them
# --------------------------------------------------------------------------------------------------
def test_pandas_matrix_with_its_index(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    matrix = rng.integers(0, 2, (300, 15)).astype(float)
    matrix[rng.random(matrix.shape) < 0.3] = np.nan
    df = pd.DataFrame(matrix, columns=[f"a{i}" for i in range(15)])
    df.to_csv(tmp_path / "m.csv")
    data = read_labels(tmp_path / "m.csv")
    assert data.n_workers == 15 and data.n_classes == 2
    assert data.worker_names == tuple(df.columns)
    np.testing.assert_array_equal(data.to_matrix(), matrix)
    df.index = [f"it{j}" for j in range(300)]
    df.to_csv(tmp_path / "ids.csv", header=False)
    data = read_labels(tmp_path / "ids.csv")
    assert data.item_names[:2] == ("it0", "it1") and data.n_workers == 15
    df.to_csv(tmp_path / "named.csv", index_label="item")
    assert read_labels(tmp_path / "named.csv").item_names[299] == "it299"


def test_matrix_with_an_index_but_no_header_is_explained(tmp_path):
    rows = [f"{j}," + ",".join(str((j + i) % 2) for i in range(5)) for j in range(40)]
    path = _bytes(tmp_path / "m.csv", ("\n".join(rows) + "\n").encode())
    loaded = load_labels(path)
    assert loaded.labels.n_classes == 40
    assert any("column 1" in w and "index" in w for w in loaded.report.warnings)
    res = invoke("info", path)
    assert "index or an id column" in res.stderr


def test_matrix_with_repeated_item_ids_is_an_error(tmp_path):
    path = _bytes(tmp_path / "m.csv", b",a,b\nx,1,0\ny,0,1\nx,1,1\n")
    message = user_error(invoke("info", path))
    assert "'x'" in message and "line 4" in message


# --------------------------------------------------------------------------------------------------
# DataFrames, arrays, fit refusing a misread
# --------------------------------------------------------------------------------------------------
def long_frame():
    rng = np.random.default_rng(1)
    return {
        "item": rng.integers(0, 600, 3000),
        "worker": rng.integers(0, 200, 3000),
        "label": rng.integers(0, 2, 3000),
    }


@pytest.mark.parametrize("library", ["pandas", "polars", "pyarrow"])
def test_labels_from_frame(library):
    columns = long_frame()
    if library == "pandas":
        frame = pytest.importorskip("pandas").DataFrame(columns)
    elif library == "polars":
        frame = pytest.importorskip("polars").DataFrame(columns)
    else:
        frame = pa.table(columns)
    data = labels_from_frame(frame)
    assert data.n_labels == 3000 and data.class_names == ("0", "1")
    assert data.item_names[0] == str(columns["item"][0])
    got = Counter(triples(data))
    want = Counter(
        (str(i), str(w), str(v))
        for i, w, v in zip(columns["item"], columns["worker"], columns["label"], strict=True)
    )
    assert got == want
    other = pa.table({"q": columns["item"], "who": columns["worker"], "y": columns["label"]})
    renamed = labels_from_frame(other, item="q", worker="who", label="y")
    assert triples(renamed) == got


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_fit_reads_a_long_frame_and_from_matrix_refuses_it(library):
    module = pytest.importorskip(library)
    frame = module.DataFrame(long_frame())
    fitted = GLAD().fit(frame)  # read as one row per label, as labels_from_frame reads it
    expected = GLAD().fit(labels_from_frame(frame))
    assert np.array_equal(fitted.posteriors_, expected.posteriors_)
    with pytest.raises(EmcrowdError, match=r"labels_from_frame"):
        Labels.from_matrix(frame)  # the matrix constructor still refuses to misread it
    matrix = module.DataFrame({"a": [0.0, 1.0, 1.0], "b": [1.0, 1.0, 0.0]})  # a real matrix still fits
    assert GLAD().fit(matrix).posteriors_.shape == (3, 2)


def test_labels_from_arrays_of_any_type():
    data = labels_from_arrays(np.array([7, 7, 8]), ["a", "b", "a"], [1.0, np.nan, 0.0])
    assert data.item_names == ("7", "8") and data.n_labels == 2 and data.class_names == ("0", "1")
    data = labels_from_arrays(["x", "x", "y"], [1, 2, 1], ["no", "yes", "yes"], classes=["yes", "no"])
    assert data.class_names == ("yes", "no")
    with pytest.raises(EmcrowdError, match="length"):
        labels_from_arrays([1, 2], [1], [0, 1])
    with pytest.raises(EmcrowdError, match="not among the declared classes"):
        labels_from_arrays([1, 2], [1, 1], ["a", "b"], classes=["a", "c"])


# --------------------------------------------------------------------------------------------------
# bad input of every new kind: one line, exit 2, the file named, nothing written
# --------------------------------------------------------------------------------------------------
def bad_truncated_gzip(tmp: Path) -> Path:
    rows = [(f"i{j}", f"w{j % 5}", "ab"[j % 2]) for j in range(5000)]
    data = gzip.compress(csv_text(rows).encode())
    return _bytes(tmp / "x.csv.gz", data[: len(data) // 2])


def bad_not_gzip(tmp: Path) -> Path:
    return _bytes(tmp / "x.csv.gz", csv_text(ROWS).encode())


def bad_json_object(tmp: Path) -> Path:
    return _bytes(tmp / "x.json", b'{"item": "q1", "worker": "a", "label": "x"}')


def bad_json_scalars(tmp: Path) -> Path:
    return _bytes(tmp / "x.json", b"[1, 2, 3]")


def bad_json_syntax(tmp: Path) -> Path:
    return _bytes(tmp / "x.json", b'[{"item": "q1",\n "worker": }]')


def bad_jsonl(tmp: Path) -> Path:
    return _bytes(tmp / "x.jsonl", b'{"item": "q1", "worker": "a", "label": "x"}\nnot json\n')


def bad_parquet_missing_column(tmp: Path) -> Path:
    pq.write_table(pa.table({"item": ["a"], "label": ["x"]}), tmp / "x.parquet")
    return tmp / "x.parquet"


def bad_parquet_garbage(tmp: Path) -> Path:
    return _bytes(tmp / "x.parquet", b"PAR1 this is not parquet")


def bad_parquet_empty_dir(tmp: Path) -> Path:
    (tmp / "parts.parquet").mkdir()
    return tmp / "parts.parquet"


def bad_parquet_null_item(tmp: Path) -> Path:
    pq.write_table(
        pa.table({"item": ["a", None], "worker": ["u", "v"], "label": ["x", "y"]}), tmp / "x.parquet"
    )
    return tmp / "x.parquet"


def bad_label_studio_two_controls(tmp: Path) -> Path:
    doc = label_studio()
    doc[1]["annotations"][0]["result"][0]["from_name"] = "other"
    return _bytes(tmp / "x.json", json.dumps(doc).encode())


def bad_toloka_without_worker(tmp: Path) -> Path:
    text = "INPUT:image\tOUTPUT:result\tASSIGNMENT:task_id\nimg\tcat\tt1\n"
    return _bytes(tmp / "x.tsv", text.encode())


BAD = {
    "truncated gzip": (bad_truncated_gzip, ["decompress"]),
    "not gzip": (bad_not_gzip, ["decompress"]),
    "json object": (bad_json_object, ["array of records"]),
    "json scalars": (bad_json_scalars, ["record 1"]),
    "json syntax": (bad_json_syntax, ["line 2", "not valid JSON"]),
    "jsonl": (bad_jsonl, []),
    "parquet missing column": (bad_parquet_missing_column, ["worker", "item, label"]),
    "parquet garbage": (bad_parquet_garbage, ["Parquet"]),
    "parquet empty dir": (bad_parquet_empty_dir, [".parquet"]),
    "parquet null item": (bad_parquet_null_item, ["row 2", "empty item id"]),
    "label studio two controls": (bad_label_studio_two_controls, ["sentiment, other", "--label-col"]),
    "toloka without worker": (bad_toloka_without_worker, ["ASSIGNMENT:worker_id", "--worker-col"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_of_every_new_kind(case, tmp_path):
    make, words = BAD[case]
    path = make(tmp_path)
    before = snapshot(tmp_path)
    message = user_error(invoke("fit", path, "--out", tmp_path / "out"))
    assert str(path) in message
    for word in words:
        assert word in message, message
    assert snapshot(tmp_path) == before
    with pytest.raises(InputError):
        load_labels(path)


def test_bad_truth_files_of_new_kinds(tmp_path):
    labels = _bytes(tmp_path / "x.csv", csv_text(ROWS).encode())
    data = read_labels(labels)
    gold = bad_truncated_gzip(tmp_path)
    with pytest.raises(InputError, match="decompress"):
        load_truth(gold, data)
    mturk = _bytes(tmp_path / "m.csv", MTURK.encode())
    with pytest.raises(InputError, match="no control answers"):
        load_truth(mturk, data)
    _bytes(tmp_path / "g.json", b'[{"item": "q1", "gold": "cow"}]')
    with pytest.raises(InputError, match=r"record 1.*'cow'"):
        load_truth(tmp_path / "g.json", data)


# --------------------------------------------------------------------------------------------------
# writing through Arrow
# --------------------------------------------------------------------------------------------------
def test_table_file_csv_round_trips_floats_exactly(tmp_path):
    from emcrowd.io import TableFile, write_outputs

    rng = np.random.default_rng(4)
    values = np.concatenate([rng.random(5000), [1.0, 0.0, 1e-300, 5e-324, 1 / 3, 2.5e-5, 1e17]])
    names = [f"it{j}" for j in range(values.size)]
    flags = values > 0.5
    write_outputs(tmp_path, {"t.csv": TableFile({"item": names, "p": values, "flag": flags})})
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0] == "item,p,flag" and lines[1].startswith("it0,")
    back = [line.split(",") for line in lines[1:]]
    assert [r[0] for r in back] == names
    np.testing.assert_array_equal(np.array([float(r[1]) for r in back]), values)  # bit for bit
    assert [r[2] for r in back] == ["true" if f else "false" for f in flags]


def test_table_file_quotes_what_needs_quotes_and_writes_parquet(tmp_path):
    import csv as csv_module

    from emcrowd.io import TableFile, write_outputs

    table = {"item": ['a, "b"', "c"], "p": np.array([0.25, 1.0])}
    write_outputs(tmp_path, {"t.csv": TableFile(table), "t.parquet": TableFile(table, "parquet")})
    rows = list(csv_module.reader((tmp_path / "t.csv").read_text().splitlines()))
    assert rows == [["item", "p"], ['a, "b"', "0.25"], ["c", "1.0"]]
    back = pq.read_table(tmp_path / "t.parquet").to_pydict()
    assert back == {"item": ['a, "b"', "c"], "p": [0.25, 1.0]}


def test_fit_out_format_parquet_and_first_appearance_order(tmp_path):
    rows = [("z9", "w2", "b"), ("a1", "w1", "a"), ("z9", "w1", "b"), ("m5", "w3", "a"), ("a1", "w2", "a")]
    path = _bytes(tmp_path / "x.csv", csv_text(rows).encode())
    res = invoke("fit", path, "--out", tmp_path / "out", "--out-format", "parquet", "-q")
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "confusion.parquet", "items.parquet", "posteriors.parquet", "summary.json", "workers.parquet",
    ]  # fmt: skip
    assert pq.read_table(tmp_path / "out" / "items.parquet").column("item").to_pylist() == ["z9", "a1", "m5"]
    assert pq.read_table(tmp_path / "out" / "workers.parquet").column("worker").to_pylist() == [
        "w2",
        "w1",
        "w3",
    ]
    res = invoke("fit", path, "--out", tmp_path / "csv", "-q")
    lines = (tmp_path / "csv" / "posteriors.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["item", "z9", "a1", "m5"]


def test_progress_lines_only_on_a_terminal_and_only_when_slow(monkeypatch):
    from emcrowd import console as report

    with report.read_progress(True, "x.csv") as progress:
        assert progress is None  # (tests do not run on a terminal)
    assert report.write_progress("items.csv", {"item": ["a"]}, True) is None
    from rich.console import Console

    screen = io.StringIO()
    monkeypatch.setattr(report, "console", lambda: Console(file=screen, force_terminal=True, width=80))
    with report.read_progress(True, "x.csv") as progress:
        assert progress is not None
    ticker = report._Ticker("Reading x", "bytes", 100)
    ticker(10)  # fast work shows nothing
    assert ticker.progress is None
    ticker.start -= 5.0
    ticker(50)
    assert ticker.progress is not None
    ticker(100)  # done: the line goes away
    assert ticker.progress is None
    assert "Reading x" in screen.getvalue()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (b"item,worker,label\na,w1,x\n,w2,y\n", "line 3"),  # one row per line: the line is known
        (b"\nitem,worker,label\na,w1,x\nb,w2,y\n,w3,x", "line 5"),
        (b"item,worker,label\na,w1,x\n\n,w2,y\n", "data row 2"),  # a blank line: only the row is known
    ],
)
def test_stdin_errors_name_the_line_when_it_is_known(text, where, tmp_path):
    res = run_cli("info", "-", input=text, cwd=tmp_path)
    assert res.returncode == 2
    message = res.stderr.decode().strip()
    assert "\n" not in message and "<stdin>" in message and f"{where}: empty item id" in message


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_labels_from_frame_with_categoricals_and_missing_labels(library):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {"task": pd.Categorical(["b", "a", "b", "c"]), "annotator": ["u", "u", "v", "v"],
         "answer": [1.0, np.nan, 0.0, 2.0]}
    )  # fmt: skip
    if library == "polars":
        frame = pytest.importorskip("polars").from_pandas(frame)
    data = labels_from_frame(frame)
    assert data.item_names == ("b", "a", "c") and data.class_names == ("0", "1", "2")
    assert triples(data) == Counter([("b", "u", "1"), ("b", "v", "0"), ("c", "v", "2")])


MATRIX_FILES = {
    "numbers": "0,1,\n1,,0\n ,1,1\n",
    "header": "a,b,c\n0,1,NA\n1,nan,0\n",
    "pandas index": ",a,b\n0,1.0,\n1,0.0,1.0\n2,,0.0\n",
    "item header": "item,1,2\nx,1,0\ny,0,\n",
    "missing markers": "w1\tw2\nN/A\t1\n0\tnull\n",
}


@pytest.mark.parametrize("case", sorted(MATRIX_FILES))
def test_matrix_fast_path_reads_what_the_row_by_row_reader_reads(case, tmp_path, monkeypatch):
    from emcrowd.io import long as labels_module  # the text reader tries Arrow's matrix reading first

    suffix = ".tsv" if "\t" in MATRIX_FILES[case] else ".csv"
    path = _bytes(tmp_path / f"m{suffix}", MATRIX_FILES[case].encode())
    calls = []
    real = labels_module._read_matrix_arrow
    monkeypatch.setattr(labels_module, "_read_matrix_arrow", lambda *a: calls.append(real(*a)) or calls[-1])
    fast = load_labels(path)
    assert calls and calls[0] is not None  # Arrow read it
    monkeypatch.setattr(labels_module, "_read_matrix_arrow", lambda *a: None)
    slow = load_labels(path)
    for key in ("item_names", "worker_names", "class_names"):
        assert getattr(fast.labels, key) == getattr(slow.labels, key)
    np.testing.assert_array_equal(fast.labels.to_matrix(), slow.labels.to_matrix())
    assert fast.report.notes == slow.report.notes and fast.report.n_missing == slow.report.n_missing
