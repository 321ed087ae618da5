"""The option groups that several commands share, each declared once as a dataclass.

A group is a frozen dataclass whose fields are ``Annotated[type, typer.Option(...)]`` with a default.
A command asks for a group by declaring a parameter of that type::

    @option_groups
    def fit(labels: LabelsArg, *, inputs: InputOptions, model: ModelOptions, output: OutputOptions): ...

and :func:`option_groups` puts the group's fields into the signature Typer reads (in field order,
where the parameter stands) and hands the command one built dataclass per group. Adding a field to a
group adds the option to every command that uses the group; nothing else changes.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from emcrowd.cli._groups import option_groups
from emcrowd.cli._model_args import check_class_prior, model_kwargs
from emcrowd.cli.choices import Duplicates, Format, Preset, TableFormat, TieRule, bounded, finite

__all__ = [
    "INPUT",
    "MODEL",
    "MODEL_MORE",
    "Duplicates",
    "Format",
    "InputOptions",
    "JsonOpt",
    "LabelsArg",
    "ModelOptions",
    "OutputOptions",
    "Preset",
    "TableFormat",
    "TieRule",
    "check_class_prior",
    "file_column",
    "option_groups",
]

#: Rich help panels.
INPUT = "Input"
MODEL = "Model"
MODEL_MORE = "Model, rarely needed"

#: The largest --seed: NumPy's legacy seeds are 32-bit, and the same seed must mean the same run.
MAX_SEED = 2**32 - 1
#: The most EM starts: each is a whole fit; a thousand is already far beyond what changes a result.
MAX_N_INIT = 1000
#: The most EM iterations: more than any fit here needs (they converge in tens to a few thousand).
MAX_ITER = 1_000_000

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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")]


def file_column(option: str, what: str, file: str, panel: str | None = None) -> Any:
    """The type of an option naming a column of the truth or gold file itself."""
    return Annotated[
        str | None,
        typer.Option(
            option,
            metavar="COLUMN",
            help=f"The {what} column of the {file} file itself (default: the labels' column names, a "
            "platform's control answers, or the recognised names).",
            show_default=False,
            rich_help_panel=panel,
        ),
    ]


# -- the groups ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputOptions:
    """How LABELS (and the truth and gold files, for the column names and missing values) are read."""

    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            help="How to read a .csv/.tsv: 'long' (one row per label), 'matrix', or 'auto' (long when "
            "the header names two of the item, worker and label columns).",
            rich_help_panel=INPUT,
        ),
    ] = Format.auto
    item_col: Annotated[
        str | None,
        typer.Option(
            "--item-col",
            help="Item column of a long file (default: item, task, question, example or object).",
            show_default=False,
            rich_help_panel=INPUT,
        ),
    ] = None
    worker_col: Annotated[
        str | None,
        typer.Option(
            "--worker-col",
            help="Worker column of a long file (default: worker, annotator, labeler, rater or user).",
            show_default=False,
            rich_help_panel=INPUT,
        ),
    ] = None
    label_col: Annotated[
        str | None,
        typer.Option(
            "--label-col",
            help="Label column of a long file (default: label, answer, response or value).",
            show_default=False,
            rich_help_panel=INPUT,
        ),
    ] = None
    classes: Annotated[
        str | None,
        typer.Option(
            "--classes",
            metavar="A,B,...",
            help="Declare the classes and their order (and classes that never occur); other labels are "
            "an error. Default: the labels seen, numeric order if all are numbers, else alphabetical.",
            show_default=False,
            rich_help_panel=INPUT,
        ),
    ] = None
    missing: Annotated[
        list[str] | None,
        typer.Option(
            "--missing",
            metavar="VALUE",
            help="An answer that means 'no label' (repeatable); replaces the default na, n/a, null. "
            "Empty answers and nan are always missing. Missing labels are skipped and counted.",
            show_default=False,
            rich_help_panel=INPUT,
        ),
    ] = None
    duplicates: Annotated[
        Duplicates,
        typer.Option(
            "--duplicates",
            help="A worker labelling the same item twice: keep every label as a vote, keep the first or "
            "the last, or stop with an error. The count is always reported.",
            rich_help_panel=INPUT,
        ),
    ] = Duplicates.keep
    preset: Annotated[
        Preset | None,
        typer.Option(
            "--preset",
            metavar="PLATFORM",
            help="Read LABELS as this platform's export: toloka (TSV), mturk (batch results CSV), "
            "label-studio (JSON export), crowd-kit (task,worker,label), gal (Get-Another-Label's "
            "headerless worker, item, label). Default: recognised from the header or the document.",
            show_default=False,
            rich_help_panel=INPUT,
        ),
    ] = None
    keep_rejected: Annotated[
        bool,
        typer.Option(
            "--keep-rejected",
            help="Keep the labels of assignments a Toloka or Mechanical Turk export marks as rejected "
            "(dropped by default).",
            rich_help_panel=INPUT,
        ),
    ] = False


@dataclass(frozen=True)
class ModelOptions:
    """Every model option (each method takes the ones its model accepts), and the gold labels."""

    class_prior: Annotated[
        str | None,
        typer.Option(
            "--class-prior",
            metavar="P1,P2,...",
            help="Prior probability of each true class, in class order (default: uniform): fixed, or "
            "where --learn-class-prior starts.",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None
    learn_class_prior: Annotated[
        bool,
        typer.Option(
            "--learn-class-prior",
            help="Estimate the class prior from the data (MAP, Dirichlet prior). Default: learned for "
            "Dawid-Skene, fixed for GLAD and one-coin.",
            rich_help_panel=MODEL,
        ),
    ] = False
    fixed_class_prior: Annotated[
        bool,
        typer.Option(
            "--fixed-class-prior",
            help="Keep the class prior fixed (also for Dawid-Skene).",
            rich_help_panel=MODEL,
        ),
    ] = False
    gold: Annotated[
        Path | None,
        typer.Option(
            "--gold",
            help="Known labels (same forms as --truth) clamped during the fit: they teach the model about "
            "the annotators. compare then scores only the other items.",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            metavar="N",
            callback=bounded(0, MAX_SEED),
            help="Seed of the perturbed starts, random tie-breaking and the bootstrap (0 to 2**32-1).",
            rich_help_panel=MODEL,
        ),
    ] = 0
    alpha_prior: Annotated[
        str,
        typer.Option(
            "--alpha-prior",
            metavar="MEAN,SD",
            help="Gaussian prior on annotator ability alpha; a positive mean means 'better than chance'.",
            rich_help_panel=MODEL_MORE,
        ),
    ] = "1,1"
    beta_prior: Annotated[
        str,
        typer.Option(
            "--beta-prior",
            metavar="MEAN,SD",
            help="Gaussian prior on log inverse difficulty b = log(beta); keeps unanimous items finite.",
            rich_help_panel=MODEL_MORE,
        ),
    ] = "1,1"
    class_pseudocount: Annotated[
        float,
        typer.Option(
            "--class-pseudocount",
            metavar="X",
            callback=finite(0.0),
            help="With --learn-class-prior: pseudo-items added to every class, so no class gets "
            "probability 0.",
            rich_help_panel=MODEL_MORE,
        ),
    ] = 1.0
    smoothing: Annotated[
        float,
        typer.Option(
            "--smoothing",
            metavar="X",
            callback=finite(0.0),
            help="Dawid-Skene and one-coin: pseudo-count added to every confusion cell (every right/wrong "
            "count), so one surprising label cannot rule a class out.",
            rich_help_panel=MODEL_MORE,
        ),
    ] = 0.01
    gold_item_col: file_column("--gold-item-col", "item", "gold", MODEL_MORE) = None
    gold_label_col: file_column("--gold-label-col", "known label", "gold", MODEL_MORE) = None
    n_init: Annotated[
        int | None,
        typer.Option(
            "--n-init",
            metavar="N",
            callback=bounded(1, MAX_N_INIT),
            help="Number of EM starts (the first from majority vote, the rest perturbed); the best "
            f"objective wins, at most {MAX_N_INIT}. Default: each model's own (1; EBCC several, as its "
            "authors recommend).",
            show_default=False,
            rich_help_panel=MODEL_MORE,
        ),
    ] = None
    ties: Annotated[
        TieRule,
        typer.Option(
            "--ties",
            help="Majority vote's tie rule: the lowest class, or a random one among the tied (with --seed).",
            rich_help_panel=MODEL_MORE,
        ),
    ] = TieRule.lowest
    tol: Annotated[
        float,
        typer.Option(
            "--tol",
            metavar="X",
            callback=finite(0.0, exclusive=True),
            help="Stop when the objective's relative change is below this (> 0).",
            rich_help_panel=MODEL_MORE,
        ),
    ] = 1e-6
    max_iter: Annotated[
        int,
        typer.Option(
            "--max-iter",
            metavar="N",
            callback=bounded(1, MAX_ITER),
            help=f"Most EM iterations (at most {MAX_ITER:,}).",
            rich_help_panel=MODEL_MORE,
        ),
    ] = 500

    def as_kwargs(self) -> dict[str, Any]:
        """The model options, checked, as the keyword arguments of the models (see
        :func:`emcrowd.evaluate.model_options`); raises :class:`EmcrowdError` naming the option."""
        return model_kwargs(self)


@dataclass(frozen=True)
class OutputOptions:
    """What a command says on stderr."""

    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only warnings and errors on stderr.")
    ] = False
