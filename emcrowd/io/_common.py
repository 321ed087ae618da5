"""What every label reader shares: the options of a long read, the report of what was read
(:class:`LoadReport`) and the result (:class:`Loaded`), the missing-value and class-list rules, and
the policy for repeated (item, annotator) pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io._tables import (
    Header,
)

LABEL_KINDS = ("text", "parquet", "json", "jsonl", "npy", "npz")


FORMATS = ("auto", "matrix", "long")


DUPLICATE_POLICIES = ("keep", "first", "last", "error")


#: Column names recognised for each role in a long file, in order of preference (compared in lower case).
COLUMN_NAMES = {
    "item": ("item", "task", "question", "example", "object", "item_id", "task_id", "question_id"),
    "worker": ("worker", "annotator", "labeler", "labeller", "rater", "user", "worker_id", "annotator_id"),
    "label": ("label", "answer", "response", "value", "judgment", "judgement", "annotation"),
}


#: Answers that always mean "no answer" (compared in lower case): never a class.
ALWAYS_MISSING = frozenset({"", "nan"})


#: More answers that mean "no answer" by default; ``--missing`` replaces these (not the ones above).
DEFAULT_MISSING = ALWAYS_MISSING | {"na", "n/a", "null"}


@dataclass
class LoadReport:
    """What a loader read and what it did with it.

    Attributes
    ----------
    source : str
        The file as named by the user (``<stdin>`` for standard input).
    format : str
        ``"matrix"`` or ``"long"``.
    columns : dict
        For long files, the column used for each role (``item``, ``worker``, ``label``).
    n_rows : int
        Data rows (long) or matrix rows read.
    n_missing : int
        Long files: answers skipped as missing. Matrices: empty cells.
    duplicates : str
        The policy applied to repeated (item, worker) pairs.
    n_duplicate_pairs, n_duplicate_rows, n_conflicting_pairs, n_dropped : int
        Pairs seen more than once; the rows beyond each pair's first; pairs whose repeats disagree;
        rows dropped by the ``first``/``last`` policies.
    seconds : float
        Time spent reading.
    phases : dict
        Text tables: seconds of the reading's phases: ``reading`` (the bytes, decompressed), ``parsing``
        (Arrow's CSV reader, beyond its reads), ``coding ids`` (dictionary encoding of the columns, in a
        thread beside the parsing, and joining the blocks' codes) and ``labels`` (the class codes, the
        duplicate checks, the :class:`Labels`); empty for other formats.
    preset : str or None
        The platform export recognised (or forced with ``--preset``), if any.
    n_rejected : int
        Rows of rejected assignments left out.
    notes : list of str
        What the reader recognised or decided, for the data summary.
    warnings : list of str
        What looks wrong with the input (shown even with ``--quiet``).
    """

    source: str
    format: str
    columns: dict[str, str] = field(default_factory=dict)
    n_rows: int = 0
    n_missing: int = 0
    duplicates: str = "keep"
    n_duplicate_pairs: int = 0
    n_duplicate_rows: int = 0
    n_conflicting_pairs: int = 0
    n_dropped: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    preset: str | None = None
    n_rejected: int = 0
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Loaded:
    """A loader's result: the labels and the report on reading them."""

    labels: Labels
    report: LoadReport


@dataclass
class _LongOptions:
    given: dict[str, str | None]
    classes: tuple[str, ...] | None
    missing: frozenset[str]
    duplicates: str
    preset: str | None
    keep_rejected: bool
    progress: Callable[[int, int | None], None] | None = None
    numeric: bool = False  # --numeric: answers are numbers (emcrowd.io._numeric)


def missing_set(missing: Iterable[str] | None) -> frozenset[str]:
    """The answers that mean "no label", in lower case: empty and NaN always, and the defaults or the
    given ones."""
    if missing is None:
        return DEFAULT_MISSING
    return ALWAYS_MISSING | {m.strip().lower() for m in missing}


def is_missing(answer: str, missing: frozenset[str]) -> bool:
    """Whether a (stripped) answer is one of the missing markers, compared in any case."""
    return answer.lower() in missing


