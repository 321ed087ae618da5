"""The HTML report: every figure present and decodable, numbers equal to the files', and a real
headless browser (Chromium from the system's packages) renders it with every figure visible."""

from __future__ import annotations

import base64
import csv
import io as stdio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from emcrowd import io
from emcrowd.analysis.aggregate import aggregate
from emcrowd.analysis.evaluate import compare
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.html_report import COMPARE_FIGURES, FIGURES, build_report, write_report
from emcrowd.models.simulate import simulate_dawid_skene
from emcrowd.tables import confusion_table, fit_record, item_table, worker_table
from tests.test_quality import N_CONSTANT, N_RANDOM, with_spammers

pytest.importorskip("matplotlib", reason="the report needs the `report` extra (matplotlib)")
Image = pytest.importorskip("PIL.Image", reason="PIL (installed with matplotlib) decodes the figures")


def write_fit(out: Path, method: str = "dawid_skene", with_compare: bool = True) -> Path | None:
    """A fit's output directory as `emcrowd fit` writes it (with spammers to flag), and a compare
    report beside it; returns the compare report's path."""
    data, truth, _ = simulate_dawid_skene(800, 20, labels_per_item=5, n_classes=3, seed=11)
    data = with_spammers(data, 12)
    result = aggregate(data, method)
    io.write_outputs(
        out,
        {
            "items.csv": io.TableFile(item_table(data, result)),
            "workers.csv": io.TableFile(worker_table(data, result)),
            "confusion.csv": io.TableFile(confusion_table(data, result)),
            "summary.json": io.json_text(fit_record(data, result)),
        },
    )
    if not with_compare:
        return None
    path = out.parent / f"{out.name}-compare.json"
    path.write_text(io.json_text(compare(data, truth, methods=["majority", "glad", "dawid_skene"])))
    return path


