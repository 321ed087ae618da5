"""The command line: fit, compare and simulate end to end, stdout/stderr separation and exit codes."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emcrowd import __version__
from emcrowd.cli import app
from tests.helpers import DATASETS, assert_non_decreasing, needs_datasets, write_object_npy

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
FIT_FILES = ["confusion.csv", "items.csv", "posteriors.csv", "summary.json", "workers.csv"]

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def run_cli(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    """The real thing: a separate interpreter, real stdout and stderr pipes."""
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "emcrowd", *(str(a) for a in args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def snapshot(directory: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for p in sorted(directory.rglob("*")):
        out[str(p.relative_to(directory))] = None if p.is_dir() else p.read_bytes()
    return out


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    """A small simulated data set (L.npy, y.npy, alpha.npy, beta.npy), made by the CLI itself."""
    out = tmp_path_factory.mktemp("sim") / "data"
    res = invoke("simulate", "--items", 80, "--workers", 9, "--labels-per-item", 4, "--seed", 7, "--out", out)
    assert res.exit_code == 0, res.stderr
    return out


@pytest.fixture
def labels_copy(simulated, tmp_path) -> Path:
    """A private copy of the simulated data, for tests that put files next to it."""
    data = tmp_path / "data"
    shutil.copytree(simulated, data)
    return data


def matrix_to_csv(matrix: np.ndarray, path: Path, header: list[str] | None = None) -> Path:
    lines = [",".join(header)] if header else []
    for row in matrix:
        lines.append(",".join("" if np.isnan(v) else str(int(v)) for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------
# --version, --help
# --------------------------------------------------------------------------------------------------
def test_version():
    res = invoke("--version")
    assert res.exit_code == 0
    assert res.stdout.strip() == f"emcrowd {__version__}"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_commands(flag):
    res = invoke(flag)
    assert res.exit_code == 0
    for command in ("fit", "compare", "simulate"):
        assert command in res.stdout
    assert "GLAD" in res.stdout


@pytest.mark.parametrize("command", ["fit", "compare", "simulate"])
def test_command_help(command):
    res = invoke(command, "--help")
    assert res.exit_code == 0
    assert "Usage" in res.stdout
    assert "--quiet" in res.stdout


# --------------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------------
def test_fit_round_trip(simulated, tmp_path):
    matrix = np.load(simulated / "L.npy")
    n_items, n_workers = matrix.shape
    out = tmp_path / "fit"
    res = invoke("fit", simulated / "L.npy", "--out", out)
    assert res.exit_code == 0, res.stderr
    assert res.stdout == ""  # human-readable output goes to stderr
    assert "Wrote" in res.stderr and str(out) in res.stderr
    assert sorted(p.name for p in out.iterdir()) == FIT_FILES

    header, posteriors = read_csv(out / "posteriors.csv")
    assert header == ["item", "p_0", "p_1"]
    assert [r["item"] for r in posteriors] == [str(i) for i in range(n_items)]
    p = np.array([[float(r["p_0"]), float(r["p_1"])] for r in posteriors])
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)

    header, items = read_csv(out / "items.csv")
    assert {"item", "label", "confidence", "beta", "n_labels"} <= set(header)
    assert len(items) == n_items
    assert [r["item"] for r in items] == [str(i) for i in range(n_items)]
    labels = np.array([int(r["label"]) for r in items])
    assert set(labels) <= {0, 1}
    np.testing.assert_allclose([float(r["confidence"]) for r in items], p[np.arange(n_items), labels])
    np.testing.assert_array_equal(p.argmax(axis=1), labels)
    assert [int(r["n_labels"]) for r in items] == (~np.isnan(matrix)).sum(axis=1).tolist()
    assert all(float(r["beta"]) > 0 for r in items)

    header, workers = read_csv(out / "workers.csv")
    assert {"worker", "alpha", "n_labels", "agreement"} <= set(header)
    assert [r["worker"] for r in workers] == [str(i) for i in range(n_workers)]
    assert [int(r["n_labels"]) for r in workers] == (~np.isnan(matrix)).sum(axis=0).tolist()
    for r in workers:
        assert np.isfinite(float(r["alpha"]))
        assert 0.0 <= float(r["agreement"]) <= 1.0
    # agreement is the share of an annotator's labels equal to the aggregated label
    rows, cols = np.nonzero(~np.isnan(matrix))
    agree = np.bincount(cols, weights=matrix[rows, cols] == labels[rows], minlength=n_workers)
    np.testing.assert_allclose([float(r["agreement"]) for r in workers], agree / np.bincount(cols))

    summary = json.loads((out / "summary.json").read_text())
    for key in ("method", "options", "converged", "n_iter", "objective", "fit_seconds", "emcrowd_version"):
        assert key in summary
    assert summary["method"] == "glad"
    assert summary["emcrowd_version"] == __version__
    assert summary["converged"] is True
    assert isinstance(summary["objective"], list)
    assert len(summary["objective"]) == summary["n_iter"] >= 1
    assert_non_decreasing(summary["objective"])
    assert summary["fit_seconds"] >= 0
    assert summary["options"]["alpha_prior"] == [1.0, 1.0]
    assert summary["options"]["max_iter"] == 500


def test_fit_options_are_used_and_recorded(simulated, tmp_path):
    out = tmp_path / "fit"
    res = invoke(
        "fit",
        simulated / "L.npy",
        "--out",
        out,
        "--alpha-prior",
        "0.5,2",
        "--beta-prior",
        "0,3",
        "--max-iter",
        2,
    )
    assert res.exit_code == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["options"]["alpha_prior"] == [0.5, 2.0]
    assert summary["options"]["beta_prior"] == [0.0, 3.0]
    assert summary["options"]["max_iter"] == 2
    assert summary["n_iter"] == 2
    assert summary["converged"] is False
    assert "converge" in res.stderr  # the non-convergence warning is shown


def test_fit_quiet_prints_nothing(simulated, tmp_path):
    out = tmp_path / "fit"
    res = invoke("fit", simulated / "L.npy", "--out", out, "--quiet")
    assert res.exit_code == 0
    assert res.stdout == ""
    assert res.stderr == ""
    assert sorted(p.name for p in out.iterdir()) == FIT_FILES


def test_fit_csv_with_annotator_ids(simulated, tmp_path):
    matrix = np.load(simulated / "L.npy")
    ids = [f"ann-{chr(ord('a') + i)}" for i in range(matrix.shape[1])]
    path = matrix_to_csv(matrix, tmp_path / "crowd.csv", header=ids)
    res_csv = invoke("fit", path, "--out", tmp_path / "from_csv", "-q")
    res_npy = invoke("fit", simulated / "L.npy", "--out", tmp_path / "from_npy", "-q")
    assert res_csv.exit_code == 0, res_csv.stderr
    assert res_npy.exit_code == 0, res_npy.stderr

    _, workers = read_csv(tmp_path / "from_csv" / "workers.csv")
    assert [r["worker"] for r in workers] == ids
    assert [int(r["n_labels"]) for r in workers] == (~np.isnan(matrix)).sum(axis=0).tolist()
    # same data, same model: the CSV and the .npy give the same estimates
    _, workers_npy = read_csv(tmp_path / "from_npy" / "workers.csv")
    np.testing.assert_allclose(
        [float(r["alpha"]) for r in workers], [float(r["alpha"]) for r in workers_npy], rtol=1e-9
    )
    assert (tmp_path / "from_csv" / "posteriors.csv").read_text() == (
        tmp_path / "from_npy" / "posteriors.csv"
    ).read_text()


def test_fit_csv_annotator_ids_with_markup_characters(simulated, tmp_path):
    matrix = np.load(simulated / "L.npy")
    ids = ["[red]", "[/]", "a[b]", "w,3", *(f"w{i}" for i in range(4, matrix.shape[1]))]
    path = matrix_to_csv(matrix, tmp_path / "L.csv", header=[f'"{i}"' if "," in i else i for i in ids])
    res = invoke("fit", path, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.stderr
    _, workers = read_csv(tmp_path / "out" / "workers.csv")
    assert [r["worker"] for r in workers] == ids


@pytest.mark.parametrize("name", ["L.npy", "my data.csv"])
def test_fit_default_out_is_stem_emcrowd_in_cwd(simulated, tmp_path, monkeypatch, name):
    data = tmp_path / "data"
    data.mkdir()
    if name.endswith(".npy"):
        shutil.copy(simulated / "L.npy", data / name)
    else:
        matrix_to_csv(np.load(simulated / "L.npy"), data / name)
    cwd = tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    res = invoke("fit", data / name)
    assert res.exit_code == 0, res.stderr
    expected = cwd / f"{Path(name).stem}-emcrowd"
    assert sorted(p.name for p in expected.iterdir()) == FIT_FILES
    assert sorted(p.name for p in data.iterdir()) == [name]  # nothing written next to the input
    assert [p.name for p in cwd.iterdir()] == [expected.name]
    assert expected.name in res.stderr
    assert res.stdout == ""


def test_fit_into_existing_directory_keeps_other_files(simulated, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "posteriors.csv").write_text("stale")
    res = invoke("fit", simulated / "L.npy", "--out", out, "-q")
    assert res.exit_code == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "posteriors.csv").read_text().startswith("item,p_0,p_1\n")


def test_debug_shows_the_exception(tmp_path):
    res = runner.invoke(app, ["--debug", "fit", str(tmp_path / "missing.npy")])
    assert res.exit_code != 0
    assert type(res.exception).__name__ == "InputError"
    res = invoke("fit", tmp_path / "missing.npy")  # and the flag does not stick
    assert res.exit_code == 2
    assert isinstance(res.exception, SystemExit)


# --------------------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------------------
def test_compare_json_on_sample_data():
    res = invoke("compare", SAMPLE / "L.npy", "--truth", SAMPLE / "y.npy", "--json")
    assert res.exit_code == 0, res.stderr
    metrics = json.loads(res.stdout)  # stdout is pure JSON
    n_items = np.load(SAMPLE / "L.npy").shape[0]
    y = np.load(SAMPLE / "y.npy")
    assert metrics["n_items"] == n_items
    assert metrics["n_gold"] == int((~np.isnan(y)).sum())
    majority = metrics["methods"]["majority"]["accuracy"]
    glad = metrics["methods"]["glad"]["accuracy"]
    assert 0.5 < majority < glad <= 1.0
    assert metrics["methods"]["glad"]["correct"] == round(glad * metrics["n_gold"])
    # the table is on stderr, not stdout
    assert "Accuracy" in res.stderr and "majority vote" in res.stderr
    assert "Accuracy" not in res.stdout
    assert "┃" not in res.stdout


def test_compare_without_json_writes_nothing_to_stdout():
    res = invoke("compare", SAMPLE / "L.npy", "--truth", SAMPLE / "y.npy")
    assert res.exit_code == 0
    assert res.stdout == ""
    assert "Accuracy" in res.stderr


def test_compare_json_quiet_has_empty_stderr():
    res = invoke("compare", SAMPLE / "L.npy", "-t", SAMPLE / "y.npy", "--json", "-q")
    assert res.exit_code == 0
    assert res.stderr == ""
    assert set(json.loads(res.stdout)["methods"]) == {
        "majority",
        "glad",
        "dawid_skene",
        "one_coin",
        "mace",
        "bayesian_ds",
        "auto",
    }


def test_compare_matches_truth_given_as_csv(simulated, tmp_path):
    y = np.load(simulated / "y.npy")
    y_csv = tmp_path / "y.csv"
    y_csv.write_text("gold\n" + "".join(f"{int(v)}\n" for v in y))
    a = invoke("compare", simulated / "L.npy", "--truth", simulated / "y.npy", "--json", "-q")
    b = invoke("compare", simulated / "L.npy", "--truth", y_csv, "--json", "-q")
    assert a.exit_code == b.exit_code == 0
    ma, mb = json.loads(a.stdout), json.loads(b.stdout)
    assert ma["n_gold"] == mb["n_gold"] == y.size
    for method in ("majority", "glad"):
        assert ma["methods"][method]["correct"] == mb["methods"][method]["correct"]


def test_compare_scores_only_items_with_gold(simulated, tmp_path):
    y = np.load(simulated / "y.npy")
    y[::2] = np.nan
    np.save(tmp_path / "y.npy", y)
    res = invoke("compare", simulated / "L.npy", "--truth", tmp_path / "y.npy", "--json", "-q")
    assert res.exit_code == 0
    metrics = json.loads(res.stdout)
    assert metrics["n_gold"] == int((~np.isnan(y)).sum()) == y.size // 2
    assert metrics["methods"]["majority"]["total"] == metrics["n_gold"]


# --------------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------------
SIM_FILES = ["L.npy", "alpha.npy", "beta.npy", "y.npy"]


def test_simulate_same_seed_same_bytes_different_seed_different(tmp_path):
    args = ("simulate", "--items", 50, "--workers", 6, "-r", 3, "-q")
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        res = invoke(*args, "--seed", seed, "--out", tmp_path / name)
        assert res.exit_code == 0, res.stderr
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == SIM_FILES
    for f in SIM_FILES:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert (tmp_path / "a" / "L.npy").read_bytes() != (tmp_path / "c" / "L.npy").read_bytes()
    assert (tmp_path / "a" / "alpha.npy").read_bytes() != (tmp_path / "c" / "alpha.npy").read_bytes()


@pytest.mark.parametrize("r", [1, 3, 6])
def test_simulate_labels_per_item(tmp_path, r):
    res = invoke("simulate", "--items", 40, "--workers", 6, "--labels-per-item", r, "--out", tmp_path, "-q")
    assert res.exit_code == 0, res.stderr
    L = np.load(tmp_path / "L.npy", allow_pickle=False)
    assert L.shape == (40, 6)
    assert (~np.isnan(L)).sum(axis=1).tolist() == [r] * 40
    assert set(np.unique(L[~np.isnan(L)])) <= {0.0, 1.0}
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (40,) and set(np.unique(y)) <= {0.0, 1.0}
    assert np.load(tmp_path / "alpha.npy").shape == (6,)
    beta = np.load(tmp_path / "beta.npy")
    assert beta.shape == (40,) and np.all(beta > 0)


def test_simulate_dense_by_default_and_classes(tmp_path):
    res = invoke("simulate", "--items", 30, "--workers", 4, "--classes", 3, "--out", tmp_path, "-q")
    assert res.exit_code == 0
    L = np.load(tmp_path / "L.npy")
    assert not np.isnan(L).any()
    assert set(np.unique(L)) <= {0.0, 1.0, 2.0}
    assert set(np.unique(np.load(tmp_path / "y.npy"))) <= {0.0, 1.0, 2.0}


def test_simulate_reports_on_stderr(tmp_path):
    res = invoke("simulate", "--items", 20, "--workers", 3, "--out", tmp_path / "s")
    assert res.exit_code == 0
    assert res.stdout == ""
    assert "20 items" in res.stderr and str(tmp_path / "s") in res.stderr


# --------------------------------------------------------------------------------------------------
# real subprocess: stdout/stderr separation and exit codes for real
# --------------------------------------------------------------------------------------------------
def test_subprocess_compare_json_and_version(tmp_path):
    res = run_cli("compare", SAMPLE / "L.npy", "--truth", SAMPLE / "y.npy", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    metrics = json.loads(res.stdout)
    assert metrics["methods"]["glad"]["accuracy"] > metrics["methods"]["majority"]["accuracy"]
    assert "Accuracy" in res.stderr and "Accuracy" not in res.stdout
    assert "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []

    res = run_cli("--version", cwd=tmp_path)
    assert res.returncode == 0
    assert res.stdout.strip() == f"emcrowd {__version__}"
    assert res.stderr == ""


def test_subprocess_fit_and_user_error(simulated, tmp_path):
    res = run_cli("fit", simulated / "L.npy", "--out", tmp_path / "out", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    assert "Wrote" in res.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == FIT_FILES

    missing = tmp_path / "nope.npy"
    res = run_cli("fit", missing, "--out", tmp_path / "out2", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1  # one line
    assert res.stderr.startswith("emcrowd: error:")
    assert str(missing) in res.stderr
    assert not (tmp_path / "out2").exists()


def test_subprocess_console_script(tmp_path):
    script = Path(sys.executable).parent / "emcrowd"
    if not script.exists():
        pytest.skip("no emcrowd console script next to the interpreter")
    res = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert res.returncode == 0
    assert "simulate" in res.stdout


# --------------------------------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------------------------------
@needs_datasets
def test_real_rte_glad_accuracy():
    res = invoke("compare", DATASETS / "rte" / "L.npy", "--truth", DATASETS / "rte" / "y.npy", "--json", "-q")
    assert res.exit_code == 0, res.stderr
    metrics = json.loads(res.stdout)
    assert metrics["n_items"] == 800
    assert metrics["n_gold"] == 800
    assert metrics["methods"]["glad"]["accuracy"] >= 0.92
    assert metrics["methods"]["majority"]["accuracy"] == pytest.approx(0.919, abs=0.001)


@needs_datasets
@pytest.mark.parametrize(("name", "n_items", "n_workers"), [("bluebirds", 108, 39), ("temp", 462, 76)])
def test_real_fit_and_compare(tmp_path, name, n_items, n_workers):
    L, y = DATASETS / name / "L.npy", DATASETS / name / "y.npy"
    res = invoke("fit", L, "--out", tmp_path / "out", "-q")
    assert res.exit_code == 0, res.stderr
    _, posteriors = read_csv(tmp_path / "out" / "posteriors.csv")
    _, workers = read_csv(tmp_path / "out" / "workers.csv")
    assert len(posteriors) == n_items and len(workers) == n_workers
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert_non_decreasing(summary["objective"])

    res = invoke("compare", L, "--truth", y, "--json", "-q")
    assert res.exit_code == 0, res.stderr
    metrics = json.loads(res.stdout)
    assert metrics["n_gold"] == n_items
    assert 0.6 < metrics["methods"]["glad"]["accuracy"] <= 1.0


# --------------------------------------------------------------------------------------------------
# bad input battery: exit 2, no traceback, the file named, the output directory untouched
# --------------------------------------------------------------------------------------------------
Case = Callable[[Path, Path], tuple[list[object], list[str]]]


def test_likely_sign_flip_is_warned_about_even_when_quiet(simulated):
    res = invoke(
        "compare", simulated / "L.npy", "--truth", simulated / "y.npy", "--alpha-prior", "-3,0.1", "-q"
    )
    assert res.exit_code == 0
    assert "sign-flipped" in res.stderr
    good = invoke("compare", simulated / "L.npy", "--truth", simulated / "y.npy", "-q")
    assert "sign-flipped" not in good.stderr


def test_annotators_without_labels_are_left_out_of_the_ability_table(tmp_path):
    rng = np.random.default_rng(0)
    L = (rng.random((60, 5)) < 0.8).astype(float)
    L[:, 2] = np.nan  # annotator "idle" labels nothing: alpha stays at the prior mean, ranked 1.0
    p = matrix_to_csv(L, tmp_path / "L.csv", header=["a", "b", "idle", "c", "d"])
    res = invoke("fit", p, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.stderr
    table = res.stderr[res.stderr.index("Annotators by alpha") :]
    assert "idle" not in table
    assert " a " in table or "│ a " in table
    workers = list(csv.DictReader((tmp_path / "out" / "workers.csv").read_text().splitlines()))
    assert [w["worker"] for w in workers] == ["a", "b", "idle", "c", "d"]  # still in the file


def test_fit_says_when_it_replaces_earlier_results(simulated, tmp_path):
    first = invoke("fit", simulated / "L.npy", "--out", tmp_path / "out")
    assert "replacing" not in first.stderr
    second = invoke("fit", simulated / "L.npy", "--out", tmp_path / "out")
    assert second.exit_code == 0
    assert "replacing the earlier results" in second.stderr


def test_many_distinct_values_get_a_warning(tmp_path):
    rng = np.random.default_rng(1)
    p = tmp_path / "ids.npy"
    np.save(p, rng.integers(0, 400, size=(50, 4)).astype(float))  # ids, not labels
    res = invoke("fit", p, "--out", tmp_path / "out", "--max-iter", 5)
    assert "distinct label values" in res.stderr


def _labels(tmp: Path, sim: Path) -> Path:
    shutil.copy(sim / "L.npy", tmp / "L.npy")
    return tmp / "L.npy"


def _truth(tmp: Path, sim: Path) -> Path:
    shutil.copy(sim / "y.npy", tmp / "y.npy")
    return tmp / "y.npy"


def case_missing_file(tmp, sim):
    p = tmp / "missing.npy"
    return ["fit", p, "--out", tmp / "out"], [str(p)]


def case_wrong_extension(tmp, sim):
    p = tmp / "labels.txt"
    p.write_text("1,0\n0,1\n")
    return ["fit", p, "--out", tmp / "out"], [str(p), ".txt"]


def case_directory(tmp, sim):
    p = tmp / "L.npy"
    p.mkdir()
    return ["fit", p, "--out", tmp / "out"], [str(p)]


def case_pickled_npy(tmp, sim):
    p = tmp / "L.npy"
    write_object_npy(p, np.array([[1, None], [0, 1]], dtype=object))
    return ["fit", p, "--out", tmp / "out"], [str(p)]


def case_3d_npy(tmp, sim):
    p = tmp / "L.npy"
    np.save(p, np.zeros((2, 3, 4)))
    return ["fit", p, "--out", tmp / "out"], [str(p), "(2, 3, 4)"]


def case_all_nan_npy(tmp, sim):
    p = tmp / "L.npy"
    np.save(p, np.full((3, 3), np.nan))
    return ["fit", p, "--out", tmp / "out"], [str(p)]


def case_fractional_npy(tmp, sim):
    p = tmp / "L.npy"
    np.save(p, np.array([[0.0, 1.0], [0.5, 1.0]]))
    return ["compare", p, "--truth", _truth(tmp, sim)], [str(p), "0.5"]


def case_string_csv_cell(tmp, sim):
    p = tmp / "L.csv"
    p.write_text("a,b,c\n1,0,1\n0,oops,1\n")
    return ["fit", p, "--out", tmp / "out"], [str(p), "line 3", "column 2"]


def case_ragged_csv(tmp, sim):
    p = tmp / "L.csv"
    p.write_text("1,0,1\n0,1,1\n1,0,1,1\n")
    return ["fit", p, "--out", tmp / "out"], [str(p), "line 3"]


def case_empty_csv(tmp, sim):
    p = tmp / "L.csv"
    p.write_text("")
    return ["fit", p, "--out", tmp / "out"], [str(p)]


def case_non_utf8_csv(tmp, sim):
    p = tmp / "L.csv"
    p.write_bytes("w\xe9,b\n1,0\n".encode("latin-1"))
    return ["fit", p, "--out", tmp / "out"], [str(p)]


def case_truth_length_mismatch(tmp, sim):
    p = tmp / "y.npy"
    np.save(p, np.load(sim / "y.npy")[:-3])
    return ["compare", _labels(tmp, sim), "--truth", p, "--json"], [str(p)]


def case_truth_unknown_class(tmp, sim):
    p = tmp / "y.npy"
    y = np.load(sim / "y.npy")
    y[4] = 2
    np.save(p, y)
    return ["compare", _labels(tmp, sim), "--truth", p], [str(p), "'2'"]


def case_truth_missing(tmp, sim):
    p = tmp / "gold.csv"
    return ["compare", _labels(tmp, sim), "--truth", p], [str(p)]


def case_truth_all_nan(tmp, sim):
    p = tmp / "y.npy"
    np.save(p, np.full(np.load(sim / "y.npy").shape, np.nan))
    return ["compare", _labels(tmp, sim), "--truth", p], [str(p)]


def case_alpha_prior_one_number(tmp, sim):
    return ["fit", _labels(tmp, sim), "--out", tmp / "out", "--alpha-prior", "1"], ["--alpha-prior", "'1'"]


def case_alpha_prior_sd_zero(tmp, sim):
    return ["fit", _labels(tmp, sim), "--out", tmp / "out", "--alpha-prior", "1,0"], ["--alpha-prior"]


def case_beta_prior_text(tmp, sim):
    return ["fit", _labels(tmp, sim), "--out", tmp / "out", "--beta-prior", "a,b"], ["--beta-prior"]


def case_alpha_prior_inf_in_compare(tmp, sim):
    args = ["compare", _labels(tmp, sim), "--truth", _truth(tmp, sim), "--alpha-prior", "1,inf"]
    return args, ["--alpha-prior"]


def case_alpha_prior_sd_tiny(tmp, sim):
    return ["fit", _labels(tmp, sim), "--out", tmp / "out", "--alpha-prior", "1,1e-200"], ["--alpha-prior"]


def case_beta_prior_mean_overflows(tmp, sim):
    args = ["compare", _labels(tmp, sim), "--truth", _truth(tmp, sim), "--beta-prior", "800,1"]
    return args, ["--beta-prior", "800"]


def case_label_too_large(tmp, sim):
    p = tmp / "L.npy"
    np.save(p, np.array([[0.0, 1e20], [1.0, 0.0]]))
    return ["fit", p, "--out", tmp / "out"], [str(p), "too large"]


def case_out_is_a_file(tmp, sim):
    out = tmp / "results"
    out.write_text("precious\n")
    return ["fit", _labels(tmp, sim), "--out", out], [str(out)]


def case_out_parent_is_a_file(tmp, sim):
    parent = tmp / "results"
    parent.write_text("precious\n")
    return ["fit", _labels(tmp, sim), "--out", parent / "sub"], [str(parent / "sub")]


def case_simulate_out_is_a_file(tmp, sim):
    out = tmp / "sim"
    out.write_text("precious\n")
    return ["simulate", "--items", 10, "--workers", 3, "--out", out], [str(out)]


def case_out_would_overwrite_input(tmp, sim):
    out = tmp / "out"
    out.mkdir()
    p = out / "posteriors.csv"  # a labels file that fit would overwrite
    matrix_to_csv(np.load(sim / "L.npy"), p)
    return ["fit", p, "--out", out], ["posteriors.csv"]


def case_simulate_too_many_labels_per_item(tmp, sim):
    return ["simulate", "--items", 10, "--workers", 3, "-r", 5, "--out", tmp / "out"], []


# option errors raised by the option parser itself: exit 2 with a usage message
def case_max_iter_zero(tmp, sim):
    return ["fit", _labels(tmp, sim), "--out", tmp / "out", "--max-iter", "0"], [None]


def case_negative_tol(tmp, sim):
    return ["compare", _labels(tmp, sim), "--truth", _truth(tmp, sim), "--tol", "-1"], [None]


def case_compare_without_truth(tmp, sim):
    return ["compare", _labels(tmp, sim)], [None]


def case_max_iter_text(tmp, sim):
    return ["fit", _labels(tmp, sim), "--out", tmp / "out", "--max-iter", "many"], [None]


BAD_CASES: dict[str, Case] = {
    name[len("case_") :]: func for name, func in sorted(globals().items()) if name.startswith("case_")
}


def check_bad_input(exit_code: int, stdout: str, stderr: str, expected: list, before, tmp: Path) -> None:
    assert exit_code == 2, stderr
    assert "Traceback" not in stderr
    assert "internal error" not in stderr
    assert stdout == ""
    if expected == [None]:  # the option parser's own usage error: one line from `emcrowd`, a usage
        # block from CliRunner (which calls the app directly, without the console script's handler)
        assert (
            stderr.startswith("emcrowd: error:") and len(stderr.strip().splitlines()) == 1
        ) or "Usage" in stderr
    else:
        error_lines = [line for line in stderr.splitlines() if line.startswith("emcrowd: error:")]
        assert len(error_lines) == 1, stderr
        for text in expected:
            assert text in error_lines[0], stderr
    assert snapshot(tmp) == before  # inputs unchanged, no output directory, no temporaries
    assert not (tmp / "out").exists() or (tmp / "out").is_dir()


def test_bad_input_battery_has_enough_cases():
    assert len(BAD_CASES) >= 12


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input(case, simulated, tmp_path):
    args, expected = BAD_CASES[case](tmp_path, simulated)
    before = snapshot(tmp_path)
    res = invoke(*args)
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    check_bad_input(res.exit_code, res.stdout, res.stderr, expected, before, tmp_path)


@pytest.mark.parametrize(
    "case",
    ["missing_file", "pickled_npy", "ragged_csv", "truth_unknown_class", "out_is_a_file", "max_iter_zero"],
)
def test_bad_input_subprocess(case, simulated, tmp_path):
    args, expected = BAD_CASES[case](tmp_path, simulated)
    before = snapshot(tmp_path)
    res = run_cli(*args, cwd=tmp_path)
    check_bad_input(res.returncode, res.stdout, res.stderr, expected, before, tmp_path)


def test_compare_header_only_truth_csv_is_a_user_error(simulated, tmp_path):
    p = tmp_path / "y.csv"
    p.write_text("gold\n")
    before = snapshot(tmp_path)
    res = invoke("compare", simulated / "L.npy", "--truth", p)
    check_bad_input(res.exit_code, res.stdout, res.stderr, [str(p)], before, tmp_path)


# -- issue 4: gold, class priors, restarts, richer outputs ----------------------------------------------
MODEL_OPTIONS = [
    "--alpha-prior",
    "--beta-prior",
    "--class-prior",
    "--learn-class-prior",
    "--class-pseudocount",
    "--gold",
    "--n-init",
    "--seed",
    "--tol",
    "--max-iter",
]


@pytest.mark.parametrize("command", ["fit", "compare"])
def test_every_model_option_is_documented_in_help_and_docs(command):
    res = subprocess.run(
        [sys.executable, "-m", "emcrowd", command, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
    )
    methods_page = (ROOT / "docs" / "methods.md").read_text(encoding="utf-8")
    for option in MODEL_OPTIONS:
        assert option in res.stdout, f"{option} missing from `{command} --help`"
        assert f"`{option}" in methods_page, f"{option} missing from docs/methods.md"


def _gold_subset(simulated: Path, tmp_path: Path, every: int = 5) -> Path:
    y = np.load(simulated / "y.npy")
    gold = np.full_like(y, np.nan)
    gold[::every] = y[::every]
    np.save(tmp_path / "gold.npy", gold)
    return tmp_path / "gold.npy"


def test_compare_with_gold_scores_only_the_other_items(simulated, tmp_path):
    gold = _gold_subset(simulated, tmp_path)
    res = invoke("compare", simulated / "L.npy", "-t", simulated / "y.npy", "--gold", gold, "--json")
    assert res.exit_code == 0, res.stderr
    metrics = json.loads(res.stdout)
    n_items = len(np.load(simulated / "y.npy"))
    assert metrics["n_gold_given"] == len(range(0, n_items, 5))
    assert metrics["n_gold"] == n_items - metrics["n_gold_given"]
    assert metrics["methods"]["majority"]["total"] == metrics["n_gold"]
    assert "not scored" in res.stderr


def test_fit_with_gold_and_restarts_records_them(simulated, tmp_path):
    gold = _gold_subset(simulated, tmp_path)
    out = tmp_path / "out"
    res = invoke("fit", simulated / "L.npy", "--out", out, "--gold", gold, "--n-init", 3, "--seed", 4)
    assert res.exit_code == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_gold"] == int((~np.isnan(np.load(gold))).sum())
    assert len(summary["init_objectives"]) == 3
    assert summary["objective"][-1] == max(summary["init_objectives"])
    assert summary["options"]["n_init"] == 3 and summary["options"]["random_state"] == 4
    items = list(csv.DictReader((out / "items.csv").read_text().splitlines()))
    g = np.load(gold)
    for j, row in enumerate(items):
        if np.isnan(g[j]):
            assert row["gold"] == ""
        else:
            assert row["gold"] == row["label"] == str(int(g[j]))
            assert float(row["confidence"]) == 1.0 and float(row["entropy"]) == 0.0
        assert float(row["difficulty"]) == pytest.approx(1 / float(row["beta"]))
        assert 0.0 <= float(row["entropy"]) <= np.log(2) + 1e-12


def test_learned_and_given_class_priors(simulated, tmp_path):
    res = invoke("fit", simulated / "L.npy", "--out", tmp_path / "a", "--learn-class-prior")
    assert res.exit_code == 0, res.stderr
    learned = json.loads((tmp_path / "a" / "summary.json").read_text())["class_prior"]
    assert learned != [0.5, 0.5] and sum(learned) == pytest.approx(1.0)
    assert "learned class prior" in res.stderr
    res = invoke("fit", simulated / "L.npy", "--out", tmp_path / "b", "--class-prior", "0.8,0.2")
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["class_prior"] == pytest.approx(
        [0.8, 0.2]
    )
    bad = invoke("fit", simulated / "L.npy", "--out", tmp_path / "c", "--class-prior", "0.2,0.3,0.5")
    assert bad.exit_code == 2 and "--class-prior" in bad.stderr
    assert not (tmp_path / "c").exists()


# -- issue 5: baselines and the comparison report -------------------------------------------------------
METRIC_KEYS = {"accuracy", "accuracy_ci", "macro_f1", "brier", "log_loss", "n_iter", "fit_seconds"}


def untimed(obj):
    """The same JSON without wall-clock fields, which differ from run to run."""
    if isinstance(obj, dict):
        return {k: untimed(v) for k, v in obj.items() if k != "fit_seconds"}
    if isinstance(obj, list):
        return [untimed(v) for v in obj]
    return obj


def test_compare_reports_every_method_with_all_metrics_reproducibly(simulated, tmp_path):
    args = ["compare", simulated / "L.npy", "-t", simulated / "y.npy", "--json", "-q"]
    first = json.loads(invoke(*args, "--report", tmp_path / "r.json").stdout)
    assert set(first["methods"]) == {
        "majority",
        "glad",
        "dawid_skene",
        "one_coin",
        "mace",
        "bayesian_ds",
        "auto",
    }
    for name, entry in first["methods"].items():
        missing = METRIC_KEYS - set(entry) - ({"n_iter"} if name == "majority" else set())
        assert not missing, (name, missing)
        lo, hi = entry["accuracy_ci"]
        assert lo <= entry["accuracy"] <= hi
        assert 0 <= entry["macro_f1"] <= 1 and entry["brier"] >= 0 and entry["log_loss"] >= 0
        assert sum(map(sum, entry["confusion"])) == entry["total"]
    for diff in first["vs_majority"].values():
        gain = diff["accuracy_gain"]
        assert diff["gain_ci"][0] <= gain <= diff["gain_ci"][1]
        assert diff["significant"] == (diff["gain_ci"][0] > 0 or diff["gain_ci"][1] < 0)
    assert json.loads((tmp_path / "r.json").read_text()) == first
    assert untimed(json.loads(invoke(*args).stdout)) == untimed(first)  # seeded: the same intervals


def test_compare_methods_subset_confusion_and_disagreements(simulated):
    res = invoke(
        "compare", simulated / "L.npy", "-t", simulated / "y.npy", "--methods", "ds,one-coin",
        "--confusion", "--disagreements", 3, "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    metrics = json.loads(res.stdout)
    assert set(metrics["methods"]) == {"majority", "dawid_skene", "one_coin"}
    assert "truth \\ answer" in res.stderr
    rows = metrics["disagreements"]
    assert 0 < len(rows) <= 3
    y = np.load(simulated / "y.npy")
    for row in rows:
        truth = str(int(y[int(row["item"])]))
        assert row["truth"] == truth and row["dawid_skene"] != row["majority"]
        expected = (
            "dawid_skene"
            if row["dawid_skene"] == truth
            else "majority"
            if row["majority"] == truth
            else "neither"
        )
        assert row["right"] == expected
    assert "disagree" in res.stderr


def test_random_ties_are_seeded(tmp_path):
    L = np.array([[0, 1], [1, 0], [0, 1], [1, 0], [0, 1], [1, 0], [0, 1], [1, 0]], dtype=float)
    np.save(tmp_path / "L.npy", L)
    np.save(tmp_path / "y.npy", np.ones(len(L)))

    def majority(*extra):
        res = invoke(
            "compare", tmp_path / "L.npy", "-t", tmp_path / "y.npy", "--methods", "majority", "--json", *extra
        )
        return json.loads(res.stdout)["methods"]["majority"]

    assert majority()["correct"] == 0  # every item is a tie, broken towards class 0
    assert untimed(majority("--ties", "random")) == untimed(majority("--ties", "random"))
    runs = {majority("--ties", "random", "--seed", s)["correct"] for s in range(6)}
    assert len(runs) > 1  # different seeds break the ties differently


def test_fit_with_each_method_writes_its_own_annotator_columns(simulated, tmp_path):
    for method, column in [
        ("dawid-skene", "spammer_score"),
        ("one-coin", "accuracy"),
        ("majority", "agreement"),
    ]:
        out = tmp_path / method
        res = invoke("fit", simulated / "L.npy", "--out", out, "--method", method)
        assert res.exit_code == 0, res.stderr
        workers = list(csv.DictReader((out / "workers.csv").read_text().splitlines()))
        assert column in workers[0]
        assert json.loads((out / "summary.json").read_text())["method"] == method.replace("-", "_")
    bad = invoke("fit", simulated / "L.npy", "--out", tmp_path / "x", "--method", "magic")
    assert bad.exit_code == 2 and "is not one of" in bad.stderr and not (tmp_path / "x").exists()
    alias = invoke("fit", simulated / "L.npy", "--out", tmp_path / "ds", "--method", "ds", "-q")
    assert alias.exit_code == 0, alias.stderr
    assert json.loads((tmp_path / "ds" / "summary.json").read_text())["method"] == "dawid_skene"


def test_truth_files_follow_the_labels_column_options(tmp_path):
    (tmp_path / "e.csv").write_text("id,rater,answer\na,u1,x\na,u2,x\nb,u1,y\nb,u2,y\nc,u1,x\nc,u2,y\n")
    (tmp_path / "t.csv").write_text("id,answer\na,x\nb,y\n")
    res = invoke("compare", tmp_path / "e.csv", "--item-col", "id", "-t", tmp_path / "t.csv", "--json", "-q")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["n_gold"] == 2


def test_gold_for_unknown_items_is_noted(tmp_path):
    (tmp_path / "e.csv").write_text("item,worker,label\na,u1,x\na,u2,x\nb,u1,y\nb,u2,y\n")
    (tmp_path / "g.csv").write_text("item,label\na,x\nnowhere,y\n")
    res = invoke("fit", tmp_path / "e.csv", "--gold", tmp_path / "g.csv", "--out", tmp_path / "out")
    assert res.exit_code == 0, res.stderr
    assert "1 --gold items are not among the labelled items" in res.stderr


def test_only_the_labels_can_come_from_stdin(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "emcrowd", "compare", "-", "--truth", "-"],
        input="item,worker,label\na,u,x\nb,u,y\n",
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert "only LABELS can be read from standard input" in res.stderr


@needs_datasets
def test_a_collapsing_learned_class_prior_is_flagged():
    res = invoke(
        "compare", DATASETS / "bluebirds" / "labels.csv", "-t", DATASETS / "bluebirds" / "truth.csv",
        "--methods", "glad", "--learn-class-prior", "--n-init", 4, "--json", "-q",
    )  # fmt: skip
    metrics = json.loads(res.stdout)
    prior_warnings = [w for w in metrics["methods"]["glad"].get("warnings", []) if "class prior" in w]
    # With a learned prior GLAD gives class 1 (30% of the votes) 0.09 here and loses ~0.13 accuracy.
    assert metrics["methods"]["glad"]["accuracy"] < 0.8
    assert prior_warnings, metrics["methods"]["glad"]
    fixed = invoke(
        "compare", DATASETS / "bluebirds" / "labels.csv", "-t", DATASETS / "bluebirds" / "truth.csv",
        "--methods", "glad", "--json", "-q",
    )  # fmt: skip
    assert not any(
        "class prior" in w for w in json.loads(fixed.stdout)["methods"]["glad"].get("warnings", [])
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["fit", "L.npy", "--max-iter", "0"], "--max-iter"),
        (["compare", "L.npy"], "--truth"),
        (["fit", "L.npy", "--duplicates", "sometimes"], "--duplicates"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_usage_errors_are_one_line_too(tmp_path, args, needle):
    res = subprocess.run(
        [sys.executable, "-m", "emcrowd", *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emcrowd: error:") and needle in lines[0], res.stderr
    assert res.stdout == "" and not any(tmp_path.iterdir())


# -- issue 14: ranges, quiet, small truths ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--seed", "-1"),
        ("--seed", str(2**32)),
        ("--n-init", "1001"),
        ("--n-init", "0"),
        ("--max-iter", "1000001"),
        ("--tol", "0"),
        ("--tol", "nan"),
        ("--smoothing", "inf"),
        ("--class-pseudocount", "-0.5"),
    ],
)
def test_option_ranges_are_usage_errors(tmp_path, option, value):
    res = subprocess.run(
        [sys.executable, "-m", "emcrowd", "fit", str(SAMPLE / "L.npy"), "--out", "out", option, value],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0], res.stderr
    assert not any(tmp_path.iterdir())


def test_learn_and_fixed_class_prior_together_are_refused(simulated, tmp_path):
    res = invoke(
        "fit", simulated / "L.npy", "--out", tmp_path / "o", "--learn-class-prior", "--fixed-class-prior"
    )
    assert res.exit_code == 2 and "contradict" in res.stderr and not (tmp_path / "o").exists()
    res = invoke("fit", simulated / "L.npy", "--out", tmp_path / "o", "-m", "ds", "--fixed-class-prior")
    assert res.exit_code == 0
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["options"]["learn_class_prior"] is False


def test_quiet_keeps_the_result_and_drops_the_rest(simulated):
    args = ["compare", simulated / "L.npy", "-t", simulated / "y.npy", "--methods", "glad"]
    table = invoke(*args, "-q")
    assert table.exit_code == 0 and "Accuracy on" in table.stderr  # the table is compare's result
    assert "Read " not in table.stderr and "Best EM method" not in table.stderr
    assert invoke(*args, "-q", "--json").stderr == ""  # the result went to stdout
    info = invoke("info", simulated / "L.npy", "-q", "--json")
    assert info.exit_code == 0 and info.stderr == "" and json.loads(info.stdout)["n_items"] == 80
    assert "annotators" in invoke("info", simulated / "L.npy", "-q").stderr


def test_fit_report_ties_histogram_and_phases(tmp_path):
    L = np.array([[0, 1], [1, 0], [0, 0], [1, 1]], dtype=float)  # two tied items of four
    np.save(tmp_path / "L.npy", L)
    res = invoke("fit", tmp_path / "L.npy", "--out", tmp_path / "out", "-m", "one-coin")
    assert res.exit_code == 0, res.stderr
    assert "(2 majority ties, broken towards the lowest class)" in res.stderr
    assert "Annotators' estimated accuracy: 0 |" in res.stderr
    assert re.search(r"Wrote .* \(read [\d.]+s, fit [\d.]+s, write [\d.]+s\)", res.stderr)
    res = invoke("fit", SAMPLE / "L.npy", "--out", tmp_path / "o2")
    assert "majority tie" not in res.stderr  # no ties, no tie sentence


def test_every_best_method_is_highlighted():
    from emcrowd import console as report

    methods = {
        "majority": {"accuracy": 0.8},
        "one_coin": {"accuracy": 0.9},
        "auto": {"accuracy": 0.9, "chosen": "one_coin"},
    }
    assert report.best_methods({"methods": methods}) == ["one_coin", "auto"]


@pytest.mark.parametrize(
    "extra",
    [
        ["--class-prior", "0.2,0.3,0.5"],
        ["--gold", "HEADER_ONLY"],
        ["--out", "A_FILE"],
    ],
)
def test_inputs_are_checked_before_any_work_so_the_error_is_the_only_line(simulated, tmp_path, extra):
    (tmp_path / "g.csv").write_text("gold\n")
    (tmp_path / "f").write_text("precious\n")
    extra = [{"HEADER_ONLY": tmp_path / "g.csv", "A_FILE": tmp_path / "f"}.get(a, a) for a in extra]
    args = ["fit", simulated / "L.npy", *(extra if "--out" in extra else ["--out", tmp_path / "o", *extra])]
    res = invoke(*args)
    assert res.exit_code == 2
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert res.stderr.startswith("emcrowd: error:")
    if "--out" not in extra:
        res = invoke("compare", simulated / "L.npy", "-t", simulated / "y.npy", *extra)
        assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
