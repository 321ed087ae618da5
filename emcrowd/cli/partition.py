"""``emcrowd partition``: write labels as an item-partitioned Parquet data set (the Dask engine's input)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emcrowd.cli import _reading
from emcrowd.cli.options import InputOptions, LabelsArg, OutputOptions, option_groups

OutDirArg = Annotated[
    Path,
    typer.Argument(
        help="The data set directory to write (must not exist).", metavar="OUT_DIR", show_default=False
    ),
]
PartitionsOpt = Annotated[
    int,
    typer.Option(
        "--partitions", "-n", min=1, max=100_000,
        help="Number of partitions (items go to crc32(id) mod N); a few per Dask worker.",
    ),
]  # fmt: skip


EXAMPLES = ("emcrowd partition labels.csv labels-dataset -n 16", "emcrowd fit labels-dataset --engine dask")


@option_groups
def partition(
    labels: LabelsArg,
    out_dir: OutDirArg,
    *,
    partitions: PartitionsOpt = 8,
    inputs: InputOptions,
    output: OutputOptions,
) -> None:
    """Write the labels as an item-partitioned Parquet data set, the Dask engine's input.

    Then: `emcrowd fit DATASET_DIR --engine dask`.
    """
    from emcrowd import console as report
    from emcrowd.io.partition import check_target, partition_arrays

    check_target(out_dir)  # before reading: a bad target is the first and only message
    loaded = _reading.load(labels, inputs, output.quiet)
    manifest = partition_arrays(loaded.labels, out_dir, partitions)
    if not output.quiet:
        report.note(
            f"Wrote {out_dir} ({manifest['n_labels']:,} labels of {manifest['n_items']:,} items in "
            f"{manifest['n_partitions']} partitions)"
        )
