"""Choosing an aggregation method without gold: ``--method auto``.

No single model is best on every data set, and a user without gold cannot check which one to trust.
What every model can be asked, without gold, is how well it predicts labels it has not seen. So the
labels are split into folds; each candidate is fitted with one fold held out and scores the log
probability of every held-out label under :meth:`EMAggregator.label_proba` (the posterior of the
label's item, from the other labels, times the annotator's label distribution). The score of a
candidate is the mean over all held-out labels, in nats per label.

**The shape of the data is kept.** The folds are drawn over all the labels, so a fold fit sees each
annotator and each item with four fifths of its labels, as the user's data has them (a subsample of
the items instead would leave each annotator a small share of its labels, where the models with
priors win for the priors' sake). Each candidate is first fitted on all the labels (the fit ``auto``
returns when it is chosen: nothing is fitted twice), and each fold fit starts from that fit's
posteriors, so it stays in the same mode. Only above :data:`FULL_DATA_LABELS` labels is the
criterion computed on a random subset of the items (:data:`SUBSET_LABELS` labels), the least of
evils at that size: each candidate is fitted once, on the subset's labels outside one fold (from its
own start, accelerated), and scored on that fold; the chosen model is then fitted on all the labels,
starting from that fold fit's annotators (:func:`posteriors_from_annotators`).

**Majority vote is a candidate.** It is scored as the model under which every annotator is equally
reliable (one accuracy shared by all, :class:`VoteModel`, whose most probable class is the vote), and
it is the least flexible candidate: a model is chosen over the vote only when it predicts the held-out
labels better by more than the noise of the criterion, so ``auto`` keeps the vote where the data do
not show that weighting the annotators helps.

Predicting labels is not the same as finding the truth: a more flexible model (a full confusion matrix
per annotator, class subtypes) can win the label score by a margin that is only noise, and then pays
for its flexibility on the items. So the choice is not the top score but the **least flexible
candidate whose score is within one standard error of the top** (the "one standard error rule" of
cross-validation, Breiman et al. 1984), with the standard error of the score difference clustered by
item and by annotator. The candidates, from the least flexible, are :data:`CANDIDATES` (those
installed); a new method is one more entry there.

Only labels whose annotator and item both have labels in the training folds are scored: a label of
an annotator the fit never saw measures the model's prior, not the model, and every candidate is
scored on the same labels.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from emcrowd.data import Labels, name_ranks
from emcrowd.errors import EmcrowdError

if TYPE_CHECKING:
    from collections.abc import Callable

    from emcrowd.models._base import IterationCallback

#: Candidate methods of ``auto``, from the least to the most flexible (ties in the rule go to the
#: earlier one). ``majority`` is scored as :class:`VoteModel`; the others are the registry's models.
CANDIDATES = ("majority", "one_coin", "glad", "mace", "bayesian_ds", "dawid_skene", "ebcc")
#: Candidates added for ordered grades (``Labels.ordered``), each after the candidate named with it.
ORDINAL_CANDIDATES = (("ordinal_ds", "one_coin"),)
#: Folds over the labels.
N_FOLDS = 5
#: Up to this many labels the criterion is computed on all of them, every fold held out in turn.
FULL_DATA_LABELS = 1_000_000
#: Above ``FULL_DATA_LABELS``, the criterion is computed on a random subset of the items with about
#: this many labels, and the chosen model fitted on all of them.
SUBSET_LABELS = 1_000_000
#: Folds held out (of ``N_FOLDS``) on the subset of large data: a fifth of a million labels scored
#: puts the standard errors of the score differences far below the gaps between models there, and
#: every fold held out costs each candidate one more fit of the subset.
LARGE_FOLDS_SCORED = 1
#: Most EM iterations of a fold fit (it starts from the fit on all the labels).
FOLD_MAX_ITER = 50
#: Candidates left out above ``FULL_DATA_LABELS`` labels: EBCC, whose restarts and 10 latent rows per
#: class make a fit of 10M labels cost about three Dawid-Skene fits.
SLOW_CANDIDATES = ("ebcc",)
#: A candidate with random starts (``n_init > 1``: EBCC by default) is fitted a second time from
#: other starts; when the two fits' labels differ on more than this share of the items, its answer
#: depends on the seed and it is not chosen (the bound ``auto``'s own answer keeps across seeds).
STABLE_SHARE = 0.005
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
    #: Share of the items whose label changed between two fits from different random starts (None:
    #: not checked, the model has one deterministic start).
    unstable_share: float | None = None

    @property
    def stable(self) -> bool:
        return self.unstable_share is None or self.unstable_share <= STABLE_SHARE

    def to_dict(self) -> dict[str, Any]:
        def finite(x: float) -> float | None:  # JSON has no NaN
            return x if np.isfinite(x) else None

        out = {"score": finite(self.score), "se": finite(self.se), "fit_seconds": self.seconds}
        if self.unstable_share is not None:
            out["changed_with_restarts"] = self.unstable_share
        return out


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
    n_folds_scored: int | None = None  # held out (all n_folds unless told otherwise)
    #: The candidates' fits on all the labels (when the criterion ran on all of them): ``auto``
    #: returns the chosen one's instead of fitting it again. Not part of the record.
    fits: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    large: bool = False  # the criterion ran on a subset of the items
    #: On large data: the chosen method's fold fit on the subset, whose annotators start its fit on
    #: all the labels (:func:`posteriors_from_annotators`). Not part of the record.
    subset_model: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``summary.json`` and the ``compare`` report."""
        return {
            "chosen": self.chosen,
            "best": self.best,
            "reason": self.reason,
            "criterion": "held-out label log-likelihood per label (nats), one-standard-error rule, "
            + (
                "one fold of a random subset of the items, fold fits from their own starts"
                if self.large
                else "folds over all the labels warm-started from the full fits"
            ),
            "scores": {m: s.to_dict() for m, s in self.scores.items()},
            "n_folds": self.n_folds,
            "n_folds_scored": self.n_folds if self.n_folds_scored is None else self.n_folds_scored,
            "n_labels": self.n_labels,
            "n_items": self.n_items,
            "fit_seconds": self.seconds,
        }