def _declared_classes(classes: Sequence[str] | str | None) -> tuple[str, ...] | None:
    if classes is None:
        return None
    if isinstance(classes, str):
        classes = classes.split(",")
    out = tuple(c.strip() for c in classes)
    if len(out) < 2 or any(not c for c in out) or len(set(out)) != len(out):
        raise EmcrowdError(f"classes must be two or more distinct, non-empty names, got {','.join(out)!r}")
    return out


class _Problem(Exception):
    """Something wrong with one row of a table read by Arrow: ``row`` is its 0-based index among the
    data rows. A file is then read again row by row, to name the line; a stream names the row."""

    def __init__(self, message: str, row: int) -> None:
        super().__init__(message)
        self.message, self.row = message, row


class _Codes:
    """Strings to integer codes in order of first appearance."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def code(self, key: str) -> int:
        code = self.index.get(key)
        if code is None:
            code = self.index[key] = len(self.index)
        return code

    def reorder(self, names: list[str]) -> np.ndarray:
        """Map from first-appearance code to position in ``names``."""
        position = {n: i for i, n in enumerate(names)}
        return np.array([position[n] for n in self.index], dtype=np.int64)


def _extra_lines(header: Header) -> int:
    """Physical lines a quoted header spans beyond its first."""
    return sum(cell.count("\n") for cell in header.cells)


def _pairs_increase(item: np.ndarray, worker: np.ndarray, n_workers: int, chunk: int = 1 << 20) -> bool:
    """Whether the (item, worker) pairs strictly increase, checked a chunk at a time (little memory)."""
    for start in range(0, item.size, chunk):
        stop = min(start + chunk + 1, item.size)  # one row of overlap with the next chunk
        key = item[start:stop].astype(np.int64) * n_workers + worker[start:stop]
        if not np.all(key[1:] > key[:-1]):
            return False
    return True


def _apply_duplicates(
    name: str,
    item: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    item_names: Sequence[str],
    worker_names: Sequence[str],
    report: LoadReport,
) -> np.ndarray | None:
    """Count repeated (item, worker) pairs into ``report``; return the rows to keep (None: all of them).

    The policy is ``report.duplicates``; ``error`` raises on the first repeated pair.
    """
    if _pairs_increase(item, worker, len(worker_names)):
        return None  # sorted by item, then worker, with no pair twice: the usual case for .npz input
    key = item.astype(np.int64) * len(worker_names) + worker
    check = np.sort(key)  # an unstable sort finds out whether any pair repeats, at half the cost
    if not np.any(check[1:] == check[:-1]):
        return None
    del check
    order = np.argsort(key, kind="stable")  # stable: within a pair, file order
    sorted_key = key[order]
    del key
    same = sorted_key[1:] == sorted_key[:-1]
    if not same.any():
        return None
    starts = np.flatnonzero(np.r_[True, ~same])
    del same
    n_rows = sorted_key.size
    sizes = np.diff(np.r_[starts, n_rows])
    repeated = sizes > 1
    report.n_duplicate_pairs = int(repeated.sum())
    report.n_duplicate_rows = int(n_rows - starts.size)
    sorted_label = label[order]
    lo = np.minimum.reduceat(sorted_label, starts)
    hi = np.maximum.reduceat(sorted_label, starts)
    report.n_conflicting_pairs = int((repeated & (lo != hi)).sum())
    if report.duplicates == "keep":
        return None
    if report.duplicates == "error":
        group = int(np.argmax(repeated))
        first = order[starts[group]]
        raise InputError(
            name,
            f"worker {worker_names[worker[first]]!r} labelled item {item_names[item[first]]!r} "
            f"{sizes[group]} times ({report.n_duplicate_pairs} repeated pairs in all); "
            "choose --duplicates keep, first or last",
        )
    ends = np.r_[starts[1:], n_rows] - 1
    chosen = order[starts] if report.duplicates == "first" else order[ends]
    return np.sort(chosen)
