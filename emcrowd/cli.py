"""The ``emcrowd`` command line: thin Typer commands over the library.

Each command parses its options, calls the library, writes files through :mod:`emcrowd.io` and hands
results to :mod:`emcrowd.report` (stderr). Only machine-readable output (``--json``) goes to stdout.
Heavy modules (NumPy, SciPy, the models) are imported inside the commands so that ``--help`` is fast.

User errors (:class:`emcrowd.errors.EmcrowdError`) end with one line on stderr and exit status 2;
anything else is an internal error, exit status 1, with the traceback only under ``--debug``.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from emcrowd import __version__
from emcrowd.errors import EmcrowdError

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1

app = typer.Typer(
    name="emcrowd",
    help="Aggregate crowdsourced labels with GLAD (EM) and compare it with majority vote.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])
_state = {"debug": False}


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"emcrowd {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks for errors (for bug reports).")
    ] = False,
) -> None:
    """Aggregate crowdsourced labels with GLAD (EM) and compare it with majority vote."""
    _state["debug"] = debug


def _user_errors(func: F) -> F:
    """Turn user errors into one line and exit 2, and internal errors into a short message and exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from emcrowd import report

        try:
            return func(*args, **kwargs)
        except EmcrowdError as exc:
            if _state["debug"]:
                raise
            report.error(str(exc))
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            report.error("interrupted; no output was written")
            raise typer.Exit(130) from None
        except typer.Exit:
            raise
        except Exception as exc:
            if _state["debug"]:
                raise
            report.error(f"internal error ({type(exc).__name__}: {exc}); rerun with --debug and report it")
            raise typer.Exit(EXIT_INTERNAL_ERROR) from None

    return wrapper  # type: ignore[return-value]


# -- shared options ----------------------------------------------------------------------------------
LabelsArg = Annotated[
    Path,
    typer.Argument(
        help="Label matrix, items x annotators: .npy (NaN = no label) or .csv (optional header of "
        "annotator ids, empty cell = no label).",
        metavar="LABELS",
        show_default=False,
    ),
]
AlphaPrior = Annotated[
    str,
    typer.Option(
        "--alpha-prior",
        metavar="MEAN,SD",
        help="Gaussian prior on annotator ability alpha; a positive mean means 'better than chance'.",
    ),
]
BetaPrior = Annotated[
    str,
    typer.Option(
        "--beta-prior",
        metavar="MEAN,SD",
        help="Gaussian prior on log inverse difficulty b = log(beta); keeps unanimous items finite.",
    ),
]
Tol = Annotated[
    float, typer.Option("--tol", min=0.0, help="Stop when the objective's relative change is below this.")
]
MaxIter = Annotated[int, typer.Option("--max-iter", min=1, help="Most EM iterations.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only warnings and errors on stderr.")]


def _prior(option: str, name: str, text: str) -> tuple[float, float]:
    """Parse ``MEAN,SD`` and check it as the model will, naming the option in any error."""
    from emcrowd.models.glad import GaussianPrior

    try:
        mean, sd = (float(p) for p in text.split(","))
    except ValueError:
        raise EmcrowdError(f"{option} expects MEAN,SD (two numbers), got {text!r}") from None
    try:
        GaussianPrior(mean, sd, name)
    except EmcrowdError as exc:
        raise EmcrowdError(f"{option} {text}: {exc}") from None
    return mean, sd


def _glad_options(alpha_prior: str, beta_prior: str, tol: float, max_iter: int) -> dict[str, Any]:
    return {
        "alpha_prior": _prior("--alpha-prior", "alpha", alpha_prior),
        "beta_prior": _prior("--beta-prior", "beta", beta_prior),
        "tol": tol,
        "max_iter": max_iter,
    }


def _load(path: Path, quiet: bool) -> tuple[Any, float]:
    """Read the labels and say what was read; returns ``(Labels, seconds)``."""
    from emcrowd import io, report

    start = time.perf_counter()
    data = io.read_labels(path)
    seconds = time.perf_counter() - start
    if not quiet:
        report.data_summary(path, data, seconds)
    return data, seconds


