"""Long tables, one row per label: CSV/TSV (plain or compressed, from files or standard input),
and Parquet, read through Arrow; platform presets' rejected assignments.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import InputError
from emcrowd.io import presets
from emcrowd.io._common import (
    Loaded,
    LoadReport,
    _apply_duplicates,
    _Codes,
    _extra_lines,
    _LongOptions,
    _Problem,
    is_missing,
)
from emcrowd.io._tables import (
    Encoded,
    ReadBudgetError,
    Source,
    encode_columns,
    parquet_schema_names,
    read_parquet_encoded,
    read_text_columns,
    text_header,
    to_encoded,
)
from emcrowd.io._text import (
    NUMERIC_MISSING,
    Rows,
    is_blank,
    is_number_row,
    natural_order,
)
from emcrowd.io.matrix import _read_matrix_arrow, _read_matrix_text
from emcrowd.io.roles import _looks_headerless_gal, _preset_for, _roles, looks_long


def _read_text(source: Source, format: str, options: _LongOptions) -> Loaded:
    name = source.name
    header, source = text_header(source)
    if header is None:
        raise InputError(name, "is empty")
    cells = header.cells
    preset = None
    if format != "matrix":
        preset = _preset_for(name, cells, options)
        no_columns = not any(options.given.values())
        if preset is None and format == "auto" and no_columns and _looks_headerless_gal(header):
            preset = presets.resolve("gal", cells, options.given, name)
    numeric_header = is_number_row(cells, NUMERIC_MISSING | options.missing)
    long = (
        preset is not None
        or format == "long"
        or (format == "auto" and (any(options.given.values()) or (not numeric_header and looks_long(cells))))
    )
    if not long:
        fast = _read_matrix_arrow(source, header, options)
        if fast is not None:
            return fast
        rows = iter(Rows(source, header.delimiter).retained())
        first = next((row for row in rows if not is_blank(row)), None)
        if first is None:
            raise InputError(name, "is empty")
        return _read_matrix_text(name, first, rows, options.classes, options.missing, options.numeric)
    if numeric_header and not any(options.given.values()) and preset is None:
        raise InputError(name, "long format needs a header row naming the item, worker and label columns")
    has_header = preset is None or preset.header
    names = cells if has_header else [str(k + 1) for k in range(len(cells))]
    idx = _roles(name, names, options, preset)
    status = None
    if preset is not None and preset.status and not options.keep_rejected:
        status = [n.strip() for n in names].index(preset.status)
    wanted = [idx["item"], idx["worker"], idx["label"], *([] if status is None else [status])]
    report_columns = {role: names[i].strip() for role, i in idx.items()}
    width = len(cells)

    def slowly() -> Loaded:
        """The same file row by row in Python: exact line numbers, and rows of any length."""
        reader = Rows(source, header.delimiter)
        rows = iter(reader)
        if has_header:
            next(row for row in rows if not is_blank(row))
        return _read_long(name, names, rows, reader, idx, options, preset, status, report_columns)

    try:
        read = read_text_columns(source, header, wanted, has_header=has_header, progress=options.progress)
    except ReadBudgetError:
        raise
    except InputError:
        if source.rereadable:
            return slowly()
        raise
    if read.n_irregular:
        if source.rereadable:
            return slowly()
        fields, text = read.irregular[0]
        raise InputError(
            name,
            f"{read.n_irregular:,} rows have another number of fields than the header's {width}, "
            f"e.g. {fields} fields in {text[:60]!r}",
        )
    if read.n_rows == 0:
        raise InputError(name, "has a header but no rows of labels")
    columns = dict(zip(("item", "worker", "label"), read.columns[:3], strict=True))
    keep = None if status is None else _not_rejected(read.columns[3])
    try:
        started = time.perf_counter()
        loaded = _long_from_columns(name, columns, keep, options, preset, report_columns)
        loaded.report.phases = {**read.phases, "labels": time.perf_counter() - started}
        return loaded
    except _Problem as problem:
        if source.rereadable:
            return slowly()
        first = header.line + 1 + _extra_lines(header) if has_header else header.line
        line = read.line_of(problem.row, first)
        where = f"line {line}" if line is not None else f"data row {problem.row + 1}"
        raise InputError(name, f"{where}: {problem.message}") from None


def _not_rejected(status: Any) -> np.ndarray:
    """Rows whose assignment status is not one of :data:`presets.REJECTED`."""
    status = to_encoded(status)
    rejected = np.array([n.lower() in presets.REJECTED for n in status.names] + [False], dtype=bool)
    return ~rejected[status.codes]  # (a null status, code -1, is not a rejection)


def _read_parquet(source: Source, options: _LongOptions) -> Loaded:
    name = source.name
    names = parquet_schema_names(source)
    preset = _preset_for(name, names, options)
    idx = _roles(name, names, options, preset)
    wanted = {role: names[i] for role, i in idx.items()}
    status = preset.status if preset is not None and preset.status and not options.keep_rejected else None
    encoded, n_rows = read_parquet_encoded(source, [*wanted.values(), *([status] if status else [])])
    if n_rows == 0:
        raise InputError(name, "has no rows of labels")
    columns = dict(zip(("item", "worker", "label"), encoded[:3], strict=True))
    keep = None if status is None else _not_rejected(encoded[3])
    try:
        return _long_from_columns(name, columns, keep, options, preset, wanted)
    except _Problem as problem:
        raise InputError(name, f"row {problem.row + 1}: {problem.message}") from None


def _long_table(
    name: str,
    table: Any,
    wanted: dict[str, str],
    status: str | None,
    options: _LongOptions,
    preset: presets.Preset | None,
    unit: str,
) -> Loaded:
    if table.num_rows == 0:
        raise InputError(name, "has no rows of labels")
    columns = {role: table.column(column) for role, column in wanted.items()}
    keep = None if status is None else _not_rejected(table.column(status))
    try:
        return _long_from_columns(name, columns, keep, options, preset, wanted)
    except _Problem as problem:
        raise InputError(name, f"{unit} {problem.row + 1}: {problem.message}") from None


def _long_from_columns(
    name: str,
    columns: dict[str, Any],
    keep: np.ndarray | None,
    options: _LongOptions,
    preset: presets.Preset | None,
    report_columns: dict[str, str],
) -> Loaded:
    """Labels from the item, worker and label columns (Arrow, any type; nulls are empty cells),
    without a Python loop over rows: each column dictionary-encoded, then NumPy on the codes.

    Raises
    ------
    _Problem
        An empty id, or a label outside the declared classes (with the row it is on).
    InputError
        No labels, a single class, duplicates refused.
    """
    classes, missing = options.classes, options.missing
    n_all = len(columns["item"])
    item, worker, label = encode_columns([columns[role] for role in ("item", "worker", "label")])
    n_rejected = 0
    if keep is not None:
        n_rejected = int(n_all - np.count_nonzero(keep))
        item, worker, label = (_kept(enc, keep) for enc in (item, worker, label))
    for role, enc in (("item", item), ("worker", worker)):
        empty = [k for k, n in enumerate(enc.names) if not n]
        bad = enc.codes < 0
        if empty:
            bad |= np.isin(enc.codes, empty)
        if bad.any():
            raise _Problem(f"empty {role} id", _original_row(int(np.argmax(bad)), keep))
    n_rows = int(item.codes.size)
    if n_rows == 0:
        raise InputError(name, _no_rows(n_rejected, preset))
    is_missing_name = np.array([n.lower() in missing for n in label.names], dtype=bool)
    answered = label.codes >= 0
    if is_missing_name.any():
        answered &= ~is_missing_name[np.maximum(label.codes, 0)]
    n_missing = int(n_rows - np.count_nonzero(answered))
    if n_missing == n_rows:
        raise InputError(name, f"all {n_rows} answers are missing; there are no labels")
    used = np.bincount(label.codes[answered], minlength=len(label.names)) > 0
    used_names = [n for n, u in zip(label.names, used.tolist(), strict=True) if u]
    if classes is not None:
        unknown = [k for k, n in enumerate(label.names) if used[k] and n not in classes]
        if unknown:
            row = int(np.argmax(np.isin(label.codes, unknown) & answered))
            raise _Problem(
                f"label {label.names[unknown[0]]!r} is not among the declared classes {','.join(classes)}",
                _original_row(row, keep),
            )
        class_names = list(classes)
    else:
        class_names = natural_order(used_names)
    if len(class_names) < 2:
        raise InputError(
            name, f"only one class ({class_names[0]!r}) occurs; declare all the classes with --classes"
        )
    position = {c: k for k, c in enumerate(class_names)}
    to_class = np.array([position.get(n, -1) for n in label.names], dtype=np.int32)
    every = bool(answered.all())
    item_arr = item.codes if every else item.codes[answered]
    worker_arr = worker.codes if every else worker.codes[answered]
    label_arr = to_class[label.codes if every else label.codes[answered]]
    report = LoadReport(
        source=name,
        format="long",
        columns=dict(report_columns),
        n_rows=n_rows,
        n_missing=n_missing,
        duplicates=options.duplicates,
        preset=None if preset is None else preset.name,
        n_rejected=n_rejected,
    )
    if preset is not None:
        report.notes.append(_preset_note(preset, n_rejected, options.keep_rejected))
    item_names, worker_names = tuple(item.names), tuple(worker.names)
    keep_rows = _apply_duplicates(name, item_arr, worker_arr, label_arr, item_names, worker_names, report)
    if keep_rows is not None:
        item_arr, worker_arr, label_arr = item_arr[keep_rows], worker_arr[keep_rows], label_arr[keep_rows]
    labels_out = Labels(item_arr, worker_arr, label_arr, item_names, worker_names, tuple(class_names))
    report.n_dropped = n_rows - n_missing - labels_out.n_labels
    return Loaded(labels_out, report)


def _no_rows(n_rejected: int, preset: presets.Preset | None) -> str:
    """Why a table yielded no rows: no rows at all, or every assignment marked rejected."""
    if n_rejected and preset is not None:
        return (
            f"all {n_rejected:,} assignments are marked rejected in its {preset.status} column and were "
            "left out (--keep-rejected keeps them)"
        )
    return "has a header but no rows of labels"


def _preset_note(preset: presets.Preset, n_rejected: int, keep_rejected: bool) -> str:
    text = f"recognised as a {preset.title}"
    if preset.gold:
        text += f"; control answers in {preset.gold} (use them with --gold or --truth on this file)"
    if preset.status:
        text += (
            "; rejected assignments kept"
            if keep_rejected
            else f"; {n_rejected:,} rejected assignments dropped (--keep-rejected keeps them)"
        )
    return text


def _kept(enc: Encoded, keep: np.ndarray) -> Encoded:
    """The rows ``keep`` of an encoded column, renumbered in first-appearance order among them."""
    codes = enc.codes[keep]
    valid = codes >= 0
    values, first = np.unique(codes[valid], return_index=True)
    order = values[np.argsort(first, kind="stable")]
    remap = np.full(len(enc.names) + 1, -1, dtype=np.int32)
    remap[order] = np.arange(order.size, dtype=np.int32)
    return Encoded(np.where(valid, remap[codes], -1).astype(np.int32), [enc.names[k] for k in order.tolist()])


def _original_row(row: int, keep: np.ndarray | None) -> int:
    """A row index among the kept rows, as an index among all rows."""
    return row if keep is None else int(np.flatnonzero(keep)[row])


def _read_long(
    name: str,
    header: Sequence[str],
    rows: Iterable[list[str]],
    reader: Rows,
    idx: dict[str, int],
    options: _LongOptions,
    preset: presets.Preset | None,
    status: int | None,
    report_columns: dict[str, str],
) -> Loaded:
    """The long reader in Python, row by row: used for files Arrow's reader leaves rows out of (rows
    of another length) or finds fault with, so that every message names the physical line."""
    classes, missing, duplicates = options.classes, options.missing, options.duplicates
    i_item, i_worker, i_label = idx["item"], idx["worker"], idx["label"]
    width = max([*idx.values(), *([] if status is None else [status])]) + 1
    items, workers, labels = _Codes(), _Codes(), _Codes()
    if classes is not None:
        for c in classes:
            labels.code(c)
    item_codes, worker_codes, label_codes = array("q"), array("q"), array("q")
    n_rows = n_missing = n_rejected = 0
    for row in rows:
        line = reader.line
        if is_blank(row):
            continue
        if len(row) < width:
            raise InputError(name, f"line {line}: {len(row)} fields, but the label columns need {width}")
        if status is not None and row[status].strip().lower() in presets.REJECTED:
            n_rejected += 1
            continue
        n_rows += 1
        item, worker = row[i_item].strip(), row[i_worker].strip()
        if not item or not worker:
            role = "item" if not item else "worker"
            raise InputError(name, f"line {line}: empty {role} id")
        item_code, worker_code = items.code(item), workers.code(worker)
        answer = row[i_label].strip()
        if is_missing(answer, missing):
            n_missing += 1
            continue
        if classes is not None and answer not in labels.index:
            raise InputError(
                name, f"line {line}: label {answer!r} is not among the declared classes {','.join(classes)}"
            )
        item_codes.append(item_code)
        worker_codes.append(worker_code)
        label_codes.append(labels.code(answer))
    if n_rows == 0:
        raise InputError(name, _no_rows(n_rejected, preset))
    if not label_codes:
        raise InputError(name, f"all {n_rows} answers are missing; there are no labels")

    class_names = list(classes) if classes is not None else natural_order(list(labels.index))
    if len(class_names) < 2:
        raise InputError(
            name, f"only one class ({class_names[0]!r}) occurs; declare all the classes with --classes"
        )
    item_names, worker_names = list(items.index), list(workers.index)  # first appearance
    item_arr = np.frombuffer(item_codes, dtype=np.int64)
    worker_arr = np.frombuffer(worker_codes, dtype=np.int64)
    label_arr = labels.reorder(class_names)[np.frombuffer(label_codes, dtype=np.int64)]

    report = LoadReport(
        source=name,
        format="long",
        columns=dict(report_columns),
        n_rows=n_rows,
        n_missing=n_missing,
        duplicates=duplicates,
        preset=None if preset is None else preset.name,
        n_rejected=n_rejected,
    )
    if preset is not None:
        report.notes.append(_preset_note(preset, n_rejected, options.keep_rejected))
    keep = _apply_duplicates(name, item_arr, worker_arr, label_arr, item_names, worker_names, report)
    if keep is not None:
        item_arr, worker_arr, label_arr = item_arr[keep], worker_arr[keep], label_arr[keep]
    labels_out = Labels(
        item=item_arr,
        worker=worker_arr,
        label=label_arr,
        item_names=tuple(item_names),
        worker_names=tuple(worker_names),
        class_names=tuple(class_names),
    )
    report.n_dropped = n_rows - n_missing - labels_out.n_labels
    return Loaded(labels_out, report)
