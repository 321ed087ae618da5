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
    replaced by ``rows`` (new items appended in code order): Arrow columns."""
    import pyarrow as pa

    from emcrowd.io.outputs import TableFile

    new = TableFile(rows, fmt).arrow()
    n_old = prev.num_rows
    order = np.arange(max(n_old, int(codes.max(initial=-1)) + 1), dtype=np.int64)
    order[codes] = n_old + np.arange(codes.size)
    indices = pa.Array.from_buffers(pa.int64(), order.size, [None, pa.py_buffer(order)])
    columns = {}
    for name, column in zip(prev.column_names, prev.columns, strict=True):
        added = new[name]
        if pa.types.is_dictionary(added.type):
            added = added.cast(added.type.value_type)
        added = added.cast(column.type) if fmt == "parquet" else as_text(added)
        both = pa.chunked_array(list(column.chunks) + list(pa.chunked_array(added).chunks), column.type)
        columns[name] = both.take(indices)
    return columns


def as_text(column: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_boolean(column.type):  # as the output tables spell them
        import pyarrow.compute as pc

        return pc.if_else(column, "true", "false")
    return column.cast(pa.string()).fill_null("")
