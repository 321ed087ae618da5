"""Low-level reading shared by the label and truth readers: paths or stdin, UTF-8, CSV/TSV rows, cells."""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from emcrowd.errors import InputError
from emcrowd.io._tables import OverBudget, Source, _short, open_text, over_budget

STDIN = "-"
NPY_MAGIC = b"\x93NUMPY"
#: Delimiter by file suffix; standard input is sniffed from its first line.
DELIMITERS = {".csv": ",", ".tsv": "\t"}
#: What rows kept as Python lists of strings take per byte of their text, and what is made of them (short
#: cells: a string object, a list slot, a float; measured: 13.7 MB of matrix text, 700 MB)
RETAINED_FACTOR = 48
#: Cells that mean "no value" in numeric (matrix) files, compared in lower case.
NUMERIC_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none"})


def is_stdin(path: str | os.PathLike) -> bool:
    return os.fspath(path) == STDIN


def display(path: str | os.PathLike) -> str:
    """How a file is named in messages."""
    return "<stdin>" if is_stdin(path) else os.fspath(path)


def check_readable(path: str | os.PathLike, suffixes: Sequence[str]) -> str:
    """Check that ``path`` is a readable file with one of ``suffixes``; returns its lower-case suffix."""
    if is_stdin(path):
        return ""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        expected = ", ".join(suffixes)
        raise InputError(path, f"unsupported file type {suffix or '(none)'!r}; expected {expected}")
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise InputError(path, "permission denied")
    return suffix


class Rows:
    """The rows of a CSV/TSV file or of standard input, read lazily, with physical line numbers.

    Decoding errors and malformed quoting surface as :class:`InputError` naming the file and line.
    """

    def __init__(self, path: str | os.PathLike | Source, delimiter: str | None = None) -> None:
        if isinstance(path, Source):
            self.name = path.name
            self.delimiter = delimiter or ","
            self._handle, self._metered = open_text(path)
        elif is_stdin(path):
            self.name = display(path)
            text = _decode(sys.stdin.buffer.read(), self.name)
            first = next((line for line in text.splitlines() if line.strip()), "")
            self.delimiter = delimiter or ("\t" if "\t" in first and "," not in first else ",")
            self._handle: io.TextIOBase = io.StringIO(text, newline="")
        else:
            self.name = display(path)
            self.delimiter = delimiter or DELIMITERS.get(Path(path).suffix.lower(), ",")
            self._handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed in __iter__
        self._reader = csv.reader(self._handle, delimiter=self.delimiter)
        if not isinstance(path, Source):
            self._metered = None
        self._keep_all = False

    def retained(self) -> Rows:
        """Say that every row read is kept (a matrix read row by row, a truth column): the text read so
        far, not the current row's, is then counted against the memory limit (a Python list of short
        strings takes about :data:`RETAINED_FACTOR` times the bytes of its text)."""
        if self._metered is not None:
            self._metered.factor = RETAINED_FACTOR
            self._keep_all = True
        return self

    @property
    def line(self) -> int:
        return self._reader.line_num

    def __iter__(self) -> Iterator[list[str]]:
        try:
            if self._metered is None:
                yield from self._reader
            else:
                for row in self._reader:
                    if not self._keep_all:
                        self._metered.consumed()
                    yield row
        except OverBudget as exc:
            what = (
                f"holding its first {self.line:,} lines read row by row"
                if self._keep_all
                else f"reading line {self.line + 1:,}"
            )
            raise over_budget(self.name, int(exc.args[0]), what) from None
        except UnicodeDecodeError:
            raise InputError(self.name, f"is not UTF-8 text (bad byte near line {self.line + 1})") from None
        except csv.Error as exc:
            raise InputError(self.name, f"line {self.line}: malformed CSV ({exc})") from None
        except (OSError, EOFError, ValueError) as exc:  # a corrupt or truncated compressed file
            raise InputError(
                self.name, f"cannot be read or decompressed near line {self.line + 1} ({_short(exc)})"
            ) from None
        finally:
            self._handle.close()


def _decode(raw: bytes, name: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(name, f"is not UTF-8 text (bad byte on line {line})") from None
    return text.removeprefix("\ufeff")


def is_blank(row: Sequence[str]) -> bool:
    return not any(cell.strip() for cell in row)


def parse_number(cell: str, missing: frozenset[str] = NUMERIC_MISSING) -> float:
    """A numeric cell; NaN for the missing markers. Raises ValueError for anything else."""
    text = cell.strip()
    if text.lower() in missing or text in missing:
        return np.nan
    return float(text)


def is_number_row(row: Sequence[str], missing: frozenset[str] = NUMERIC_MISSING) -> bool:
    try:
        for cell in row:
            parse_number(cell, missing)
    except ValueError:
        return False
    return True


def parse_number_rows(
    name: str, rows: list[list[str]], first_line: int, missing: frozenset[str] = NUMERIC_MISSING
) -> np.ndarray:
    """A rectangular block of numeric cells as a float matrix (NaN = missing)."""
    width = len(rows[0])
    out = np.empty((len(rows), width))
    for r, row in enumerate(rows):
        if len(row) != width:
            raise InputError(
                name, f"line {first_line + r}: {len(row)} fields where the first row has {width}"
            )
        for c, cell in enumerate(row):
            try:
                out[r, c] = parse_number(cell, missing)
            except ValueError:
                raise InputError(
                    name, f"line {first_line + r}, column {c + 1}: {cell.strip()!r} is not a number"
                ) from None
    return out


def table_rows(rows: Rows) -> list[list[str]]:
    """All rows of a small rectangular file (a matrix or a column): trailing blank lines dropped, and
    a blank line inside kept as a row with one empty field (a missing value in a one-column file)."""
    out = list(rows.retained())
    while out and is_blank(out[-1]):
        out.pop()
    if not out:
        raise InputError(rows.name, "is empty")
    return [row or [""] for row in out]


def natural_order(names: Sequence[str]) -> list[str]:
    """Numeric order when every name is a number (ties broken by the text), else lexicographic."""
    try:
        keys = [float(n) for n in names]
    except ValueError:
        return sorted(names)
    if not all(np.isfinite(keys)):
        return sorted(names)
    return [n for _, n in sorted(zip(keys, names, strict=True))]
