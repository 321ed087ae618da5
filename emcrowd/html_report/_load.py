"""Reading what the report shows: a fit's output directory, a ``compare --json`` report, and the
labels file the fit read (for who said what). Every problem is one :class:`InputError` naming the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from emcrowd.errors import EmcrowdError, InputError
from emcrowd.html_report._kinds import check_kind_compare, normalise_summary
from emcrowd.html_report._machines import (
    check_machine_summary,
    is_machine_summary,
    normalise_machine_compare,
    normalise_machine_summary,
)
from emcrowd.html_report._util import _index_of

#: Columns of the output tables that hold ids or names: always read as text (``007`` stays ``007``).
TEXT_COLUMNS = frozenset({"item", "worker", "label", "majority", "gold", "votes", "flags", "true", "said"})


def table_path(directory: Path, stem: str, required: bool = True) -> Path | None:
    for ext in ("csv", "parquet"):
        path = directory / f"{stem}.{ext}"
        if path.is_file():
            return path
    if required:
        raise InputError(
            directory, f"no {stem}.csv or {stem}.parquet: is this an `emcrowd fit` output directory?"
        )
    return None


def read_table(path: Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Every column of an output table, in file order: text columns as object arrays of ``str``
    (missing as ``""``), numbers as float (missing as NaN), booleans as bool."""
    import pyarrow as pa

    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            import pyarrow.csv as pcsv

            with pcsv.open_csv(path) as reader:  # the header (and the first block) only
                names = reader.schema.names
            convert = pcsv.ConvertOptions(
                column_types={c: pa.string() for c in names if c in TEXT_COLUMNS},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                true_values=["true", "True"],
                false_values=["false", "False"],
            )
            table = pcsv.read_csv(path, convert_options=convert)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(path, f"cannot read the table ({str(exc).splitlines()[0]})") from None
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise InputError(path, f"missing column {missing[0]!r}: written by another emcrowd version?")
    out: dict[str, np.ndarray] = {}
    for name in table.column_names:
        column = table.column(name)
        kind = column.type
        if pa.types.is_boolean(kind):
            out[name] = column.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        elif (pa.types.is_integer(kind) or pa.types.is_floating(kind)) and name not in TEXT_COLUMNS:
            out[name] = column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(float)
        elif pa.types.is_null(kind):
            out[name] = np.full(len(column), np.nan)
        else:
            out[name] = column.cast(pa.string()).fill_null("").to_numpy(zero_copy_only=False)
    return out


