"""The HTML report: the data embedded in the page equals the files', every value is escaped, the page
holds at most MAX_ITEMS items and says so, and a real headless browser (Debian's Chromium, driven by
Playwright) sorts, filters and searches the tables, opens an item and an annotator, and draws every
figure at 1280 and at 800 pixels wide."""

from __future__ import annotations

import csv
import io as stdio
import json
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from emcrowd import io
from emcrowd.analysis.aggregate import aggregate
from emcrowd.analysis.evaluate import compare
from emcrowd.errors import InputError
from emcrowd.html_report import COMPARE_FIGURES, FIGURES, build_report, script_json, write_report
from emcrowd.models.simulate import simulate_dawid_skene
from emcrowd.tables import confusion_table, fit_record, item_table, worker_table
from tests.helpers import headless_page
from tests.test_quality import N_CONSTANT, N_RANDOM, with_spammers

#: Ids that would break a page that pasted them in as markup.
EVIL_ITEM = "</script><b>x"
EVIL_WORKER = '<img src=x onerror="document.title=1">&amp;'
CLASSES = ("cat", "dog", 'b"ird')


def write_fit(out: Path, method: str = "dawid_skene", n_items: int = 300, with_compare: bool = True):
    """A labels file (with hostile ids), the fit's output directory as `emcrowd fit` writes it (with
    spammers to flag) and a compare report; returns (labels path, compare path or None)."""
    data, truth, _ = simulate_dawid_skene(n_items, 12, labels_per_item=5, n_classes=3, seed=11)
    data = with_spammers(data, 12)
    out.mkdir(parents=True)
    labels_path = out.parent / f"{out.name}-labels.csv"
    items = [f"it-{i}" for i in range(data.n_items)]
    items[3] = EVIL_ITEM
    workers = [f"w{w}" for w in range(data.n_workers)]
    workers[0] = EVIL_WORKER
    with open(labels_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item", "worker", "label"])
        for i, w, y in zip(data.item, data.worker, data.label, strict=True):
            writer.writerow([items[i], workers[w], CLASSES[y]])
    loaded = io.load_labels(labels_path)
    data = loaded.labels
    result = aggregate(data, method)
    io.write_outputs(
        out,
        {
            "items.csv": io.TableFile(item_table(data, result)),
            "workers.csv": io.TableFile(worker_table(data, result)),
            "confusion.csv": io.TableFile(confusion_table(data, result)),
            "summary.json": io.json_text(fit_record(data, result, loaded.report)),
        },
    )
    if not with_compare:
        return labels_path, None
    names = {name: i for i, name in enumerate(data.item_names)}
    codes = {c: i for i, c in enumerate(data.class_names)}
    # the truth in the data's own item order and class codes
    truth_codes = np.empty(data.n_items, dtype=np.int64)
    for i, name in enumerate(items):
        truth_codes[names[name]] = codes[CLASSES[truth[i]]]
    path = out.parent / f"{out.name}-compare.json"
    path.write_text(io.json_text(compare(data, truth_codes, methods=["majority", "glad", "dawid_skene"])))
    return labels_path, path


def page_data(text: str) -> dict:
    match = re.search(r'<script type="application/json" id="emcrowd-data">(.*?)</script>', text, re.S)
    assert match
    return json.loads(match.group(1))


def column(table: dict, name: str) -> list:
    col = next(c for c in table["columns"] if c["name"] == name)
    if "codes" in col:
        return [col["names"][k] for k in col["codes"]]
    if "ints" in col:
        return [None if v is None else v / col["scale"] for v in col["ints"]]
    return col["values"]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def fit_dir(tmp_path_factory) -> tuple[Path, Path, Path]:
    out = tmp_path_factory.mktemp("report") / "fit"
    labels, compare_path = write_fit(out)
    return out, labels, compare_path


def test_the_data_in_the_page_equals_the_files(fit_dir):
    out, labels, compare_path = fit_dir
    data = page_data(build_report(out, compare_path))
    summary = json.loads((out / "summary.json").read_text())
    items = read_rows(out / "items.csv")
    workers = read_rows(out / "workers.csv")
    classes = data["meta"]["classes"]
    assert data["kind"] == "classification" and classes == summary["classes"] == sorted(CLASSES)
    assert data["meta"]["title"] == "Dawid-Skene"  # the display name, never the internal id
    assert data["meta"]["source"] == str(labels)
    assert data["headline"]["n_labels"] == summary["n_labels"]
    # every column of items.csv, every row, in order
    assert [c["name"] for c in data["items"]["columns"]] == list(items[0])
    assert column(data["items"], "item") == [r["item"] for r in items]
    assert column(data["items"], "label") == [r["label"] for r in items]
    np.testing.assert_allclose(
        column(data["items"], "confidence"), [float(r["confidence"]) for r in items], atol=1e-4
    )
    assert column(data["workers"], "worker") == [r["worker"] for r in workers]
    # who said what: every label of the file, on its item, by its annotator
    said = {}
    for row in read_rows(labels):
        said.setdefault(row["item"], []).append((row["worker"], row["label"]))
    got = data["labels"]
    names = column(data["items"], "item")
    wnames = column(data["workers"], "worker")
    for i, name in enumerate(names):
        run = range(got["offsets"][i], got["offsets"][i + 1])
        k = got["n_classes"]
        mine = sorted((wnames[got["packed"][o] // k - 1], classes[got["packed"][o] % k]) for o in run)
        assert mine == sorted(said[name])
    # the crowd confusion counts every label once, against its item's chosen label
    crowd = np.array(data["classification"]["crowd_confusion"])
    assert crowd.sum() == summary["n_labels"]
    for c, name in enumerate(classes):
        on = [r["item"] for r in items if r["label"] == name]
        assert crowd[c].sum() == sum(len(said[i]) for i in on)
    # each annotator's counts are its labels against the chosen labels
    counts = np.array(data["worker_matrices"]["count"])
    assert counts.shape == (len(workers), 9)
    assert counts.sum(axis=1).tolist() == [int(r["n_labels"]) for r in workers]
    probs = np.array(data["worker_matrices"]["probability"], dtype=float).reshape(-1, 3, 3)
    np.testing.assert_allclose(probs.sum(axis=2), 1.0, atol=1e-3)
    # the comparison: every metric of the terminal table, and the paired gains
    report = json.loads(compare_path.read_text())
    for name, entry in report["methods"].items():
        mine = data["compare"]["methods"][name]
        for key in ("accuracy", "macro_f1", "brier", "log_loss", "correct", "total"):
            assert mine[key] == entry[key]
        assert sum(mine["calibration"]["count"]) == entry["total"]
    assert data["compare"]["vs_majority"] == report["vs_majority"]


def test_every_value_is_escaped(fit_dir):
    out, _, compare_path = fit_dir
    text = build_report(out, compare_path)
    assert text.count("</script>") == 2  # the data's and the script's own ends, nothing from the data
    assert "<b>x" not in text and "<img" not in text and 'onerror="document' not in text
    data = page_data(text)
    assert EVIL_ITEM in column(data["items"], "item")
    assert EVIL_WORKER in column(data["workers"], "worker")
    assert 'b"ird' in data["meta"]["classes"]
    assert script_json({"a": "</script>&\u2028"}) == '{"a":"\\u003c/script\\u003e\\u0026\\u2028"}'
    with pytest.raises(ValueError):
        script_json({"a": float("nan")})  # missing numbers travel as null, never as NaN
    page = text[: text.index('<script type="application/json"')]
    assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "document.write" not in text
    assert "Dawid-Skene" in page and "dawid_skene" not in page  # the title says the display name


def test_beyond_the_limit_the_least_certain_and_a_sample(fit_dir):
    out, _, _ = fit_dir
    items = read_rows(out / "items.csv")
    data = page_data(build_report(out, max_items=100, n_least=30))
    shown = column(data["items"], "item")
    assert len(shown) == 100 and data["items_note"] == {"shown": 100, "total": len(items), "least": 30}
    order = [r["item"] for r in items]
    assert shown == sorted(shown, key=order.index)  # in file order
    least = sorted(items, key=lambda r: float(r["confidence"]))[:30]
    assert {r["item"] for r in least} <= set(shown)
    assert data["labels"]["offsets"][-1] == sum(int(r["n_labels"]) for r in items if r["item"] in set(shown))
    # the aggregates still count every item
    assert sum(data["confidence_histogram"]["counts"]) == len(items)
    assert np.array(data["classification"]["crowd_confusion"]).sum() == data["headline"]["n_labels"]


def test_auto_says_what_it_chose_and_why(fit_dir, tmp_path):
    out, _, _ = fit_dir
    copy = tmp_path / "auto"
    shutil.copytree(out, copy)
    summary = json.loads((copy / "summary.json").read_text())
    reason = "it predicts labels it did not see best </script><i>"  # as `auto` writes it (and hostile)
    summary |= {
        "method": "auto",
        "fitted_method": "bayesian_ds",
        "selection": {"reason": reason, "scores": {}},
    }
    (copy / "summary.json").write_text(json.dumps(summary))
    text = build_report(copy)
    data = page_data(text)
    assert data["meta"]["reason"] == reason and data["meta"]["title"] == "Bayesian DS"
    assert data["meta"]["method"] == "auto" and data["meta"]["fitted_method"] == "bayesian_ds"
    assert (
        "<title>emcrowd report: Bayesian DS</title>" in text
        and "bayesian_ds" not in text[: text.index("<style>")]
    )


def test_without_the_labels_file_the_votes_still_count(fit_dir, tmp_path):
    out, labels, _ = fit_dir
    copy = tmp_path / "fit"
    shutil.copytree(out, copy)
    summary = json.loads((copy / "summary.json").read_text())
    summary["input"]["source"] = str(tmp_path / "gone.csv")
    (copy / "summary.json").write_text(json.dumps(summary))
    data = page_data(build_report(copy))
    assert data["labels"] is None and "gone.csv" in data["labels_note"]
    assert data["worker_matrices"]["count"] is None and data["worker_matrices"]["probability"]
    with_file = page_data(build_report(copy, labels=labels))  # --labels gives it back
    assert data["classification"]["crowd_confusion"] == with_file["classification"]["crowd_confusion"]
    with pytest.raises(InputError, match="nowhere"):
        build_report(copy, labels=tmp_path / "nowhere.csv")


def test_written_atomically_and_bad_input_refused(fit_dir, tmp_path):
    out, _, compare_path = fit_dir
    target = write_report(out, tmp_path / "r.html", compare_path)
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left
    bad = tmp_path / "bad.json"
    bad.write_text('{"methods": {}}')
    with pytest.raises(InputError, match=r"bad\.json"):
        write_report(out, tmp_path / "s.html", bad)
    assert not (tmp_path / "s.html").exists()
    with pytest.raises(InputError, match=r"summary\.json"):
        build_report(tmp_path)
    with pytest.raises(InputError, match="not a directory"):
        build_report(tmp_path / "nowhere")


# --- a real browser -------------------------------------------------------------------------------


def test_a_headless_browser_sorts_filters_and_opens(fit_dir, tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="pillow (dev extra) reads the screenshots")
    out, _, compare_path = fit_dir
    page_path = write_report(out, tmp_path / "report.html", compare_path)
    items = read_rows(out / "items.csv")
    workers = read_rows(out / "workers.csv")
    with headless_page() as (page, errors):
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=10_000)
        assert not errors and requests == [page_path.as_uri()]  # offline: nothing else is fetched
        assert page.title() == "emcrowd report: Dawid-Skene"

        def cells(table: str, key: str) -> list[str]:
            index = page.eval_on_selector_all(
                f"#{table} thead th", f"hs => hs.findIndex(h => h.dataset.key === {json.dumps(key)})"
            )
            return page.eval_on_selector_all(
                f"#{table} tbody tr", f"rs => rs.map(r => r.cells[{index}].textContent)"
            )

        # sort by confidence: first click puts the most confident first, the second the least
        page.click("#items-table th[data-key='confidence']")
        page.click("#items-table th[data-key='confidence']")
        shown = [float(x) for x in cells("items-table", "confidence")]
        assert shown == sorted(shown) and shown[0] == pytest.approx(
            min(float(r["confidence"]) for r in items), abs=1e-3
        )
        # filter: one class, where the label differs from the majority vote
        page.select_option("#items-class", "dog")
        page.check("#items-differ")
        want = [r for r in items if r["label"] == "dog" and r["label"] != r["majority"]]
        assert page.text_content("#items-table-count").endswith(
            f"of {len(want)} (filtered from {len(items)})"
        )
        assert set(cells("items-table", "label")) == {"dog"}
        assert all(m != "dog" for m in cells("items-table", "majority"))
        page.uncheck("#items-differ")
        page.select_option("#items-class", "")
        page.fill("#items-confidence-max", "0.8")
        assert all(float(x) <= 0.8 for x in cells("items-table", "confidence"))
        page.fill("#items-confidence-max", "")
        # search an id (the hostile one: shown as text), open it: who said what
        page.fill("#items-search", "</script>")
        assert cells("items-table", "item") == [EVIL_ITEM]
        assert page.locator("b").count() == 0 and page.locator("img").count() == 0
        page.click("#items-table tbody tr")
        assert page.text_content("#item-detail-title") == f"Item {EVIL_ITEM}"
        n_labels = next(int(r["n_labels"]) for r in items if r["item"] == EVIL_ITEM)
        assert page.locator("#item-detail table.who-said-what tbody tr").count() == n_labels
        # open an annotator from the annotators table, after filtering to the flagged ones
        page.select_option("#annotators-flag", "*")
        flagged = [w for w in workers if {"spammer", "constant", "below_chance"} & set(w["flags"].split(";"))]
        assert len(flagged) >= N_RANDOM + N_CONSTANT
        assert page.locator("#annotators-table tbody tr").count() == len(flagged)
        page.click("#annotators-table th[data-key='n_labels']")
        page.click("#annotators-table tbody tr >> nth=0")
        name = page.text_content("#annotator-detail-title").removeprefix("Annotator ")
        worker = next(w for w in flagged if w["worker"] == name)
        counts = page.eval_on_selector_all(
            "#annotator-confusion tbody tr",
            "rs => rs.map(r => [...r.querySelectorAll('td')].slice(0, -1).map(c => parseInt(c.textContent)))",
        )
        assert np.sum(counts) == int(worker["n_labels"]) and np.shape(counts) == (3, 3)
        # the hostile annotator opens from an item's who-said-what, its name shown as text
        page.select_option("#annotators-flag", "")
        page.fill("#annotators-search", "onerror")
        page.click("#annotators-table tbody tr")
        assert page.text_content("#annotator-detail-title") == f"Annotator {EVIL_WORKER}"
        assert page.title() == "emcrowd report: Dawid-Skene"  # no handler in an id ran
        # both widths: every figure drawn and not blank, nothing wider than the window
        figures = (*FIGURES, *COMPARE_FIGURES)
        boxes_js = """ids => ids.map(id => { const r = document.getElementById(id).getBoundingClientRect();
            return [r.left + scrollX, r.top + scrollY, r.width, r.height]; })"""
        shots = {}
        for width in (1280, 800):
            page.set_viewport_size({"width": width, "height": 900})
            page.evaluate("window.scrollTo(0, 0)")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            shots[width] = page.screenshot(full_page=True)
            pixels = np.asarray(Image.open(stdio.BytesIO(shots[width])).convert("L"), dtype=float)
            assert pixels.shape[1] == width
            for fig, (x, y, w, h) in zip(figures, page.evaluate(boxes_js, list(figures)), strict=True):
                assert w > 200 and h > 80 and x + w <= width, (fig, width, w, h)
                region = pixels[int(y) : int(y + h), int(x) : int(x + w)]
                assert np.mean(np.abs(region - np.median(region)) > 30) > 0.01, (fig, width)
        page.emulate_media(media="print")
        assert page.locator("#items-search").is_hidden() and page.locator("#fig-crowd-confusion").is_visible()
    for width, png in shots.items():
        (Path(tempfile.gettempdir()) / f"emcrowd-report-{width}.png").write_bytes(png)


def test_another_kind_of_task_gets_its_columns(tmp_path):
    """A kind without a view of its own (numeric answers here, written by hand): the overview and
    both tables, with whatever columns its outputs have, and a section that says what is missing."""
    out = tmp_path / "numeric"
    out.mkdir()
    (out / "items.csv").write_text("item,estimate,n_labels,spread\na,1.5,3,0.2\nb,-2,4,1.25\n")
    (out / "workers.csv").write_text("worker,n_labels,bias,noise\nw1,4,0.1,0.5\nw2,3,-0.3,1\n")
    summary = {"kind": "numeric", "method": "mean", "n_items": 2, "n_workers": 2, "n_labels": 7}
    (out / "summary.json").write_text(json.dumps(summary))
    text = build_report(out)
    data = page_data(text)
    assert data["kind"] == "numeric" and "classification" not in data and data["labels"] is None
    assert [c["name"] for c in data["items"]["columns"]] == ["item", "estimate", "n_labels", "spread"]
    assert column(data["items"], "estimate") == [1.5, -2.0]
    assert [c["name"] for c in data["workers"]["columns"]] == ["worker", "n_labels", "bias", "noise"]
    assert '<section id="kind-numeric"><h2>Numeric</h2>' in text
    (out / "summary.json").write_text(json.dumps(summary | {"kind": "classification"}))
    with pytest.raises(InputError, match="classes"):  # classes need their list
        build_report(out)
