"""Simulated crowd labels with a machine's predictions beside them (for tests, docs and benchmarks).

The crowd: each item gets a number of labels drawn uniformly from ``labels_per_item`` (a range), from
as many distinct annotators (consecutive codes from a random one; the codes carry no meaning), each
right with its own accuracy (uniform in ``worker_accuracy``) and otherwise naming a wrong class at
random. The machine: a score per class, ``signal`` for the true class plus standard normal noise;
its well-calibrated probabilities would be ``softmax(signal * score)``, and it reports
``softmax(sharpness * signal * score)`` instead: overconfident for a ``sharpness`` above 1,
underconfident below. ``signal=0`` makes a useless machine (random probabilities).
"""

from __future__ import annotations

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.predictions import Predictions


def simulate_crowd_machine(
    n_items: int = 2000,
    *,
    n_classes: int = 2,
    n_workers: int = 50,
    labels_per_item: tuple[int, int] = (1, 5),
    worker_accuracy: tuple[float, float] = (0.55, 0.9),
    signal: float = 1.5,
    sharpness: float = 3.0,
    machine_items: float = 1.0,
    crowd_items: float = 1.0,
    machine_name: str = "model",
    random_state: int = 0,
) -> tuple[Labels, np.ndarray, Predictions]:
    """Crowd labels, the true class codes of all items, and the machine's predictions.

    ``machine_items`` and ``crowd_items`` are the shares of the items each one sees (the items a
    crowd skips come last and are only the machine's; every item is seen by one of them).
    """
    if n_classes < 2 or n_items < 1 or n_workers < 1:
        raise EmcrowdError("simulate_crowd_machine needs n_classes >= 2, n_items >= 1, n_workers >= 1")
    low, high = labels_per_item
    if not 1 <= low <= high or high > n_workers:
        raise EmcrowdError(f"labels_per_item must be 1 <= low <= high <= n_workers, got {labels_per_item}")
    if not (0 < crowd_items <= 1 and 0 < machine_items <= 1):
        raise EmcrowdError("crowd_items and machine_items are shares in (0, 1]")
    rng = np.random.default_rng(random_state)
    k = n_classes
    truth = rng.integers(0, k, n_items)
    accuracy = rng.uniform(*worker_accuracy, n_workers)
    n_crowd = max(1, round(crowd_items * n_items))
    counts = rng.integers(low, high + 1, n_crowd)
    item = np.repeat(np.arange(n_crowd), counts)
    # an item's annotators: consecutive codes from a random start (distinct; drawn in one go)
    start = np.repeat(rng.integers(0, n_workers, n_crowd), counts)
    worker = (start + np.arange(item.size) - np.repeat(np.cumsum(counts) - counts, counts)) % n_workers
    right = rng.random(item.size) < accuracy[worker]
    wrong = (truth[item] + rng.integers(1, k, item.size)) % k
    label = np.where(right, truth[item], wrong)
    names = tuple(f"i{j:06d}" for j in range(n_items))
    labels = Labels(item, worker, label, names[:n_crowd], tuple(f"w{i:03d}" for i in range(n_workers)),
                    tuple(f"c{c}" for c in range(k)))  # fmt: skip
    score = rng.standard_normal((n_items, k))
    score[np.arange(n_items), truth] += signal
    logits = sharpness * signal * score if signal else rng.standard_normal((n_items, k)) * 2.0
    logits -= logits.max(axis=1, keepdims=True)
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    seen = np.arange(n_items)
    if machine_items < 1:
        # the machine misses some crowd items, never one the crowd skipped
        n_seen = max(1, round(machine_items * n_crowd))
        seen = np.concatenate(
            [np.sort(rng.choice(n_crowd, n_seen, replace=False)), np.arange(n_crowd, n_items)]
        )
    machine = Predictions(machine_name, tuple(names[j] for j in seen), labels.class_names, proba=proba[seen],
                          source="simulation")  # fmt: skip
    return labels, truth, machine
