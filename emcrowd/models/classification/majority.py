"""Majority vote, the baseline every aggregation is measured against: the function
:func:`majority_vote` (on :class:`Labels`, returning a :class:`VoteResult`) and the model
:class:`MajorityVote` (``fit``/``fit_predict``/``predict_proba`` on any input, as the EM models)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models._api import Aggregator


def vote_counts(data: Labels) -> np.ndarray:
    """Number of votes for each class of each item, shape (n_items, n_classes)."""
    cells = data.n_items * data.n_classes
    flat = data.item.astype(np.int32 if cells < 2**31 else np.intp) * data.n_classes + data.label
    counts = np.bincount(flat, minlength=data.n_items * data.n_classes)
    return counts.reshape(data.n_items, data.n_classes)


def vote_shares(counts: np.ndarray) -> np.ndarray:
    """Each class's share of an item's votes, shape (n_items, n_classes); uniform with no votes."""
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.full(counts.shape, 1.0 / counts.shape[1])
    np.divide(counts, totals, out=shares, where=totals > 0)
    return shares


@dataclass(frozen=True)
class VoteResult:
    """Result of :func:`majority_vote`.

    Attributes
    ----------
    labels : ndarray of shape (n_items,)
        The winning class code. Among tied classes the **lowest code** wins (for numeric labels, the
        smallest value), or, with ``ties="random"``, one drawn at random (seeded). Items with no labels
        are ties among all classes and are counted in ``n_unlabeled``.
    posteriors : ndarray of shape (n_items, n_classes)
        The vote shares (uniform for items with no labels).
    tied : ndarray of shape (n_items,), bool
        Items whose top count is shared by two or more classes.
    n_ties : int
        ``tied.sum()``.
    n_unlabeled : int
        Items with no labels at all.
    """

    labels: np.ndarray
    posteriors: np.ndarray
    tied: np.ndarray
    n_ties: int
    n_unlabeled: int


TIE_RULES = ("lowest", "random")


def majority_vote(data: Labels, *, ties: str = "lowest", random_state: int = 0) -> VoteResult:
    """Aggregate by plurality vote.

    Parameters
    ----------
    data : Labels
        The observed labels.
    ties : {"lowest", "random"}
        Break ties towards the lowest class code (deterministic, the default), or at random among
        the tied classes.
    random_state : int
        Seed for ``ties="random"``.

    Returns
    -------
    VoteResult
        For ordered grades (``data.ordered``), the median grade: see :func:`median_vote`.
    """
    if ties not in TIE_RULES:
        raise EmcrowdError(f"ties must be one of {', '.join(TIE_RULES)}, got {ties!r}")
    counts = vote_counts(data)
    if data.ordered:
        return median_vote(counts, ties=ties, random_state=random_state)
    top = counts.max(axis=1)
    has_votes = top > 0
    tied = has_votes & ((counts == top[:, None]).sum(axis=1) > 1)
    if ties == "random":
        # Noise below 1 never overturns a strictly larger count, and picks uniformly among equal ones.
        noise = np.random.default_rng(random_state).random(counts.shape)
        labels = np.argmax(counts + 0.5 * noise, axis=1)
    else:
        labels = np.argmax(counts, axis=1)  # first maximum = lowest class code
    return VoteResult(
        labels=labels,
        posteriors=vote_shares(counts),
        tied=tied,
        n_ties=int(tied.sum()),
        n_unlabeled=int((~has_votes).sum()),
    )


def median_vote(counts: np.ndarray, *, ties: str = "lowest", random_state: int = 0) -> VoteResult:
    """The median grade of each item, from its vote counts over grades in order (lowest code first).

    An item with an even number of labels whose two middle labels differ (4 labels 0, 1, 2, 3: middles
    1 and 2) is a tie: the **lower middle grade** wins, or with ``ties="random"`` one of the two middle
    grades at random (seeded). ``posteriors`` are the vote shares, as for the plurality vote.
    """
    m = counts.sum(axis=1)
    cum = np.cumsum(counts, axis=1)
    # the sorted labels' (m - 1) // 2-th and m // 2-th (0-based): the first grade whose running
    # count passes each of them
    lower = (cum <= ((m - 1) // 2)[:, None]).sum(axis=1)
    upper = (cum <= (m // 2)[:, None]).sum(axis=1)
    has_votes = m > 0
    lower = np.where(has_votes, lower, 0)
    upper = np.where(has_votes, upper, 0)
    tied = has_votes & (lower != upper)
    labels = lower
    if ties == "random":
        coin = np.random.default_rng(random_state).random(m.size) < 0.5
        labels = np.where(tied & coin, upper, lower)
    return VoteResult(
        labels=labels.astype(np.intp),
        posteriors=vote_shares(counts),
        tied=tied,
        n_ties=int(tied.sum()),
        n_unlabeled=int((~has_votes).sum()),
    )


class MajorityVote(Aggregator):
    """Majority vote as a model: each item's most frequent label, with the same entry points as the
    EM models (``fit``, ``fit_predict``, ``predict``, ``predict_proba``; see
    :class:`emcrowd.models._api.Aggregator` for the inputs and the form of the results).

    Parameters
    ----------
    ties : {"lowest", "random"}
        Break ties towards the lowest class code (for numeric labels the smallest value; the
        default), or at random among the tied classes.
    random_state : int
        Seed for ``ties="random"``.

    Attributes
    ----------
    labels_ : ndarray of shape (n_items,)
        The winning class code of every item (a gold item's gold class).
    posteriors_ : ndarray of shape (n_items, n_classes)
        The vote shares (uniform for items with no labels; one-hot for gold items).
    tied_ : ndarray of shape (n_items,), bool
        Items whose top count is shared by two or more classes.
    n_ties_, n_unlabeled_ : int
        Tied items, and items with no labels.
    accuracy_ : ndarray of shape (n_workers,)
        Each annotator's share of labels that agree with the item's winning class (0.5 with no
        labels): how often they side with the majority, not an estimate of their accuracy.
    classes_ : tuple of str
        The class names in code order.
    n_gold_ : int
        Items whose class was set by ``gold``.

    Examples
    --------
    >>> import numpy as np
    >>> from emcrowd import MajorityVote
    >>> MajorityVote().fit_predict(np.array([[1, 1, 0], [0, 0, 1], [1, np.nan, np.nan]]))
    array([1, 0, 1])
    """

    method = "majority"

    def __init__(self, *, ties: str = "lowest", random_state: int = 0) -> None:
        self.ties = ties
        self.random_state = random_state

    def _fit_labels(self, data: Labels, gold: np.ndarray | None, callback: object) -> None:
        vote = majority_vote(data, ties=self.ties, random_state=self.random_state)
        labels, posteriors = vote.labels, vote.posteriors
        if gold is not None:
            known = gold >= 0
            labels = np.where(known, gold, labels)
            posteriors = posteriors.copy()
            posteriors[known] = np.eye(data.n_classes)[gold[known]]
        agree = np.bincount(data.worker, weights=labels[data.item] == data.label, minlength=data.n_workers)
        per_worker = data.labels_per_worker()
        self.accuracy_ = np.divide(agree, per_worker, out=np.full(data.n_workers, 0.5), where=per_worker > 0)
        self.labels_ = labels
        self.posteriors_ = posteriors
        self.tied_ = vote.tied
        self.n_ties_ = vote.n_ties
        self.n_unlabeled_ = vote.n_unlabeled
        self.classes_ = data.class_names
        self.n_gold_ = 0 if gold is None else int((gold >= 0).sum())
