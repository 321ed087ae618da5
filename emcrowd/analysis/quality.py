"""How good each annotator is, from any fitted model: accuracy, a spammer score and flags.

Every model is first turned into one confusion matrix per annotator, ``P(label l | true class k)``
(:func:`annotator_confusions`): Dawid-Skene's own ``confusion_``; for one-coin, the accuracy on the
diagonal and the errors spread evenly; for GLAD, the same at a *typical* item, the median inverse
difficulty ``beta`` over the labelled items (GLAD's accuracy depends on the item).

From it, per annotator (:func:`annotator_quality`):

* an **estimated accuracy** on the 0-1 scale, ``sum_k class_prior_k P(k | k)`` (GLAD:
  ``sigmoid(alpha_i * median beta)``), with an approximate 90% interval: the Wilson score interval of
  ``accuracy * n`` successes in the annotator's ``n`` labels (it ignores the uncertainty about the true
  classes, so it is narrower than the truth where the crowd is weak);
* the accuracy on **gold** items and how many distinct gold items the annotator labelled, when gold
  is given;
* the **spammer score** of Raykar & Yu (JMLR 2012): the squared Frobenius distance of the confusion
  matrix from the nearest matrix with identical rows (an annotator whose label does not depend on the
  truth), ``sum_{c < c'} ||A_c - A_c'||^2 / K``, divided here by its largest value ``K - 1`` so that it
  runs from 0 (a spammer: random or constant answers) to 1 (a perfect, or perfectly inverted,
  annotator). For two classes it is ``(sensitivity + specificity - 1)^2``;
* **flags** (only for annotators with at least ``min_labels`` labels; the others are flagged
  ``sparse``, too few labels to judge):
  ``constant`` (gives one class only, on items the model puts in several classes), ``below_chance``
  (estimated accuracy below ``1 / K``) and ``spammer`` (spammer score below ``spammer_threshold``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError

#: Fewer labels than this and an annotator is ``sparse``: no other flag is raised. At 10 labels the
#: standard error of an accuracy near 0.75 is already 0.14, about the gap between a fair annotator
#: and a coin; below that, flags would mostly be noise.
DEFAULT_MIN_LABELS = 10

#: A spammer score below this flags a spammer: for two classes, |sensitivity + specificity - 1| < 0.22,
#: an accuracy between 0.39 and 0.61 for a symmetric annotator (a coin flipper's estimate stays there
#: with a few dozen labels); for K classes, a symmetric annotator closer than 0.22 (K - 1) / K to 1 / K.
DEFAULT_SPAMMER_THRESHOLD = 0.05

#: The flags of :func:`annotator_quality` that mark an annotator worth reviewing.
REVIEW_FLAGS = ("constant", "below_chance", "spammer")


def _symmetric(right: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrices with ``right`` on the diagonal and the rest spread evenly, (n, K, K)."""
    wrong = (1.0 - right) / (n_classes - 1)
    out = np.repeat(wrong[:, None, None], n_classes, axis=1).repeat(n_classes, axis=2)
    idx = np.arange(n_classes)
    out[:, idx, idx] = right[:, None]
    return out


def typical_beta(data: Labels, model: Any) -> float:
    """GLAD's inverse difficulty of a typical item: the median ``beta_`` over items with labels."""
    labelled = data.labels_per_item() > 0
    beta = np.asarray(model.beta_)
    return float(np.median(beta[labelled])) if labelled.any() else 1.0


def annotator_confusions(data: Labels, model: Any) -> np.ndarray:
    """Each annotator's confusion matrix under the fitted model, shape (n_workers, K, K).

    ``out[i, k, l]`` is the probability that annotator ``i`` says ``l`` when the truth is ``k``: the
    model's ``confusion_`` when it has one (Dawid-Skene); else symmetric, from ``accuracy_``
    (one-coin), or from ``alpha_`` at the :func:`typical_beta` (GLAD).

    Raises
    ------
    EmcrowdError
        When the model is not fitted or has no annotator parameters (majority vote).
    """
    k = data.n_classes
    if getattr(model, "confusion_", None) is not None:
        confusion = np.asarray(model.confusion_, dtype=float)
    elif getattr(model, "alpha_", None) is not None and getattr(model, "beta_", None) is not None:
        x = np.asarray(model.alpha_, dtype=float) * typical_beta(data, model)
        confusion = _symmetric(0.5 * (1.0 + np.tanh(0.5 * x)), k)  # sigmoid without overflow
    elif getattr(model, "accuracy_", None) is not None:
        confusion = _symmetric(np.asarray(model.accuracy_, dtype=float), k)
    else:
        raise EmcrowdError(
            f"annotator quality needs a fitted model with annotator parameters, not {type(model).__name__}"
        )
    if confusion.shape != (data.n_workers, k, k):
        raise EmcrowdError(f"the model has {confusion.shape[0]} annotators; the data has {data.n_workers}")
    return confusion


