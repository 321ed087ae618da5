"""Reading, validating and writing files. No model numerics live here.

Inputs
------
* ``.npy`` — an ``items x annotators`` numeric matrix; NaN means "no label". Object arrays are refused
  and pickles are never loaded.
* ``.csv`` — the same matrix as text: no header, or a first row of annotator ids; an empty cell (or
  ``nan``/``NA``) means "no label".

Truth files are a ``.npy`` vector or a one-column ``.csv`` (optionally with a header), aligned with the
rows of the labels; NaN or an empty cell means "no gold label for this item".

Outputs are written all-or-nothing: every file goes to a temporary name in the target directory first and
is renamed into place only when all of them were written.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError

MISSING_CELLS = frozenset({"", "nan", "na", "n/a", "null", "none"})
SUPPORTED = (".npy", ".csv")
NPY_MAGIC = b"\x93NUMPY"


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------
def read_labels(path: str | os.PathLike) -> Labels:
    """Read crowd labels from a file into observed-labels form.

    Parameters
    ----------
    path : str or PathLike
        A ``.npy`` or ``.csv`` items x annotators matrix.

    Returns
    -------
    Labels

    Raises
    ------
    InputError
        When the file is missing, unreadable or not a label matrix; the message names the file.
    """
    path = Path(path)
    suffix = _check_readable(path)
    if suffix == ".npy":
        matrix, worker_names = _load_npy(path, ndim=2), None
    else:
        matrix, worker_names = _read_matrix_csv(path)
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise InputError(path, f"the matrix is empty (shape {matrix.shape[0]} x {matrix.shape[1]})")
    try:
        return Labels.from_matrix(matrix, worker_names=worker_names)
    except EmcrowdError as exc:
        raise InputError(path, str(exc)) from None


def read_truth(path: str | os.PathLike, data: Labels) -> np.ndarray:
    """Read gold labels aligned with the items (rows) of ``data``.

    Returns
    -------
    ndarray of shape (n_items,), int
        The class code of each item's gold label, ``-1`` where there is none.
    """
    path = Path(path)
    suffix = _check_readable(path)
    values = _load_npy(path, ndim=1) if suffix == ".npy" else _read_column_csv(path)
    if values.shape[0] != data.n_items:
        raise InputError(
            path, f"has {values.shape[0]} truth values but the labels have {data.n_items} items (rows)"
        )
    codes = np.full(data.n_items, -1, dtype=np.int64)
    present = ~np.isnan(values)
    if not np.all(np.isfinite(values[present])):
        raise InputError(path, "truth values must be numbers or NaN (found inf)")
    lookup = {name: code for code, name in enumerate(data.class_names)}
    for j in np.flatnonzero(present):
        v = values[j]
        key = str(int(v)) if v == int(v) else str(v)
        if key not in lookup:
            raise InputError(
                path,
                f"truth label {key!r} (row {j}) is not among the classes {', '.join(data.class_names)}",
            )
        codes[j] = lookup[key]
    return codes


def _check_readable(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(path, f"unsupported file type {suffix or '(none)'!r}; expected .npy or .csv")
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise InputError(path, "permission denied")
    return suffix


def _load_npy(path: Path, *, ndim: int) -> np.ndarray:
    """Load a numeric array without unpickling; a column vector counts as one-dimensional."""
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
    if not isinstance(arr, np.ndarray):  # .npz archives load as a mapping
        raise InputError(path, "not a single .npy array")
    if arr.dtype.kind not in "biuf":
        raise InputError(path, f"expected numeric labels, found dtype {arr.dtype}")
    if ndim == 1 and arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != ndim:
        want = "a 1-D vector" if ndim == 1 else "a 2-D items x annotators matrix"
        raise InputError(path, f"expected {want}, found shape {arr.shape}")
    return np.asarray(arr, dtype=np.float64) if ndim == 1 else np.asarray(arr)


def _read_rows(path: Path) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise InputError(path, f"is not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        raise InputError(path, f"malformed CSV ({exc})") from None
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()  # trailing blank lines
    if not rows:
        raise InputError(path, "is empty")
    # A blank line inside the file is a row with one empty field: a missing value in a one-column
    # file, a short row (reported as such) in a matrix.
    return [row or [""] for row in rows]


def _parse_cell(cell: str) -> float:
    text = cell.strip()
    if text.lower() in MISSING_CELLS:
        return np.nan
    return float(text)


def _is_number_row(row: Sequence[str]) -> bool:
    try:
        for cell in row:
            _parse_cell(cell)
    except ValueError:
        return False
    return True


def _parse_rows(path: Path, rows: list[list[str]], first_line: int) -> np.ndarray:
    width = len(rows[0])
    out = np.empty((len(rows), width))
    for r, row in enumerate(rows):
        if len(row) != width:
            raise InputError(
                path, f"line {first_line + r}: {len(row)} fields where the first row has {width}"
            )
        for c, cell in enumerate(row):
            try:
                out[r, c] = _parse_cell(cell)
            except ValueError:
                raise InputError(
                    path, f"line {first_line + r}, column {c + 1}: {cell.strip()!r} is not a number"
                ) from None
    return out


ITEM_COLUMNS = frozenset({"item", "task", "question", "example", "object", "item_id", "task_id"})
WORKER_COLUMNS = frozenset({"worker", "annotator", "labeler", "rater", "user", "worker_id", "annotator_id"})
LABEL_COLUMNS = frozenset({"label", "answer", "response", "value", "judgment", "judgement"})


def _looks_long(names: Sequence[str]) -> bool:
    """Whether a header names an item, a worker and a label column (one row per label)."""
    lowered = {n.lower() for n in names}
    return all(lowered & group for group in (ITEM_COLUMNS, WORKER_COLUMNS, LABEL_COLUMNS))


def _read_matrix_csv(path: Path) -> tuple[np.ndarray, tuple[str, ...] | None]:
    rows = _read_rows(path)
    names = None
    if not _is_number_row(rows[0]):
        names = tuple(cell.strip() for cell in rows[0])
        if _looks_long(names):
            raise InputError(
                path,
                f"has columns {', '.join(names)}: one row per label (long format), but emcrowd reads "
                "an items x annotators matrix here; pivot it, or use the matrix .npy",
            )
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise InputError(path, f"annotator id {dup!r} appears twice in the header")
        rows = rows[1:]
        if not rows:
            raise InputError(path, "has a header but no rows of labels")
    return _parse_rows(path, rows, first_line=2 if names else 1), names


def _read_column_csv(path: Path) -> np.ndarray:
    rows = _read_rows(path)
    has_header = not _is_number_row(rows[0])
    if has_header:
        rows = rows[1:]
        if not rows:
            raise InputError(path, "has a header but no truth values")
    if len(rows[0]) != 1:
        raise InputError(path, f"expected one column of truth labels, found {len(rows[0])}")
    return _parse_rows(path, rows, first_line=2 if has_header else 1).reshape(-1)


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------
Table = Mapping[str, Sequence[Any]]


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _umask_mode()


def format_value(value: Any) -> str:
    """Text of one CSV cell: floats at full (shortest round-trip) precision, the rest via ``str``."""
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    return str(value)


def csv_text(table: Table) -> str:
    """Render a table (column name -> equal-length column) as CSV text with a header row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.keys())
    columns = [[format_value(v) for v in np.asarray(col).tolist()] for col in table.values()]
    writer.writerows(zip(*columns, strict=True))
    return buf.getvalue()


