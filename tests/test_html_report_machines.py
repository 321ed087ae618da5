"""The report of a fit with machine annotators (``fit --predictions``, ``--machine``): the Machines
section, machines marked among the annotators, the machines' answers in an item's detail, and
``compare --predictions`` in the comparison. Fits are real ones, on ``sample_data/machines`` (and a
random machine and an LLM in the labels file made from it); the page's data is checked against the
files the fit wrote, and a headless Chromium draws the machine figures."""

from __future__ import annotations

import csv
import io as stdio
import json
from pathlib import Path

import numpy as np
import pytest

from emcrowd.errors import InputError
from emcrowd.html_report import build_report, write_report
from tests.helpers import headless_page
from tests.test_html_report import column, page_data, read_rows

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "machines"


def invoke(*args: object):
    from typer.testing import CliRunner

    from emcrowd.cli import app

    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.stderr
    return res


@pytest.fixture(scope="module")
def machine_fit(tmp_path_factory):
    """A crowd + model fit of the sample data and its ``compare --predictions --json`` report."""
    root = tmp_path_factory.mktemp("machines")
    invoke("fit", SAMPLE / "labels.csv", "--predictions", SAMPLE / "model.csv", "-o", root / "fit", "-q")
    res = invoke(
        "compare", SAMPLE / "labels.csv", "--truth", SAMPLE / "truth.csv",
        "--predictions", SAMPLE / "model.csv", "--json", "-q",
    )  # fmt: skip
    (root / "metrics.json").write_text(res.stdout)
    return root / "fit", root / "metrics.json"


def _bins(confidence: np.ndarray, inner: list[float]) -> np.ndarray:
    # edges[b] < c <= edges[b + 1], counted the plain way
    return np.array([sum(e < c for e in inner) for c in confidence])


def test_the_machines_block_is_what_the_fit_wrote(machine_fit):
    out, metrics = machine_fit
    text = build_report(out, metrics)
    data = page_data(text)
    assert '<section id="machines"><h2>Machines</h2>' in text
    summary = json.loads((out / "summary.json").read_text())
    items = read_rows(out / "items.csv")
    workers = read_rows(out / "workers.csv")
    block = data["machines"]
    (m,) = block["machines"]
    (written,) = summary["machines"]
    machine_row = next(w for w in workers if w["kind"] == "machine")
    assert m["name"] == machine_row["worker"] == "model"
    assert m["estimated_accuracy"] == pytest.approx(float(machine_row["accuracy"]))
    assert m["used"] is (machine_row["used"] == "yes") is True and m["reason"].startswith("used:")
    assert m["shared_items"] == int(machine_row["shared_items"]) == 800 and m["items"] == 1000
    assert (
        m["machine_only_items"]
        == sum(r["n_labels"] == "0" and r["machine_model"] != "" for r in items)
        == 200
    )
    # the crowd's accuracy: the people's, weighted by their labels
    people = [w for w in workers if w["kind"] == "human"]
    weights = [int(w["n_labels"]) for w in people]
    want = np.average([float(w["accuracy"]) for w in people], weights=weights)
    assert block["crowd_accuracy"] == pytest.approx(want) and block["n_people"] == len(people)
    agree = [r["machine_model"] == r["label"] for r in items if r["machine_model"]]
    assert m["agrees_with_label"] == pytest.approx(np.mean(agree))
    # calibration: the fitted accuracy and the counts of summary.json; the stated confidence counted
    # again from items.csv over the items shared with people, binned as the fit bins it
    cal = m["calibration"]
    assert cal["accuracy"] == pytest.approx(written["accuracy"]) and len(cal["accuracy"]) == 10
    assert cal["count"] == written["bin_items"] == cal["count_from_items"]
    shared = np.array([r["n_labels"] != "0" for r in items])
    conf = np.array([float(r["machine_model_confidence"]) for r in items])
    b = _bins(conf, written["confidence_edges"])
    for j in range(10):
        assert cal["mean_stated"][j] == pytest.approx(conf[shared & (b == j)].mean())
        assert cal["stated_low"][j] == pytest.approx(conf[b == j].min())
    assert cal["mean_stated"] == sorted(cal["mean_stated"])  # bins in confidence order
    assert cal["mean_stated"][-1] > 0.99 and cal["accuracy"][-1] < 0.95  # overconfident, as simulated
    # the annotators and items tables: every column, the machine among the annotators
    assert column(data["workers"], "kind")[m["worker_row"]] == "machine"
    assert column(data["items"], "machine_model") == [r["machine_model"] for r in items]
    # who said what: the labels file summary.json names, read again
    assert data["labels"] is not None and data["labels_note"] is None
    assert sum(np.diff(data["labels"]["offsets"])) == summary["n_labels"]


