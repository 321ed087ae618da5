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
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io import presets
from emcrowd.io._common import (
    DUPLICATE_POLICIES,
    FORMATS,
    LABEL_KINDS,
    Loaded,
    _declared_classes,
    _LongOptions,
    missing_set,
)
from emcrowd.io._numeric import numeric_loaded, numeric_matrix_loaded
from emcrowd.io._tables import (
    open_source,
    text_header,
)
from emcrowd.io.json_labels import _read_json, is_label_studio_table, read_label_studio_table
from emcrowd.io.long import _read_parquet, _read_text
from emcrowd.io.matrix import _from_matrix, _npy_target, load_npy
from emcrowd.io.npz import _read_npz
from emcrowd.io.ordinal import as_ordinal


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
    ordinal: bool = False,
    numeric: bool = False,
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
    ordinal : bool
        The classes are ordered grades: in the order of ``classes``, else in the numeric order of
        numeric class names (text classes without ``classes`` are refused); see
        :mod:`emcrowd.io.ordinal`.
    numeric : bool
        Read the labels as numbers (:class:`emcrowd.numeric_data.NumericLabels` in ``.labels``): every
        format and preset; in a matrix a negative number is an answer. A label that is not a finite
        number is an error.

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
    if numeric and ordinal:
        raise EmcrowdError(
            "numeric answers and ordered grades exclude each other: give --numeric or --ordinal"
        )
    if duplicates not in DUPLICATE_POLICIES:
        raise EmcrowdError(f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, got {duplicates!r}")
    preset = presets.check_name(preset)
    source = open_source(path, (*LABEL_KINDS, "txt") if preset == "gal" else LABEL_KINDS)
    name = source.name
    classes = _declared_classes(classes)
    missing = missing_set(missing)
    columns = {"item": item_col, "worker": worker_col, "label": label_col}
    options = _LongOptions(columns, classes, missing, duplicates, preset, keep_rejected, progress, numeric)
    if numeric and classes is not None:
        raise InputError(name, "--classes declares classes; numeric labels (--numeric) have none")

    if source.kind in ("npy", "npz") and (any(columns.values()) or preset):
        raise InputError(name, "column and --preset options apply to text, Parquet and JSON files only")
    if source.kind not in ("text", "npy") and format == "matrix":
        raise InputError(name, "a matrix is read from a .npy, .csv or .tsv file")
    if source.kind == "npy":
        if format == "long":
            raise InputError(name, "a .npy file holds a matrix; long format needs a .csv, .tsv or .npz file")
        matrix = load_npy(_npy_target(source), ndim=2, name=name)
        if numeric:
            loaded = numeric_matrix_loaded(name, matrix, None, None, [])
        else:
            loaded = _from_matrix(name, matrix, None, classes)
    elif source.kind == "npz":
        loaded = _read_npz(name, _npy_target(source), classes, duplicates)
    elif source.kind == "parquet":
        loaded = _read_parquet(source, options)
    elif source.kind in ("json", "jsonl"):
        loaded = _read_json(source, options)
    else:
        loaded = None
        if format != "matrix" and preset in (None, "label-studio") and not (item_col or worker_col):
            header, source = text_header(source)
            if header is not None and is_label_studio_table(header.cells):
                loaded = read_label_studio_table(source, header, options)
        if loaded is None:
            loaded = _read_text(source, format, options)
    if numeric:
        loaded = numeric_loaded(name, loaded)
    if loaded.report.format == "long" and loaded.report.columns:
        _check_roles(loaded, options)
    if ordinal:
        loaded.labels = as_ordinal(loaded.labels, declared=classes is not None, source=name)
    if "pyarrow" in sys.modules:
        # Arrow's allocator keeps what the parse freed for its next allocation; the fit that follows
        # allocates with NumPy, so give it back (10M-label CSV fit: peak 1,335 MB before this).
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    loaded.report.seconds = time.perf_counter() - start
    return loaded


#: An item column with at most this many values against :data:`HANDFUL_ROWS` rows or more is not
#: likely to hold the items (a sub-task or a batch name, a column of categories).
HANDFUL_ITEMS = 10
HANDFUL_ROWS = 1000


def _check_roles(loaded: Loaded, options: _LongOptions) -> None:
    """Warn when the columns taken for the roles give data that cannot be right: more labels than
    items x annotators (each annotator labelling each item several times over), or an item column
    with a handful of values against thousands of rows. The warning says which columns were used
    and why (an option, a platform's preset, a recognised name)."""
    data, report = loaded.labels, loaded.report
    pairs = data.n_items * data.n_workers
    too_dense = data.n_labels > pairs
    handful = data.n_items <= HANDFUL_ITEMS and data.n_labels >= HANDFUL_ROWS
    if not (too_dense or handful):
        return

    def why(role: str) -> str:
        if options.given.get(role):
            return f"--{role}-col"
        if report.preset:
            return f"{report.preset} preset"
        return "recognised name"

    used = ", ".join(f"{role} {column!r} ({why(role)})" for role, column in report.columns.items())
    if too_dense:
        problem = (
            f"{data.n_labels:,} labels for {data.n_items:,} items x {data.n_workers:,} annotators "
            f"({data.n_labels / pairs:.1f} labels per item and annotator)"
        )
    else:
        problem = f"only {data.n_items:,} items for {data.n_labels:,} labels"
    report.warnings.append(
        f"{problem}: is {report.columns.get('item')!r} really the item column? Columns used: {used}; "
        "name the right ones with --item-col/--worker-col"
    )
