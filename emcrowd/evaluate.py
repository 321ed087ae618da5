"""Score aggregation methods against gold labels; returns a plain metrics dict (JSON-ready)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emcrowd.aggregate import METHODS, Aggregation, aggregate
from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models._base import IterationCallback


class NoGoldError(EmcrowdError):
    """The truth gives no gold label for any item that has crowd labels."""


def compare(
    data: Labels,
    truth: np.ndarray,
    *,
    methods: Sequence[str] = METHODS,
    gold: np.ndarray | None = None,
    options: dict[str, Any] | None = None,
    callback: IterationCallback | None = None,
) -> dict[str, Any]:
    """Run several methods on ``data`` and score each on the items that have a gold label.

    Parameters
    ----------
    data : Labels
    truth : ndarray of shape (n_items,), int
        Gold class code of each item, ``-1`` where unknown (see :func:`emcrowd.io.read_truth`).
    methods : sequence of str
        Method names (see :data:`emcrowd.aggregate.METHODS`).
    gold : ndarray of shape (n_items,), optional
        Gold class codes given to the EM methods as known labels (clamped, ``-1`` = none). Those items
        are never scored: only items with a truth label that are not in ``gold`` count.
    options : dict, optional
        Options for the EM methods (priors, ``tol``, ``max_iter``, ...).
    callback : callable, optional
        Progress hook passed to the EM methods.

    Returns
    -------
    dict
        ``{"n_items", "n_labels", "n_workers", "n_classes", "n_gold", "n_gold_unlabeled",
        "methods": {name: {"accuracy", "correct", "total", "fit_seconds", ...}}, "best",
        "vs_majority": {name: {"accuracy_gain", "fixed", "broken"}}}``. Items with a gold label but
        no crowd labels are not scored (every method could only guess) and are counted in
        ``n_gold_unlabeled``.
    """
    truth = np.asarray(truth)
    if truth.shape != (data.n_items,):
        raise EmcrowdError(f"truth has shape {truth.shape}, expected ({data.n_items},)")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        bad = unknown[0] if unknown else "(none)"
        raise EmcrowdError(f"unknown method {bad!r}; choose from {', '.join(METHODS)}")
    has_truth = truth >= 0
    labelled = data.labels_per_item() > 0
    given = np.zeros(data.n_items, dtype=bool) if gold is None else np.asarray(gold) >= 0
    scored = has_truth & labelled & ~given
    n_scored = int(scored.sum())
    if n_scored == 0:
        extra = " outside the --gold items" if given.any() else ""
        raise NoGoldError(f"no item has both a gold label and a crowd label{extra}; nothing to score")

    results: dict[str, Aggregation] = {}
    for name in methods:
        opts = {} if name == "majority" else dict(options or {})
        results[name] = aggregate(
            data, name, gold=None if name == "majority" else gold, callback=callback, **opts
        )

    correct_mask = {name: (r.labels == truth) & scored for name, r in results.items()}
    entries: dict[str, dict[str, Any]] = {}
    for name, r in results.items():
        correct = int(correct_mask[name].sum())
        entry: dict[str, Any] = {
            "accuracy": correct / n_scored,
            "correct": correct,
            "total": n_scored,
            "fit_seconds": r.fit_seconds,
        }
        if name == "majority":
            entry["n_ties"] = r.majority.n_ties
            entry["n_ties_gold"] = int((r.majority.tied & scored).sum())
        else:
            entry.update(n_iter=r.n_iter, converged=r.converged, objective=r.history[-1])
        if r.warnings:
            entry["warnings"] = r.warnings
        entries[name] = entry

    report: dict[str, Any] = {
        "n_items": data.n_items,
        "n_workers": data.n_workers,
        "n_labels": data.n_labels,
        "n_classes": data.n_classes,
        "classes": list(data.class_names),
        "n_gold": n_scored,
        "n_gold_unlabeled": int((has_truth & ~labelled & ~given).sum()),
        "n_gold_given": int(given.sum()),
        "methods": entries,
        "best": max(entries, key=lambda m: (entries[m]["accuracy"], m != "majority")),
    }
    if "majority" in results:
        report["vs_majority"] = {
            name: {
                "accuracy_gain": entries[name]["accuracy"] - entries["majority"]["accuracy"],
                "fixed": int((correct_mask[name] & ~correct_mask["majority"]).sum()),
                "broken": int((~correct_mask[name] & correct_mask["majority"] & scored).sum()),
            }
            for name in results
            if name != "majority"
        }
    return report