def available_candidates(ordered: bool = False) -> tuple[str, ...]:
    """The candidates of ``auto`` that this installation has, in order of flexibility; with
    ``ordered`` (graded labels) also :data:`ORDINAL_CANDIDATES`."""
    from emcrowd.models import MODELS

    candidates = [m for m in CANDIDATES if m == "majority" or m in MODELS]
    for method, after in ORDINAL_CANDIDATES if ordered else ():
        if method in MODELS:
            candidates.insert(candidates.index(after) + 1 if after in candidates else len(candidates), method)
    return tuple(candidates)


class VoteModel:
    """Majority vote as a model of the labels, to score it like the others: every annotator names the
    true class with one shared probability ``a`` and each other class with ``(1 - a) / (K - 1)``, the
    class prior is uniform. Under it an item's most probable class is its plurality vote (ties to the
    lowest class, as majority vote's default); ``a`` is fitted by EM (kept above ``1 / K``, where the
    vote would turn into its opposite).

    Attributes
    ----------
    accuracy_ : float
    posteriors_ : ndarray of shape (n_items, n_classes)
    """

    def fit(self, data: Labels, gold: np.ndarray | None = None, max_iter: int = 200) -> VoteModel:
        from emcrowd.models.classification.majority import vote_counts

        counts = vote_counts(data).astype(float)
        n = counts.sum(axis=1, keepdims=True)
        k = data.n_classes
        floor = 1.0 / k + 1e-3
        known = None if gold is None else np.asarray(gold) >= 0
        a = 0.7 if k == 2 else max(0.6, floor)
        for _ in range(max_iter):
            joint = counts * np.log(a) + (n - counts) * (np.log1p(-a) - np.log(max(k - 1, 1)))
            joint -= joint.max(axis=1, keepdims=True)
            q = np.exp(joint)
            q /= q.sum(axis=1, keepdims=True)
            if known is not None and known.any():
                q[known] = np.eye(k)[np.asarray(gold)[known]]
            new = (float(np.sum(q * counts)) + 1.0) / (float(n.sum()) + 2.0)
            new = min(max(new, floor), 1.0 - 1e-9)
            if abs(new - a) < 1e-10:
                a = new
                break
            a = new
        self.accuracy_, self.posteriors_ = a, q
        return self

    def label_proba(self, item: np.ndarray, worker: np.ndarray) -> np.ndarray:
        k = self.posteriors_.shape[1]
        a = self.accuracy_
        q = self.posteriors_[np.asarray(item, dtype=np.intp)]
        return q * a + (1.0 - q) * ((1.0 - a) / max(k - 1, 1))


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
        ordered=data.ordered,
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
        ordered=data.ordered,
    )


