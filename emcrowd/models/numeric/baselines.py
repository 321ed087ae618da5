"""The baselines for numeric answers: each item's mean or median answer.

Neither uses gold values. The sd of an item's estimate is the pooled within-item sd over the square root
of its number of answers (times sqrt(pi/2), the median's efficiency against the mean under normal
noise, for the median). The annotators' bias and noise are the mean and the sd of their answers' gaps to
the estimates: descriptive, not fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emcrowd.models.numeric._api import NumericAggregator, item_medians, pooled_within_variance
from emcrowd.numeric_data import NumericLabels


class _Baseline(NumericAggregator):
    def _estimates(self, data: NumericLabels) -> np.ndarray:
        raise NotImplementedError

    #: Variance of the estimate relative to the mean's (pi/2 for the median under normal noise).
    efficiency = 1.0

    def _fit_numeric(self, data: NumericLabels, gold: np.ndarray | None, callback: Any) -> None:
        estimate = self._estimates(data)
        counts = data.labels_per_item()
        variance = pooled_within_variance(data) * self.efficiency
        with np.errstate(divide="ignore", invalid="ignore"):
            self.sd_ = np.where(counts > 0, np.sqrt(variance / np.maximum(counts, 1)), np.nan)
        self.estimate_ = estimate
        describe_annotators(self, data, estimate)


def describe_annotators(model: NumericAggregator, data: NumericLabels, estimate: np.ndarray) -> None:
    """Bias and noise of each annotator as the mean and sd of their answers' gaps to ``estimate``;
    flagged when that sd is at least the spread of the estimates (answers no better than a guess)."""
    gap = data.value - estimate[data.item]
    n = data.labels_per_worker().astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        bias = np.bincount(data.worker, gap, minlength=data.n_workers) / n
        second = np.bincount(data.worker, gap * gap, minlength=data.n_workers) / n
        noise = np.sqrt(np.maximum(second - bias * bias, 0.0))
    model.bias_ = bias
    model.noise_ = noise
    model.scale_ = None
    model.random_rate_ = np.full(data.n_workers, np.nan)
    spread = float(np.nanstd(estimate))
    model.flagged_ = (n >= 2) & (np.sqrt(second) >= spread) & (spread > 0)


class MeanAggregator(_Baseline):
    """Each item's mean answer."""

    method = "mean"

    def _estimates(self, data: NumericLabels) -> np.ndarray:
        counts = data.labels_per_item()
        sums = np.bincount(data.item, data.value, minlength=data.n_items)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


class MedianAggregator(_Baseline):
    """Each item's median answer (the mean of the two middle answers for an even count)."""

    method = "median"
    efficiency = np.pi / 2

    def _estimates(self, data: NumericLabels) -> np.ndarray:
        return item_medians(data)
