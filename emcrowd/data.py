"""The observed-labels structure that every loader produces and every model consumes.

A crowdsourcing data set is stored as three parallel integer arrays, one entry per observed label:
``item[o]``, ``worker[o]`` and ``label[o]`` (a class code in ``0..n_classes-1``). Missing labels simply
have no entry, so a 95%-empty matrix costs what its labels cost. Names map the integer codes back to
the user's ids and class names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emcrowd.errors import EmcrowdError

CODE_DTYPE = np.int32


def name_ranks(names: tuple[str, ...]) -> np.ndarray:
    """Each name's rank in sorted order, shape (n,). Sorted as Python strings: a fixed-width NumPy
    string array would be as wide as the longest name."""
    ranks = np.empty(len(names), dtype=np.intp)
    ranks[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
    return ranks


class CodedAnswers:
    """What every kind of observed answers shares (:class:`Labels`, and the numeric and multi-select
    twins in :mod:`emcrowd.numeric_data` and :mod:`emcrowd.multilabels`): an item and an annotator code
    per answer, with the user's ids in code order, and the counts every output table asks for."""

    item: np.ndarray
    worker: np.ndarray
    item_names: tuple[str, ...]
    worker_names: tuple[str, ...]

    def _as_codes(self, *names: str) -> None:
        """Each named field as a contiguous one-dimensional int32 array (set on the frozen instance)."""
        for name in names:
            arr = np.ascontiguousarray(getattr(self, name), dtype=CODE_DTYPE)
            if arr.ndim != 1:
                raise EmcrowdError(
                    f"{type(self).__name__}.{name} must be one-dimensional, got shape {arr.shape}"
                )
            object.__setattr__(self, name, arr)

    def _check_code_range(self, name: str, codes: np.ndarray, bound: int) -> None:
        if codes.size and (codes.min() < 0 or codes.max() >= bound):
            raise EmcrowdError(f"{type(self).__name__}.{name} has codes outside 0..{bound - 1}")

    def _check_item_worker_codes(self) -> None:
        self._check_code_range("item", self.item, self.n_items)
        self._check_code_range("worker", self.worker, self.n_workers)

    @property
    def n_items(self) -> int:
        return len(self.item_names)

    @property
    def n_workers(self) -> int:
        return len(self.worker_names)

    def item_name_ranks(self) -> np.ndarray:
        """Each item's rank among the item names in sorted order, shape (n_items,): what random
        draws per item are indexed by, so that they do not depend on how the items were coded (the
        order of the input's rows). Computed once."""
        ranks = getattr(self, "_item_name_ranks", None)
        if ranks is None:
            ranks = name_ranks(self.item_names)
            object.__setattr__(self, "_item_name_ranks", ranks)
        return ranks

    def labels_per_item(self) -> np.ndarray:
        """Number of answers of each item, shape (n_items,) (computed once; read-only)."""
        return self._counted("_labels_per_item", self.item, self.n_items)

    def labels_per_worker(self) -> np.ndarray:
        """Number of answers of each annotator, shape (n_workers,) (computed once; read-only)."""
        return self._counted("_labels_per_worker", self.worker, self.n_workers)

    def _shape_summary(self) -> dict[str, Any]:
        """The summary's shape of the answers, for every kind: answers per item and per annotator
        (``min``, ``median``, ``max``), those with one answer or none, and the density."""
        per_item, per_worker = self.labels_per_item(), self.labels_per_worker()
        return {
            "labels_per_item": count_spread(per_item),
            "labels_per_worker": count_spread(per_worker),
            "items_with_one_label": int((per_item == 1).sum()),
            "items_without_labels": int((per_item == 0).sum()),
            "workers_with_one_label": int((per_worker == 1).sum()),
            "workers_without_labels": int((per_worker == 0).sum()),
            "density": self.n_labels / (self.n_items * self.n_workers),
        }

    def _counted(self, cache: str, codes: np.ndarray, n: int) -> np.ndarray:
        """``np.bincount(codes)`` kept on the (immutable) answers: every output table asks for it."""
        counts = getattr(self, cache, None)
        if counts is None:
            counts = np.bincount(codes, minlength=n)
            counts.flags.writeable = False
            object.__setattr__(self, cache, counts)
        return counts


