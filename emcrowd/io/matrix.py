"""Items x annotators matrices: ``.npy`` files and numeric CSV/TSV matrices (with or without a
row of annotator ids and a column of item ids). NaN or a negative value means no label.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io._common import Loaded, LoadReport, _extra_lines, _LongOptions
from emcrowd.io._numeric import numeric_matrix_loaded
from emcrowd.io._tables import (
    Header,
    Source,
    _Prefixed,
    read_text_columns,
)
from emcrowd.io._text import (
    NPY_MAGIC,
    NUMERIC_MISSING,
    is_blank,
    is_number_row,
    parse_number,
    parse_number_rows,
)


def _npy_target(source: Source) -> Any:
    """What NumPy reads a ``.npy``/``.npz`` from: the path, or a stream's bytes."""
    if source.path is not None:
        return source.path
    import io as _io

    return _io.BytesIO(source.open_binary().read())


def _checked_header(fh: Any, name: str, what: str, available: int | None) -> tuple[tuple[int, ...], Any]:
    """The shape and dtype of the ``.npy`` header at ``fh``, checked before anything is allocated: no
    Python objects, a shape whose bytes (counted in Python integers: no overflow) the data can hold
    (``available`` bytes, when known) and the memory limit allows."""
    from numpy.lib import format as npformat

    from emcrowd import budget

    try:
        version = npformat.read_magic(fh)
        read = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        shape, _, dtype = read(fh)
    except (ValueError, OSError, EOFError, OverflowError) as exc:
        raise InputError(name, f"not a valid .npy header{what} ({exc})") from None
    if dtype.hasobject:
        raise InputError(name, f"{what.strip()} holds Python objects; refusing to unpickle it".strip())
    needed = dtype.itemsize
    for n in shape:
        needed *= int(n)
    if needed >= 1 << 63:
        raise InputError(name, f"header{what} declares shape {shape}, too large for any memory")
    if available is not None and needed > available:
        raise InputError(name, f"{what.strip() or 'array'} claims {needed:,} bytes but holds {available:,}")
    budget.check(needed, f"{name}:{what or ' array'} of shape {shape}")
    return shape, dtype


