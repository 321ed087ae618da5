"""Objects in memory, both ways: labels from a pandas or polars DataFrame or a pyarrow Table of one
row per label, or from three arrays of ids (:func:`labels_from_frame`, :func:`labels_from_arrays`);
what a model reads from any of these and how its results go back to the user's library
(:func:`labels_and_form`, :class:`ResultForm`); gold labels given as a Series, a mapping or a table,
matched to the items by id (:func:`truth_codes`).

Everything goes through Arrow: the library of an object is found by the module of its type, and
emcrowd never imports pandas or polars itself (it needs neither).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
    is_missing,
    missing_set,
)
from emcrowd.io._tables import as_text, to_encoded
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
    ordinal: bool = False,
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
    classes, missing, duplicates, ordinal
        As for :func:`emcrowd.io.load_labels`.

    Returns
    -------
    Labels
        Items and annotators numbered in order of first appearance; classes in numeric order when
        all are numbers, else lexicographic (or as declared).
    """
    if ordinal:
        from emcrowd.io.ordinal import as_ordinal

        columns = {"item": item, "worker": worker, "label": label}
        plain = labels_from_frame(frame, **columns, classes=classes, missing=missing, duplicates=duplicates)
        return as_ordinal(plain, declared=classes is not None)
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


# --------------------------------------------------------------------------------------------------
# the models' input and output: a table in, the user's own kind of object out
# --------------------------------------------------------------------------------------------------
#: The libraries whose objects come back as they went in (found by the module of the object's type).
LIBRARIES = ("pandas", "polars", "pyarrow")
#: Column names, after the label names, that hold a gold label in a frame of truth.
GOLD_NAMES = ("truth", "gold", "true_label", "gold_label", "golden", "class")


def library_of(obj: Any) -> str | None:
    """``"pandas"``, ``"polars"`` or ``"pyarrow"`` for an object of that library, else None. Found by
    the module of the object's type: the library itself is never imported here."""
    root = type(obj).__module__.split(".", 1)[0]
    return root if root in LIBRARIES else None


def is_table(obj: Any) -> bool:
    """Whether ``obj`` is a DataFrame (pandas, polars, or any other that speaks Arrow) or an Arrow
    table, as opposed to an array, a Series or :class:`Labels`."""
    if isinstance(obj, (np.ndarray, Labels)):
        return False
    library = library_of(obj)
    if library == "pyarrow":
        import pyarrow as pa

        return isinstance(obj, (pa.Table, pa.RecordBatch))
    if library is not None:
        return type(obj).__name__ == "DataFrame"
    has_columns = hasattr(obj, "columns") or hasattr(obj, "column_names")
    return has_columns and (hasattr(obj, "__arrow_c_stream__") or hasattr(obj, "__dataframe__"))


class _Frame:
    """A table in memory read through Arrow: ``table`` holds every column, a pandas index included
    (so that ``df.set_index("task")`` still has a task column); ``columns`` are the other columns;
    ``index`` the pandas row labels (an Arrow array; None for other libraries or a MultiIndex)."""

    def __init__(self, frame: Any) -> None:
        import pyarrow as pa

        self.library = library_of(frame) or "pyarrow"
        try:
            if self.library == "pandas":
                self.table = pa.Table.from_pandas(frame)
            else:
                self.table = arrow_table(frame)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise EmcrowdError(f"cannot read this {type(frame).__name__} through Arrow ({exc})") from None
        self.index = None
        self.index_name: str | None = None
        index_columns: list[str] = []
        meta = self.table.schema.pandas_metadata if self.library == "pandas" else None
        if meta:
            entries = meta.get("index_columns", [])
            index_columns = [e for e in entries if isinstance(e, str)]
            if len(entries) == 1:
                entry = entries[0]
                if isinstance(entry, dict):  # a RangeIndex, kept as metadata only
                    start, stop, step = entry["start"], entry["stop"], entry["step"]
                    self.index = pa.array(range(start, stop, step), type=pa.int64())
                    self.index_name = entry.get("name")
                else:
                    self.index = self.table.column(entry).combine_chunks()
                    self.index_name = next(
                        (c.get("name") for c in meta.get("columns", []) if c.get("field_name") == entry), None
                    )
        self.columns = [n for n in self.table.column_names if n not in index_columns]

    def looks_long(self) -> bool:
        """One row per label: a column named like an item, annotator or label column, or a column that
        is not numbers. Otherwise the table is an items x annotators matrix."""
        import pyarrow as pa

        recognised = {name for names in COLUMN_NAMES.values() for name in names}
        if any(str(n).strip().lower() in recognised for n in self.columns):
            return True
        numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_null)
        return any(not any(test(self.table.schema.field(n).type) for test in numeric) for n in self.columns)


