"""The command line of issue 15: fit's new outputs and --drop-flagged, relabel, report, agreement in
info and compare."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from emcrowd.data import Labels
from emcrowd.models.simulate import simulate_dawid_skene
from tests.test_cli import invoke, run_cli, snapshot
from tests.test_quality import N_CONSTANT, N_RANDOM, with_spammers


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def crowd(tmp_path_factory) -> Path:
    """labels.csv (item, worker, label) of a Dawid-Skene crowd with 10 spammers, and truth.csv."""
    directory = tmp_path_factory.mktemp("crowd")
    data, truth, _ = simulate_dawid_skene(600, 15, labels_per_item=5, n_classes=3, diagonal=0.75, seed=21)
    data: Labels = with_spammers(data, 22)
    with open(directory / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["item", "worker", "label"])
        for i, u, c in zip(data.item, data.worker, data.label, strict=True):
            w.writerow([f"i{i}", f"w{data.worker_names[u]}", f"c{c}"])
    with open(directory / "truth.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["item", "label"])
        for i, c in enumerate(truth):
            w.writerow([f"i{i}", f"c{c}"])
    return directory


SPAMMERS = {f"w{15 + s}" for s in range(N_RANDOM + N_CONSTANT)}


def test_fit_writes_the_quality_columns_and_confusion(crowd, tmp_path):
    out = tmp_path / "fit"
    res = invoke(
        "fit",
        crowd / "labels.csv",
        "--method",
        "dawid-skene",
        "--gold",
        crowd / "truth.csv",
        "--out",
        out,
        "-q",
    )
    assert res.exit_code == 0, res.stderr
    items = rows(out / "items.csv")
    assert {"votes", "vote_margin", "agreement"} <= set(items[0])
    workers = rows(out / "workers.csv")
    assert {
        "accuracy",
        "accuracy_low",
        "accuracy_high",
        "gold_accuracy",
        "n_gold",
        "spammer_score",
        "flags",
    } <= set(workers[0])
    flagged = {w["worker"] for w in workers if {"spammer", "constant"} & set(w["flags"].split(";"))}
    assert flagged >= SPAMMERS
    confusion = rows(out / "confusion.csv")
    assert len(confusion) == len(workers) * 9 and set(confusion[0]) == {
        "worker",
        "true",
        "said",
        "probability",
    }


def test_fit_drop_flagged(crowd, tmp_path):
    out = tmp_path / "fit"
    res = invoke("fit", crowd / "labels.csv", "--method", "dawid-skene", "--drop-flagged", "--out", out)
    assert res.exit_code == 0, res.stderr
    workers = {w["worker"] for w in rows(out / "workers.csv")}
    assert not (SPAMMERS & workers) and len(workers) >= 15 - 2
    n = 25 - len(workers)
    assert f"dropped {n} flagged annotator" in res.stderr.lower()
    assert len(rows(out / "items.csv")) == 600


def test_relabel_writes_the_budget_and_lists_annotators(crowd, tmp_path):
    out = tmp_path / "r.csv"
    res = invoke("relabel", crowd / "labels.csv", "--budget", 30, "--out", out)
    assert res.exit_code == 0, res.stderr
    table = rows(out)
    assert len(table) == 30 and list(table[0]) == [
        "item",
        "label",
        "confidence",
        "votes",
        "n_labels",
        "expected_gain",
    ]
    gains = [float(r["expected_gain"]) for r in table]
    assert gains == sorted(gains, reverse=True) and gains[0] > 0
    assert "worth reviewing" in res.stderr and any(s in res.stderr for s in SPAMMERS)
    assert res.stdout == ""
    piped = invoke("relabel", crowd / "labels.csv", "--budget", 5, "--out", "-", "-q")
    assert piped.exit_code == 0 and piped.stdout.splitlines()[0].startswith("item,label,confidence")
    assert len(piped.stdout.splitlines()) == 6 and piped.stderr == ""


@pytest.mark.parametrize("budget", ["0", "-1", "x"])
def test_relabel_bad_budget_is_one_line_and_writes_nothing(crowd, tmp_path, budget):
    before = snapshot(tmp_path)
    res = run_cli(
        "relabel", crowd / "labels.csv", "--budget", budget, "--out", tmp_path / "r.csv", cwd=tmp_path
    )
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert snapshot(tmp_path) == before


def test_relabel_bad_labels_is_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("item,worker\na,b\n")
    res = run_cli("relabel", bad, "--budget", "3", cwd=tmp_path)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "relabel.csv").exists()


def test_info_and_compare_show_agreement(crowd, tmp_path):
    from emcrowd.analysis.agreement import agreement_summary
    from emcrowd.io import load_labels

    expected = agreement_summary(load_labels(crowd / "labels.csv").labels)
    res = invoke("info", crowd / "labels.csv", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["agreement"] == pytest.approx(expected)
    assert "Krippendorff's alpha" in invoke("info", crowd / "labels.csv").stderr
    res = invoke(
        "compare", crowd / "labels.csv", "--truth", crowd / "truth.csv", "--methods", "glad", "--json"
    )
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["agreement"]["krippendorff_alpha"] == pytest.approx(expected["krippendorff_alpha"])
    assert "Krippendorff's alpha" in res.stderr


def test_report_command(crowd, tmp_path):
    out = tmp_path / "fit"
    assert invoke("fit", crowd / "labels.csv", "--out", out, "-q").exit_code == 0
    cmp = tmp_path / "cmp.json"
    res = invoke(
        "compare",
        crowd / "labels.csv",
        "--truth",
        crowd / "truth.csv",
        "--methods",
        "glad,dawid-skene",
        "--report",
        cmp,
        "-q",
    )
    assert res.exit_code == 0, res.stderr
    res = invoke("report", out, "--compare", cmp)
    assert res.exit_code == 0, res.stderr
    page = (out / "report.html").read_text()  # the figures are drawn in the page from its data
    for section in ("overview", "classes", "items", "annotators", "comparison", "emcrowd-data"):
        assert f'id="{section}"' in page
    res = invoke("report", out, "--out", tmp_path / "elsewhere.html")
    assert res.exit_code == 0 and (tmp_path / "elsewhere.html").exists()
    for args in ([tmp_path / "nowhere"], [tmp_path], [out, "--compare", tmp_path / "missing.json"]):
        before = snapshot(tmp_path)
        res = run_cli("report", *args, cwd=tmp_path)
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert snapshot(tmp_path) == before


def test_report_needs_no_matplotlib(crowd, tmp_path):
    out = tmp_path / "fit"
    assert invoke("fit", crowd / "labels.csv", "--out", out, "-q").exit_code == 0
    shadow = tmp_path / "shadow"
    (shadow / "matplotlib").mkdir(parents=True)
    (shadow / "matplotlib" / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": f"{shadow}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    res = subprocess.run(
        [sys.executable, "-m", "emcrowd", "report", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert (out / "report.html").exists()


def test_report_reads_parquet_outputs(crowd, tmp_path):
    out = tmp_path / "fit"
    res = invoke("fit", crowd / "labels.csv", "--out", out, "--out-format", "parquet", "-q")
    assert res.exit_code == 0, res.stderr
    assert (out / "confusion.parquet").exists()
    res = invoke("report", out)
    assert res.exit_code == 0, res.stderr
    assert 'id="emcrowd-data"' in (out / "report.html").read_text()
