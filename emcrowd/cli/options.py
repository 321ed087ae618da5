"""The option groups that several commands share, each declared once as a dataclass.

A group is a frozen dataclass whose fields are ``Annotated[type, typer.Option(...)]`` with a default.
A command asks for a group by declaring a parameter of that type::

    @option_groups
    def fit(labels: LabelsArg, *, inputs: InputOptions, model: ModelOptions, output: OutputOptions): ...

and :func:`option_groups` puts the group's fields into the signature Typer reads (in field order,
where the parameter stands) and hands the command one built dataclass per group. Adding a field to a
group adds the option to every command that uses the group; nothing else changes.
"""

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from emcrowd.errors import EmcrowdError

F = TypeVar("F", bound=Callable[..., Any])

#: Rich help panels.
INPUT = "Input"
MODEL = "Model"


class Format(StrEnum):
    auto = "auto"
    matrix = "matrix"
    long = "long"


class TableFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


class TieRule(StrEnum):
    lowest = "lowest"
    random = "random"


class Duplicates(StrEnum):
    keep = "keep"
    first = "first"
    last = "last"
    error = "error"


class Preset(StrEnum):
    toloka = "toloka"
    mturk = "mturk"
    label_studio = "label-studio"
    crowd_kit = "crowd-kit"
    gal = "gal"


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
            help="Read LABELS as this platform's export: toloka (TSV), mturk (batch results CSV), "
            "label-studio (JSON export), crowd-kit (task,worker,label), gal (Get-Another-Label's "
            "headerless worker, item, label). Default: recognised from the header or the document.",
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

    alpha_prior: Annotated[
        str,
        typer.Option(
            "--alpha-prior",
            metavar="MEAN,SD",
            help="Gaussian prior on annotator ability alpha; a positive mean means 'better than chance'.",
            rich_help_panel=MODEL,
        ),
    ] = "1,1"
    beta_prior: Annotated[
        str,
        typer.Option(
            "--beta-prior",
            metavar="MEAN,SD",
            help="Gaussian prior on log inverse difficulty b = log(beta); keeps unanimous items finite.",
            rich_help_panel=MODEL,
        ),
    ] = "1,1"
    class_prior: Annotated[
        str | None,
        typer.Option(
            "--class-prior",
            metavar="P1,P2,...",
            help="Prior probability of each true class, in class order (default: uniform). Fixed, or the "
            "starting point with --learn-class-prior.",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None
    learn_class_prior: Annotated[
        bool | None,
        typer.Option(
            "--learn-class-prior/--fixed-class-prior",
            help="Estimate the class prior from the data (MAP, Dirichlet prior), or keep it fixed. "
            "Default: learned for Dawid-Skene, fixed for GLAD and one-coin.",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None
    class_pseudocount: Annotated[
        float,
        typer.Option(
            "--class-pseudocount",
            min=0.0,
            help="With --learn-class-prior: pseudo-items added to every class, so no class gets "
            "probability 0.",
            rich_help_panel=MODEL,
        ),
    ] = 1.0
    smoothing: Annotated[
        float,
        typer.Option(
            "--smoothing",
            min=0.0,
            help="Dawid-Skene and one-coin: pseudo-count added to every confusion cell (every right/wrong "
            "count), so one surprising label cannot rule a class out.",
            rich_help_panel=MODEL,
        ),
    ] = 0.01
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
    gold_item_col: file_column("--gold-item-col", "item", "gold", MODEL) = None
    gold_label_col: file_column("--gold-label-col", "known label", "gold", MODEL) = None
    n_init: Annotated[
        int | None,
        typer.Option(
            "--n-init",
            min=1,
            help="Number of EM starts (the first from majority vote, the rest perturbed); the best "
            "objective wins. Default: each model's own (1; EBCC several, as its authors recommend).",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            help="Seed of the perturbed starts, random tie-breaking and the bootstrap.",
            rich_help_panel=MODEL,
        ),
    ] = 0
    ties: Annotated[
        TieRule,
        typer.Option(
            "--ties",
            help="Majority vote's tie rule: the lowest class, or a random one among the tied (with --seed).",
            rich_help_panel=MODEL,
        ),
    ] = TieRule.lowest
    tol: Annotated[
        float,
        typer.Option(
            "--tol",
            min=0.0,
            help="Stop when the objective's relative change is below this.",
            rich_help_panel=MODEL,
        ),
    ] = 1e-6
    max_iter: Annotated[
        int, typer.Option("--max-iter", min=1, help="Most EM iterations.", rich_help_panel=MODEL)
    ] = 500

    def as_kwargs(self) -> dict[str, Any]:
        """The model options, checked, as the keyword arguments of the models (see
        :func:`emcrowd.evaluate.model_options`); raises :class:`EmcrowdError` naming the option."""
        prior = None
        if self.class_prior is not None:
            try:
                prior = [float(p) for p in self.class_prior.split(",")]
            except ValueError:
                raise EmcrowdError(
                    f"--class-prior expects numbers separated by commas, got {self.class_prior!r}"
                ) from None
            if any(not (p > 0 and p != math.inf) for p in prior):
                raise EmcrowdError(f"--class-prior needs positive, finite numbers, got {self.class_prior!r}")
        options: dict[str, Any] = {
            "alpha_prior": _gaussian_prior("--alpha-prior", "alpha", self.alpha_prior),
            "beta_prior": _gaussian_prior("--beta-prior", "beta", self.beta_prior),
            "tol": self.tol,
            "max_iter": self.max_iter,
            "class_prior": prior,
            "class_pseudocount": self.class_pseudocount,
            "smoothing": self.smoothing,
            "random_state": self.seed,
        }
        if self.n_init is not None:  # else each model keeps its own default
            options["n_init"] = self.n_init
        if self.learn_class_prior is not None:
            options["learn_class_prior"] = self.learn_class_prior
        return options


def _set_max_memory(value: str | None) -> str | None:
    """--max-memory, parsed and set as the limit of :mod:`emcrowd.budget` as the options are read."""
    from emcrowd import budget

    try:
        budget.set_limit(value)
    except EmcrowdError as exc:
        raise typer.BadParameter(str(exc).removeprefix("--max-memory ")) from None
    return value


def check_class_prior(options: dict[str, Any], n_classes: int) -> None:
    """--class-prior must have one number per class, which is known once the labels are read."""
    prior = options["class_prior"]
    if prior is not None and len(prior) != n_classes:
        raise EmcrowdError(f"--class-prior has {len(prior)} numbers but the labels have {n_classes} classes")


def _gaussian_prior(option: str, name: str, text: str) -> tuple[float, float]:
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


@dataclass(frozen=True)
class OutputOptions:
    """What a command says on stderr."""

    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only warnings and errors on stderr.")
    ] = False


# -- the decorator -------------------------------------------------------------------------------------
def option_groups(func: F) -> F:
    """Expand each parameter of ``func`` whose type is an option group (a dataclass) into the group's
    fields, for Typer, and call ``func`` with the group built from them.

    Every parameter of the result is keyword-only (Typer passes them all by name). The expansion is in
    ``__signature__`` and ``__annotations__``, which Typer's ``get_params_from_function`` reads.
    """
    hints = get_type_hints(func, include_extras=True)
    groups: dict[str, type] = {}
    params: list[inspect.Parameter] = []
    for param in inspect.signature(func).parameters.values():
        hint = hints.get(param.name, param.annotation)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            groups[param.name] = hint
            field_hints = get_type_hints(hint, include_extras=True)
            for field in dataclasses.fields(hint):
                params.append(
                    inspect.Parameter(
                        field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default,
                        annotation=field_hints[field.name],
                    )
                )  # fmt: skip
        else:
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hint))
    names = [p.name for p in params]
    clash = {n for n in names if names.count(n) > 1}
    if clash:
        raise TypeError(f"{func.__name__}: option names declared twice: {sorted(clash)}")
    fields = {name: [f.name for f in dataclasses.fields(cls)] for name, cls in groups.items()}

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        for name, cls in groups.items():
            kwargs[name] = cls(**{field: kwargs.pop(field) for field in fields[name]})
        return func(**kwargs)

    wrapper.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper  # type: ignore[return-value]
