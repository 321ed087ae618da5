"""Numeric answers (``--numeric``) from what the readers of classes read.

Every reader of :mod:`emcrowd.io` reads the label column as text and codes its distinct values; with
``--numeric`` those values are parsed as numbers once each (:func:`numeric_loaded`), so every format and
platform preset reads numeric answers the same way. Matrices (``.npy``, numeric CSV/TSV) are built
directly (:func:`numeric_matrix_loaded`): there NaN or an empty cell is "no answer" and a negative number
is an answer, not a missing cell as in a matrix of classes.
"""

from __future__ import annotations

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io._common import Loaded, LoadReport
from emcrowd.numeric_data import NumericLabels


def parse_value(text: str) -> float | None:
    """A numeric answer from its text, or None when it is not a finite number."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def numeric_loaded(name: str, loaded: Loaded) -> Loaded:
    """The labels read as classes, their class names parsed as numbers. A value that is not a finite
    number is refused in one line naming it (and how many labels carry it)."""
    labels = loaded.labels
    if isinstance(labels, NumericLabels):
        return loaded
    values = np.empty(labels.n_classes)
    for k, text in enumerate(labels.class_names):
        value = parse_value(text)
        if value is None:
            n = int(np.count_nonzero(labels.label == k))
            what = "not a finite number" if _is_float(text) else "not a number"
            raise InputError(
                name,
                f"label {text!r} ({n:,} label{'s' if n != 1 else ''}) is {what}; --numeric reads the "
                "label column as numbers (missing answers: leave the cell empty, or see --missing)",
            )
        values[k] = value
    numeric = NumericLabels(
        item=labels.item,
        worker=labels.worker,
        value=values[labels.label],
        item_names=labels.item_names,
        worker_names=labels.worker_names,
    )
    return Loaded(numeric, loaded.report)  # type: ignore[arg-type]


def _is_float(text: str) -> bool:
    try:
        float(text.strip())
    except ValueError:
        return False
    return True


def numeric_matrix_loaded(
    name: str,
    matrix: np.ndarray,
    worker_names: tuple[str, ...] | None,
    item_ids: tuple[str, ...] | None,
    notes: list[str],
) -> Loaded:
    """An items x annotators matrix of numeric answers (NaN = no answer; inf refused)."""
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise InputError(name, f"the matrix is empty (shape {matrix.shape[0]} x {matrix.shape[1]})")
    try:
        labels = NumericLabels.from_matrix(matrix, worker_names=worker_names, item_names=item_ids)
    except EmcrowdError as exc:
        raise InputError(name, str(exc)) from None
    report = LoadReport(
        source=name,
        format="matrix",
        n_rows=matrix.shape[0],
        n_missing=matrix.shape[0] * matrix.shape[1] - labels.n_labels,
    )
    report.notes.extend(notes)
    return Loaded(labels, report)  # type: ignore[arg-type]


#: A file read as classes with more distinct labels than this, all of them numbers, gets a hint
#: pointing to ``--numeric``.
MANY_NUMBERS = 20


def numeric_hint(labels: Labels) -> str | None:
    """For labels read as classes: a hint to read them with ``--numeric`` when they are many distinct
    numbers (None otherwise)."""
    if labels.n_classes <= MANY_NUMBERS:
        return None
    if any(parse_value(c) is None for c in labels.class_names):
        return None
    return (
        f"the {labels.n_classes} distinct labels are all numbers: if the answers are quantities (scores, "
        "ratings, counts), read them with --numeric"
    )
