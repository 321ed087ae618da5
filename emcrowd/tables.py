"""The one place a result becomes output tables: columns ready to be written, codes mapped back to the
user's ids and class names (``items.csv``, ``workers.csv``, ``posteriors.csv``, ``confusion.csv``,
``relabel.csv``, ``summary.json``).

May import: :mod:`emcrowd.analysis`, :mod:`emcrowd.models`, :mod:`emcrowd.io` and the core modules.
Never the CLI.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emcrowd._version import __version__
from emcrowd.analysis.aggregate import Aggregation, annotator_model
from emcrowd.analysis.agreement import item_agreement
from emcrowd.analysis.quality import annotator_confusions, annotator_quality, answer_counts, workers_to_review
from emcrowd.analysis.relabel import relabel_table, vote_margin, vote_split
from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.io.outputs import NamedCodes
from emcrowd.models.classification.glad import GLAD
from emcrowd.models.classification.mace import MACE
from emcrowd.models.classification.majority import vote_counts


def fit_record(
    data: Labels, result: Aggregation, load_report: Any = None, peak_memory_mb: float | None = None
) -> dict[str, Any]:
    """Everything about a fit worth keeping, JSON-ready (the ``summary.json`` of ``emcrowd fit``)."""

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
        "ordered": bool(data.ordered),
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
    ``gold`` (with gold), ``votes`` (:func:`emcrowd.analysis.relabel.vote_split`, e.g. ``cat:3;dog:2``),
    ``vote_margin`` (votes of the top class minus the runner-up's; the posteriors' margin follows from
    ``posteriors.csv``), ``agreement`` (share of pairs of the item's labels that agree,
    :func:`emcrowd.analysis.agreement.item_agreement`; NaN with fewer than two labels), ``entropy`` (nats),
    and
    for GLAD ``beta``, ``difficulty``.
    """

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


def worker_table(data: Labels, result: Aggregation, gold: np.ndarray | None = None) -> dict[str, Any]:
    """One row per annotator, the same columns for every method (:func:`~.quality.annotator_quality`).

    Columns: ``worker``, ``n_labels``, ``accuracy`` (estimated probability of giving the true class, on
    the 0-1 scale for every model; GLAD: at the median item's difficulty; majority vote: against the vote
    shares), ``accuracy_low`` and ``accuracy_high`` (approximate 90% interval), ``gold_accuracy`` and
    ``n_gold`` (only with gold: accuracy on the gold items, and how many distinct gold items the
    annotator labelled), ``spammer_score`` (Raykar & Yu, 0 = answers unrelated to the truth, 1 = fully
    informative), ``agreement`` (share of the annotator's labels equal to the chosen label), ``flags``
    (``sparse``, ``constant``, ``below_chance``, ``spammer``, joined by ``;``), for GLAD ``alpha``, and for
    MACE ``competence`` (probability of not spamming) and ``spam_<class>`` for every class (the
    distribution of the annotator's labels when it spams), for ordinal DS ``bias`` and ``spread`` (in
    grades) and ``exact_bonus`` (log-odds bonus of the exact grade).
    The confusion matrices are in :func:`confusion_table` (long form: any class names give unique
    column names).
    """

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
    if isinstance(result.model, MACE):
        table["competence"] = result.model.competence_
        for k, name in enumerate(data.class_names):
            table[f"spam_{name}"] = result.model.spam_distribution_[:, k]
    if hasattr(result.model, "bias_") and hasattr(result.model, "spread_"):  # the ordinal model
        table["bias"] = result.model.bias_
        table["spread"] = result.model.spread_
        table["exact_bonus"] = result.model.exact_bonus_
    return table


def confusion_table(data: Labels, result: Aggregation) -> dict[str, Any]:
    """Every annotator's confusion matrix in long form: one row per (annotator, true class, said class).

    Columns ``worker``, ``true``, ``said`` (class names, as values: any name is safe) and
    ``probability`` (``P(said | true)`` under the model: Dawid-Skene's, Bayesian DS's and EBCC's own
    matrices; MACE's ``competence [said = true] + (1 - competence) spam_said``; one-coin's and GLAD's
    symmetric ones, GLAD's at the median item's difficulty; for majority
    vote the labels counted against the vote shares). Rows by annotator, then true, then said class.
    """

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


#: The columns of ``relabel.csv``, in order.
RELABEL_COLUMNS = ("item", "label", "confidence", "votes", "n_labels", "expected_gain")


def relabel_outputs(
    data: Labels, result: Any, budget: int, *, gold: np.ndarray | None = None
) -> dict[str, Any]:
    """What ``emcrowd relabel`` writes and prints: the ``budget`` items to relabel first and the
    annotators to review.

    Parameters
    ----------
    data : Labels
    result : emcrowd.analysis.aggregate.Aggregation
        A fit of ``data`` by any method (majority vote: the crowd's confusion matrices are counted
        against the vote shares, see :func:`emcrowd.analysis.aggregate.annotator_model`).
    budget : int
        Extra labels to spend, one per item: the number of rows.
    gold : ndarray of shape (n_items,), optional
        Gold class codes (``-1`` = unknown), for the annotators' gold accuracy. Fits that clamp gold
        items (every EM method) give them a one-hot posterior, so they gain nothing and rank last.

    Returns
    -------
    dict
        ``table``: the columns :data:`RELABEL_COLUMNS` of :func:`relabel_table`, best first, at most
        ``budget`` rows; ``annotators``: :func:`emcrowd.analysis.quality.workers_to_review`; ``total_gain``:
        the
        sum of the expected gains (expected extra correct items).
    """
    if isinstance(budget, bool) or int(budget) != budget or budget < 1:
        raise EmcrowdError(f"the budget must be a positive whole number of labels, got {budget!r}")
    model = annotator_model(data, result)
    quality = annotator_quality(data, model, gold=gold)
    table = relabel_table(data, model, quality=quality, limit=int(budget))
    table = {name: table[name] for name in RELABEL_COLUMNS}
    return {
        "table": table,
        "annotators": workers_to_review(quality),
        "total_gain": float(np.sum(table["expected_gain"])),
    }
