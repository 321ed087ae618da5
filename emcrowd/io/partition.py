"""Item-partitioned Parquet data sets: the input of the Dask engine (:mod:`emcrowd.distributed`).

Layout of a data set directory::

    manifest.json             format name and version, counts, the partitions and their row counts
    classes.json              the class names, in code order
    items.parquet             one column ``name``: item ids in code order
    workers.parquet           one column ``name``: annotator ids in code order
    part-00000.labels.parquet columns item, worker, label (int32 codes): the labels of the partition's
                              items, in file order
    part-00000.items.parquet  column item (int32): the codes of the partition's items, ascending
                              (items without labels included)
    ...

An item's partition is ``crc32(utf-8 id) % n_partitions``, so every label of an item is in one
partition (what the models need: every per-item quantity is local to a partition). The codes are the
ones :func:`emcrowd.io.labels.load_labels` gives, so a fit on the data set and a fit in memory see the
same labels in the same order.

:func:`partition_labels` reads the source with the ordinary loader (every format it reads, all its
checks, the same codes): for CSV/TSV and Parquet that loader streams the file in Arrow batches and
keeps only int32 codes and the distinct ids (12 bytes per label, never the text), other inputs are
read whole; the partitions are then written one at a time (plus an 8-byte-per-label sort order). So
the partitioning machine needs about 20 bytes per label, not the fit's memory. The data set is
written into a temporary directory beside the target and renamed into place (all or nothing). The
generator of ``benchmarks/dask_scale.py`` writes data sets of any size partition by partition with
:func:`write_dataset_parts`, in memory for one partition.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emcrowd.errors import EmcrowdError, InputError

FORMAT = "emcrowd-partitioned-labels"
VERSION = 1
MANIFEST = "manifest.json"
MAX_PARTITIONS = 100_000


def partition_of(names: Sequence[str], n_partitions: int) -> np.ndarray:
    """The partition of each item id, shape (len(names),) int32: ``crc32(utf-8 id) % n_partitions``."""
    return np.fromiter(
        (zlib.crc32(name.encode("utf-8")) % n_partitions for name in names), dtype=np.int32, count=len(names)
    )


def _part_names(p: int) -> tuple[str, str]:
    return f"part-{p:05d}.labels.parquet", f"part-{p:05d}.items.parquet"


def _check_count(n_partitions: Any) -> int:
    if isinstance(n_partitions, bool) or not isinstance(n_partitions, (int, np.integer)):
        raise EmcrowdError(f"the number of partitions must be a positive integer, got {n_partitions!r}")
    if not 1 <= n_partitions <= MAX_PARTITIONS:
        raise EmcrowdError(f"the number of partitions must be in 1..{MAX_PARTITIONS}, got {n_partitions}")
    return int(n_partitions)


def check_target(out_dir: Path) -> None:
    """Before any work: ``out_dir`` is a new name, or an empty directory (not a symbolic link), in a
    parent directory that can be written."""
    if out_dir.is_symlink():
        raise InputError(out_dir, "is a symbolic link; give the data set's own directory")
    try:
        exists = out_dir.exists()
        if exists and not (out_dir.is_dir() and not any(out_dir.iterdir())):
            raise InputError(out_dir, "already exists (a data set is never written over another)")
    except OSError as exc:
        raise InputError(out_dir, f"cannot be examined ({exc.strerror})") from None
    parent = out_dir.parent
    if not parent.is_dir():
        raise InputError(out_dir, "its parent directory does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(out_dir, f"cannot be created ({parent} is not writable)")


def _temp_dir(out_dir: Path) -> Path:
    check_target(out_dir)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
    except OSError as exc:
        raise InputError(out_dir, f"cannot be created ({exc.strerror})") from None
    return tmp


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename the finished data set onto ``out_dir`` (an empty directory or a new name); another run
    that got there first is an error naming the directory, and its data set is left alone."""
    try:
        if out_dir.is_dir() and not out_dir.is_symlink():
            out_dir.rmdir()
        os.rename(tmp, out_dir)
    except OSError as exc:
        if out_dir.exists() or out_dir.is_symlink():
            raise InputError(
                out_dir, "was written by another run meanwhile (a data set is never written over another)"
            ) from None
        raise InputError(out_dir, f"cannot be created ({exc.strerror})") from None


