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
import os
import sys
from collections.abc import Callable, Iterable
from enum import Enum
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
INPUT = "Input"
MODEL = "Model"


class Format(str, Enum):
    auto = "auto"
    matrix = "matrix"
    long = "long"


class OutFormat(str, Enum):
    npy = "npy"
    npz = "npz"


class TableFormat(str, Enum):
    csv = "csv"
    parquet = "parquet"


class TieRule(str, Enum):
    lowest = "lowest"
    random = "random"


class Duplicates(str, Enum):
    keep = "keep"
    first = "first"
    last = "last"
    error = "error"


LabelsArg = Annotated[
    Path,
    typer.Argument(
        help="Crowd labels: an items x annotators matrix (.npy with NaN = no label, or .csv/.tsv), or "
        "one row per label (item, worker, label columns) in .csv/.tsv (also .gz, .bz2, .zst), Parquet "
        "(a file or a directory), JSON Lines or JSON; a platform's export (see --preset); .npz code "
        "arrays. '-' reads CSV from stdin.",
        metavar="LABELS",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    Format,
    typer.Option(
        "--format",
        help="How to read a .csv/.tsv: 'long' (one row per label), 'matrix', or 'auto' (long when the "
        "header names two of the item, worker and label columns).",
        rich_help_panel=INPUT,
    ),
]
ItemCol = Annotated[
    str | None,
    typer.Option(
        "--item-col",
        help="Item column of a long file (default: item, task, question, example or object).",
        show_default=False,
        rich_help_panel=INPUT,
    ),
]
WorkerCol = Annotated[
    str | None,
    typer.Option(
        "--worker-col",
        help="Worker column of a long file (default: worker, annotator, labeler, rater or user).",
        show_default=False,
        rich_help_panel=INPUT,
    ),
]
LabelCol = Annotated[
    str | None,
    typer.Option(
        "--label-col",
        help="Label column of a long file (default: label, answer, response or value).",
        show_default=False,
        rich_help_panel=INPUT,
    ),
]
ClassesOpt = Annotated[
    str | None,
    typer.Option(
        "--classes",
        metavar="A,B,...",
        help="Declare the classes and their order (and classes that never occur); other labels are an "
        "error. Default: the labels seen, numeric order if all are numbers, else alphabetical.",
        show_default=False,
        rich_help_panel=INPUT,
    ),
]
MissingOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--missing",
        metavar="VALUE",
        help="An answer that means 'no label' (repeatable); replaces the default na, n/a, null. "
        "Empty answers and nan are always missing. Missing labels are skipped and counted.",
        show_default=False,
        rich_help_panel=INPUT,
    ),
]
DuplicatesOpt = Annotated[
    Duplicates,
    typer.Option(
        "--duplicates",
        help="A worker labelling the same item twice: keep every label as a vote, keep the first or the "
        "last, or stop with an error. The count is always reported.",
        rich_help_panel=INPUT,
    ),
]
# Input options that only the loading helpers read (_load, _truth): each remembers its value when
# Click parses it (every option's callback runs on every invocation, given or not), so commands declare
# them without passing them on.
_inputs: dict[str, Any] = {}


def _remember(key: str) -> Callable[[Any], Any]:
    def callback(value: Any) -> Any:
        _inputs[key] = value.value if isinstance(value, Enum) else value
        return value

    return callback


class Preset(str, Enum):
    toloka = "toloka"
    mturk = "mturk"
    label_studio = "label-studio"
    crowd_kit = "crowd-kit"
    gal = "gal"


PresetOpt = Annotated[
    Preset | None,
    typer.Option(
        "--preset",
        help="Read LABELS as this platform's export: toloka (TSV), mturk (batch results CSV), "
        "label-studio (JSON export), crowd-kit (task,worker,label), gal (Get-Another-Label's headerless "
        "worker, item, label). Default: recognised from the header or the document.",
        show_default=False,
        callback=_remember("preset"),
        rich_help_panel=INPUT,
    ),
]
KeepRejected = Annotated[
    bool,
    typer.Option(
        "--keep-rejected",
        help="Keep the labels of assignments a Toloka or Mechanical Turk export marks as rejected "
        "(dropped by default).",
        callback=_remember("keep_rejected"),
        rich_help_panel=INPUT,
    ),
]


