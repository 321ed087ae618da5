"""Multi-select results: fitting by method name, scores against gold sets, agreement per class, and
which items' sets are least certain.

May import: :mod:`emcrowd.models`, :mod:`emcrowd.io` and the core modules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emcrowd.models.multilabel import PerClassDawidSkene, PerClassMajority, multi_label_method
from emcrowd.multilabels import MultiLabels


def fit_multilabel(
    data: MultiLabels,
    method: str | None = None,
    *,
    gold: np.ndarray | None = None,
    callback: Any = None,
    **options: Any,
) -> Any:
    """A fitted multi-select model by method name (``per_class_ds``, the default, or ``majority``);
    ``options`` are the model's (tol, max_iter, n_init, random_state, threshold, strength, ...), the
    ones it does not take ignored."""
    method = multi_label_method(method)
    if method == "majority":
        return PerClassMajority(threshold=options.get("threshold", 0.5)).fit(data)
    accepted = PerClassDawidSkene.param_names()
    model = PerClassDawidSkene(**{k: v for k, v in options.items() if k in accepted and v is not None})
    model._fit_multi(data, gold, callback)
    return model


def set_metrics(pred: np.ndarray, truth: np.ndarray, class_names: tuple[str, ...]) -> dict[str, Any]:
    """Scores of predicted sets against gold sets, on the items with a gold set.

    Parameters
    ----------
    pred : bool array (n_items, n_classes)
    truth : int array (n_items, n_classes), 1/0, -1 for items without gold

    Returns
    -------
    dict
        ``n_items`` (scored), ``micro_f1``, ``macro_f1`` (mean over classes of their F1; a class
        never present nor predicted has F1 1), ``exact_set_accuracy``, ``hamming_loss`` and
        ``f1_per_class``.
    """
    known = (truth >= 0).all(axis=1)
    p = pred[known].astype(bool)
    t = truth[known] == 1
    tp = (p & t).sum(axis=0)
    fp = (p & ~t).sum(axis=0)
    fn = (~p & t).sum(axis=0)
    denom = 2 * tp + fp + fn
    per_class = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 1.0)
    micro_denom = int(denom.sum())
    n = int(known.sum())
    return {
        "n_items": n,
        "micro_f1": float(2 * tp.sum() / micro_denom) if micro_denom else 1.0,
        "macro_f1": float(per_class.mean()),
        "exact_set_accuracy": float((p == t).all(axis=1).mean()) if n else float("nan"),
        "hamming_loss": float((p != t).mean()) if n else float("nan"),
        "f1_per_class": {c: float(v) for c, v in zip(class_names, per_class, strict=True)},
    }


def compare_multilabel(
    data: MultiLabels,
    truth: np.ndarray,
    methods: tuple[str, ...] = ("majority", "per_class_ds"),
    **options: Any,
) -> dict[str, Any]:
    """Every method's :func:`set_metrics` against the gold sets, and each one's gain over per-class
    majority vote (micro and macro F1, exact-set accuracy; Hamming loss as the drop)."""
    results: dict[str, Any] = {}
    for method in methods:
        model = fit_multilabel(data, method, **options)
        results[multi_label_method(method)] = set_metrics(model.sets_, truth, data.class_names)
    base = results.get("majority")
    if base is None:
        base = set_metrics(PerClassMajority().fit(data).sets_, truth, data.class_names)
    for scores in results.values():
        scores["gain_over_majority"] = {
            "micro_f1": scores["micro_f1"] - base["micro_f1"],
            "macro_f1": scores["macro_f1"] - base["macro_f1"],
            "exact_set_accuracy": scores["exact_set_accuracy"] - base["exact_set_accuracy"],
            "hamming_loss": base["hamming_loss"] - scores["hamming_loss"],
        }
    return results


def class_agreement(data: MultiLabels) -> dict[str, dict[str, float]]:
    """Agreement on each class as a present/absent question, over the items with two answers or more.

    Per class: ``ticked`` (share of answers that tick it), ``agreement`` (share of agreeing pairs of
    answers on an item, pairs weighted as Krippendorff's) and ``alpha`` (Krippendorff's alpha for
    two nominal values; NaN when every answer agrees by construction, one value only).
    """
    m = np.bincount(data.item, minlength=data.n_items).astype(float)
    pairable = m >= 2
    out: dict[str, dict[str, float]] = {}
    for c, name in enumerate(data.class_names):
        n1 = np.bincount(data.item, weights=data.ticks[:, c], minlength=data.n_items)
        n0 = m - n1
        n1p, n0p, mp = n1[pairable], n0[pairable], m[pairable]
        total = mp.sum()
        disagree = (2 * n1p * n0p / np.maximum(mp - 1, 1)).sum()
        big1, big0 = n1p.sum(), n0p.sum()
        expected = 2 * big1 * big0 / max(total - 1, 1)
        alpha = 1 - disagree / expected if expected > 0 else float("nan")
        out[name] = {
            "ticked": float(data.ticks[:, c].mean()),
            "agreement": float(1 - disagree / total) if total else float("nan"),
            "alpha": float(alpha),
        }
    return out


def uncertain_items(posteriors: np.ndarray) -> np.ndarray:
    """Each item's expected number of wrongly decided classes at threshold 1/2, ``sum_c min(p, 1-p)``:
    the ranking of ``relabel`` (largest first)."""
    return np.minimum(posteriors, 1.0 - posteriors).sum(axis=1)
