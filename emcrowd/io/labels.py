"""Reading crowd labels: items x annotators matrices and long (one row per label) exports.

Every format ends in the same :class:`emcrowd.data.Labels` (observed labels only) plus a
:class:`LoadReport` that says what was read and what was skipped.

* ``.npy`` — numeric matrix, NaN or a negative value = no label (as in every matrix, and as a negative
  label in ``.npz``); object arrays refused, pickles never loaded.
* ``.csv``/``.tsv``/stdin, **matrix**: numbers, optional first row of annotator ids.
* ``.csv``/``.tsv``/stdin, **long**: a header row and one row per label; the item, worker and label
  columns are found by common names or given explicitly. Ids and labels are opaque strings.
"""

from __future__ import annotations

import os
import sys
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io import presets
from emcrowd.io._tables import (
    Encoded,
    Header,
    Source,
    _Prefixed,
    encode_columns,
    open_source,
    parquet_schema_names,
    read_json_document,
    read_json_lines,
    read_parquet_encoded,
    read_text_columns,
    records_table,
    text_header,
    to_encoded,
)
from emcrowd.io._text import (
    NPY_MAGIC,
    NUMERIC_MISSING,
    Rows,
    is_blank,
    is_number_row,
    natural_order,
    parse_number,
    parse_number_rows,
)

LABEL_KINDS = ("text", "parquet", "json", "jsonl", "npy", "npz")
FORMATS = ("auto", "matrix", "long")
DUPLICATE_POLICIES = ("keep", "first", "last", "error")

#: Column names recognised for each role in a long file, in order of preference (compared in lower case).
COLUMN_NAMES = {
    "item": ("item", "task", "question", "example", "object", "item_id", "task_id", "question_id"),
    "worker": ("worker", "annotator", "labeler", "labeller", "rater", "user", "worker_id", "annotator_id"),
    "label": ("label", "answer", "response", "value", "judgment", "judgement", "annotation"),
}
#: Answers that always mean "no answer" (compared in lower case): never a class.
ALWAYS_MISSING = frozenset({"", "nan"})
#: More answers that mean "no answer" by default; ``--missing`` replaces these (not the ones above).
DEFAULT_MISSING = ALWAYS_MISSING | {"na", "n/a", "null"}


@dataclass
class LoadReport:
    """What a loader read and what it did with it.

    Attributes
    ----------
    source : str
        The file as named by the user (``<stdin>`` for standard input).
    format : str
        ``"matrix"`` or ``"long"``.
    columns : dict
        For long files, the column used for each role (``item``, ``worker``, ``label``).
    n_rows : int
        Data rows (long) or matrix rows read.
    n_missing : int
        Long files: answers skipped as missing. Matrices: empty cells.
    duplicates : str
        The policy applied to repeated (item, worker) pairs.
    n_duplicate_pairs, n_duplicate_rows, n_conflicting_pairs, n_dropped : int
        Pairs seen more than once; the rows beyond each pair's first; pairs whose repeats disagree;
        rows dropped by the ``first``/``last`` policies.
    seconds : float
        Time spent reading.
    preset : str or None
        The platform export recognised (or forced with ``--preset``), if any.
    n_rejected : int
        Rows of rejected assignments left out.
    notes : list of str
        What the reader recognised or decided, for the data summary.
    warnings : list of str
        What looks wrong with the input (shown even with ``--quiet``).
    """

    source: str
    format: str
    columns: dict[str, str] = field(default_factory=dict)
    n_rows: int = 0
    n_missing: int = 0
    duplicates: str = "keep"
    n_duplicate_pairs: int = 0
    n_duplicate_rows: int = 0
    n_conflicting_pairs: int = 0
    n_dropped: int = 0
    seconds: float = 0.0
    preset: str | None = None
    n_rejected: int = 0
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Loaded:
    """A loader's result: the labels and the report on reading them."""

    labels: Labels
    report: LoadReport


def read_labels(path: str | os.PathLike, **options: Any) -> Labels:
    """Read crowd labels from a file (or ``"-"`` for standard input); see :func:`load_labels`.

    Returns
    -------
    Labels
    """
    return load_labels(path, **options).labels


