"""Reading crowd labels: items x annotators matrices and long (one row per label) exports.

Every format ends in the same :class:`emcrowd.data.Labels` (observed labels only) plus a
:class:`LoadReport` that says what was read and what was skipped.

* ``.npy`` — numeric matrix, NaN = no label; object arrays refused, pickles never loaded.
* ``.csv``/``.tsv``/stdin, **matrix**: numbers, optional first row of annotator ids.
* ``.csv``/``.tsv``/stdin, **long**: a header row and one row per label; the item, worker and label
  columns are found by common names or given explicitly. Ids and labels are opaque strings.
"""

from __future__ import annotations

import os
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io._text import (
    NPY_MAGIC,
    NUMERIC_MISSING,
    Rows,
    check_readable,
    display,
    is_blank,
    is_number_row,
    natural_order,
    parse_number_rows,
)

LABEL_SUFFIXES = (".npy", ".npz", ".csv", ".tsv")
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
    path: str | os.PathLike,
    *,
    format: str = "auto",
    item_col: str | None = None,
    worker_col: str | None = None,
    label_col: str | None = None,
    classes: Sequence[str] | None = None,
    missing: Iterable[str] | None = None,
    duplicates: str = "keep",
) -> Loaded:
    """Read crowd labels and report what was read.

    Parameters
    ----------
    path : str or PathLike
        A ``.npy``, ``.csv`` or ``.tsv`` file, or ``"-"`` for CSV/TSV on standard input.
    format : {"auto", "matrix", "long"}
        ``auto`` takes a text file as long when its header names two of the item, worker and label columns
        (or when a ``*_col`` option is given), else as a matrix.
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

    Returns
    -------
    Loaded
        ``.labels`` (:class:`Labels`) and ``.report`` (:class:`LoadReport`).

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
    name = display(path)
    suffix = check_readable(path, LABEL_SUFFIXES)
    classes = _declared_classes(classes)
    missing = missing_set(missing)
    columns = {"item": item_col, "worker": worker_col, "label": label_col}

    if suffix in (".npy", ".npz") and any(columns.values()):
        raise InputError(name, "column options apply to .csv and .tsv files only")
    if suffix == ".npy":
        if format == "long":
            raise InputError(name, "a .npy file holds a matrix; long format needs a .csv, .tsv or .npz file")
        matrix = load_npy(path, ndim=2)
        loaded = _from_matrix(name, matrix, None, classes)
    elif suffix == ".npz":
        loaded = _read_npz(name, path, classes, duplicates)
    else:
        reader = Rows(path)
        rows = iter(reader)
        header = next((row for row in rows if not is_blank(row)), None)
        if header is None:
            raise InputError(name, "is empty")
        numeric_header = is_number_row(header, NUMERIC_MISSING | missing)
        long = format == "long" or (
            format == "auto" and (any(columns.values()) or (not numeric_header and looks_long(header)))
        )
        if long:
            if numeric_header and not any(columns.values()):
                raise InputError(
                    name, "long format needs a header row naming the item, worker and label columns"
                )
            loaded = _read_long(name, header, rows, reader, columns, classes, missing, duplicates)
        else:
            loaded = _read_matrix_text(name, header, rows, classes, missing)
    loaded.report.seconds = time.perf_counter() - start
    return loaded


def looks_long(names: Sequence[str]) -> bool:
    """Whether a header names at least two of the item, worker and label columns (one row per label).

    With two, reading it as long fails with a message that asks for the third (``--item-col`` ...),
    which is better than reading ``id,annotator,answer`` as a matrix of three annotators.
    """
    lowered = {n.strip().lower() for n in names}
    return sum(bool(lowered & set(candidates)) for candidates in COLUMN_NAMES.values()) >= 2


def find_column(
    name: str, header: Sequence[str], role: str, given: str | None, candidates: Sequence[str]
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
        f"name it with --{role}-col",
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
def load_npy(path: str | os.PathLike, *, ndim: int) -> np.ndarray:
    """Load a numeric ``.npy`` array without unpickling; an (n, 1) array counts as one-dimensional."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(NPY_MAGIC))
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror})") from None
    if magic != NPY_MAGIC:
        if magic[:1] == b"\x80":
            raise InputError(path, "is a Python pickle, not a .npy array; refusing to load it")
        if magic[:2] == b"PK":
            raise InputError(path, "is a .npz archive; save a single array with numpy.save")
        raise InputError(path, "not a valid .npy file (no NPY header)")
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Python objects" in str(exc):
            raise InputError(path, "holds Python objects (a pickled array); refusing to load it") from None
        raise InputError(path, f"not a valid .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise InputError(path, f"not a valid .npy file ({exc})") from None
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
    return Loaded(labels, report)


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
    if not is_number_row(header, missing):
        worker_names = tuple(cell.strip() for cell in header)
        if len(set(worker_names)) != len(worker_names):
            dup = next(n for n in worker_names if worker_names.count(n) > 1)
            raise InputError(name, f"annotator id {dup!r} appears twice in the header")
        first_line = 2
        body = list(rows)
    else:
        body = [header, *rows]
    while body and is_blank(body[-1]):
        body.pop()
    if not body:
        raise InputError(name, "has a header but no rows of labels")
    body = [row or [""] for row in body]
    matrix = parse_number_rows(name, body, first_line, missing)
    return _from_matrix(name, matrix, worker_names, classes)


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

    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                key = info.filename.removesuffix(".npy")
                with archive.open(info) as fh:
                    version = npformat.read_magic(fh)
                    read_header = (
                        npformat.read_array_header_1_0
                        if version == (1, 0)
                        else npformat.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(fh)
                    if dtype.hasobject:
                        raise InputError(name, f"array {key!r} holds Python objects; refusing to unpickle it")
                    needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                    if needed > info.file_size:
                        raise InputError(
                            name, f"array {key!r} claims {needed:,} bytes but holds {info.file_size:,}"
                        )
                with archive.open(info) as fh:
                    out[key] = npformat.read_array(fh, allow_pickle=False)
    except InputError:
        raise
    except zipfile.BadZipFile as exc:
        raise InputError(name, f"not a valid .npz archive ({exc})") from None
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(name, f"not a valid .npz archive ({exc})") from None
    return out


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
        data = blob.tobytes()
        starts = np.r_[0, ends[:-1]].tolist()
        try:
            names = tuple(data[s:e].decode("utf-8") for s, e in zip(starts, ends.tolist(), strict=True))
        except UnicodeDecodeError:
            raise InputError(name, f"packed names {key!r} are not UTF-8") from None
    else:
        return None
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(name, f"{key} lists {dup!r} twice")
    return names


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


def _read_long(
    name: str,
    header: list[str],
    rows: Iterable[list[str]],
    reader: Rows,
    given: dict[str, str | None],
    classes: tuple[str, ...] | None,
    missing: frozenset[str],
    duplicates: str,
) -> Loaded:
    idx = {role: find_column(name, header, role, given[role], COLUMN_NAMES[role]) for role in COLUMN_NAMES}
    if len(set(idx.values())) < 3:
        raise InputError(name, "the item, worker and label columns must be three different columns")
    i_item, i_worker, i_label = idx["item"], idx["worker"], idx["label"]
    width = max(idx.values()) + 1
    items, workers, labels = _Codes(), _Codes(), _Codes()
    if classes is not None:
        for c in classes:
            labels.code(c)
    item_codes, worker_codes, label_codes = array("q"), array("q"), array("q")
    n_rows = n_missing = 0
    for row in rows:
        line = reader.line
        if is_blank(row):
            continue
        n_rows += 1
        if len(row) < width:
            raise InputError(name, f"line {line}: {len(row)} fields, but the label columns need {width}")
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
    item_names, worker_names = natural_order(list(items.index)), natural_order(list(workers.index))
    item_arr = items.reorder(item_names)[np.frombuffer(item_codes, dtype=np.int64)]
    worker_arr = workers.reorder(worker_names)[np.frombuffer(worker_codes, dtype=np.int64)]
    label_arr = labels.reorder(class_names)[np.frombuffer(label_codes, dtype=np.int64)]

    report = LoadReport(
        source=name,
        format="long",
        columns={role: header[i].strip() for role, i in idx.items()},
        n_rows=n_rows,
        n_missing=n_missing,
        duplicates=duplicates,
    )
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