def load_fit(directory: str | os.PathLike) -> dict[str, Any]:
    """What the report shows of a fit's output directory.

    Returns
    -------
    dict
        ``summary`` (summary.json), ``items`` and ``workers`` (every column of the tables, by name),
        ``confusion`` (worker -> (K, K) array of ``P(said | true)``, or None without
        ``confusion.csv``), ``written`` (summary.json's modification time, seconds since the epoch).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(directory, "not a directory (give the output directory of `emcrowd fit`)")
    summary_path = directory / "summary.json"
    if not summary_path.exists():
        raise InputError(summary_path, "missing: is this an `emcrowd fit` output directory?")
    summary = normalise_summary(read_json_file(summary_path, "an emcrowd summary"))
    summary = normalise_machine_summary(summary)
    check_summary(summary_path, summary)
    check_machine_summary(summary_path, summary)
    classes = (summary.get("kind") or "classification") in ("classification", "ordinal")
    items = read_table(
        table_path(directory, "items"), ("item", "label", "confidence") if classes else ("item",)
    )
    worker_columns = ("worker", "n_labels", "accuracy", "spammer_score", "flags") if classes else ("worker",)
    if is_machine_summary(summary):  # people and machines: kind, shared items, used
        worker_columns = ("worker", "kind", "n_labels", "accuracy", "used")
    workers = read_table(table_path(directory, "workers"), worker_columns)
    confusion = None
    path = table_path(directory, "confusion", required=False)
    if path is not None:
        long = read_table(path, ("worker", "true", "said", "probability"))
        k = len(summary.get("classes") or [])
        n = len(long["worker"])
        if n % (k * k):
            raise InputError(path, f"{n} rows is not a whole number of {k} x {k} matrices")
        cells = np.asarray(long["probability"], dtype=float).reshape(-1, k, k)
        confusion = dict(zip(long["worker"][:: k * k], cells, strict=True))
    fit = {
        "summary": summary,
        "items": items,
        "workers": workers,
        "confusion": confusion,
        "written": summary_path.stat().st_mtime,
    }
    load_kind_tables(directory, fit)
    return fit


def load_labels_of_fit(summary: dict[str, Any], path: str | os.PathLike | None) -> tuple[Any, str | None]:
    """The labels the fit read (``path``, else ``summary["input"]["source"]``), read as the fit read
    them; returns ``(labels, None)``, or ``(None, why)`` when they cannot be had (the page then shows
    the vote splits of ``items`` without who said what)."""
    from emcrowd.io import load_labels

    source = summary.get("input") or {}
    given = path is not None
    path = path if given else source.get("source")
    if not path or path == "-":
        return None, "the fit read its labels from standard input; give them with --labels FILE"
    if not Path(path).exists():
        if given:
            raise InputError(Path(path), "no such file")
        return None, f"the labels file {path} is not there any more; give it with --labels FILE"
    columns = source.get("columns") or {}
    options: dict[str, Any] = {
        "format": source.get("format") or "auto",
        "item_col": columns.get("item"),
        "worker_col": columns.get("worker"),
        "label_col": columns.get("label"),
        "duplicates": source.get("duplicates") or "keep",
        "preset": source.get("preset"),
    }
    if options["format"] not in ("auto", "matrix", "long"):
        options["format"] = "auto"
    try:
        labels = load_labels(path, **options).labels
    except EmcrowdError as exc:
        if given:
            raise
        return None, f"the labels file could not be read again ({str(exc)[:200]})"
    return labels, None


def _is_number(value: Any, nullable: bool = False) -> bool:
    if value is None:
        return nullable
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_summary(path: Path, summary: Any) -> None:
    """The fields of ``summary.json`` the report reads, with their types (a hand-edited or truncated
    file is one line naming it, never an internal error)."""
    if not isinstance(summary, dict):
        raise InputError(path, "not an emcrowd summary (not a JSON object)")
    kind = summary.get("kind") or "classification"
    if not isinstance(kind, str):
        raise InputError(path, "'kind' must be the name of a kind of task")
    classes = summary.get("classes")
    if kind in ("classification", "ordinal", "multilabel") and not isinstance(classes, list):
        raise InputError(path, "not an emcrowd summary (no list of classes)")
    if classes is not None and (
        not isinstance(classes, list)
        or len(classes) < 1
        or not all(isinstance(c, (str, int, float)) for c in classes)
    ):
        raise InputError(path, "'classes' must be a non-empty list of class names")
    objective = summary.get("objective")
    if objective is not None and (
        not isinstance(objective, list) or not all(_is_number(x, nullable=True) for x in objective)
    ):
        raise InputError(path, "'objective' must be a list of numbers (the objective at each iteration)")
    for key in ("method", "fitted_method"):
        if summary.get(key) is not None and not isinstance(summary[key], str):
            raise InputError(path, f"{key!r} must be a method name")
    for key in ("n_items", "n_workers", "n_labels", "n_iter"):
        if not _is_number(summary.get(key), nullable=True):
            raise InputError(path, f"{key!r} must be a number")


#: A ``compare --json`` report is a few kilobytes per method; anything much larger is not one.
COMPARE_MAX_BYTES = 64 << 20


def load_compare(path: str | os.PathLike) -> dict[str, Any]:
    """A ``compare --json`` report, checked for what the report draws."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    report = read_json_file(path, "a `compare --json` report")
    if isinstance(report, dict):
        report = normalise_machine_compare(report)
    methods = report.get("methods") if isinstance(report, dict) else None
    if not isinstance(methods, dict) or not methods:
        raise InputError(path, "not an `emcrowd compare --json` report (no methods)")
    if check_kind_compare(path, report):  # numeric or multi-select metrics
        return report
    for name, entry in methods.items():
        if not isinstance(entry, dict) or "accuracy" not in entry or "accuracy_ci" not in entry:
            raise InputError(path, f"method {name!r} has no accuracy and interval")
        ci = entry["accuracy_ci"]
        if not _is_number(entry["accuracy"]) or not (
            isinstance(ci, list) and len(ci) == 2 and all(_is_number(x, nullable=True) for x in ci)
        ):
            raise InputError(path, f"method {name!r}: accuracy must be a number and accuracy_ci two numbers")
        cal = entry.get("calibration")
        if cal is not None and not (
            isinstance(cal, dict)
            and isinstance(cal.get("confidence"), list)
            and isinstance(cal.get("accuracy"), list)
            and len(cal["confidence"]) == len(cal["accuracy"])
            and all(_is_number(x, nullable=True) for x in cal["confidence"] + cal["accuracy"])
            and _is_number(cal.get("ece"), nullable=True)
        ):
            raise InputError(path, f"method {name!r}: malformed calibration bins")
    if not isinstance(report.get("agreement"), (dict, type(None))):
        raise InputError(path, "'agreement' must be an object")
    return report