def warm_started(model: Any, posteriors: np.ndarray) -> Any:
    """``model`` set to start its (single) run from ``posteriors`` instead of its own start: a fold fit
    starts from the candidate's fit on all the labels, and converges in a few iterations. The first
    M-step sees the held-out labels only through those posteriors; every E-step after it uses the
    training labels alone."""
    start = np.asarray(posteriors, dtype=np.float64)

    def first(data: Labels, run: int, rng: np.random.Generator, gold: np.ndarray | None) -> np.ndarray:
        out = start.copy()
        if gold is not None:
            known = gold >= 0
            out[known] = np.eye(data.n_classes)[gold[known]]
        return out

    model._first_posteriors = first  # the EM loop's hook for a run's first posteriors
    return model


def _share_population_fit(model: Any, full: Any) -> None:
    """Give a fold fit the population-level fit of the same method on all the labels: GLAD's
    difficulty distribution (the mean and spread of the items' difficulties), whose fit costs more
    than GLAD's fold fit itself and which four fifths of the labels estimate the same."""
    prior = getattr(full, "difficulty_prior_", None)
    if prior is not None and hasattr(model, "difficulty_prior_"):
        model.difficulty_prior_ = prior


def held_out_log_likelihoods(
    data: Labels,
    methods: tuple[str, ...],
    *,
    n_folds: int = N_FOLDS,
    max_folds: int | None = None,
    options: dict[str, Any] | None = None,
    gold: np.ndarray | None = None,
    random_state: int = 0,
    warm: dict[str, np.ndarray] | None = None,
    full_models: dict[str, Any] | None = None,
    fold_models: dict[str, Any] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Each method's log probability of every label when that label's fold was held out.

    Parameters
    ----------
    methods : tuple of str
        Registry methods, or ``majority`` (scored as :class:`VoteModel`).
    max_folds : int, optional
        Hold out only the first this many folds (a cheaper estimate); the other labels get NaN.
    warm : dict of str to ndarray of shape (n_items, n_classes), optional
        Posteriors of each method's fit on all the labels: its fold fits start from them.
    full_models : dict of str to model, optional
        Each method's fitted model on all the labels: population-level quantities that a fold fit
        would estimate again at a cost (GLAD's distribution of item difficulties, ``difficulty_prior_``,
        two numbers fitted on up to 20,000 items) are taken from it.
    fold_models : dict, optional
        Filled with each method's fit of the first fold's training labels (majority vote's
        :class:`VoteModel` included).

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
    warm = warm or {}
    # One start per fold fit: the folds compare models, not restarts (EBCC's several restarts would
    # multiply the cost); the chosen model's fit on all the labels has the restarts asked for.
    options = {"random_state": random_state, **(options or {}), "n_init": 1}
    # ... and at most FOLD_MAX_ITER iterations: the variational models creep on for hundreds of
    # iterations on sparse data, for changes that do not move the held-out score.
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
            try:
                if m == "majority":
                    model: Any = VoteModel().fit(train, gold)
                else:
                    model = MODELS[m](**model_options(m, options))
                    if m in warm:
                        warm_started(model, warm[m])
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # a fold's non-convergence is not the user's concern
                        model.fit(train, gold=gold)
                    _share_population_fit(model, (full_models or {}).get(m))
                if fold_models is not None:
                    fold_models.setdefault(m, model)
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
    max_folds: int | None = None,
    full_data_labels: int = FULL_DATA_LABELS,
    subset_labels: int = SUBSET_LABELS,
    options: dict[str, Any] | None = None,
    gold: np.ndarray | None = None,
    random_state: int = 0,
    ties: str = "lowest",
    callback: IterationCallback | None = None,
    done: dict[str, Any] | None = None,
    fit: Callable[[Labels, str, np.ndarray | None], Any] | None = None,
) -> Selection:
    """Choose a method for ``data`` by held-out label log-likelihood (no gold used to score).

    Parameters
    ----------
    data : Labels
    candidates : tuple of str, optional
        Methods to choose from, from the least to the most flexible; default
        :func:`available_candidates` (without :data:`SLOW_CANDIDATES` on large data).
    n_folds : int
        Folds over the labels.
    max_folds : int, optional
        Hold out only this many of the folds (default: all; :data:`LARGE_FOLDS_SCORED` on large data).
    full_data_labels, subset_labels : int
        Above ``full_data_labels`` labels the criterion is computed on a random subset of the items
        holding about ``subset_labels`` labels.
    options : dict, optional
        Model options, as for :func:`emcrowd.analysis.aggregate.aggregate`; each candidate takes its own.
    gold : ndarray of shape (n_items,), optional
        Known class codes, clamped in every candidate's fits (they are never scored).
    random_state : int
        Seed of the folds, of the subset and of the candidates' fits (unless ``options`` has one).
    ties : str
        Majority vote's tie rule, for its fit.
    callback : callable, optional
        Progress hook of the candidates' fits on all the labels.
    done : dict of str to Aggregation, optional
        Fits on all of ``data`` already run with the same options (as in a comparison): reused.
    fit : callable, optional
        ``fit(data, method, gold)``: a candidate's fit on all the labels, with ``posteriors``,
        ``labels`` and ``model`` (:func:`emcrowd.analysis.aggregate.auto_aggregate` passes
        ``aggregate``; by default the model's own fit, without ``aggregate``'s warnings).

    Returns
    -------
    Selection
        With ``fits``, the candidates' fits on all the labels, unless the data were large.
    """
    from emcrowd.models import model_options

    start = time.perf_counter()
    large = data.n_labels > full_data_labels
    if candidates is None:
        # On large data, the models too slow to fit there (EBCC: see SLOW_CANDIDATES) are left out
        available = available_candidates(data.ordered)
        candidates = tuple(m for m in available if not (large and m in SLOW_CANDIDATES))
    candidates = tuple(candidates)
    if not candidates:
        raise EmcrowdError("no candidate methods to choose from")
    options = {"random_state": random_state, **(options or {})}
    if large:
        subset, kept = _subset_items(
            data, subset_labels, np.random.default_rng([random_state, _SUBSET_STREAM])
        )
        max_folds = LARGE_FOLDS_SCORED if max_folds is None else max_folds
    else:
        subset, kept = data, np.ones(data.n_items, dtype=bool)
    sub_gold = None if gold is None else np.asarray(gold)[kept]

    # Every candidate on all the labels (of the subset, when large): the fold fits start from these.
    if fit is None:

        def fit(part: Labels, method: str, part_gold: np.ndarray | None) -> Any:
            return _plain_fit(part, method, part_gold, model_options(method, options), ties, callback)

    fits: dict[str, Any] = {}
    failed: set[str] = set()
    fit_seconds = dict.fromkeys(candidates, 0.0)
    changed: dict[str, float] = {}
    if not large:
        # every candidate on all the labels: the fold fits start from these, the chosen one is the answer
        for m in candidates:
            if done is not None and m in done:
                fits[m] = done[m]
                continue
            begin = time.perf_counter()
            try:
                fits[m] = fit(subset, m, sub_gold)
            except EmcrowdError:
                failed.add(m)
            fit_seconds[m] = time.perf_counter() - begin
        # A model with random starts is fitted once more from others: does its answer depend on them?
        for m, f in fits.items():
            if f.model is not None and int(f.model.get_params().get("n_init", 1)) > 1:
                begin = time.perf_counter()
                other_seed = {**options, "random_state": int(options["random_state"]) + 1}
                try:
                    again = _plain_fit(subset, m, sub_gold, model_options(m, other_seed), ties, None)
                    changed[m] = float(np.mean(again.labels != f.labels))
                except EmcrowdError:
                    changed[m] = 1.0
                fit_seconds[m] += time.perf_counter() - begin
    warm = {m: f.posteriors for m, f in fits.items() if m != "majority"}
    # On large data the fold fits start cold (a warm start from a fit of the subset converges no
    # sooner there, and that fit would cost each candidate a whole fit more), accelerated; the chosen
    # one's fold fit then starts its fit on all the labels.
    fold_models: dict[str, Any] | None = {} if large else None
    fold_options = {**options, "accelerate": True} if large else options

    scores: dict[str, CandidateScore] = {m: CandidateScore(m, float("nan"), float("nan")) for m in candidates}
    n_folds = min(n_folds, subset.n_labels)
    n_scored_items = 0
    eligible = candidates
    if n_folds >= 2:
        per_label, seconds = held_out_log_likelihoods(
            subset, candidates, n_folds=n_folds, max_folds=max_folds, options=fold_options,
            gold=sub_gold, random_state=random_state, warm=warm,
            full_models={m: f.model for m, f in fits.items() if f.model is not None},
            fold_models=fold_models,
        )  # fmt: skip
        for m in failed:
            per_label[m][~np.isnan(per_label[m])] = -np.inf
        total_seconds = {m: seconds[m] + fit_seconds[m] for m in candidates}
        scores = _scores(subset, per_label, total_seconds, candidates)
        eligible = tuple(m for m in candidates if changed.get(m, 0.0) <= STABLE_SHARE) or candidates
        if eligible != candidates:  # standard errors against the best of those that can be chosen
            scores.update(_scores(subset, per_label, total_seconds, eligible))
        for m, share in changed.items():
            scores[m].unstable_share = share
        scored = ~np.isnan(per_label[candidates[0]])
        n_scored_items = int(np.unique(subset.item[scored]).size)
        if large:  # a candidate whose fold fit failed is out
            failed |= {m for m in candidates if not np.isfinite(scores[m].score)}
    folds_scored = n_folds if max_folds is None else min(max_folds, n_folds)
    common = {
        "scores": scores,
        "n_folds": n_folds if n_folds >= 2 else 0,
        "n_labels": subset.n_labels,
        "n_items": subset.n_items,
        "n_folds_scored": folds_scored if n_folds >= 2 else 0,
        "fits": {} if large else fits,
        "large": large,
    }
    subset_models = fold_models or {}
    usable = [m for m in candidates if m not in failed]
    if not usable:
        raise EmcrowdError("every candidate method failed to fit these labels")
    if n_scored_items < MIN_ITEMS:  # too little to tell the models apart: the least flexible, said so
        first = usable[0]
        return Selection(
            chosen=first,
            best=first,
            reason=f"too few labels to compare the models on labels they did not see ({n_scored_items} "
            f"items scored, fewer than {MIN_ITEMS}), so the simplest candidate",
            seconds=time.perf_counter() - start,
            **common,
        )
    chosen, best = _choose(eligible, scores)
    reason = _reason(chosen, best, scores, eligible)
    top = max(candidates, key=lambda m: (scores[m].score, -candidates.index(m)))
    if not scores[top].stable and top != chosen:
        reason += (
            f"; {_title(top)} scored higher, but two of its fits from different random starts disagree "
            f"on {scores[top].unstable_share:.1%} of the items, so its answer depends on the seed"
        )
    return Selection(
        chosen=chosen,
        best=best,
        reason=reason,
        seconds=time.perf_counter() - start,
        subset_model=subset_models.get(chosen),
        **common,
    )


