"""Reading gold labels ("truth") for the items of a data set.

Two forms:

* **by id** — a CSV/TSV with a header naming an item column and a label column (``item,label``,
  ``task,truth``, ...); ids are matched as strings to the items of the labels, and gold labels to the
  classes (as strings, or as numbers when both are numeric: ``1.0`` matches class ``1``).
* **aligned** — a ``.npy`` vector or a one-column CSV/TSV (optional header), one value per item in the
  items' order (the rows of a label matrix); NaN or an empty cell means "no gold label".
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import InputError
from emcrowd.io._text import (
    Rows,
    check_readable,
    display,
    is_blank,
    is_number_row,
    parse_number_rows,
    table_rows,
)
from emcrowd.io.labels import COLUMN_NAMES, find_column, is_missing, load_npy, missing_set

TRUTH_SUFFIXES = (".npy", ".csv", ".tsv")
#: Column names recognised for the gold label, after the ordinary label names.
TRUTH_LABEL_NAMES = (*COLUMN_NAMES["label"], "truth", "gold", "true_label", "gold_label", "golden", "class")


#: Finds the class code of a gold value (text or number), or None.
Matcher = Callable[[str | float], int | None]


@dataclass
class Truth:
    """Gold labels matched to the items of a data set.

    Attributes
    ----------
    codes : ndarray of shape (n_items,), int
        Class code of each item's gold label, ``-1`` where there is none.
    n_unknown_items : int
        Gold labels for ids that are not among the items (they have no crowd labels).
    """

    codes: np.ndarray
    n_unknown_items: int = 0


def read_truth(path: str | os.PathLike, data: Labels) -> np.ndarray:
    """Gold class code of every item of ``data`` (``-1`` where unknown); see :func:`load_truth`."""
    return load_truth(path, data).codes


def load_truth(
    path: str | os.PathLike,
    data: Labels,
    *,
    allow_aligned: bool = True,
    missing: Iterable[str] | None = None,
    item_col: str | None = None,
    label_col: str | None = None,
) -> Truth:
    """Read gold labels for the items of ``data``, by id or aligned with its items.

    Parameters
    ----------
    path : str or PathLike
    data : Labels
        The labels the truth belongs to; supplies the item ids and the classes.
    allow_aligned : bool
        Whether an aligned vector is acceptable (it is not for long-format labels, whose item order is
        emcrowd's, not the user's).
    missing : iterable of str, optional
        Gold values that mean "no gold label" in a file by id; the same rule as for the labels
        (:func:`emcrowd.io.load_labels`), so a class named ``NA`` declared there is a class here too.
    item_col, label_col : str, optional
        Column names tried first in a file by id (the labels' own ``--item-col``/``--label-col``),
        before the recognised names.

    Raises
    ------
    InputError
        Unreadable file, wrong length, a gold label that is not among the classes, conflicting gold.
    """
    name = display(path)
    suffix = check_readable(path, TRUTH_SUFFIXES)
    match = _class_matcher(data.class_names)
    if suffix == ".npy":
        values = load_npy(path, ndim=1)
        return _aligned(name, values, data, match, allow_aligned)
    rows = table_rows(Rows(path))
    first = next(i for i, row in enumerate(rows) if not is_blank(row))
    if len(rows[first]) >= 2 and not is_number_row(rows[first]):
        columns = (item_col, label_col)
        return _by_id(name, rows[first], rows[first + 1 :], data, match, missing_set(missing), columns, first)
    header = rows[0]
    if len(header) != 1:
        raise InputError(
            name,
            f"expected item,label columns with a header, or one column of gold labels; found {len(header)}",
        )
    has_header = not is_number_row(header)
    body = rows[1:] if has_header else rows
    if not body:
        raise InputError(name, "has a header but no truth values")
    values = parse_number_rows(name, body, 2 if has_header else 1).reshape(-1)
    return _aligned(name, values, data, match, allow_aligned)


def _class_matcher(class_names: Sequence[str]) -> Matcher:
    """Look up a gold value among the classes: by exact text, else by number when both are numeric."""
    by_text = {c: k for k, c in enumerate(class_names)}
    by_number: dict[float, int] = {}
    for k, c in enumerate(class_names):
        with contextlib.suppress(ValueError):
            by_number.setdefault(float(c), k)

    def match(value: str | float) -> int | None:
        if isinstance(value, str):
            if value in by_text:
                return by_text[value]
            try:
                value = float(value)
            except ValueError:
                return None
        return by_number.get(float(value))

    return match


def _aligned(name: str, values: np.ndarray, data: Labels, match: Matcher, allow: bool) -> Truth:
    if not allow:
        raise InputError(
            name,
            "a truth vector must line up with the rows of a label matrix; for long-format labels "
            "give a file with item and label columns",
        )
    if values.shape[0] != data.n_items:
        raise InputError(
            name, f"has {values.shape[0]} truth values but the labels have {data.n_items} items (rows)"
        )
    present = ~np.isnan(values)
    if not np.all(np.isfinite(values[present])):
        raise InputError(name, "truth values must be numbers or NaN (found inf)")
    codes = np.full(data.n_items, -1, dtype=np.int64)
    for j in np.flatnonzero(present):
        code = match(float(values[j]))
        if code is None:
            shown = int(values[j]) if values[j] == int(values[j]) else float(values[j])
            classes = ", ".join(data.class_names)
            raise InputError(name, f"truth label {str(shown)!r} (row {j}) is not among the classes {classes}")
        codes[j] = code
    return Truth(codes=codes)


def _by_id(
    name: str,
    header: list[str],
    rows: list[list[str]],
    data: Labels,
    match: Matcher,
    missing: frozenset[str],
    columns: tuple[str | None, str | None],
    skipped: int,
) -> Truth:
    item_first, label_first = (() if c is None else (c.strip().lower(),) for c in columns)
    i_item = find_column(name, header, "item", None, (*item_first, *COLUMN_NAMES["item"]))
    i_label = find_column(name, header, "label", None, (*label_first, *TRUTH_LABEL_NAMES))
    width = max(i_item, i_label) + 1
    item_code = {n: j for j, n in enumerate(data.item_names)}
    codes = np.full(data.n_items, -1, dtype=np.int64)
    unknown: set[str] = set()
    for offset, row in enumerate(rows):
        line = skipped + offset + 2
        if is_blank(row):
            continue
        if len(row) < width:
            raise InputError(name, f"line {line}: {len(row)} fields, expected at least {width}")
        item, value = row[i_item].strip(), row[i_label].strip()
        if is_missing(value, missing):
            continue
        code = match(value)
        if code is None:
            raise InputError(
                name,
                f"line {line}: gold label {value!r} is not among the classes {', '.join(data.class_names)}",
            )
        j = item_code.get(item)
        if j is None:
            unknown.add(item)
            continue
        if codes[j] >= 0 and codes[j] != code:
            raise InputError(name, f"line {line}: item {item!r} has two different gold labels")
        codes[j] = code
    if not (codes >= 0).any() and not unknown:
        raise InputError(name, "holds no gold labels")
    return Truth(codes=codes, n_unknown_items=len(unknown))
