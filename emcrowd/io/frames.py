"""Labels from objects in memory: a pandas or polars DataFrame or a pyarrow Table of one row per
label (read through Arrow: emcrowd needs neither pandas nor polars), or three arrays of ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io._common import (
    COLUMN_NAMES,
    DUPLICATE_POLICIES,
    Loaded,
    _declared_classes,
    _LongOptions,
    missing_set,
)
from emcrowd.io.long import _long_table
from emcrowd.io.roles import _roles


def arrow_table(frame: Any) -> Any:
    """A pyarrow Table from a pyarrow Table, or any DataFrame that speaks Arrow: the Arrow PyCapsule
    stream (pandas >= 2.2, polars, DuckDB, ...), ``to_arrow()``, or the DataFrame interchange
    protocol. pandas is never imported here."""
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    if hasattr(frame, "__arrow_c_stream__"):
        return pa.table(frame)
    if hasattr(frame, "to_arrow"):
        table = frame.to_arrow()
        if isinstance(table, pa.Table):
            return table
    if hasattr(frame, "__dataframe__"):
        from pyarrow.interchange import from_dataframe

        return from_dataframe(frame)
    raise EmcrowdError(
        f"expected a DataFrame (pandas, polars) or a pyarrow Table, got {type(frame).__name__}"
    )


def labels_from_columns(
    name: str,
    table: Any,
    *,
    item: str | None = None,
    worker: str | None = None,
    label: str | None = None,
    classes: Sequence[str] | None = None,
    missing: Iterable[str] | None = None,
    duplicates: str = "keep",
) -> Loaded:
    """Labels from a pyarrow Table of one row per label (the columns found as in a long file)."""
    if duplicates not in DUPLICATE_POLICIES:
        raise EmcrowdError(f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, got {duplicates!r}")
    options = _LongOptions(
        {"item": item, "worker": worker, "label": label},
        _declared_classes(classes),
        missing_set(missing),
        duplicates,
        None,
        False,
    )
    names = [str(n) for n in table.column_names]
    try:
        idx = _roles(name, names, options, None)
    except InputError as exc:
        problem = exc.problem
        for role in COLUMN_NAMES:
            problem = problem.replace(f"--{role}-col", f"{role}=")
        raise EmcrowdError(f"{name}: {problem}") from None
    wanted = {role: names[i] for role, i in idx.items()}
    try:
        return _long_table(name, table, wanted, None, options, None, "row")
    except InputError as exc:
        raise EmcrowdError(f"{name}: {exc.problem}") from None


def labels_from_frame(
    frame: Any,
    *,
    item: str | None = None,
    worker: str | None = None,
    label: str | None = None,
    classes: Sequence[str] | None = None,
    missing: Iterable[str] | None = None,
    duplicates: str = "keep",
) -> Labels:
    """Build from a table of one row per label: a pandas or polars DataFrame, or a pyarrow Table.

    The table is read through Arrow (the PyCapsule stream or the DataFrame interchange protocol),
    so emcrowd needs neither pandas nor polars. Ids and labels of any type are taken as their
    text; nulls (and NaN) in the label column are missing labels.

    Parameters
    ----------
    frame : DataFrame or pyarrow.Table
    item, worker, label : str, optional
        Column names; by default the recognised names, as in a long CSV (``item``/``task``/...,
        ``worker``/``annotator``/..., ``label``/``answer``/...).
    classes, missing, duplicates
        As for :func:`emcrowd.io.load_labels`.

    Returns
    -------
    Labels
        Items and annotators numbered in order of first appearance; classes in numeric order when
        all are numbers, else lexicographic (or as declared).
    """
    return labels_from_columns(
        "DataFrame",
        arrow_table(frame),
        item=item,
        worker=worker,
        label=label,
        classes=classes,
        missing=missing,
        duplicates=duplicates,
    ).labels


def labels_from_arrays(
    item: Any,
    worker: Any,
    label: Any,
    *,
    classes: Sequence[str] | None = None,
    missing: Iterable[str] | None = None,
    duplicates: str = "keep",
) -> Labels:
    """Build from three equal-length sequences, one entry per label: item ids, annotator ids and
    labels, of any type (integers, strings, ...; taken as their text, so ``7`` and ``"7"`` are
    the same id). None or NaN in ``label`` is a missing label.

    Parameters
    ----------
    item, worker, label : array-like of shape (n_labels,)
    classes, missing, duplicates
        As for :func:`emcrowd.io.load_labels`.

    Returns
    -------
    Labels
    """
    import pyarrow as pa

    columns = {}
    for name, values in (("item", item), ("worker", worker), ("label", label)):
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise EmcrowdError(f"{name} must be one-dimensional, got shape {arr.shape}")
        try:
            columns[name] = pa.array(arr if arr.dtype.kind != "O" else arr.tolist(), from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise EmcrowdError(f"{name}: cannot use these values as ids ({exc})") from None
    lengths = {len(c) for c in columns.values()}
    if len(lengths) > 1:
        raise EmcrowdError(f"item, worker and label differ in length ({', '.join(map(str, lengths))})")
    return labels_from_columns(
        "arrays", pa.table(columns), classes=classes, missing=missing, duplicates=duplicates
    ).labels