def spammer_scores(confusion: np.ndarray) -> np.ndarray:
    """Raykar & Yu's spammer score of each confusion matrix, scaled to [0, 1], shape (n_workers,).

    ``sum_{c < c'} ||A_c - A_c'||^2 / (K (K - 1))`` for rows ``A_c`` of ``confusion`` (n_workers, K, K):
    0 when every row is the same (the label ignores the truth), 1 when the rows are distinct one-hot
    vectors (a perfect annotator, or one that renames the classes consistently).
    """
    confusion = np.asarray(confusion, dtype=float)
    k = confusion.shape[1]
    total = np.zeros(confusion.shape[0])
    for c in range(k):
        for c2 in range(c + 1, k):
            diff = confusion[:, c, :] - confusion[:, c2, :]
            total += np.einsum("il,il->i", diff, diff)
    return total / (k * (k - 1))


def estimated_accuracy(data: Labels, model: Any, confusion: np.ndarray | None = None) -> np.ndarray:
    """Each annotator's probability of giving the true class under the fitted model, shape (n_workers,).

    ``sum_k class_prior_k * confusion[i, k, k]`` from :func:`annotator_confusions`; for a symmetric
    model (one-coin, GLAD at the typical item) that is its diagonal whatever the class prior.
    ``confusion`` is :func:`annotator_confusions` when already computed.
    """
    if confusion is None:
        confusion = annotator_confusions(data, model)
    prior = getattr(model, "class_prior_", None)
    k = data.n_classes
    prior = np.full(k, 1.0 / k) if prior is None else np.asarray(prior, dtype=float)
    return np.einsum("ikk->ik", confusion) @ prior


