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
    if alpha_sd < 0 or b_sd < 0:
        raise EmcrowdError("standard deviations must not be negative")
    r = _per_item(n_items, n_workers, labels_per_item, n_classes)
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
    items, workers = _assign(rng, n_items, n_workers, r)
    p_correct = 1.0 / (1.0 + np.exp(-alpha[workers] * beta[items]))
    correct = rng.random((n_items, r)) < p_correct
    wrong = (truth[items] + rng.integers(1, n_classes, size=(n_items, r))) % n_classes
    label = np.where(correct, truth[items], wrong)
    data = _labels(items, workers, label, n_items, n_workers, n_classes)
    return Simulation(labels=data, truth=truth, alpha=alpha, beta=beta)


def simulate_dawid_skene(
    n_items: int,
    n_workers: int,
    *,
    labels_per_item: int | None = None,
    n_classes: int = 2,
    diagonal: float = 0.7,
    concentration: float = 10.0,
    seed: int = 0,
) -> tuple[Labels, np.ndarray, np.ndarray]:
    """Draw a data set from the Dawid-Skene model.

    Each annotator's confusion row for true class ``k`` is drawn from a Dirichlet with mean
    ``diagonal`` on ``k`` and the rest spread evenly, scaled by ``concentration`` (smaller: more
    varied, more class-biased annotators).

    Returns
    -------
    labels : Labels
    truth : ndarray of shape (n_items,)
    confusion : ndarray of shape (n_workers, n_classes, n_classes)
        ``confusion[i, k, l] = P(annotator i says l | truth k)``.
    """
    rng, truth, items, workers = _layout(n_items, n_workers, labels_per_item, n_classes, seed)
    mean = np.full((n_classes, n_classes), (1 - diagonal) / (n_classes - 1))
    np.fill_diagonal(mean, diagonal)
    confusion = np.stack(
        [[rng.dirichlet(concentration * mean[k]) for k in range(n_classes)] for _ in range(n_workers)]
    )
    rows = confusion[workers, truth[items]]  # (n_items, r, K)
    u = rng.random((*rows.shape[:2], 1))
    label = np.minimum((np.cumsum(rows, axis=2) < u).sum(axis=2), n_classes - 1)
    return _labels(items, workers, label, n_items, n_workers, n_classes), truth, confusion


def simulate_one_coin(
    n_items: int,
    n_workers: int,
    *,
    labels_per_item: int | None = None,
    n_classes: int = 2,
    accuracy_range: tuple[float, float] = (0.3, 0.95),
    seed: int = 0,
) -> tuple[Labels, np.ndarray, np.ndarray]:
    """Draw a data set from the one-coin model: annotator ``i`` is right with probability ``p_i``
    (uniform in ``accuracy_range``), otherwise picks a wrong class uniformly.

    Returns
    -------
    labels : Labels
    truth : ndarray of shape (n_items,)
    accuracy : ndarray of shape (n_workers,)
    """
    rng, truth, items, workers = _layout(n_items, n_workers, labels_per_item, n_classes, seed)
    accuracy = rng.uniform(*accuracy_range, size=n_workers)
    correct = rng.random(workers.shape) < accuracy[workers]
    wrong = (truth[items] + rng.integers(1, n_classes, size=workers.shape)) % n_classes
    label = np.where(correct, truth[items], wrong)
    return _labels(items, workers, label, n_items, n_workers, n_classes), truth, accuracy


def _per_item(n_items: int, n_workers: int, labels_per_item: int | None, n_classes: int) -> int:
    """Check the sizes; the number of labels per item (all annotators when None)."""
    if n_items < 1 or n_workers < 1 or n_classes < 2:
        raise EmcrowdError("simulate needs at least one item, one annotator and two classes")
    r = n_workers if labels_per_item is None else labels_per_item
    if not 1 <= r <= n_workers:
        raise EmcrowdError(f"labels per item must be between 1 and {n_workers} (the annotators), got {r}")
    return r


