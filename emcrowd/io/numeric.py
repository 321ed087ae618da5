"""Numeric answers in memory and numeric gold: tables in, results in the user's library out, and truth
values (a score per item) read from the files the truth of classes is read from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io._numeric import numeric_loaded, parse_value
from emcrowd.io.frames import (
    COLUMN_NAMES,
    ResultForm,
    _Frame,
    _originals,
    as_text,
    is_table,
    labels_from_columns,
)
from emcrowd.io.truth import load_truth
from emcrowd.numeric_data import NumericLabels


def numeric_and_form(
    data: Any, *, item: str | None = None, worker: str | None = None, label: str | None = None
) -> tuple[NumericLabels, ResultForm | None]:
    """The numeric answers a model fits, and how to give results back (as
    :func:`emcrowd.io.frames.labels_and_form` for classes): :class:`NumericLabels` as they are; a table
    of one row per label (pandas, polars, pyarrow; columns recognised or named); a table of numbers only
    (an items x annotators matrix, NaN = no answer); a NumPy matrix."""
    import pyarrow as pa
    import pyarrow.compute as pc

    given = [f"{role}=" for role, v in {"item": item, "worker": worker, "label": label}.items() if v]
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        raise EmcrowdError(f"{data!s}: a file name; read it with emcrowd.read_labels(path, numeric=True)")
    if isinstance(data, (NumericLabels, Labels)) or not is_table(data):
        if given:
            raise EmcrowdError(f"{', '.join(given)} name columns of a DataFrame; got {type(data).__name__}")
        if isinstance(data, NumericLabels):
            return data, None
        if isinstance(data, Labels):
            return numeric_loaded("labels", _as_loaded(data)).labels, None  # type: ignore[return-value]
        try:
            return NumericLabels.from_matrix(np.asarray(data, dtype=np.float64)), None
        except (TypeError, ValueError) as exc:
            raise EmcrowdError(f"numeric labels must be numbers ({exc})") from None
    frame = _Frame(data)
    if given or frame.looks_long():
        loaded = labels_from_columns("DataFrame", frame.table, item=item, worker=worker, label=label)
        try:
            labels = numeric_loaded("DataFrame", loaded).labels
        except InputError as exc:
            raise EmcrowdError(f"DataFrame: {exc.problem.split('; --numeric')[0]}") from None
        used = loaded.report.columns
        column = {role: frame.table.column(used[role]) for role in COLUMN_NAMES}
        form = ResultForm(
            frame.library,
            items=_originals(column["item"], labels.item_names),
            workers=_originals(column["worker"], labels.worker_names),
            classes=None,
            class_names=(),
            item_column=used["item"],
            worker_column=used["worker"],
            label_column=used["label"],
        )
        return labels, form  # type: ignore[return-value]
    if not frame.columns:
        raise EmcrowdError("the DataFrame has no columns")
    matrix = np.column_stack([pc.cast(frame.table.column(n), pa.float64()).to_numpy() for n in frame.columns])
    item_names = None
    items = pa.array(np.arange(matrix.shape[0], dtype=np.int64))
    if frame.index is not None and len(frame.index) == matrix.shape[0]:
        names = pc.utf8_trim_whitespace(as_text(frame.index)).to_pylist()
        if None not in names and len(set(names)) == len(names):
            item_names, items = tuple(names), frame.index
    labels = NumericLabels.from_matrix(
        matrix, worker_names=tuple(str(n) for n in frame.columns), item_names=item_names
    )
    form = ResultForm(
        frame.library,
        items=items,
        workers=pa.array(list(labels.worker_names), type=pa.string()),
        classes=None,
        class_names=(),
        item_column="item" if frame.index_name is None else str(frame.index_name),
    )
    return labels, form


def _as_loaded(labels: Labels) -> Any:
    from emcrowd.io._common import Loaded, LoadReport

    return Loaded(labels, LoadReport(source="labels", format="long"))


def per_item_frame(form: ResultForm, columns: dict[str, np.ndarray]) -> Any:
    """Several values per item as a table in the user's library: a pandas DataFrame indexed by item
    id, or a polars DataFrame / pyarrow Table with the item column first."""
    import pyarrow as pa

    arrays = [pa.array(np.asarray(v)) for v in columns.values()]
    if form.library == "pandas":
        table = pa.table([form.items, *arrays], names=["__item", *columns])
        frame = table.to_pandas().set_index("__item")
        frame.index.name = form.item_column
        return frame
    return form._finish(pa.table([form.items, *arrays], names=[form.item_column, *columns]))


def numeric_truth(
    path: Any,
    data: NumericLabels,
    *,
    allow_aligned: bool = True,
    missing: Iterable[str] | None = None,
    item_col: str | None = None,
    label_col: str | None = None,
    own_item_col: str | None = None,
    own_label_col: str | None = None,
) -> tuple[np.ndarray, int]:
    """The true (or gold) value of every item of ``data`` (NaN where none), and the number of ids that
    are not among the items; read from every file :func:`emcrowd.io.load_truth` reads (by id, or a
    vector aligned with the rows of a matrix), or in memory: a pandas Series indexed by item, a mapping
    ``{item: value}``, or one value per item (NaN = none)."""
    if _in_memory(path):
        return _truth_in_memory(path, data), 0
    # the reader of gold classes does the reading; the "classes" it matches against are any finite
    # number, each distinct value coded once (so repeated equal gold values do not conflict)
    values: list[float] = []
    codes_of: dict[float, int] = {}

    def match(value: str | float) -> int | None:
        number = parse_value(value) if isinstance(value, str) else float(value)
        if number is None or not np.isfinite(number):
            return None
        if number not in codes_of:
            codes_of[number] = len(values)
            values.append(number)
        return codes_of[number]

    stand_in = Labels(
        item=np.zeros(1, dtype=np.int32),
        worker=np.zeros(1, dtype=np.int32),
        label=np.zeros(1, dtype=np.int32),
        item_names=data.item_names,
        worker_names=("-",),
        class_names=("\0a", "\0b"),
    )
    try:
        truth = load_truth(
            path,
            stand_in,
            allow_aligned=allow_aligned,
            missing=missing,
            item_col=item_col,
            label_col=label_col,
            own_item_col=own_item_col,
            own_label_col=own_label_col,
            matcher=match,
        )
    except InputError as exc:
        problem = exc.problem
        if "is not among the classes" in problem:
            problem = problem.split(" is not among the classes")[0] + " is not a finite number"
        raise InputError(exc.path, problem) from None
    out = np.full(data.n_items, np.nan)
    known = truth.codes >= 0
    out[known] = np.asarray(values)[truth.codes[known]]
    return out, truth.n_unknown_items


def _in_memory(obj: Any) -> bool:
    return not isinstance(obj, (str, bytes, os.PathLike)) and not hasattr(obj, "read")


def _truth_in_memory(truth: Any, data: NumericLabels) -> np.ndarray:
    out = np.full(data.n_items, np.nan)
    if isinstance(truth, dict) or hasattr(truth, "index"):
        pairs = truth.items()
        position = {n: j for j, n in enumerate(data.item_names)}
        for key, value in pairs:
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            j = position.get(str(key).strip())
            if j is None:
                raise EmcrowdError(f"gold item {key!r} is not among the labelled items")
            number = float(value)
            if not np.isfinite(number):
                raise EmcrowdError(f"gold value for item {key!r} is not a finite number: {value!r}")
            out[j] = number
        return out
    values = np.asarray(truth, dtype=np.float64).reshape(-1)
    if values.shape[0] != data.n_items:
        raise EmcrowdError(f"gold has {values.shape[0]} values for {data.n_items} items")
    if np.isinf(values).any():
        raise EmcrowdError("gold values must be finite numbers or NaN (found inf)")
    return values.copy()
