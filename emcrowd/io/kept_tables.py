"""A kept fit's output tables read back and updated in place of their rows (``emcrowd update``'s
incremental path): the tables as they are in the files, rows of some items replaced and new items'
rows appended with Arrow, and the earlier labels files carried into another output directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np


def carry_files(prev_dir: Path, out_dir: Path, names: list[str]) -> None:
    """The earlier labels files into ``out_dir``: hard links where the file system allows (they are
    never written again), else copies."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = out_dir / name
        if target.exists():
            target.unlink()
        try:
            os.link(prev_dir / name, target)
        except OSError:
            shutil.copy2(prev_dir / name, target)


def read_table(path: Path, fmt: str) -> Any:
    """A previous output table as Arrow (CSV: every column as text, as it is in the file)."""
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).read()  # (read_table imports pandas, through pyarrow.dataset)
    import pyarrow.csv as pcsv

    with open(path, encoding="utf-8", newline="") as fh:
        import csv

        header = next(csv.reader([fh.readline()]))
    convert = pcsv.ConvertOptions(
        column_types={name: pa.string() for name in header}, strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )  # fmt: skip
    return pcsv.read_csv(path, convert_options=convert)


def merge_rows(prev: Any, codes: np.ndarray, rows: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The previous table (one row per known item, in code order) with the rows of the items ``codes``
    replaced by ``rows`` (new items appended in code order): Arrow columns.

    The rows are gathered from the columns' buffers with NumPy (:func:`_gather`): no Arrow compute
    kernel, whose first call imports pandas where it is installed (0.5 s and more)."""
    from emcrowd.io.outputs import TableFile

    new = TableFile(rows, fmt).arrow()
    n_old = prev.num_rows
    order = np.arange(max(n_old, int(codes.max(initial=-1)) + 1), dtype=np.int64)
    order[codes] = n_old + np.arange(codes.size)
    columns = {}
    for name, column in zip(prev.column_names, prev.columns, strict=True):
        added = new[name]
        if fmt != "parquet":
            added = as_text(added)
        columns[name] = _gather(column, added, order, fmt)
    return columns


def _gather(column: Any, added: Any, order: np.ndarray, fmt: str) -> Any:
    """Rows ``order`` of ``column`` followed by ``added`` (one Arrow array), of ``column``'s type."""
    import pyarrow as pa

    kind = column.type
    old = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    add = added.combine_chunks() if isinstance(added, pa.ChunkedArray) else added
    if pa.types.is_dictionary(add.type):
        add = _undictionary(add)
    if old.null_count or add.null_count or not _plain(kind) or not _plain(add.type):
        return _slow_gather(old, add, order, kind)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if not (pa.types.is_string(add.type) or pa.types.is_large_string(add.type)):
            return _slow_gather(old, add, order, kind)
        starts, ends, data = _text_parts([old, add])
        lengths = ends - starts
        offsets = np.zeros(order.size + 1, dtype=np.int64)
        np.cumsum(lengths[order], out=offsets[1:])
        total = int(offsets[-1])
        # runs of rows that follow each other in the source too are copied as one slice of bytes
        # (an update replaces few rows: few runs)
        breaks = np.flatnonzero(np.diff(order) != 1) + 1
        run_start = np.concatenate([[0], breaks])
        run_end = np.concatenate([breaks, [order.size]])
        first, last = order[run_start], order[run_end - 1]
        pieces = [data[a:b] for a, b in zip(starts[first].tolist(), ends[last].tolist(), strict=True)]
        out_data = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint8)
        out_kind = pa.large_string() if total >= 2**31 else pa.string()
        offs = offsets if total >= 2**31 else offsets.astype(np.int32)
        return pa.Array.from_buffers(out_kind, order.size, [None, pa.py_buffer(offs), pa.py_buffer(out_data)])
    if kind != add.type:
        return _slow_gather(old, add, order, kind)
    both = np.concatenate([_values(old), _values(add)])[order]
    if pa.types.is_boolean(kind):
        bits = np.packbits(both, bitorder="little")
        return pa.Array.from_buffers(kind, order.size, [None, pa.py_buffer(bits)])
    return pa.Array.from_buffers(kind, order.size, [None, pa.py_buffer(np.ascontiguousarray(both))])