@dataclass(frozen=True)
class ResultForm:
    """How to give results back in the library of the input: the user's item ids, annotator ids and
    class values (Arrow arrays, in code order) and the column names they came from."""

    library: str
    items: Any
    workers: Any
    classes: Any
    class_names: tuple[str, ...]
    item_column: str = "item"
    worker_column: str = "worker"
    label_column: str = "label"

    def labels(self, codes: np.ndarray) -> Any:
        """Each item's class, in the user's class values: a pandas Series indexed by item id, or a
        polars DataFrame / pyarrow Table with an item and a label column."""
        import pyarrow as pa

        values = self.classes.take(pa.array(np.asarray(codes, dtype=np.int64)))
        return self._keyed(self.items, self.item_column, values, self.label_column)

    def proba(self, posteriors: np.ndarray) -> Any:
        """The posteriors with one column per class: a pandas DataFrame indexed by item id (its columns
        the class values), or a polars DataFrame / pyarrow Table with the item column first."""
        import pyarrow as pa

        columns = [pa.array(posteriors[:, k]) for k in range(posteriors.shape[1])]
        if self.library == "pandas":
            names = ["item", *(f"p{k}" for k in range(len(columns)))]
            frame = pa.table([self.items, *columns], names=names).to_pandas().set_index("item")
            frame.columns = self.classes.to_pylist()
            frame.index.name, frame.columns.name = self.item_column, self.label_column
            return frame
        names = list(self.class_names)
        if self.item_column in names:
            names = [f"p_{c}" for c in names]
        return self._finish(pa.table([self.items, *columns], names=[self.item_column, *names]))

    def per_worker(self, values: np.ndarray, name: str) -> Any:
        """One value per annotator, keyed by annotator id (as :meth:`labels` by item)."""
        import pyarrow as pa

        return self._keyed(self.workers, self.worker_column, pa.array(np.asarray(values)), name)

    def _keyed(self, keys: Any, key_name: str, values: Any, name: str) -> Any:
        import pyarrow as pa

        if self.library == "pandas":
            series = pa.table([keys, values], names=["key", "value"]).to_pandas().set_index("key")["value"]
            series.index.name, series.name = key_name, name
            return series
        if name == key_name:
            name = f"{name}_value"
        return self._finish(pa.table([keys, values], names=[key_name, name]))

    def _finish(self, table: Any) -> Any:
        if self.library == "polars":
            import importlib

            return importlib.import_module("polars").from_arrow(table)
        return table