def count_spread(counts: np.ndarray) -> dict[str, float]:
    """``min``, ``median`` and ``max`` of a count per item or annotator (JSON-ready)."""
    return {"min": int(counts.min()), "median": float(np.median(counts)), "max": int(counts.max())}


@dataclass(frozen=True, eq=False)
class Labels(CodedAnswers):
    """Observed crowd labels in coordinate form.

    Attributes
    ----------
    item : ndarray of shape (n_labels,), int32
        Item code of each label, in ``0..n_items-1``.
    worker : ndarray of shape (n_labels,), int32
        Annotator code of each label, in ``0..n_workers-1``.
    label : ndarray of shape (n_labels,), int32
        Class code of each label, in ``0..n_classes-1``.
    item_names : tuple of str, length n_items
        Original id of each item (its row index for matrix inputs).
    worker_names : tuple of str, length n_workers
        Original id of each annotator (its column index or header for matrix inputs).
    class_names : tuple of str, length n_classes
        Original name of each class, in code order.
    ordered : bool
        The classes are ordered grades, lowest first in code order (``--ordinal``;
        :func:`emcrowd.io.ordinal.as_ordinal` makes such labels).
    """

    item: np.ndarray
    worker: np.ndarray
    label: np.ndarray
    item_names: tuple[str, ...]
    worker_names: tuple[str, ...]
    class_names: tuple[str, ...]
    ordered: bool = False

    def __post_init__(self) -> None:
        self._as_codes("item", "worker", "label")
        if not (self.item.shape == self.worker.shape == self.label.shape):
            raise EmcrowdError("Labels.item, .worker and .label must have the same length")
        self._check_item_worker_codes()
        self._check_code_range("label", self.label, self.n_classes)
        if self.n_classes < 2:
            raise EmcrowdError("at least two classes are needed to aggregate labels")

    @property
    def n_labels(self) -> int:
        return int(self.item.size)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> dict[str, Any]:
        """Counts a user checks before trusting a fit: sizes, class counts, labels per item and worker.

        Returns
        -------
        dict
            JSON-ready: ``n_items``, ``n_workers``, ``n_labels``, ``n_classes``, ``classes`` (name ->
            number of labels), ``labels_per_item`` and ``labels_per_worker`` (``min``, ``median``,
            ``max``), ``items_with_one_label``, ``items_without_labels``, ``workers_with_one_label``,
            ``workers_without_labels``, ``density`` (labels / (items x workers)).
        """
        class_counts = np.bincount(self.label, minlength=self.n_classes)
        return {
            "n_items": self.n_items,
            "n_workers": self.n_workers,
            "n_labels": self.n_labels,
            "n_classes": self.n_classes,
            "classes": {name: int(n) for name, n in zip(self.class_names, class_counts, strict=True)},
            **self._shape_summary(),
        }

    @classmethod
    def from_matrix(
        cls,
        matrix: np.ndarray,
        *,
        worker_names: tuple[str, ...] | None = None,
        classes: tuple[str, ...] | None = None,
    ) -> Labels:
        """Build from a dense ``items x annotators`` matrix in which NaN means "no label".

        Parameters
        ----------
        matrix : array-like of shape (n_items, n_workers)
            Numeric labels; NaN marks a missing label. Labels must be whole numbers.
        worker_names : tuple of str, optional
            Column names; defaults to the column indices.
        classes : tuple of str, optional
            The class values in code order. By default the distinct values that occur, in numeric
            order; 0/1 data always gets both classes 0 and 1, so an all-ones matrix is still binary.

        Returns
        -------
        Labels
            Items are named by their row index.
        """
        _refuse_long_frame(matrix)
        matrix = np.asarray(matrix)
        if matrix.ndim != 2:
            raise EmcrowdError(f"expected a 2-D items x annotators matrix, got {matrix.ndim} dimensions")
        if matrix.dtype.kind not in "biuf":
            raise EmcrowdError(f"expected numeric labels, got dtype {matrix.dtype}")
        n_items, n_workers = matrix.shape
        if matrix.dtype.kind == "f":
            rows, cols = np.nonzero(~np.isnan(matrix))
        else:
            rows, cols = np.indices(matrix.shape).reshape(2, -1)
        values = matrix[rows, cols]
        if values.size == 0:
            raise EmcrowdError("the matrix holds no labels (every cell is missing)")
        if matrix.dtype.kind == "f":
            if not np.all(np.isfinite(values)):
                raise EmcrowdError("labels must be finite numbers or NaN (found inf)")
            if not np.all(values == np.round(values)):
                bad = values[values != np.round(values)][0]
                raise EmcrowdError(f"labels must be whole numbers, found {float(bad)!r}")
            if np.any(np.abs(values) >= 2.0**53):
                bad = values[np.abs(values) >= 2.0**53][0]
                raise EmcrowdError(f"label {float(bad):g} is too large to be a class number")
        int_values = values.astype(np.int64)
        distinct = np.unique(int_values)
        if classes is None:
            if np.all(np.isin(distinct, (0, 1))):
                distinct = np.array([0, 1])
            class_values = distinct
            classes = tuple(str(v) for v in class_values)
        else:
            try:
                class_values = np.array([int(c) for c in classes])
            except ValueError as exc:
                raise EmcrowdError(f"matrix classes must be integers, got {classes!r}") from exc
            unknown = np.setdiff1d(distinct, class_values)
            if unknown.size:
                raise EmcrowdError(f"label {unknown[0]} is not among the declared classes")
        order = np.argsort(class_values)
        codes = order[np.searchsorted(class_values[order], int_values)]
        if worker_names is None:
            worker_names = tuple(str(i) for i in range(n_workers))
        if len(worker_names) != n_workers:
            raise EmcrowdError(f"{len(worker_names)} annotator names for {n_workers} columns")
        return cls(
            item=rows,
            worker=cols,
            label=codes,
            item_names=tuple(str(j) for j in range(n_items)),
            worker_names=tuple(worker_names),
            class_names=tuple(classes),
        )

    def to_matrix(self) -> np.ndarray:
        """Dense ``items x annotators`` float matrix of class codes, NaN where no label.

        Meant for small data and tests; where an (item, annotator) pair repeats, the last label wins.
        """
        out = np.full((self.n_items, self.n_workers), np.nan)
        out[self.item, self.worker] = self.label
        return out