def accuracy_interval(
    accuracy: np.ndarray, n_labels: np.ndarray, level: float = 0.9
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``accuracy * n`` successes in ``n`` labels, two arrays of shape
    (n_workers,): closed form, inside [0, 1], and sensible for small ``n`` and accuracies near 0 or 1.

    NaN for annotators with no labels.
    """
    from statistics import NormalDist

    if not 0 < level < 1:
        raise EmcrowdError(f"level must be between 0 and 1, got {level!r}")
    n = np.asarray(n_labels, dtype=float)
    a = np.clip(np.asarray(accuracy, dtype=float), 0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        shrink = 1.0 + z * z / n
        centre = (a + z * z / (2.0 * n)) / shrink
        half = z / shrink * np.sqrt(a * (1.0 - a) / n + z * z / (4.0 * n * n))
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def gold_accuracy(data: Labels, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each annotator's share of correct labels on gold items, and how many gold items they labelled.

    Parameters
    ----------
    data : Labels
    gold : array-like of int, shape (n_items,)
        Gold class codes, ``-1`` where unknown.

    Returns
    -------
    accuracy : ndarray of shape (n_workers,)
        The share of the annotator's labels on gold items that name the gold class (a repeated label
        of one item counts again); NaN for annotators who labelled no gold item.
    n_gold : ndarray of int, shape (n_workers,)
        Distinct gold items the annotator labelled.
    """
    gold = np.asarray(gold)
    if gold.shape != (data.n_items,) or gold.dtype.kind not in "iu":
        raise EmcrowdError(f"gold must be {data.n_items} integer class codes (-1 = unknown)")
    truth = gold[data.item]
    known = truth >= 0
    worker = data.worker[known]
    n_gold_labels = np.bincount(worker, minlength=data.n_workers)
    right = np.bincount(worker, weights=truth[known] == data.label[known], minlength=data.n_workers)
    accuracy = np.full(data.n_workers, np.nan)
    np.divide(right, n_gold_labels, out=accuracy, where=n_gold_labels > 0)
    pairs = np.unique(worker.astype(np.int64) * data.n_items + data.item[known])
    n_gold = np.bincount(pairs // data.n_items, minlength=data.n_workers)
    return accuracy, n_gold


#: The largest (n_workers, K, K) array :func:`answer_counts` builds.
MAX_ANSWER_CELLS = 1 << 26


def answer_counts(data: Labels, labels: np.ndarray) -> np.ndarray | None:
    """How often each annotator said each class on items aggregated to each class, shape
    (n_workers, K, K) (``[i, aggregated, said]``), in one pass over the labels; None when that array
    would be too large (more than :data:`MAX_ANSWER_CELLS` cells)."""
    k = data.n_classes
    if data.n_workers * k * k > MAX_ANSWER_CELLS:
        return None
    labels = np.asarray(labels, dtype=np.intp)
    counts = np.zeros(data.n_workers * k * k, dtype=np.int64)
    # A million labels at a time: small temporaries that the allocator reuses, where whole-input
    # ones (80 MB each at 10M labels) were fresh pages every time (0.4 s instead of 0.1 s).
    for start in range(0, data.n_labels, _CHUNK):
        rows = slice(start, start + _CHUNK)
        code = data.worker[rows].astype(np.intp) * (k * k)
        code += labels[data.item[rows]] * k
        code += data.label[rows]
        counts += np.bincount(code, minlength=counts.size)
    return counts.reshape(data.n_workers, k, k)


#: Labels per step of :func:`answer_counts`.
_CHUNK = 1 << 20


def constant_answerers(data: Labels, labels: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """Annotators who gave one class only, to items whose aggregated ``labels`` span several classes,
    shape (n_workers,), bool. ``counts`` is :func:`answer_counts` when already computed."""
    k = data.n_classes
    counts = answer_counts(data, labels) if counts is None else counts
    if counts is not None:
        n_said = (counts.sum(axis=1) > 0).sum(axis=1)
        n_truth = (counts.sum(axis=2) > 0).sum(axis=1)
        return (n_said == 1) & (n_truth >= 2)
    said = np.bincount(data.worker.astype(np.intp) * k + data.label, minlength=data.n_workers * k)
    truth = np.bincount(data.worker.astype(np.intp) * k + labels[data.item], minlength=data.n_workers * k)
    n_said = (said.reshape(data.n_workers, k) > 0).sum(axis=1)
    n_truth = (truth.reshape(data.n_workers, k) > 0).sum(axis=1)
    return (n_said == 1) & (n_truth >= 2)


def annotator_quality(
    data: Labels,
    model: Any,
    *,
    gold: np.ndarray | None = None,
    min_labels: int = DEFAULT_MIN_LABELS,
    spammer_threshold: float = DEFAULT_SPAMMER_THRESHOLD,
    level: float = 0.9,
    counts: np.ndarray | None = None,
) -> dict[str, Any]:
    """One row per annotator: estimated accuracy, its interval, gold accuracy, spammer score, flags.

    Parameters
    ----------
    data : Labels
        The labels the model was fitted to.
    model : EMAggregator
        A fitted GLAD, Dawid-Skene or one-coin model (anything with ``confusion_``, ``alpha_`` and
        ``beta_``, or ``accuracy_``; and ``labels_``).
    gold : array-like of int, shape (n_items,), optional
        Gold class codes, ``-1`` where unknown.
    min_labels : int
        Annotators with fewer labels are flagged ``sparse`` and get no other flag.
    spammer_threshold : float
        A spammer score below this flags ``spammer``.
    level : float
        Coverage of the accuracy interval.
    counts : ndarray of shape (n_workers, K, K), optional
        :func:`answer_counts` of the model's labels, when already computed.

    Returns
    -------
    dict of columns, each of length n_workers
        ``worker`` (names), ``n_labels``, ``accuracy``, ``accuracy_low``, ``accuracy_high``,
        ``gold_accuracy`` (NaN without gold, or with no gold item labelled) and ``n_gold``,
        ``spammer_score``, the boolean flags ``sparse``, ``constant``, ``below_chance``, ``spammer``,
        and ``flags``: the raised flags joined by ``;`` (empty when none).
    """
    if int(min_labels) != min_labels or min_labels < 1:
        raise EmcrowdError(f"min_labels must be a positive integer, got {min_labels!r}")
    if not (np.isfinite(spammer_threshold) and 0 <= spammer_threshold <= 1):
        raise EmcrowdError(f"spammer_threshold must be between 0 and 1, got {spammer_threshold!r}")
    confusion = annotator_confusions(data, model)
    accuracy = estimated_accuracy(data, model, confusion)
    n_labels = data.labels_per_worker()
    low, high = accuracy_interval(accuracy, n_labels, level)
    score = spammer_scores(confusion)
    if gold is None:
        gold_acc, n_gold = np.full(data.n_workers, np.nan), np.zeros(data.n_workers, dtype=np.int64)
    else:
        gold_acc, n_gold = gold_accuracy(data, gold)
    judged = n_labels >= min_labels
    flags = {
        "sparse": ~judged,
        "constant": judged & constant_answerers(data, np.asarray(model.labels_), counts),
        "below_chance": judged & (accuracy < 1.0 / data.n_classes),
        "spammer": judged & (score < spammer_threshold),
    }
    names = np.array(list(flags), dtype=object)
    raised = np.column_stack(list(flags.values()))
    return {
        "worker": data.worker_names,
        "n_labels": n_labels,
        "accuracy": accuracy,
        "accuracy_low": low,
        "accuracy_high": high,
        "gold_accuracy": gold_acc,
        "n_gold": n_gold,
        "spammer_score": score,
        **flags,
        "flags": np.array([";".join(names[row]) for row in raised], dtype=object),
    }


def flagged(quality: dict[str, Any]) -> np.ndarray:
    """Annotators with any of :data:`REVIEW_FLAGS` in an :func:`annotator_quality` table, (n_workers,)."""
    out = np.zeros(len(quality["worker"]), dtype=bool)
    for name in REVIEW_FLAGS:
        out |= np.asarray(quality[name], dtype=bool)
    return out


def workers_to_review(quality: dict[str, Any]) -> list[dict[str, Any]]:
    """The flagged annotators of an :func:`annotator_quality` table, most suspicious first.

    Returns
    -------
    list of dict
        One per flagged annotator, ordered by spammer score (lowest first), then by estimated accuracy:
        ``worker``, ``n_labels``, ``accuracy``, ``spammer_score``, ``flags``.
    """
    rows = np.flatnonzero(flagged(quality))
    order = np.lexsort((quality["accuracy"][rows], quality["spammer_score"][rows]))
    return [
        {
            "worker": quality["worker"][i],
            "n_labels": int(quality["n_labels"][i]),
            "accuracy": float(quality["accuracy"][i]),
            "spammer_score": float(quality["spammer_score"][i]),
            "flags": quality["flags"][i],
        }
        for i in rows[order]
    ]


def calibration_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> dict[str, list]:
    """A reliability diagram's numbers: the scored items binned by the confidence of their answer.

    Parameters
    ----------
    confidence : array-like of shape (n,)
        The posterior of each item's chosen class, in [0, 1].
    correct : array-like of bool, shape (n,)
        Whether the chosen class is the gold one.
    n_bins : int
        Equal-width bins over [0, 1] (the last one closed).

    Returns
    -------
    dict of lists, JSON-ready
        ``edges`` (n_bins + 1), and per bin ``count``, ``confidence`` (mean confidence) and
        ``accuracy`` (share correct), the last two None for empty bins; ``ece``: the expected
        calibration error, ``sum_b count_b / n * |accuracy_b - confidence_b|``.
    """
    confidence = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    correct = np.asarray(correct, dtype=bool)
    if confidence.shape != correct.shape or confidence.ndim != 1:
        raise EmcrowdError("confidence and correct must be two arrays of the same length")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.minimum((confidence * n_bins).astype(np.intp), n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    conf_sum = np.bincount(which, weights=confidence, minlength=n_bins)
    right = np.bincount(which, weights=correct, minlength=n_bins)
    filled = count > 0
    mean_conf = np.divide(conf_sum, count, out=np.zeros(n_bins), where=filled)
    acc = np.divide(right, count, out=np.zeros(n_bins), where=filled)
    ece = float(np.sum(count * np.abs(acc - mean_conf)) / max(count.sum(), 1))
    return {
        "edges": edges.tolist(),
        "count": count.tolist(),
        "confidence": [float(c) if f else None for c, f in zip(mean_conf, filled, strict=True)],
        "accuracy": [float(a) if f else None for a, f in zip(acc, filled, strict=True)],
        "ece": ece,
    }


def without_workers(data: Labels, drop: np.ndarray) -> Labels:
    """``data`` without the annotators marked in ``drop`` (bool, shape (n_workers,)) and their labels.

    Every item stays (an item whose labels were all dropped keeps its row, unlabelled); the remaining
    annotators keep their order and are renumbered.
    """
    drop = np.asarray(drop, dtype=bool)
    if drop.shape != (data.n_workers,):
        raise EmcrowdError(f"drop must be {data.n_workers} booleans, one per annotator")
    keep = ~drop
    code = np.cumsum(keep) - 1  # new code of every kept annotator
    rows = keep[data.worker]
    return Labels(
        item=data.item[rows],
        worker=code[data.worker[rows]],
        label=data.label[rows],
        item_names=data.item_names,
        worker_names=tuple(name for name, k in zip(data.worker_names, keep, strict=True) if k),
        class_names=data.class_names,
        ordered=data.ordered,
    )