def posteriors_from_annotators(model: Any, data: Labels) -> np.ndarray | None:
    """Item posteriors on ``data`` from a model fitted on other items of the same annotators: one
    E-step with each annotator's label distribution (``confusion_``; or, for the models with one
    accuracy per annotator, GLAD's at a typical item, errors spread evenly) and the class prior.

    On large data ``auto`` chooses on a subset of the items; the chosen method's fit on all the labels
    then starts from these posteriors instead of the vote, and converges in fewer iterations (GLAD,
    the slowest candidate per iteration, in about two thirds of the time) to the same labels. None
    when the model has neither attribute (majority vote: nothing to start from)."""
    if model is None:
        return None
    k = data.n_classes
    try:
        confusion = np.asarray(model.confusion_, dtype=float)
    except AttributeError:
        confusion = None
    joint = np.zeros((data.n_items, k))
    if confusion is not None and confusion.shape == (data.n_workers, k, k):
        log_c = np.log(np.maximum(confusion, _MIN_PROBABILITY))
        for c in range(k):
            weights = log_c[data.worker, c, data.label]
            joint[:, c] = np.bincount(data.item, weights=weights, minlength=data.n_items)
    else:
        accuracy = np.asarray(getattr(model, "accuracy_", np.empty(0)), dtype=float)
        if accuracy.shape != (data.n_workers,):
            return None
        accuracy = np.clip(accuracy, _MIN_PROBABILITY, 1.0 - _MIN_PROBABILITY)
        right = np.log(accuracy)[data.worker]
        wrong = (np.log1p(-accuracy) - np.log(max(k - 1, 1)))[data.worker]
        base = np.bincount(data.item, weights=wrong, minlength=data.n_items)
        extra = np.bincount(data.item * k + data.label, weights=right - wrong, minlength=data.n_items * k)
        joint = base[:, None] + extra.reshape(data.n_items, k)
    prior = np.asarray(getattr(model, "class_prior_", np.full(k, 1.0 / k)), dtype=float)
    joint += np.log(np.maximum(prior, _MIN_PROBABILITY))
    joint -= joint.max(axis=1, keepdims=True)
    out = np.exp(joint)
    out /= out.sum(axis=1, keepdims=True)
    return out