def _short_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _names_table(path: Path, names: Iterable[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    column = names if isinstance(names, pa.Array) else pa.array(list(names), type=pa.string())
    pq.write_table(pa.table({"name": column}), path)


def write_dataset_parts(
    out_dir: str | os.PathLike,
    parts: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    *,
    item_names: Iterable[str],
    worker_names: Iterable[str],
    class_names: Sequence[str],
    n_items: int,
    n_workers: int,
    n_partitions: int,
    hashing: str = "crc32",
) -> dict[str, Any]:
    """Write a data set from its partitions, one at a time (bounded memory), all or nothing.

    Parameters
    ----------
    out_dir : path
        The data set directory; must not exist (or be empty).
    parts : iterable of (items, item, worker, label)
        For each partition in order: its item codes (ascending) and its labels' item, annotator and
        class codes (any integer arrays; written as int32).
    item_names, worker_names : iterable of str, or pyarrow string arrays
        The ids in code order (``n_items`` and ``n_workers`` of them).
    class_names : sequence of str
    n_items, n_workers, n_partitions : int
    hashing : str
        How items were assigned to partitions (recorded in the manifest).

    Returns
    -------
    dict
        The manifest.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    n_partitions = _check_count(n_partitions)
    tmp = _temp_dir(out_dir)
    try:
        entries = []
        n_labels = 0
        for p, (items, item, worker, label) in enumerate(parts):
            labels_file, items_file = _part_names(p)
            table = pa.table(
                {
                    "item": pa.array(np.asarray(item, dtype=np.int32)),
                    "worker": pa.array(np.asarray(worker, dtype=np.int32)),
                    "label": pa.array(np.asarray(label, dtype=np.int32)),
                }
            )
            pq.write_table(table, tmp / labels_file)
            pq.write_table(pa.table({"item": pa.array(np.asarray(items, dtype=np.int32))}), tmp / items_file)
            entries.append(
                {"labels": labels_file, "items": items_file, "n_labels": len(item), "n_items": len(items)}
            )
            n_labels += len(item)
        if len(entries) != n_partitions:
            raise EmcrowdError(f"expected {n_partitions} partitions, got {len(entries)}")
        if sum(e["n_items"] for e in entries) != n_items:
            raise EmcrowdError("the partitions' items do not add up to the number of items")
        _names_table(tmp / "items.parquet", item_names)
        _names_table(tmp / "workers.parquet", worker_names)
        (tmp / "classes.json").write_text(json.dumps(list(class_names)), encoding="utf-8")
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "n_items": int(n_items),
            "n_workers": int(n_workers),
            "n_classes": len(class_names),
            "n_labels": int(n_labels),
            "n_partitions": n_partitions,
            "hashing": hashing,
            "partitions": entries,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        _move_into_place(tmp, out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(out_dir, f"cannot be written ({exc.strerror or _short_error(exc)})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def partition_labels(
    source: str | os.PathLike, out_dir: str | os.PathLike, n_partitions: int, **read_options: Any
) -> dict[str, Any]:
    """Write the labels of ``source`` as an item-partitioned Parquet data set in ``out_dir``.

    Parameters
    ----------
    source : path
        Any input :func:`emcrowd.io.labels.load_labels` reads (``read_options`` are its options).
    out_dir : path
        The data set directory (see the module docstring); must not exist or be empty.
    n_partitions : int
        Number of partitions; items go to ``crc32(id) % n_partitions``.

    Returns
    -------
    dict
        The manifest.
    """
    from emcrowd.io.labels import load_labels

    n_partitions = _check_count(n_partitions)
    data = load_labels(source, **read_options).labels
    return partition_arrays(data, out_dir, n_partitions)


def partition_arrays(data: Any, out_dir: str | os.PathLike, n_partitions: int) -> dict[str, Any]:
    """:func:`partition_labels` for labels already in memory (a :class:`emcrowd.data.Labels`)."""
    n_partitions = _check_count(n_partitions)
    part = partition_of(data.item_names, n_partitions)
    of_label = part[data.item]
    order = np.argsort(of_label, kind="stable")  # grouped by partition, file order within each
    bounds = np.searchsorted(of_label[order], np.arange(n_partitions + 1))

    def parts() -> Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        for p in range(n_partitions):
            rows = order[bounds[p] : bounds[p + 1]]
            yield np.flatnonzero(part == p), data.item[rows], data.worker[rows], data.label[rows]

    return write_dataset_parts(
        out_dir,
        parts(),
        item_names=data.item_names,
        worker_names=data.worker_names,
        class_names=data.class_names,
        n_items=data.n_items,
        n_workers=data.n_workers,
        n_partitions=n_partitions,
    )


@dataclass(frozen=True)
class PartitionedDataset:
    """A checked data set directory (see :func:`open_dataset`)."""

    path: Path
    manifest: dict[str, Any]
    class_names: tuple[str, ...]

    @property
    def n_items(self) -> int:
        return int(self.manifest["n_items"])

    @property
    def n_workers(self) -> int:
        return int(self.manifest["n_workers"])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_labels(self) -> int:
        return int(self.manifest["n_labels"])

    @property
    def n_partitions(self) -> int:
        return int(self.manifest["n_partitions"])

    def partition_files(self) -> list[tuple[str, str]]:
        """(labels file, items file) of every partition, as absolute paths."""
        return [
            (str(self.path / e["labels"]), str(self.path / e["items"])) for e in self.manifest["partitions"]
        ]

    def item_names(self) -> tuple[str, ...]:
        return _read_names(self.path / "items.parquet", self.n_items)

    def worker_names(self) -> tuple[str, ...]:
        return _read_names(self.path / "workers.parquet", self.n_workers)


def _read_names(path: Path, n: int) -> tuple[str, ...]:
    import pyarrow.parquet as pq

    try:
        names = pq.read_table(path, columns=["name"]).column("name").to_pylist()
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(path, f"cannot be read as the data set's name table ({exc})") from None
    if len(names) != n:
        raise InputError(path, f"has {len(names)} names, the manifest says {n}")
    return tuple(names)


def open_dataset(path: str | os.PathLike) -> PartitionedDataset:
    """Open and check a data set directory written by :func:`partition_labels`.

    The manifest is checked (format, version, counts), and every partition file must exist, be a
    readable Parquet file and hold the rows the manifest lists; any problem is one
    :class:`~emcrowd.errors.InputError` naming the file.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_dir():
        raise InputError(path, "is not a partitioned data set directory (write one with `emcrowd partition`)")
    mpath = path / MANIFEST
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(mpath, "is missing: not a partitioned data set") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(mpath, f"is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(mpath, f"is not an {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise InputError(
            mpath, f"has format version {manifest.get('version')!r}; this emcrowd reads {VERSION}"
        )
    try:
        entries = manifest["partitions"]
        counts = [int(manifest[k]) for k in ("n_items", "n_workers", "n_labels", "n_partitions")]
        if len(entries) != counts[3] or sum(int(e["n_labels"]) for e in entries) != counts[2]:
            raise ValueError("partition counts do not add up")
        if sum(int(e["n_items"]) for e in entries) != counts[0]:
            raise ValueError("partition item counts do not add up")
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(mpath, f"is inconsistent ({exc})") from None
    try:
        classes = json.loads((path / "classes.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path / "classes.json", f"cannot be read ({exc})") from None
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise InputError(path / "classes.json", "must list at least two class names")
    for entry in entries:
        for key, rows in (("labels", entry["n_labels"]), ("items", entry["n_items"])):
            file = _member(path, mpath, entry[key])
            if not file.is_file():
                raise InputError(file, "is missing from the data set")
            try:
                found = pq.read_metadata(file).num_rows
            except (OSError, ValueError) as exc:
                raise InputError(file, f"is not a readable Parquet file ({exc})") from None
            if found != int(rows):
                raise InputError(file, f"has {found} rows, the manifest says {rows}")
    for name in ("items.parquet", "workers.parquet"):
        if not (path / name).is_file():
            raise InputError(path / name, "is missing from the data set")
    return PartitionedDataset(path, manifest, tuple(classes))


def _member(path: Path, mpath: Path, name: Any) -> Path:
    """A file the manifest names: a plain file name inside the data set directory, never a path that
    leads out of it (``../x``, ``/etc/passwd``, a symbolic link to elsewhere)."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
        raise InputError(mpath, f"names a partition file {name!r} that is not a file name in the data set")
    file = path / name
    try:
        inside = file.resolve().parent == path.resolve()
    except OSError:
        inside = False
    if not inside:
        raise InputError(mpath, f"names a partition file {name!r} outside the data set")
    return file


def read_partition(
    labels_file: str, items_file: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One partition's arrays: (item codes of its items, and its labels' item, worker, label codes),
    all int32. Any read problem is an :class:`~emcrowd.errors.InputError` naming the file."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(labels_file, columns=["item", "worker", "label"])
        items = pq.read_table(items_file, columns=["item"]).column("item")
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(labels_file, f"cannot be read ({exc})") from None
    cols = [np.asarray(table.column(c).to_numpy(), dtype=np.int32) for c in ("item", "worker", "label")]
    return (np.asarray(items.to_numpy(), dtype=np.int32), *cols)


def dataset_labels(dataset: PartitionedDataset) -> Any:
    """The whole data set as one :class:`emcrowd.data.Labels` (its codes and names), for outputs
    gathered on one machine. The labels are in partition order, then file order: each item's labels
    in the order of the source."""
    from emcrowd.data import Labels

    arrays = [read_partition(*files)[1:] for files in dataset.partition_files()]
    item, worker, label = (
        np.concatenate([a[i] for a in arrays]) if arrays else np.empty(0, np.int32) for i in range(3)
    )
    return Labels(item, worker, label, dataset.item_names(), dataset.worker_names(), dataset.class_names)
