"""Majority vote, the baseline every aggregation is measured against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emcrowd.data import Labels


def vote_counts(data: Labels) -> np.ndarray:
    """Number of votes for each class of each item, shape (n_items, n_classes)."""
    flat = data.item.astype(np.intp) * data.n_classes + data.label
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
        The winning class code; among tied classes the **lowest code** wins (for numeric labels, the
        smallest value). Items with no labels get code 0 and are counted in ``n_unlabeled``.
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


def majority_vote(data: Labels) -> MajorityVote:
    """Aggregate by plurality vote, breaking ties towards the lowest class code.

    Parameters
    ----------
    data : Labels
        The observed labels.

    Returns
    -------
    MajorityVote
    """
    counts = vote_counts(data)
    top = counts.max(axis=1)
    has_votes = top > 0
    tied = has_votes & ((counts == top[:, None]).sum(axis=1) > 1)
    return MajorityVote(
        labels=np.argmax(counts, axis=1),  # first maximum = lowest class code
        posteriors=vote_shares(counts),
        tied=tied,
        n_ties=int(tied.sum()),
        n_unlabeled=int((~has_votes).sum()),
    )
