"""Third battery of bad input (issue 24): every case one line naming the file or option, exit status 2,
no traceback, nothing written or clobbered, memory bounded under ``ulimit -v``; and the regressions
(closed stdout, wide matrices) with tests that would have caught them."""

from __future__ import annotations

import gzip
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.test_hardening2 import assert_one_line_error, run_cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = str(ROOT / "sample_data" / "L.npy")


def snapshot(directory: Path) -> dict[str, bytes | str | None]:
    """Every file and link under ``directory`` with its bytes (a link: its target)."""
    out: dict[str, bytes | str | None] = {}
    for p in sorted(directory.rglob("*")):
        key = str(p.relative_to(directory))
        if p.is_symlink():
            out[key] = "-> " + os.readlink(p)
        else:
            out[key] = None if p.is_dir() else p.read_bytes()
    return out


def refused(tmp_path: Path, *args: str, needles: tuple[str, ...] = (), env: dict | None = None) -> None:
    """Run the CLI and check: exit 2, one error line holding ``needles``, tmp_path unchanged."""
    before = snapshot(tmp_path)
    done = run_cli(*args, env=env)
    assert_one_line_error(done, *needles)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # nothing else on stderr either
    assert snapshot(tmp_path) == before


# -- Label Studio exports of the wrong shape ------------------------------------------------------------
def _task(k: int, result: object = None, **annotation: object) -> dict:
    if result is None:
        result = [{"type": "choices", "from_name": "c", "to_name": "t", "value": {"choices": ["a"]}}]
    return {
        "id": k,
        "data": {"text": "x"},
        "annotations": [{"completed_by": 1, "result": result, **annotation}],
    }


def _ls(tasks: list) -> str:
    return json.dumps(tasks)


LABEL_STUDIO_BAD = {
    "annotations a string": (_ls([{"id": 1, "data": {}, "annotations": "x"}]), ["task 1", "'annotations'"]),
    "annotation a number": (_ls([{"id": 1, "data": {}, "annotations": [3]}]), ["task 1, annotation 1"]),
    "result a string": (_ls([_task(1, "x")]), ["'result'", "array"]),
    "result item a list": (_ls([_task(1, [[1]])]), ["result", "not an object"]),
    "value a string": (_ls([_task(1, [{"type": "choices", "from_name": "c", "value": "x"}])]), ["'value'"]),
    "choices a number": (
        _ls([_task(1, [{"type": "choices", "from_name": "c", "value": {"choices": 5}}])]),
        ["choices", "number"],
    ),
    "choices nested object": (
        _ls([_task(1, [{"type": "choices", "from_name": "c", "value": {"choices": [{"a": 1}]}}])]),
        ["choices", "object"],
    ),
    "taxonomy of numbers": (
        _ls([_task(1, [{"type": "taxonomy", "from_name": "c", "value": {"taxonomy": [[{"x": 1}]]}}])]),
        ["taxonomy"],
    ),
    "a number after the 100th task": (_ls([_task(k) for k in range(1, 102)] + [7]), ["task 102", "number"]),
}


@pytest.mark.parametrize("case", sorted(LABEL_STUDIO_BAD))
def test_label_studio_exports_of_the_wrong_shape_are_one_line(case, tmp_path):
    text, needles = LABEL_STUDIO_BAD[case]
    (tmp_path / "ls.json").write_text(text)
    refused(tmp_path, "fit", str(tmp_path / "ls.json"), "-q", "--out", str(tmp_path / "out"),
            needles=("ls.json", *needles))  # fmt: skip


def test_label_studio_choices_as_a_string_is_one_choice_never_its_letters(tmp_path):
    from emcrowd.io import load_labels

    tasks = [_task(1), _task(2)]
    for k, answer in ((0, "pos"), (1, "neg")):
        tasks[k]["annotations"][0]["result"][0]["value"]["choices"] = answer
    tasks[0]["annotations"].append({"completed_by": 2, "result": [
        {"type": "choices", "from_name": "c", "value": {"choices": ["neg", "pos"]}}]})  # fmt: skip
    (tmp_path / "ls.json").write_text(json.dumps(tasks))
    data = load_labels(tmp_path / "ls.json").labels
    assert set(data.class_names) == {"pos", "neg", "neg|pos"}


# -- JSON that Python's parser cannot take -------------------------------------------------------------
def test_json_nested_100000_deep(tmp_path):
    (tmp_path / "d.json").write_text("[" * 100_000 + "]" * 100_000)
    refused(tmp_path, "info", str(tmp_path / "d.json"), needles=("d.json", "nested"))


