"""How long the HTML report takes for a large fit: written by ``emcrowd report``, then opened in the
browser until every table and figure is drawn. The aim: under 2 s in all for 100k items, and a file
small enough to mail (its size in MB is printed).

A Dawid-Skene crowd (3 classes, 200 annotators, 5 labels per item) is simulated, written as a labels
CSV, fitted, and its outputs written as ``emcrowd fit`` writes them; then the report is built from that
directory (reading the tables and the labels file again, as the command does) and opened in headless
Chromium through Playwright, timed until the page says it is drawn (``body[data-ready]``). The fit's
own time is printed beside, and the report's time as a share of it; the CPU time of writing and the
machine's load average beside the wall-clock times (on a loaded machine the wall clock says little).

    python benchmarks/report.py [--items 100000] [--repeat 3]

Needs Playwright (the dev extra) and /usr/bin/chromium (Debian's package) for the browser column;
without them that column says why it is missing.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from emcrowd import io
from emcrowd.analysis.aggregate import aggregate
from emcrowd.html_report import write_report
from emcrowd.models.simulate import simulate_dawid_skene
from emcrowd.tables import confusion_table, fit_record, item_table, worker_table

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def make_fit(root: Path, n_items: int) -> tuple[Path, float]:
    """The fit's output directory (and its labels file beside it); returns it and the fit's seconds."""
    data, _, _ = simulate_dawid_skene(n_items, 200, labels_per_item=5, n_classes=3, seed=0)
    labels = root / "labels.csv"
    names = np.array([f"item-{i:07d}" for i in range(data.n_items)], dtype=object)
    workers = np.array([f"annotator-{w:04d}" for w in range(data.n_workers)], dtype=object)
    classes = np.array(["negative", "neutral", "positive"], dtype=object)
    with open(labels, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item", "worker", "label"])
        writer.writerows(zip(names[data.item], workers[data.worker], classes[data.label], strict=True))
    loaded = io.load_labels(labels)
    start = time.perf_counter()
    result = aggregate(loaded.labels, "dawid_skene")
    fit_seconds = time.perf_counter() - start
    out = root / "fit"
    io.write_outputs(
        out,
        {
            "items.csv": io.TableFile(item_table(loaded.labels, result)),
            "workers.csv": io.TableFile(worker_table(loaded.labels, result)),
            "confusion.csv": io.TableFile(confusion_table(loaded.labels, result)),
            "summary.json": io.json_text(fit_record(loaded.labels, result, loaded.report)),
        },
    )
    return out, fit_seconds


def open_seconds(page_path: Path, repeat: int) -> tuple[float | None, str]:
    """The best of ``repeat`` loads of the page until it is drawn, in a fresh browser each time."""
    if not Path(CHROMIUM).exists():
        return None, f"no {CHROMIUM}"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None, "no playwright"
    best = None
    with sync_playwright() as pw:
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as profile:
                context = pw.chromium.launch_persistent_context(
                    profile, executable_path=CHROMIUM, args=ARGS, headless=True
                )
                page = context.new_page()
                start = time.perf_counter()
                page.goto(page_path.as_uri())
                page.wait_for_selector("body[data-ready='1']", timeout=60_000)
                seconds = time.perf_counter() - start
                context.close()
            best = seconds if best is None else min(best, seconds)
    return best, ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        out, fit_seconds = make_fit(root, args.items)
        write, cpu = [], []
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            page_path = write_report(out, root / "report.html")
            write.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        size_mb = page_path.stat().st_size / 1e6
        opened, why = open_seconds(page_path, args.repeat)
    written = min(write)
    total = None if opened is None else written + opened
    print(
        f"report, {args.items:,} items (5 labels each, 3 classes, 200 annotators): "
        f"size {size_mb:.1f} MB; written in {written:.2f} s ({min(cpu):.2f} s of CPU; best of {args.repeat}; "
        f"{written / fit_seconds:.2f}x the Dawid-Skene fit's {fit_seconds:.2f} s); "
        + (f"opened in the browser in {opened:.2f} s; in all {total:.2f} s (aim: under 2 s)"
           if opened is not None else f"not opened ({why})")
        + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )  # fmt: skip


if __name__ == "__main__":
    main()