def _file_column(option: str, key: str, what: str) -> Any:
    return Annotated[
        str | None,
        typer.Option(
            option,
            metavar="COLUMN",
            help=f"The {what} column of the {key.split('_')[0]} file itself (default: the labels' "
            "column names, a platform's control answers, or the recognised names).",
            show_default=False,
            callback=_remember(key),
            rich_help_panel=INPUT,
        ),
    ]


OutTableFormat = Annotated[
    TableFormat,
    typer.Option(
        "--out-format",
        help="Format of posteriors, items and workers: csv, or parquet (smaller and faster to read back).",
        callback=_remember("out_format"),
    ),
]
TruthItemCol = _file_column("--truth-item-col", "truth_item_col", "item")
TruthLabelCol = _file_column("--truth-label-col", "truth_label_col", "gold label")
GoldItemCol = _file_column("--gold-item-col", "gold_item_col", "item")
GoldLabelCol = _file_column("--gold-label-col", "gold_label_col", "known label")
AlphaPrior = Annotated[
    str,
    typer.Option(
        "--alpha-prior",
        metavar="MEAN,SD",
        help="Gaussian prior on annotator ability alpha; a positive mean means 'better than chance'.",
        rich_help_panel=MODEL,
    ),
]
BetaPrior = Annotated[
    str,
    typer.Option(
        "--beta-prior",
        metavar="MEAN,SD",
        help="Gaussian prior on log inverse difficulty b = log(beta); keeps unanimous items finite.",
        rich_help_panel=MODEL,
    ),
]
Tol = Annotated[
    float,
    typer.Option(
        "--tol",
        min=0.0,
        help="Stop when the objective's relative change is below this.",
        rich_help_panel=MODEL,
    ),
]
MaxIter = Annotated[int, typer.Option("--max-iter", min=1, help="Most EM iterations.", rich_help_panel=MODEL)]
ClassPrior = Annotated[
    str | None,
    typer.Option(
        "--class-prior",
        metavar="P1,P2,...",
        help="Prior probability of each true class, in class order (default: uniform). Fixed, or the "
        "starting point with --learn-class-prior.",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]
LearnClassPrior = Annotated[
    bool | None,
    typer.Option(
        "--learn-class-prior/--fixed-class-prior",
        help="Estimate the class prior from the data (MAP, Dirichlet prior), or keep it fixed. "
        "Default: learned for Dawid-Skene, fixed for GLAD and one-coin.",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]
Smoothing = Annotated[
    float,
    typer.Option(
        "--smoothing",
        min=0.0,
        help="Dawid-Skene and one-coin: pseudo-count added to every confusion cell (every right/wrong "
        "count), so one surprising label cannot rule a class out.",
        rich_help_panel=MODEL,
    ),
]
Ties = Annotated[
    TieRule,
    typer.Option(
        "--ties",
        help="Majority vote's tie rule: the lowest class, or a random one among the tied (with --seed).",
        rich_help_panel=MODEL,
    ),
]
ClassPseudocount = Annotated[
    float,
    typer.Option(
        "--class-pseudocount",
        min=0.0,
        help="With --learn-class-prior: pseudo-items added to every class, so no class gets probability 0.",
        rich_help_panel=MODEL,
    ),
]
GoldOpt = Annotated[
    Path | None,
    typer.Option(
        "--gold",
        help="Known labels (same forms as --truth) clamped during the fit: they teach the model about "
        "the annotators. compare then scores only the other items.",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]
NInit = Annotated[
    int | None,
    typer.Option(
        "--n-init",
        min=1,
        help="Number of EM starts (the first from majority vote, the rest perturbed); the best "
        "objective wins. Default: each model's own (1; EBCC several, as its authors recommend).",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed",
        help="Seed of the perturbed starts, random tie-breaking and the bootstrap.",
        rich_help_panel=MODEL,
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only warnings and errors on stderr.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")]


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


def _model_options(
    alpha_prior: str,
    beta_prior: str,
    tol: float,
    max_iter: int,
    class_prior: str | None,
    learn_class_prior: bool | None,
    class_pseudocount: float,
    smoothing: float,
    n_init: int | None,
    seed: int,
) -> dict[str, Any]:
    """Every model option, checked; each method later takes the ones its model accepts."""
    prior = None
    if class_prior is not None:
        try:
            prior = [float(p) for p in class_prior.split(",")]
        except ValueError:
            raise EmcrowdError(
                f"--class-prior expects numbers separated by commas, got {class_prior!r}"
            ) from None
        if any(not (p > 0 and p != float("inf")) for p in prior):
            raise EmcrowdError(f"--class-prior needs positive, finite numbers, got {class_prior!r}")
    options = {
        "alpha_prior": _prior("--alpha-prior", "alpha", alpha_prior),
        "beta_prior": _prior("--beta-prior", "beta", beta_prior),
        "tol": tol,
        "max_iter": max_iter,
        "class_prior": prior,
        "class_pseudocount": class_pseudocount,
        "smoothing": smoothing,
        "random_state": seed,
    }
    if n_init is not None:  # else each model keeps its own default
        options["n_init"] = n_init
    if learn_class_prior is not None:
        options["learn_class_prior"] = learn_class_prior
    return options


def _check_class_prior(options: dict[str, Any], n_classes: int) -> None:
    prior = options["class_prior"]
    if prior is not None and len(prior) != n_classes:
        raise EmcrowdError(f"--class-prior has {len(prior)} numbers but the labels have {n_classes} classes")


def _truth(
    path: Path,
    loaded: Any,
    missing: list[str] | None,
    item_col: str | None,
    label_col: str | None,
    kind: str = "truth",
) -> Any:
    """Gold labels (``kind`` ``truth`` for --truth, ``gold`` for --gold) for the loaded items, by id or
    (for a matrix) aligned, with the file's own column options; returns ``io.Truth``."""
    from emcrowd import io

    if str(path) == "-":
        raise EmcrowdError(f"{path}: only LABELS can be read from standard input; give the truth as a file")
    return io.load_truth(
        path,
        loaded.labels,
        allow_aligned=loaded.report.format in ("matrix", "npz"),
        missing=missing,
        item_col=item_col,
        label_col=label_col,
        own_item_col=_inputs.get(f"{kind}_item_col"),
        own_label_col=_inputs.get(f"{kind}_label_col"),
    )


def _gold_codes(
    gold: Path | None, loaded: Any, missing: list[str] | None, item_col: str | None, label_col: str | None
) -> Any:
    from emcrowd import report

    if gold is None:
        return None
    known = _truth(gold, loaded, missing, item_col, label_col, kind="gold")
    if known.n_unknown_items:
        report.note(
            f"Note: {known.n_unknown_items:,} --gold items are not among the labelled items; ignored."
        )
    return known.codes


def _load(
    path: Path,
    fmt: Format,
    item_col: str | None,
    worker_col: str | None,
    label_col: str | None,
    classes: str | None,
    missing: list[str] | None,
    duplicates: Duplicates,
    quiet: bool,
) -> Any:
    """Read the labels with the input options and, unless quiet, describe them; returns ``Loaded``."""
    from emcrowd import io, report

    with report.read_progress(not quiet, path) as progress:
        loaded = io.load_labels(
            path,
            format=fmt.value,
            item_col=item_col,
            worker_col=worker_col,
            label_col=label_col,
            classes=classes,
            missing=missing,
            duplicates=duplicates.value,
            preset=_inputs.get("preset"),
            keep_rejected=bool(_inputs.get("keep_rejected")),
            progress=progress,
        )
    if quiet:
        report.load_warnings(loaded)
    else:
        report.data_summary(loaded)
    return loaded


def _table_files(tables: dict[str, Any], quiet: bool) -> dict[str, Any]:
    """The output tables as files in the --out-format (CSV or Parquet), written through Arrow."""
    from emcrowd import io, report

    fmt = _inputs.get("out_format") or "csv"
    out = {}
    for stem, table in tables.items():
        name = f"{stem}.{fmt}"
        out[name] = io.TableFile(table, fmt, progress=report.write_progress(name, table, not quiet))
    return out


def _write_stdout(chunks: Iterable[str]) -> None:
    """Write text to stdout as it is made. A reader that stops early (``| head``) ends the command
    quietly, as it always has; an interrupt says that the output is incomplete."""
    try:
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that Python's own flush at exit does not fail
        raise typer.Exit(0) from None
    except KeyboardInterrupt:
        from emcrowd import report

        report.error("interrupted; the CSV written to stdout is incomplete")
        raise typer.Exit(130) from None


def _peak_memory_mb() -> float | None:
    """Peak resident memory of this process so far, in MB (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _other_method_hint(data: Any, labels: Path, gold_codes: Any, options: dict[str, Any]) -> None:
    """For a fit with the default method: one line when another model predicts held-out labels much
    better (a cheap check on one fold of a subset; see :func:`emcrowd.selection.better_than_default`).
    The fit is done and written by then: a check that fails says nothing."""
    from emcrowd import report
    from emcrowd.evaluate import model_options
    from emcrowd.selection import better_than_default

    try:
        found = better_than_default(
            data,
            options=model_options("auto", options),
            gold=gold_codes,
            random_state=options["random_state"],
        )
    except EmcrowdError:
        return
    if found is not None:
        other, theirs, mine = found
        report.note(
            f"Note: {report.METHOD_TITLES.get(other, other)} predicts held-out labels much better than "
            f"GLAD here ({theirs.score:.3f} against {mine.score:.3f} nats per label); to let emcrowd "
            f"choose: emcrowd fit {labels} --method auto"
        )


def _default_out(labels: Path) -> Path:
    return Path("stdin-emcrowd" if str(labels) == "-" else f"{labels.stem}-emcrowd")


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
            help="Output directory for posteriors.csv, items.csv, workers.csv (or .parquet) and summary.json "
            "(default: ./<LABELS name>-emcrowd). '-' prints item,label,confidence CSV on stdout instead.",
            show_default=False,
        ),
    ] = None,
    out_format: OutTableFormat = TableFormat.csv,
    fmt: FormatOpt = Format.auto,
    item_col: ItemCol = None,
    worker_col: WorkerCol = None,
    label_col: LabelCol = None,
    classes: ClassesOpt = None,
    missing: MissingOpt = None,
    duplicates: DuplicatesOpt = Duplicates.keep,
    preset: PresetOpt = None,
    keep_rejected: KeepRejected = False,
    alpha_prior: AlphaPrior = "1,1",
    beta_prior: BetaPrior = "1,1",
    class_prior: ClassPrior = None,
    learn_class_prior: LearnClassPrior = None,
    class_pseudocount: ClassPseudocount = 1.0,
    smoothing: Smoothing = 0.01,
    gold: GoldOpt = None,
    gold_item_col: GoldItemCol = None,
    gold_label_col: GoldLabelCol = None,
    n_init: NInit = None,
    seed: Seed = 0,
    ties: Ties = TieRule.lowest,
    tol: Tol = 1e-6,
    max_iter: MaxIter = 500,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            "-m",
            help="glad (item difficulty and annotator ability; the default), dawid-skene (a confusion "
            "matrix per annotator), bayesian-ds (Dawid-Skene with priors learned from the crowd), ebcc "
            "(classes with subtypes, for correlated annotators), one-coin (one accuracy per annotator), "
            "majority, or auto (the model that best predicts held-out labels; no gold used).",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Aggregate the labels (GLAD by default) and write posteriors, item and annotator estimates and a
    summary."""
    from emcrowd import io, report
    from emcrowd.aggregate import (
        aggregate,
        fit_record,
        item_table,
        label_table,
        method_name,
        posterior_table,
        worker_table,
    )
    from emcrowd.evaluate import model_options

    default_method = method is None
    method = method_name("glad" if method is None else method)

    options = _model_options(
        alpha_prior,
        beta_prior,
        tol,
        max_iter,
        class_prior,
        learn_class_prior,
        class_pseudocount,
        smoothing,
        n_init,
        seed,
    )
    loaded = _load(labels, fmt, item_col, worker_col, label_col, classes, missing, duplicates, quiet)
    data = loaded.labels
    _check_class_prior(options, data.n_classes)
    gold_codes = _gold_codes(gold, loaded, missing, item_col, label_col)
    if gold_codes is not None and method == "majority":
        report.warning("majority vote does not use --gold; the gold column in items.csv is for reference")
    with report.fit_progress(not quiet, report.METHOD_TITLES.get(method, method)) as progress:
        result = aggregate(
            data,
            method,
            gold=gold_codes,
            ties=ties.value,
            callback=progress,
            **model_options(method, options),
        )
    hint = default_method and not quiet  # after the outputs are written: a cheap extra check
    if out is not None and str(out) == "-":
        _write_stdout(io.csv_chunks(label_table(data, result)))
        report.fit_summary(data, result, None, [], quiet=quiet)
        if hint:
            _other_method_hint(data, labels, gold_codes, options)
        return
    out_dir = out if out is not None else _default_out(labels)
    outputs = {
        **_table_files(
            {
                "posteriors": posterior_table(data, result),
                "items": item_table(data, result, gold_codes),
                "workers": worker_table(data, result),
            },
            quiet,
        ),
        "summary.json": io.json_text(fit_record(data, result, loaded.report, _peak_memory_mb())),
    }
    replaced = any((out_dir / name).exists() for name in outputs)
    inputs = [p for p in (labels, gold) if p is not None and str(p) != "-"]
    files = io.write_outputs(out_dir, outputs, inputs=inputs)
    report.fit_summary(data, result, out_dir, files, replaced=replaced, quiet=quiet)
    if hint:
        _other_method_hint(data, labels, gold_codes, options)


@app.command()
@_user_errors
def compare(
    labels: LabelsArg,
    truth: Annotated[
        Path,
        typer.Option(
            "--truth",
            "-t",
            help="Gold labels: a table with item and label columns (ids matched to LABELS; .csv/.tsv, "
            "Parquet, JSON; columns named by --truth-item-col/--truth-label-col), a platform export's "
            "control answers (the LABELS file itself will do), or, for a label matrix, a .npy vector or "
            "one-column .csv aligned with its rows (NaN/empty = unknown).",
            show_default=False,
        ),
    ],
    truth_item_col: TruthItemCol = None,
    truth_label_col: TruthLabelCol = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the metrics as JSON on stdout (the table still goes to stderr)."),
    ] = False,
    fmt: FormatOpt = Format.auto,
    item_col: ItemCol = None,
    worker_col: WorkerCol = None,
    label_col: LabelCol = None,
    classes: ClassesOpt = None,
    missing: MissingOpt = None,
    duplicates: DuplicatesOpt = Duplicates.keep,
    preset: PresetOpt = None,
    keep_rejected: KeepRejected = False,
    alpha_prior: AlphaPrior = "1,1",
    beta_prior: BetaPrior = "1,1",
    class_prior: ClassPrior = None,
    learn_class_prior: LearnClassPrior = None,
    class_pseudocount: ClassPseudocount = 1.0,
    smoothing: Smoothing = 0.01,
    gold: GoldOpt = None,
    gold_item_col: GoldItemCol = None,
    gold_label_col: GoldLabelCol = None,
    n_init: NInit = None,
    seed: Seed = 0,
    ties: Ties = TieRule.lowest,
    tol: Tol = 1e-6,
    max_iter: MaxIter = 500,
    methods: Annotated[
        str,
        typer.Option(
            "--methods",
            metavar="M1,M2,...",
            help="Methods to compare: majority, glad, dawid-skene, bayesian-ds, ebcc, one-coin, auto "
            "(majority vote always runs; auto chooses without looking at the truth; ebcc, with its "
            "restarts the slowest by far, only when named).",
        ),
    ] = "majority,glad,dawid-skene,one-coin,bayesian-ds,auto",
    confusion: Annotated[
        bool, typer.Option("--confusion", help="Also print each method's confusion matrix (truth x answer).")
    ] = False,
    disagreements: Annotated[
        int,
        typer.Option(
            "--disagreements",
            min=0,
            metavar="N",
            help="List up to N gold items where GLAD and majority vote disagree, and who was right.",
        ),
    ] = 0,
    report_file: Annotated[
        Path | None,
        typer.Option("--report", metavar="FILE.json", help="Also write the JSON metrics to this file."),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Score majority vote, GLAD, Dawid-Skene and one-coin against gold labels, side by side."""
    from emcrowd import io, report
    from emcrowd.aggregate import method_name
    from emcrowd.evaluate import NoGoldError
    from emcrowd.evaluate import compare as compare_methods

    chosen = [method_name(m) for m in methods.split(",") if m.strip()]
    if not chosen:
        raise EmcrowdError("--methods names no method; give e.g. glad,dawid-skene")
    if report_file is not None and report_file.is_dir():
        raise EmcrowdError(f"{report_file}: --report needs a file name, not a directory")

    options = _model_options(
        alpha_prior,
        beta_prior,
        tol,
        max_iter,
        class_prior,
        learn_class_prior,
        class_pseudocount,
        smoothing,
        n_init,
        seed,
    )
    loaded = _load(labels, fmt, item_col, worker_col, label_col, classes, missing, duplicates, quiet)
    data = loaded.labels
    _check_class_prior(options, data.n_classes)
    reference = _truth(truth, loaded, missing, item_col, label_col)
    gold_codes = _gold_codes(gold, loaded, missing, item_col, label_col)
    try:
        with report.fit_progress(not quiet) as progress:
            metrics = compare_methods(
                data,
                reference.codes,
                methods=chosen,
                gold=gold_codes,
                options=options,
                ties=ties.value,
                seed=seed,
                disagreements=disagreements,
                callback=progress,
            )
    except NoGoldError as exc:
        raise EmcrowdError(f"{truth}: {exc}") from None
    metrics["n_gold_unknown_items"] = reference.n_unknown_items
    metrics["labels_file"] = loaded.report.source
    metrics["truth_file"] = str(truth)
    text = json.dumps(metrics, indent=2) + "\n"
    if report_file is not None:
        io.write_outputs(report_file.parent, {report_file.name: text}, inputs=[labels, truth])
    if quiet:
        report.compare_warnings(metrics)
    else:
        report.compare_table(metrics, truth, confusion=confusion)
    if as_json:
        sys.stdout.write(text)


@app.command()
@_user_errors
def info(
    labels: LabelsArg,
    as_json: JsonOpt = False,
    fmt: FormatOpt = Format.auto,
    item_col: ItemCol = None,
    worker_col: WorkerCol = None,
    label_col: LabelCol = None,
    classes: ClassesOpt = None,
    missing: MissingOpt = None,
    duplicates: DuplicatesOpt = Duplicates.keep,
    preset: PresetOpt = None,
    keep_rejected: KeepRejected = False,
) -> None:
    """Describe the labels (sizes, classes, labels per item and worker, missing and repeated labels)
    without fitting anything."""
    loaded = _load(labels, fmt, item_col, worker_col, label_col, classes, missing, duplicates, quiet=False)
    if as_json:
        record = {"source": loaded.report.to_dict(), **loaded.labels.describe()}
        sys.stdout.write(json.dumps(record, indent=2) + "\n")


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
    out_format: Annotated[
        OutFormat,
        typer.Option(
            "--format",
            help="npy: the labels as a dense L.npy matrix; npz: as labels.npz code arrays (fast to read, "
            "no matrix: for millions of labels).",
        ),
    ] = OutFormat.npy,
    quiet: Quiet = False,
) -> None:
    """Draw labels from the GLAD model: L.npy (items x annotators, NaN = no label) or labels.npz,
    y.npy (truth) and the true alpha.npy and beta.npy."""
    import numpy as np

    from emcrowd import io, report
    from emcrowd.models.majority import majority_vote
    from emcrowd.simulate import simulate_glad

    if out_format is OutFormat.npy and items * workers > 200_000_000:
        raise EmcrowdError(f"a dense {items:,} x {workers:,} matrix is too large for L.npy; use --format npz")
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
            **(
                {"L.npy": sim.labels.to_matrix()}
                if out_format is OutFormat.npy
                else {"labels.npz": io.labels_npz(sim.labels)}
            ),
            "y.npy": sim.truth.astype(np.float64),
            "alpha.npy": sim.alpha,
            "beta.npy": sim.beta,
        },
    )
    if not quiet:
        mv = majority_vote(sim.labels)
        report.simulate_summary(out, files, sim.labels, float((mv.labels == sim.truth).mean()))


@app.command()
@_user_errors
def convert(
    labels: LabelsArg,
    out: Annotated[
        Path, typer.Argument(help="The .npz file to write.", metavar="OUT.npz", show_default=False)
    ],
    fmt: FormatOpt = Format.auto,
    item_col: ItemCol = None,
    worker_col: WorkerCol = None,
    label_col: LabelCol = None,
    classes: ClassesOpt = None,
    missing: MissingOpt = None,
    duplicates: DuplicatesOpt = Duplicates.keep,
    preset: PresetOpt = None,
    keep_rejected: KeepRejected = False,
    quiet: Quiet = False,
) -> None:
    """Read labels once (with the input options) and save them as .npz code arrays, which every command
    reads in a fraction of the time a large CSV takes."""
    from emcrowd import io, report

    if out.suffix.lower() != ".npz":
        raise EmcrowdError(f"{out}: the output of convert must end in .npz")
    loaded = _load(labels, fmt, item_col, worker_col, label_col, classes, missing, duplicates, quiet)
    inputs = [] if str(labels) == "-" else [labels]
    files = io.write_outputs(out.parent, {out.name: io.labels_npz(loaded.labels)}, inputs=inputs)
    if not quiet:
        report.note(f"Wrote {files[0]} ({loaded.labels.n_labels:,} labels)")


def _deferred_class(module: str, name: str) -> type:
    """A stand-in for class ``module.name`` whose module is not imported yet: a class (so it can sit in
    type annotations) whose instantiation, or any public attribute, imports the real class and hands
    over to it."""
    import importlib

    class Deferred(type):
        def _real(cls) -> Any:
            return getattr(importlib.import_module(module), name)

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            return cls._real()(*args, **kwargs)

        def __getattr__(cls, attr: str) -> Any:
            if attr.startswith("__"):  # typing and inspect probe dunders: not the real class's business
                raise AttributeError(attr)
            return getattr(cls._real(), attr)

    return Deferred(name, (), {})


#: Modules that Typer's help renderer imports for features emcrowd does not use: Markdown help text
#: (emcrowd's uses Rich markup) and pretty tracebacks (disabled). With markdown-it and Pygments
#: behind them, they are about 70 ms of a 0.25 s ``emcrowd --help``.
_UNUSED_BY_HELP = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


def _help_renderer_without_markdown() -> None:
    """Import Typer's help renderer (``typer.rich_utils``) without :data:`_UNUSED_BY_HELP`.

    While it is imported, each of those modules is a stand-in holding a :func:`_deferred_class`;
    right after, the stand-ins are gone, so any later import gets the real module, and Typer's
    references import the real classes if they are ever used.
    """
    if "typer.rich_utils" in sys.modules or any(name in sys.modules for name in _UNUSED_BY_HELP):
        return
    import types

    stand_ins = {}
    for module, name in _UNUSED_BY_HELP.items():
        stand_ins[module] = types.ModuleType(module)
        setattr(stand_ins[module], name, _deferred_class(module, name))
    sys.modules.update(stand_ins)
    try:
        import typer.rich_utils  # noqa: F401
    except ImportError:  # a Typer or Rich that needs more of these modules: Typer imports it normally
        sys.modules.pop("typer.rich_utils", None)
    finally:
        for module, stand_in in stand_ins.items():
            if sys.modules.get(module) is stand_in:
                del sys.modules[module]


def run() -> None:
    """Console-script entry point: like ``app()``, but a usage error (a bad option value, a missing
    argument) is one line on stderr and exit status 2 too, like every other user error."""
    import click

    if len(sys.argv) < 2 or any(arg in ("--help", "-h") for arg in sys.argv[1:]):
        _help_renderer_without_markdown()
    try:
        status = app(standalone_mode=False)
    except click.UsageError as exc:
        from emcrowd import report

        message = exc.format_message().strip()
        if message:  # (no message: the help was asked for by giving no arguments, and is shown)
            command = exc.ctx.command_path if exc.ctx is not None else "emcrowd"
            report.error(f"{message} (see '{command} --help')")
        sys.exit(EXIT_USER_ERROR)
    except click.Abort:
        from emcrowd import report

        report.error("interrupted; no output was written")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(status if isinstance(status, int) else 0)