def _originals(column: Any, names: Sequence[str]) -> Any:
    """The user's values (an Arrow array) whose text is each of ``names``, in that order; the names
    themselves, as strings, when some name has no value (a declared class that never occurs)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    distinct = pc.unique(column)
    if pa.types.is_dictionary(distinct.type):
        distinct = distinct.dictionary_decode()
    distinct = distinct.drop_null()
    if str(distinct.type) in ("string_view", "binary_view"):  # (polars' strings) no take() for them
        distinct = distinct.cast(
            pa.large_string() if str(distinct.type) == "string_view" else pa.large_binary()
        )
    position: dict[str, int] = {}
    for k, text in enumerate(pc.utf8_trim_whitespace(as_text(distinct)).to_pylist()):
        position.setdefault(text, k)
    order = [position.get(n) for n in names]
    if any(k is None for k in order):
        return pa.array(list(names), type=pa.string())
    return distinct.take(pa.array(order, type=pa.int64()))


def labels_and_form(
    data: Any,
    *,
    item: str | None = None,
    worker: str | None = None,
    label: str | None = None,
) -> tuple[Labels, ResultForm | None]:
    """The labels a model fits, and how to give its results back.

    * :class:`Labels`: as they are; results as NumPy arrays (None).
    * a DataFrame (pandas, polars) or a pyarrow Table of one row per label (recognised column names
      such as ``task, worker, label``, or any column that is not numbers; or named with ``item=``,
      ``worker=``, ``label=``): read as :func:`labels_from_frame` reads it; results in that library,
      keyed by the user's item ids and in the user's class values.
    * a DataFrame of numbers only: an items x annotators matrix (NaN or null = no label), its columns
      the annotators and, for pandas, its index the item ids; results in that library.
    * anything else (a NumPy matrix, lists): :meth:`Labels.from_matrix`; results as NumPy arrays.
    """
    named = {"item": item, "worker": worker, "label": label}
    given = [f"{role}=" for role, v in named.items() if v is not None]
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        raise EmcrowdError(
            f"{data!s}: a file name; read it with emcrowd.read_labels(path) and fit what that returns"
        )
    if isinstance(data, Labels) or not is_table(data):
        if given:
            raise EmcrowdError(f"{', '.join(given)} name columns of a DataFrame; got {type(data).__name__}")
        if isinstance(data, Labels):
            return data, None
        return Labels.from_matrix(data), None
    frame = _Frame(data)
    if given or frame.looks_long():
        loaded = labels_from_columns("DataFrame", frame.table, item=item, worker=worker, label=label)
        labels, used = loaded.labels, loaded.report.columns
        column = {role: frame.table.column(used[role]) for role in COLUMN_NAMES}
        form = ResultForm(
            frame.library,
            items=_originals(column["item"], labels.item_names),
            workers=_originals(column["worker"], labels.worker_names),
            classes=_originals(column["label"], labels.class_names),
            class_names=labels.class_names,
            item_column=used["item"],
            worker_column=used["worker"],
            label_column=used["label"],
        )
        return labels, form
    return _matrix_frame(frame)


def _matrix_frame(frame: _Frame) -> tuple[Labels, ResultForm]:
    """An items x annotators matrix given as a DataFrame of numbers."""
    import dataclasses

    import pyarrow as pa
    import pyarrow.compute as pc

    if not frame.columns:
        raise EmcrowdError("the DataFrame has no columns")
    matrix = np.column_stack([pc.cast(frame.table.column(n), pa.float64()).to_numpy() for n in frame.columns])
    labels = Labels.from_matrix(matrix, worker_names=tuple(str(n) for n in frame.columns))
    items = pa.array(np.arange(labels.n_items, dtype=np.int64))
    if frame.index is not None and len(frame.index) == labels.n_items:
        names = pc.utf8_trim_whitespace(as_text(frame.index)).to_pylist()
        if None not in names and len(set(names)) == len(names):
            labels = dataclasses.replace(labels, item_names=tuple(names))
            items = frame.index
    form = ResultForm(
        frame.library,
        items=items,
        workers=pa.array(list(labels.worker_names), type=pa.string()),
        classes=pa.array([int(c) for c in labels.class_names], type=pa.int64()),
        class_names=labels.class_names,
        item_column="item" if frame.index_name is None else str(frame.index_name),
    )
    return labels, form


# --------------------------------------------------------------------------------------------------
# gold labels and truth in memory, matched to the items by id
# --------------------------------------------------------------------------------------------------
def truth_codes(truth: Any, data: Labels, *, name: str = "truth", allow_aligned: bool = True) -> np.ndarray:
    """The class code of every item of ``data`` (``-1`` where none) from gold labels in memory.

    Parameters
    ----------
    truth
        * **by item id** (the order does not matter): a pandas Series indexed by item id, a mapping
          ``{item: label}``, a one-column pandas DataFrame indexed by item id, or a table (pandas,
          polars, pyarrow) with an item column and a label column (``item``/``task``/... and
          ``label``/``truth``/``gold``/...; with two columns, the one not named like an item is the
          label). Values are the user's class values (``"cat"``, ``3``); None, NaN and the missing
          markers mean "no gold label".
        * **in the items' order** (``data.item_names``): a NumPy array, a list, a polars Series or an
          Arrow array with one value per item; integers are class **codes** (``-1`` = none), other
          values class values (NaN or None = none).
    data : Labels
        The labels the gold belongs to: their item ids and classes.
    name : str
        What the messages call it (``"truth"``, ``"gold"``).
    allow_aligned : bool
        Whether a value per item in the items' order is accepted.

    Raises
    ------
    EmcrowdError
        Item ids that are not among the labels' items, values that are not among the classes, an item
        with two different gold labels, or an aligned array of the wrong length; each named.
    """
    ids, values = _truth_columns(truth, name)
    if ids is None:
        if not allow_aligned:
            raise EmcrowdError(
                f"{name}: one value per item in the items' order is not accepted here; give gold "
                "labels by item id (a pandas Series indexed by item, a mapping, or a two-column table)"
            )
        return _aligned_codes(values, data, name)
    return _codes_by_id(ids, values, data, name)


def _truth_columns(truth: Any, name: str) -> tuple[Any, Any]:
    """``(ids, values)`` as Arrow arrays for gold given by id; ``(None, values)`` for gold in the
    items' order (values a NumPy array or an Arrow array)."""
    from collections.abc import Mapping

    import pyarrow as pa

    library = library_of(truth)
    if isinstance(truth, (str, bytes)) or hasattr(truth, "read") or hasattr(truth, "__fspath__"):
        raise EmcrowdError(
            f"{name}: a file name; read a truth file with emcrowd.read_truth(path, data) and pass its codes"
        )
    if isinstance(truth, Mapping):
        return _any_array(list(truth.keys()), name, "ids"), _any_array(list(truth.values()), name, "labels")
    if isinstance(getattr(truth, "codes", None), np.ndarray):  # emcrowd.io.Truth
        return None, truth.codes
    if library == "pandas" and not is_table(truth) and hasattr(truth, "index"):  # a Series
        return _pandas_array(truth.index, name, "index"), _pandas_array(truth, name, "values")
    if is_table(truth):
        frame = _Frame(truth)
        if len(frame.columns) == 1 and frame.index is not None:
            return frame.index, frame.table.column(frame.columns[0])
        return _id_and_label_columns(frame, name)
    if library == "polars":
        truth = truth.to_arrow()
    if isinstance(truth, (pa.Array, pa.ChunkedArray)):
        if pa.types.is_integer(truth.type) and truth.null_count == 0:
            return None, truth.to_numpy()
        return None, truth
    values = np.asarray(truth)
    if values.dtype.kind in "iu":
        return None, values
    return None, _any_array(values.tolist() if values.dtype.kind == "O" else values, name, "values")