def _plain_fit(
    data: Labels,
    method: str,
    gold: np.ndarray | None,
    options: dict[str, Any],
    ties: str,
    callback: IterationCallback | None,
) -> Any:
    """A candidate's fit on all of ``data``: ``posteriors``, ``labels``, ``model`` (None for majority
    vote, which takes no gold) and ``fit_seconds``; GLAD's posteriors with the difficulty integrated,
    as :func:`emcrowd.analysis.aggregate.aggregate` reports them."""
    from types import SimpleNamespace

    from emcrowd.models import MODELS
    from emcrowd.models.classification.majority import majority_vote

    start = time.perf_counter()
    if method == "majority":
        mv = majority_vote(data, ties=ties, random_state=options.get("random_state", 0))
        return SimpleNamespace(posteriors=mv.posteriors, labels=mv.labels, model=None, fit_seconds=0.0)
    model = MODELS[method](**options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data, gold=gold, callback=callback)
    if hasattr(model, "integrate_difficulty"):
        model.integrate_difficulty(data, gold)
    return SimpleNamespace(
        posteriors=model.posteriors_, labels=model.labels_, model=model,
        fit_seconds=time.perf_counter() - start,
    )  # fmt: skip


def _choose(candidates: tuple[str, ...], scores: dict[str, CandidateScore]) -> tuple[str, str]:
    """The one-standard-error rule: (the least flexible candidate within one standard error of the
    top score, the top one)."""
    means = {m: s.score for m, s in scores.items()}
    best = max(candidates, key=lambda m: (means[m], -candidates.index(m)))
    chosen = next(m for m in candidates if means[m] >= means[best] - scores[m].se)
    return chosen, best


