"""Numeric answers in coordinate form: what ``--numeric`` readers make and the numeric models read.

The twin of :class:`emcrowd.data.Labels` for tasks whose answer is a number (a score, a count, a
price, a rating read as a quantity): ``item[o]`` and ``worker[o]`` are integer codes as there, and
``value[o]`` is the answer itself as a float64. Missing answers have no entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emcrowd.data import CodedAnswers
from emcrowd.errors import EmcrowdError


@dataclass(frozen=True, eq=False)
class NumericLabels(CodedAnswers):
    """Observed numeric answers.

    Attributes
    ----------
    item, worker : ndarray of shape (n_labels,), int32
        Item and annotator code of each answer.
    value : ndarray of shape (n_labels,), float64
        The answer; always finite.
    item_names, worker_names : tuple of str
        The original ids, in code order.
    """

    item: np.ndarray
    worker: np.ndarray
    value: np.ndarray
    item_names: tuple[str, ...]
    worker_names: tuple[str, ...]

    def __post_init__(self) -> None:
        self._as_codes("item", "worker")
        value = np.ascontiguousarray(self.value, dtype=np.float64)
        if value.ndim != 1:
            raise EmcrowdError(f"NumericLabels.value must be one-dimensional, got shape {value.shape}")
        object.__setattr__(self, "value", value)
        if not (self.item.shape == self.worker.shape == self.value.shape):
            raise EmcrowdError("NumericLabels.item, .worker and .value must have the same length")
        if self.value.size == 0:
            raise EmcrowdError("no numeric labels to aggregate")
        if not np.all(np.isfinite(self.value)):
            bad = self.value[~np.isfinite(self.value)][0]
            raise EmcrowdError(f"numeric labels must be finite numbers, found {bad!r}")
        self._check_item_worker_codes()

    #: Numeric answers have no classes; code that branches on the kind of labels reads this.
    kind = "numeric"

    @property
    def n_labels(self) -> int:
        return int(self.item.size)

    def describe(self) -> dict[str, Any]:
        """Counts and the spread of the answers, JSON-ready: sizes, labels per item and annotator,
        the answers' ``min``, quartiles, ``max``, mean and sd, the number of distinct values, and the
        mean within-item sd (how much annotators disagree on the same item)."""
        per_item = self.labels_per_item()
        q = np.quantile(self.value, [0.0, 0.25, 0.5, 0.75, 1.0])
        sums = np.bincount(self.item, self.value, minlength=self.n_items)
        squares = np.bincount(self.item, self.value * self.value, minlength=self.n_items)
        many = per_item >= 2
        within = None
        if many.any():
            n = per_item[many]
            var = (squares[many] - sums[many] ** 2 / n) / (n - 1)
            within = float(np.sqrt(np.maximum(var, 0.0)).mean())
        return {
            "kind": "numeric",
            "n_items": self.n_items,
            "n_workers": self.n_workers,
            "n_labels": self.n_labels,
            "n_distinct_values": int(np.unique(self.value).size),
            "values": {
                "min": float(q[0]),
                "q1": float(q[1]),
                "median": float(q[2]),
                "q3": float(q[3]),
                "max": float(q[4]),
                "mean": float(self.value.mean()),
                "sd": float(self.value.std()),
            },
            "mean_within_item_sd": within,
            **self._shape_summary(),
        }

    @classmethod
    def from_matrix(
        cls,
        matrix: np.ndarray,
        *,
        worker_names: tuple[str, ...] | None = None,
        item_names: tuple[str, ...] | None = None,
    ) -> NumericLabels:
        """Build from a dense ``items x annotators`` matrix in which NaN means "no answer" (negative
        numbers are answers here, unlike in a matrix of classes)."""
        matrix = np.asarray(matrix)
        if matrix.ndim != 2:
            raise EmcrowdError(f"expected a 2-D items x annotators matrix, got {matrix.ndim} dimensions")
        if matrix.dtype.kind not in "biuf":
            raise EmcrowdError(f"expected numeric labels, got dtype {matrix.dtype}")
        matrix = matrix.astype(np.float64, copy=False)
        if np.isinf(matrix).any():
            raise EmcrowdError("labels must be finite numbers or NaN for no label (found inf)")
        rows, cols = np.nonzero(~np.isnan(matrix))
        if rows.size == 0:
            raise EmcrowdError("the matrix holds no labels (every cell is missing)")
        n_items, n_workers = matrix.shape
        if worker_names is None:
            worker_names = tuple(str(i) for i in range(n_workers))
        if len(worker_names) != n_workers:
            raise EmcrowdError(f"{len(worker_names)} annotator names for {n_workers} columns")
        if item_names is None:
            item_names = tuple(str(j) for j in range(n_items))
        return cls(rows, cols, matrix[rows, cols], tuple(item_names), tuple(worker_names))

    def to_matrix(self) -> np.ndarray:
        """Dense ``items x annotators`` matrix of the answers, NaN where none (small data only)."""
        out = np.full((self.n_items, self.n_workers), np.nan)
        out[self.item, self.worker] = self.value
        return out
