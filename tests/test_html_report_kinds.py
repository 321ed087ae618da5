"""The HTML report of the kinds of task beyond plain classes: multi-select answers end to end (a real
`fit --multi-label` and `compare --json` on the sample tags), ordered grades and numeric answers from
fit directories written here in the shape their fits write, and a headless browser drawing each kind's
figures (non-blank)."""

from __future__ import annotations

import csv
import io as stdio
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emcrowd import io
from emcrowd.analysis.aggregate import aggregate
from emcrowd.analysis.multilabel import class_agreement
from emcrowd.cli import app
from emcrowd.errors import InputError
from emcrowd.html_report import build_report, write_report
from emcrowd.io.multilabel import load_multilabels
from emcrowd.models.simulate import simulate_dawid_skene
from emcrowd.tables import confusion_table, fit_record, item_table, worker_table
from tests.helpers import headless_page
from tests.test_html_report import column, page_data, read_rows

ROOT = Path(__file__).resolve().parents[1]
TAGS = ROOT / "sample_data" / "tags.csv"
TAGS_TRUTH = ROOT / "sample_data" / "tags_truth.csv"
runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


# --- multi-select answers: a real fit ------------------------------------------------------------


@pytest.fixture(scope="module")
def multi_fit(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("multi")
    out = base / "fit"
    sep = ["--label-sep", "newline", "--none-label", "none"]
    run("fit", str(TAGS), *sep, "--out", str(out), "-q")
    compare_path = base / "compare.json"
    compare_path.write_text(run("compare", str(TAGS), *sep, "--truth", str(TAGS_TRUTH), "--json", "-q"))
    return out, compare_path


def test_a_multi_select_fit_shows_classes_sets_rates_and_who_ticked_what(multi_fit):
    out, compare_path = multi_fit
    text = build_report(out, compare_path)
    data = page_data(text)
    summary = json.loads((out / "summary.json").read_text())
    assert data["kind"] == "multilabel" and '<section id="kind-multilabel">' in text
    classes = list(summary["classes"])
    assert data["meta"]["classes"] == classes and data["headline"]["n_labels"] == summary["n_answers"]
    block = data["multilabel"]
    # per class: the prevalence the model learned, the items in the set, the answers ticking it
    for entry, name in zip(block["classes"], classes, strict=True):
        assert entry["class"] == name
        assert entry["prevalence"] == pytest.approx(summary["prevalence"][name])
        assert entry["n_items"] == summary["items_per_class"][name]
        assert entry["ticked"] == pytest.approx(summary["classes"][name] / summary["n_answers"])
    # agreement per class: the answers read again as the fit read them
    answers = load_multilabels(TAGS, label_sep="newline", none_label="none").labels
    agreement = class_agreement(answers)
    for entry in block["classes"]:
        assert entry["agreement"] == pytest.approx(agreement[entry["class"]]["agreement"], abs=1e-4)
        assert entry["alpha"] == pytest.approx(agreement[entry["class"]]["alpha"], abs=1e-4)
    # each class's sensitivity and specificity over the annotators: quartiles of workers.csv's columns
    workers = read_rows(out / "workers.csv")
    for entry in block["classes"]:
        for rate in ("sensitivity", "specificity"):
            values = [float(w[f"{rate}[{entry['class']}]"]) for w in workers]
            assert entry[rate] == pytest.approx(np.percentile(values, [25, 50, 75]), abs=1e-4)
            assert column(data["workers"], f"{rate}[{entry['class']}]") == pytest.approx(values, abs=1e-4)
    # the items table: each item's set and its posterior for every class (posteriors.csv joined)
    items = read_rows(out / "items.csv")
    posteriors = {r["item"]: r for r in read_rows(out / "posteriors.csv")}
    assert column(data["items"], "item") == [r["item"] for r in items]
    assert column(data["items"], "classes") == [r["classes"] for r in items]
    for name in classes:
        want = [float(posteriors[r["item"]][name]) for r in items]
        assert column(data["items"], f"p[{name}]") == pytest.approx(want, abs=1e-4)
    # who ticked what: every answer of the file, on its item, by its annotator, with its classes
    got = block["answers"]
    names = column(data["items"], "item")
    wnames = column(data["workers"], "worker")
    said: dict[str, list] = {}
    for o in range(answers.n_answers):
        ticked = tuple(sorted(answers.class_names[c] for c in np.flatnonzero(answers.ticks[o])))
        said.setdefault(answers.item_names[answers.item[o]], []).append(
            (answers.worker_names[answers.worker[o]], ticked)
        )
    for i, name in enumerate(names):
        run_ = range(got["offsets"][i], got["offsets"][i + 1])
        mine = sorted(
            (wnames[got["worker"][o]], tuple(sorted(classes[c] for c in got["sets"][o]))) for o in run_
        )
        assert mine == sorted(said[name])
    # the comparison: the multi-select metrics of every method, and the F1 of each class
    report = json.loads(compare_path.read_text())
    assert data["compare"]["kind"] == "multilabel"
    for name, entry in report["methods"].items():
        mine = data["compare"]["methods"][name]
        for key in ("micro_f1", "macro_f1", "exact_set_accuracy", "hamming_loss"):
            assert mine[key] == entry[key]
        assert mine["f1_per_class"] == entry["f1_per_class"]


def test_beyond_the_limit_the_least_certain_sets_and_their_answers(multi_fit):
    out, _ = multi_fit
    data = page_data(build_report(out, max_items=50, n_least=20))
    items = read_rows(out / "items.csv")
    held = column(data["items"], "item")
    assert len(held) == 50 and data["items_note"] == {"shown": 50, "total": len(items), "least": 20}
    worst = sorted(items, key=lambda r: -float(r["uncertainty"]))[:20]
    assert {r["item"] for r in worst} <= set(held)
    # who ticked what follows the rows held: each held item's answers, no other
    got = data["multilabel"]["answers"]
    assert len(got["offsets"]) == 51
    n_answers = {r["item"]: int(r["n_answers"]) for r in items}
    for i, name in enumerate(held):
        assert got["offsets"][i + 1] - got["offsets"][i] == n_answers[name]


def test_a_multi_select_fit_without_its_answers_says_why(multi_fit, tmp_path):
    out, _ = multi_fit
    moved = tmp_path / "fit"
    moved.mkdir()
    summary = json.loads((out / "summary.json").read_text())
    summary["source"]["source"] = str(tmp_path / "gone.csv")
    (moved / "summary.json").write_text(json.dumps(summary))
    for name in ("items.csv", "workers.csv", "posteriors.csv"):
        (moved / name).write_bytes((out / name).read_bytes())
    data = page_data(build_report(moved))
    assert (
        data["multilabel"]["answers"] is None and "not there any more" in data["multilabel"]["answers_note"]
    )
    assert data["multilabel"]["classes"][0]["agreement"] is None
    # given with --labels, who ticked what is back
    data = page_data(build_report(moved, labels=TAGS))
    assert data["multilabel"]["answers"] is not None
    # a posteriors table of another fit is refused, naming it
    (moved / "posteriors.csv").write_text("item,ads\nnope,0.5\n")
    with pytest.raises(InputError, match=r"posteriors\.csv"):
        build_report(moved)


# --- ordered grades: the files an ordinal fit writes -------------------------------------------------

GRADES = ("1", "2", "3", "4", "5")


def write_ordinal_fit(out: Path, model_columns: bool) -> Path:
    """A fit over five grades as `fit --ordinal` writes it: classes lowest first, ``"ordered": true``
    in summary.json and, for the ordinal model, ``bias``, ``spread`` and ``exact_bonus`` in workers.csv
    (here beside a Dawid-Skene fit: the page reads the columns, not the model). Returns the compare
    report (with ``ordered``, ``mae``, ``mae_ci`` and ``within_one``)."""
    data, _, _ = simulate_dawid_skene(200, 10, labels_per_item=5, n_classes=5, seed=3)
    out.mkdir(parents=True)
    labels_path = out.parent / f"{out.name}-labels.csv"
    with open(labels_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item", "worker", "label"])
        for i, w, y in zip(data.item, data.worker, data.label, strict=True):
            writer.writerow([f"i{i}", f"w{w}", GRADES[y]])
    loaded = io.load_labels(labels_path, classes=list(GRADES))
    result = aggregate(loaded.labels, "dawid_skene")
    workers = worker_table(loaded.labels, result)
    if model_columns:
        rng = np.random.default_rng(0)
        n = loaded.labels.n_workers
        workers |= {
            "bias": rng.normal(0, 0.4, n),
            "spread": rng.uniform(0.3, 1.5, n),
            "exact_bonus": np.zeros(n),
        }
    record = fit_record(loaded.labels, result, loaded.report) | {"ordered": True}
    if model_columns:
        record |= {"method": "ordinal_ds", "fitted_method": "ordinal_ds"}
    io.write_outputs(
        out,
        {
            "items.csv": io.TableFile(item_table(loaded.labels, result)),
            "workers.csv": io.TableFile(workers),
            "confusion.csv": io.TableFile(confusion_table(loaded.labels, result)),
            "summary.json": io.json_text(record),
        },
    )
    compare_path = out.parent / f"{out.name}-compare.json"
    methods = {
        name: {"accuracy": acc, "accuracy_ci": [acc - 0.05, acc + 0.05], "mae": mae,
               "mae_ci": [mae - 0.1, mae + 0.1], "within_one": w1, "correct": 1, "total": 2}
        for name, acc, mae, w1 in (("majority", 0.6, 0.55, 0.9), ("ordinal_ds", 0.7, 0.4, 0.95))
    }  # fmt: skip
    agreement = {
        "krippendorff_alpha": 0.5, "percent_agreement": 0.6, "fleiss_kappa": 0.5, "gwet_ac1": 0.52,
        "krippendorff_alpha_ordinal": 0.61, "krippendorff_alpha_interval": 0.63,
        "weighted_kappa": {"defined": False, "note": "needs exactly two annotators (Cohen's)"},
    }  # fmt: skip
    report = {"ordered": True, "n_gold": 200, "methods": methods, "agreement": agreement}
    compare_path.write_text(json.dumps(report))
    return compare_path


def test_ordered_grades_show_the_confusion_in_grade_order_and_each_bias_and_spread(tmp_path):
    out = tmp_path / "graded"
    compare_path = write_ordinal_fit(out, model_columns=True)
    text = build_report(out, compare_path)
    data = page_data(text)
    assert data["kind"] == "ordinal" and '<section id="kind-ordinal"><h2>Grades</h2>' in text
    assert data["meta"]["classes"] == list(GRADES) and "classification" in data
    block = data["ordinal"]
    # the model's confusion over grades: the annotators' matrices weighted by their labels
    workers = read_rows(out / "workers.csv")
    weights = np.array([float(w["n_labels"]) for w in workers])
    cells = {}
    for row in read_rows(out / "confusion.csv"):
        cells.setdefault(row["worker"], np.zeros((5, 5)))[
            GRADES.index(row["true"]), GRADES.index(row["said"])
        ] = float(row["probability"])
    want = sum(weights[j] * cells[w["worker"]] for j, w in enumerate(workers)) / weights.sum()
    np.testing.assert_allclose(np.array(block["confusion"], dtype=float), want, atol=1e-4)
    assert block["bias_source"] == "model"
    assert block["bias"] == pytest.approx([float(w["bias"]) for w in workers], abs=1e-4)
    # the comparison keeps the ordinal metrics and their intervals
    assert data["compare"]["methods"]["ordinal_ds"]["mae"] == 0.4
    assert data["compare"]["methods"]["ordinal_ds"]["within_one"] == 0.95


def test_grades_without_the_model_columns_get_bias_and_spread_from_the_confusion(tmp_path):
    out = tmp_path / "graded"
    write_ordinal_fit(out, model_columns=False)
    data = page_data(build_report(out))
    block = data["ordinal"]
    assert data["kind"] == "ordinal" and block["bias_source"] == "confusion"
    summary = json.loads((out / "summary.json").read_text())
    prior = np.array(summary["class_prior"])
    worker = read_rows(out / "workers.csv")[0]["worker"]
    matrix = np.zeros((5, 5))
    for row in read_rows(out / "confusion.csv"):
        if row["worker"] == worker:
            matrix[GRADES.index(row["true"]), GRADES.index(row["said"])] = float(row["probability"])
    gap = np.arange(5)[None, :] - np.arange(5)[:, None]
    mean = float((prior[:, None] * matrix * gap).sum())
    sd = float(np.sqrt((prior[:, None] * matrix * gap**2).sum() - mean**2))
    assert block["bias"][0] == pytest.approx(mean, abs=1e-3) and block["spread"][0] == pytest.approx(
        sd, abs=1e-3
    )
    # a fit of unordered classes stays one of classes
    summary.pop("ordered")
    (out / "summary.json").write_text(json.dumps(summary))
    assert page_data(build_report(out))["kind"] == "classification"


# --- numeric answers: the files a numeric fit writes ---------------------------------------------


def write_numeric_fit(out: Path, n_items: int = 500) -> Path:
    """items, workers and summary.json with the columns `fit --numeric` writes, and a compare report
    with its keys (mae, rmse and their intervals, the gain against the mean, coverage)."""
    rng = np.random.default_rng(5)
    truth = rng.normal(50, 10, n_items)
    n_workers = 12
    bias, noise = rng.normal(0, 2, n_workers), rng.uniform(1, 4, n_workers)
    random = np.zeros(n_workers, dtype=bool)
    random[:2] = True
    estimate = truth + rng.normal(0, 1.5, n_items)
    sd = rng.uniform(0.5, 2, n_items)
    gold = np.where(np.arange(n_items) % 5 == 0, truth, np.nan)
    out.mkdir(parents=True)
    items = {
        "item": [f"q{i}" for i in range(n_items)], "estimate": estimate, "sd": sd,
        "lower": estimate - 1.96 * sd, "upper": estimate + 1.96 * sd, "n_labels": np.full(n_items, 4),
        "mean": estimate + 0.1, "median": estimate, "gold": gold,
    }  # fmt: skip
    workers = {
        "worker": [f"a{w}" for w in range(n_workers)], "n_labels": np.full(n_workers, 160), "bias": bias,
        "noise_sd": noise, "random_rate": random * 0.8, "random": random,
    }  # fmt: skip
    summary = {
        "kind": "numeric", "method": "robust", "n_items": n_items, "n_workers": n_workers,
        "n_labels": 4 * n_items, "converged": True, "n_iter": 12, "objective": [-900.0, -850.0, -849.0],
        "value_mean": 50.0, "value_sd": 10.0, "n_gold": 0, "n_flagged": 2, "flagged": ["a0", "a1"],
        "fit_seconds": 0.1,
    }  # fmt: skip
    io.write_outputs(
        out,
        {
            "items.csv": io.TableFile(items),
            "workers.csv": io.TableFile(workers),
            "summary.json": io.json_text(summary),
        },
    )
    methods = {
        name: {"mae": mae, "mae_ci": [mae - 0.1, mae + 0.1], "rmse": mae * 1.3,
               "rmse_ci": [mae * 1.2, mae * 1.4], "mae_gain_vs_mean": 2.5 - mae,
               "mae_gain_vs_mean_ci": [2.4 - mae, 2.6 - mae], "coverage": 0.93,
               "fit_seconds": 0.01, "n_flagged": 2}
        for name, mae in (("mean", 2.5), ("median", 2.2), ("robust", 1.2))
    }  # fmt: skip
    compare_path = out.parent / f"{out.name}-compare.json"
    compare_path.write_text(json.dumps({"kind": "numeric", "n_scored": n_items, "methods": methods}))
    return compare_path


def test_numeric_answers_show_bias_against_noise_estimates_and_their_errors(tmp_path):
    out = tmp_path / "numbers"
    compare_path = write_numeric_fit(out)
    text = build_report(out, compare_path)
    data = page_data(text)
    assert data["kind"] == "numeric" and '<section id="kind-numeric"><h2>Numeric</h2>' in text
    assert data["headline"]["n_flagged"] == 2 and data["headline"]["mean_confidence"] is None
    items = read_rows(out / "items.csv")
    # the items table keeps the estimate and its interval
    for key in ("estimate", "lower", "upper"):
        assert column(data["items"], key) == pytest.approx([float(r[key]) for r in items], abs=1e-4)
    # the intervals drawn: evenly spaced in estimate order, each with its own bounds
    drawn = data["numeric"]["intervals"]
    assert drawn["n"] == len(items) and len(drawn["estimate"]) == 400
    assert drawn["estimate"] == sorted(drawn["estimate"])
    by_estimate = {round(float(r["estimate"]), 4): r for r in items}
    for e, lo in zip(drawn["estimate"], drawn["lower"], strict=True):
        assert lo == pytest.approx(float(by_estimate[e]["lower"]), abs=1e-3)
    # the residuals against the gold values: every item with one
    residuals = data["numeric"]["residuals"]
    assert sum(residuals["counts"]) == sum(1 for r in items if r["gold"] not in ("", "nan"))
    assert data["compare"]["kind"] == "numeric"
    assert data["compare"]["methods"]["robust"]["mae_ci"] == pytest.approx([1.1, 1.3])
    # a comparison of classes does not go with a numeric fit
    other = tmp_path / "classes.json"
    other.write_text(json.dumps({"methods": {"majority": {"accuracy": 0.5, "accuracy_ci": [0.4, 0.6]}}}))
    with pytest.raises(InputError, match=r"classes\.json"):
        build_report(out, other)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "numeric", "methods": {"mean": {"rmse": 1}}}))
    with pytest.raises(InputError, match="no mae"):
        build_report(out, bad)


