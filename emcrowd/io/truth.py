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
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import InputError
from emcrowd.io import presets
from emcrowd.io._common import COLUMN_NAMES, _Problem, is_missing, missing_set
from emcrowd.io._tables import (
    ReadBudgetError,
    open_source,
    parquet_schema_names,
    read_json_document,
    read_json_lines,
    read_parquet_columns,
    read_text_columns,
    records_table,
    text_header,
    to_encoded,
)
from emcrowd.io._text import Rows, is_blank, is_number_row, parse_number_rows, table_rows
from emcrowd.io.frames import labels_and_form, truth_codes
from emcrowd.io.json_labels import _is_label_studio, label_studio_rows
from emcrowd.io.matrix import _npy_target, load_npy
from emcrowd.io.roles import find_column

TRUTH_KINDS = ("npy", "text", "txt", "parquet", "json", "jsonl")
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


def read_truth(path: Any, data: Labels, **options: Any) -> np.ndarray:
    """Gold class code of every item of ``data`` (``-1`` where unknown); see :func:`load_truth`."""
    return load_truth(path, data, **options).codes


def _in_memory(obj: Any) -> bool:
    """Gold labels given as an object (a Series, a mapping, a table, an array), not a file."""
    return not isinstance(obj, (str, bytes, os.PathLike)) and not hasattr(obj, "read")


