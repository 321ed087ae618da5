"""Per-class majority vote: a class applies to an item when more than half of its answers tick it."""

from __future__ import annotations

from typing import Any

import numpy as np

from emcrowd.multilabels import MultiLabels


def tick_shares(data: MultiLabels) -> np.ndarray:
    """Share of each item's answers that tick each class, shape (n_items, n_classes)."""
    per_item = np.bincount(data.item, minlength=data.n_items).astype(float)
    shares = np.empty((data.n_items, data.n_classes))
    for c in range(data.n_classes):
        shares[:, c] = np.bincount(data.item, weights=data.ticks[:, c], minlength=data.n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares /= per_item[:, None]
    return np.nan_to_num(shares, nan=0.0)


def per_class_vote(data: MultiLabels) -> np.ndarray:
    """The per-class majority set of every item, a boolean (n_items, n_classes) matrix (an exact tie,
    half of the answers ticking, counts as not applying)."""
    return tick_shares(data) > 0.5


class PerClassMajority:
    """Per-class majority vote with the fitted attributes of :class:`PerClassDawidSkene`.

    ``posteriors_`` holds the share of the item's answers that ticked each class (a vote share, not a
    probability); ``sets_`` the majority sets.
    """

    method = "majority"

    def __init__(self, threshold: float = 0.5, **_: Any) -> None:
        self.threshold = threshold

    def fit(
        self, data: MultiLabels, gold: np.ndarray | None = None, callback: Any = None
    ) -> PerClassMajority:
        self.posteriors_ = tick_shares(data)
        self.sets_ = self.posteriors_ > 0.5
        self.classes_ = data.class_names
        self.n_gold_ = 0
        self.history_: list[float] = []
        self.converged_ = True
        self.n_iter_ = 0
        return self
