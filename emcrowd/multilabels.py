"""The observed answers of a multi-select task: each answer is a set of classes ticked by one annotator.

A multi-select data set is stored as two parallel integer arrays, one entry per answer (an annotator's
answer to one item): ``item[o]`` and ``worker[o]``, and a 0/1 matrix ``ticks`` of shape
``(n_answers, n_classes)``: ``ticks[o, c]`` is 1 when answer ``o`` ticked class ``c``. An answer covers
every class: a class it does not tick is a "no" for that class. The classes are the distinct single
classes, never their combinations.

The rule for an answer that ticks nothing (an empty JSON array, an empty Label Studio choice list, a
cell holding only separators) is the reader's ``empty`` option (:data:`EMPTY_RULES`): ``none`` (the
default) keeps it as "none of the classes applies", a "no" for every class; ``missing`` drops it as if
the annotator had not answered. An empty text cell is always a missing answer, as in single-class
files: a CSV cannot tell an empty answer from an unanswered item.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emcrowd.data import CODE_DTYPE, CodedAnswers, count_spread
from emcrowd.errors import EmcrowdError

#: What an answer that ticks nothing means: a "no" for every class, or no answer at all.
EMPTY_RULES = ("none", "missing")


@dataclass(frozen=True, eq=False)
class MultiLabels(CodedAnswers):
    """Observed multi-select answers.

    Attributes
    ----------
    item : ndarray of shape (n_answers,), int32
        Item code of each answer, in ``0..n_items-1``.
    worker : ndarray of shape (n_answers,), int32
        Annotator code of each answer, in ``0..n_workers-1``.
    ticks : ndarray of shape (n_answers, n_classes), uint8
        1 where the answer ticked the class, else 0.
    item_names, worker_names, class_names : tuple of str
        The user's ids and class names, in code order.
    n_empty : int
        Answers that ticked nothing and were kept as "none of the classes" (informative only).
    """

    item: np.ndarray
    worker: np.ndarray
    ticks: np.ndarray
    item_names: tuple[str, ...]
    worker_names: tuple[str, ...]
    class_names: tuple[str, ...]
    n_empty: int = 0

    def __post_init__(self) -> None:
        self._as_codes("item", "worker")
        ticks = np.asarray(self.ticks)
        if ticks.ndim != 2 or ticks.shape[0] != self.item.size:
            raise EmcrowdError("MultiLabels.ticks must be an (n_answers, n_classes) matrix")
        if ticks.size and not np.isin(ticks, (0, 1)).all():
            raise EmcrowdError("MultiLabels.ticks must hold only 0 and 1")
        object.__setattr__(self, "ticks", np.ascontiguousarray(ticks, dtype=np.uint8))
        if self.item.shape != self.worker.shape:
            raise EmcrowdError("MultiLabels.item and .worker must have the same length")
        if ticks.shape[1] != len(self.class_names):
            raise EmcrowdError(f"{ticks.shape[1]} tick columns for {len(self.class_names)} classes")
        self._check_item_worker_codes()
        if self.n_classes < 1:
            raise EmcrowdError("a multi-select task needs at least one class")
        if self.n_answers == 0:
            raise EmcrowdError("no answers to aggregate")

    @property
    def n_answers(self) -> int:
        return int(self.item.size)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def answers_per_item(self) -> np.ndarray:
        """Number of answers of each item, shape (n_items,)."""
        return self.labels_per_item()

    def answers_per_worker(self) -> np.ndarray:
        """Number of answers of each annotator, shape (n_workers,)."""
        return self.labels_per_worker()

    def class_of(self, name: str) -> int:
        try:
            return self.class_names.index(name)
        except ValueError:
            raise EmcrowdError(f"unknown class {name!r}") from None

    def describe(self) -> dict[str, Any]:
        """Sizes and how often each class is ticked; JSON-ready."""
        per_item = self.answers_per_item()
        per_worker = self.answers_per_worker()
        ticked = self.ticks.sum(axis=0)
        spread = count_spread

        return {
            "n_items": self.n_items,
            "n_workers": self.n_workers,
            "n_answers": self.n_answers,
            "n_classes": self.n_classes,
            "n_class_answers": self.n_answers * self.n_classes,
            "classes": {name: int(n) for name, n in zip(self.class_names, ticked, strict=True)},
            "classes_per_answer": float(self.ticks.sum() / self.n_answers),
            "empty_answers": int((self.ticks.sum(axis=1) == 0).sum()),
            "answers_per_item": spread(per_item),
            "answers_per_worker": spread(per_worker),
        }

    @classmethod
    def from_sets(
        cls,
        items: Sequence[Any],
        workers: Sequence[Any],
        sets: Sequence[Iterable[Any]],
        *,
        classes: Sequence[str] | None = None,
        empty: str = "none",
    ) -> MultiLabels:
        """Build from one (item, annotator, set of classes) triple per answer.

        Parameters
        ----------
        items, workers : sequences of ids (any hashable; kept as text)
        sets : sequence of iterables of class names
            The classes each answer ticked.
        classes : sequence of str, optional
            The classes and their order; a ticked class outside them is an error. By default the
            classes seen, in numeric order when all are numbers, else alphabetical.
        empty : {"none", "missing"}
            An answer that ticks nothing: "none of the classes" (kept), or dropped.
        """
        if empty not in EMPTY_RULES:
            raise EmcrowdError(f"empty must be one of {', '.join(EMPTY_RULES)}, got {empty!r}")
        if not (len(items) == len(workers) == len(sets)):
            raise EmcrowdError("items, workers and sets must have the same length")
        texts = [tuple(sorted({str(c).strip() for c in s} - {""})) for s in sets]
        keep = [k for k, t in enumerate(texts) if t or empty == "none"]
        seen = sorted({c for t in texts for c in t})
        if classes is None:
            names = tuple(sorted(seen, key=_class_key))
        else:
            names = tuple(str(c) for c in classes)
            if len(set(names)) != len(names):
                raise EmcrowdError("the declared classes repeat a name")
            unknown = sorted(set(seen) - set(names))
            if unknown:
                raise EmcrowdError(f"class {unknown[0]!r} is not among the declared classes")
        if not names:
            raise EmcrowdError("no answer ticks any class")
        index = {c: k for k, c in enumerate(names)}
        item_codes, item_names = _codes([str(items[k]) for k in keep])
        worker_codes, worker_names = _codes([str(workers[k]) for k in keep])
        ticks = np.zeros((len(keep), len(names)), dtype=np.uint8)
        for row, k in enumerate(keep):
            for c in texts[k]:
                ticks[row, index[c]] = 1
        n_empty = sum(1 for k in keep if not texts[k])
        return cls(item_codes, worker_codes, ticks, item_names, worker_names, names, n_empty)


def _class_key(name: str) -> tuple[int, float, str]:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def _codes(ids: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes in order of first appearance, and the names."""
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(i, len(index)) for i in ids), dtype=CODE_DTYPE, count=len(ids))
    return codes, tuple(index)