def _pandas_array(values: Any, name: str, what: str) -> Any:
    import pyarrow as pa

    if getattr(values, "nlevels", 1) > 1:
        raise EmcrowdError(f"{name}: a MultiIndex; index the gold labels by item id only")
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        return pa.array([None if v is None else str(v) for v in list(values)], type=pa.string())


def _any_array(values: Any, name: str, what: str) -> Any:
    """An Arrow array of any values (mixed types taken as their text)."""
    import pyarrow as pa

    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        try:
            return pa.array([None if v is None else str(v) for v in list(values)], type=pa.string())
        except (TypeError, ValueError) as exc:
            raise EmcrowdError(f"{name}: cannot use these {what} ({exc})") from None


def _id_and_label_columns(frame: _Frame, name: str) -> tuple[Any, Any]:
    """The item and gold columns of a table of truth: recognised names, or with two columns, the one
    not named like an item is the label."""
    columns = [str(n) for n in frame.columns]
    lowered = [c.strip().lower() for c in columns]

    def first(candidates: Sequence[str], skip: int | None = None) -> int | None:
        for candidate in candidates:
            for k, c in enumerate(lowered):
                if c == candidate and k != skip:
                    return k
        return None

    i_item = first(COLUMN_NAMES["item"])
    if len(columns) == 2:
        i_item = 0 if i_item is None else i_item
        i_label = 1 - i_item
    else:
        i_label = first((*COLUMN_NAMES["label"], *GOLD_NAMES), skip=i_item)
    if i_item is None or i_label is None:
        raise EmcrowdError(
            f"{name}: a table of gold labels needs an item column and a label column "
            f"(columns: {', '.join(columns)}), or give a Series indexed by item id"
        )
    return frame.table.column(frame.columns[i_item]), frame.table.column(frame.columns[i_label])


def _class_lookup(class_names: Sequence[str]) -> Any:
    """Find a value's class code: by its text, else by number when both are numbers (``1.0`` is
    class ``1``); None when it is not a class."""
    import contextlib

    by_text = {c: k for k, c in enumerate(class_names)}
    by_number: dict[float, int] = {}
    for k, c in enumerate(class_names):
        with contextlib.suppress(ValueError):
            by_number.setdefault(float(c), k)

    def lookup(text: str) -> int | None:
        if text in by_text:
            return by_text[text]
        try:
            return by_number.get(float(text))
        except ValueError:
            return None

    return lookup


