"""emcrowd's own ``.npz`` label files (``emcrowd convert``): integer codes and packed names,
checked member by member before anything is decompressed (never pickles).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io._common import Loaded, LoadReport, _apply_duplicates, _pairs_increase
from emcrowd.io.matrix import _checked_header

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
