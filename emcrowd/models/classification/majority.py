"""Majority vote, the baseline every aggregation is measured against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError


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
class MajorityVote:
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


def majority_vote(data: Labels, *, ties: str = "lowest", random_state: int = 0) -> MajorityVote:
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
    MajorityVote
    """
    if ties not in TIE_RULES:
        raise EmcrowdError(f"ties must be one of {', '.join(TIE_RULES)}, got {ties!r}")
    counts = vote_counts(data)
    top = counts.max(axis=1)
    has_votes = top > 0
    tied = has_votes & ((counts == top[:, None]).sum(axis=1) > 1)
    if ties == "random":
        # Noise below 1 never overturns a strictly larger count, and picks uniformly among equal ones.
        noise = np.random.default_rng(random_state).random(counts.shape)
        labels = np.argmax(counts + 0.5 * noise, axis=1)
    else:
        labels = np.argmax(counts, axis=1)  # first maximum = lowest class code
    return MajorityVote(
        labels=labels,
        posteriors=vote_shares(counts),
        tied=tied,
        n_ties=int(tied.sum()),
        n_unlabeled=int((~has_votes).sum()),
    )
