"""One self-contained, interactive HTML page about a fit, to work from and to share: ``emcrowd report``.

:func:`build_report` reads a fit's output directory (``summary.json``, the ``items``, ``workers`` and
``confusion`` tables, as CSV or Parquet), optionally a ``compare --json`` report and the labels file the
fit read (for who said what), and returns the page as text; :func:`write_report` writes it, all or
nothing. The page holds its data as JSON in a ``<script type="application/json">`` element (every ``<``,
``>`` and ``&`` escaped, so no value can close the element) and its own script and style inline: it
works offline, draws its figures as SVG in the browser, and puts every value from the data into the page
as text (``textContent``), never as markup. Up to :data:`MAX_ITEMS` items it holds every item; beyond,
the least certain ones and a seeded sample of the rest, and says so.

Layout: :mod:`._load` reads the files, :mod:`._data` makes the page's data (per kind of task:
:func:`._data.page_data` adds a ``classification`` block; a new kind adds its own block under its
``kind`` key, and ``page.js`` a view in its ``KINDS`` registry), :mod:`._page` assembles the HTML from
``page.css`` and ``page.js`` (package data beside this file).

The views of ordered grades, numeric and multi-select answers are in :mod:`._kinds`; the Machines
section of a fit with machine annotators (``fit --predictions``) reads its block from :mod:`._machines`.

May import: the core modules, :mod:`emcrowd.io` (reading the labels file again),
:mod:`emcrowd.analysis.multilabel` (the agreement on each class of multi-select answers) and
:mod:`emcrowd.console` (the methods' display names); no plotting library.
"""

from __future__ import annotations

import os
from pathlib import Path

from emcrowd.errors import InputError
from emcrowd.html_report._data import MAX_ITEMS, N_LEAST_CERTAIN, page_data
from emcrowd.html_report._kinds import compare_kind
from emcrowd.html_report._load import load_compare, load_fit, load_labels_of_fit, load_multilabels_of_fit
from emcrowd.html_report._page import COMPARE_FIGURES, FIGURES, render_page, script_json

__all__ = [
    "COMPARE_FIGURES",
    "FIGURES",
    "MAX_ITEMS",
    "build_report",
    "load_compare",
    "load_fit",
    "script_json",
    "write_report",
]


def build_report(
    fit_dir: str | os.PathLike,
    compare: str | os.PathLike | None = None,
    *,
    labels: str | os.PathLike | None = None,
    max_items: int = MAX_ITEMS,
    n_least: int = N_LEAST_CERTAIN,
) -> str:
    """The HTML page (text) for a fit's output directory.

    Parameters
    ----------
    fit_dir : path
        The output directory of ``emcrowd fit``.
    compare : path, optional
        A ``compare --json`` report: adds every metric per method, the paired gain over majority vote
        and the calibration of each method.
    labels : path, optional
        The labels file the fit read, for who said what and the counts behind each annotator's
        confusion matrix; by default the ``input.source`` of ``summary.json`` when it is still there
        (read with the same columns and options).
    max_items, n_least : int
        The page holds every item up to ``max_items``; beyond, the ``n_least`` least certain and a
        seeded random sample of the rest.

    Raises
    ------
    InputError
        When a file is missing or unreadable (one line naming it).
    """
    fit = load_fit(fit_dir)
    report = None if compare is None else load_compare(compare)
    kind = fit["summary"].get("kind") or "classification"
    if report is not None and compare_kind(report) != ("classification" if kind == "ordinal" else kind):
        raise InputError(
            Path(compare),
            f"scores a {compare_kind(report)} task, and the fit is a {kind} one: another fit's?",
        )
    if kind in ("classification", "ordinal"):
        found, note = load_labels_of_fit(fit["summary"], labels)
    elif kind == "multilabel":
        found, note = load_multilabels_of_fit(fit["summary"], labels)
    else:  # a kind's own reader reads its labels again: a seam for that kind's view
        found, note = None, "who said what is drawn for classes and multi-select answers"
    data = page_data(
        fit, report, found, note, source_dir=str(Path(fit_dir)), max_items=max_items, n_least=n_least
    )
    return render_page(data)


def write_report(
    fit_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    compare: str | os.PathLike | None = None,
    *,
    labels: str | os.PathLike | None = None,
    max_items: int = MAX_ITEMS,
) -> Path:
    """Write :func:`build_report` to ``out`` (``DIR/report.html`` by default), all or nothing (a
    temporary file renamed into place). Returns the path written."""
    from emcrowd.io import write_outputs

    text = build_report(fit_dir, compare, labels=labels, max_items=max_items)
    target = Path(fit_dir) / "report.html" if out is None else Path(out)
    directory = Path(fit_dir)
    read = [directory / "summary.json"]
    read += [
        directory / f"{stem}.{ext}"
        for stem in ("items", "workers", "confusion", "posteriors")
        for ext in ("csv", "parquet")
    ]
    inputs = [p for p in (compare, labels, *read) if p is not None]
    write_outputs(target.parent, {target.name: text}, inputs=inputs)
    return target