def _shown(values: Sequence[str], limit: int = 5) -> str:
    more = f" and {len(values) - limit:,} more" if len(values) > limit else ""
    return ", ".join(repr(v) for v in values[:limit]) + more


def _value_codes(values: Any, data: Labels, name: str) -> np.ndarray:
    """The class code of every value (an Arrow array of any type), ``-1`` for a missing one."""
    encoded = to_encoded(values)
    lookup = _class_lookup(data.class_names)
    missing = missing_set(None)
    code_of = []
    unknown = []
    for text in encoded.names:
        if is_missing(text, missing):
            code_of.append(-1)
            continue
        code = lookup(text)
        if code is None:
            unknown.append(text)
        code_of.append(-1 if code is None else code)
    if unknown:
        raise EmcrowdError(
            f"{name}: {'label' if len(unknown) == 1 else 'labels'} {_shown(unknown)} "
            f"{'is' if len(unknown) == 1 else 'are'} not among the classes {', '.join(data.class_names)}"
        )
    table = np.array([*code_of, -1], dtype=np.int64)  # the last entry for nulls (code -1)
    return table[encoded.codes]


def _aligned_codes(values: Any, data: Labels, name: str) -> np.ndarray:
    """Gold in the items' order: integer codes checked, other values matched to the classes."""
    n = values.shape[0] if isinstance(values, np.ndarray) else len(values)
    if (isinstance(values, np.ndarray) and values.ndim != 1) or n != data.n_items:
        shape = values.shape if isinstance(values, np.ndarray) else (n,)
        raise EmcrowdError(
            f"{name}: shape {shape}, but the labels have {data.n_items} items; one value per item, in the "
            f"order of the labels' items (data.item_names), or give a Series or mapping by item id"
        )
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        bad = (values < -1) | (values >= data.n_classes)
        if bad.any():
            raise EmcrowdError(
                f"{name}: integer values are class codes, -1..{data.n_classes - 1} (-1 = none); "
                f"found {int(values[bad][0])}. Give class values by item id with a Series or a mapping"
            )
        return values.astype(np.int64)
    return _value_codes(values, data, name)


def _codes_by_id(ids: Any, values: Any, data: Labels, name: str) -> np.ndarray:
    """Gold by item id: every id must be an item of ``data``, every value a class (or missing)."""
    if len(ids) != len(values):
        raise EmcrowdError(f"{name}: {len(ids)} item ids for {len(values)} labels")
    gold = _value_codes(values, data, name)
    encoded = to_encoded(ids)
    if (encoded.codes < 0).any():
        raise EmcrowdError(f"{name}: an item id is missing (null)")
    position = {n: j for j, n in enumerate(data.item_names)}
    index = np.array([_find_item(n, position) for n in encoded.names], dtype=np.int64)
    known = index >= 0
    unknown_ids = np.unique(encoded.codes[(~known[encoded.codes]) & (gold >= 0)])
    if unknown_ids.size:
        shown = _shown([encoded.names[k] for k in unknown_ids.tolist()])
        raise EmcrowdError(
            f"{name}: {unknown_ids.size:,} item {'id is' if unknown_ids.size == 1 else 'ids are'} not among "
            f"the labels' items: {shown}"
        )
    rows = np.flatnonzero((gold >= 0) & known[encoded.codes])
    j, g = index[encoded.codes[rows]], gold[rows]
    codes = np.full(data.n_items, -1, dtype=np.int64)
    codes[j] = g
    clash = codes[j] != g
    if clash.any():
        item = data.item_names[j[np.argmax(clash)]]
        raise EmcrowdError(f"{name}: item {item!r} has two different gold labels")
    return codes


def _find_item(text: str, position: dict[str, int]) -> int:
    """An item's code from the text of an id; a whole number written as a float (``7.0``) also finds
    item ``7``. -1 when there is none."""
    j = position.get(text)
    if j is None:
        try:
            number = float(text)
        except ValueError:
            return -1
        if number.is_integer():
            j = position.get(str(int(number)))
    return -1 if j is None else j