def test_the_comparison_has_crowd_machine_and_both(machine_fit):
    out, metrics = machine_fit
    report = json.loads(metrics.read_text())
    compare = page_data(build_report(out, metrics))["compare"]
    assert list(compare["methods"]) == ["crowd (Dawid-Skene)", "machine model", "crowd + machine"]
    for name, entry in report["methods"].items():
        shown = compare["methods"][name]
        assert shown["accuracy"] == entry["accuracy"] and shown["log_loss"] == entry["log_loss"]
        assert shown["accuracy_ci"] == entry["accuracy_ci95"] and shown["coverage"] == entry["coverage"]
    assert compare["n_gold"] == 1000


@pytest.fixture(scope="module")
def llm_fit(tmp_path_factory):
    """An LLM answering in the labels file (``--machine gpt``): hard answers, no confidence."""
    root = tmp_path_factory.mktemp("llm")
    with open(SAMPLE / "labels.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    with_llm = root / "with_llm.csv"
    first: dict[str, str] = {}
    for item, _, label in rows[1:]:
        first.setdefault(item, label)
    with open(with_llm, "w", newline="") as fh:
        csv.writer(fh).writerows([*rows, *([i, "gpt", a] for i, a in first.items())])
    invoke("fit", with_llm, "--machine", "gpt", "-o", root / "llm", "-q")
    return root / "llm"


def test_a_machine_without_confidence_and_a_useless_machine(llm_fit, tmp_path):
    # an LLM answering in the labels file (--machine): hard answers, one bin, no stated confidence
    data = page_data(build_report(llm_fit))
    (m,) = data["machines"]["machines"]
    assert m["name"] == "gpt" and not m["has_confidence"]
    assert m["calibration"]["mean_stated"] == [None] and m["calibration"]["count_from_items"] is None
    assert m["calibration"]["count"] == [m["shared_items"]]
    assert column(data["workers"], "worker")[m["worker_row"]] == "gpt"
    # a machine of random probabilities: set aside, and the page says why
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=1000)
    names = [r["item"] for r in read_rows(SAMPLE / "model.csv")]
    with open(tmp_path / "noise.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item", "c0", "c1", "c2"])
        for name, row in zip(names, p, strict=True):
            r = np.round(row, 6)
            writer.writerow([name, r[0], r[1], round(1 - r[0] - r[1], 6)])
    invoke(
        "fit", SAMPLE / "labels.csv", "--predictions", tmp_path / "noise.csv", "-o", tmp_path / "noise", "-q"
    )
    (m,) = page_data(build_report(tmp_path / "noise"))["machines"]["machines"]
    assert m["used"] is False and m["reason"].startswith("set aside:") and m["evidence"] <= 0
    # gold items are shared with people too (the EM loop runs on them): 100 of the 200 the crowd skipped
    truth = (SAMPLE / "truth.csv").read_text().splitlines()
    (tmp_path / "gold.csv").write_text("\n".join([*truth[:301], *truth[-100:]]) + "\n")
    invoke(
        "fit", SAMPLE / "labels.csv", "--predictions", SAMPLE / "model.csv", "--gold", tmp_path / "gold.csv",
        "-o", tmp_path / "gold", "-q",
    )  # fmt: skip
    (m,) = page_data(build_report(tmp_path / "gold"))["machines"]["machines"]
    assert m["shared_items"] == 900 and m["machine_only_items"] == 100
    assert m["calibration"]["count_from_items"] == m["calibration"]["count"]
    # a fit without machines has no Machines section
    invoke("fit", SAMPLE / "labels.csv", "-o", tmp_path / "people", "-q")
    text = build_report(tmp_path / "people")
    assert page_data(text)["machines"] is None and 'id="machines"' not in text