def load_labels(
    path: str | os.PathLike | Any,
    *,
    format: str = "auto",
    item_col: str | None = None,
    worker_col: str | None = None,
    label_col: str | None = None,
    classes: Sequence[str] | None = None,
    missing: Iterable[str] | None = None,
    duplicates: str = "keep",
    preset: str | None = None,
    keep_rejected: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
) -> Loaded:
    """Read crowd labels and report what was read.

    Parameters
    ----------
    path : str, PathLike or file object
        A ``.npy`` matrix, a ``.npz`` of code arrays, a text table (``.csv``, ``.tsv``, ``.txt``;
        compressed as ``.gz``, ``.bz2`` or ``.zst``), Parquet (``.parquet``: a file, or a directory of
        them), JSON Lines (``.jsonl``) or JSON (``.json``: an array of records, or Label Studio's
        export); ``"-"`` for standard input, or a binary or text file object (its kind from its
        name, else from its first bytes; text tables by default).
    format : {"auto", "matrix", "long"}
        ``auto`` takes a text file as long when its header names two of the item, worker and label columns
        (or when a ``*_col`` option or a platform's export is recognised), else as a matrix.
    item_col, worker_col, label_col : str, optional
        Column names in a long file, overriding the recognised names.
    classes : sequence of str, optional
        The classes, in order; labels outside them are an error, and classes may be declared that
        never occur. By default: the distinct labels, in numeric order when all are numbers, else
        in lexicographic order.
    missing : iterable of str, optional
        Answers that mean "no label", compared in any case. Empty answers and ``nan`` always do; by
        default also ``na``, ``n/a`` and ``null``, which these values replace. Missing answers are
        skipped and counted, never made a class.
    duplicates : {"keep", "first", "last", "error"}
        What to do with an (item, worker) pair answered more than once: keep every answer as an
        independent vote, keep the first or the last in file order, or refuse the file.
    preset : str, optional
        A platform's export (see :mod:`emcrowd.io.presets`): ``toloka``, ``mturk``,
        ``label-studio``, ``crowd-kit`` or ``gal``. By default recognised from the header.
    keep_rejected : bool
        Keep the labels of assignments an export marks as rejected (Toloka, Mechanical Turk).
    progress : callable, optional
        Called as a text table is read, with the bytes read so far and the file's size (None for a
        stream).

    Returns
    -------
    Loaded
        ``.labels`` (:class:`Labels`) and ``.report`` (:class:`LoadReport`). Items and annotators are
        numbered in the order they first appear (rows, for a matrix).

    Raises
    ------
    InputError
        For any problem with the file; the message names it.
    """
    start = time.perf_counter()
    if format not in FORMATS:
        raise EmcrowdError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if duplicates not in DUPLICATE_POLICIES:
        raise EmcrowdError(f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, got {duplicates!r}")
    preset = presets.check_name(preset)
    source = open_source(path, (*LABEL_KINDS, "txt") if preset == "gal" else LABEL_KINDS)
    name = source.name
    classes = _declared_classes(classes)
    missing = missing_set(missing)
    columns = {"item": item_col, "worker": worker_col, "label": label_col}
    options = _LongOptions(columns, classes, missing, duplicates, preset, keep_rejected, progress)

    if source.kind in ("npy", "npz") and (any(columns.values()) or preset):
        raise InputError(name, "column and --preset options apply to text, Parquet and JSON files only")
    if source.kind not in ("text", "npy") and format == "matrix":
        raise InputError(name, "a matrix is read from a .npy, .csv or .tsv file")
    if source.kind == "npy":
        if format == "long":
            raise InputError(name, "a .npy file holds a matrix; long format needs a .csv, .tsv or .npz file")
        matrix = load_npy(_npy_target(source), ndim=2, name=name)
        loaded = _from_matrix(name, matrix, None, classes)
    elif source.kind == "npz":
        loaded = _read_npz(name, _npy_target(source), classes, duplicates)
    elif source.kind == "parquet":
        loaded = _read_parquet(source, options)
    elif source.kind in ("json", "jsonl"):
        loaded = _read_json(source, options)
    else:
        loaded = _read_text(source, format, options)
    if "pyarrow" in sys.modules:
        # Arrow's allocator keeps what the parse freed for its next allocation; the fit that follows
        # allocates with NumPy, so give it back (10M-label CSV fit: peak 1,335 MB before this).
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    loaded.report.seconds = time.perf_counter() - start
    return loaded


def _npy_target(source: Source) -> Any:
    """What NumPy reads a ``.npy``/``.npz`` from: the path, or a stream's bytes."""
    if source.path is not None:
        return source.path
    import io as _io

    return _io.BytesIO(source.open_binary().read())


@dataclass
class _LongOptions:
    given: dict[str, str | None]
    classes: tuple[str, ...] | None
    missing: frozenset[str]
    duplicates: str
    preset: str | None
    keep_rejected: bool
    progress: Callable[[int, int | None], None] | None = None


def looks_long(names: Sequence[str]) -> bool:
    """Whether a header names at least two of the item, worker and label columns (one row per label).

    With two, reading it as long fails with a message that asks for the third (``--item-col`` ...),
    which is better than reading ``id,annotator,answer`` as a matrix of three annotators.
    """
    lowered = {n.strip().lower() for n in names}
    return sum(bool(lowered & set(candidates)) for candidates in COLUMN_NAMES.values()) >= 2


def find_column(
    name: str,
    header: Sequence[str],
    role: str,
    given: str | None,
    candidates: Sequence[str],
    option: str | None = None,
) -> int:
    """Index of the column for ``role``: the one named ``given``, else the first recognised name."""
    stripped = [h.strip() for h in header]
    lowered = [h.lower() for h in stripped]
    if given is not None:
        for names in (stripped, lowered):
            key = given.strip() if names is stripped else given.strip().lower()
            if key in names:
                return names.index(key)
        raise InputError(name, f"no column named {given!r} for the {role}s (columns: {', '.join(stripped)})")
    for candidate in candidates:
        if candidate in lowered:
            return lowered.index(candidate)
    raise InputError(
        name,
        f"no {role} column among {', '.join(stripped)} (looked for {', '.join(candidates[:5])}, ...); "
        f"name it with {option or f'--{role}-col'}",
    )


def missing_set(missing: Iterable[str] | None) -> frozenset[str]:
    """The answers that mean "no label", in lower case: empty and NaN always, and the defaults or the
    given ones."""
    if missing is None:
        return DEFAULT_MISSING
    return ALWAYS_MISSING | {m.strip().lower() for m in missing}


def is_missing(answer: str, missing: frozenset[str]) -> bool:
    """Whether a (stripped) answer is one of the missing markers, compared in any case."""
    return answer.lower() in missing


def _declared_classes(classes: Sequence[str] | str | None) -> tuple[str, ...] | None:
    if classes is None:
        return None
    if isinstance(classes, str):
        classes = classes.split(",")
    out = tuple(c.strip() for c in classes)
    if len(out) < 2 or any(not c for c in out) or len(set(out)) != len(out):
        raise EmcrowdError(f"classes must be two or more distinct, non-empty names, got {','.join(out)!r}")
    return out


# --------------------------------------------------------------------------------------------------
# Matrices
# --------------------------------------------------------------------------------------------------
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
    return _matrix_loaded(name, matrix, worker_names, item_ids, notes, classes)


def _matrix_loaded(
    name: str,
    matrix: np.ndarray,
    worker_names: tuple[str, ...] | None,
    item_ids: tuple[str, ...] | None,
    notes: list[str],
    classes: tuple[str, ...] | None,
) -> Loaded:
    loaded = _from_matrix(name, matrix, worker_names, classes)
    if item_ids is not None:
        loaded = Loaded(replace(loaded.labels, item_names=item_ids), loaded.report)
    loaded.report.notes.extend(notes)
    if loaded.labels.n_classes > PLAUSIBLE_CLASSES:
        loaded.report.warnings.extend(_why_many_classes(matrix, worker_names))
    return loaded


def _read_matrix_arrow(source: Source, header: Header, options: _LongOptions) -> Loaded | None:
    """A text matrix read by Arrow, each column dictionary-encoded and only its distinct cells parsed
    (by :func:`parse_number`, as the row-by-row reader parses every cell). None when the file is one
    the row-by-row reader must read to say exactly what is wrong, or to decide what it is: blank or
    irregular rows, a cell that is not a number, a first column that may hold ids, repeated names."""
    if not source.rereadable or _extra_lines(header):
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
    return _matrix_loaded(source.name, matrix, worker_names, item_ids, notes, options.classes)


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


# --------------------------------------------------------------------------------------------------
# Binary coordinate format (.npz)
# --------------------------------------------------------------------------------------------------
NPZ_CODES = ("item", "worker", "label")
NPZ_NAMES = ("item_names", "worker_names", "class_names")


def _npz_members(name: str, path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz`` archive, each header checked against the member's size before anything
    is allocated, and never unpickled."""
    import zipfile

    from numpy.lib import format as npformat

    from emcrowd import budget

    out: dict[str, np.ndarray] = {}
    shapes: dict[str, tuple[tuple[int, ...], Any]] = {}
    declared = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                key = info.filename.removesuffix(".npy")
                _check_member(name, key, info)
                with archive.open(info) as fh:
                    shapes[key] = _checked_header(fh, name, f" array {key!r}", info.file_size)
                declared += shapes[key][1].itemsize * int(np.prod(shapes[key][0], dtype=object))
            budget.check(declared, f"{name}: the arrays (declared sizes)")
            _check_shapes(name, shapes)
            for info in archive.infolist():
                with archive.open(info) as fh:  # streamed into the array, never inflated whole
                    out[info.filename.removesuffix(".npy")] = npformat.read_array(fh, allow_pickle=False)
    except InputError:
        raise
    except zipfile.BadZipFile as exc:
        raise InputError(name, f"not a valid .npz archive ({exc})") from None
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(name, f"not a valid .npz archive ({exc})") from None
    return out


#: Deflate inflates at most about 1032 bytes per compressed byte; a member declaring more is forged.
_MAX_DEFLATE_RATIO = 1100


def _check_member(name: str, key: str, info: Any) -> None:
    """A zip member's declared sizes, before it is opened: consistent with its compression."""
    import zipfile

    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise InputError(name, f"array {key!r}: stored member declares {info.file_size:,} bytes in "
                         f"{info.compress_size:,}")  # fmt: skip
    if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > _MAX_DEFLATE_RATIO * max(
        info.compress_size, 1
    ):
        raise InputError(
            name, f"array {key!r} declares {info.file_size:,} bytes from {info.compress_size:,} compressed "
            "(more than deflate can inflate: a forged or bomb archive)",
        )  # fmt: skip


def _check_shapes(name: str, shapes: dict[str, tuple[tuple[int, ...], Any]]) -> None:
    """The code arrays' headers: 1-D integers of one length (checked before any data is read)."""
    lengths = set()
    for key in NPZ_CODES:
        if key in shapes:
            shape, dtype = shapes[key]
            if len(shape) != 1 or dtype.kind not in "iu":
                raise InputError(name, f"array {key!r} must be a 1-D integer array, found {dtype} {shape}")
            lengths.add(shape[0])
    if len(lengths) > 1:
        raise InputError(name, "arrays item, worker and label differ in length")


def _unpack_names(name: str, arrays: dict[str, np.ndarray], key: str) -> tuple[str, ...] | None:
    """Names stored as a string array ``key``, or packed as UTF-8 ``key_utf8`` plus ``key_ends``."""
    if key in arrays:
        arr = arrays[key]
        if arr.ndim != 1 or arr.dtype.kind != "U":
            raise InputError(
                name, f"array {key!r} must be a 1-D array of strings, found {arr.dtype} {arr.shape}"
            )
        names = tuple(arr.tolist())
    elif f"{key}_utf8" in arrays and f"{key}_ends" in arrays:
        blob, ends = arrays[f"{key}_utf8"], arrays[f"{key}_ends"]
        if blob.dtype != np.uint8 or ends.dtype.kind not in "iu" or (ends.size and ends[-1] != blob.size):
            raise InputError(name, f"packed names {key!r} are malformed")
        if ends.size and (ends[0] < 0 or np.any(np.diff(ends) < 0)):
            raise InputError(name, f"packed names {key!r} are malformed")
        names = _decode_packed(name, key, blob, ends)
    else:
        return None
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(name, f"{key} lists {dup!r} twice")
    return names


def _decode_packed(name: str, key: str, blob: np.ndarray, ends: np.ndarray) -> tuple[str, ...]:
    """The names packed as UTF-8 bytes and end offsets, decoded by Arrow (checked as UTF-8 there):
    2M ids in about 0.2 s, where slicing and decoding each in Python took a second."""
    import pyarrow as pa

    offsets = np.zeros(ends.size + 1, dtype=np.int64)
    offsets[1:] = ends
    strings = pa.LargeStringArray.from_buffers(
        ends.size, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(blob))
    )
    try:
        strings.validate(full=True)
    except pa.ArrowInvalid:
        raise InputError(name, f"packed names {key!r} are not UTF-8") from None
    return tuple(strings.to_pylist())


def _pack_names(names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes of all names and the end offset of each: compact whatever the longest name."""
    encoded = [n.encode("utf-8") for n in names]
    ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), ends


def _read_npz(name: str, path: str | os.PathLike, classes: tuple[str, ...] | None, duplicates: str) -> Loaded:
    """Labels as integer code arrays ``item``, ``worker``, ``label`` (a negative label = missing), with
    optional names (``item_names``, ``worker_names``, ``class_names``, as string arrays or packed
    UTF-8): the fast input format for millions of labels (no text to parse). Written by
    ``emcrowd convert``, ``emcrowd simulate --format npz`` and :func:`labels_npz`.

    Without item or worker names, the codes themselves are the ids (any integers; they are numbered
    densely here). Without class names, labels are class numbers ``0..K-1`` and ``--classes`` names
    them; with class names, ``--classes`` must list them and sets their order.
    """
    arrays = _npz_members(name, path)
    missing_keys = [k for k in NPZ_CODES if k not in arrays]
    if missing_keys:
        raise InputError(name, f"lacks the array(s) {', '.join(missing_keys)} (needs item, worker, label)")
    codes = {k: arrays[k] for k in NPZ_CODES}
    for key, arr in codes.items():
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise InputError(
                name, f"array {key!r} must be a 1-D integer array, found {arr.dtype} {arr.shape}"
            )
    if not (codes["item"].size == codes["worker"].size == codes["label"].size):
        raise InputError(name, "arrays item, worker and label differ in length")
    # Millions of labels: no copies that are not needed (no mask when nothing is missing, codes kept
    # in their own integer type until Labels makes them int32).
    n_missing = int(np.count_nonzero(codes["label"] < 0))
    present = None if n_missing == 0 else codes["label"] >= 0
    if n_missing == codes["label"].size:
        raise InputError(name, "holds no labels")

    def kept(arr: np.ndarray) -> np.ndarray:
        return arr if present is None else arr[present]

    def ids(key: str) -> tuple[np.ndarray, tuple[str, ...]]:
        given = _unpack_names(name, arrays, f"{key}_names")
        if given is None:  # the codes are the ids (rows with a missing label included): number densely
            values, dense = np.unique(codes[key], return_inverse=True)
            return kept(dense), tuple(map(str, values.tolist()))
        raw = kept(codes[key])
        if raw.min() < 0 or raw.max() >= len(given):
            raise InputError(name, f"array {key!r} has codes outside 0..{len(given) - 1}")
        return raw, given

    item, item_names = ids("item")
    worker, worker_names = ids("worker")
    label = kept(codes["label"])
    file_classes = _unpack_names(name, arrays, "class_names")
    if file_classes is None:
        class_names = classes or tuple(map(str, range(max(2, int(label.max()) + 1))))
    elif classes is None:
        class_names = file_classes
    else:
        unknown = [c for c in file_classes if c not in classes]
        if unknown:
            raise InputError(name, f"class {unknown[0]!r} is not among --classes {','.join(classes)}")
        position = {c: k for k, c in enumerate(classes)}
        label = np.array([position[c] for c in file_classes], dtype=np.int32)[label]
        class_names = classes
    if label.max() >= len(class_names):
        raise InputError(name, f"array 'label' has codes outside 0..{len(class_names) - 1}")
    report = LoadReport(
        source=name, format="npz", n_rows=int(codes["label"].size), n_missing=n_missing, duplicates=duplicates
    )
    keep = _apply_duplicates(name, item, worker, label, item_names, worker_names, report)
    if keep is not None:
        item, worker, label = item[keep], worker[keep], label[keep]
    try:
        labels = Labels(item, worker, label, item_names, worker_names, tuple(class_names))
    except EmcrowdError as exc:
        raise InputError(name, str(exc)) from None
    report.n_dropped = report.n_rows - n_missing - labels.n_labels
    return Loaded(labels, report)


def labels_npz(data: Labels) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` input format for ``data`` (write them with ``numpy.savez``).

    The labels are sorted by item, then annotator (keeping the order of repeated pairs), which is the
    order that reads fastest: no sort to find repeated pairs, none to group the labels by item.
    """
    item, worker, label = data.item, data.worker, data.label
    if not _pairs_increase(item, worker, data.n_workers):
        order = np.lexsort((worker, item))  # stable
        item, worker, label = item[order], worker[order], label[order]
    out = {"item": item, "worker": worker, "label": label}
    for key, names in (("item", data.item_names), ("worker", data.worker_names), ("class", data.class_names)):
        out[f"{key}_names_utf8"], out[f"{key}_names_ends"] = _pack_names(names)
    return out


# --------------------------------------------------------------------------------------------------
# Long format
# --------------------------------------------------------------------------------------------------
class _Codes:
    """Strings to integer codes in order of first appearance."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def code(self, key: str) -> int:
        code = self.index.get(key)
        if code is None:
            code = self.index[key] = len(self.index)
        return code

    def reorder(self, names: list[str]) -> np.ndarray:
        """Map from first-appearance code to position in ``names``."""
        position = {n: i for i, n in enumerate(names)}
        return np.array([position[n] for n in self.index], dtype=np.int64)


class _Problem(Exception):
    """Something wrong with one row of a table read by Arrow: ``row`` is its 0-based index among the
    data rows. A file is then read again row by row, to name the line; a stream names the row."""

    def __init__(self, message: str, row: int) -> None:
        super().__init__(message)
        self.message, self.row = message, row


def _roles(
    name: str, names: Sequence[str], options: _LongOptions, preset: presets.Preset | None
) -> dict[str, int]:
    """Column index of each role: the given names, else the preset's, else the recognised ones."""
    given = dict(options.given)
    if preset is not None:
        given = {role: given.get(role) or preset.columns.get(role) for role in COLUMN_NAMES}
    idx = {role: find_column(name, names, role, given[role], COLUMN_NAMES[role]) for role in COLUMN_NAMES}
    if len(set(idx.values())) < 3:
        raise InputError(name, "the item, worker and label columns must be three different columns")
    return idx


def _preset_for(name: str, names: Sequence[str], options: _LongOptions, allow_detect: bool = True):
    """The platform export these columns come from (forced by --preset, or recognised), or None."""
    chosen = options.preset or (presets.detect(names) if allow_detect else None)
    if chosen is None:
        return None
    try:
        return presets.resolve(chosen, names, options.given, name)
    except EmcrowdError as exc:
        raise InputError(name, str(exc).removeprefix(f"{name}: ")) from None


def _looks_headerless_gal(header: Header) -> bool:
    """A Get-Another-Label file: three text fields per row and no header (the first row is not one of
    names, and the next row is no more numeric than it)."""
    cells = [c.strip() for c in header.cells]
    if header.delimiter != "\t":  # the format is tab-separated; a CSV without a header is a matrix
        return False
    if len(cells) != 3 or header.next_cells is None or len(header.next_cells) != 3:
        return False
    lowered = {c.lower() for c in cells}
    if any(lowered & set(candidates) for candidates in COLUMN_NAMES.values()) or presets.detect(cells):
        return False
    if is_number_row(cells) or is_number_row(header.next_cells):
        return False
    return not is_number_row(cells[:2]) or not is_number_row(header.next_cells[:2])


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
        rows = iter(Rows(source, header.delimiter))
        first = next((row for row in rows if not is_blank(row)), None)
        if first is None:
            raise InputError(name, "is empty")
        return _read_matrix_text(name, first, rows, options.classes, options.missing)
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
        return _long_from_columns(name, columns, keep, options, preset, report_columns)
    except _Problem as problem:
        if source.rereadable:
            return slowly()
        first = header.line + 1 + _extra_lines(header) if has_header else header.line
        line = read.line_of(problem.row, first)
        where = f"line {line}" if line is not None else f"data row {problem.row + 1}"
        raise InputError(name, f"{where}: {problem.message}") from None


def _extra_lines(header: Header) -> int:
    """Physical lines a quoted header spans beyond its first."""
    return sum(cell.count("\n") for cell in header.cells)


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


def _read_json(source: Source, options: _LongOptions) -> Loaded:
    name = source.name
    if source.kind == "jsonl":
        table = read_json_lines(source)
        unit = "line"
    else:
        document = read_json_document(source)
        if options.preset == "label-studio" or (options.preset is None and _is_label_studio(document)):
            return _read_label_studio(name, document, options)
        table = records_table(name, document)
        unit = "record"
    names = list(table.column_names)
    preset = _preset_for(name, names, options)
    idx = _roles(name, names, options, preset)
    wanted = {role: names[i] for role, i in idx.items()}
    status = preset.status if preset is not None and preset.status and not options.keep_rejected else None
    return _long_table(name, table, wanted, status, options, preset, unit)


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
        raise InputError(name, "has a header but no rows of labels")
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
        raise InputError(name, "has a header but no rows of labels")
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


# --------------------------------------------------------------------------------------------------
# DataFrames and arrays (labels_from_frame, labels_from_arrays)
# --------------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------------
# Label Studio's JSON export
# --------------------------------------------------------------------------------------------------
def _is_label_studio(document: Any) -> bool:
    """A Label Studio export: an array of tasks, each with ``data`` and ``annotations``."""
    return (
        isinstance(document, list)
        and bool(document)
        and all(isinstance(t, dict) and "annotations" in t and "data" in t for t in document[:100])
    )


def _annotator(annotation: dict[str, Any]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return "" if who is None else str(who)


def label_studio_rows(
    name: str, document: Any, control: str | None
) -> tuple[list[str], list[str], list[str | None], list[bool], int, str]:
    """(items, annotators, answers, ground-truth flags, cancelled annotations skipped, control name)
    of a Label Studio export: one row per annotation; the answer is the annotation's choice(s) in the
    ``choices`` control named ``control`` (or the only one), several choices joined by ``|``."""
    if not _is_label_studio(document):
        raise InputError(name, "is not a Label Studio JSON export (an array of tasks with annotations)")
    controls: dict[str, None] = {}
    for task in document:
        for annotation in task.get("annotations") or []:
            for result in annotation.get("result") or []:
                if isinstance(result, dict) and result.get("type") == "choices":
                    controls[str(result.get("from_name"))] = None
    if control is None:
        if len(controls) > 1:
            raise InputError(
                name, f"several choice controls ({', '.join(controls)}); choose one with --label-col"
            )
        control = next(iter(controls), None)
    elif control not in controls:
        shown = ", ".join(controls) or "none"
        raise InputError(name, f"no choice control named {control!r} (controls: {shown})")
    items: list[str] = []
    workers: list[str] = []
    answers: list[str | None] = []
    gold: list[bool] = []
    cancelled = 0
    for k, task in enumerate(document):
        if "id" not in task:
            raise InputError(name, f"task {k + 1} has no id")
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                cancelled += 1
                continue
            chosen = None
            for result in annotation.get("result") or []:
                if isinstance(result, dict) and result.get("from_name") == control:
                    choices = (result.get("value") or {}).get("choices") or []
                    chosen = "|".join(str(c) for c in choices) or None
            items.append(str(task["id"]))
            workers.append(_annotator(annotation))
            answers.append(chosen)
            gold.append(bool(annotation.get("ground_truth")))
    if not items:
        raise InputError(name, "holds no annotations")
    return items, workers, answers, gold, cancelled, str(control)


def _read_label_studio(name: str, document: Any, options: _LongOptions) -> Loaded:
    import pyarrow as pa

    if options.given["item"] or options.given["worker"]:
        raise InputError(name, "a Label Studio export names its items and annotators; use --label-col only")
    items, workers, answers, _, cancelled, control = label_studio_rows(name, document, options.given["label"])
    columns = {
        "item": pa.array(items, type=pa.string()),
        "worker": pa.array(workers, type=pa.string()),
        "label": pa.array(answers, type=pa.string()),
    }
    preset = presets.Preset("label-studio", {"item": "id", "worker": "completed_by", "label": control})
    try:
        loaded = _long_from_columns(name, columns, None, options, preset, preset.columns)
    except _Problem as problem:
        raise InputError(name, f"annotation {problem.row + 1}: {problem.message}") from None
    loaded.report.notes[-1] += f"; {cancelled:,} cancelled annotations skipped"
    return loaded


def _pairs_increase(item: np.ndarray, worker: np.ndarray, n_workers: int, chunk: int = 1 << 20) -> bool:
    """Whether the (item, worker) pairs strictly increase, checked a chunk at a time (little memory)."""
    for start in range(0, item.size, chunk):
        stop = min(start + chunk + 1, item.size)  # one row of overlap with the next chunk
        key = item[start:stop].astype(np.int64) * n_workers + worker[start:stop]
        if not np.all(key[1:] > key[:-1]):
            return False
    return True


def _apply_duplicates(
    name: str,
    item: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    item_names: Sequence[str],
    worker_names: Sequence[str],
    report: LoadReport,
) -> np.ndarray | None:
    """Count repeated (item, worker) pairs into ``report``; return the rows to keep (None: all of them).

    The policy is ``report.duplicates``; ``error`` raises on the first repeated pair.
    """
    if _pairs_increase(item, worker, len(worker_names)):
        return None  # sorted by item, then worker, with no pair twice: the usual case for .npz input
    key = item.astype(np.int64) * len(worker_names) + worker
    check = np.sort(key)  # an unstable sort finds out whether any pair repeats, at half the cost
    if not np.any(check[1:] == check[:-1]):
        return None
    del check
    order = np.argsort(key, kind="stable")  # stable: within a pair, file order
    sorted_key = key[order]
    del key
    same = sorted_key[1:] == sorted_key[:-1]
    if not same.any():
        return None
    starts = np.flatnonzero(np.r_[True, ~same])
    del same
    n_rows = sorted_key.size
    sizes = np.diff(np.r_[starts, n_rows])
    repeated = sizes > 1
    report.n_duplicate_pairs = int(repeated.sum())
    report.n_duplicate_rows = int(n_rows - starts.size)
    sorted_label = label[order]
    lo = np.minimum.reduceat(sorted_label, starts)
    hi = np.maximum.reduceat(sorted_label, starts)
    report.n_conflicting_pairs = int((repeated & (lo != hi)).sum())
    if report.duplicates == "keep":
        return None
    if report.duplicates == "error":
        group = int(np.argmax(repeated))
        first = order[starts[group]]
        raise InputError(
            name,
            f"worker {worker_names[worker[first]]!r} labelled item {item_names[item[first]]!r} "
            f"{sizes[group]} times ({report.n_duplicate_pairs} repeated pairs in all); "
            "choose --duplicates keep, first or last",
        )
    ends = np.r_[starts[1:], n_rows] - 1
    chosen = order[starts] if report.duplicates == "first" else order[ends]
    return np.sort(chosen)
