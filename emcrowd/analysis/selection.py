"""Choosing an aggregation method without gold: ``--method auto``.

No single model is best on every data set, and a user without gold cannot check which one to trust.
What every model can be asked, without gold, is how well it predicts labels it has not seen. So the
labels are split into folds; each candidate is fitted with one fold held out and scores the log
probability of every held-out label under :meth:`EMAggregator.label_proba` (the posterior of the
label's item, from the other labels, times the annotator's label distribution). The score of a
candidate is the mean over all held-out labels, in nats per label.

Predicting labels is not the same as finding the truth: a more flexible model (a full confusion matrix
per annotator, class subtypes) can win the label score by a margin that is only noise, and then pays
for its flexibility on the items. So the choice is not the top score but the **least flexible
candidate whose score is within one standard error of the top** (the "one standard error rule" of
cross-validation, Breiman et al. 1984), with the standard error of the score difference computed over
items, since the labels of one item are not independent. The candidates, from the least flexible:
``one_coin``, ``glad``, ``bayesian_ds``, ``dawid_skene``, ``ebcc`` (those that are installed).

Only labels whose annotator and item both have labels in the training folds are scored: a label of
an annotator the fit never saw measures the model's prior, not the model, and every candidate is
scored on the same labels.

On large data (more than ``max_labels`` labels) the criterion is computed on a random subset of the
items with about ``max_labels`` labels, with one of the five folds held out, and without the
candidates too slow to fit on all the data (:data:`SLOW_CANDIDATES`); the chosen method is then
fitted on all the data.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from emcrowd.data import Labels, name_ranks
from emcrowd.errors import EmcrowdError

#: Candidate methods of ``auto``, from the least to the most flexible (ties in the rule go to the
#: earlier one).
CANDIDATES = ("one_coin", "glad", "bayesian_ds", "dawid_skene", "ebcc")
#: Folds over the labels.
N_FOLDS = 5
#: Above this many labels, the criterion is computed on a random subset of the items.
MAX_LABELS = 200_000
#: Most EM iterations of a fold fit.
FOLD_MAX_ITER = 100
#: Candidates left out when the data have more than ``max_labels`` labels (the chosen model is then
#: fitted on all of them): EBCC, whose restarts and 10 latent rows per class make a fit of 10M labels
#: cost about three Dawid-Skene fits, more than ``auto``'s budget of eight for the whole choice.
SLOW_CANDIDATES = ("ebcc",)
#: Floor on a held-out label's probability: one impossible label must not decide the choice alone.
_MIN_PROBABILITY = 1e-12
#: Fewer scored items than this and the criterion says nothing: the least flexible candidate is used.
MIN_ITEMS = 10
# Separate random streams for the subset and the folds.
_SUBSET_STREAM, _FOLD_STREAM = 1, 2


@dataclass
class CandidateScore:
    """How well one method predicts held-out labels.

    Attributes
    ----------
    method : str
    score : float
        Mean log probability of a held-out label, in nats (higher is better).
    se : float
        Standard error of ``score - best score`` (0 for the best), over items.
    seconds : float
        Time spent fitting this candidate on the folds.
    """

    method: str
    score: float
    se: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        def finite(x: float) -> float | None:  # JSON has no NaN
            return x if np.isfinite(x) else None

        return {"score": finite(self.score), "se": finite(self.se), "fit_seconds": self.seconds}


@dataclass
class Selection:
    """The outcome of :func:`select_method`.

    Attributes
    ----------
    chosen : str
        The chosen method.
    best : str
        The method with the highest held-out score (``chosen`` unless a less flexible one is within
        one standard error of it).
    scores : dict of str to CandidateScore
        Every candidate's score, in candidate order.
    reason : str
        One sentence: why ``chosen``.
    n_folds : int
    n_labels : int
        Labels the criterion was computed on (all of them, or the subset's).
    n_items : int
        Items the criterion was computed on.
    seconds : float
    """

    chosen: str
    best: str
    scores: dict[str, CandidateScore]
    reason: str
    n_folds: int
    n_labels: int
    n_items: int
    seconds: float = 0.0
    n_folds_scored: int | None = None  # held out (all n_folds unless the data are large)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``summary.json`` and the ``compare`` report."""
        return {
            "chosen": self.chosen,
            "best": self.best,
            "reason": self.reason,
            "criterion": "held-out label log-likelihood per label (nats), one-standard-error rule",
            "scores": {m: s.to_dict() for m, s in self.scores.items()},
            "n_folds": self.n_folds,
            "n_folds_scored": self.n_folds if self.n_folds_scored is None else self.n_folds_scored,
            "n_labels": self.n_labels,
            "n_items": self.n_items,
            "fit_seconds": self.seconds,
        }


def available_candidates() -> tuple[str, ...]:
    """The candidates of ``auto`` that this installation has, in order of flexibility."""
    from emcrowd.models import MODELS

    return tuple(m for m in CANDIDATES if m in MODELS)


def _subset_items(data: Labels, max_labels: int, rng: np.random.Generator) -> tuple[Labels, np.ndarray]:
    """A random subset of the items with about ``max_labels`` labels (all of them if fewer), and which
    items it kept, shape (n_items,). Drawn over the item codes (ranking millions of names would cost
    seconds), so on data this large the subset, unlike the folds, follows the input's item order."""
    if data.n_labels <= max_labels:
        return data, np.ones(data.n_items, dtype=bool)
    order = rng.permutation(data.n_items)
    cumulative = np.cumsum(data.labels_per_item()[order])
    keep_items = np.zeros(data.n_items, dtype=bool)
    keep_items[order[: int(np.searchsorted(cumulative, max_labels)) + 1]] = True
    keep = keep_items[data.item]
    # Renumber the kept items so that every model sees a compact item range (kept items keep their
    # order, so gold codes map by the same mask).
    new_code = np.cumsum(keep_items) - 1
    names = [name for name, kept in zip(data.item_names, keep_items.tolist(), strict=True) if kept]
    subset = Labels(
        item=new_code[data.item[keep]],
        worker=data.worker[keep],
        label=data.label[keep],
        item_names=tuple(names),
        worker_names=data.worker_names,
        class_names=data.class_names,
    )
    return subset, keep_items


def _folds(data: Labels, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """The fold of every label, shape (n_labels,): a seeded draw over the labels in a canonical order
    (by item name, annotator name and class), the same for any order of the rows."""
    item_rank, worker_rank = data.item_name_ranks(), name_ranks(data.worker_names)
    canonical = np.lexsort((data.label, worker_rank[data.worker], item_rank[data.item]))
    fold = np.empty(data.n_labels, dtype=np.intp)
    fold[canonical] = rng.permutation(data.n_labels) % n_folds
    return fold


def _without(data: Labels, keep: np.ndarray) -> Labels:
    return Labels(
        item=data.item[keep],
        worker=data.worker[keep],
        label=data.label[keep],
        item_names=data.item_names,
        worker_names=data.worker_names,
        class_names=data.class_names,
    )


def held_out_log_likelihoods(
    data: Labels,
    methods: tuple[str, ...],
    *,
    n_folds: int = N_FOLDS,
    max_folds: int | None = None,
    options: dict[str, Any] | None = None,
    gold: np.ndarray | None = None,
    random_state: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Each method's log probability of every label when that label's fold was held out.

    Parameters
    ----------
    max_folds : int, optional
        Hold out only the first this many folds (a cheaper estimate); the other labels get NaN.

    Returns
    -------
    (dict of str to ndarray of shape (n_labels,), dict of str to float)
        The per-label held-out log probabilities, and each method's fitting seconds.
    """
    from emcrowd.models import MODELS, model_options

    if not 2 <= n_folds <= data.n_labels:
        raise EmcrowdError(f"n_folds must be between 2 and the number of labels, got {n_folds}")
    fold = _folds(data, n_folds, np.random.default_rng([random_state, _FOLD_STREAM]))
    out = {m: np.full(data.n_labels, np.nan) for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    # One start per fold fit: the folds compare models, not restarts (EBCC's several restarts would
    # multiply the cost); the chosen model's final fit has the restarts asked for.
    options = {"random_state": random_state, **(options or {}), "n_init": 1}
    # ... and at most FOLD_MAX_ITER iterations: the variational models creep on for hundreds of
    # iterations on sparse subsets, for changes that do not move the held-out score.
    options["max_iter"] = min(int(options.get("max_iter", FOLD_MAX_ITER)), FOLD_MAX_ITER)
    for f in range(n_folds if max_folds is None else min(max_folds, n_folds)):
        test = fold == f
        train = _without(data, ~test)
        # Score only labels whose annotator and item the fit has seen (the same labels for everyone).
        seen = (train.labels_per_worker()[data.worker] > 0) & (train.labels_per_item()[data.item] > 0)
        test &= seen
        if not test.any():
            continue
        item, worker, label = data.item[test], data.worker[test], data.label[test]
        for m in methods:
            start = time.perf_counter()
            model = MODELS[m](**model_options(m, options))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a fold's non-convergence is not the user's concern
                    model.fit(train, gold=gold)
                proba = model.label_proba(item, worker)[np.arange(label.size), label]
                out[m][test] = np.log(np.maximum(proba, _MIN_PROBABILITY))
            except EmcrowdError:  # a fit that fails (numerically, say) loses: it is never chosen
                out[m][test] = -np.inf
            seconds[m] += time.perf_counter() - start
    return out, seconds


def _clustered_variance(diff: np.ndarray, mean: float, clusters: np.ndarray, n_clusters: int) -> float:
    """``sum_c (S_c - n_c * mean)^2``: the cluster-robust sum of squares of a mean's residuals, with
    ``S_c`` the sum and ``n_c`` the count of cluster ``c``'s values."""
    sums = np.bincount(clusters, weights=diff, minlength=n_clusters)
    counts = np.bincount(clusters, minlength=n_clusters)
    return float(np.sum((sums - counts * mean) ** 2))


def _scores(
    data: Labels, per_label: dict[str, np.ndarray], seconds: dict[str, float], methods: tuple[str, ...]
) -> dict[str, CandidateScore]:
    """Mean held-out log probability of each method over the labels scored, and the standard error of
    its difference from the best's. The labels of one item are not independent, nor are those of
    one annotator: the variance is clustered both ways (item + annotator - label, Cameron, Gelbach
    and Miller 2011)."""
    scored = ~np.isnan(per_label[methods[0]])
    n = int(scored.sum())
    if n == 0:
        return {m: CandidateScore(m, float("nan"), float("nan"), seconds[m]) for m in methods}
    means = {m: float(per_label[m][scored].mean()) for m in methods}
    best = max(methods, key=lambda m: (means[m], -methods.index(m)))
    items, workers = data.item[scored], data.worker[scored]
    out = {}
    for m in methods:
        se = 0.0
        if m != best:
            diff = per_label[best][scored] - per_label[m][scored]
            if not np.all(np.isfinite(diff)):  # a failed candidate: infinitely far behind
                se = 0.0
            else:
                d = float(diff.mean())
                var = (
                    _clustered_variance(diff, d, items, data.n_items)
                    + _clustered_variance(diff, d, workers, data.n_workers)
                    - float(np.sum((diff - d) ** 2))
                )
                se = float(np.sqrt(max(var, 0.0)) / n)
        out[m] = CandidateScore(m, means[m], se, seconds[m])
    return out


def select_method(
    data: Labels,
    *,
    candidates: tuple[str, ...] | None = None,
    n_folds: int = N_FOLDS,
    max_labels: int = MAX_LABELS,
    options: dict[str, Any] | None = None,
    gold: np.ndarray | None = None,
    random_state: int = 0,
) -> Selection:
    """Choose a method for ``data`` by held-out label log-likelihood (no gold used to score).

    Parameters
    ----------
    data : Labels
    candidates : tuple of str, optional
        Methods to choose from, from the least to the most flexible; default
        :func:`available_candidates`.
    n_folds : int
        Folds over the labels.
    max_labels : int
        Above this many labels the criterion is computed on a random subset of the items holding
        about this many labels.
    options : dict, optional
        Model options, as for :func:`emcrowd.analysis.aggregate.aggregate`; each candidate takes its own.
    gold : ndarray of shape (n_items,), optional
        Known class codes, clamped in every candidate's fits (they are never scored).
    random_state : int
        Seed of the folds and of the subset.

    Returns
    -------
    Selection
    """
    start = time.perf_counter()
    large = data.n_labels > max_labels
    if candidates is None:
        # On large data, the models too slow to fit there (EBCC: see SLOW_CANDIDATES) are left out
        candidates = tuple(m for m in available_candidates() if not (large and m in SLOW_CANDIDATES))
    candidates = tuple(candidates)
    if not candidates:
        raise EmcrowdError("no candidate methods to choose from")
    subset, kept = _subset_items(data, max_labels, np.random.default_rng([random_state, _SUBSET_STREAM]))
    sub_gold = None if gold is None else np.asarray(gold)[kept]
    scores: dict[str, CandidateScore] = {m: CandidateScore(m, float("nan"), float("nan")) for m in candidates}
    n_folds = min(n_folds, subset.n_labels)
    n_scored_items = 0
    if n_folds >= 2:
        per_label, seconds = held_out_log_likelihoods(
            subset,
            candidates,
            n_folds=n_folds,
            max_folds=1 if large else None,  # a large subset: one fold of labels is plenty
            options=options,
            gold=sub_gold,
            random_state=random_state,
        )
        scores = _scores(subset, per_label, seconds, candidates)
        scored = ~np.isnan(per_label[candidates[0]])
        n_scored_items = int(np.unique(subset.item[scored]).size)
    if n_scored_items < MIN_ITEMS:  # too little to tell the models apart: the least flexible, said so
        first = candidates[0]
        return Selection(
            chosen=first,
            best=first,
            scores=scores,
            reason=f"too few labels to compare the models on held-out labels ({n_scored_items} items "
            f"scored, fewer than {MIN_ITEMS}); {first.replace('_', '-')} is the least flexible candidate",
            n_folds=n_folds if n_folds >= 2 else 0,
            n_labels=subset.n_labels,
            n_items=subset.n_items,
            seconds=time.perf_counter() - start,
        )
    means = {m: s.score for m, s in scores.items()}
    best = max(candidates, key=lambda m: (means[m], -candidates.index(m)))
    chosen = next(m for m in candidates if means[m] >= means[best] - scores[m].se)
    name = {m: m.replace("_", "-") for m in candidates}  # as the command line spells them
    if chosen != best:
        reason = (
            f"within one standard error of the best held-out score ({name[best]}: {means[best]:.4f} "
            f"against {means[chosen]:.4f} nats per label, SE {scores[chosen].se:.4f}) and less flexible"
        )
    elif len(candidates) == 1:
        reason = "the only candidate"
    else:
        second = max((m for m in candidates if m != best), key=lambda m: means[m])
        gap, se = means[best] - means[second], scores[second].se
        distance = f", {gap / se:.1f} standard errors" if se > 0 and np.isfinite(gap) else ""
        reason = (
            f"the best held-out score ({means[best]:.4f} nats per label, {gap:.4f} ahead of "
            f"{name[second]}{distance})"
        )
    return Selection(
        chosen=chosen,
        best=best,
        scores=scores,
        reason=reason,
        n_folds=n_folds,
        n_labels=subset.n_labels,
        n_items=subset.n_items,
        seconds=time.perf_counter() - start,
        n_folds_scored=1 if large else n_folds,
    )


#: ``fit``'s check that another model describes the labels much better than GLAD: the margin, in
#: nats per held-out label and in standard errors, both of which it must exceed. GLAD's per-item
#: difficulty costs it some held-out score even on data drawn from GLAD (about 0.03 nats per label
#: with five labels per item), so "much better" starts above that.
HINT_MARGIN = 0.05
HINT_STANDARD_ERRORS = 3.0


def better_than_default(
    data: Labels,
    *,
    default: str = "glad",
    options: dict[str, Any] | None = None,
    gold: np.ndarray | None = None,
    random_state: int = 0,
    max_labels: int = 100_000,
) -> tuple[str, CandidateScore, CandidateScore] | None:
    """A cheap check for ``fit``: one fold of five held out, on at most ``max_labels`` labels, for the
    default method and the most flexible well-regularised alternative. Returns ``(method, its score,
    the default's score)`` when the alternative predicts held-out labels much better (by
    :data:`HINT_MARGIN` nats per label and :data:`HINT_STANDARD_ERRORS` standard errors), else None."""
    from emcrowd.models import MODELS

    other = next((m for m in ("bayesian_ds", "dawid_skene") if m in MODELS and m != default), None)
    if other is None or data.n_labels < 2 * N_FOLDS:
        return None
    subset, kept = _subset_items(data, max_labels, np.random.default_rng([random_state, _SUBSET_STREAM]))
    methods = (default, other)
    per_label, seconds = held_out_log_likelihoods(
        subset,
        methods,
        max_folds=1,
        options=options,
        gold=None if gold is None else np.asarray(gold)[kept],
        random_state=random_state,
    )
    scores = _scores(subset, per_label, seconds, methods)
    mine, theirs = scores[default], scores[other]
    gap = theirs.score - mine.score
    if gap > HINT_MARGIN and gap > HINT_STANDARD_ERRORS * mine.se:
        return other, theirs, mine
    return None
