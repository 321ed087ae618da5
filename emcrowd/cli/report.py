"""``emcrowd report``: one self-contained, interactive HTML page about a fit (and a comparison)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emcrowd.errors import EmcrowdError

DirArg = Annotated[
    Path,
    typer.Argument(help="The output directory of `emcrowd fit` (summary.json, items, workers, confusion).",
                   show_default=False),
]  # fmt: skip
CompareOpt = Annotated[
    Path | None,
    typer.Option(
        "--compare",
        metavar="REPORT.json",
        help="A `compare --json` report (or --report file): adds every metric and calibration per method.",
        show_default=False,
    ),
]
LabelsOpt = Annotated[
    Path | None,
    typer.Option(
        "--labels",
        metavar="FILE",
        help="The labels file the fit read, for who said what (default: the one summary.json names).",
        show_default=False,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only warnings and errors on stderr.")]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out", "-o", help="The HTML file to write (default: DIR/report.html).", show_default=False
    ),
]


EXAMPLES = (
    "emcrowd report labels-emcrowd",
    "emcrowd report labels-emcrowd --compare metrics.json -o r.html",
    "emcrowd report labels-emcrowd --labels labels.csv",
)


def report(
    directory: DirArg,
    *,
    compare: CompareOpt = None,
    labels: LabelsOpt = None,
    out: OutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Turn a fit's output directory into one self-contained, interactive HTML page.

    It works offline: sortable, filterable items and annotators tables, who said what, per-class
    figures and, with --compare, every metric per method.
    """
    from emcrowd import console as terminal
    from emcrowd.html_report import write_report

    if out is not None and out.is_dir():
        raise EmcrowdError(f"{out}: --out needs a file name, not a directory")
    path = write_report(directory, out, compare, labels=labels)
    if not quiet:
        terminal.note(f"Report written to {path}")