def test_a_headless_browser_draws_the_machine_figures(machine_fit, llm_fit, tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="pillow (dev extra) reads the screenshots")
    out, metrics = machine_fit
    page_path = write_report(out, tmp_path / "report.html", metrics)
    items = read_rows(out / "items.csv")
    boxes_js = """sel => [...document.querySelectorAll(sel)].map(e => { const r = e.getBoundingClientRect();
        return [r.left + scrollX, r.top + scrollY, r.width, r.height]; })"""
    with headless_page() as (page, errors):
        page.goto(page_path.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=10_000)
        assert not errors
        assert page.title() == "emcrowd report: Crowd + machine"
        report = json.loads(metrics.read_text())
        both = report["methods"]["crowd + machine"]["accuracy"]
        assert page.text_content("#gold-accuracy") == f"{both:.3f}"  # the fit's row of the comparison

        def not_blank(selector: str) -> int:
            pixels = np.asarray(
                Image.open(stdio.BytesIO(page.screenshot(full_page=True))).convert("L"), float
            )
            boxes = page.evaluate(boxes_js, selector)
            for x, y, w, h in boxes:
                assert w > 200 and h > 150, (selector, w, h)
                region = pixels[int(y) : int(y + h), int(x) : int(x + w)]
                assert np.mean(np.abs(region - np.median(region)) > 30) > 0.01, selector
            return len(boxes)

        # the Machines section: the table, the comparison rows, one calibration figure per machine
        assert page.locator("#machines table.machines-table tbody tr").count() == 1
        assert "used" in page.text_content("#machines table.machines-table tbody tr")
        assert page.locator("#machines table.machines-compare tbody tr").count() == 3
        assert not_blank("#fig-machine-calibration svg.plot") == 1
        assert page.locator("#fig-machine-calibration circle.bin").count() == 10
        assert page.locator("#fig-machine-calibration line.diagonal").count() == 1
        assert page.locator("#fig-machine-calibration table.machine-bins tbody tr").count() == 10
        # the comparison: the crowd alone, the machine alone, both, with their coverage
        cells = page.eval_on_selector_all(
            "#comparison table.metrics tbody tr", "rs => rs.map(r => r.cells[0].textContent)"
        )
        assert cells == ["crowd (Dawid-Skene)", "machine model", "crowd + machine"]
        # the machine marked among the annotators (a square in the figure, its row), and its detail
        assert page.locator("#fig-accuracy-vs-labels rect.machine-point").count() == 1
        page.select_option("#annotators-kind", "machine")
        assert page.locator("#annotators-table tbody tr").count() == 1
        page.select_option("#annotators-kind", "human")
        assert page.locator("#annotators-table tbody tr.machine").count() == 0
        assert page.text_content("#annotators-table-count").endswith("of 30 (filtered from 31)")
        page.select_option("#annotators-kind", "")
        row = page.locator("#annotators-table tbody tr.machine")
        page.fill("#annotators-search", "model")
        assert row.count() == 1 and "machine" in row.text_content()
        row.click()
        assert page.text_content("#annotator-detail-title") == "Annotator model"
        assert not_blank("#fig-machine-detail svg.plot") == 1
        # an item only the machine saw: no one said anything, the machine's answer and confidence
        only = next(r for r in items if r["n_labels"] == "0")
        page.fill("#items-search", only["item"])
        page.click("#items-table tbody tr")
        answers = page.eval_on_selector_all(
            "#item-detail table.machine-answers tbody tr",
            "rs => rs.map(r => [...r.cells].map(c => c.textContent))",
        )
        assert len(answers) == 1 and answers[0][:2] == ["model", only["machine_model"]]
        assert float(answers[0][2]) == pytest.approx(float(only["machine_model_confidence"]), abs=1e-4)
        assert answers[0][4] == ("yes" if only["machine_model"] == only["label"] else "no")
        page.set_viewport_size({"width": 800, "height": 900})  # the narrow window: nothing wider
        assert page.evaluate("document.documentElement.scrollWidth") <= 800
        assert not_blank("#fig-machine-calibration svg.plot") == 1
        # an LLM without confidence: one bin across the figure, drawn; its answers without confidence
        page.goto(write_report(llm_fit, tmp_path / "llm.html").as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=10_000)
        assert not errors
        assert not_blank("#fig-machine-calibration svg.plot") == 1
        assert page.locator("#fig-machine-calibration line.bin").count() == 1
        first = read_rows(llm_fit / "items.csv")[0]
        page.fill("#items-search", first["item"])
        page.click("#items-table tbody tr")
        answers = page.eval_on_selector_all(
            "#item-detail table.machine-answers tbody tr",
            "rs => rs.map(r => [...r.cells].map(c => c.textContent))",
        )
        assert answers[0][:3] == ["gpt", first["machine_gpt"], "—"]


@pytest.mark.parametrize(
    "machines, problem",
    [
        ("not a list", "must be a list"),
        ([{"accuracy": [0.5]}], "the machine's name"),
        ([{"name": "model", "accuracy": [0.5, 0.7], "bin_items": [3]}], "one per confidence bin"),
        ([{"name": "model", "accuracy": [0.5], "bin_items": [3], "confidence_edges": 0.4}], "edges"),
    ],
)
def test_a_hand_edited_machines_list_is_one_line(machine_fit, tmp_path, machines, problem):
    import shutil

    out = tmp_path / "edited"
    shutil.copytree(machine_fit[0], out)
    summary = json.loads((out / "summary.json").read_text())
    (out / "summary.json").write_text(json.dumps({**summary, "machines": machines}))
    with pytest.raises(InputError, match=problem) as caught:
        build_report(out)
    assert "summary.json" in str(caught.value)
