"""Reading, validating and writing files. No model numerics live here.

* :mod:`emcrowd.io.labels` — crowd labels: ``.npy``/CSV matrices and long (one row per label) CSV/TSV,
  from files or standard input, into :class:`emcrowd.data.Labels`.
* :mod:`emcrowd.io.truth` — gold labels, by item id or aligned with the items.
* :mod:`emcrowd.io.outputs` — CSV/JSON text and all-or-nothing output directories.

May import: the core modules only (:mod:`emcrowd.data`, :mod:`emcrowd.errors`, :mod:`emcrowd.budget`).
Never :mod:`emcrowd.models` or anything above: a reader has no numerics of a model.
"""

from emcrowd.io.labels import (
    DUPLICATE_POLICIES,
    FORMATS,
    Loaded,
    LoadReport,
    labels_from_arrays,
    labels_from_frame,
    labels_npz,
    load_labels,
    read_labels,
)
from emcrowd.io.outputs import (
    NamedCodes,
    TableFile,
    csv_chunks,
    csv_text,
    format_value,
    json_text,
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
    "write_outputs",
]