class Page(HTMLParser):
    """Figures (id -> img src) and the text of every element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.text: dict[str, str] = {}
        self._figure: str | None = None
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure":
            self._figure = attrs.get("id")
        elif tag == "img" and self._figure:
            self.figures[self._figure] = attrs["src"]
        elif tag in ("td", "tr"):
            self._open.append(attrs.get("id"))
            if attrs.get("id"):
                self.text[attrs["id"]] = ""

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None
        elif tag in ("td", "tr") and self._open:
            self._open.pop()

    def handle_data(self, data):
        for key in self._open:
            if key:
                self.text[key] += data + " "


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


def decode(src: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    return np.asarray(Image.open(stdio.BytesIO(base64.b64decode(src[len(prefix) :]))).convert("RGB"))


def assert_not_blank(pixels: np.ndarray, least: float = 0.01) -> None:
    background = pixels[0, 0]
    share = np.mean(np.any(np.abs(pixels.astype(int) - background) > 30, axis=2))
    assert share >= least, share


def read_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


@pytest.fixture(scope="module")
def fit_dir(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("report") / "fit"
    return out, write_fit(out)


def test_every_figure_is_there_and_draws_something(fit_dir):
    out, compare_path = fit_dir
    page = parse(build_report(out, compare_path))
    assert set(page.figures) == set(FIGURES) | set(COMPARE_FIGURES)
    for src in page.figures.values():
        assert_not_blank(decode(src))
    assert set(parse(build_report(out)).figures) == set(FIGURES)  # no compare figures without it


def test_numbers_in_the_page_match_the_files(fit_dir):
    out, compare_path = fit_dir
    page = parse(build_report(out, compare_path))
    summary = json.loads((out / "summary.json").read_text())
    for key in ("n_items", "n_workers", "n_labels"):
        assert page.text[key.replace("_", "-")].strip() == str(summary[key])
    assert float(page.text["final-objective"]) == pytest.approx(summary["objective"][-1], abs=1e-4)
    items = read_rows(out / "items.csv")
    mean_confidence = np.mean([float(r["confidence"]) for r in items])
    assert float(page.text["mean-confidence"]) == pytest.approx(mean_confidence, abs=1e-4)
    workers = read_rows(out / "workers.csv")
    review = [w for w in workers if {"spammer", "constant", "below_chance"} & set(w["flags"].split(";"))]
    assert int(page.text["n-flagged"]) == len(review) >= N_RANDOM + N_CONSTANT
    listed = [page.text[f"flagged-{i}"] for i in range(len(review))]
    by_name = {w["worker"]: w for w in workers}
    for row in listed:  # "worker labels accuracy score flags", each equal to workers.csv
        name, n_labels, accuracy, score, flags = row.split()
        w = by_name[name]
        assert n_labels == w["n_labels"] and flags == w["flags"]
        assert float(accuracy) == pytest.approx(float(w["accuracy"]), abs=1e-4)
        assert float(score) == pytest.approx(float(w["spammer_score"]), abs=1e-4)
    report = json.loads(compare_path.read_text())
    for method, entry in report["methods"].items():
        assert float(page.text[f"accuracy-{method}"]) == pytest.approx(entry["accuracy"], abs=1e-4)
    assert float(page.text["krippendorff-alpha"]) == pytest.approx(
        report["agreement"]["krippendorff_alpha"], abs=1e-4
    )


def test_calibration_bins_are_in_the_compare_report(fit_dir):
    _, compare_path = fit_dir
    report = json.loads(compare_path.read_text())
    for entry in report["methods"].values():
        cal = entry["calibration"]
        assert sum(cal["count"]) == entry["total"]
        weighted = sum(a * c for a, c in zip(cal["accuracy"], cal["count"], strict=True) if a is not None)
        assert weighted / entry["total"] == pytest.approx(entry["accuracy"])


@pytest.mark.filterwarnings("ignore::emcrowd.errors.ConvergenceWarning")
def test_majority_vote_fit_has_every_figure(tmp_path):
    write_fit(tmp_path / "mv", method="majority", with_compare=False)
    text = build_report(tmp_path / "mv")
    page = parse(text)
    assert set(page.figures) == set(FIGURES)
    assert "no iterations to show" not in text  # the note is drawn inside the figure, not as text
    assert_not_blank(decode(page.figures["fig-convergence"]), least=0.001)


def test_written_atomically_and_bad_input_refused(fit_dir, tmp_path):
    out, compare_path = fit_dir
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


def test_missing_matplotlib_is_one_line(fit_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(EmcrowdError, match=r"needs matplotlib.*emcrowd\[report\]") as info:
        build_report(fit_dir[0])
    assert "\n" not in str(info.value)


def test_class_and_annotator_names_are_escaped(tmp_path):
    out = tmp_path / "fit"
    write_fit(out, with_compare=False)
    workers = (out / "workers.csv").read_text().replace("\n25,", '\n"<b>x</b>,1",', 1)
    (out / "workers.csv").write_text(workers)
    text = build_report(out)
    assert "<b>x</b>" not in text


# --- a real browser -------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]
# Run in the page once loaded: each figure's box and whether its image decoded, into a body attribute
# (no layout change), read back through --dump-dom.
PROBE = """<script>
window.addEventListener("load", () => {
  const out = {height: document.documentElement.scrollHeight, figures: {}};
  for (const f of document.querySelectorAll("figure")) {
    const img = f.querySelector("img"), r = img.getBoundingClientRect();
    out.figures[f.id] = {decoded: img.complete && img.naturalWidth > 0, width: img.naturalWidth,
      x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height};
  }
  document.body.setAttribute("data-probe", JSON.stringify(out));
});
</script>"""


def chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": profile},
        )


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium): no browser check"
)
def test_a_headless_browser_shows_every_figure(fit_dir, tmp_path):
    out, compare_path = fit_dir
    report = write_report(out, tmp_path / "report.html", compare_path)
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    width = 1200
    dom = chromium(f"--window-size={width},2000", "--virtual-time-budget=5000", "--dump-dom", probed.as_uri())
    match = re.search(r'data-probe="([^"]*)"', dom.stdout)
    assert match, dom.stderr[-2000:]
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert set(probe["figures"]) == set(FIGURES) | set(COMPARE_FIGURES)
    assert all(f["decoded"] and f["w"] > 100 and f["h"] > 100 for f in probe["figures"].values()), probe
    height = int(probe["height"]) + 50
    shot = tmp_path / "shot.png"
    res = chromium(f"--window-size={width},{height}", f"--screenshot={shot}", report.as_uri())
    assert shot.exists(), res.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[1] == width
    assert_not_blank(pixels)
    # every figure is visible where the browser laid it out ...
    for name, box in probe["figures"].items():
        x, y, w, h = (int(box[k]) for k in ("x", "y", "w", "h"))
        region = pixels[y : y + h, x : x + w]
        assert region.size and np.mean(np.any(region < 200, axis=2)) > 0.005, name
    # ... and the page has content all the way down, in every band of its height
    bands = np.array_split(pixels[: int(probe["height"])], 6)
    assert all(np.any(np.any(band < 200, axis=2)) for band in bands)
    shutil.copy(shot, Path(tempfile.gettempdir()) / "emcrowd-report-screenshot.png")