def rows_of(table: Any, name: str, codes: np.ndarray) -> list[Any]:
    """The values of column ``name`` of ``table`` in rows ``codes``, as Python values (read from
    the buffers of the chunks that hold them: no copy of the column)."""
    import pyarrow as pa

    codes = np.asarray(codes, dtype=np.int64)
    out: list[Any] = [None] * codes.size
    base = 0
    for chunk in table[name].chunks:
        inside = np.flatnonzero((codes >= base) & (codes < base + len(chunk)))
        local = codes[inside] - base
        base += len(chunk)
        if not inside.size:
            continue
        kind = chunk.type
        if chunk.null_count or not _plain(kind):
            values = [chunk[i].as_py() for i in local.tolist()]
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            starts, ends, data = _text_parts([chunk])
            values = [
                data[a:b].tobytes().decode("utf-8") for a, b in zip(starts[local], ends[local], strict=True)
            ]
        else:
            values = _values(chunk)[local].tolist()
        for i, v in zip(inside.tolist(), values, strict=True):
            out[i] = v
    return out


def _plain(kind: Any) -> bool:
    import pyarrow as pa

    return (
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind)
        or pa.types.is_integer(kind) or pa.types.is_floating(kind)
    )  # fmt: skip


def _values(array: Any) -> np.ndarray:
    """A numeric or boolean Arrow array without nulls as NumPy values (from its buffers)."""
    import pyarrow as pa

    buffer = array.buffers()[1]
    if pa.types.is_boolean(array.type):
        bits = np.frombuffer(buffer, dtype=np.uint8)
        return np.unpackbits(bits, bitorder="little", count=array.offset + len(array))[array.offset :].astype(
            bool
        )
    dtype = np.dtype(array.type.to_pandas_dtype())
    return np.frombuffer(buffer, dtype=dtype, count=array.offset + len(array))[array.offset :]


def _text_parts(arrays: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each string's start and end in one byte array holding the data of all of ``arrays``."""
    import pyarrow as pa

    starts, ends, datas, base = [], [], [], 0
    for array in arrays:
        _, off_buf, data_buf = array.buffers()
        width = np.int64 if pa.types.is_large_string(array.type) else np.int32
        offsets = np.frombuffer(off_buf, dtype=width, count=array.offset + len(array) + 1)[array.offset :]
        offsets = offsets.astype(np.int64)
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        data = data[offsets[0] : offsets[-1]]
        starts.append(offsets[:-1] - offsets[0] + base)
        ends.append(offsets[1:] - offsets[0] + base)
        datas.append(data)
        base += data.size
    if len(arrays) == 1:
        return starts[0], ends[0], datas[0]
    return np.concatenate(starts), np.concatenate(ends), np.concatenate(datas)


def _undictionary(array: Any) -> Any:
    """A dictionary-encoded string array as a plain one (from its buffers)."""
    indices = np.asarray(_values(array.indices), dtype=np.int64)
    return _gather(array.dictionary, array.dictionary.slice(0, 0), indices, "parquet")


def _slow_gather(old: Any, add: Any, order: np.ndarray, kind: Any) -> Any:
    """:func:`_gather` by Arrow's own kernels (nulls, other types)."""
    import pyarrow as pa

    if pa.types.is_dictionary(add.type):
        add = add.cast(add.type.value_type)
    add = add.cast(kind)
    indices = pa.Array.from_buffers(pa.int64(), order.size, [None, pa.py_buffer(order)])
    return pa.concat_arrays([old, add]).take(indices)


def as_text(column: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_boolean(column.type):  # as the output tables spell them
        import pyarrow.compute as pc

        return pc.if_else(column, "true", "false")
    return column.cast(pa.string()).fill_null("")
