"""Reading the inputs of a command: the labels, the truth and the gold labels, with the input options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emcrowd.cli.options import InputOptions, ModelOptions
from emcrowd.errors import EmcrowdError


def load(path: Path, inputs: InputOptions, quiet: bool, *, describe: bool = True) -> Any:
    """Read the labels with the input options and, unless quiet, describe them (with ``describe``
    False, the caller does, with :func:`describe`, once every input is checked); returns ``Loaded``."""
    from emcrowd import console as report
    from emcrowd import io

    with report.read_progress(not quiet, path) as progress:
        loaded = io.load_labels(
            path,
            format=inputs.fmt.value,
            item_col=inputs.item_col,
            worker_col=inputs.worker_col,
            label_col=inputs.label_col,
            classes=inputs.classes,
            missing=inputs.missing,
            duplicates=inputs.duplicates.value,
            preset=None if inputs.preset is None else inputs.preset.value,
            keep_rejected=inputs.keep_rejected,
            progress=progress,
            ordinal=inputs.ordinal,
            numeric=inputs.numeric,
        )
    if describe:
        summarise(loaded, quiet)
    return loaded


def multi_label(loaded: Any, ordinal: bool = False) -> bool:
    """Whether the answers read are multi-select ones (every answer a JSON array, or a Label Studio
    multi-choice): the command then hands over to :mod:`emcrowd.cli._multilabel`. Such answers have
    no grade order: ``ordinal`` (--ordinal given) refuses them."""
    from emcrowd.io.multilabel import looks_multi_label, separator_hint

    if looks_multi_label(loaded):
        if ordinal:
            raise EmcrowdError("--ordinal is for graded single answers, not multi-select answers")
        return True
    hint = separator_hint(loaded)
    if hint is not None:
        loaded.report.warnings.append(hint)
    return False


def check_ordinal_methods(path: Path, data: Any, methods: list[str]) -> None:
    """Refuse the ordinal model on labels not read with --ordinal: the grades' order would be a guess."""
    if "ordinal_ds" in methods and not data.ordered:
        raise EmcrowdError(
            f"{path}: ordinal-ds needs ordered grades: add --ordinal (with --classes LOWEST,...,HIGHEST "
            "unless the labels are numbers)"
        )


def summarise(loaded: Any, quiet: bool) -> None:
    """What was read (unless quiet) and the warnings about it (always)."""
    from emcrowd import console as report

    if getattr(loaded.labels, "kind", None) == "numeric":
        from emcrowd import numeric_tables

        return numeric_tables.load_warnings(loaded) if quiet else numeric_tables.data_summary(loaded)
    if quiet:
        report.load_warnings(loaded)
    else:
        report.data_summary(loaded)


def check_memory(
    path: Path, data: Any, methods: list[str], options: dict[str, Any], outputs: bool = False
) -> None:
    """Refuse, before anything is printed or fitted, methods whose fits (and, with ``outputs``, whose
    output tables) would not fit in the memory limit (:mod:`emcrowd.budget`); the one line names the
    labels file."""
    from emcrowd import budget

    try:
        budget.check_fit(data, methods, options)
        if outputs:
            budget.check_outputs(data)
    except budget.BudgetError as error:
        raise budget.BudgetError(f"{path}: {error}") from None


def truth(
    path: Path,
    loaded: Any,
    inputs: InputOptions,
    own_item_col: str | None = None,
    own_label_col: str | None = None,
) -> Any:
    """Gold labels (--truth or --gold) for the loaded items, by id or (for a matrix) aligned, with the
    labels' column options and the file's own (``own_*``); returns ``io.Truth``."""
    from emcrowd import io

    if str(path) == "-":
        raise EmcrowdError(f"{path}: only LABELS can be read from standard input; give the truth as a file")
    return io.load_truth(
        path,
        loaded.labels,
        allow_aligned=loaded.report.format in ("matrix", "npz"),
        missing=inputs.missing,
        # the labels' columns (given, or found: a preset's HITId) are the names tried first
        item_col=inputs.item_col or loaded.report.columns.get("item"),
        label_col=inputs.label_col or loaded.report.columns.get("label"),
        own_item_col=own_item_col,
        own_label_col=own_label_col,
    )


def read_gold(model: ModelOptions, loaded: Any, inputs: InputOptions) -> Any:
    """The --gold labels (``io.Truth``; None without --gold), read and checked, not yet reported."""
    if model.gold is None:
        return None
    return truth(model.gold, loaded, inputs, model.gold_item_col, model.gold_label_col)


def gold_codes(model: ModelOptions, loaded: Any, inputs: InputOptions) -> Any:
    """The --gold labels as class codes per item (None without --gold), read and reported at once."""
    return codes_of(read_gold(model, loaded, inputs))


def codes_of(known: Any) -> Any:
    """The class codes of :func:`read_gold`'s labels, saying first how many were not among the items."""
    from emcrowd import console as report

    if known is None:
        return None
    if known.n_unknown_items:
        report.note(
            f"Note: {known.n_unknown_items:,} --gold items are not among the labelled items; ignored."
        )
    return known.codes
