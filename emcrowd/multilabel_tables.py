"""A multi-select fit as output tables: posteriors (one column per class), items (the set at the
threshold, its uncertainty), workers (sensitivity and specificity, overall and per class), the
ranking of ``relabel``, and the summary record.

Output layer: may import the analysis, the models, :mod:`emcrowd.io` and the core modules.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from emcrowd.analysis.multilabel import uncertain_items
from emcrowd.multilabels import MultiLabels


def set_text(row: np.ndarray, names: np.ndarray) -> str:
    """An item's set as a JSON array of class names (read back by every multi-select reader)."""
    return json.dumps([str(n) for n in names[row]], ensure_ascii=False)


def posterior_table(data: MultiLabels, model: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"item": list(data.item_names)}
    for k, name in enumerate(data.class_names):
        table[str(name)] = model.posteriors_[:, k]
    return table


def item_table(data: MultiLabels, model: Any, gold: np.ndarray | None = None) -> dict[str, Any]:
    names = np.asarray(data.class_names, dtype=object)
    table: dict[str, Any] = {
        "item": list(data.item_names),
        "classes": [set_text(row, names) for row in model.sets_],
        "n_classes": model.sets_.sum(axis=1),
        "n_answers": data.answers_per_item(),
        "uncertainty": uncertain_items(np.asarray(model.posteriors_, dtype=float)),
    }
    if gold is not None:
        known = (gold >= 0).all(axis=1)
        table["gold"] = [
            set_text(row == 1, names) if ok else None for row, ok in zip(gold, known, strict=True)
        ]
    return table


def worker_table(data: MultiLabels, model: Any) -> dict[str, Any]:
    """Per annotator: answers, classes ticked per answer and, for the EM model, its mean sensitivity and
    specificity (the centre of its prior), the averages over classes and the per-class rates."""
    per_worker = data.answers_per_worker()
    ticked = np.bincount(data.worker, weights=data.ticks.sum(axis=1), minlength=data.n_workers)
    table: dict[str, Any] = {
        "worker": list(data.worker_names),
        "n_answers": per_worker,
        "classes_per_answer": ticked / np.maximum(per_worker, 1),
    }
    if hasattr(model, "sensitivity_"):
        table["mean_sensitivity"] = model.mean_sensitivity_
        table["mean_specificity"] = model.mean_specificity_
        table.update(model.worker_table())
    return table


def fit_tables(data: MultiLabels, model: Any, gold: np.ndarray | None = None) -> dict[str, dict[str, Any]]:
    """The tables ``fit --multi-label`` writes, by file stem."""
    return {
        "posteriors": posterior_table(data, model),
        "items": item_table(data, model, gold),
        "workers": worker_table(data, model),
    }


def relabel_table(data: MultiLabels, model: Any, budget: int) -> dict[str, Any]:
    """The ``budget`` items whose set is least certain (largest expected number of wrongly decided
    classes), most uncertain first; ties by item order."""
    score = uncertain_items(np.asarray(model.posteriors_, dtype=float))
    order = np.argsort(-score, kind="stable")[:budget]
    names = np.asarray(data.class_names, dtype=object)
    p = model.posteriors_[order]
    closest = np.argmin(np.abs(p - 0.5), axis=1)
    return {
        "item": [data.item_names[j] for j in order],
        "classes": [set_text(row, names) for row in model.sets_[order]],
        "uncertainty": score[order],
        "least_certain_class": [str(names[k]) for k in closest],
        "n_answers": data.answers_per_item()[order],
    }


def summary_record(data: MultiLabels, model: Any, method: str, source: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "task": "multi-label",
        "method": method,
        "threshold": float(getattr(model, "threshold", 0.5)),
        "source": source,
        **data.describe(),
        "items_per_class": {
            c: int(n) for c, n in zip(data.class_names, model.sets_.sum(axis=0), strict=True)
        },
    }
    if hasattr(model, "prevalence_"):
        record["prevalence"] = {c: float(p) for c, p in zip(data.class_names, model.prevalence_, strict=True)}
        record.update(
            n_iter=int(model.n_iter_), converged=bool(model.converged_), objective=float(model.lower_bound_),
            n_init=int(model.n_init), n_gold=int(model.n_gold_),
        )  # fmt: skip
    return record
