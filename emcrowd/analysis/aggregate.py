"""One entry point over all aggregation methods.

``aggregate(data, method)`` runs one method and returns an :class:`Aggregation` with the same fields
whatever the method; the CLI and :func:`emcrowd.analysis.evaluate.compare` work with that and never with a
model's internals (:mod:`emcrowd.tables` turns it into the output tables).
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
from emcrowd.io.frames import labels_and_form, truth_codes
from emcrowd.models import METHODS, MODELS, method_name, model_options
from emcrowd.models._base import EMAggregator, IterationCallback
from emcrowd.models.classification.majority import VoteResult, majority_vote

__all__ = ["METHODS", "MODELS", "Aggregation", "aggregate", "annotator_model", "method_name", "model_options"]

if TYPE_CHECKING:
    from emcrowd.analysis.selection import Selection


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
    majority : VoteResult
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
    majority: VoteResult
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
    data: Any,
    method: str = "glad",
    *,
    gold: Any = None,
    ties: str = "lowest",
    callback: IterationCallback | None = None,
    init: Any = None,
    start_posteriors: np.ndarray | None = None,
    **options: Any,
) -> Aggregation:
    """Aggregate ``data`` with one method.

    Parameters
    ----------
    data : Labels, DataFrame or pyarrow.Table
        The labels; a table of one row per label (pandas, polars, pyarrow) is read as the models read
        it (:func:`emcrowd.io.frames.labels_and_form`), and so is a numeric matrix. The result is in
        codes of the labels that were read (``Aggregation.labels``).
    method : str
        ``majority``, ``glad``, ``dawid_skene``, ``one_coin``, ``bayesian_ds``, ``ebcc``, ``mace`` or
        ``auto`` (see :func:`method_name`).
    gold : optional
        Known labels, clamped by the EM methods (majority vote ignores them): by item id (a pandas
        Series indexed by item, a mapping, a two-column table), or one per item in the items' order
        (class codes, ``-1`` = unknown); see :func:`emcrowd.io.frames.truth_codes`.
    ties : {"lowest", "random"}
        Majority vote's tie rule (``random`` is seeded by ``random_state``, default 0).
    callback : callable, optional
        Progress hook for EM methods, ``callback(n_iter, objective)``.
    init : optional
        A previous fit of the same EM method (or a :class:`emcrowd.models._warm.WarmStart`) to start
        from (``fit(data, init=...)``); majority vote has nothing to start from and ignores it.
    start_posteriors : ndarray of shape (n_items, n_classes), optional
        Posteriors an EM method's (single) run starts from instead of its own start (``auto`` on
        large data: from the chosen method's fit on a subset of the items).
    **options
        Passed to the model's constructor: for every EM model ``class_prior``, ``learn_class_prior``,
        ``class_pseudocount``, ``tol``, ``max_iter``, ``n_init``, ``random_state``; for GLAD also
        ``alpha_prior`` and ``beta_prior``; for Dawid-Skene, one-coin and MACE ``smoothing`` (MACE also
        ``competence_prior``).

    Returns
    -------
    Aggregation
    """
    method = method_name(method)
    data, gold = labels_and_gold(data, gold)
    budget.check_fit(data, [method], options)
    start = time.perf_counter()
    if method == "auto":
        if init is not None:
            raise EmcrowdError("auto chooses its method afresh: start warm with the method it chose")
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
    if start_posteriors is not None:
        from emcrowd.analysis.selection import warm_started

        warm_started(model, start_posteriors)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(data, gold=gold, callback=callback, init=init)
    if hasattr(model, "integrate_difficulty"):  # GLAD: the posteriors with b_j integrated out
        model.integrate_difficulty(data, gold)
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


def labels_and_gold(data: Any, gold: Any) -> tuple[Labels, np.ndarray | None]:
    """The labels of any input the models take, and gold labels of any form as class codes."""
    if not isinstance(data, Labels):
        data, _ = labels_and_form(data)
    return data, None if gold is None else truth_codes(gold, data, name="gold")


def auto_aggregate(
    data: Any,
    *,
    gold: Any = None,
    ties: str = "lowest",
    callback: IterationCallback | None = None,
    options: dict[str, Any] | None = None,
    done: dict[str, Aggregation] | None = None,
) -> Aggregation:
    """``auto``: choose a method without gold (:func:`emcrowd.analysis.selection.select_method`) and
    return that method's fit on all the labels: the one the choice made on the way (or found in
    ``done``, fits already run with the same options, as in a comparison), else, when the choice was
    made on a subset of large data, a fit of the chosen method. ``fit_seconds`` counts the choice and
    the chosen fit."""
    from dataclasses import replace

    from emcrowd.analysis.selection import posteriors_from_annotators, select_method

    start = time.perf_counter()
    data, gold = labels_and_gold(data, gold)
    options = options or {}

    def fit(part: Labels, method: str, part_gold: np.ndarray | None) -> Aggregation:
        return aggregate(
            part, method, gold=None if method == "majority" else part_gold, ties=ties,
            callback=None if method == "majority" else callback, **model_options(method, options),
        )  # fmt: skip

    selection = select_method(
        data, options=model_options("auto", options), gold=gold, random_state=options.get("random_state", 0),
        ties=ties, callback=callback, done=done, fit=fit,
    )  # fmt: skip
    chosen = selection.fits.get(selection.chosen)
    if chosen is None:  # chosen on a subset of the items: its fit there starts the fit on all of them
        chosen_options = model_options(selection.chosen, options)
        first = None
        if int(chosen_options.get("n_init", 1)) == 1:
            first = posteriors_from_annotators(selection.subset_model, data)
        chosen = aggregate(
            data, selection.chosen, gold=None if selection.chosen == "majority" else gold, ties=ties,
            callback=callback, start_posteriors=first, **chosen_options,
        )  # fmt: skip
    selection.subset_model = None
    selection.fits = {}  # let go of the other candidates' fits
    if chosen.model is None and gold is not None and (np.asarray(gold) >= 0).any():
        # majority vote chosen: the known labels are clamped as the models clamp them
        known = np.asarray(gold) >= 0
        posteriors = chosen.posteriors.copy()
        posteriors[known] = np.eye(data.n_classes)[np.asarray(gold)[known]]
        labels = chosen.labels.copy()
        labels[known] = np.asarray(gold)[known]
        chosen = replace(chosen, posteriors=posteriors, labels=labels)
    # fits taken from ``done`` count as if auto had run them itself
    reused = sum(
        f.fit_seconds for m, f in (done or {}).items() if m in selection.scores and not selection.large
    )
    seconds = time.perf_counter() - start + reused
    return replace(chosen, method="auto", selection=selection, fit_seconds=seconds)


def below_chance(data: Labels, model: EMAggregator) -> np.ndarray:
    """Which annotators the model finds worse than chance, shape (n_workers,): their accuracy (for
    GLAD, at a typical item) below ``1 / n_classes``. For GLAD with more than two classes that is not
    ``alpha < 0``: a negative alpha means an accuracy below 1/2, which can still beat chance."""
    return model.accuracy_ < 1.0 / data.n_classes


def flip_warnings(data: Labels, model: EMAggregator, mv: VoteResult) -> list[str]:
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


def annotator_model(data: Labels, result: Aggregation) -> Any:
    """The fitted model whose annotator parameters :mod:`emcrowd.analysis.quality` reads: the EM model, or for
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


def drop_flagged(
    data: Labels, result: Aggregation, gold: np.ndarray | None = None, **aggregate_options: Any
) -> tuple[Labels, Aggregation, list[str]]:
    """Refit without the annotators :mod:`emcrowd.analysis.quality` flags (spammer, constant, below chance).

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
    from emcrowd.analysis.quality import annotator_quality, flagged, without_workers

    quality = annotator_quality(data, annotator_model(data, result), gold=gold)
    drop = flagged(quality)
    if not drop.any():
        return data, result, []
    if drop.all():
        raise EmcrowdError(f"every one of the {data.n_workers} annotators is flagged: nothing left to fit")
    kept = without_workers(data, drop)
    refit = aggregate(kept, result.fitted_method, gold=gold, **aggregate_options)
    return kept, refit, [name for name, d in zip(data.worker_names, drop, strict=True) if d]
