"""Score aggregation methods against gold labels; returns a plain metrics dict (JSON-ready).

Metrics, on the items that have a truth label (and crowd labels, and are not given as ``gold``):

* ``accuracy`` with a 95% bootstrap interval ``accuracy_ci``. Resampling the scored items with
  replacement makes the number right a binomial draw, so the bootstrap is drawn exactly (and cheaply)
  from ``Binomial(n, accuracy)``; the paired difference of two methods likewise from a multinomial
  over (both right, only one right, only the other, neither).
* ``macro_f1``: the mean over classes of F1, over the classes present in the truth or the predictions.
* ``brier``: mean squared distance between the posterior and the one-hot truth (0 is perfect, 2 worst).
* ``log_loss``: mean ``-log`` posterior of the true class (clipped at 1e-15); both measure calibration.
* with ordered grades (``--ordinal``): ``mae`` (mean absolute error in grades, with ``mae_ci``) and
  ``within_one`` (share of items at most one grade off), from :func:`grade_errors`.

Each EM method against majority vote (``vs_majority``): the accuracy gain, its 95% interval and
whether that excludes zero (``significant``). Only the discordant items (one method right, the other
wrong) carry information about the difference; when fewer than :data:`EXACT_BELOW` of them, the
bootstrap is too coarse to trust and the interval and the verdict come from McNemar's exact test
(the split of the discordant items as a binomial draw, Clopper-Pearson's interval for its share),
with its p-value. Below :data:`MIN_GOLD_ITEMS` scored gold items nothing is claimed at all
(``significant`` is None).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from emcrowd.analysis.aggregate import Aggregation, aggregate, auto_aggregate, labels_and_gold
from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.io.frames import truth_codes
from emcrowd.models import METHODS, method_name, model_options
from emcrowd.models._base import IterationCallback

#: Bootstrap draws for the intervals.
N_BOOTSTRAP = 10_000
LOG_LOSS_FLOOR = 1e-15
#: Fewer discordant items than this: the difference of two methods is tested exactly (McNemar).
EXACT_BELOW = 25
#: Fewer scored gold items than this: no claim that one method is better than another.
MIN_GOLD_ITEMS = 30


class NoGoldError(EmcrowdError):
    """The truth gives no gold label for any item that has crowd labels."""


# -- metrics --------------------------------------------------------------------------------------------
def accuracy_interval(correct: np.ndarray, rng: np.random.Generator, level: float = 0.95) -> list[float]:
    """Percentile bootstrap interval of the mean of a boolean vector."""
    n = correct.size
    draws = rng.binomial(n, correct.mean(), size=N_BOOTSTRAP) / n
    tail = 100 * (1 - level) / 2
    return [float(v) for v in np.percentile(draws, [tail, 100 - tail])]


def difference_interval(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, level: float = 0.95
) -> list[float]:
    """Percentile bootstrap interval of ``mean(a) - mean(b)`` for paired boolean vectors."""
    n = a.size
    cells = np.array([(a & b).sum(), (a & ~b).sum(), (~a & b).sum(), (~a & ~b).sum()]) / n
    draws = rng.multinomial(n, cells, size=N_BOOTSTRAP)
    diff = (draws[:, 1] - draws[:, 2]) / n
    tail = 100 * (1 - level) / 2
    return [float(v) for v in np.percentile(diff, [tail, 100 - tail])]


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """``P(X <= k)`` for ``X ~ Binomial(n, p)``, summed exactly (n is small here)."""
    from math import comb

    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return float(sum(comb(n, i) * p**i * (1.0 - p) ** (n - i) for i in range(k + 1)))


def mcnemar_exact(fixed: int, broken: int) -> float:
    """Two-sided p-value of McNemar's exact test: under "no difference" each of the ``fixed + broken``
    discordant items goes either way with probability 1/2; twice the smaller tail, at most 1."""
    n = fixed + broken
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * _binomial_cdf(min(fixed, broken), n, 0.5))


def _clopper_pearson(k: int, n: int, level: float) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a binomial share ``k / n``, found by bisection."""
    tail = (1.0 - level) / 2

    def solve(f: Callable[[float], float]) -> float:  # f increasing in p, root in [0, 1]
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return 0.5 * (lo + hi)

    low = 0.0 if k == 0 else solve(lambda p: (1.0 - _binomial_cdf(k - 1, n, p)) - tail)
    high = 1.0 if k == n else solve(lambda p: tail - _binomial_cdf(k, n, p))
    return low, high