def read_json_file(path: Path, what: str) -> Any:
    """A small JSON file (a summary, a comparison): a regular file of at most
    :data:`COMPARE_MAX_BYTES`, valid UTF-8 JSON; anything else is one line naming it."""
    try:
        if not path.is_file():
            raise InputError(path, f"is not a regular file (give {what})")
        with open(path, "rb") as fh:
            raw = fh.read(COMPARE_MAX_BYTES + 1)
        if len(raw) > COMPARE_MAX_BYTES:
            raise InputError(path, f"is larger than {COMPARE_MAX_BYTES >> 20} MB: not {what}")
        return json.loads(raw.decode("utf-8"))
    except InputError:
        raise
    except RecursionError:
        raise InputError(path, "cannot read it as JSON (nested too deeply)") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read it as JSON ({str(exc)[:200]})") from None


def load_kind_tables(directory: Path, fit: dict[str, Any]) -> None:
    """The tables a kind writes beside items and workers: a multi-select fit's ``posteriors``, joined
    to the items table as ``p[CLASS]`` columns (in the items' order)."""
    if fit["summary"].get("kind") != "multilabel":
        return
    path = table_path(directory, "posteriors", required=False)
    if path is None:
        return
    table = read_table(path, ("item",))
    rows = _index_of(fit["items"]["item"], table["item"])
    if (rows < 0).any() or len(table["item"]) != len(fit["items"]["item"]):
        raise InputError(path, "its items are not those of items.csv: from another fit?")
    for name in fit["summary"]["classes"]:
        column = table.get(str(name))
        if column is None:
            raise InputError(path, f"missing column {name!r}: written by another emcrowd version?")
        fit["items"][f"p[{name}]"] = np.asarray(column, dtype=float)[rows]


def load_multilabels_of_fit(summary: dict[str, Any], path: Any) -> tuple[Any, str | None]:
    """The multi-select answers the fit read (``path``, else the file ``summary.json`` names), read as
    the fit read them; ``(answers, None)`` or ``(None, why)``."""
    from emcrowd.io.multilabel import load_multilabels

    source = summary.get("input") or {}
    reading = summary.get("reading") if isinstance(summary.get("reading"), dict) else {}
    given = path is not None
    path = path if given else source.get("source")
    if not path or path == "-":
        return None, "the fit read its answers from standard input; give them with --labels FILE"
    if not Path(path).exists():
        if given:
            raise InputError(Path(path), "no such file")
        return None, f"the labels file {path} is not there any more; give it with --labels FILE"
    columns = source.get("columns") or {}
    try:
        loaded = load_multilabels(
            path,
            label_sep=reading.get("label_sep"),
            none_label=reading.get("none_label"),
            empty=reading.get("empty") or "none",
            format="long",
            item_col=columns.get("item"),
            worker_col=columns.get("worker"),
            label_col=columns.get("label"),
            duplicates=source.get("duplicates") or "keep",
            preset=source.get("preset"),
        )
    except EmcrowdError as exc:
        if given:
            raise
        return None, f"the labels file could not be read again ({str(exc)[:200]})"
    return loaded.labels, None