def _assign(rng: np.random.Generator, n_items: int, n_workers: int, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Which annotators label which item: two (n_items, r) arrays of item and annotator codes."""
    if r == n_workers:
        workers = np.broadcast_to(np.arange(n_workers), (n_items, r))
    else:
        workers = np.sort(_distinct_workers(rng, n_items, n_workers, r), axis=1)
    return np.broadcast_to(np.arange(n_items)[:, None], (n_items, r)), workers


def _layout(
    n_items: int, n_workers: int, labels_per_item: int | None, n_classes: int, seed: int
) -> tuple[np.random.Generator, np.ndarray, np.ndarray, np.ndarray]:
    """Random generator, uniform true classes, and which annotators label which item."""
    r = _per_item(n_items, n_workers, labels_per_item, n_classes)
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, size=n_items)
    items, workers = _assign(rng, n_items, n_workers, r)
    return rng, truth, items, workers


def _labels(
    items: np.ndarray, workers: np.ndarray, label: np.ndarray, n_items: int, n_workers: int, n_classes: int
) -> Labels:
    return Labels(
        item=items.ravel(),
        worker=workers.ravel(),
        label=label.ravel(),
        item_names=tuple(map(str, range(n_items))),
        worker_names=tuple(map(str, range(n_workers))),
        class_names=tuple(map(str, range(n_classes))),
    )


@dataclass(frozen=True)
class MaceSimulation:
    """Labels drawn from MACE, with the parameters that generated them.

    Attributes
    ----------
    labels : Labels
    truth : ndarray of shape (n_items,)
    competence : ndarray of shape (n_workers,)
        Each annotator's probability of not spamming.
    spam_distribution : ndarray of shape (n_workers, n_classes)
        Each annotator's distribution of labels when spamming.
    spammer : ndarray of shape (n_workers,), bool
        The annotators drawn as spammers (competence from ``spammer_competence``).
    """

    labels: Labels
    truth: np.ndarray
    competence: np.ndarray
    spam_distribution: np.ndarray
    spammer: np.ndarray


def simulate_mace(
    n_items: int,
    n_workers: int,
    *,
    labels_per_item: int | None = None,
    n_classes: int = 2,
    spammer_share: float = 0.3,
    competence_range: tuple[float, float] = (0.6, 0.95),
    spammer_competence: tuple[float, float] = (0.0, 0.15),
    spam_concentration: float = 0.5,
    class_prior: np.ndarray | None = None,
    seed: int = 0,
) -> MaceSimulation:
    """Draw a data set from MACE (Hovy et al., NAACL 2013): annotator ``i`` gives the true class with
    probability ``competence_i`` and otherwise draws its label from its own spam distribution.

    A share ``spammer_share`` of the annotators (rounded, chosen at random) are spammers, whose
    competence is uniform in ``spammer_competence``; the others' is uniform in ``competence_range``.
    Every spam distribution is drawn from a symmetric Dirichlet of parameter ``spam_concentration``:
    below 1, most spammers favour one or two classes (the annotator who always says "yes").

    Returns
    -------
    MaceSimulation
    """
    for name, (lo, hi) in (
        ("competence_range", competence_range),
        ("spammer_competence", spammer_competence),
    ):
        if not 0 <= lo <= hi <= 1:
            raise EmcrowdError(f"{name} must be two probabilities, the lower first, got {(lo, hi)!r}")
    if not 0 <= spammer_share <= 1:
        raise EmcrowdError(f"spammer_share must be between 0 and 1, got {spammer_share!r}")
    if not spam_concentration > 0:
        raise EmcrowdError(f"spam_concentration must be positive, got {spam_concentration!r}")
    r = _per_item(n_items, n_workers, labels_per_item, n_classes)
    rng = np.random.default_rng(seed)
    if class_prior is None:
        truth = rng.integers(0, n_classes, size=n_items)
    else:
        p = np.asarray(class_prior, dtype=float)
        if p.shape != (n_classes,) or np.any(p < 0) or p.sum() <= 0:
            raise EmcrowdError(f"class_prior must be {n_classes} non-negative numbers, not all zero")
        truth = rng.choice(n_classes, size=n_items, p=p / p.sum())
    items, workers = _assign(rng, n_items, n_workers, r)
    spammer = np.zeros(n_workers, dtype=bool)
    spammer[rng.permutation(n_workers)[: round(spammer_share * n_workers)]] = True
    competence = np.where(
        spammer,
        rng.uniform(*spammer_competence, size=n_workers),
        rng.uniform(*competence_range, size=n_workers),
    )
    spam = rng.dirichlet(np.full(n_classes, spam_concentration), size=n_workers)
    honest = rng.random(workers.shape) < competence[workers]
    cumulative = np.cumsum(spam, axis=1)[workers]  # (n_items, r, K)
    drawn = np.minimum((cumulative < rng.random((*workers.shape, 1))).sum(axis=2), n_classes - 1)
    label = np.where(honest, truth[items], drawn)
    data = _labels(items, workers, label, n_items, n_workers, n_classes)
    return MaceSimulation(data, truth, competence, spam, spammer)
