"""The labels as index arrays for the EM models, and the per-item sums they all need."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emcrowd.data import Labels


@dataclass
class Observations:
    """Index arrays of the labels, prepared once per fit (``intp`` so that indexing does not copy)."""

    worker: np.ndarray  # (n_labels,)
    item: np.ndarray  # (n_labels,)
    item_label: np.ndarray  # (n_labels,) flat index item * K + label into an (n_items, K) array
    worker_label: np.ndarray  # (n_labels,) flat index worker * K + label into an (n_workers, K) array
    n_items: int
    n_workers: int
    n_classes: int

    @classmethod
    def from_labels(cls, data: Labels) -> Observations:
        item = data.item.astype(np.intp)
        worker = data.worker.astype(np.intp)
        return cls(
            worker=worker,
            item=item,
            item_label=item * data.n_classes + data.label,
            worker_label=worker * data.n_classes + data.label,
            n_items=data.n_items,
            n_workers=data.n_workers,
            n_classes=data.n_classes,
        )

    @property
    def log_k_minus_1(self) -> float:
        return float(np.log(self.n_classes - 1))


def symmetric_log_likelihoods(obs: Observations, log_right: np.ndarray, log_wrong: np.ndarray) -> np.ndarray:
    """``log p(labels of j | z_j = k)`` for "one-coin" style models, shape (n_items, K).

    A label adds ``log_right[o]`` to the class it names and ``log_wrong[o]`` (already including the
    share among the K - 1 wrong classes) to every other class. Both sums are built from terms of one
    sign, and the "other classes" sum from prefix and suffix sums, never by subtracting: where the
    terms are huge (GLAD with ``|alpha * beta|`` in the millions) a subtraction would cancel.
    """
    n, k = obs.n_items, obs.n_classes
    out = np.bincount(obs.item_label, weights=log_right, minlength=n * k).reshape(n, k)
    wrong = np.bincount(obs.item_label, weights=log_wrong, minlength=n * k).reshape(n, k)
    if k == 2:
        out += wrong[:, ::-1]
    else:
        prefix = np.zeros((n, k))
        np.cumsum(wrong[:, :-1], axis=1, out=prefix[:, 1:])
        suffix = np.zeros((n, k))
        np.cumsum(wrong[:, :0:-1], axis=1, out=suffix[:, -2::-1])
        out += prefix
        out += suffix
    return out
