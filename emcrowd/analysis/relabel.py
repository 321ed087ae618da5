"""Which items to send out for one more label, and how the votes on each item split.

The ranking is by the **expected gain in accuracy from one more label** under the fitted model. With
``q_j`` the item's posterior over the true classes and ``C`` the confusion matrix of the annotator who
would give the label (``C[k, l] = P(label l | true k)``), the label ``l`` would move the posterior to
``q'(k | l) ∝ q_jk C[k, l]``, and the item's expected accuracy (the posterior of its chosen class) from
``max_k q_jk`` to ``E_l[max_k q'(k | l)] = sum_l max_k q_jk C[k, l]``. The gain is the difference,
never negative: zero for a gold item, and zero wherever no single label could change the answer.

It is not the same as low confidence. Under GLAD an item's labels also tell how hard it is: an item
with many labels and a stable even split is hard (low ``beta``), a new label on it is close to a coin
flip, and it gains less than a fresh item that looks just as uncertain.

Who gives the new label: an annotator drawn from the crowd in proportion to their label counts,
leaving out the annotators that :mod:`emcrowd.analysis.quality` flags (nobody would send work to them), so the
gain is averaged over the crowd's confusion matrices. With more than ``max_annotators`` annotators, that
many stand for the crowd, picked at evenly spaced label-weighted quantiles of their estimated accuracy.
That the new annotator is someone who has not labelled the item yet is not modelled.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emcrowd.analysis.quality import annotator_confusions, annotator_quality, flagged, workers_to_review
from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models.classification.majority import vote_counts

#: Annotators that stand for the crowd in :func:`expected_gain` (all of them when there are fewer).
DEFAULT_MAX_ANNOTATORS = 50

_CHUNK = 1 << 17  # items per block in expected_gain: (chunk, K, K) temporaries stay small


def vote_split(data: Labels, counts: np.ndarray | None = None, *, coded: bool = False) -> Any:
    """How each item's votes split, as text such as ``"cat:3;dog:2"``, shape (n_items,), object.

    Classes with at least one vote, most votes first (ties in class-code order); ``""`` for an item
    without labels. ``counts`` are :func:`~emcrowd.models.classification.majority.vote_counts` when already
    computed.
    In class names, ``%``, ``:`` and ``;`` are written ``%25``, ``%3A`` and ``%3B`` so that the text
    always splits back into (name, count) pairs. With ``coded``, a :class:`emcrowd.io.NamedCodes`
    column instead (codes into the distinct texts: 2M items without 2M Python strings).
    """
    counts = vote_counts(data) if counts is None else np.asarray(counts)
    if counts.shape != (data.n_items, data.n_classes):
        raise EmcrowdError(f"vote counts must have shape ({data.n_items}, {data.n_classes})")
    # Items share few distinct rows of counts: format each distinct row once.
    rows, inverse = _distinct_rows(counts)
    names = [_escape(str(name)) for name in data.class_names]
    texts = []
    for row in rows:
        order = np.lexsort((np.arange(row.size), -row))
        texts.append(";".join(f"{names[k]}:{int(row[k])}" for k in order if row[k] > 0))
    if coded:
        from emcrowd.io.outputs import NamedCodes

        return NamedCodes(inverse.ravel(), tuple(texts))
    return np.asarray(texts, dtype=object)[inverse.ravel()]


def _escape(name: str) -> str:
    """A class name as :func:`vote_split` writes it: ``%``, ``:`` and ``;`` percent-encoded."""
    return name.replace("%", "%25").replace(":", "%3A").replace(";", "%3B")


#: Below this many possible keys, :func:`_distinct_rows` finds the distinct rows with a lookup table
#: (linear time) instead of sorting the keys.
_DENSE_KEYS = 1 << 22


def _distinct_rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(counts, axis=0, return_inverse=True)`` (rows in any order), through one integer key
    per row when the counts fit: several times faster than sorting rows, and a lookup table instead of a
    sort when the keys are few (2M items of 2 classes: 0.03 s instead of 0.14 s)."""
    base = int(counts.max(initial=0)) + 1
    if counts.shape[1] * np.log2(base) >= 62:
        rows, inverse = np.unique(counts, axis=0, return_inverse=True)
        return rows, inverse.ravel()
    key = np.zeros(counts.shape[0], dtype=np.int64)
    for k in range(counts.shape[1]):
        key *= base
        key += counts[:, k].astype(np.int64)
    n_keys = base ** counts.shape[1]
    if n_keys <= max(_DENSE_KEYS, counts.shape[0]):
        present = np.bincount(key, minlength=n_keys) > 0
        index = np.cumsum(present) - 1
        distinct = np.flatnonzero(present)
        rows = np.empty((distinct.size, counts.shape[1]), dtype=counts.dtype)
        rest = distinct
        for k in range(counts.shape[1] - 1, -1, -1):
            rows[:, k] = rest % base
            rest = rest // base
        return rows, index[key]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return counts[first], inverse.ravel()


