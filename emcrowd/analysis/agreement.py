"""How much the annotators agree with each other, before any model: chance-corrected agreement.

Every statistic here is a closed form of the items x classes vote counts
(:func:`emcrowd.models.classification.majority.
vote_counts`), so it costs a few passes over an ``(n_items, n_classes)`` array, whatever the number of
annotators, and repeated labels of one annotator on one item simply count as more votes.

Which items count
-----------------
Agreement is measured between pairs of labels of the same item. An item with fewer than two labels has
no such pair: it is **not pairable** and is left out of every statistic here (as Krippendorff does, and
as the ``krippendorff`` package does), except where a statistic's own definition uses it — Gwet's class
shares ``pi`` average over every item with at least one label. :func:`agreement_summary` reports how
many items and labels were left out.

The statistics (``m_j`` labels on item ``j``, ``n_jk`` of them for class ``k``, ``K`` classes)
---------------------------------------------------------------------------------------------------------
* per-item agreement ``P_j = sum_k n_jk (n_jk - 1) / (m_j (m_j - 1))``: the share of ordered pairs of
  the item's labels that agree; the **percent agreement** ``P_o`` is its mean over pairable items.
* **Fleiss' kappa** ``(P_o - P_e) / (1 - P_e)`` with ``P_e = sum_k p_k^2`` (``p_k`` the share of all
  labels on class ``k``). Defined only when every labelled item has the same number of labels.
* **Randolph's free-marginal kappa**: ``P_e = 1 / K`` (every class equally likely by chance).
* **Gwet's AC1**: ``P_e = sum_k pi_k (1 - pi_k) / (K - 1)``, ``pi_k`` the mean over labelled items of
  ``n_jk / m_j``; stays sensible when one class dominates, where kappa collapses.
* **Krippendorff's alpha** ``1 - D_o / D_e`` from the coincidence matrix
  ``o_ck = sum_j (n_jc n_jk - [c = k] n_jc) / (m_j - 1)``, with the nominal, ordinal (classes ordered
  by code) or interval (distances between class values) metric.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError

LEVELS = ("nominal", "ordinal", "interval")


def _counts(votes: Labels | np.ndarray) -> np.ndarray:
    """The (n_items, K) vote counts of ``votes`` (a Labels or already counts), as floats."""
    if isinstance(votes, Labels):
        from emcrowd.models.classification.majority import vote_counts

        votes = vote_counts(votes)
    counts = np.asarray(votes)
    if counts.ndim != 2 or counts.shape[1] < 2:
        raise EmcrowdError(f"vote counts must have shape (n_items, n_classes >= 2), got {counts.shape}")
    if counts.size and (counts.min() < 0 or not np.all(np.isfinite(counts))):
        raise EmcrowdError("vote counts must be finite and non-negative")
    return counts.astype(float, copy=False)


def _row_sums(counts: np.ndarray) -> np.ndarray:
    """``counts.sum(axis=1)``, a column at a time (NumPy's reduction along a short last axis is slow)."""
    total = counts[:, 0].copy()
    for k in range(1, counts.shape[1]):
        total += counts[:, k]
    return total


def _agreeing_pairs(counts: np.ndarray) -> np.ndarray:
    """``sum_k n_jk (n_jk - 1)``: ordered pairs of one item's labels that name the same class."""
    out = np.zeros(counts.shape[0])
    for k in range(counts.shape[1]):
        col = counts[:, k]
        out += col * (col - 1.0)
    return out


def item_agreement(votes: Labels | np.ndarray) -> np.ndarray:
    """Share of pairs of each item's labels that agree, shape (n_items,); NaN where not pairable.

    Parameters
    ----------
    votes : Labels or array-like of shape (n_items, n_classes)
        The labels, or their vote counts.

    Returns
    -------
    ndarray of shape (n_items,)
        ``P_j = sum_k n_jk (n_jk - 1) / (m_j (m_j - 1))`` in [0, 1]: 1 when all labels agree, lowest for
        an even split. NaN for items with fewer than two labels.
    """
    counts = _counts(votes)
    m = _row_sums(counts)
    out = np.full(counts.shape[0], np.nan)
    pairable = m >= 2
    pairs = m * (m - 1.0)
    np.divide(_agreeing_pairs(counts), pairs, out=out, where=pairable)
    return out


def percent_agreement(votes: Labels | np.ndarray) -> float:
    """Mean of :func:`item_agreement` over the pairable items (NaN when none is pairable)."""
    return _mean_agreement(item_agreement(votes))


def _mean_agreement(per_item: np.ndarray) -> float:
    pairable = ~np.isnan(per_item)
    return float(per_item[pairable].mean()) if pairable.any() else float("nan")


def _kappa(observed: float, chance: float) -> float:
    if not np.isfinite(observed) or chance >= 1.0:
        return float("nan")  # a single class, or nothing pairable: chance agreement is total
    return (observed - chance) / (1.0 - chance)


def fleiss_kappa(votes: Labels | np.ndarray) -> float:
    """Fleiss' kappa; every labelled item must have the same number (at least 2) of labels.

    Items with no labels are ignored. Raises :class:`EmcrowdError` when the labelled items have different
    numbers of labels, where the statistic is not defined (use :func:`randolph_kappa`, :func:`gwet_ac1` or
    :func:`krippendorff_alpha` instead); NaN when all labels name one class.
    """
    counts = _counts(votes)
    return _fleiss(counts, _row_sums(counts), None)


def _fleiss(counts: np.ndarray, m: np.ndarray, observed: float | None) -> float:
    """Fleiss' kappa from the counts, their row sums and (when known) the percent agreement."""
    labelled = m > 0
    if not labelled.any():
        raise EmcrowdError("Fleiss' kappa needs labelled items; there are none")
    low, high = m[labelled].min(), m[labelled].max()
    if low != high:
        raise EmcrowdError(
            f"Fleiss' kappa needs the same number of labels on every item (found {low:g} to {high:g}); "
            "use Randolph's kappa, Gwet's AC1 or Krippendorff's alpha"
        )
    if low < 2:
        raise EmcrowdError("Fleiss' kappa needs at least two labels per item")
    shares = counts.sum(axis=0) / m.sum()
    observed = percent_agreement(counts) if observed is None else observed
    return _kappa(observed, float(np.sum(shares**2)))


def randolph_kappa(votes: Labels | np.ndarray) -> float:
    """Randolph's free-marginal multirater kappa: chance agreement ``1 / n_classes``.

    Uses :func:`percent_agreement`, so any number of labels per item is allowed. ``n_classes`` is the
    number of columns of the counts (every declared class, used or not).
    """
    counts = _counts(votes)
    return _kappa(percent_agreement(counts), 1.0 / counts.shape[1])


def gwet_ac1(votes: Labels | np.ndarray) -> float:
    """Gwet's AC1 (first-order agreement coefficient), for any number of labels per item.

    Chance agreement is ``sum_k pi_k (1 - pi_k) / (K - 1)``, where ``pi_k`` is the mean over items with
    at least one label of the share of the item's labels on class ``k``; observed agreement is
    :func:`percent_agreement` over the pairable items.
    """
    counts = _counts(votes)
    return _gwet(counts, _row_sums(counts), percent_agreement(counts))


def _gwet(counts: np.ndarray, m: np.ndarray, observed: float) -> float:
    labelled = m > 0
    if not labelled.any():
        return float("nan")
    safe = np.where(labelled, m, 1.0)  # unlabelled items have zero counts: they add nothing
    n_labelled = labelled.sum()
    pi = np.array([np.sum(counts[:, k] / safe) / n_labelled for k in range(counts.shape[1])])
    chance = float(np.sum(pi * (1.0 - pi)) / (counts.shape[1] - 1))
    return _kappa(observed, chance)


def coincidences(votes: Labels | np.ndarray) -> np.ndarray:
    """Krippendorff's coincidence matrix, shape (n_classes, n_classes).

    ``o[c, k] = sum_j (n_jc n_jk - [c = k] n_jc) / (m_j - 1)`` over the pairable items: the number of
    ordered pairs of labels of one item that say ``(c, k)``, each item weighted so that its labels count
    once in total (``o.sum()`` is the number of pairable labels).
    """
    counts = _counts(votes)
    m = _row_sums(counts)
    pairable = m >= 2
    weights = np.zeros_like(m)
    np.divide(1.0, m - 1.0, out=weights, where=pairable)
    weighted = counts * weights[:, None]
    out = weighted.T @ counts
    out[np.diag_indices_from(out)] -= weighted.sum(axis=0)
    return out


#: A value-distance metric of Krippendorff's alpha: the squared distances ``delta^2[c, k]`` between the
#: values (shape (K, K)) from the values' marginals in the coincidence matrix (shape (K,)).
Metric = Callable[[np.ndarray], np.ndarray]


def nominal_metric(marginals: np.ndarray) -> np.ndarray:
    """Nominal values: distance 1 between any two different values."""
    return 1.0 - np.eye(marginals.size)


def ordinal_metric(marginals: np.ndarray) -> np.ndarray:
    """Ordered values (in code order): ``delta(c, k)`` is the number of pairable values from ``c`` to
    ``k`` inclusive, minus half of the two ends' counts (Krippendorff's rank distance)."""
    k = marginals.size
    cum = np.concatenate([[0.0], np.cumsum(marginals)])
    lo = np.minimum.outer(np.arange(k), np.arange(k))
    hi = np.maximum.outer(np.arange(k), np.arange(k))
    between = cum[hi + 1] - cum[lo]
    return (between - (marginals[:, None] + marginals[None, :]) / 2.0) ** 2


def interval_metric(values: np.ndarray | None = None) -> Metric:
    """Values on an interval scale: squared differences of ``values`` (the codes ``0..K-1`` by default).
    Also the metric of numeric answers, with their distinct values as ``values``."""

    def metric(marginals: np.ndarray) -> np.ndarray:
        k = marginals.size
        v = np.arange(k, dtype=float) if values is None else np.asarray(values, dtype=float)
        if v.shape != (k,) or not np.all(np.isfinite(v)):
            raise EmcrowdError(f"interval alpha needs {k} finite class values, got {values!r}")
        return np.subtract.outer(v, v) ** 2

    return metric


def level_metric(level: str, values: np.ndarray | None = None) -> Metric:
    """The metric of a level of measurement: ``nominal``, ``ordinal`` or ``interval`` (with ``values``)."""
    if level not in LEVELS:
        raise EmcrowdError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    if level == "nominal":
        return nominal_metric
    if level == "ordinal":
        return ordinal_metric
    return interval_metric(values)


def _squared_distances(level: str, marginals: np.ndarray, values: np.ndarray | None) -> np.ndarray:
    """Krippendorff's ``delta^2[c, k]`` for a level of measurement, shape (K, K)."""
    return level_metric(level, values)(marginals)


def krippendorff_alpha(
    votes: Labels | np.ndarray,
    *,
    level: str = "nominal",
    values: np.ndarray | None = None,
    metric: Metric | None = None,
) -> float:
    """Krippendorff's alpha, ``1 - D_o / D_e``, over the pairable items.

    Parameters
    ----------
    votes : Labels or array-like of shape (n_items, n_classes)
        The labels, or their vote counts.
    level : {"nominal", "ordinal", "interval"}
        The metric: classes unordered; ordered by class code (ranks, distances from the marginals); or
        numbers ``values`` (the class codes by default), squared differences.
    values : array-like of shape (n_classes,), optional
        The class values for ``level="interval"``.
    metric : callable, optional
        A value-distance metric (:data:`Metric`) in place of ``level``'s.

    Returns
    -------
    float
        1 for perfect agreement, 0 for agreement at chance, negative below it. NaN when fewer than two
        classes occur among the pairable labels (no disagreement is possible).
    """
    if metric is not None:
        return alpha_from_coincidences(coincidences(votes), metric)
    return _alpha(coincidences(votes), level, values)


def weighted_kappa(data: Labels, *, weights: str = "quadratic", values: np.ndarray | None = None) -> float:
    """Cohen's weighted kappa between the two annotators of ``data``, over the items both labelled.

    Defined only for exactly two annotators (Cohen's kappa compares two raters, each with their own
    marginals); raises :class:`EmcrowdError` otherwise. Where an annotator labelled an item more than
    once, its first label counts. ``1 - sum(w * observed) / sum(w * expected)`` with the disagreement
    weights ``w[c, k] = |v_c - v_k|`` (``"linear"``) or ``(v_c - v_k)^2`` (``"quadratic"``), ``v`` the
    class ``values`` (the codes by default); NaN when the expected disagreement is 0.
    """
    if weights not in ("linear", "quadratic"):
        raise EmcrowdError(f"weights must be 'linear' or 'quadratic', got {weights!r}")
    if data.n_workers != 2:
        raise EmcrowdError(f"weighted kappa needs exactly two annotators, found {data.n_workers:,}")
    k = data.n_classes
    first = np.full((2, data.n_items), -1)
    order = np.arange(data.n_labels)[::-1]  # written last to first: the first label stays
    first[data.worker[order], data.item[order]] = data.label[order]
    both = (first[0] >= 0) & (first[1] >= 0)
    if not both.any():
        raise EmcrowdError("weighted kappa needs items labelled by both annotators; there are none")
    table = np.zeros((k, k))
    np.add.at(table, (first[0, both], first[1, both]), 1.0)
    table /= table.sum()
    v = np.arange(k, dtype=float) if values is None else np.asarray(values, dtype=float)
    gap = np.abs(np.subtract.outer(v, v))
    w = gap if weights == "linear" else gap**2
    expected = float(np.sum(w * np.outer(table.sum(axis=1), table.sum(axis=0))))
    if expected <= 0:
        return float("nan")
    return 1.0 - float(np.sum(w * table)) / expected


def _alpha(o: np.ndarray, level: str, values: np.ndarray | None) -> float:
    """Krippendorff's alpha from the coincidence matrix."""
    return alpha_from_coincidences(o, level_metric(level, values))


def alpha_from_coincidences(o: np.ndarray, metric: Metric) -> float:
    """Krippendorff's alpha ``1 - (n - 1) sum(o * delta^2) / (m @ delta^2 @ m)`` from a coincidence
    matrix ``o`` (:func:`coincidences`; ``m`` its marginals, ``n`` their sum) and a value-distance
    ``metric`` (:func:`nominal_metric`, :func:`ordinal_metric`, :func:`interval_metric`, or any
    function of the marginals giving squared distances). NaN when undefined."""
    marginals = o.sum(axis=1)
    n = marginals.sum()
    delta2 = metric(marginals)
    expected = float(marginals @ delta2 @ marginals)
    if n <= 1 or expected <= 0:
        return float("nan")
    return 1.0 - (n - 1.0) * float(np.sum(o * delta2)) / expected


def agreement_summary(
    votes: Labels | np.ndarray, *, ordered: bool = False, values: np.ndarray | None = None
) -> dict[str, Any]:
    """Every agreement statistic of the labels at once, JSON-ready.

    Parameters
    ----------
    votes : Labels or array-like of shape (n_items, n_classes)
        The labels, or their vote counts.
    ordered : bool
        The classes are ordered (by code): add the ordinal (and, with ``values``, interval) alpha.
    values : array-like of shape (n_classes,), optional
        Numeric class values for the interval alpha and the weighted kappa (only with ``ordered``;
        the codes ``0..K-1`` by default).

    Returns
    -------
    dict
        ``percent_agreement``, ``krippendorff_alpha`` (nominal), ``krippendorff_alpha_ordinal`` and
        ``krippendorff_alpha_interval`` (None unless ``ordered``), with ``ordered`` and a
        :class:`Labels` also ``weighted_kappa`` (``defined``; ``linear`` and ``quadratic`` Cohen's
        weighted kappa when there are exactly two annotators, else a ``note``), ``fleiss_kappa`` (None
        when not defined, with the reason in ``fleiss_kappa_note``), ``randolph_kappa``, ``gwet_ac1``,
        ``n_items``, ``n_items_pairable``, ``n_items_unpairable`` (fewer than two labels: left out),
        ``n_labels_pairable``. NaN values (undefined) are given as None.
    """

    def number(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    counts = _counts(votes)
    m = _row_sums(counts)
    pairable = m >= 2
    observed = _mean_agreement(item_agreement(counts))
    o = coincidences(counts)
    kappa_w = None
    if ordered and isinstance(votes, Labels):
        kappa_w = {"defined": False, "note": "needs exactly two annotators (Cohen's)"}
        if votes.n_workers == 2:
            try:
                kappa_w = {
                    "defined": True,
                    "linear": number(weighted_kappa(votes, weights="linear", values=values)),
                    "quadratic": number(weighted_kappa(votes, weights="quadratic", values=values)),
                }
            except EmcrowdError as exc:
                kappa_w = {"defined": False, "note": str(exc)}

    try:
        fleiss, note = number(_fleiss(counts, m, observed)), None
    except EmcrowdError as exc:
        fleiss, note = None, str(exc)
    return {
        "percent_agreement": number(observed),
        "krippendorff_alpha": number(_alpha(o, "nominal", None)),
        "krippendorff_alpha_ordinal": number(_alpha(o, "ordinal", None)) if ordered else None,
        "krippendorff_alpha_interval": number(_alpha(o, "interval", values)) if ordered else None,
        "fleiss_kappa": fleiss,
        "fleiss_kappa_note": note,
        "randolph_kappa": number(_kappa(observed, 1.0 / counts.shape[1])),
        "gwet_ac1": number(_gwet(counts, m, observed)),
        **({} if kappa_w is None else {"weighted_kappa": kappa_w}),
        "n_items": int(counts.shape[0]),
        "n_items_pairable": int(pairable.sum()),
        "n_items_unpairable": int((~pairable).sum()),
        "n_labels_pairable": int(m[pairable].sum()),
    }


def labels_agreement(data: Labels) -> dict[str, Any]:
    """:func:`agreement_summary` of labels as read: with ordered grades (``data.ordered``) also the
    ordinal and interval alpha (the grades' values: their numbers, else their ranks) and the weighted
    kappa."""
    from emcrowd.io.ordinal import grade_values

    if not data.ordered:
        return agreement_summary(data)
    return agreement_summary(data, ordered=True, values=grade_values(data))


def agreement_line(summary: dict[str, Any]) -> str:
    """One line for the terminal from :func:`agreement_summary`: alpha, percent agreement, the kappa
    that is defined, and how many items were left out."""

    def show(x: float | None) -> str:
        return "undefined" if x is None else f"{x:.3f}"

    parts = [f"Krippendorff's alpha {show(summary['krippendorff_alpha'])}"]
    if summary.get("krippendorff_alpha_ordinal") is not None:
        parts = [
            f"Krippendorff's alpha ordinal {show(summary['krippendorff_alpha_ordinal'])}, interval "
            f"{show(summary['krippendorff_alpha_interval'])}, nominal {show(summary['krippendorff_alpha'])}"
        ]
    parts.append(f"percent agreement {show(summary['percent_agreement'])}")
    if summary.get("weighted_kappa", {}).get("defined"):
        parts.append(f"quadratic weighted kappa {show(summary['weighted_kappa']['quadratic'])}")
    if summary["fleiss_kappa"] is not None:
        parts.append(f"Fleiss' kappa {show(summary['fleiss_kappa'])}")
    parts.append(f"Gwet's AC1 {show(summary['gwet_ac1'])}")
    text = "Agreement: " + ", ".join(parts)
    if summary["n_items_unpairable"]:
        n = summary["n_items_unpairable"]
        text += f" ({n:,} item{'s' if n != 1 else ''} with fewer than two labels left out)"
    return text