@pytest.mark.parametrize("suffix", ["json", "jsonl"])
def test_json_holding_a_5000_digit_integer(tmp_path, suffix):
    record = '{"item": 1, "worker": 2, "label": ' + "9" * 5000 + "}"
    (tmp_path / f"b.{suffix}").write_text(f"[{record}]" if suffix == "json" else record + "\n")
    refused(tmp_path, "info", str(tmp_path / f"b.{suffix}"), needles=(f"b.{suffix}",))


def test_jsonl_integer_beyond_64_bits_is_refused_not_wrapped(tmp_path):
    lines = [
        '{"item": 1, "worker": 2, "label": 99999999999999999999}',
        '{"item": 1, "worker": 3, "label": 1}',
    ]
    (tmp_path / "b.jsonl").write_text("\n".join(lines) + "\n")
    refused(tmp_path, "info", str(tmp_path / "b.jsonl"), needles=("b.jsonl", "line 1", "label"))


def test_a_small_json_gz_that_expands_past_the_limit(tmp_path):
    records = [{"item": f"i{k}", "worker": f"w{k % 7}", "label": "a"} for k in range(200_000)]
    with gzip.open(tmp_path / "big.json.gz", "wt") as fh:
        json.dump(records, fh)
    assert (tmp_path / "big.json.gz").stat().st_size < 1 << 20
    refused(tmp_path, "info", str(tmp_path / "big.json.gz"), "--max-memory", "20M",
            needles=("big.json.gz", "--max-memory"))  # fmt: skip


# -- Parquet --------------------------------------------------------------------------------------------
def test_parquet_label_column_all_null(tmp_path):
    table = pa.table({"item": ["a", "b"], "worker": ["w", "w"], "label": pa.array([None, None], pa.string())})
    pq.write_table(table, tmp_path / "n.parquet")
    refused(tmp_path, "fit", str(tmp_path / "n.parquet"), "-q", "--out", str(tmp_path / "o"),
            needles=("n.parquet", "missing"))  # fmt: skip


# -- report -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fit") / "fit"
    done = run_cli("fit", SAMPLE, "-q", "--out", str(out), "-m", "dawid-skene")
    assert done.returncode == 0, done.stderr
    return out


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [("classes", [], "classes"), ("objective", 3.5, "objective"), ("classes", [[1]], "classes"),
     ("n_items", "many", "n_items"), ("objective", ["x"], "objective")],
)  # fmt: skip
def test_report_on_a_malformed_summary(fitted, tmp_path, key, value, needle):
    fit = _copy(fitted, tmp_path / "fit")
    summary = json.loads((fit / "summary.json").read_text())
    summary[key] = value
    (fit / "summary.json").write_text(json.dumps(summary))
    refused(tmp_path, "report", str(fit), needles=("summary.json", needle))


def test_report_on_a_summary_that_is_a_device(fitted, tmp_path):
    fit = _copy(fitted, tmp_path / "fit")
    (fit / "summary.json").unlink()
    (fit / "summary.json").symlink_to("/dev/zero")
    refused(tmp_path, "report", str(fit), needles=("summary.json", "regular file"))


@pytest.mark.parametrize("what", ["/dev/zero", "dir", "methods-list", "ci-text"])
def test_report_with_a_malformed_compare_file(fitted, tmp_path, what):
    fit = _copy(fitted, tmp_path / "fit")
    if what == "/dev/zero":
        compare = "/dev/zero"
    elif what == "dir":
        compare = str(tmp_path)
    else:
        entry = {"accuracy": 0.9, "accuracy_ci": "wide"} if what == "ci-text" else None
        body = {"methods": {"glad": entry}} if entry else {"methods": [1, 2]}
        (tmp_path / "c.json").write_text(json.dumps(body))
        compare = str(tmp_path / "c.json")
    refused(tmp_path, "report", str(fit), "--compare", compare, needles=(Path(compare).name,))


def test_report_refuses_to_replace_the_fits_own_files(fitted, tmp_path):
    fit = _copy(fitted, tmp_path / "fit")
    for name in ("items.csv", "summary.json", "workers.csv"):
        refused(tmp_path, "report", str(fit), "--out", str(fit / name), needles=(name, "input"))