def load_npy(path: str | os.PathLike | Any, *, ndim: int, name: str | None = None) -> np.ndarray:
    """Load a numeric ``.npy`` array (a path, or a binary file object) without unpickling; an (n, 1)
    array counts as one-dimensional."""
    stream = hasattr(path, "read")
    path_name = name if name is not None else ("<file object>" if stream else os.fspath(path))
    try:
        if stream:
            magic = path.read(len(NPY_MAGIC))
            path.seek(0)
        else:
            with open(path, "rb") as fh:
                magic = fh.read(len(NPY_MAGIC))
    except OSError as exc:
        raise InputError(path_name, f"cannot read ({exc.strerror})") from None
    if magic != NPY_MAGIC:
        if magic[:1] == b"\x80":
            raise InputError(path_name, "is a Python pickle, not a .npy array; refusing to load it")
        if magic[:2] == b"PK":
            raise InputError(path_name, "is a .npz archive; save a single array with numpy.save")
        raise InputError(path_name, "not a valid .npy file (no NPY header)")
    if magic == NPY_MAGIC:  # the header checked (overflow, size, memory limit) before NumPy reads it
        try:
            if stream:
                total = len(path.getbuffer()) if hasattr(path, "getbuffer") else None
                _checked_header(path, path_name, "", None if total is None else total - path.tell())
                path.seek(0)
            else:
                with open(path, "rb") as fh:
                    fh.seek(0, os.SEEK_END)
                    size = fh.tell()
                    fh.seek(0)
                    _checked_header(fh, path_name, "", size)
        except OSError as exc:
            raise InputError(path_name, f"cannot read ({exc.strerror})") from None
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode=None if stream else "r")
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Python objects" in str(exc):
            raise InputError(
                path_name, "holds Python objects (a pickled array); refusing to load it"
            ) from None
        raise InputError(path_name, f"not a valid .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise InputError(path_name, f"not a valid .npy file ({exc})") from None
    path = path_name
    if not isinstance(arr, np.ndarray):
        raise InputError(path, "not a single .npy array")
    if arr.dtype.kind not in "biuf":
        raise InputError(path, f"expected numeric labels, found dtype {arr.dtype}")
    if ndim == 1 and arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != ndim:
        want = "a 1-D vector" if ndim == 1 else "a 2-D items x annotators matrix"
        raise InputError(path, f"expected {want}, found shape {arr.shape}")
    return np.asarray(arr, dtype=np.float64) if ndim == 1 else np.asarray(arr)


def _from_matrix(
    name: str, matrix: np.ndarray, worker_names: tuple[str, ...] | None, classes: tuple[str, ...] | None
) -> Loaded:
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise InputError(name, f"the matrix is empty (shape {matrix.shape[0]} x {matrix.shape[1]})")
    # one rule for .npy, .npz and text matrices: a negative label means "no label"; -inf, like inf, is
    # refused as not a label at all
    negative = (matrix < 0) & np.isfinite(matrix) if matrix.dtype.kind in "if" else None
    n_negative = 0 if negative is None else int(np.count_nonzero(negative))
    if n_negative:
        matrix = np.where(negative, np.nan, matrix)
    try:
        labels = Labels.from_matrix(matrix, worker_names=worker_names, classes=classes)
    except EmcrowdError as exc:
        raise InputError(name, str(exc)) from None
    report = LoadReport(
        source=name,
        format="matrix",
        n_rows=matrix.shape[0],
        n_missing=matrix.shape[0] * matrix.shape[1] - labels.n_labels,
    )
    if n_negative:
        report.notes.append(f"{n_negative:,} negative cells taken as missing (no label)")
    return Loaded(labels, report)


#: Header cells that name a matrix's first column as the item ids (compared in lower case); a blank
#: cell is one too (``pandas.DataFrame.to_csv`` writes the index under an empty name).
ID_HEADERS = frozenset(
    {"", "item", "items", "id", "ids", "item_id", "task", "task_id", "index", "unnamed: 0"}
)


#: More distinct values than this in a matrix, and the reader looks for a column of ids to blame.
PLAUSIBLE_CLASSES = 20


def _read_matrix_text(
    name: str,
    header: list[str],
    rows: Iterable[list[str]],
    classes: tuple[str, ...] | None,
    missing: frozenset[str],
    numeric: bool = False,
) -> Loaded:
    missing = NUMERIC_MISSING | missing
    worker_names = None
    first_line = 1
    seen = [cell.strip() for cell in header]
    has_header = not is_number_row(header, missing)
    if has_header and len(header) > 1 and header[0].strip().lower() not in ID_HEADERS:
        has_header = not is_number_row(header[1:], missing)  # else an id, then numbers: a row of data
    if has_header:
        worker_names = tuple(cell.strip() for cell in header)
        first_line = 2
        body = list(rows)
    else:
        body = [header, *rows]
    while body and is_blank(body[-1]):
        body.pop()
    if not body:
        raise InputError(name, "has a header but no rows of labels")
    body = [row or [""] for row in body]
    notes: list[str] = []
    item_ids = None
    id_named = worker_names is not None and worker_names[0].lower() in ID_HEADERS
    if id_named or _first_column_is_ids(body, missing):
        item_ids = _item_ids(name, body, first_line)
        body = [row[1:] for row in body]
        shown = "(blank)" if worker_names is not None and not worker_names[0] else None
        if worker_names is not None:
            shown = shown or repr(worker_names[0])
            worker_names = worker_names[1:]
        notes.append(f"first column {shown or ''} taken as the item ids".replace("  ", " "))
        if not body[0]:
            raise InputError(name, "has a column of item ids but no columns of labels")
    if worker_names is not None and len(set(worker_names)) != len(worker_names):
        dup = next(n for n in worker_names if worker_names.count(n) > 1)
        raise InputError(name, f"annotator id {dup!r} appears twice in the header")
    try:
        matrix = parse_number_rows(name, body, first_line, missing)
    except InputError as exc:
        if worker_names is None or "is not a number" not in exc.problem:
            raise
        raise InputError(
            name,
            f"{exc.problem}; read as a matrix because no item, worker and label columns were found among "
            f"{', '.join(seen)} (one row per label: name them with --item-col, --worker-col and "
            "--label-col, or choose a platform with --preset)",
        ) from None
    return _matrix_loaded(name, matrix, worker_names, item_ids, notes, classes, numeric)


def _matrix_loaded(
    name: str,
    matrix: np.ndarray,
    worker_names: tuple[str, ...] | None,
    item_ids: tuple[str, ...] | None,
    notes: list[str],
    classes: tuple[str, ...] | None,
    numeric: bool = False,
) -> Loaded:
    if numeric:
        return numeric_matrix_loaded(name, matrix, worker_names, item_ids, notes)
    loaded = _from_matrix(name, matrix, worker_names, classes)
    if item_ids is not None:
        loaded = Loaded(replace(loaded.labels, item_names=item_ids), loaded.report)
    loaded.report.notes.extend(notes)
    if loaded.labels.n_classes > PLAUSIBLE_CLASSES:
        loaded.report.warnings.extend(_why_many_classes(matrix, worker_names))
    return loaded


#: Arrow encodes a matrix a column at a time, at a fixed cost per column (about 0.25 ms) that the
#: row-by-row reader does not pay; it wins only when columns are long: below this many rows per
#: column the row-by-row reader is used (3 rows x 100,000 annotators: 1 s and 110 MB, not 12 s and
#: 760 MB).
ARROW_MIN_ROWS = 500
#: Narrow matrices go to Arrow whatever their length (its per-column cost is then negligible).
ARROW_ANY_WIDTH = 64
#: The row-by-row reader holds every cell as a Python string: it takes files up to this size only.
ROW_READER_MAX_BYTES = 16 << 20


def _wide(source: Source, header: Header) -> bool:
    """Whether a matrix file is too wide for its length for Arrow's column-at-a-time reading: fewer
    than :data:`ARROW_MIN_ROWS` rows for its columns, estimated from the file's size (a cell takes
    at least two bytes: a digit or nothing, and a delimiter)."""
    width = len(header.cells)
    if width <= ARROW_ANY_WIDTH or source.path is None:
        return False
    try:
        size = source.path.stat().st_size
    except OSError:
        return False
    if source.compression is not None:
        size *= 8  # compressed text of digits: decompressed size unknown before reading; be generous
    return size < min(2 * width * ARROW_MIN_ROWS, ROW_READER_MAX_BYTES)


def _read_matrix_arrow(source: Source, header: Header, options: _LongOptions) -> Loaded | None:
    """A text matrix read by Arrow, each column dictionary-encoded and only its distinct cells parsed
    (by :func:`parse_number`, as the row-by-row reader parses every cell). None when the file is one
    the row-by-row reader must read to say exactly what is wrong, or to decide what it is: blank or
    irregular rows, a cell that is not a number, a first column that may hold ids, repeated names."""
    if not source.rereadable or _extra_lines(header) or _wide(source, header):
        return None
    missing = NUMERIC_MISSING | options.missing
    cells = header.cells
    has_header = not is_number_row(cells, missing)
    if has_header and len(cells) > 1 and cells[0].strip().lower() not in ID_HEADERS:
        has_header = not is_number_row(cells[1:], missing)
    worker_names = tuple(c.strip() for c in cells) if has_header else None
    id_named = worker_names is not None and worker_names[0].lower() in ID_HEADERS
    if worker_names is not None and len(set(worker_names[1:] if id_named else worker_names)) != len(
        worker_names[1:] if id_named else worker_names
    ):
        return None
    counted = Source(source.name, "text", source.suffix, None, stream=_Prefixed(b"", source.open_binary()))
    try:
        read = read_text_columns(counted, header, range(len(cells)), has_header=has_header)
    finally:
        counted.stream._rest.close()
    first_line = header.line + 1 if has_header else header.line
    if read.n_irregular or read.n_rows == 0 or read.line_of(0, first_line) is None:
        return None
    columns = read.columns
    item_ids = None
    notes: list[str] = []
    if id_named:
        ids = columns[0]
        item_ids = tuple(ids.names[k] for k in ids.codes.tolist()) if ids.codes.min() >= 0 else None
        if item_ids is None or len(ids.names) != ids.codes.size or "" in ids.names:
            return None  # repeated or empty ids: the row-by-row reader names the line
        columns = columns[1:]
        shown = "(blank)" if not worker_names[0] else repr(worker_names[0])
        notes.append(f"first column {shown} taken as the item ids")
        worker_names = worker_names[1:]
        if not columns:
            return None
    matrix = np.empty((read.n_rows, len(columns)))
    for c, column in enumerate(columns):
        try:
            values = np.array([parse_number(v, missing) for v in column.names], dtype=np.float64)
        except ValueError:
            return None  # not a number, or a first column of ids: decided and named row by row
        matrix[:, c] = values[column.codes]
    return _matrix_loaded(
        source.name, matrix, worker_names, item_ids, notes, options.classes, options.numeric
    )


def _first_column_is_ids(body: list[list[str]], missing: frozenset[str]) -> bool:
    """Whether every row starts with a cell that is not a number (an id) and the rest are numbers."""
    if not body[0] or len(body[0]) < 2:
        return False
    for row in body:
        if not row or is_number_row(row[:1], missing):
            return False
    return is_number_row(body[0][1:], missing)


def _item_ids(name: str, body: list[list[str]], first_line: int) -> tuple[str, ...]:
    ids = tuple(row[0].strip() for row in body)
    seen: dict[str, int] = {}
    for r, item in enumerate(ids):
        if not item:
            raise InputError(name, f"line {first_line + r}: empty item id")
        if item in seen:
            raise InputError(
                name,
                f"line {first_line + r}: item id {item!r} appears twice (also line "
                f"{first_line + seen[item]})",
            )
        seen[item] = r
    return ids


def _why_many_classes(matrix: np.ndarray, worker_names: tuple[str, ...] | None) -> list[str]:
    """Columns of a matrix that look like ids (a different whole number on every row), to explain why
    it has so many classes."""
    out = []
    for c in range(matrix.shape[1]):
        column = matrix[:, c]
        if np.isnan(column).any() or matrix.shape[0] < PLAUSIBLE_CLASSES:
            continue
        if np.unique(column).size == column.size:
            shown = f"column {c + 1}" + (f" ({worker_names[c]!r})" if worker_names else "")
            out.append(
                f"{shown} holds a different number on every row: is it an index or an id column? "
                "Give it the header 'item' (or 'id') to use it as the item ids"
            )
    return out[:2]
