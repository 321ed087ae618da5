"""The model option group (see :mod:`emcrowd.cli.options`), with the help panels and the bounds."""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from emcrowd.cli._model_args import model_kwargs
from emcrowd.cli.choices import TieRule, bounded, finite

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
            help="Dawid-Skene, one-coin and MACE: pseudo-count added to every confusion cell (every "
            "right/wrong count; MACE: every honest/spam count and spam class), so one surprising label "
            "cannot rule a class out.",
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
    accelerate: Annotated[
        str | None,
        typer.Option(
            "--accelerate",
            metavar="on|off",
            click_type=click.Choice(["on", "off"]),
            help="on: extrapolate EM's iterates (SQUAREM; same fit within --tol, fewer passes where EM "
            "is slow); off: plain EM. Default: on for Bayesian DS and EBCC, off for the others.",
            rich_help_panel=MODEL_MORE,
            show_default=False,
        ),
    ] = None

    def as_kwargs(self) -> dict[str, Any]:
        """The model options, checked, as the keyword arguments of the models (see
        :func:`emcrowd.analysis.evaluate.model_options`); raises :class:`EmcrowdError` naming the option."""
        return model_kwargs(self)
