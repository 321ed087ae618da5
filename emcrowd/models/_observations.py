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
    label: np.ndarray  # (n_labels,) class code of each label
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
            label=data.label.astype(np.intp),
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


def confusion_log_likelihoods(obs: Observations, log_theta: np.ndarray) -> np.ndarray:
    """``sum_o log_theta[worker_o, t, label_o]`` over each item's labels, shape (n_items, T).

    ``log_theta`` has shape (n_workers, T, K): one row of log label probabilities per annotator and
    latent row ``t`` (a true class for Dawid-Skene, a class subtype for EBCC). This is the E-step's
    likelihood of every confusion-matrix model.
    """
    n_rows, k = log_theta.shape[1], obs.n_classes
    flat = log_theta.reshape(obs.n_workers, n_rows * k)
    out = np.empty((obs.n_items, n_rows))
    for t in range(n_rows):
        out[:, t] = np.bincount(obs.item, weights=flat[obs.worker, t * k + obs.label], minlength=obs.n_items)
    return out


def confusion_counts(obs: Observations, weights: np.ndarray) -> np.ndarray:
    """Expected label counts ``counts[i, t, l] = sum_{o: worker i, label l} weights[item_o, t]``.

    ``weights`` has shape (n_items, T) (the posteriors over the latent rows); the result has shape
    (n_workers, T, K): the M-step's sufficient statistics of every confusion-matrix model.
    """
    n_rows, k = weights.shape[1], obs.n_classes
    counts = np.empty((obs.n_workers, n_rows, k))
    for t in range(n_rows):
        counts[:, t, :] = np.bincount(
            obs.worker_label, weights=weights[obs.item, t], minlength=obs.n_workers * k
        ).reshape(obs.n_workers, k)
    return counts


def symmetric_label_proba(posteriors: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Label distribution of "one-coin" style models, shape (n, K): the true class ``k`` is named with
    probability ``right[o]`` and each other class with ``(1 - right[o]) / (K - 1)``, so a label ``l``
    has ``q(l) right + (1 - q(l)) (1 - right) / (K - 1)``; ``posteriors`` are the items' rows ``q``."""
    k = posteriors.shape[1]
    wrong = (1.0 - right) / (k - 1)
    return wrong[:, None] + posteriors * (right - wrong)[:, None]