# -- commands ----------------------------------------------------------------------------------------
@app.command()
@_user_errors
def fit(
    labels: LabelsArg,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output directory for posteriors.csv, items.csv, workers.csv and summary.json "
            "(default: ./<LABELS name>-emcrowd).",
            show_default=False,
        ),
    ] = None,
    alpha_prior: AlphaPrior = "1,1",
    beta_prior: BetaPrior = "1,1",
    tol: Tol = 1e-6,
    max_iter: MaxIter = 500,
    quiet: Quiet = False,
) -> None:
    """Fit GLAD and write posteriors, item and annotator estimates and a summary."""
    from emcrowd import __version__ as version
    from emcrowd import io, report
    from emcrowd.aggregate import aggregate, item_table, posterior_table, worker_table

    options = _glad_options(alpha_prior, beta_prior, tol, max_iter)
    data, load_seconds = _load(labels, quiet)
    result = aggregate(data, "glad", **options)
    out_dir = out if out is not None else Path(f"{labels.stem}-emcrowd")
    summary = {
        "emcrowd_version": version,
        "method": result.method,
        "input": str(labels),
        "n_items": data.n_items,
        "n_workers": data.n_workers,
        "n_labels": data.n_labels,
        "classes": list(data.class_names),
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in result.options.items()},
        "converged": result.converged,
        "n_iter": result.n_iter,
        "objective": result.history,
        "load_seconds": load_seconds,
        "fit_seconds": result.fit_seconds,
        "majority": {
            "n_ties": result.majority.n_ties,
            "n_unlabeled": result.majority.n_unlabeled,
            "n_differ": int((result.labels != result.majority.labels).sum()),
        },
        "warnings": result.warnings,
    }
    outputs = {
        "posteriors.csv": io.csv_text(posterior_table(data, result)),
        "items.csv": io.csv_text(item_table(data, result)),
        "workers.csv": io.csv_text(worker_table(data, result)),
        "summary.json": io.json_text(summary),
    }
    replaced = any((out_dir / name).exists() for name in outputs)
    files = io.write_outputs(out_dir, outputs, inputs=[labels])
    if quiet:
        for message in result.warnings:
            report.warning(message)
    else:
        report.fit_summary(data, result, out_dir, files, replaced=replaced)


@app.command()
@_user_errors
def compare(
    labels: LabelsArg,
    truth: Annotated[
        Path,
        typer.Option(
            "--truth",
            "-t",
            help="Gold labels aligned with the rows of LABELS: .npy vector or one-column .csv "
            "(NaN or empty = unknown).",
            show_default=False,
        ),
    ],
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the metrics as JSON on stdout (the table still goes to stderr)."),
    ] = False,
    alpha_prior: AlphaPrior = "1,1",
    beta_prior: BetaPrior = "1,1",
    tol: Tol = 1e-6,
    max_iter: MaxIter = 500,
    quiet: Quiet = False,
) -> None:
    """Score majority vote and GLAD against gold labels, side by side."""
    from emcrowd import io, report
    from emcrowd.evaluate import NoGoldError
    from emcrowd.evaluate import compare as compare_methods

    options = _glad_options(alpha_prior, beta_prior, tol, max_iter)
    data, _ = _load(labels, quiet)
    gold = io.read_truth(truth, data)
    try:
        metrics = compare_methods(data, gold, options=options)
    except NoGoldError as exc:
        raise EmcrowdError(f"{truth}: {exc}") from None
    metrics["labels_file"] = str(labels)
    metrics["truth_file"] = str(truth)
    if quiet:
        report.compare_warnings(metrics)
    else:
        report.compare_table(metrics, truth)
    if as_json:
        sys.stdout.write(json.dumps(metrics, indent=2) + "\n")


@app.command()
@_user_errors
def simulate(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output directory for L.npy, y.npy, alpha.npy, beta.npy.")
    ] = Path("simulated"),
    items: Annotated[int, typer.Option("--items", min=1, help="Number of items (rows).")] = 1000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Number of annotators (columns).")] = 20,
    labels_per_item: Annotated[
        int | None,
        typer.Option(
            "--labels-per-item",
            "-r",
            min=1,
            help="Distinct annotators per item, chosen at random (default: all, a dense matrix).",
            show_default=False,
        ),
    ] = None,
    classes: Annotated[int, typer.Option("--classes", min=2, help="Number of classes.")] = 2,
    alpha_mean: Annotated[float, typer.Option(help="Mean of the annotator abilities alpha.")] = 1.0,
    alpha_sd: Annotated[float, typer.Option(min=0.0, help="SD of alpha (larger: more adversaries).")] = 1.0,
    b_mean: Annotated[float, typer.Option(help="Mean of log inverse difficulty b = log(beta).")] = 0.0,
    b_sd: Annotated[float, typer.Option(min=0.0, help="SD of b.")] = 0.5,
    seed: Annotated[int, typer.Option(help="Random seed; the same options give the same files.")] = 0,
    quiet: Quiet = False,
) -> None:
    """Draw labels from the GLAD model: L.npy (items x annotators, NaN = no label), y.npy (truth)
    and the true alpha.npy and beta.npy."""
    import numpy as np

    from emcrowd import io, report
    from emcrowd.models.majority import majority_vote
    from emcrowd.simulate import simulate_glad

    if items * workers > 200_000_000:
        raise EmcrowdError(
            f"a dense {items:,} x {workers:,} matrix is too large for L.npy; use fewer items or annotators"
        )
    sim = simulate_glad(
        items,
        workers,
        labels_per_item=labels_per_item,
        n_classes=classes,
        alpha_mean=alpha_mean,
        alpha_sd=alpha_sd,
        b_mean=b_mean,
        b_sd=b_sd,
        seed=seed,
    )
    files = io.write_outputs(
        out,
        {
            "L.npy": sim.labels.to_matrix(),
            "y.npy": sim.truth.astype(np.float64),
            "alpha.npy": sim.alpha,
            "beta.npy": sim.beta,
        },
    )
    if not quiet:
        mv = majority_vote(sim.labels)
        report.simulate_summary(out, files, sim.labels, float((mv.labels == sim.truth).mean()))


def run() -> None:
    """Console-script entry point."""
    app()