# --- a real browser: each kind's figures drawn, not blank ---------------------------------------------


KIND_FIGURES = {
    "multilabel": ("fig-ml-prevalence", "fig-ml-agreement", "fig-ml-rates", "fig-ml-f1"),
    "ordinal": ("fig-grade-confusion", "fig-bias-spread", "fig-crowd-confusion", "fig-method-accuracy"),
    "numeric": ("fig-bias-noise", "fig-estimates", "fig-residuals", "fig-method-mae"),
}


def test_a_headless_browser_draws_each_kind(multi_fit, tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="PIL (with matplotlib, dev extra) reads the screenshots")
    ordinal_compare = write_ordinal_fit(tmp_path / "graded", model_columns=True)
    numeric_compare = write_numeric_fit(tmp_path / "numbers")
    pages = {
        "multilabel": write_report(multi_fit[0], tmp_path / "multi.html", multi_fit[1]),
        "ordinal": write_report(tmp_path / "graded", tmp_path / "graded.html", ordinal_compare),
        "numeric": write_report(tmp_path / "numbers", tmp_path / "numbers.html", numeric_compare),
    }
    boxes_js = """ids => ids.map(id => { const e = document.getElementById(id); if (!e) return null;
        const r = e.getBoundingClientRect();
        return [r.left + scrollX, r.top + scrollY, r.width, r.height]; })"""
    with headless_page() as (page, errors):
        for kind, path in pages.items():
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=10_000)
            assert not errors, (kind, errors)
            figures = KIND_FIGURES[kind]
            pixels = np.asarray(
                Image.open(stdio.BytesIO(page.screenshot(full_page=True))).convert("L"), dtype=float
            )
            for fig, box in zip(figures, page.evaluate(boxes_js, list(figures)), strict=True):
                assert box is not None, (kind, fig)
                x, y, w, h = box
                assert w > 200 and h > 80, (kind, fig, w, h)
                region = pixels[int(y) : int(y + h), int(x) : int(x + w)]
                assert np.mean(np.abs(region - np.median(region)) > 30) > 0.01, (kind, fig)
            # a click on an annotator's point opens it
            dot = {"multilabel": "#fig-ml-rates circle", "ordinal": "#fig-bias-spread circle.annotator-dot",
                   "numeric": "#fig-bias-noise circle.annotator-dot"}[kind]  # fmt: skip
            page.click(f"{dot} >> nth=0")
            assert page.text_content("#annotator-detail-title").startswith("Annotator ")
            if kind == "multilabel":  # an item's detail: who ticked what, its posteriors, its set
                items = read_rows(multi_fit[0] / "items.csv")
                page.click("#items-table tbody tr >> nth=0")
                rows = page.locator("#item-detail table.who-ticked-what tbody tr").count()
                assert rows == int(items[0]["n_answers"]) + 3
                # the items whose set holds a class
                page.select_option("#items-class", "spam")
                want = sum("spam" in json.loads(r["classes"]) for r in items)
                assert page.text_content("#items-table-count").endswith(
                    f"of {want} (filtered from {len(items)})"
                )
            if kind == "ordinal":  # MAE in grades with its interval, in the comparison table
                assert "0.400 (0.300–0.500)" in page.text_content("#comparison table.metrics")
                cells = page.eval_on_selector_all(
                    "#comparison table.agreement tbody tr", "rs => rs.map(r => r.textContent)"
                )
                assert (
                    "Krippendorff's alpha, ordinal0.610" in cells
                    and "Krippendorff's alpha, interval0.630" in cells
                )