def _top_two(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The largest and second largest value of each row, two arrays of shape (n,)."""
    top = np.full(values.shape[0], -np.inf)
    second = np.full(values.shape[0], -np.inf)
    for k in range(values.shape[1]):
        col = values[:, k]
        second = np.maximum(second, np.minimum(top, col))
        top = np.maximum(top, col)
    return top, second


def vote_margin(counts: np.ndarray) -> np.ndarray:
    """Votes of the top class minus votes of the runner-up, shape (n_items,); 0 for a tie."""
    top, second = _top_two(np.asarray(counts, dtype=float))
    return top - second


def posterior_margin(posteriors: np.ndarray) -> np.ndarray:
    """Posterior of the most probable class minus that of the second, shape (n_items,)."""
    top, second = _top_two(np.asarray(posteriors, dtype=float))
    return top - second


def crowd_annotators(
    data: Labels,
    model: Any,
    *,
    exclude: np.ndarray | None = None,
    max_annotators: int = DEFAULT_MAX_ANNOTATORS,
) -> tuple[np.ndarray, np.ndarray]:
    """The annotators who stand for "a random annotator of the crowd", and their weights.

    Parameters
    ----------
    data : Labels
    model : EMAggregator
        The fitted model (its estimated accuracies order the annotators for the quantiles).
    exclude : array-like of bool, shape (n_workers,), optional
        Annotators not to draw (flagged ones). Ignored if it would leave nobody.
    max_annotators : int
        With more annotators in the pool, this many stand for it, at evenly spaced label-weighted
        quantiles of the estimated accuracy (one with many labels may stand more than once).

    Returns
    -------
    workers : ndarray of int, shape (S,)
        Annotator codes.
    weights : ndarray of shape (S,)
        Probabilities summing to 1: label shares, or equal weights for quantile representatives.
    """
    from emcrowd.analysis.quality import estimated_accuracy

    if int(max_annotators) != max_annotators or max_annotators < 1:
        raise EmcrowdError(f"max_annotators must be a positive integer, got {max_annotators!r}")
    n_labels = data.labels_per_worker().astype(float)
    pool = n_labels > 0
    if exclude is not None and (pool & ~np.asarray(exclude, dtype=bool)).any():
        pool &= ~np.asarray(exclude, dtype=bool)
    workers = np.flatnonzero(pool)
    if workers.size <= max_annotators:
        return workers, n_labels[workers] / n_labels[workers].sum()
    accuracy = estimated_accuracy(data, model)[workers]
    order = np.argsort(accuracy, kind="stable")
    cumulative = np.cumsum(n_labels[workers][order])
    targets = (np.arange(max_annotators) + 0.5) / max_annotators * cumulative[-1]
    picked = workers[order[np.searchsorted(cumulative, targets)]]
    return picked, np.full(max_annotators, 1.0 / max_annotators)


def expected_gain(
    data: Labels,
    model: Any,
    *,
    workers: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Expected gain in each item's accuracy from one more label, shape (n_items,).

    ``sum_s weights_s sum_l max_k q_jk C_s(j)[k, l] - max_k q_jk``, with ``q`` the model's
    ``posteriors_`` and ``C_s(j)`` the confusion matrix of annotator ``workers[s]`` on item ``j``: the
    model's own for Dawid-Skene and one-coin; for GLAD, right with probability
    ``sigmoid(alpha_s beta_j)`` on this item.

    Parameters
    ----------
    data : Labels
        The labels the model was fitted to.
    model : EMAggregator
        A fitted GLAD, Dawid-Skene or one-coin model.
    workers, weights : array-like of shape (S,), optional
        Who would give the label and with what probability; :func:`crowd_annotators` by default.

    Returns
    -------
    ndarray of shape (n_items,)
        In ``[0, 1 - max_k q_jk]``.
    """
    if workers is None:
        workers, weights = crowd_annotators(data, model)
    workers = np.asarray(workers, dtype=np.intp)
    weights = np.full(workers.size, 1.0 / workers.size) if weights is None else np.asarray(weights, float)
    if workers.ndim != 1 or weights.shape != workers.shape or workers.size == 0:
        raise EmcrowdError("workers and weights must be two non-empty arrays of the same length")
    if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
        raise EmcrowdError("weights must be non-negative and sum to 1")
    posteriors = np.asarray(model.posteriors_, dtype=float)
    if posteriors.shape != (data.n_items, data.n_classes):
        raise EmcrowdError("the model was fitted to other data (posteriors do not match the items)")
    item_specific = getattr(model, "confusion_", None) is None and getattr(model, "alpha_", None) is not None
    confusion = None if item_specific else annotator_confusions(data, model)[workers]
    gain = np.empty(data.n_items)
    for start in range(0, data.n_items, _CHUNK):
        q = posteriors[start : start + _CHUNK]
        top, second = _top_two(q)
        expected = np.zeros(q.shape[0])
        if item_specific:
            beta = np.asarray(model.beta_, dtype=float)[start : start + _CHUNK]
            # for each label, the best class other than the label's (the runner-up for the top class)
            others = [np.where(q[:, label] >= top, second, top) for label in range(q.shape[1])]
            for s, w in zip(workers, weights, strict=True):
                right = 0.5 * (1.0 + np.tanh(0.5 * model.alpha_[s] * beta))  # sigmoid, no overflow
                expected += w * _symmetric_best(q, others, right)
        else:
            for c, w in zip(confusion, weights, strict=True):
                expected += w * _confusion_best(q, c)
        gain[start : start + _CHUNK] = expected - top
    return np.maximum(gain, 0.0)  # the exact value is >= 0; clip the rounding


def _confusion_best(q: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """``sum_l max_k q_k confusion[k, l]``, shape (n,), a column at a time (reductions along a short
    last axis are slow in NumPy)."""
    out = np.zeros(q.shape[0])
    best = np.empty(q.shape[0])
    for label in range(q.shape[1]):
        np.multiply(q[:, 0], confusion[0, label], out=best)
        for k in range(1, q.shape[1]):
            np.maximum(best, q[:, k] * confusion[k, label], out=best)
        out += best
    return out


def _symmetric_best(q: np.ndarray, others: list[np.ndarray], right: np.ndarray) -> np.ndarray:
    """``sum_l max_k q_k C[k, l]`` for a symmetric ``C`` (``right`` on the diagonal, the rest even),
    shape (n,): ``max(q_l right, wrong * max_{k != l} q_k)`` summed over ``l``; ``others[l]`` is
    ``max_{k != l} q_k``."""
    wrong = (1.0 - right) / (q.shape[1] - 1)
    out = np.zeros(q.shape[0])
    for label, other in enumerate(others):
        out += np.maximum(q[:, label] * right, other * wrong)
    return out


def relabel_table(
    data: Labels,
    model: Any,
    *,
    quality: dict[str, Any] | None = None,
    max_annotators: int = DEFAULT_MAX_ANNOTATORS,
    limit: int | None = None,
) -> dict[str, Any]:
    """Items ranked by the expected gain in accuracy from one more label, best first.

    Parameters
    ----------
    data : Labels
        The labels the model was fitted to.
    model : EMAggregator
        A fitted GLAD, Dawid-Skene or one-coin model.
    quality : dict, optional
        :func:`emcrowd.analysis.quality.annotator_quality` of this fit (computed when not given): its flagged
        annotators are not drawn as the one giving the new label.
    max_annotators : int
        See :func:`crowd_annotators`.
    limit : int, optional
        Keep only the first ``limit`` rows.

    Returns
    -------
    dict of columns, in ranked order
        ``item`` (name), ``label`` (the model's class name), ``confidence`` (its posterior), ``votes``
        (:func:`vote_split`), ``n_labels``, ``margin`` (:func:`posterior_margin`), ``vote_margin``
        (:func:`vote_margin`), ``expected_gain``. Ties in the gain (items no single label can change
        have gain 0) are ranked by the smaller margin, then by item order.
    """
    if quality is None:
        quality = annotator_quality(data, model)
    workers, weights = crowd_annotators(data, model, exclude=flagged(quality), max_annotators=max_annotators)
    gain = expected_gain(data, model, workers=workers, weights=weights)
    posteriors = np.asarray(model.posteriors_, dtype=float)
    margin = posterior_margin(posteriors)
    order = np.lexsort((np.arange(data.n_items), margin, -gain))
    if limit is not None:
        if int(limit) != limit or limit < 0:
            raise EmcrowdError(f"limit must be a non-negative integer, got {limit!r}")
        order = order[: int(limit)]
    counts = vote_counts(data)
    labels = np.asarray(model.labels_)[order]
    return {
        "item": np.asarray(data.item_names, dtype=object)[order],
        "label": np.asarray(data.class_names, dtype=object)[labels],
        "confidence": posteriors[order, labels],
        "votes": vote_split(data, counts)[order],
        "n_labels": counts.sum(axis=1)[order],
        "margin": margin[order],
        "vote_margin": vote_margin(counts)[order],
        "expected_gain": gain[order],
    }


def relabel_plan(
    data: Labels,
    model: Any,
    *,
    gold: np.ndarray | None = None,
    max_annotators: int = DEFAULT_MAX_ANNOTATORS,
    limit: int | None = None,
) -> dict[str, Any]:
    """What to do next: the items to relabel first and the annotators to review.

    Returns
    -------
    dict
        ``items``: :func:`relabel_table`; ``annotators``: :func:`emcrowd.analysis.quality.workers_to_review`
        of
        the fit's :func:`~emcrowd.analysis.quality.annotator_quality` (with ``gold`` when given).
    """
    quality = annotator_quality(data, model, gold=gold)
    return {
        "items": relabel_table(data, model, quality=quality, max_annotators=max_annotators, limit=limit),
        "annotators": workers_to_review(quality),
    }
