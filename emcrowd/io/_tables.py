"""Where tabular input comes from, and the Arrow readers that turn it into string columns.

A :class:`Source` is a path (a file, or a directory of Parquet files), standard input or a file object,
with its kind (text table, Parquet, JSON, ``.npy``/``.npz``) and compression found from the name
(``labels.csv.gz``) or, for streams, from the first bytes. :func:`text_header` peeks at the first row of
a text table (delimiter, column names) without consuming a stream; :func:`read_text_columns`,
:func:`read_parquet_columns` and :func:`read_json_records` read the columns a reader needs, and
:func:`encode` turns a column into integer codes and names (first appearance order) with Arrow's
dictionary encoding: no Python loop over rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emcrowd.errors import InputError

STDIN = "-"
NPY_MAGIC = b"\x93NUMPY"
#: Compression by the file's last suffix (``labels.csv.gz``), and by the first bytes of a stream.
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd"}
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\x28\xb5\x2f\xfd", "zstd"))
#: Kinds by suffix (after any compression suffix).
KINDS = {
    ".csv": "text",
    ".tsv": "text",
    ".txt": "txt",  # read as a text table only when asked (--preset gal): .txt is too vague a name
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".npy": "npy",
    ".npz": "npz",
}
#: Kinds that can be compressed (a compressed .npy or .parquet is not a format anyone writes).
COMPRESSIBLE = ("text", "txt", "json", "jsonl")
#: Bytes of a stream kept to look at its first rows; a header is found within them or it is an error.
PEEK_LIMIT = 1 << 24


@dataclass
class Source:
    """One input, as the readers see it.

    Attributes
    ----------
    name : str
        How it is named in messages (``<stdin>`` for standard input).
    kind : str
        ``text``, ``parquet``, ``json``, ``jsonl``, ``npy`` or ``npz``.
    suffix : str
        The suffix that gave the kind (``.tsv`` for ``x.tsv.gz``); empty for streams.
    compression : str or None
        ``gzip``, ``bz2``, ``zstd`` or None.
    path : Path or None
        The file or directory; None for a stream.
    stream : binary file object or None
        Standard input or the caller's file object, with the bytes already looked at put back.
    """

    name: str
    kind: str
    suffix: str = ""
    compression: str | None = None
    path: Path | None = None
    stream: Any = None
    _used: bool = field(default=False, repr=False)

    @property
    def rereadable(self) -> bool:
        """Whether the input can be read a second time (files can; streams cannot)."""
        return self.path is not None

    def open_binary(self) -> Any:
        """The (decompressed) bytes, as a binary file object; a stream can be opened only once."""
        import pyarrow as pa

        if self.path is not None:
            raw: Any = open(self.path, "rb")  # noqa: SIM115 - the caller closes it
        else:
            if self._used:
                raise RuntimeError(f"{self.name} can be read only once")
            self._used = True
            raw = self.stream
        if self.compression is None:
            return raw
        return _Decompressed(pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), self.compression), raw)

    def open_arrow(self) -> Any:
        """The (decompressed) bytes as an Arrow input stream (what Arrow's readers read fastest)."""
        return self.open_arrow_counted()[0]

    def open_arrow_counted(self) -> tuple[Any, Callable[[], int], int | None]:
        """:meth:`open_arrow`, with a function that says how many bytes of the input were read so far
        (compressed bytes, for a compressed file) and the input's size (None for a stream)."""
        import pyarrow as pa

        if self.path is not None:
            raw = pa.OSFile(str(self.path), "rb")
            size = raw.size()
            stream = raw if self.compression is None else pa.CompressedInputStream(raw, self.compression)
            return stream, raw.tell, size
        stream = self._open_arrow_stream()
        counter = self.stream if isinstance(self.stream, _Prefixed) else None
        return stream, (lambda: counter.consumed) if counter is not None else (lambda: 0), None

    def _open_arrow_stream(self) -> Any:
        import pyarrow as pa

        if self._used:
            raise RuntimeError(f"{self.name} can be read only once")
        self._used = True
        stream = pa.PythonFile(self.stream, mode="r")
        return stream if self.compression is None else pa.CompressedInputStream(stream, self.compression)


class _Decompressed(io.RawIOBase):
    """An Arrow decompressing stream as a Python binary file (closes the raw file with it)."""

    def __init__(self, stream: Any, raw: Any) -> None:
        self._stream, self._raw = stream, raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
            self._raw.close()
        super().close()


class _Prefixed(io.RawIOBase):
    """A binary stream whose first bytes were already read: those bytes, then the rest of the stream."""

    def __init__(self, prefix: bytes, rest: Any) -> None:
        self._prefix, self._rest = memoryview(prefix), rest
        self._pending = b""
        self.consumed = 0  # bytes handed out so far (for progress displays)
        self.newlines = 0  # and the line ends among them (to name lines in messages about a stream)
        self.ends_with_newline = True

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix.nbytes:
            n = min(len(buffer), self._prefix.nbytes)
            buffer[:n] = self._prefix[:n]
            self._count(self._prefix[:n])
            self._prefix = self._prefix[n:]
            return n
        data = self._pending or self._rest.read(len(buffer))
        if isinstance(data, str):  # a text file object given by the caller: its characters as UTF-8
            data = data.encode("utf-8")
        n = min(len(buffer), len(data))
        buffer[:n] = data[:n]
        self._count(data[:n])
        self._pending = data[n:]
        return n

    def _count(self, data: Any) -> None:
        if len(data):
            self.consumed += len(data)
            self.newlines += bytes(data).count(b"\n")
            self.ends_with_newline = bytes(data[-1:]) == b"\n"


class OverBudget(Exception):
    """Raised from inside a :class:`Metered` read (Arrow passes it through), caught by the reader."""


class Metered(io.RawIOBase):
    """A (decompressed) binary stream for Arrow's readers that counts the bytes handed out and checks
    them against the memory limit as they are read: ``factor`` times the bytes read since the caller
    last called :meth:`consumed` (what the reader holds and has not yet turned into rows: one huge
    field, a row that never ends), plus what the caller says it keeps (:attr:`kept`), must stay within
    ``limit``. So a small compressed file cannot expand in memory past ``--max-memory``."""

    def __init__(self, stream: Any, limit: int, factor: int) -> None:
        self._stream, self.limit, self.factor = stream, limit, factor
        self.total = 0
        self.pending = 0  # bytes read since the last consumed()
        self.kept = 0
        self.seconds = 0.0  # time spent in the underlying stream's reads

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        started = time.perf_counter()
        data = self._stream.read(n) if n is not None and n >= 0 else self._stream.read()
        self.seconds += time.perf_counter() - started
        self.total += len(data)
        self.pending += len(data)
        if self.pending * self.factor + self.kept > self.limit:
            raise OverBudget(self.pending * self.factor + self.kept)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def consumed(self) -> None:
        self.pending = 0

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


class ReadBudgetError(InputError):
    """A read that passed the memory limit: final (no slower reader is tried after it)."""


def over_budget(name: str, need: int, what: str) -> ReadBudgetError:
    """The one-line error for a read that passed the memory limit."""
    from emcrowd import budget

    try:
        budget.check(need, f"{name}: {what}")
    except budget.BudgetError as exc:
        return ReadBudgetError(name, str(exc).removeprefix(f"{name}: "))
    return ReadBudgetError(name, f"{what} needs more memory than the limit (--max-memory)")


def _over_budget_in(exc: BaseException) -> OverBudget | None:
    """The :class:`OverBudget` behind an exception Arrow raised (it may wrap it)."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OverBudget):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def is_stdin(path: Any) -> bool:
    return isinstance(path, (str, os.PathLike)) and os.fspath(path) == STDIN


def is_file_object(obj: Any) -> bool:
    return hasattr(obj, "read") and not isinstance(obj, (str, bytes, os.PathLike))


def display(path: Any) -> str:
    """How an input is named in messages."""
    if is_stdin(path):
        return "<stdin>"
    if is_file_object(path):
        name = getattr(path, "name", None)
        return name if isinstance(name, str) and name else "<file object>"
    return os.fspath(path)


def split_suffix(path: Path) -> tuple[str, str | None]:
    """The format suffix and the compression of a file name: ``x.tsv.gz`` -> ``(".tsv", "gzip")``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        return (suffixes[-2] if len(suffixes) > 1 else ""), COMPRESSIONS[suffixes[-1]]
    return (suffixes[-1] if suffixes else ""), None


def open_source(path: Any, kinds: Sequence[str]) -> Source:
    """Check an input (a path, ``"-"`` or a file object) and say what it holds.

    Parameters
    ----------
    path : str, PathLike or binary/text file object
    kinds : sequence of str
        The kinds the caller can read (see :data:`KINDS`).

    Raises
    ------
    InputError
        Unsupported type, missing or unreadable file, a directory that holds no Parquet files.
    """
    name = display(path)
    if is_stdin(path) or is_file_object(path):
        stream = sys.stdin.buffer if is_stdin(path) else path
        if is_file_object(path) and isinstance(getattr(path, "name", None), str):
            suffix, compression = split_suffix(Path(path.name))
            if KINDS.get(suffix) in kinds:
                kind = KINDS[suffix]
                head, stream = _peek(stream, name, 4)
                compression = compression or _sniff_compression(head)
                return Source(name, kind, suffix, compression, stream=stream)
        head, stream = _peek(stream, name, 4)
        compression = _sniff_compression(head)
        kind = "text"
        if compression is None:
            if head.startswith(NPY_MAGIC[:4]) and "npy" in kinds:
                kind = "npy"
            elif head.startswith(b"PAR1") and "parquet" in kinds:
                kind = "parquet"
            elif head.startswith(b"PK") and "npz" in kinds:
                kind = "npz"
        return Source(name, kind, "", compression, stream=stream)
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():
        # a FIFO, /dev/stdin, a device: it can be read once only, so it is read as a stream, as stdin is
        if not os.access(path, os.R_OK):
            raise InputError(path, "permission denied")
        try:
            stream = open(path, "rb")  # noqa: SIM115 (read to the end by the caller, as stdin is)
        except OSError as exc:
            raise InputError(path, f"cannot be opened ({exc.strerror})") from None
        return open_source(stream, kinds)
    suffix, compression = split_suffix(path)
    kind = KINDS.get(suffix)
    expected = ", ".join(sorted({s for s, k in KINDS.items() if k in kinds}))
    if path.is_dir() and "parquet" in kinds and (kind == "parquet" or not path.suffix):
        if not any(path.rglob("*.parquet")) and not any(path.rglob("*.pq")):
            raise InputError(path, "is a directory without .parquet files")
        if not os.access(path, os.R_OK | os.X_OK):
            raise InputError(path, "permission denied")
        return Source(name, "parquet", suffix, None, path=path)
    if kind not in kinds or (compression and kind not in COMPRESSIBLE):
        shown = "".join(path.suffixes[-2:]) if compression else path.suffix
        hint = " (a Get-Another-Label .txt file: --preset gal)" if kind == "txt" else ""
        raise InputError(
            path, f"unsupported file type {shown.lower() or '(none)'!r}; expected {expected}{hint}"
        )
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise InputError(path, "permission denied")
    return Source(name, "text" if kind == "txt" else kind, suffix, compression, path=path)


def _sniff_compression(head: bytes) -> str | None:
    return next((codec for magic, codec in _MAGIC if head.startswith(magic)), None)


def _peek(stream: Any, name: str, n: int) -> tuple[bytes, Any]:
    """The first ``n`` bytes of a stream (fewer at its end), and the stream with them put back."""
    head = b""
    while len(head) < n:
        try:
            data = stream.read(n - len(head))
        except OSError as exc:
            raise InputError(name, f"cannot read ({exc})") from None
        if not data:
            break
        head += data.encode("utf-8") if isinstance(data, str) else data
    return head, io.BufferedReader(_Prefixed(head, stream), buffer_size=1 << 20)


# --------------------------------------------------------------------------------------------------
# Text tables: the header, and the rows as Arrow columns
# --------------------------------------------------------------------------------------------------
@dataclass
class Header:
    """The first non-blank row of a text table.

    Attributes
    ----------
    cells : list of str
        The header's fields (not stripped).
    delimiter : str
    line : int
        Its physical line number (1-based).
    next_cells : list of str or None
        The next record, when it is within the bytes looked at (to tell a headerless file).
    """

    cells: list[str]
    delimiter: str
    line: int
    next_cells: list[str] | None = None


def _choose_delimiter(first_line: str, suffix: str) -> str:
    """The delimiter of a text table: by suffix, unless its first line says otherwise (a semicolon
    CSV, a tab-separated ``.csv``); sniffed for ``.txt`` and streams."""
    default = {".csv": ",", ".tsv": "\t"}.get(suffix)
    counts = {d: first_line.count(d) for d in ("\t", ",", ";")}
    if default == "\t":
        return "\t"
    if default == "," and counts[","]:
        return ","
    if counts["\t"] and not counts[","]:
        return "\t"
    if counts[";"] and not counts[","]:
        return ";"
    return ","


def text_header(source: Source) -> tuple[Header | None, Source]:
    """The header row of a text table (None when it holds no non-blank line), and a source to read the
    whole table from (for a stream: the same stream, with the peeked bytes put back).

    Raises
    ------
    InputError
        Not UTF-8, a corrupt compressed file, no line end within the first 16 MB.
    """
    if source.rereadable:
        handle = source.open_binary()
        try:
            head = _read_head(handle, source.name)
        finally:
            handle.close()
    else:
        handle = source.open_binary()
        head = _read_head(handle, source.name)
        source = Source(source.name, source.kind, source.suffix, None, stream=_Prefixed(head, handle))
    text = _decode_head(head, source.name)
    lines = text.splitlines()
    index = next((k for k, line in enumerate(lines) if line.strip()), None)
    if index is None:
        return None, source
    delimiter = _choose_delimiter(lines[index], source.suffix)
    # the header may hold quoted line breaks: parse from its line on, and take the first record
    rest = "\n".join(lines[index:])
    records = csv.reader(io.StringIO(rest), delimiter=delimiter)
    try:
        row = next(records, [])
        following = next((r for r in records if any(c.strip() for c in r)), None)
    except csv.Error as exc:
        raise InputError(source.name, f"line {index + 1}: malformed CSV ({exc})") from None
    return Header(row, delimiter, index + 1, following), source


def _read_head(handle: Any, name: str) -> bytes:
    """Bytes from the start up to the end of the first non-blank line (and a little more)."""
    head = b""
    while len(head) < PEEK_LIMIT:
        try:
            data = handle.read(1 << 16)
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(name, f"cannot be read or decompressed ({_short(exc)})") from None
        if not data:
            return head
        head += data
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if b"\n" in stripped:
            return head
    raise InputError(name, f"no line end in the first {PEEK_LIMIT >> 20} MB; is this a text table?")


def _decode_head(head: bytes, name: str) -> str:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(head, final=False)
    except UnicodeDecodeError as exc:
        line = head[: exc.start].count(b"\n") + 1
        raise InputError(name, f"is not UTF-8 text (bad byte on line {line})") from None
    return text.removeprefix("\ufeff")


def _short(exc: BaseException) -> str:
    """An Arrow or OS error as a short phrase (its first line, without Arrow's source locations)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.removeprefix("Invalid: ").removeprefix("IOError: ")


@dataclass
class TextRead:
    """Columns of a text table read by Arrow, and what did not fit.

    Attributes
    ----------
    columns : list of Encoded
        One encoded column (codes and distinct values, stripped) per requested column index, in the
        order requested.
    n_rows : int
        Data rows read (blank lines are not rows).
    n_lines : int or None
        Physical lines of a stream (None for a file, which can be read again to find a line).
    irregular : list of (int, str)
        Rows whose number of fields differs from the header's: (fields, text), the first few.
    n_irregular : int
    """

    columns: list[Any]
    n_rows: int
    irregular: list[tuple[int, str]]
    n_irregular: int
    n_lines: int | None = None
    #: seconds of the reading's phases (see :class:`emcrowd.io.LoadReport`'s ``phases``)
    phases: dict[str, float] = field(default_factory=dict)

    def line_of(self, row: int, first_data_line: int) -> int | None:
        """The physical line of data row ``row`` (0-based) of a stream, when every line after the
        header is one row (no blank lines, no line breaks inside fields); else None."""
        if self.n_lines is None or self.n_lines != first_data_line - 1 + self.n_rows:
            return None
        return first_data_line + row


def read_text_columns(
    source: Source,
    header: Header,
    wanted: Sequence[int],
    *,
    has_header: bool = True,
    progress: Callable[[int], None] | None = None,
) -> TextRead:
    """The columns ``wanted`` (indices into the header) of a text table, dictionary-encoded.

    With ``has_header`` False, the header row is data too (a headerless file).

    Rows are read and encoded a block at a time, so the text is never held whole (a stream is read in
    constant memory per block, beyond the codes); rows with another number of fields than the header
    are left out and listed in ``irregular``; empty and all-whitespace lines are skipped.

    Raises
    ------
    InputError
        Malformed quoting, text that is not UTF-8, a corrupt compressed file.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    width = len(header.cells)
    names = [f"c{k}" for k in range(width)]
    irregular: list[tuple[int, str]] = []
    count = [0]

    def on_invalid(row: Any) -> str:
        if row.text.strip():
            count[0] += 1
            if len(irregular) < 5:
                irregular.append((row.actual_columns, row.text))
        return "skip"

    read_options = pcsv.ReadOptions(
        column_names=names,
        skip_rows=header.line + _extra_header_lines(header) if has_header else header.line - 1,
        block_size=1 << 23,
    )
    parse_options = pcsv.ParseOptions(
        delimiter=header.delimiter,
        newlines_in_values=True,
        invalid_row_handler=on_invalid,
        ignore_empty_lines=True,
    )
    include = [names[k] for k in wanted]
    convert_options = pcsv.ConvertOptions(
        include_columns=include,
        column_types={n: pa.string() for n in include},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        null_values=[],
    )
    encoders = [_StreamEncoder() for _ in include]
    n_rows = 0
    raw_stream, position, size = source.open_arrow_counted()
    from emcrowd import budget

    # what Arrow holds of rows not yet handed out (a block, its parse, its strings: about 4x) is
    # counted against the limit as it is read, with what the encoders keep
    metered = Metered(raw_stream, budget.limit(), TEXT_INFLIGHT_FACTOR)
    stream = pa.PythonFile(metered, mode="r")
    # blocks are encoded in a second thread while Arrow parses the next ones (its kernels release the
    # GIL); one worker keeps the blocks in order, and at most one waits, so memory stays bounded
    from concurrent.futures import ThreadPoolExecutor

    pending: list[Any] = []

    coding = [0.0]  # the encoder thread's busy time

    def encode_block(batch: Any) -> None:
        started = time.perf_counter()
        for encoder, column in zip(encoders, batch.columns, strict=True):
            encoder.add(column)
        coding[0] += time.perf_counter() - started

    pool = ThreadPoolExecutor(max_workers=1)
    started = time.perf_counter()
    try:
        reader = pcsv.open_csv(
            stream, read_options=read_options, parse_options=parse_options, convert_options=convert_options
        )
        for batch in reader:
            pending.append(pool.submit(encode_block, batch))
            while len(pending) > 1:
                pending.pop(0).result()
            n_rows += batch.num_rows
            metered.consumed()
            metered.kept = sum(encoder.nbytes() for encoder in encoders)
            if progress is not None:
                progress(position(), size)
        for future in pending:
            future.result()
    except StopIteration:
        pass
    except OverBudget as exc:
        raise over_budget(source.name, int(exc.args[0]), _budget_what(metered, n_rows)) from None
    except (pa.ArrowException, OSError, ValueError, EOFError) as exc:
        over = _over_budget_in(exc)
        if over is not None:
            raise over_budget(source.name, int(over.args[0]), _budget_what(metered, n_rows)) from None
        raise InputError(source.name, _csv_problem(exc)) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        stream.close()
        metered.close()
    n_lines = None
    if isinstance(source.stream, _Prefixed):
        n_lines = source.stream.newlines + (0 if source.stream.ends_with_newline else 1)
    streamed = time.perf_counter() - started
    columns = [encoder.finish() for encoder in encoders]
    phases = {
        "reading": metered.seconds,
        "parsing": max(0.0, streamed - metered.seconds),
        "coding ids": coding[0] + (time.perf_counter() - started - streamed),
    }
    return TextRead(columns, n_rows, irregular, count[0], n_lines, phases)


#: What Arrow's CSV reader holds per byte of text not yet handed out as rows (the block, the parsed
#: fields, the strings made of them).
TEXT_INFLIGHT_FACTOR = 4
#: Bytes Arrow's CSV reader reads ahead of the rows it has handed out, normally (a few blocks).
TEXT_READAHEAD = 4 * (1 << 23)


def _budget_what(metered: Metered, n_rows: int) -> str:
    from emcrowd import budget

    if metered.pending > TEXT_READAHEAD:  # more than Arrow reads ahead of its rows: one huge row
        return (f"reading {budget.format_size(metered.pending)} of text after row {n_rows:,} without "
                "the end of a row (a field or a row that large)")  # fmt: skip
    return (f"reading the text ({budget.format_size(metered.total)} read, {n_rows:,} rows: their ids and "
            "labels, and the blocks being parsed)")  # fmt: skip


def _extra_header_lines(header: Header) -> int:
    """Physical lines a quoted header spans beyond its first."""
    return sum(cell.count("\n") for cell in header.cells)


def _csv_problem(exc: BaseException) -> str:
    text = _short(exc)
    if "UTF8" in text or "utf-8" in text.lower() or "utf8" in text.lower():
        return "is not UTF-8 text"
    if "Empty CSV file" in text:
        return "has a header but no rows of labels"
    return f"malformed or unreadable ({text})"


# --------------------------------------------------------------------------------------------------
# Parquet and JSON
# --------------------------------------------------------------------------------------------------
def parquet_schema_names(source: Source) -> list[str]:
    """The column names of a Parquet file or directory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if source.path is not None and source.path.is_dir():
            import pyarrow.dataset as ds

            return list(ds.dataset(str(source.path), format="parquet").schema.names)
        if source.path is None:  # a stream is read once: keep its bytes for the columns
            source.stream = pa.BufferReader(source.open_binary().read()).read_buffer()
            source._used = False
            return list(pq.ParquetFile(pa.BufferReader(source.stream)).schema_arrow.names)
        return list(pq.ParquetFile(source.path).schema_arrow.names)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(source.name, f"not a valid Parquet file ({_short(exc)})") from None


def read_parquet_columns(source: Source, columns: Sequence[str]) -> Any:
    """The named columns of a Parquet file (or of every file of a directory) as an Arrow table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if source.path is not None and source.path.is_dir():
            import pyarrow.dataset as ds

            return ds.dataset(str(source.path), format="parquet").to_table(columns=list(columns))
        target = source.path if source.path is not None else pa.BufferReader(source.stream)
        # (not read_dictionary: unifying the row groups' dictionaries costs more than hashing once)
        return pq.ParquetFile(target).read(columns=list(columns), use_pandas_metadata=False)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(source.name, f"not a valid Parquet file ({_short(exc)})") from None


def read_parquet_encoded(source: Source, columns: Sequence[str]) -> tuple[list[Encoded], int]:
    """The named columns of a Parquet file (or of every file of a directory), dictionary-encoded a
    batch at a time (the text of the ids is never held whole), and the number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    encoders = [_StreamEncoder() for _ in columns]
    n_rows = 0
    try:
        if source.path is not None and source.path.is_dir():
            import pyarrow.dataset as ds

            batches = ds.dataset(str(source.path), format="parquet").to_batches(
                columns=list(columns), batch_size=1 << 20
            )
        else:
            target = source.path if source.path is not None else pa.BufferReader(source.stream)
            batches = pq.ParquetFile(target).iter_batches(
                batch_size=1 << 20, columns=list(columns), use_pandas_metadata=False
            )
        for batch in batches:
            for encoder, name in zip(encoders, columns, strict=True):
                encoder.add(batch.column(name))
            n_rows += batch.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(source.name, f"not a valid Parquet file ({_short(exc)})") from None
    return [encoder.finish() for encoder in encoders], n_rows


#: Python objects made from JSON text take several times its bytes (measured: about 6x for records of
#: short strings); a document is refused when that estimate passes the memory limit, as it is read.
JSON_OBJECT_FACTOR = 8
#: Longest integer literal read (Python refuses to convert more than 4,300 digits).
JSON_MAX_DIGITS = 100


def read_capped(handle: Any, name: str, factor: int, what: str) -> bytes:
    """All the (decompressed) bytes of ``handle``, checked against the memory limit as they are read:
    ``factor`` times the bytes read so far must stay within it (a small compressed file cannot expand
    past the limit before it is refused)."""
    from emcrowd import budget

    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            data = handle.read(1 << 22)
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(name, f"cannot be read or decompressed ({_short(exc)})") from None
        if not data:
            return b"".join(chunks)
        chunks.append(data)
        total += len(data)
        try:
            budget.check(total * factor, f"{name}: {what} ({budget.format_size(total)} read so far)")
        except budget.BudgetError as exc:
            raise InputError(name, str(exc).removeprefix(f"{name}: ")) from None


class _JsonNumberTooLong(ValueError):
    pass


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > JSON_MAX_DIGITS:
        raise _JsonNumberTooLong(f"holds an integer of {len(text.lstrip('-')):,} digits")
    return int(text)


def parse_json_text(name: str, raw: bytes) -> Any:
    """A JSON document from its bytes: one line naming the file for text that is not UTF-8, not JSON,
    nested too deeply or holding an integer longer than :data:`JSON_MAX_DIGITS` digits (never a
    RecursionError or Python's integer-digits error)."""
    import json

    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise InputError(name, "is not UTF-8 text") from None
    del raw
    try:
        return json.loads(text, parse_int=_parse_int)
    except _JsonNumberTooLong as exc:
        raise InputError(
            name, f"{exc}; ids and labels that long are not read as numbers: quote them"
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(name, f"line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:  # the parser recurses once per level: about 1,000 levels are read
        raise InputError(name, "JSON nested too deeply (arrays or objects about 1,000 levels deep)") from None


def read_json_document(source: Source) -> Any:
    """A whole JSON document (an export such as Label Studio's: small next to a CSV of labels); its
    decompressed bytes are counted against the memory limit as they are read."""
    handle = source.open_binary()
    try:
        raw = read_capped(handle, source.name, JSON_OBJECT_FACTOR, "the JSON document")
    finally:
        handle.close()
    return parse_json_text(source.name, raw)


def read_json_lines(source: Source) -> Any:
    """JSON Lines (one object per line) as an Arrow table, read by Arrow (its decompressed bytes
    counted against the memory limit as they are read); lines whose values change type from one line
    to the next (a label ``1`` here, ``"1"`` there) are read again line by line in Python."""
    import re

    import pyarrow as pa
    import pyarrow.json as pjson

    from emcrowd import budget

    metered = Metered(source.open_arrow(), budget.limit(), JSON_LINES_FACTOR)
    stream = pa.PythonFile(metered, mode="r")
    try:
        table = pjson.read_json(stream, read_options=pjson.ReadOptions(block_size=1 << 23))
    except OverBudget as exc:
        raise over_budget(source.name, int(exc.args[0]), "reading the JSON lines") from None
    except (pa.ArrowException, OSError, ValueError, EOFError) as exc:
        over = _over_budget_in(exc)
        if over is not None:
            raise over_budget(source.name, int(over.args[0]), "reading the JSON lines") from None
        text = _short(exc).removeprefix("JSON parse error: ")
        if "changed from" in text and source.rereadable:
            return records_table(source.name, _json_lines_in_python(source))
        # Arrow counts rows from 0; lines are counted from 1, as in every other message
        text = re.sub(r"\s*in row (\d+)$", "", text) if (row := re.search(r"in row (\d+)$", text)) else text
        if row is not None:
            text = f"line {int(row.group(1)) + 1}: {text}"
        elif "line" not in text.lower():
            text = f"not JSON Lines (one object per line): {text}"
        raise InputError(source.name, text) from None
    finally:
        stream.close()
        metered.close()
    _check_finite(source.name, table)
    return _nested_as_text(table)


def _nested_as_text(table: Any) -> Any:
    """Columns of arrays or objects (a multi-select answer ``["a", "b"]``) as their JSON text, as
    :func:`records_table` gives them for a JSON document."""
    import pyarrow as pa

    for k, column in enumerate(table.columns):
        if pa.types.is_nested(column.type):
            text = pa.array([_json_scalar(v) for v in column.to_pylist()], type=pa.string())
            table = table.set_column(k, table.column_names[k], text)
    return table


#: What a JSON Lines table read by Arrow holds per byte of text.
JSON_LINES_FACTOR = 4


def _json_lines_in_python(source: Source) -> list[dict[str, Any]]:
    """The objects of a JSON Lines file, line by line (blank lines skipped), each checked."""
    raw = read_capped(source.open_binary(), source.name, JSON_OBJECT_FACTOR, "the JSON lines")
    records = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = parse_json_text(source.name, line)
        except InputError as exc:
            raise InputError(source.name, f"line {number}: {exc.problem}") from None
        if not isinstance(record, dict):
            raise InputError(source.name, f"line {number} is not an object")
        records.append(record)
    return records


def _check_finite(name: str, table: Any) -> None:
    """Arrow reads a JSON integer too long for 64 bits as a float, and a longer one as infinity: refuse
    those (an id or a label that is not the number written) in one line naming the row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for column_name, column in zip(table.column_names, table.columns, strict=True):
        if not pa.types.is_floating(column.type) or not len(column):
            continue
        bad = pc.invert(pc.fill_null(pc.less(pc.abs(column), 2.0**63), True))
        if pc.any(bad).as_py():
            row = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
            raise InputError(
                name,
                f"line {row + 1}: {column_name!r} holds a number too large to read exactly; quote it",
            )


def records_table(name: str, document: Any) -> Any:
    """A JSON array of records (objects) as an Arrow table of its top-level fields."""
    import pyarrow as pa

    if isinstance(document, dict):
        raise InputError(name, "is a JSON object; expected an array of records (one object per label)")
    if not isinstance(document, list) or not document:
        raise InputError(name, "expected a JSON array of records (one object per label)")
    for k, record in enumerate(document):
        if not isinstance(record, dict):
            raise InputError(name, f"record {k + 1} is a {type(record).__name__}, not an object")
    names: dict[str, None] = {}
    for record in document:
        names.update(dict.fromkeys(record))
    columns = {}
    for key in names:
        values = [record.get(key) for record in document]
        columns[key] = pa.array([_json_scalar(v) for v in values], type=pa.string())
    return pa.table(columns)


def _json_scalar(value: Any) -> str | None:
    """A JSON value as the text of a cell (nested values as JSON)."""
    import json

    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return json.dumps(value, sort_keys=True)


# --------------------------------------------------------------------------------------------------
# Columns to codes
# --------------------------------------------------------------------------------------------------
def as_text(column: Any) -> Any:
    """An Arrow column of any type as strings (nulls kept): ids of any type become their text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray) and column.num_chunks == 0:
        return pa.chunked_array([], type=pa.string())
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = (
            pc.dictionary_decode(column) if hasattr(pc, "dictionary_decode") else column.cast(kind.value_type)
        )
        kind = column.type
    if pa.types.is_string(kind):
        return column
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return column.cast(pa.string())
    if pa.types.is_floating(kind):
        # whole numbers as integers ("3", not "3.0"), as a long CSV would hold them
        # (only below 2**53, where a float is an exact integer: 1e20 stays "1e+20", never int64's wrap)
        whole = pc.and_(pc.equal(column, pc.floor(column)), pc.less(pc.abs(column), 2.0**53))
        as_int = pc.cast(pc.if_else(whole, column, None), pa.int64(), safe=False)
        return pc.if_else(whole, pc.cast(as_int, pa.string()), pc.cast(column, pa.string()))
    if pa.types.is_boolean(kind):
        return pc.if_else(column, "true", "false")
    return pc.cast(column, pa.string())


@dataclass
class Encoded:
    """A string column as codes into its distinct values (stripped), in order of first appearance.

    Attributes
    ----------
    codes : ndarray of shape (n_rows,), int32
        ``-1`` for nulls.
    names : list of str
    """

    codes: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return int(self.codes.size)


class _StreamEncoder:
    """Dictionary-encodes a column a block at a time; :meth:`finish` joins the blocks' dictionaries
    into one (first appearance order over the whole column) and renumbers the codes."""

    def __init__(self) -> None:
        self.codes: list[np.ndarray] = []
        self.dictionaries: list[Any] = []

    def add(self, column: Any) -> None:
        codes, dictionary = _encode_raw(column)
        self.codes.append(codes)
        self.dictionaries.append(as_text(dictionary))

    def nbytes(self) -> int:
        """What the blocks encoded so far hold (codes and each block's distinct values)."""
        return sum(c.nbytes for c in list(self.codes)) + sum(d.nbytes for d in list(self.dictionaries))

    def finish(self, strip: bool = True) -> Encoded:
        import pyarrow as pa

        if not self.codes:
            return Encoded(np.empty(0, dtype=np.int32), [])
        joined = pa.chunked_array(self.dictionaries, type=pa.string())
        remap, dictionary = _encode_raw(joined)
        codes = np.empty(sum(c.size for c in self.codes), dtype=np.int32)
        start = offset = 0
        for block, block_dictionary in zip(self.codes, self.dictionaries, strict=True):
            part = codes[start : start + block.size]
            valid = block >= 0
            if valid.all():
                part[:] = remap[block + offset]
            else:  # nulls stay -1 (an all-null block has nothing to look up: remap may be empty)
                part[:] = -1
                part[valid] = remap[block[valid] + offset]
            start += block.size
            offset += len(block_dictionary)
        self.codes, self.dictionaries = [], []
        return _finish(codes, dictionary, strip)


def to_encoded(column: Any) -> Encoded:
    """An :class:`Encoded` column as it is, or any Arrow column encoded."""
    import pyarrow as pa

    if isinstance(column, Encoded):
        return column
    if pa.types.is_dictionary(column.type):  # (categoricals: their values are converted, not every row)
        return encode(column)
    return encode(as_text(column))


def encode(column: Any, strip: bool = True) -> Encoded:
    """Dictionary-encode a column (nulls become -1) into codes and the text of its distinct values,
    in order of first appearance; with ``strip``, values that differ only by surrounding whitespace
    are one value."""

    codes, dictionary = _encode_raw(column)
    return _finish(codes, dictionary, strip)


def _finish(codes: np.ndarray, dictionary: Any, strip: bool) -> Encoded:
    """Codes and their distinct values as text: values equal once stripped are merged (``strip``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dictionary = as_text(dictionary)
    if strip and len(dictionary):
        trimmed = pc.utf8_trim_whitespace(dictionary)
        if not trimmed.equals(dictionary):
            remap, dictionary = _encode_raw(trimmed)
            codes = _compose(codes, remap)
    if isinstance(dictionary, pa.ChunkedArray):
        dictionary = dictionary.combine_chunks()
    return Encoded(codes, dictionary.to_pylist())


def _compose(codes: np.ndarray, remap: np.ndarray) -> np.ndarray:
    """``remap[codes]``, with -1 (null) kept."""
    if not remap.size:
        return codes
    out = remap[np.maximum(codes, 0)]
    if (codes < 0).any():
        out[codes < 0] = -1
    return out.astype(np.int32, copy=False)


def _encode_raw(column: Any) -> tuple[np.ndarray, Any]:
    """Codes (int32, -1 for null) and the distinct values (an Arrow array) of a column, in order of
    first appearance. A dictionary column (Parquet's dictionary pages) is not hashed again as text:
    its chunks share one dictionary, and the integer indices are renumbered."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.Array):
        column = pa.chunked_array([column])
    if pa.types.is_dictionary(column.type):
        unified = column.unify_dictionaries()
        if unified.num_chunks == 0:
            return np.empty(0, dtype=np.int32), pa.array([], type=pa.string())
        values = unified.chunks[0].dictionary
        codes, used = _encode_raw(pa.chunked_array([c.indices for c in unified.chunks]))
        return codes, as_text(values).take(used)
    encoded = pc.dictionary_encode(column)
    if encoded.num_chunks == 0:
        return np.empty(0, dtype=np.int32), pa.array([], type=column.type)
    dictionary = encoded.chunks[-1].dictionary
    for chunk in encoded.chunks[:-1]:  # the chunks share one dictionary, growing as it is made
        if len(chunk.dictionary) and not chunk.dictionary.equals(dictionary.slice(0, len(chunk.dictionary))):
            raise AssertionError("Arrow chunks do not share a dictionary")
    codes = np.concatenate(
        [
            np.asarray(
                (chunk.indices.fill_null(-1) if chunk.null_count else chunk.indices).to_numpy(),
                dtype=np.int32,
            )
            for chunk in encoded.chunks
        ]
    )
    return codes, dictionary


#: What Python's CSV reader holds per byte of a row not yet parsed (the bytes, the decoded line, its
#: fields).
PYTHON_ROW_FACTOR = 4


def open_text(source: Source) -> tuple[io.TextIOWrapper, Metered]:
    """The decoded text of a (decompressed) source, for Python's CSV reader (matrices, irregular rows),
    and the :class:`Metered` stream under it (call its ``consumed()`` after each row: a line that
    never ends is refused at the memory limit, not read whole)."""
    from emcrowd import budget

    metered = Metered(source.open_binary(), budget.limit(), PYTHON_ROW_FACTOR)
    buffered = io.BufferedReader(metered, buffer_size=1 << 16)
    return io.TextIOWrapper(buffered, encoding="utf-8-sig", newline=""), metered


def encode_columns(columns: Sequence[Any]) -> list[Encoded]:
    """:func:`encode` of several columns of any type at once, in threads (Arrow's kernels release the
    GIL): the id columns of 10M labels are encoded in about the time of the longest one."""
    if sum(0 if isinstance(c, Encoded) else len(c) for c in columns) < 1 << 20:
        return [to_encoded(c) for c in columns]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(columns), os.cpu_count() or 1)) as pool:
        return list(pool.map(to_encoded, columns))
