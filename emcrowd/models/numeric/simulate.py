"""Simulated numeric answers from the bias-and-noise model, with annotators who answer at random.

Item values are drawn ``N(value_mean, value_sd^2)``; annotator ``w`` answers ``bias_w + scale_w * z +
N(0, noise_w^2)``, except the random answerers, who answer uniformly over the range of the values
(mean -+ 3 sd). Each item gets ``labels_per_item`` answers from distinct annotators drawn at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emcrowd.errors import EmcrowdError
from emcrowd.numeric_data import NumericLabels


@dataclass(frozen=True)
class NumericSimulation:
    """Simulated answers and what made them: ``labels``, the true ``values`` per item, and per
    annotator ``bias``, ``noise``, ``scale`` and ``random`` (bool: answers at random)."""

    labels: NumericLabels
    values: np.ndarray
    bias: np.ndarray
    noise: np.ndarray
    scale: np.ndarray
    random: np.ndarray


def simulate_numeric(
    n_items: int = 500,
    n_workers: int = 20,
    labels_per_item: int = 5,
    *,
    value_mean: float = 50.0,
    value_sd: float = 20.0,
    bias_sd: float = 5.0,
    noise_range: tuple[float, float] = (2.0, 15.0),
    scale_sd: float = 0.0,
    random_workers: float = 0.1,
    random_share: float = 1.0,
    seed: int = 0,
) -> NumericSimulation:
    """Simulate numeric crowd answers.

    Parameters
    ----------
    n_items, n_workers, labels_per_item : int
        Sizes; ``labels_per_item`` distinct annotators per item (at most ``n_workers``).
    value_mean, value_sd : float
        The distribution of the true values.
    bias_sd : float
        Sd of the annotators' biases (drawn normal, mean 0).
    noise_range : (float, float)
        The annotators' noise sds, drawn uniform in this range.
    scale_sd : float
        Sd of the annotators' scales around 1 (0: every scale is 1).
    random_workers : float
        Share of annotators who answer at random (rounded; at least one when above 0).
    random_share : float
        Share of a random answerer's answers given at random (1: all of them; below 1, the others
        follow the model).
    seed : int
        Seed of the generator; the same seed gives the same data.
    """
    if n_items < 1 or n_workers < 1 or labels_per_item < 1:
        raise EmcrowdError("items, workers and labels per item must be at least 1")
    if labels_per_item > n_workers:
        raise EmcrowdError(
            f"{labels_per_item} labels per item need at least as many workers, got {n_workers}"
        )
    if not 0 < random_share <= 1:
        raise EmcrowdError(f"random_share is a share in (0, 1], got {random_share}")
    if not 0 <= random_workers < 1:
        raise EmcrowdError(f"random_workers is a share in [0, 1), got {random_workers}")
    rng = np.random.default_rng(seed)
    values = rng.normal(value_mean, value_sd, n_items)
    bias = rng.normal(0.0, bias_sd, n_workers)
    noise = rng.uniform(noise_range[0], noise_range[1], n_workers)
    scale = 1.0 + rng.normal(0.0, scale_sd, n_workers) if scale_sd > 0 else np.ones(n_workers)
    n_random = round(random_workers * n_workers)
    if random_workers > 0:
        n_random = max(n_random, 1)
    random = np.zeros(n_workers, dtype=bool)
    random[rng.choice(n_workers, n_random, replace=False)] = True
    item = np.repeat(np.arange(n_items), labels_per_item)
    worker = _distinct_workers(rng, n_items, n_workers, labels_per_item).reshape(-1)
    z = values[item]
    answers = bias[worker] + scale[worker] * z + rng.normal(0.0, 1.0, item.size) * noise[worker]
    lo, hi = value_mean - 3 * value_sd, value_mean + 3 * value_sd
    is_random = random[worker]
    if random_share < 1:
        is_random &= rng.random(item.size) < random_share
    answers[is_random] = rng.uniform(lo, hi, int(is_random.sum()))
    labels = NumericLabels(
        item=item,
        worker=worker,
        value=np.round(answers, 3),
        item_names=tuple(f"i{j}" for j in range(n_items)),
        worker_names=tuple(f"w{k}" for k in range(n_workers)),
    )
    return NumericSimulation(labels, values, bias, noise, scale, random)


def _distinct_workers(rng: np.random.Generator, n_items: int, n_workers: int, k: int) -> np.ndarray:
    """``k`` distinct annotators per item drawn uniformly, shape (n_items, k): rows drawn at once and
    redrawn while they repeat an annotator (a random graph of items and annotators, as real crowds
    are; no n_items x n_workers array unless k is above half the annotators)."""
    if 2 * k > n_workers:
        keys = rng.random((n_items, n_workers))
        return np.argpartition(keys, k - 1, axis=1)[:, :k]
    out = rng.integers(0, n_workers, (n_items, k))
    todo = np.arange(n_items)
    while todo.size:
        rows = np.sort(out[todo], axis=1)
        repeated = (rows[:, 1:] == rows[:, :-1]).any(axis=1)
        todo = todo[repeated]
        out[todo] = rng.integers(0, n_workers, (todo.size, k))
    return out