def exact_difference_interval(fixed: int, broken: int, n: int, level: float = 0.95) -> list[float]:
    """Interval of a paired accuracy difference from its discordant items alone (conditional on their
    number ``d``): the difference is ``(2 s - 1) d / n`` with ``s`` the share of them that the first
    method gets right, and ``s`` gets Clopper-Pearson's exact interval. It excludes zero exactly
    when :func:`mcnemar_exact` is below ``1 - level``."""
    d = fixed + broken
    if d == 0:
        return [0.0, 0.0]
    low, high = _clopper_pearson(fixed, d, level)
    return [(2 * low - 1) * d / n, (2 * high - 1) * d / n]


def paired_comparison(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """Method ``a`` against method ``b`` (boolean vectors: right on each scored item): the accuracy
    gain, its interval, the test that made it and whether it excludes zero (see the module notes)."""
    n = a.size
    fixed, broken = int((a & ~b).sum()), int((~a & b).sum())
    out: dict[str, Any] = {"accuracy_gain": float(a.mean() - b.mean()), "fixed": fixed, "broken": broken}
    if fixed + broken < EXACT_BELOW:
        ci = exact_difference_interval(fixed, broken, n)
        out.update(gain_ci=ci, test="exact McNemar", p_value=mcnemar_exact(fixed, broken))
    else:
        ci = difference_interval(a, b, rng)
        out.update(gain_ci=ci, test="bootstrap")
    out["significant"] = bool(ci[0] > 0 or ci[1] < 0) if n >= MIN_GOLD_ITEMS else None
    return out


def macro_f1(pred: np.ndarray, truth: np.ndarray) -> float:
    """Unweighted mean of the per-class F1 over the classes seen in ``truth`` or ``pred``."""
    scores = []
    for c in np.union1d(np.unique(truth), np.unique(pred)):
        tp = np.sum((pred == c) & (truth == c))
        fp = np.sum((pred == c) & (truth != c))
        fn = np.sum((pred != c) & (truth == c))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def brier(posteriors: np.ndarray, truth: np.ndarray) -> float:
    """Mean over items of ``sum_k (p_k - [k == truth])^2``."""
    err = posteriors.copy()
    err[np.arange(truth.size), truth] -= 1.0
    return float(np.mean(np.sum(err * err, axis=1)))


def log_loss(posteriors: np.ndarray, truth: np.ndarray) -> float:
    """Mean over items of ``-log p_truth``, with ``p`` clipped at 1e-15."""
    p = posteriors[np.arange(truth.size), truth]
    return float(np.mean(-np.log(np.maximum(p, LOG_LOSS_FLOOR))))


def grade_errors(pred: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """For ordered grades (codes in grade order): ``mae``, the mean absolute error in grades, with its
    95% bootstrap interval ``mae_ci`` (items resampled), and ``within_one``, the share of items at
    most one grade off."""
    gap = np.abs(pred.astype(np.int64) - truth.astype(np.int64))
    # resampling the items draws the number of items at each gap from a multinomial (as accuracy's
    # bootstrap draws the number right from a binomial)
    sizes = np.bincount(gap)
    draws = rng.multinomial(gap.size, sizes / gap.size, size=N_BOOTSTRAP)
    means = draws @ np.arange(sizes.size) / gap.size
    return {
        "mae": float(gap.mean()),
        "mae_ci": [float(v) for v in np.percentile(means, [2.5, 97.5])],
        "within_one": float((gap <= 1).mean()),
    }


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts with the truth in rows and the prediction in columns, shape (K, K)."""
    return np.bincount(truth * n_classes + pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


# -- the comparison -------------------------------------------------------------------------------------
def compare(
    data: Any,
    truth: Any,
    *,
    methods: Sequence[str] = METHODS,
    gold: Any = None,
    options: dict[str, Any] | None = None,
    ties: str = "lowest",
    seed: int = 0,
    disagreements: int = 0,
    callback: IterationCallback | None = None,
    on_method: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run several methods on ``data`` and score each on the items that have a gold label.

    Parameters
    ----------
    data : Labels, DataFrame or pyarrow.Table
        The labels; a table of one row per label (pandas, polars, pyarrow) or a numeric matrix is read
        as the models read it.
    truth
        The true labels, **by item id**: a pandas Series indexed by item, a mapping ``{item: label}``
        or a table with an item and a label column, in the user's class values (the order does not
        matter; ids that are not among the items are an error). Or one value per item **in the order
        of the items** (``data.item_names``): a NumPy array of class codes, ``-1`` where unknown (what
        :func:`emcrowd.io.read_truth` returns), or of class values (NaN where unknown). See
        :func:`emcrowd.io.frames.truth_codes`.
    methods : sequence of str
        Method names (see :data:`emcrowd.analysis.aggregate.METHODS`); ``majority`` is always run too, as the
        baseline of the comparison.
    gold : optional
        Labels given to the EM methods as known (clamped), in any form ``truth`` takes. Those items
        are never scored: only items with a truth label that are not in ``gold`` count.
    options : dict, optional
        Model options; each method takes those its model accepts (see :func:`model_options`).
    ties : {"lowest", "random"}
        Majority vote's tie rule.
    seed : int
        Seed of the bootstrap (and of random tie-breaking and restarts unless ``options`` has its own
        ``random_state``); the same seed gives the same intervals.
    disagreements : int
        List up to this many scored items where GLAD (or the first EM method) and majority vote differ.
    on_method : callable, optional
        Called with each method's name just before it runs (for progress displays).

    Returns
    -------
    dict
        ``{"n_items", "n_labels", "n_workers", "n_classes", "classes", "n_gold", "n_gold_unlabeled",
        "n_gold_given", "methods": {name: {"accuracy", "accuracy_ci", "macro_f1", "brier",
        "log_loss", "correct", "total", "confusion", "calibration"
        (:func:`emcrowd.analysis.quality.calibration_bins`),
        "fit_seconds", "n_iter", ...}}, "agreement" (:func:`emcrowd.analysis.agreement.agreement_summary`),
        "best",
        "vs_majority": {name: {"accuracy_gain", "gain_ci", "significant" (None: too few gold items to
        claim anything), "test", "p_value" (exact test only), "fixed", "broken"}},
        "disagreements": [...]}``. Items with a gold label but no crowd labels are not scored (every
        method could only guess) and are counted in ``n_gold_unlabeled``.
    """
    from emcrowd.analysis.agreement import labels_agreement
    from emcrowd.analysis.quality import calibration_bins

    data, gold = labels_and_gold(data, gold)
    truth = truth_codes(truth, data, name="truth")
    names = list(dict.fromkeys(["majority", *(method_name(m) for m in methods)]))
    has_truth = truth >= 0
    labelled = data.labels_per_item() > 0
    given = np.zeros(data.n_items, dtype=bool) if gold is None else np.asarray(gold) >= 0
    scored = has_truth & labelled & ~given
    n_scored = int(scored.sum())
    if n_scored == 0:
        extra = " outside the --gold items" if given.any() else ""
        raise NoGoldError(f"no item has both a gold label and a crowd label{extra}; nothing to score")

    options = {"random_state": seed, **(options or {})}
    from emcrowd import budget

    budget.check_fit(data, names, options)  # every method before the first fit
    results: dict[str, Aggregation] = {}
    for name in names:
        if on_method is not None:
            on_method(name)
        if name == "auto":
            results[name] = auto_aggregate(
                data, gold=gold, ties=ties, callback=callback, options=options, done=results
            )
            continue
        results[name] = aggregate(
            data,
            name,
            gold=None if name == "majority" else gold,
            ties=ties,
            callback=None if name == "majority" else callback,
            **model_options(name, options),
        )

    y = truth[scored]
    rng = np.random.default_rng(seed)
    right = {name: r.labels[scored] == y for name, r in results.items()}
    entries: dict[str, dict[str, Any]] = {}
    for name, r in results.items():
        post = r.posteriors[scored]
        entry: dict[str, Any] = {
            "accuracy": float(right[name].mean()),
            "accuracy_ci": accuracy_interval(right[name], rng),
            "macro_f1": macro_f1(r.labels[scored], y),
            "brier": brier(post, y),
            "log_loss": log_loss(post, y),
            "correct": int(right[name].sum()),
            "total": n_scored,
            "confusion": confusion_matrix(y, r.labels[scored], data.n_classes).tolist(),
            "calibration": calibration_bins(post[np.arange(n_scored), r.labels[scored]], right[name]),
            "fit_seconds": r.fit_seconds,
            "options": r.options,
        }
        if data.ordered:
            entry.update(grade_errors(r.labels[scored], y, rng))
        if name == "majority":
            entry["n_ties"] = r.majority.n_ties
            entry["n_ties_gold"] = int((r.majority.tied & scored).sum())
        else:  # (auto may have chosen majority vote: no iterations then)
            entry.update(
                n_iter=r.n_iter, converged=r.converged, objective=r.history[-1] if r.history else None
            )
        if r.selection is not None:
            entry["chosen"] = r.selection.chosen
            entry["selection"] = r.selection.to_dict()
        if r.warnings:
            entry["warnings"] = r.warnings
        entries[name] = entry

    em = [n for n in names if n != "majority"]
    report: dict[str, Any] = {
        "n_items": data.n_items,
        "n_workers": data.n_workers,
        "n_labels": data.n_labels,
        "n_classes": data.n_classes,
        "classes": list(data.class_names),
        "ordered": data.ordered,
        "n_gold": n_scored,
        "n_gold_unlabeled": int((has_truth & ~labelled & ~given).sum()),
        "n_gold_given": int(given.sum()),
        "min_gold_items": MIN_GOLD_ITEMS,
        "seed": seed,
        "agreement": labels_agreement(data),
        "methods": entries,
        "best": max(entries, key=lambda m: (entries[m]["accuracy"], m != "majority")),
        "best_em": max(em, key=lambda m: entries[m]["accuracy"]) if em else None,
        "vs_majority": {},
        "disagreements": [],
    }
    for name in em:
        report["vs_majority"][name] = paired_comparison(right[name], right["majority"], rng)
    if disagreements > 0 and em:
        other = "glad" if "glad" in em else em[0]
        report["disagreements"] = _disagreements(
            data, truth, scored, results[other], results["majority"], disagreements
        )
    return report


def _disagreements(
    data: Labels, truth: np.ndarray, scored: np.ndarray, em: Aggregation, mv: Aggregation, limit: int
) -> list[dict[str, Any]]:
    names = data.class_names
    rows = []
    for j in np.flatnonzero(scored & (em.labels != mv.labels))[:limit]:
        em_right, mv_right = em.labels[j] == truth[j], mv.labels[j] == truth[j]
        rows.append(
            {
                "item": data.item_names[j],
                "truth": names[truth[j]],
                em.method: names[em.labels[j]],
                f"{em.method}_confidence": float(em.posteriors[j, em.labels[j]]),
                "majority": names[mv.labels[j]],
                "majority_tie": bool(mv.majority.tied[j]),
                "right": em.method if em_right else "majority" if mv_right else "neither",
            }
        )
    return rows
