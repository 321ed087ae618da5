"""Reading multi-select answers: each answer a set of classes, read into single classes.

Every reader of :func:`emcrowd.io.load_labels` reads the file (CSV/TSV, Parquet, JSON, JSON Lines,
the platforms' exports); each distinct answer text is then split into its classes:

* a JSON array (``["spam", "ads"]``: JSON and JSON Lines values, CSV cells, Toloka's array outputs);
* text joined by a separator (``--label-sep``: ``newline``, ``tab``, ``|``, ``,``, ``;`` or any text;
  CrowdFlower exports join a multi-select answer's classes with newlines);
* a Label Studio export's several ``choices`` (its reader joins them with ``|``).

An answer that is none of these is one class. The classes are the distinct single classes, never
their combinations. An array or a separated text ticking nothing follows the ``empty`` rule of
:mod:`emcrowd.multilabels` (default ``none``: "none of the classes applies"); an empty cell is a
missing answer, as in every file. A malformed JSON array or, with declared classes, an unknown class
is refused, naming the file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io._common import Loaded, LoadReport
from emcrowd.multilabels import EMPTY_RULES, MultiLabels, _class_key

#: Names of separators that are awkward to type on a command line.
SEPARATOR_NAMES = {"newline": "\n", "\\n": "\n", "tab": "\t", "\\t": "\t", "comma": ",", "pipe": "|",
                   "semicolon": ";", "space": " "}  # fmt: skip


@dataclass
class LoadedMulti:
    """A multi-select loader's result: the answers and the report on reading them."""

    labels: MultiLabels
    report: LoadReport


def separator(text: str | None) -> str | None:
    """The separator a ``--label-sep`` value names (``newline``, ``\\n``, ``tab``, ``pipe``, ...)."""
    if text is None:
        return None
    sep = SEPARATOR_NAMES.get(text.strip().lower(), text)
    if sep == "":
        raise EmcrowdError("--label-sep must not be empty")
    return sep


def looks_multi_label(loaded: Loaded) -> bool:
    """Whether single-class reading of a file met multi-select answers: every answer is a JSON array,
    or a Label Studio export with several choices in at least a tenth of its answers."""
    if loaded.report.format != "long":
        return False
    names = loaded.labels.class_names
    if all(n.startswith("[") and n.endswith("]") for n in names):
        return True
    if loaded.report.preset != "label-studio":
        return False
    # several choices in a tenth of the answers or more: a multi-choice control, not a stray answer
    several = np.array(["|" in n for n in names])
    counts = np.bincount(loaded.labels.label, minlength=len(names))
    return bool(several.any() and counts[several].sum() * 10 >= counts.sum())


def separator_hint(loaded: Loaded) -> str | None:
    """A warning for single-class reading of answers that look joined (a newline, ``|`` or ``;`` in
    a tenth of the distinct answers or more): perhaps a multi-select task read without
    ``--label-sep``."""
    names = loaded.labels.class_names
    if loaded.report.format != "long" or len(names) < 4:
        return None
    for sep, shown in (("\n", "newline"), ("|", "'|'"), (";", "';'")):
        joined = sum(1 for n in names if sep in n)
        if joined * 10 >= len(names):
            return (
                f"{joined} of the {len(names)} distinct answers hold a {shown}: if annotators tick "
                f"several classes, read them as multi-select answers with --label-sep {shown}"
            )
    return None


def load_multilabels(
    path: str | os.PathLike | Any,
    *,
    label_sep: str | None = None,
    classes: Any = None,
    empty: str = "none",
    none_label: str | None = None,
    **options: Any,
) -> LoadedMulti:
    """Read multi-select answers from a file; the other options are :func:`emcrowd.io.load_labels`'s
    (``classes`` here are the single classes; ``none_label``, an answer text that means "ticked
    nothing", such as a "none of these" box, compared in any case).

    Returns
    -------
    LoadedMulti
        ``.labels`` (:class:`~emcrowd.multilabels.MultiLabels`) and ``.report``.
    """
    from emcrowd.io.labels import load_labels

    if empty not in EMPTY_RULES:
        raise EmcrowdError(f"empty must be one of {', '.join(EMPTY_RULES)}, got {empty!r}")
    sep = separator(label_sep)
    loaded = load_labels(path, **options)
    return multilabels_from_loaded(loaded, label_sep=sep, classes=classes, empty=empty, none_label=none_label)


