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
from typing import Annotated

import typer

from emcrowd.cli._groups import option_groups
from emcrowd.cli._model_args import check_class_prior
from emcrowd.cli._model_group import (
    INPUT,
    MAX_ITER,
    MAX_N_INIT,
    MAX_SEED,
    MODEL,
    MODEL_MORE,
    ModelOptions,
    file_column,
)
from emcrowd.cli.choices import Duplicates, Format, Preset, TableFormat, TieRule

__all__ = [
    "INPUT",
    "MAX_ITER",
    "MAX_N_INIT",
    "MAX_SEED",
    "MODEL",
    "MODEL_MORE",
    "CsvSafeOpt",
    "Duplicates",
    "Format",
    "InputOptions",
    "JsonOpt",
    "LabelsArg",
    "ModelOptions",
    "MultiLabelOptions",
    "OutputOptions",
    "Preset",
    "TableFormat",
    "TieRule",
    "check_class_prior",
    "file_column",
    "option_groups",
]

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
CsvSafeOpt = Annotated[
    bool,
    typer.Option(
        "--csv-safe",
        help="For opening the CSV outputs in a spreadsheet: put a ' before every text cell (an id, a class "
        "name) that starts with =, +, -, @, a tab or a carriage return, so that it is shown, not run as a "
        "formula. Off by default: programs reading the files get the text as written.",
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
            "label-studio (JSON, JSON-MIN or CSV export), crowd-kit (task,worker,label), gal "
            "(Get-Another-Label's headerless worker, item, label), figure-eight (CrowdFlower full report: "
            "_unit_id, _worker_id), peerannot (answers.json). Default: recognised from the header or the "
            "document.",
            show_default=False,
            rich_help_panel=INPUT,
        ),
    ] = None
    max_memory: Annotated[
        str | None,
        typer.Option(
            "--max-memory",
            metavar="SIZE",
            help="Refuse inputs and fits estimated to need more memory than this (e.g. 4G, 500M). "
            "Default: EMCROWD_MAX_MEMORY, else the memory available (and for a fit at most 2 GiB plus "
            "100 kB per label).",
            show_default=False,
            callback=lambda value: _set_max_memory(value),
            rich_help_panel=INPUT,
        ),
    ] = None
    ordinal: Annotated[
        bool,
        typer.Option(
            "--ordinal",
            help="The classes are ordered grades (ratings, relevance, Likert): in the order of --classes, "
            "else the numeric order of numeric labels. Majority vote takes the median grade, agreement adds "
            "ordinal and interval alpha, compare adds MAE and within-one accuracy. See docs/ordinal.md.",
            rich_help_panel=INPUT,
        ),
    ] = False
    numeric: Annotated[
        bool,
        typer.Option(
            "--numeric",
            help="Read the labels as numbers (scores, ratings, counts, measurements), not classes: "
            "numeric models, outputs and metrics (see docs/numeric.md). In a matrix a negative number "
            "is an answer; NaN or an empty cell is none.",
            rich_help_panel=INPUT,
        ),
    ] = False
    keep_rejected: Annotated[
        bool,
        typer.Option(
            "--keep-rejected",
            help="Keep the labels of assignments a Toloka or Mechanical Turk export marks as rejected "
            "(dropped by default).",
            rich_help_panel=INPUT,
        ),
    ] = False


def _set_max_memory(value: str | None) -> str | None:
    """--max-memory, parsed and set as the limit of :mod:`emcrowd.budget` as the options are read."""
    from emcrowd import budget
    from emcrowd.errors import EmcrowdError

    try:
        budget.set_limit(value)
    except EmcrowdError as exc:
        raise typer.BadParameter(str(exc).removeprefix("--max-memory ")) from None
    return value


@dataclass(frozen=True)
class OutputOptions:
    """What a command says on stderr."""

    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only warnings and errors on stderr.")
    ] = False


MULTI = "Multi-select answers"


@dataclass(frozen=True)
class MultiLabelOptions:
    """Answers that tick several classes (see docs/multilabel.md)."""

    multi_label: Annotated[
        bool,
        typer.Option(
            "--multi-label",
            help="Each answer is a set of classes (a JSON array, a Label Studio multi-choice, text joined "
            "by --label-sep); every class becomes a present/absent question. Recognised without this "
            "option when every answer is a JSON array.",
            rich_help_panel=MULTI,
        ),
    ] = False
    label_sep: Annotated[
        str | None,
        typer.Option(
            "--label-sep",
            metavar="SEP",
            help="The separator between the classes of one answer: newline, tab, comma, pipe, semicolon "
            "or any text (e.g. '|'). Implies --multi-label.",
            show_default=False,
            rich_help_panel=MULTI,
        ),
    ] = None
    empty_answer: Annotated[
        str,
        typer.Option(
            "--empty-answer",
            metavar="RULE",
            help="An answer that ticks nothing ([] or only separators): 'none' (none of the classes "
            "applies; the default) or 'missing' (dropped as no answer). An empty cell is always missing.",
            rich_help_panel=MULTI,
        ),
    ] = "none"
    none_label: Annotated[
        str | None,
        typer.Option(
            "--none-label",
            metavar="TEXT",
            help="An answer meaning 'ticked nothing' (a 'none of these' box), any case; --empty-answer "
            "says what it counts as.",
            show_default=False,
            rich_help_panel=MULTI,
        ),
    ] = None
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold",
            metavar="P",
            help="With multi-select answers: an item's set is the classes whose posterior is at least P.",
            rich_help_panel=MULTI,
        ),
    ] = 0.5

    @property
    def requested(self) -> bool:
        return self.multi_label or self.label_sep is not None