def test_report_draws_names_with_dollar_signs_as_written(tmp_path):
    labels = ("$x^$", r"$\frac{a}{$")
    rows = "".join(f"$i{k}$,$w{j}^$,{labels[(k + j) % 3 == 0]}\n" for k in range(20) for j in range(4))
    (tmp_path / "m.csv").write_text("item,worker,label\n" + rows)
    fit = tmp_path / "fit"
    assert (
        run_cli("fit", str(tmp_path / "m.csv"), "-q", "--out", str(fit), "-m", "dawid-skene").returncode == 0
    )
    done = run_cli("report", str(fit), "-q")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # -q: not even the "Report written" note
    assert (fit / "report.html").stat().st_size > 1000


# -- partition into bad places, and two runs at once -----------------------------------------------------
def test_partition_into_a_symlink_to_an_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    refused(tmp_path, "partition", SAMPLE, str(tmp_path / "link"), "-q", needles=("link", "symbolic link"))


def test_partition_into_a_dangling_symlink(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    refused(tmp_path, "partition", SAMPLE, str(tmp_path / "link"), "-q", needles=("link", "symbolic link"))


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_partition_under_a_read_only_parent(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        refused(tmp_path, "partition", SAMPLE, str(parent / "ds"), "-q", needles=("ds", "not writable"))
    finally:
        parent.chmod(0o755)


def test_partition_into_an_unwritable_place_is_one_line_even_as_root(tmp_path):
    (tmp_path / "file").write_text("x")
    refused(tmp_path, "partition", SAMPLE, str(tmp_path / "file" / "ds"), "-q", needles=("ds",))


def test_two_partition_runs_into_one_directory(tmp_path):
    target = tmp_path / "ds"
    procs = [
        subprocess.Popen([sys.executable, "-m", "emcrowd", "partition", SAMPLE, str(target), "-q", "-n", "4"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert len(loser.strip().splitlines()) == 1 and "Traceback" not in loser and "ds" in loser
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    from emcrowd.io.partition import open_dataset

    assert open_dataset(target).n_labels == 2500


# -- partitioned data sets: manifest paths, corrupt partitions, --out before the cluster -----------------
@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "ds"
    assert run_cli("partition", SAMPLE, str(out), "-q", "-n", "2").returncode == 0
    return out


@pytest.mark.parametrize("name", ["../outside.parquet", "/etc/passwd", "sub/part.parquet", ".."])
def test_a_manifest_naming_a_file_outside_its_data_set(dataset, tmp_path, name):
    from emcrowd.errors import InputError
    from emcrowd.io.partition import open_dataset

    ds = _copy(dataset, tmp_path / "ds")
    manifest = json.loads((ds / "manifest.json").read_text())
    manifest["partitions"][0]["labels"] = name
    (ds / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"manifest\.json"):
        open_dataset(ds)
    pytest.importorskip("distributed")
    refused(tmp_path, "fit", str(ds), "--engine", "dask", "-q", "--out", str(tmp_path / "o"),
            needles=("manifest.json", "partition file"))  # fmt: skip


def test_a_symlinked_partition_file_leading_out_is_refused(dataset, tmp_path):
    from emcrowd.errors import InputError
    from emcrowd.io.partition import open_dataset

    ds = _copy(dataset, tmp_path / "ds")
    (ds / "part-00000.labels.parquet").unlink()
    (ds / "part-00000.labels.parquet").symlink_to(dataset / "part-00000.labels.parquet")
    with pytest.raises(InputError, match="outside the data set"):
        open_dataset(ds)


def test_dask_corrupt_partition_is_one_line_naming_the_file(dataset, tmp_path):
    pytest.importorskip("distributed")
    ds = _copy(dataset, tmp_path / "ds")
    part = ds / "part-00001.labels.parquet"
    table = pq.read_table(part)
    bad = table.set_column(1, "worker", pa.array(np.full(len(table), 10_000, dtype=np.int32)))
    pq.write_table(bad, part)  # a valid Parquet file whose codes are out of range
    refused(tmp_path, "fit", str(ds), "--engine", "dask", "-q", "--local-workers", "1",
            "--out", str(tmp_path / "o"), needles=("part-00001.labels.parquet",))  # fmt: skip


def test_dask_checks_out_before_starting_a_cluster(dataset, tmp_path):
    pytest.importorskip("distributed")
    (tmp_path / "file").write_text("x")
    before = snapshot(tmp_path)
    done = run_cli("fit", str(dataset), "--engine", "dask", "-q", "--out", str(tmp_path / "file" / "o"),
                   "--scheduler", "tcp://127.0.0.1:9")  # fmt: skip
    # no scheduler listens there: had the cluster been reached first, the message would say so
    assert_one_line_error(done, "file")
    assert "scheduler" not in done.stderr
    assert snapshot(tmp_path) == before


def test_input_error_survives_pickling_as_itself():
    import pickle

    from emcrowd.errors import InputError

    again = pickle.loads(pickle.dumps(InputError("x.parquet", "is broken")))
    assert (
        isinstance(again, InputError) and again.path == "x.parquet" and str(again) == "x.parquet: is broken"
    )


# -- standard output closed: a command that prints nothing there still succeeds ----------------------------
def _shell(args: list[str], redirect: str, cwd: Path) -> subprocess.CompletedProcess:
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "emcrowd", *args])
    return subprocess.run(["bash", "-c", f"{command} {redirect}"], capture_output=True, text=True,
                          timeout=120, cwd=cwd)  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [["fit", SAMPLE, "-q", "--out", "o", "-m", "majority"], ["partition", SAMPLE, "ds", "-q"],
     ["info", SAMPLE], ["simulate", "--out", "sim", "-q", "--items", "20", "--workers", "3"]],
    ids=["fit", "partition", "info", "simulate"],
)  # fmt: skip
def test_a_command_that_prints_nothing_on_stdout_succeeds_with_stdout_closed(args, tmp_path):
    done = _shell(args, ">&-", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr


# -- a wide matrix CSV is read row by row (Arrow's per-column cost made it 12 s and 760 MB) -------------
def _wide_csv(path: Path, rows: int = 3, width: int = 100_000) -> Path:
    matrix = np.random.default_rng(0).integers(0, 2, (rows, width))
    with open(path, "w") as fh:
        fh.write(",".join(f"w{i}" for i in range(width)) + "\n")
        for row in matrix:
            fh.write(",".join(map(str, row)) + "\n")
    return path


def test_a_wide_matrix_is_not_read_column_by_column(tmp_path, monkeypatch):
    from emcrowd.io import _tables, load_labels, matrix

    calls = []
    real = _tables.read_text_columns
    monkeypatch.setattr(matrix, "read_text_columns", lambda *a, **k: calls.append(1) or real(*a, **k))
    data = load_labels(_wide_csv(tmp_path / "wide.csv", width=20_000)).labels
    assert (data.n_items, data.n_workers) == (3, 20_000)
    assert calls == []
    np.savetxt(tmp_path / "tall.csv", np.random.default_rng(1).integers(0, 2, (2000, 100)), fmt="%d",
               delimiter=",", header=",".join(f"w{i}" for i in range(100)), comments="")  # fmt: skip
    assert load_labels(tmp_path / "tall.csv").labels.n_items == 2000
    assert calls == [1]  # a tall one still is


def test_a_wide_matrix_is_read_in_little_memory(tmp_path):
    path = _wide_csv(tmp_path / "wide.csv")
    # the child's own peak (VmHWM: a forked child's getrusage peak would include the parent's)
    code = (
        "import sys; from emcrowd.io import load_labels; d = load_labels(sys.argv[1]).labels; "
        "peak = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
        "print(d.n_workers, peak)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    n_workers, peak_kb = map(int, done.stdout.split())
    assert n_workers == 100_000
    assert peak_kb < 350 * 1024, peak_kb  # 760 MB column by column; about 105 MB row by row


# -- memory the budget did not see --------------------------------------------------------------------------
def test_confusion_csv_is_estimated_before_the_fit(tmp_path):
    rows = "".join(f"x{i % 5},w{i},c{i}\n" for i in range(500))  # 500 annotators, 500 classes
    (tmp_path / "k.csv").write_text("item,worker,label\n" + rows)
    refused(tmp_path, "fit", str(tmp_path / "k.csv"), "-m", "majority", "-q", "--out", str(tmp_path / "o"),
            needles=("k.csv", "confusion.csv", "125,000,000 rows"))  # fmt: skip


def test_output_estimate_grows_with_annotators_and_classes_squared():
    from emcrowd import budget

    small = budget.output_bytes(1000, 50, 2)
    assert budget.output_bytes(1000, 500, 2) - small == 450 * 4 * budget.CONFUSION_ROW_BYTES
    assert budget.output_bytes(500, 500, 500) > 7 << 30


def _huge_field(path: Path, mib: int) -> Path:
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(b"item,worker,label\na,w,")
        block = b"x" * (1 << 20)
        for _ in range(mib):
            fh.write(block)
        fh.write(b"\n")
    return path


@pytest.mark.parametrize("limit", ["100M", "200M", "300M"])
def test_a_compressed_field_larger_than_the_limit_is_refused_as_it_is_read(tmp_path, limit):
    path = _huge_field(tmp_path / "f.csv.gz", 400)
    assert path.stat().st_size < 4 << 20
    code = (
        "import resource, subprocess, sys; "
        "args = [sys.executable, '-m', 'emcrowd', 'info', sys.argv[1], '--max-memory', sys.argv[2]]; "
        "done = subprocess.run(args,"
        " capture_output=True, text=True); "
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "print(done.stderr.strip().splitlines()[-1])"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path), limit], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    status, peak_kb = map(int, done.stdout.splitlines()[0].split())
    message = done.stdout.splitlines()[1]
    assert status == 2 and "f.csv.gz" in message and "--max-memory" in message, done.stdout
    from emcrowd import budget

    assert peak_kb * 1024 < budget.parse_size(limit) + (150 << 20), peak_kb  # the interpreter's own ~100 MB


def test_many_valid_rows_are_counted_against_the_limit(tmp_path):
    with gzip.open(tmp_path / "m.csv.gz", "wt", compresslevel=1) as fh:
        fh.write("item,worker,label\n")
        fh.writelines(f"item{i:09d},w{i % 50},c{i % 3}\n" for i in range(600_000))
    refused(
        tmp_path,
        "info",
        str(tmp_path / "m.csv.gz"),
        "--max-memory",
        "30M",
        needles=("m.csv.gz", "--max-memory"),
    )
    assert run_cli("info", str(tmp_path / "m.csv.gz"), "--max-memory", "1G").returncode == 0


# -- messages ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["csv", "tsv", "parquet"])
def test_an_export_whose_every_assignment_was_rejected_says_so(tmp_path, suffix):
    rows = [("h1", "w1", "pos", "Rejected"), ("h2", "w1", "neg", "Rejected")]
    names = ("HITId", "WorkerId", "Answer.sentiment", "AssignmentStatus")
    path = tmp_path / f"r.{suffix}"
    if suffix == "parquet":
        pq.write_table(pa.table({n: [r[k] for r in rows] for k, n in enumerate(names)}), path)
    else:
        sep = "," if suffix == "csv" else "\t"
        path.write_text("\n".join(sep.join(r) for r in [names, *rows]) + "\n")
    refused(tmp_path, "info", str(path), needles=(path.name, "rejected", "--keep-rejected"))


def test_json_lines_errors_count_lines_from_one(tmp_path):
    lines = [json.dumps({"item": f"i{k}", "worker": f"w{k % 3}", "label": "ab"[k % 2]}) for k in range(300)]
    (tmp_path / "c.jsonl").write_text("\n".join([*lines, '{"item": "z", "worker": ']) + "\n")
    refused(tmp_path, "info", str(tmp_path / "c.jsonl"), needles=("c.jsonl", "line 301"))
    (tmp_path / "d.jsonl").write_text(
        "\n".join([*lines, '{"item": "z", "worker": "w1", "label": "c"}']) + "\n"
    )
    refused(tmp_path, "info", str(tmp_path / "d.jsonl"), "--classes", "a,b", needles=("d.jsonl", "line 301"))


def test_json_lines_whose_values_change_type_are_read(tmp_path):
    from emcrowd.io import load_labels

    lines = [
        '{"item": 1, "worker": "a", "label": "x"}',
        '{"item": "1", "worker": "b", "label": 2}',
        '{"item": 2, "worker": "a", "label": 2}',
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    data = load_labels(tmp_path / "m.jsonl").labels
    assert data.n_items == 2 and set(data.class_names) == {"x", "2"}


def test_role_detection_warns_about_the_impossible_and_names_the_columns(tmp_path):
    rows = [f"{t},sub{t % 7},w{w},{'ab'[(t + w) % 2]}" for t in range(300) for w in range(5)]
    (tmp_path / "s.csv").write_text("id,task,annotator,answer\n" + "\n".join(rows) + "\n")
    done = run_cli("info", str(tmp_path / "s.csv"), "--worker-col", "annotator", "-q")
    assert done.returncode == 0, done.stderr
    warning = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1, done.stderr
    for needle in ("'task'", "recognised name", "'annotator' (--worker-col)", "--item-col", "7 items"):
        assert needle in warning[0], warning[0]
    done = run_cli("info", str(tmp_path / "s.csv"), "--worker-col", "annotator", "--item-col", "id", "-q")
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr


# -- real exports, as they are, read with no options -----------------------------------------------------
def _result(kind: str, value: dict, name: str = "answer") -> dict:
    return {
        "id": "r1",
        "type": kind,
        "from_name": name,
        "to_name": "text",
        "origin": "manual",
        "value": value,
    }


def _studio(rows: list[tuple[object, object, dict | None]], with_ids: bool = True) -> list[dict]:
    """A Label Studio JSON export: tasks with annotations (completed_by, result), as Label Studio writes."""
    tasks: dict[object, dict] = {}
    for task_id, who, result in rows:
        task = tasks.setdefault(
            task_id,
            {
                "id": task_id,
                "data": {"text": f"text {task_id}"},
                "annotations": [],
                "predictions": [],
                "meta": {},
                "project": 1,
            },
        )
        results = (
            []
            if result is None
            else [result, _result("labels", {"start": 0, "end": 3, "labels": ["PER"]}, "ner")]
        )
        task["annotations"].append(
            {
                "id": len(task["annotations"]) + 1,
                "completed_by": who,
                "result": results,
                "was_cancelled": False,
                "ground_truth": False,
                "lead_time": 3.2,
            }
        )
    out = list(tasks.values())
    if not with_ids:
        for task in out:
            del task["id"]
    return out


LABEL_STUDIO_KINDS = {
    "choices single": (lambda v: _result("choices", {"choices": [v]}), ["neg", "pos"]),
    "choices multiple": (lambda v: _result("choices", {"choices": [v, "other"]}), ["neg|other", "other|pos"]),
    "taxonomy": (lambda v: _result("taxonomy", {"taxonomy": [["Animal", v]]}), ["Animal/neg", "Animal/pos"]),
    "rating": (lambda v: _result("rating", {"rating": 1 if v == "neg" else 5}), ["1", "5"]),
    "number": (lambda v: _result("number", {"number": 0 if v == "neg" else 2.0}), ["0", "2"]),
    "textarea": (lambda v: _result("textarea", {"text": [v]}), ["neg", "pos"]),
}
VOTES = [(1, 7, "pos"), (1, 8, "pos"), (2, 7, "neg"), (2, 8, "pos"), (3, 7, "neg"), (3, 9, "neg")]


@pytest.mark.parametrize("kind", sorted(LABEL_STUDIO_KINDS))
def test_label_studio_result_types(tmp_path, kind):
    from emcrowd.io import load_labels

    make, classes = LABEL_STUDIO_KINDS[kind]
    (tmp_path / "ls.json").write_text(json.dumps(_studio([(t, w, make(v)) for t, w, v in VOTES])))
    loaded = load_labels(tmp_path / "ls.json")
    data = loaded.labels
    assert sorted(data.class_names) == classes
    assert (data.n_items, data.n_workers, data.n_labels) == (3, 3, 6)
    assert loaded.report.preset == "label-studio"


def test_label_studio_long_textarea_is_not_read_as_classes(tmp_path):
    text = "a long free-text answer that goes on and on about the item, far longer than any class name"
    rows = [(t, w, _result("textarea", {"text": [text + str(t)]})) for t, w, _ in VOTES]
    (tmp_path / "ls.json").write_text(json.dumps(_studio(rows)))
    refused(tmp_path, "info", str(tmp_path / "ls.json"), needles=("ls.json", "free text"))


def test_label_studio_tasks_without_id_and_a_single_task(tmp_path):
    from emcrowd.io import load_labels

    make = LABEL_STUDIO_KINDS["choices single"][0]
    tasks = _studio([(t, w, make(v)) for t, w, v in VOTES], with_ids=False)
    (tmp_path / "noid.json").write_text(json.dumps(tasks))
    data = load_labels(tmp_path / "noid.json").labels
    assert data.item_names == ("1", "2", "3") and data.n_labels == 6
    (tmp_path / "one.json").write_text(json.dumps(_studio([(5, 7, make("pos")), (5, 8, make("neg"))])[0]))
    data = load_labels(tmp_path / "one.json").labels
    assert data.item_names == ("5",) and sorted(data.class_names) == ["neg", "pos"]


def _flat(rows=VOTES) -> list[dict]:
    """Label Studio's JSON-MIN export: one flat record per annotation (task data, the control's answer)."""
    return [
        {
            "id": t,
            "text": f"text {t}",
            "sentiment": v if k != 5 else {"choices": [v, "pos"]},
            "annotator": f"u{w}@x",
            "annotation_id": 100 + k,
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "lead_time": 1.5,
        }
        for k, (t, w, v) in enumerate(rows)
    ]


def test_label_studio_json_min_export(tmp_path):
    from emcrowd.io import load_labels

    (tmp_path / "min.json").write_text(json.dumps(_flat()))
    loaded = load_labels(tmp_path / "min.json")
    assert loaded.report.columns == {"item": "id", "worker": "annotator", "label": "sentiment"}
    assert sorted(loaded.labels.class_names) == ["neg", "neg|pos", "pos"]
    assert loaded.labels.n_labels == 6


@pytest.mark.parametrize("sep", [",", "\t"])
def test_label_studio_csv_and_tsv_exports(tmp_path, sep):
    import csv

    from emcrowd.io import load_labels

    records = _flat()
    names = sorted(records[0])  # Label Studio writes its columns in name order
    path = tmp_path / ("ls.csv" if sep == "," else "ls.tsv")
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter=sep)
        writer.writerow(names)
        for r in records:
            writer.writerow([json.dumps(r[n]) if isinstance(r[n], dict) else r[n] for n in names])
    loaded = load_labels(path)
    assert loaded.report.columns["label"] == "sentiment"
    assert sorted(loaded.labels.class_names) == ["neg", "neg|pos", "pos"]
    assert (loaded.labels.n_items, loaded.labels.n_workers) == (3, 3)


def test_figure_eight_full_report_and_its_gold(tmp_path):
    from emcrowd.io import load_labels

    head = (
        "_unit_id,_created_at,_golden,_id,_missed,_started_at,_tainted,_channel,_trust,_worker_id,_country,"
    )
    rows = [head + "sentiment,sentiment_gold,text"]
    for unit, worker, answer, gold in [
        (1, 501, "pos", ""),
        (1, 502, "neg", ""),
        (2, 501, "neg", "neg"),
        (2, 502, "neg", "neg"),
        (3, 503, "pos", ""),
    ]:
        golden = "true" if gold else "false"
        rows.append(f"{unit},t,{golden},{unit}{worker},,t,false,c,0.9,{worker},US,{answer},{gold},some text")
    (tmp_path / "f8.csv").write_text("\n".join(rows) + "\n")
    loaded = load_labels(tmp_path / "f8.csv")
    assert loaded.report.preset == "figure-eight"
    assert loaded.report.columns == {"item": "_unit_id", "worker": "_worker_id", "label": "sentiment"}
    out = tmp_path / "o"
    done = run_cli(
        "fit",
        str(tmp_path / "f8.csv"),
        "--gold",
        str(tmp_path / "f8.csv"),
        "-q",
        "--out",
        str(out),
        "-m",
        "dawid-skene",
    )
    assert done.returncode == 0, done.stderr
    items = (out / "items.csv").read_text().splitlines()
    assert items[0].split(",")[0] == "item" and "gold" in items[0]


def test_peerannot_answers_json(tmp_path):
    from emcrowd.io import load_labels

    (tmp_path / "answers.json").write_text(
        json.dumps({"0": {"0": 1, "3": 0}, "1": {"0": 1, "2": 1}, "2": {"1": 0}})
    )
    loaded = load_labels(tmp_path / "answers.json")
    assert loaded.report.preset == "peerannot"
    data = loaded.labels
    assert (data.n_items, data.n_workers, data.n_labels) == (3, 4, 5) and data.class_names == ("0", "1")


def test_gal_headerless_gold_file_as_truth_and_gold(tmp_path):
    rows = [
        ("w1", "i1", "cat"),
        ("w2", "i1", "dog"),
        ("w1", "i2", "dog"),
        ("w3", "i2", "dog"),
        ("w2", "i3", "cat"),
        ("w3", "i3", "cat"),
    ]
    (tmp_path / "labels.txt").write_text("".join("\t".join(r) + "\n" for r in rows))
    (tmp_path / "gold.txt").write_text("i1\tcat\ni2\tdog\n")
    done = run_cli(
        "compare",
        str(tmp_path / "labels.txt"),
        "--preset",
        "gal",
        "--truth",
        str(tmp_path / "gold.txt"),
        "--methods",
        "majority",
        "--json",
        "-q",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n_gold"] == 2
    done = run_cli(
        "fit",
        str(tmp_path / "labels.txt"),
        "--preset",
        "gal",
        "--gold",
        str(tmp_path / "gold.txt"),
        "-q",
        "--out",
        str(tmp_path / "o"),
    )
    assert done.returncode == 0, done.stderr


def test_a_truth_file_with_the_labels_item_column_name(tmp_path):
    (tmp_path / "mt.csv").write_text(
        "HITId,WorkerId,Answer.sentiment,AssignmentStatus\n"
        "h1,w1,pos,Approved\nh1,w2,neg,Approved\nh2,w1,neg,Approved\nh2,w2,neg,Approved\n"
    )
    (tmp_path / "truth.csv").write_text("truth,HITId\npos,h1\nneg,h2\n")
    done = run_cli(
        "compare",
        str(tmp_path / "mt.csv"),
        "--truth",
        str(tmp_path / "truth.csv"),
        "--methods",
        "majority",
        "--json",
        "-q",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n_gold"] == 2


# -- --csv-safe ---------------------------------------------------------------------------------------------
INJECTED = "item,worker,label\n=cmd|x,w1,@SUM(A1)\n=cmd|x,w2,-2+3\nb,+w3,@SUM(A1)\nb,w1,-1\nc,w2,-1\n"


def test_csv_safe_prefixes_cells_a_spreadsheet_would_run(tmp_path):
    import csv

    (tmp_path / "i.csv").write_text(INJECTED)
    plain, safe = tmp_path / "plain", tmp_path / "safe"
    for out, extra in ((plain, []), (safe, ["--csv-safe"])):
        done = run_cli("fit", str(tmp_path / "i.csv"), "-m", "majority", "-q", "--out", str(out), *extra)
        assert done.returncode == 0, done.stderr

    def rows(path: Path) -> list[list[str]]:
        with open(path, newline="") as fh:
            return list(csv.reader(fh))

    for name in ("items.csv", "posteriors.csv", "workers.csv", "confusion.csv"):
        body = [c for row in rows(safe / name)[1:] for c in row]
        risky = [c for c in body if c[:1] in "=+@\t\r" or (c[:1] == "-" and not _is_number(c))]
        assert not risky, (name, risky)
        raw = (plain / name).read_text()  # off by default: the text as written
        assert "'" not in raw
    items = rows(safe / "items.csv")
    header = items[0]
    assert items[1][header.index("item")] == "'=cmd|x" and items[2][header.index("label")] == "-1"
    workers = {row[0] for row in rows(safe / "workers.csv")[1:]}
    assert "'+w3" in workers
    done = run_cli(
        "relabel", str(tmp_path / "i.csv"), "-b", "2", "-o", "-", "--csv-safe", "-q", "-m", "majority"
    )
    assert done.returncode == 0 and "'=cmd|x" in done.stdout and "\n=cmd" not in done.stdout, done.stdout


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_spreadsheet_safe_text_rules():
    from emcrowd.io.outputs import spreadsheet_safe_text as safe

    assert [safe(t) for t in ("=1+1", "+x", "-x", "@A1", "\tx", "\rx")] == [
        "'=1+1", "'+x", "'-x", "'@A1", "'\tx", "'\rx"
    ]  # fmt: skip
    assert [safe(t) for t in ("-1", "+0.5", "-1e-3", "a=b", "", "x")] == [
        "-1",
        "+0.5",
        "-1e-3",
        "a=b",
        "",
        "x",
    ]


def test_local_cluster_is_quiet_when_the_dashboard_port_is_taken():
    """Another Dask cluster on the machine holds port 8787: the engine's cluster says nothing of it (Dask
    warned on stderr, a second line in the one-line errors of `fit --engine dask`)."""
    pytest.importorskip("distributed")
    code = (
        "import socket, warnings\n"
        "s = socket.socket()\n"
        "try:\n    s.bind(('', 8787)); s.listen()\nexcept OSError:\n    pass\n"
        "if __name__ == '__main__':\n"
        "    from emcrowd.distributed.engine import local_cluster\n"
        "    c = local_cluster(1)\n"
        "    print(c.scheduler.http_server is not None)\n"
        "    c.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "8787" not in done.stderr and "UserWarning" not in done.stderr, done.stderr
