"""One entry point over all aggregation methods, and the per-item / per-annotator result tables.

``aggregate(data, method)`` runs one method and returns an :class:`Aggregation` with the same fields
whatever the method; the CLI and :func:`emcrowd.evaluate.compare` work with that and never with a
model's internals. The ``*_table`` functions turn a result into columns ready to be written (names map
codes back to the user's ids and class names).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from emcrowd import budget
from emcrowd.data import Labels
from emcrowd.errors import ConvergenceWarning, EmcrowdError
from emcrowd.io.outputs import NamedCodes
from emcrowd.models._base import EMAggregator, IterationCallback
from emcrowd.models.bayesian import BayesianDawidSkene
from emcrowd.models.dawid_skene import DawidSkene, OneCoin
from emcrowd.models.ebcc import EBCC
from emcrowd.models.glad import GLAD
from emcrowd.models.majority import MajorityVote, majority_vote

if TYPE_CHECKING:
    from emcrowd.selection import Selection

#: The EM models by method name.
MODELS: dict[str, type[EMAggregator]] = {
    "glad": GLAD,
    "dawid_skene": DawidSkene,
    "one_coin": OneCoin,
    "bayesian_ds": BayesianDawidSkene,
    "ebcc": EBCC,
}
#: Methods by name, in the order ``compare`` shows them; ``auto`` chooses one of the EM models
#: without gold (:mod:`emcrowd.selection`).
METHODS = ("majority", *MODELS, "auto")
_ALIASES = {"mv": "majority", "majority_vote": "majority", "ds": "dawid_skene", "onecoin": "one_coin"}
_ALIASES |= {"ibcc": "bayesian_ds", "bds": "bayesian_ds"}


def method_name(name: str) -> str:
    """The canonical name of a method: case, dashes and a few aliases (``ds``, ``mv``) forgiven."""
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in METHODS:
        raise EmcrowdError(
            f"unknown method {name!r}; choose from {', '.join(m.replace('_', '-') for m in METHODS)}"
        )
    return key


@dataclass
class Aggregation:
    """The outcome of one aggregation method on one data set.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    posteriors : ndarray of shape (n_items, n_classes)
        Probability of each class being the item's true one.
    labels : ndarray of shape (n_items,)
        The chosen class code of every item.
    majority : MajorityVote
        Majority vote on the same data (always computed: it is cheap and every report uses it).
    model : EMAggregator or None
        The fitted estimator (:class:`GLAD`, :class:`DawidSkene`, :class:`OneCoin`), for EM methods.
    options : dict
        The options the method ran with.
    fit_seconds : float
    warnings : list of str
        Warnings raised during the fit (for instance non-convergence), for the report.
    selection : Selection or None
        For ``auto``: every candidate's score and the one chosen (whose fit this is).
    """

    method: str
    posteriors: np.ndarray
    labels: np.ndarray
    majority: MajorityVote
    model: EMAggregator | None = None
    options: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    selection: Selection | None = None

    @property
    def fitted_method(self) -> str:
        """The method whose fit this is: the chosen one for ``auto``."""
        return self.selection.chosen if self.selection is not None else self.method

    @property
    def n_iter(self) -> int | None:
        return None if self.model is None else self.model.n_iter_

    @property
    def converged(self) -> bool | None:
        return None if self.model is None else self.model.converged_

    @property
    def history(self) -> list[float]:
        return [] if self.model is None else self.model.history_


def aggregate(
    data: Labels,
    method: str = "glad",
    *,
    gold: np.ndarray | None = None,
    ties: str = "lowest",
    callback: IterationCallback | None = None,
    **options: Any,
) -> Aggregation:
    """Aggregate ``data`` with one method.

    Parameters
    ----------
    data : Labels
    method : str
        ``majority``, ``glad``, ``dawid_skene`` or ``one_coin`` (see :func:`method_name`).
    gold : ndarray of shape (n_items,), optional
        Known class codes (``-1`` = unknown), clamped by the EM methods; majority vote ignores them.
    ties : {"lowest", "random"}
        Majority vote's tie rule (``random`` is seeded by ``random_state``, default 0).
    callback : callable, optional
        Progress hook for EM methods, ``callback(n_iter, objective)``.
    **options
        Passed to the model's constructor: for every EM model ``class_prior``, ``learn_class_prior``,
        ``class_pseudocount``, ``tol``, ``max_iter``, ``n_init``, ``random_state``; for GLAD also
        ``alpha_prior`` and ``beta_prior``; for Dawid-Skene and one-coin ``smoothing``.

    Returns
    -------
    Aggregation
    """
    method = method_name(method)
    budget.check_fit(data, [method], options)
    start = time.perf_counter()
    if method == "auto":
        return auto_aggregate(data, gold=gold, ties=ties, callback=callback, options=options)
    mv = majority_vote(data, ties=ties, random_state=options.get("random_state", 0))
    if method == "majority":
        unknown = set(options) - {"random_state"}
        if unknown:
            raise EmcrowdError(f"majority vote takes no options {', '.join(sorted(unknown))}")
        return Aggregation(
            method=method,
            posteriors=mv.posteriors,
            labels=mv.labels,
            majority=mv,
            options={"ties": ties},
            fit_seconds=time.perf_counter() - start,
        )
    model = MODELS[method](**options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(data, gold=gold, callback=callback)
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    messages += flip_warnings(data, model, mv)
    return Aggregation(
        method=method,
        posteriors=model.posteriors_,
        labels=model.labels_,
        majority=mv,
        model=model,
        options=model.get_params(),
        fit_seconds=time.perf_counter() - start,
        warnings=messages,
    )


def auto_aggregate(
    data: Labels,
    *,
    gold: np.ndarray | None = None,
    ties: str = "lowest",
    callback: IterationCallback | None = None,
    options: dict[str, Any] | None = None,
    done: dict[str, Aggregation] | None = None,
) -> Aggregation:
    """``auto``: choose a method without gold (:func:`emcrowd.selection.select_method`), then that
    method's fit, taken from ``done`` (fits already run with the same options, as in a comparison)
    when it is there. ``fit_seconds`` counts the choice and the chosen fit."""
    from dataclasses import replace

    from emcrowd.evaluate import model_options
    from emcrowd.selection import select_method

    start = time.perf_counter()
    options = options or {}
    selection = select_method(
        data, options=model_options("auto", options), gold=gold, random_state=options.get("random_state", 0)
    )
    chosen = (done or {}).get(selection.chosen)
    reused = 0.0 if chosen is None else chosen.fit_seconds
    if chosen is None:
        chosen = aggregate(
            data, selection.chosen, gold=gold, ties=ties, callback=callback,
            **model_options(selection.chosen, options),
        )  # fmt: skip
    seconds = time.perf_counter() - start + reused
    return replace(chosen, method="auto", selection=selection, fit_seconds=seconds)


def below_chance(data: Labels, model: EMAggregator) -> np.ndarray:
    """Which annotators the model finds worse than chance, shape (n_workers,): their accuracy (for
    GLAD, at a typical item) below ``1 / n_classes``. For GLAD with more than two classes that is not
    ``alpha < 0``: a negative alpha means an accuracy below 1/2, which can still beat chance."""
    return model.accuracy_ < 1.0 / data.n_classes


def flip_warnings(data: Labels, model: EMAggregator, mv: MajorityVote) -> list[str]:
    """Signs of a sign-flipped (or otherwise suspicious) fit: most annotators worse than chance, or an
    answer that disagrees with majority vote on most items."""
    out = []
    active = data.labels_per_worker() > 0
    if active.sum() > 1 and np.mean(below_chance(data, model)[active]) > 0.5:
        out.append(
            "most annotators came out worse than chance: the fit may be the sign-flipped solution "
            "(check the priors, or try --n-init)"
        )
    labelled = data.labels_per_item() > 0
    if model.learn_class_prior and labelled.any():
        shares = np.bincount(mv.labels[labelled], minlength=data.n_classes) / labelled.sum()
        collapsed = (shares >= 0.05) & (model.class_prior_ < shares / 2)
        for k in np.flatnonzero(collapsed):
            out.append(
                f"the learned class prior gives class {data.class_names[k]!r} {model.class_prior_[k]:.3f}, "
                f"far below its majority-vote share ({shares[k]:.3f}): the prior may be soaking up the "
                "annotators' bias; compare with --fixed-class-prior"
            )
    if labelled.any() and np.mean(model.labels_[labelled] != mv.labels[labelled]) > 0.5:
        out.append(
            "the answer disagrees with majority vote on most items: check for a sign flip "
            "(try --n-init 5 or a stronger alpha prior)"
        )
    return out


def fit_record(
    data: Labels, result: Aggregation, load_report: Any = None, peak_memory_mb: float | None = None
) -> dict[str, Any]:
    """Everything about a fit worth keeping, JSON-ready (the ``summary.json`` of ``emcrowd fit``)."""
    from emcrowd import __version__

    record: dict[str, Any] = {
        "emcrowd_version": __version__,
        "method": result.method,
        "fitted_method": result.fitted_method,
        "selection": None if result.selection is None else result.selection.to_dict(),
        "input": None if load_report is None else load_report.to_dict(),
        "n_items": data.n_items,
        "n_workers": data.n_workers,
        "n_labels": data.n_labels,
        "classes": list(data.class_names),
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in result.options.items()},
        "engine": getattr(result.model, "engine_", None),
        "converged": result.converged,
        "n_iter": result.n_iter,
        "objective": result.history,
        "class_prior": None if result.model is None else result.model.class_prior_.tolist(),
        "n_gold": 0 if result.model is None else result.model.n_gold_,
        "init_objectives": None if result.model is None else result.model.init_objectives_,
        "best_init": None if result.model is None else result.model.best_init_,
        "load_seconds": None if load_report is None else load_report.seconds,
        "fit_seconds": result.fit_seconds,
        "peak_memory_mb": peak_memory_mb,
        "majority": {
            "n_ties": result.majority.n_ties,
            "n_unlabeled": result.majority.n_unlabeled,
            "n_differ": int((result.labels != result.majority.labels).sum()),
        },
        "warnings": result.warnings,
    }
    return record


def label_table(data: Labels, result: Aggregation) -> dict[str, Any]:
    """Columns ``item``, ``label`` (class name) and ``confidence`` (its posterior): the pipe output."""
    return {
        "item": data.item_names,
        "label": NamedCodes(result.labels, data.class_names),
        "confidence": result.posteriors[np.arange(data.n_items), result.labels],
    }


def posterior_table(data: Labels, result: Aggregation) -> dict[str, Any]:
    """Columns ``item`` and ``p_<class>`` for every class."""
    table: dict[str, Any] = {"item": data.item_names}
    for k, name in enumerate(data.class_names):
        table[f"p_{name}"] = result.posteriors[:, k]
    return table


def item_table(data: Labels, result: Aggregation, gold: np.ndarray | None = None) -> dict[str, Any]:
    """One row per item: chosen label, its posterior, majority label, label count, the vote split, the
    margin between the top two classes' votes, the labels' agreement (and beta for GLAD).

    Columns: ``item``, ``label``, ``confidence``, ``majority``, ``majority_tie``, ``n_labels``,
    ``gold`` (with gold), ``votes`` (:func:`emcrowd.relabel.vote_split`, e.g. ``cat:3;dog:2``),
    ``vote_margin`` (votes of the top class minus the runner-up's; the posteriors' margin follows from
    ``posteriors.csv``), ``agreement`` (share of pairs of the item's labels that agree,
    :func:`emcrowd.agreement.item_agreement`; NaN with fewer than two labels), ``entropy`` (nats), and
    for GLAD ``beta``, ``difficulty``.
    """
    from emcrowd.agreement import item_agreement
    from emcrowd.models.majority import vote_counts
    from emcrowd.relabel import vote_margin, vote_split

    counts = vote_counts(data)
    table: dict[str, Any] = {
        **label_table(data, result),
        "majority": NamedCodes(result.majority.labels, data.class_names),
        "majority_tie": result.majority.tied,
        "n_labels": data.labels_per_item(),
    }
    if gold is not None:
        table["gold"] = NamedCodes(gold, data.class_names)  # "" where there is no gold label
    table["votes"] = vote_split(data, counts, coded=True)  # codes into the distinct texts
    table["vote_margin"] = vote_margin(counts).astype(np.int64)
    table["agreement"] = item_agreement(counts)
    post = result.posteriors
    table["entropy"] = 0.0 - np.sum(post * np.log(np.where(post > 0, post, 1.0)), axis=1)  # nats; no -0.0
    if isinstance(result.model, GLAD):
        table["beta"] = result.model.beta_
        table["difficulty"] = 1.0 / result.model.beta_
    return table


def annotator_model(data: Labels, result: Aggregation) -> Any:
    """The fitted model whose annotator parameters :mod:`emcrowd.quality` reads: the EM model, or for
    majority vote a stand-in whose confusion matrices are each annotator's labels counted against the
    vote shares (smoothed by one pseudo-label per cell), so that every method gets the same columns."""
    if result.model is not None:
        return result.model
    from types import SimpleNamespace

    k = data.n_classes
    confusion = np.ones((data.n_workers, k, k))  # one pseudo-label per cell
    shares = result.posteriors[data.item]  # (n_labels, K): the vote shares of each label's item
    for said in range(k):
        mask = data.label == said
        for true in range(k):
            confusion[:, true, said] += np.bincount(
                data.worker[mask], weights=shares[mask, true], minlength=data.n_workers
            )
    confusion /= confusion.sum(axis=2, keepdims=True)
    prior = result.posteriors[data.labels_per_item() > 0].mean(axis=0) if data.n_items else np.full(k, 1 / k)
    return SimpleNamespace(
        confusion_=confusion, class_prior_=prior, labels_=result.labels, posteriors_=result.posteriors
    )


def worker_table(data: Labels, result: Aggregation, gold: np.ndarray | None = None) -> dict[str, Any]:
    """One row per annotator, the same columns for every method (:func:`emcrowd.quality.annotator_quality`).

    Columns: ``worker``, ``n_labels``, ``accuracy`` (estimated probability of giving the true class, on
    the 0-1 scale for every model; GLAD: at the median item's difficulty; majority vote: against the vote
    shares), ``accuracy_low`` and ``accuracy_high`` (approximate 90% interval), ``gold_accuracy`` and
    ``n_gold`` (only with gold: accuracy on the gold items, and how many distinct gold items the
    annotator labelled), ``spammer_score`` (Raykar & Yu, 0 = answers unrelated to the truth, 1 = fully
    informative), ``agreement`` (share of the annotator's labels equal to the chosen label), ``flags``
    (``sparse``, ``constant``, ``below_chance``, ``spammer``, joined by ``;``), and for GLAD ``alpha``.
    The confusion matrices are in :func:`confusion_table` (long form: any class names give unique
    column names).
    """
    from emcrowd.quality import annotator_quality, answer_counts

    counts = answer_counts(data, result.labels)  # one pass over the labels serves both
    quality = annotator_quality(data, annotator_model(data, result), gold=gold, counts=counts)
    n_labels = quality["n_labels"]
    if counts is not None:
        agree = np.einsum("ikk->i", counts)
    else:
        agree = np.bincount(
            data.worker, weights=result.labels[data.item] == data.label, minlength=data.n_workers
        )
    table: dict[str, Any] = {"worker": data.worker_names, "n_labels": n_labels}
    for name in ("accuracy", "accuracy_low", "accuracy_high"):
        table[name] = quality[name]
    if gold is not None:
        table["gold_accuracy"] = quality["gold_accuracy"]
        table["n_gold"] = quality["n_gold"]
    table["spammer_score"] = quality["spammer_score"]
    table["agreement"] = np.divide(agree, n_labels, out=np.full(data.n_workers, np.nan), where=n_labels > 0)
    table["flags"] = quality["flags"]
    if isinstance(result.model, GLAD):
        table["alpha"] = result.model.alpha_
    return table


def confusion_table(data: Labels, result: Aggregation) -> dict[str, Any]:
    """Every annotator's confusion matrix in long form: one row per (annotator, true class, said class).

    Columns ``worker``, ``true``, ``said`` (class names, as values: any name is safe) and
    ``probability`` (``P(said | true)`` under the model: Dawid-Skene's, Bayesian DS's and EBCC's own
    matrices; one-coin's and GLAD's symmetric ones, GLAD's at the median item's difficulty; for majority
    vote the labels counted against the vote shares). Rows by annotator, then true, then said class.
    """
    from emcrowd.quality import annotator_confusions

    confusion = annotator_confusions(data, annotator_model(data, result))
    k = data.n_classes
    classes = np.arange(k)
    return {
        "worker": NamedCodes(np.repeat(np.arange(data.n_workers), k * k), data.worker_names),
        "true": NamedCodes(np.tile(np.repeat(classes, k), data.n_workers), data.class_names),
        "said": NamedCodes(np.tile(classes, data.n_workers * k), data.class_names),
        "probability": confusion.reshape(-1),
    }


def output_tables(
    data: Labels, result: Aggregation, gold: np.ndarray | None = None
) -> dict[str, dict[str, Any]]:
    """The tables a fit writes, by file stem: ``posteriors``, ``items``, ``workers`` and ``confusion``
    (one place for every engine and command that writes a fit's outputs)."""
    return {
        "posteriors": posterior_table(data, result),
        "items": item_table(data, result, gold),
        "workers": worker_table(data, result, gold),
        "confusion": confusion_table(data, result),
    }


def drop_flagged(
    data: Labels, result: Aggregation, gold: np.ndarray | None = None, **aggregate_options: Any
) -> tuple[Labels, Aggregation, list[str]]:
    """Refit without the annotators :mod:`emcrowd.quality` flags (spammer, constant, below chance).

    Parameters
    ----------
    data : Labels
    result : Aggregation
        The first fit; its annotator quality decides who is dropped.
    gold : ndarray of shape (n_items,), optional
        As for :func:`aggregate` (also given to the refit).
    **aggregate_options
        Passed to :func:`aggregate` for the refit (``ties``, ``callback``, model options); the method is
        the fitted one (``auto``'s choice is kept).

    Returns
    -------
    data : Labels
        The labels without the dropped annotators (every item kept).
    result : Aggregation
        The refit (``result`` itself when nobody was flagged).
    dropped : list of str
        The dropped annotators' names.
    """
    from emcrowd.quality import annotator_quality, flagged, without_workers

    quality = annotator_quality(data, annotator_model(data, result), gold=gold)
    drop = flagged(quality)
    if not drop.any():
        return data, result, []
    if drop.all():
        raise EmcrowdError(f"every one of the {data.n_workers} annotators is flagged: nothing left to fit")
    kept = without_workers(data, drop)
    refit = aggregate(kept, result.fitted_method, gold=gold, **aggregate_options)
    return kept, refit, [name for name, d in zip(data.worker_names, drop, strict=True) if d]
