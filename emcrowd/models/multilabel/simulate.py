"""Simulated multi-select answers: correlated classes and biased annotators, from a known truth.

The true sets come from a latent Gaussian per item with correlation ``correlation`` between every
two classes (an item with one class tends to have the others too); class ``c`` applies where its
latent value is above the quantile that gives it its prevalence (drawn between 0.1 and 0.4). The
annotators are of four kinds, each with a mean sensitivity and specificity and per-class deviations
on the logit scale: careful ones; under-tickers (tick few classes: low sensitivity, high
specificity); over-tickers (tick many: high sensitivity, low specificity); and spammers (tick each
class at random, whatever the truth). Every item gets ``answers_per_item`` answers from distinct
annotators, some of whom answer far more than others.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emcrowd.errors import EmcrowdError
from emcrowd.multilabels import MultiLabels

#: Share of each kind of annotator, and the Beta parameters of its sensitivity and specificity.
KINDS = {
    "careful": (0.40, (8.0, 2.0), (18.0, 2.0)),
    "under": (0.25, (3.0, 5.0), (40.0, 1.0)),
    "over": (0.20, (9.0, 1.0), (4.0, 3.0)),
    "spammer": (0.15, None, None),
}


def simulate_multilabel(
    n_items: int = 1000,
    n_workers: int = 40,
    n_classes: int = 6,
    answers_per_item: int = 5,
    *,
    correlation: float = 0.5,
    class_spread: float = 0.5,
    random_state: int = 0,
) -> tuple[MultiLabels, np.ndarray, dict[str, Any]]:
    """Simulate a multi-select task.

    Returns
    -------
    (MultiLabels, truth, params)
        The answers; the true sets, a boolean (n_items, n_classes) matrix; and the parameters
        (``sensitivity``, ``specificity``: (n_workers, n_classes); ``prevalence``; ``kind`` of each
        annotator).
    """
    if not 1 <= answers_per_item <= n_workers:
        raise EmcrowdError(f"answers_per_item must be between 1 and n_workers ({n_workers})")
    if n_items < 1 or n_classes < 1:
        raise EmcrowdError("n_items and n_classes must be positive")
    if not 0 <= correlation < 1:
        raise EmcrowdError(f"correlation must be in [0, 1), got {correlation!r}")
    rng = np.random.default_rng(random_state)
    prevalence = rng.uniform(0.1, 0.4, n_classes)
    shared = rng.standard_normal((n_items, 1))
    latent = np.sqrt(correlation) * shared + np.sqrt(1 - correlation) * rng.standard_normal(
        (n_items, n_classes)
    )
    cut = np.array([np.quantile(latent[:, c], 1 - prevalence[c]) for c in range(n_classes)])
    truth = latent > cut

    kinds = rng.choice(list(KINDS), size=n_workers, p=[v[0] for v in KINDS.values()])
    se = np.empty((n_workers, n_classes))
    sp = np.empty((n_workers, n_classes))
    for a, kind in enumerate(kinds):
        _, se_ab, sp_ab = KINDS[kind]
        if se_ab is None:  # a spammer ticks each class with its own rate, whatever the truth
            rate = rng.uniform(0.1, 0.5)
            se[a], sp[a] = rate, 1 - rate
            continue
        base_se, base_sp = rng.beta(*se_ab), rng.beta(*sp_ab)
        se[a] = _expit(_logit(base_se) + class_spread * rng.standard_normal(n_classes))
        sp[a] = _expit(_logit(base_sp) + class_spread * rng.standard_normal(n_classes))

    activity = rng.pareto(1.5, n_workers) + 1.0
    activity /= activity.sum()
    workers = np.empty((n_items, answers_per_item), dtype=np.int64)
    # distinct annotators per item: Gumbel top-k over log activity
    for start in range(0, n_items, 65536):
        stop = min(n_items, start + 65536)
        keys = np.log(activity) + rng.gumbel(size=(stop - start, n_workers))
        workers[start:stop] = np.argpartition(-keys, answers_per_item - 1, axis=1)[:, :answers_per_item]
    item = np.repeat(np.arange(n_items), answers_per_item)
    worker = workers.ravel()
    true_rows = truth[item]
    p_tick = np.where(true_rows, se[worker], 1.0 - sp[worker])
    ticks = (rng.random(p_tick.shape) < p_tick).astype(np.uint8)
    data = MultiLabels(
        item,
        worker,
        ticks,
        tuple(f"i{j}" for j in range(n_items)),
        tuple(f"w{a}" for a in range(n_workers)),
        tuple(f"c{c}" for c in range(n_classes)),
        int((ticks.sum(axis=1) == 0).sum()),
    )
    params = {"sensitivity": se, "specificity": sp, "prevalence": prevalence, "kind": kinds}
    return data, truth, params


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