def json_text(obj: Any) -> str:
    """Pretty JSON text with NumPy scalars and arrays converted."""
    return json.dumps(obj, indent=2, default=_json_default) + "\n"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def _temp_path(directory: Path, name: str, suffix: str = ".tmp") -> Path:
    """A fresh hidden name in ``directory`` with the usual (umask-based) file mode."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=directory)
    os.close(fd)
    os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600
    return Path(tmp)


def write_outputs(
    out_dir: str | os.PathLike,
    files: Mapping[str, str | np.ndarray],
    *,
    inputs: Sequence[str | os.PathLike] = (),
) -> list[Path]:
    """Write several files into ``out_dir``, all or none.

    Every file is first written to a temporary name in ``out_dir`` and renamed into place only after
    all were written, so a failure or an interrupt leaves the directory as it was (and removes it if
    this call created it).

    Parameters
    ----------
    out_dir : path
        Target directory; created when missing.
    files : mapping of file name to content
        Text (written as UTF-8) or a NumPy array (written as ``.npy``, without pickles).
    inputs : sequence of paths
        Input files that must not be overwritten.

    Returns
    -------
    list of Path
        The files written, in the order given.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(out_dir, "output directory is an existing file")
    targets = [out_dir / name for name in files]
    protected = {Path(p).resolve() for p in inputs}
    for target in targets:
        if target.resolve() in protected:
            raise InputError(target, "refusing to overwrite an input file")
    # Directories this call creates (outermost first), removed again if anything fails.
    created = [d for d in (out_dir, *out_dir.parents) if not d.exists()][::-1]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(out_dir, f"cannot create output directory ({exc.strerror})") from None
    temps: list[Path] = []  # new content, renamed into place at the end
    reserved: list[Path] = []  # every temporary name made here, new content and backups alike
    backups: list[tuple[Path, Path]] = []  # (backup, target): old files moved aside
    placed: list[Path] = []  # targets that now hold new content
    done = False
    try:
        for name, content in files.items():
            temps.append(_temp_path(out_dir, name))
            reserved.append(temps[-1])
            with open(temps[-1], "wb") as fh:
                if isinstance(content, str):
                    fh.write(content.encode("utf-8"))
                else:
                    np.save(fh, np.asarray(content), allow_pickle=False)
        # Old files are moved aside first, so that a failure while renaming can put them back.
        for target in targets:
            if target.exists():
                reserved.append(_temp_path(out_dir, target.name, suffix=".old"))
                os.replace(target, reserved[-1])
                backups.append((reserved[-1], target))
        for tmp, target in zip(temps, targets, strict=True):
            os.replace(tmp, target)
            placed.append(target)
        done = True
    except OSError as exc:
        raise InputError(out_dir, f"cannot write output ({exc.strerror or exc})") from None
    finally:
        if not done:
            for path in placed:
                with contextlib.suppress(OSError):
                    path.unlink()
            for backup, target in backups:
                with contextlib.suppress(OSError):
                    os.replace(backup, target)
        for path in reserved:  # leftovers only: renamed names are gone already
            with contextlib.suppress(OSError):
                path.unlink()
        if not done:
            for directory in reversed(created):
                with contextlib.suppress(OSError):
                    directory.rmdir()
    return targets