def load_truth(
    path: Any,
    data: Labels,
    *,
    allow_aligned: bool = True,
    missing: Iterable[str] | None = None,
    item_col: str | None = None,
    label_col: str | None = None,
    own_item_col: str | None = None,
    own_label_col: str | None = None,
    matcher: Matcher | None = None,
) -> Truth:
    """Read gold labels for the items of ``data``, by id or aligned with its items.

    Parameters
    ----------
    path : str, PathLike, file object, or gold labels in memory
        A ``.csv``/``.tsv`` (compressed or not), Parquet, JSON or JSON Lines table with an item and a
        label column; a platform's export (Toloka's ``GOLDEN:*`` control answers, Label Studio's
        ground-truth annotations), so that the labels file can serve as its own gold; or a ``.npy``
        vector or one-column text file aligned with the items. In memory, matched **by item id**: a
        pandas Series indexed by item, a mapping ``{item: label}``, a table (pandas, polars,
        pyarrow) with an item and a label column; or one value per item in the order of the items
        (an array of class codes, or of class values); see :func:`emcrowd.io.frames.truth_codes`
        (ids that are not among the items are an error there).
    data : Labels, or a table the models take
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
    own_item_col, own_label_col : str, optional
        This file's own item and label columns (``--truth-item-col``, ``--gold-label-col``, ...):
        they must exist, and they make the file one by id.
    matcher : callable, optional
        A gold value (text or number) to its code, None when it is not one: by default, among
        ``data``'s classes (numeric gold, :func:`emcrowd.io.numeric.numeric_truth`, gives its own).

    Raises
    ------
    InputError
        Unreadable file, wrong length, a gold label that is not among the classes, conflicting gold.
    """
    if not isinstance(data, Labels):
        data, _ = labels_and_form(data)
    if _in_memory(path):
        return Truth(codes=truth_codes(path, data, name="truth", allow_aligned=allow_aligned))
    source = open_source(path, TRUTH_KINDS)
    name = source.name
    match = _class_matcher(data.class_names) if matcher is None else matcher
    missing_values = missing_set(missing)
    own = (own_item_col, own_label_col)
    if source.kind == "npy":
        if any(own):
            raise InputError(name, "a .npy truth vector has no columns to name")
        values = load_npy(_npy_target(source), ndim=1, name=name)
        return _aligned(name, values, data, match, allow_aligned)
    if source.kind in ("parquet", "json", "jsonl"):
        if source.kind == "parquet":
            names = parquet_schema_names(source)
            table = None
        elif source.kind == "jsonl":
            table = read_json_lines(source)
            names = list(table.column_names)
        else:
            document = read_json_document(source)
            if _is_label_studio(document) and not any(own):
                return _label_studio_gold(name, document, data, match, missing_values, label_col)
            table = records_table(name, document)
            names = list(table.column_names)
        i_item, i_label = _truth_columns(name, names, item_col, label_col, own)
        if table is None:
            table = read_parquet_columns(source, [names[i_item], names[i_label]])
        try:
            return _by_id_columns(
                name, table.column(names[i_item]), table.column(names[i_label]), data, match, missing_values
            )
        except _Problem as problem:
            unit = "line" if source.kind == "jsonl" else "row" if source.kind == "parquet" else "record"
            raise InputError(name, f"{unit} {problem.row + 1}: {problem.message}") from None
    header, source = text_header(source)
    if header is None:
        raise InputError(name, "is empty")
    cells = header.cells
    gal_gold = not any(own) and header.delimiter == "\t" and _headerless_pair(cells, data, match)
    if source.suffix == ".txt" and not gal_gold:  # .txt is too vague a name for anything else
        raise InputError(
            name,
            "unsupported file type '.txt'; a .txt truth file is read only as Get-Another-Label's gold "
            "(item<TAB>label lines, no header)",
        )
    if gal_gold:
        # item<TAB>label with no header (Get-Another-Label's gold files): the first row is data
        read = read_text_columns(source, header, [0, 1], has_header=False)
        if read.n_irregular:
            fields, text = read.irregular[0]
            raise InputError(
                name, f"a headerless item,label file with a row of {fields} fields: {text[:60]!r}"
            )
        try:
            return _by_id_columns(name, read.columns[0], read.columns[1], data, match, missing_values)
        except _Problem as problem:
            raise InputError(name, f"row {problem.row + 1}: {problem.message}") from None
    if any(own) or presets.detect(cells) or (len(cells) >= 2 and not is_number_row(cells)):
        i_item, i_label = _truth_columns(name, cells, item_col, label_col, own)

        def slowly() -> Truth:
            rows = table_rows(Rows(source, header.delimiter))
            first = next(i for i, row in enumerate(rows) if not is_blank(row))
            return _by_id(name, rows[first + 1 :], data, match, missing_values, (i_item, i_label), first)

        try:
            read = read_text_columns(source, header, [i_item, i_label])
        except ReadBudgetError:
            raise
        except InputError:
            if source.rereadable:
                return slowly()
            raise
        if read.n_irregular and source.rereadable:
            return slowly()
        if read.n_irregular:
            raise InputError(name, f"{read.n_irregular:,} rows have another number of fields than the header")
        try:
            return _by_id_columns(name, read.columns[0], read.columns[1], data, match, missing_values)
        except _Problem as problem:
            if source.rereadable:
                return slowly()
            raise InputError(name, f"data row {problem.row + 1}: {problem.message}") from None
    rows = table_rows(Rows(source, header.delimiter))
    header_row = rows[0]
    if len(header_row) != 1:
        raise InputError(
            name,
            f"expected item,label columns with a header, or one column of gold labels; "
            f"found {len(header_row)}",
        )
    has_header = not is_number_row(header_row)
    body = rows[1:] if has_header else rows
    if not body:
        raise InputError(name, "has a header but no truth values")
    values = parse_number_rows(name, body, 2 if has_header else 1).reshape(-1)
    return _aligned(name, values, data, match, allow_aligned)


def _headerless_pair(cells: Sequence[str], data: Labels, match: Matcher) -> bool:
    """Whether a tab-separated file's first row is data, not a header: two fields, an item id of the
    labels and one of their classes (Get-Another-Label's ``item<TAB>label`` gold files have no
    header)."""
    if len(cells) != 2:
        return False
    item, label = (c.strip() for c in cells)
    if match(label) is None or not item:
        return False
    return item in set(data.item_names)


def _truth_columns(
    name: str,
    names: Sequence[str],
    item_col: str | None,
    label_col: str | None,
    own: tuple[str | None, str | None],
) -> tuple[int, int]:
    """The item and gold columns of a truth file: its own given names; else a platform export's
    control-answer column; else the labels' column names if present, then the recognised names."""
    own_item, own_label = own
    preset_name = presets.detect(names)
    preset_item = preset_gold = None
    if preset_name is not None:
        preset = presets.resolve(preset_name, names, {"item": own_item, "label": label_col}, name)
        preset_item, preset_gold = preset.columns["item"], preset.gold
        if preset_gold is None and own_label is None:
            raise InputError(
                name,
                f"this {preset.title} holds no control answers "
                f"(columns: {', '.join(n.strip() for n in names)}); "
                "name the gold column with --truth-label-col or --gold-label-col",
            )
    options = "--truth-item-col/--gold-item-col"

    def column(role: str, given: str | None, preferred: str | None, candidates: Sequence[str]) -> int:
        if given is not None:
            return find_column(name, names, role, given, candidates, option=options.replace("item", role))
        first = () if preferred is None else (preferred.strip().lower(),)
        return find_column(
            name, names, role, None, (*first, *candidates), option=options.replace("item", role)
        )

    i_item = column("item", own_item, preset_item or item_col, COLUMN_NAMES["item"])
    i_label = column("label", own_label, preset_gold or label_col, TRUTH_LABEL_NAMES)
    if i_item == i_label:
        raise InputError(name, "the item and gold label columns must be two different columns")
    return i_item, i_label