def multilabels_from_loaded(
    loaded: Loaded,
    *,
    label_sep: str | None = None,
    classes: Any = None,
    empty: str = "none",
    none_label: str | None = None,
) -> LoadedMulti:
    """:func:`load_multilabels` on a file already read as single classes (each answer text a class)."""
    report = loaded.report
    name = report.source
    if report.format != "long":
        raise InputError(name, "multi-select answers are read from one row per answer (item, worker, label)")
    data = loaded.labels
    sep = label_sep
    if sep is None and report.preset == "label-studio":
        sep = "|"
    nothing = None if none_label is None else none_label.strip().lower()
    sets = [
        () if text.strip().lower() == nothing else split_answer(text, sep, name) for text in data.class_names
    ]
    seen = sorted({c for s in sets for c in s}, key=_class_key)
    if classes is not None:
        names = tuple(c.strip() for c in classes.split(",")) if isinstance(classes, str) else tuple(classes)
        names = tuple(str(c) for c in names)
        if len(set(names)) != len(names) or "" in names:
            raise EmcrowdError("--classes repeats a class or names an empty one")
        for text, s in zip(data.class_names, sets, strict=True):
            unknown = [c for c in s if c not in names]
            if unknown:
                raise InputError(
                    name,
                    f"answer {text!r} ticks {unknown[0]!r}, not among the classes {', '.join(names)}",
                )
    else:
        names = tuple(seen)
    if not names:
        raise InputError(name, "no answer ticks any class")
    index = {c: k for k, c in enumerate(names)}
    combo = np.zeros((len(sets), len(names)), dtype=np.uint8)
    for row, s in enumerate(sets):
        combo[row, [index[c] for c in s]] = 1
    ticks = combo[data.label]
    empty_rows = ticks.sum(axis=1) == 0
    item, worker = data.item, data.worker
    item_names, worker_names = data.item_names, data.worker_names
    n_empty = int(empty_rows.sum())
    if empty == "missing" and n_empty:
        keep = ~empty_rows
        item, worker, ticks = item[keep], worker[keep], ticks[keep]
        if not keep.any():
            raise InputError(name, "every answer ticks nothing and --empty missing drops them all")
        item, item_names = _compact(item, item_names)
        worker, worker_names = _compact(worker, worker_names)
        report.notes.append(f"{n_empty:,} answers ticking nothing dropped (--empty-answer missing)")
        n_empty = 0
    elif n_empty:
        report.notes.append(
            f"{n_empty:,} answers ticking nothing read as 'none of the classes' (--empty-answer none)"
        )
    multi = MultiLabels(item, worker, ticks, item_names, worker_names, names, n_empty)
    return LoadedMulti(multi, report)


