"""Analysis over a crowd + machine fit: where one more human label is worth most, given the machines."""

from __future__ import annotations

from typing import Any

import numpy as np

from emcrowd.errors import EmcrowdError


def expected_gain(md: Any, model: Any, max_annotators: int = 50) -> np.ndarray:
    """Expected gain in each item's accuracy from one more human label, given the machines: ``sum_s
    w_s sum_l max_k q_jk C_s[k, l] - max_k q_jk`` over annotators ``s`` standing for the crowd (by
    label share; label-weighted quantiles of accuracy when there are many), ``q`` the crowd + machine
    posteriors."""
    data = md.labels
    n_labels = data.labels_per_worker().astype(float)
    workers = np.flatnonzero(n_labels > 0)
    if workers.size == 0:
        raise EmcrowdError("no human labels: relabel needs the crowd's annotators to stand for a new label")
    if workers.size <= max_annotators:
        weights = n_labels[workers] / n_labels[workers].sum()
    else:
        order = workers[np.argsort(model.accuracy_[workers], kind="stable")]
        cumulative = np.cumsum(n_labels[order])
        targets = (np.arange(max_annotators) + 0.5) / max_annotators * cumulative[-1]
        workers = order[np.searchsorted(cumulative, targets)]
        weights = np.full(max_annotators, 1.0 / max_annotators)
    q = model.posteriors_
    top = q.max(axis=1)
    expected = np.zeros(q.shape[0])
    for s, w in zip(workers, weights, strict=True):
        joint = q[:, :, None] * model.confusion_[s][None, :, :]  # [item, true, said]
        expected += w * joint.max(axis=1).sum(axis=1)
    return np.maximum(expected - top, 0.0)