#: Column names that say a table holds one row per label, not a matrix (compared in lower case).
_LONG_NAMES = frozenset(
    {"item", "task", "question", "worker", "annotator", "labeler", "rater", "user", "label", "answer"}
    | {"item_id", "task_id", "worker_id", "annotator_id", "response", "judgment"}
)


def _refuse_long_frame(data: Any) -> None:
    """Refuse a DataFrame or Arrow table that a matrix reading would misread: one with columns named
    like a long table's (item, worker, label, ...) or with columns that are not numbers. (The models
    and :func:`emcrowd.io.labels_from_frame` read such a table as one row per label; only
    :meth:`Labels.from_matrix` refuses it.)"""
    names = getattr(data, "columns", None)
    if names is None and hasattr(data, "column_names"):
        names = data.column_names
    if names is None or isinstance(data, np.ndarray):
        return
    names = [str(n) for n in names]
    long_named = [n for n in names if n.strip().lower() in _LONG_NAMES]
    dtypes = getattr(data, "dtypes", None)
    kinds = []
    if dtypes is not None:
        try:
            kinds = [np.dtype(str(d)).kind if not hasattr(d, "kind") else d.kind for d in list(dtypes)]
        except TypeError:
            kinds = []
    textual = any(k in "OUSM" for k in kinds)
    if long_named or textual:
        why = f"columns {', '.join(long_named)}" if long_named else "columns that are not numbers"
        raise EmcrowdError(
            f"this {type(data).__name__} has {why}: it looks like one row per label, which would be "
            "misread as an items x annotators matrix; give it to a model as it is "
            "(DawidSkene().fit_predict(df)), or build the labels with "
            "emcrowd.io.labels_from_frame(df, item=..., worker=..., label=...)"
        )