def _title(method: str) -> str:
    from emcrowd.models import MODELS

    return (
        "majority vote" if method == "majority" else method.replace("_", "-") if method in MODELS else method
    )


def _reason(chosen: str, best: str, scores: dict[str, CandidateScore], candidates: tuple[str, ...]) -> str:
    """Why ``chosen``, in one clause a requester can read (it follows "auto chose <method>: ")."""
    means = {m: s.score for m, s in scores.items()}
    if len(candidates) == 1:
        return "the only candidate"
    if chosen != best:
        gap, se = means[best] - means[chosen], scores[chosen].se
        if chosen == "majority":
            return (
                f"no model predicts labels it did not see clearly better than the vote (the best, "
                f"{_title(best)}, by {gap:.4f} nats per label, within one standard error, {se:.4f}), so "
                "the plain vote is kept"
            )
        return (
            f"it predicts labels it did not see about as well as the best, {_title(best)} ({gap:.4f} nats "
            f"per label behind, within one standard error, {se:.4f}), and is the simpler model"
        )
    second = max((m for m in candidates if m != best), key=lambda m: means[m])
    if best == "majority":
        return (
            f"the plain vote predicts labels it did not see best ({means[best]:.4f} nats per label, "
            f"{means[best] - means[second]:.4f} ahead of {_title(second)}): weighting the annotators "
            "does not help here"
        )
    gap, se = means[best] - means[second], scores[second].se
    distance = f", {gap / se:.1f} standard errors" if se > 0 and np.isfinite(gap) else ""
    text = (
        f"it predicts labels it did not see best ({means[best]:.4f} nats per label, {gap:.4f} ahead of "
        f"{_title(second)}{distance})"
    )
    if best != "majority" and "majority" in means and second != "majority" and np.isfinite(means["majority"]):
        text += f" and {means[best] - means['majority']:.4f} ahead of the plain vote"
    return text
