"""Reading, validating and writing files. No model numerics live here.

* :mod:`emcrowd.io.labels` — crowd labels from any file or standard input into
  :class:`emcrowd.data.Labels`: it finds the format and hands over to one reader per format,
  :mod:`~emcrowd.io.long` (CSV/TSV, compressed or not, and Parquet, one row per label),
  :mod:`~emcrowd.io.json_labels` (JSON/JSONL records, Label Studio), :mod:`~emcrowd.io.matrix`
  (``.npy`` and CSV items x annotators matrices), :mod:`~emcrowd.io.npz` (emcrowd's own ``.npz``);
  :mod:`~emcrowd.io.roles` finds the item, annotator and label columns, :mod:`~emcrowd.io.presets`
  knows the platforms' exports, :mod:`~emcrowd.io._common` holds what the readers share.
* :mod:`emcrowd.io.frames` — objects in memory: labels from DataFrames, Arrow tables and arrays;
  what the models read from them and how their results go back to the user's library; gold labels
  given as a Series, a mapping or a table, matched to the items by id.
* :mod:`emcrowd.io.truth` — gold labels, by item id or aligned with the items.
* :mod:`emcrowd.io.outputs` — CSV/JSON text and all-or-nothing output directories.

May import: the core modules only (:mod:`emcrowd.data`, :mod:`emcrowd.errors`, :mod:`emcrowd.budget`).
Never :mod:`emcrowd.models` or anything above: a reader has no numerics of a model.
"""

from emcrowd.io._common import DUPLICATE_POLICIES, FORMATS, Loaded, LoadReport
from emcrowd.io.frames import labels_from_arrays, labels_from_frame
from emcrowd.io.labels import load_labels, read_labels
from emcrowd.io.npz import labels_npz
from emcrowd.io.outputs import (
    NamedCodes,
    TableFile,
    csv_chunks,
    csv_text,
    format_value,
    json_text,
    spreadsheet_safe,
    write_outputs,
)
from emcrowd.io.truth import Truth, load_truth, read_truth

__all__ = [
    "DUPLICATE_POLICIES",
    "FORMATS",
    "LoadReport",
    "Loaded",
    "NamedCodes",
    "TableFile",
    "Truth",
    "csv_chunks",
    "csv_text",
    "format_value",
    "json_text",
    "labels_from_arrays",
    "labels_from_frame",
    "labels_npz",
    "load_labels",
    "load_truth",
    "read_labels",
    "read_truth",
    "spreadsheet_safe",
    "write_outputs",
]