def _compact(codes: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    # the codes keep their order (the names' first appearance), restricted to the used ones
    used, new = np.unique(codes, return_inverse=True)
    return new.astype(codes.dtype), tuple(names[k] for k in used)


def split_answer(value: Any, sep: str | None, name: str) -> tuple[str, ...]:
    """The classes of one answer: a JSON array (as text or a list), text joined by ``sep``, or one class."""
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return _classes_of(list(value), value, name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ()
    if isinstance(value, bool):
        raise InputError(name, f"answer {value!r} is a boolean, not a class")
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise InputError(name, f"answer {_short(text)} is not a valid JSON array ({exc.msg})") from None
        if not isinstance(parsed, list):
            raise InputError(name, f"answer {_short(text)} is not a JSON array")
        return _classes_of(parsed, text, name)
    if sep is not None:
        return tuple(sorted({p.strip() for p in text.split(sep)} - {""}))
    return (text,) if text else ()


def _classes_of(values: list[Any], shown: Any, name: str) -> tuple[str, ...]:
    out = set()
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (str, int, float, np.integer, np.floating)):
            raise InputError(name, f"answer {_short(str(shown))} holds {v!r}, not a class name")
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        text = str(v).strip()
        if text:
            out.add(text)
    return tuple(sorted(out))


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


#: Column names tried for each role of a table given from Python (lower case).
_ROLE_NAMES = {
    "item": ("item", "task", "item_id", "task_id", "question", "object", "example"),
    "worker": ("worker", "annotator", "worker_id", "annotator_id", "labeler", "rater", "user"),
    "label": ("label", "labels", "answer", "answers", "response", "value", "classes"),
}


def multilabels_from_frame(
    frame: Any,
    *,
    item: str | None = None,
    worker: str | None = None,
    label: str | None = None,
    label_sep: str | None = None,
    classes: Any = None,
    empty: str = "none",
) -> MultiLabels:
    """Multi-select answers from a pandas or polars DataFrame or a pyarrow Table of one row per answer.

    The label column holds lists of classes, JSON arrays as text, or text joined by ``label_sep``;
    a missing value (None, NaN) is no answer. Columns are found by name (``item``/``task``,
    ``worker``/``annotator``, ``label``/``labels``/``answer``) unless named.
    """
    columns = [str(c) for c in (frame.column_names if hasattr(frame, "column_names") else frame.columns)]
    given = {"item": item, "worker": worker, "label": label}
    found: dict[str, str] = {}
    for role, tried in _ROLE_NAMES.items():
        if given[role] is not None:
            if given[role] not in columns:
                raise EmcrowdError(f"no column {given[role]!r}; the columns are {', '.join(columns)}")
            found[role] = str(given[role])
            continue
        match = next((c for c in columns if c.strip().lower() in tried), None)
        if match is None:
            raise EmcrowdError(f"no {role} column among {', '.join(columns)}; name it with {role}=...")
        found[role] = match
    values = {role: _column_values(frame, col) for role, col in found.items()}
    sep = separator(label_sep)
    sets = [split_answer(v, sep, "the table") for v in values["label"]]
    present = [k for k, v in enumerate(values["label"]) if not _missing(v)]
    names = None
    if classes is not None:
        names = [c.strip() for c in classes.split(",")] if isinstance(classes, str) else list(classes)
    return MultiLabels.from_sets(
        [values["item"][k] for k in present],
        [values["worker"][k] for k in present],
        [sets[k] for k in present],
        classes=names,
        empty=empty,
    )


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _column_values(frame: Any, column: str) -> list[Any]:
    col = frame[column]
    if hasattr(col, "to_pylist"):
        return col.to_pylist()
    if hasattr(col, "to_list"):
        return col.to_list()
    return list(col.tolist())


#: Column names tried for the sets of a truth (gold) file, after ``label``'s.
_TRUTH_NAMES = ("truth", "gold", "true_label", "true_labels", "golden")


def load_truth_sets(
    path: str | os.PathLike,
    data: MultiLabels,
    *,
    label_sep: str | None = None,
    item_col: str | None = None,
    label_col: str | None = None,
    columns_of_answers: dict[str, str] | None = None,
) -> np.ndarray:
    """Gold sets for the items of ``data`` from a CSV/TSV, JSON (an array of records) or JSON Lines
    file of one row per item (an item column and a column of sets, written as the answers are).

    ``columns_of_answers``: the item and label columns of the answers' file, tried first (a truth
    file written like the export names its columns alike).

    Returns
    -------
    ndarray of int, shape (n_items, n_classes)
        1 where the class applies, 0 where not, -1 for items without a gold set. Gold items that are
        not among the answered items are ignored.
    """
    name = os.fspath(path)
    columns = _read_records(name)
    if not columns:
        raise InputError(name, "holds no rows")
    names = list(columns)
    same = columns_of_answers or {}
    item = _pick(name, names, item_col, (same.get("item", "").lower(), *_ROLE_NAMES["item"]), "item")
    label = _pick(
        name, names, label_col, (same.get("label", "").lower(), *_ROLE_NAMES["label"], *_TRUTH_NAMES), "label"
    )
    sep = separator(label_sep)
    index = {n: j for j, n in enumerate(data.item_names)}
    classes = {c: k for k, c in enumerate(data.class_names)}
    out = np.full((data.n_items, data.n_classes), -1, dtype=np.int8)
    for row, (who, value) in enumerate(zip(columns[item], columns[label], strict=True)):
        if who is None or (_missing(value) and not isinstance(value, list)):
            continue
        j = index.get(str(who).strip())
        if j is None:
            continue
        out[j] = 0
        for c in split_answer(value, sep, name):
            if c not in classes:
                raise InputError(name, f"row {row + 1}: class {c!r} is not among the answers' classes")
            out[j, classes[c]] = 1
    return out


def _pick(name: str, names: list[str], given: str | None, tried: tuple[str, ...], role: str) -> str:
    if given is not None:
        if given not in names:
            raise InputError(name, f"no column {given!r}; the columns are {', '.join(names)}")
        return given
    match = next((n for n in names if n.strip().lower() in tried), None)
    if match is None:
        raise InputError(name, f"no {role} column among {', '.join(names)}")
    return match


def _read_records(name: str) -> dict[str, list[Any]]:
    """A small table of records as columns of Python values (text cells as text)."""
    import csv

    lower = name.lower()
    try:
        if lower.endswith(".jsonl"):
            with open(name, encoding="utf-8") as f:
                records = [json.loads(line) for line in f if line.strip()]
        elif lower.endswith(".json"):
            with open(name, encoding="utf-8") as f:
                records = json.load(f)
        elif lower.endswith((".csv", ".tsv")):
            with open(name, encoding="utf-8", newline="") as f:
                records = list(csv.DictReader(f, delimiter="\t" if lower.endswith(".tsv") else ","))
        else:
            raise InputError(name, "a truth file of sets is read from .csv, .tsv, .json or .jsonl")
    except FileNotFoundError:
        raise InputError(name, "no such file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(name, f"cannot be read: {str(exc).splitlines()[0]}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InputError(name, "expected one record (object or row) per item")
    keys: dict[str, None] = {}
    for r in records:
        keys.update(dict.fromkeys(str(k) for k in r))
    return {k: [r.get(k) for r in records] for k in keys}
