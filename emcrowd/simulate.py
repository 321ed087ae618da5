"""Draw crowd labels from the GLAD model, for demos, tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError


@dataclass(frozen=True)
class Simulation:
    """Simulated crowd labels with the parameters that generated them.

    Attributes
    ----------
    labels : Labels
        The observed labels; items, annotators and classes are named ``0, 1, ...``.
    truth : ndarray of shape (n_items,), int
        The true class of each item.
    alpha : ndarray of shape (n_workers,)
        True annotator abilities.
    beta : ndarray of shape (n_items,)
        True inverse difficulties (positive).
    """

    labels: Labels
    truth: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray


def _distinct_workers(rng: np.random.Generator, n_items: int, n_workers: int, r: int) -> np.ndarray:
    """``r`` distinct annotators for every item, shape (n_items, r), without an n_items x n_workers array
    unless that is small."""
    if 4 * r > n_workers or n_items * n_workers <= 4_000_000:
        return np.argsort(rng.random((n_items, n_workers)), axis=1)[:, :r]
    chosen = rng.integers(0, n_workers, size=(n_items, r))
    while True:
        s = np.sort(chosen, axis=1)
        clash = np.any(s[:, 1:] == s[:, :-1], axis=1)
        if not clash.any():
            return chosen
        chosen[clash] = rng.integers(0, n_workers, size=(int(clash.sum()), r))


def simulate_glad(
    n_items: int,
    n_workers: int,
    *,
    labels_per_item: int | None = None,
    n_classes: int = 2,
    alpha_mean: float = 1.0,
    alpha_sd: float = 1.0,
    b_mean: float = 0.0,
    b_sd: float = 0.5,
    class_prior: np.ndarray | None = None,
    seed: int = 0,
) -> Simulation:
    """Draw a data set from GLAD.

    True classes are uniform (or drawn from ``class_prior``); ``alpha ~ N(alpha_mean, alpha_sd^2)``
    (so some annotators may be adversarial), ``log beta ~ N(b_mean, b_sd^2)``. Annotator ``i`` labels
    item ``j`` correctly with probability ``sigmoid(alpha_i * beta_j)`` and otherwise picks one of the
    other classes uniformly.

    Parameters
    ----------
    n_items, n_workers : int
        Size of the crowd task.
    labels_per_item : int, optional
        Distinct annotators per item, chosen uniformly; ``None`` means every annotator labels every item.
    n_classes : int
        Number of classes (at least 2).
    class_prior : array-like of shape (n_classes,), optional
        Probability of each true class; uniform by default.
    seed : int
        Seed of the NumPy random generator; the same arguments give the same data.

    Returns
    -------
    Simulation
    """
    if n_items < 1 or n_workers < 1:
        raise EmcrowdError("simulate needs at least one item and one annotator")
    if n_classes < 2:
        raise EmcrowdError("simulate needs at least two classes")
    r = n_workers if labels_per_item is None else labels_per_item
    if not 1 <= r <= n_workers:
        raise EmcrowdError(f"labels per item must be between 1 and {n_workers} (the annotators), got {r}")
    if alpha_sd < 0 or b_sd < 0:
        raise EmcrowdError("standard deviations must not be negative")
    rng = np.random.default_rng(seed)
    if class_prior is None:
        truth = rng.integers(0, n_classes, size=n_items)
    else:
        p = np.asarray(class_prior, dtype=float)
        if p.shape != (n_classes,) or np.any(p < 0) or p.sum() <= 0:
            raise EmcrowdError(f"class_prior must be {n_classes} non-negative numbers, not all zero")
        truth = rng.choice(n_classes, size=n_items, p=p / p.sum())
    alpha = rng.normal(alpha_mean, alpha_sd, size=n_workers)
    beta = np.exp(rng.normal(b_mean, b_sd, size=n_items))
    if r == n_workers:
        workers = np.broadcast_to(np.arange(n_workers), (n_items, r))
    else:
        workers = np.sort(_distinct_workers(rng, n_items, n_workers, r), axis=1)
    items = np.broadcast_to(np.arange(n_items)[:, None], (n_items, r))
    p_correct = 1.0 / (1.0 + np.exp(-alpha[workers] * beta[items]))
    correct = rng.random((n_items, r)) < p_correct
    wrong = (truth[items] + rng.integers(1, n_classes, size=(n_items, r))) % n_classes
    label = np.where(correct, truth[items], wrong)
    data = Labels(
        item=items.ravel(),
        worker=workers.ravel(),
        label=label.ravel(),
        item_names=tuple(map(str, range(n_items))),
        worker_names=tuple(map(str, range(n_workers))),
        class_names=tuple(map(str, range(n_classes))),
    )
    return Simulation(labels=data, truth=truth, alpha=alpha, beta=beta)