def _by_id_columns(
    name: str, item_column: Any, value_column: Any, data: Labels, match: Matcher, missing: frozenset[str]
) -> Truth:
    """Gold labels by id from two Arrow columns, without a Python loop over rows (only over the
    distinct ids and values). Raises :class:`_Problem` for a value outside the classes or an item with
    two different gold labels."""
    item = to_encoded(item_column)
    value = to_encoded(value_column)
    is_gold = value.codes >= 0
    value_missing = np.array([is_missing(v, missing) for v in value.names], dtype=bool)
    if value_missing.any():
        is_gold &= ~value_missing[np.maximum(value.codes, 0)]
    value_class = np.array(
        [
            -2 if miss else (-1 if (c := match(v)) is None else c)
            for v, miss in zip(value.names, value_missing, strict=True)
        ],
        dtype=np.int64,
    )
    if value_class.size and (bad := np.flatnonzero(value_class == -1)).size:
        rows = np.isin(value.codes, bad) & is_gold
        if rows.any():
            row = int(np.argmax(rows))
            raise _Problem(
                f"gold label {value.names[value.codes[row]]!r} is not among the classes "
                f"{', '.join(data.class_names)}",
                row,
            )
    position = {n: j for j, n in enumerate(data.item_names)}
    item_index = np.array([position.get(n, -1) for n in item.names], dtype=np.int64)
    rows = np.flatnonzero(is_gold & (item.codes >= 0))
    j = item_index[item.codes[rows]]
    gold = value_class[value.codes[rows]]
    unknown = np.unique(item.codes[rows][j < 0]).size
    known = j >= 0
    rows, j, gold = rows[known], j[known], gold[known]
    codes = np.full(data.n_items, -1, dtype=np.int64)
    codes[j] = gold
    conflict = codes[j] != gold
    if conflict.any():
        first = int(np.argmax(conflict))
        lo = np.full(data.n_items, np.iinfo(np.int64).max)
        np.minimum.at(lo, j, gold)
        differs = gold != lo[j]
        row = int(rows[np.argmax(differs)]) if differs.any() else int(rows[first])
        raise _Problem(f"item {data.item_names[j[first]]!r} has two different gold labels", row)
    if not (codes >= 0).any() and not unknown:
        raise InputError(name, "holds no gold labels")
    return Truth(codes=codes, n_unknown_items=int(unknown))


def _label_studio_gold(
    name: str, document: Any, data: Labels, match: Matcher, missing: frozenset[str], control: str | None
) -> Truth:
    """The ground-truth annotations of a Label Studio export, as gold labels by task id."""
    import pyarrow as pa

    items, _, answers, gold, _, _ = label_studio_rows(name, document, control)
    chosen = [k for k, g in enumerate(gold) if g]
    if not chosen:
        raise InputError(name, "has no ground-truth annotations to use as gold labels")
    try:
        return _by_id_columns(
            name,
            pa.array([items[k] for k in chosen], type=pa.string()),
            pa.array([answers[k] for k in chosen], type=pa.string()),
            data,
            match,
            missing,
        )
    except _Problem as problem:
        raise InputError(name, f"ground-truth annotation {problem.row + 1}: {problem.message}") from None


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
    rows: list[list[str]],
    data: Labels,
    match: Matcher,
    missing: frozenset[str],
    columns: tuple[int, int],
    skipped: int,
) -> Truth:
    """Gold labels by id, row by row in Python: for files with irregular rows or a bad value, so that
    the message names the physical line."""
    i_item, i_label = columns
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
