"""The views of the kinds of task beyond plain classes: ordered grades (``ordinal``), numeric answers
(``numeric``) and multi-select answers (``multilabel``). Each kind adds its block to the page's data
under its name (:func:`kind_blocks`), and ``page.js`` draws it with the function of the same name in
``KINDS``.

What each kind reads, from the files its fits write:

* ``ordinal``: a fit of classes whose ``summary.json`` says ``"ordered": true`` (or ``"kind":
  "ordinal"``), or whose method is ``ordinal_ds``, or whose ``workers`` table has the ordinal model's
  ``bias`` and ``spread`` columns. The classes are the grades, lowest first. The block holds the
  confusion over grades (the model's ``P(said | true)``, averaged over the annotators weighted by their
  labels) and each annotator's bias and spread: the model's own columns when the table has them, else
  the mean and the standard deviation of ``said - true`` (in grades) under the annotator's confusion
  matrix and the class prior.
* ``numeric``: ``summary.json``'s ``"kind": "numeric"``; items with ``estimate`` (and ``lower`` and
  ``upper``, ``gold``), workers with ``bias``, ``noise_sd`` and the ``random`` flag.
* ``multilabel``: ``summary.json``'s ``"task": "multi-label"`` (``fit --multi-label``); its summary is
  read into the common shape here (:func:`normalise_summary`), ``posteriors.csv`` is joined to the items
  as ``p[CLASS]`` columns, and the answers are read again for who ticked what and the agreement on
  each class.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from emcrowd.errors import InputError
from emcrowd.html_report._util import _floats as floats
from emcrowd.html_report._util import _index_of

#: Kinds with a view of their own here, and the title of their section.
TITLES = {"ordinal": "Grades", "numeric": "Numeric", "multilabel": "Classes (multi-select)"}
#: Display names of the kinds' methods (beside :data:`emcrowd.console.METHOD_TITLES`).
KIND_METHOD_TITLES = {
    "ordinal_ds": "Ordinal DS",
    "per_class_ds": "Per-class Dawid-Skene",
    "mean": "Mean",
    "median": "Median",
    "bias_noise": "Bias-and-noise",
    "robust": "Robust bias-and-noise",
    "crowd_machine": "Crowd + machine",
}
#: Items drawn with their interval in the numeric estimates figure (evenly spaced in estimate order).
N_INTERVALS = 400
#: Bins of the histograms drawn (residuals, ...).
N_HIST = 30
_MULTI_NAMES = ("multi-label", "multi_label", "multilabel")


def _floats(values: Any) -> list[float | None]:
    return floats(np.asarray(values, dtype=float))


# --- reading ------------------------------------------------------------------------------------


def normalise_summary(summary: Any) -> Any:
    """A multi-select ``summary.json`` in the shape the page reads (``kind``, a list of ``classes``,
    ``class_prior``, ``input``, ``n_labels``); the fields of its own kept under ``multilabel``. Any
    other summary is returned as it is."""
    if not isinstance(summary, dict):
        return summary
    task = summary.get("task") or summary.get("kind")
    if task not in _MULTI_NAMES:
        return summary
    ticked = summary.get("classes")
    classes = list(ticked) if isinstance(ticked, dict) else ticked
    prevalence = summary.get("prevalence")
    prior = None
    if isinstance(prevalence, dict) and isinstance(classes, list):
        prior = [prevalence.get(c) for c in classes]
    out = {
        **summary,
        "kind": "multilabel",
        "classes": classes,
        "class_prior": prior,
        "input": summary.get("source") if isinstance(summary.get("source"), dict) else None,
        "n_labels": summary.get("n_answers"),
        "fitted_method": summary.get("method"),
        "objective": None,  # one number (the final bound), not a history
        "multilabel": {
            key: summary.get(key)
            for key in ("threshold", "items_per_class", "classes_per_answer", "empty_answers", "objective")
        },
    }
    out["multilabel"]["ticked"] = ticked if isinstance(ticked, dict) else None
    return out


# --- the blocks ---------------------------------------------------------------------------------


def is_ordered(summary: dict[str, Any], workers: dict[str, np.ndarray], compare: Any) -> bool:
    """Whether a fit of classes is one of ordered grades (see the module's docstring)."""
    if summary.get("ordered") is True or summary.get("kind") == "ordinal":
        return True
    if "ordinal_ds" in (summary.get("method"), summary.get("fitted_method")):
        return True
    if isinstance(compare, dict) and compare.get("ordered") is True:
        return True
    return "bias" in workers and "spread" in workers


def kind_of(summary: dict[str, Any], workers: dict[str, np.ndarray], compare: Any) -> str:
    kind = str(summary.get("kind") or "classification")
    if kind == "classification" and is_ordered(summary, workers, compare):
        return "ordinal"
    return kind


def _numbers(values: Any) -> np.ndarray:
    """A column as floats: numbers as they are; text (a ``gold`` column is read as text) parsed, NaN
    where it is no number."""
    values = np.asarray(values)
    if values.dtype.kind in "fiub":
        return values.astype(float)
    out = np.full(values.size, np.nan)
    for j, text in enumerate(values.tolist()):
        with contextlib.suppress(TypeError, ValueError):
            out[j] = float(text)
    return out


def _histogram(values: np.ndarray, bins: int = N_HIST) -> dict[str, Any] | None:
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return {"edges": _floats(edges), "counts": counts.tolist()}


def ordinal_data(fit: dict[str, Any], crowd: np.ndarray, worker_rows: np.ndarray) -> dict[str, Any]:
    """The confusion over grades and each annotator's bias and spread (see the module's docstring)."""
    summary, workers = fit["summary"], fit["workers"]
    k = len(summary["classes"])
    n_labels = np.asarray(workers.get("n_labels", np.ones(len(workers["worker"]))), dtype=float)
    prior = summary.get("class_prior")
    prior = (
        np.asarray(prior, dtype=float) if isinstance(prior, list) and len(prior) == k else np.full(k, 1 / k)
    )
    matrices = None
    if fit["confusion"] is not None:
        nan = np.full((k, k), np.nan)
        matrices = (
            np.stack([fit["confusion"].get(str(w), nan) for w in workers["worker"]])
            if len(workers["worker"])
            else np.zeros((0, k, k))
        )
    if matrices is not None and np.isfinite(matrices).any():
        ok = np.isfinite(matrices).all(axis=(1, 2))
        weights = n_labels[ok] / max(n_labels[ok].sum(), 1.0)
        model = np.tensordot(weights, matrices[ok], axes=1)
        source = "model"
    else:
        rows = crowd.sum(axis=1, keepdims=True)
        model = np.divide(crowd, rows, out=np.zeros((k, k)), where=rows > 0)
        source = "crowd"
    if "bias" in workers and "spread" in workers:
        bias, spread, how = workers["bias"], workers["spread"], "model"
    elif matrices is not None:
        gap = np.arange(k)[None, :] - np.arange(k)[:, None]  # said - true
        mean = np.einsum("t,wts,ts->w", prior, matrices, gap)
        second = np.einsum("t,wts,ts->w", prior, matrices, gap * gap)
        bias, spread, how = mean, np.sqrt(np.maximum(second - mean * mean, 0.0)), "confusion"
    else:
        bias = spread = np.full(len(workers["worker"]), np.nan)
        how = None
    return {
        "confusion": [_floats(row) for row in model],
        "confusion_source": source,
        "bias": _floats(np.asarray(bias, dtype=float)[worker_rows]),
        "spread": _floats(np.asarray(spread, dtype=float)[worker_rows]),
        "bias_source": how,
    }


def numeric_data(fit: dict[str, Any]) -> dict[str, Any]:
    """The estimates with their intervals (a sample of :data:`N_INTERVALS` items in estimate order),
    the residuals against gold values, each annotator's bias and noise."""
    summary, items = fit["summary"], fit["items"]
    out: dict[str, Any] = {
        key: summary.get(key) for key in ("value_mean", "value_sd", "n_flagged", "flagged", "method")
    }
    estimate = _numbers(items["estimate"]) if "estimate" in items else None
    out["intervals"] = None
    out["residuals"] = None
    out["estimates"] = None
    if estimate is not None:
        finite = np.flatnonzero(np.isfinite(estimate))
        order = finite[np.argsort(estimate[finite], kind="stable")]
        if order.size > N_INTERVALS:
            order = order[np.unique(np.linspace(0, order.size - 1, N_INTERVALS).round().astype(int))]
        lower = _numbers(items.get("lower", estimate))
        upper = _numbers(items.get("upper", estimate))
        out["intervals"] = {
            "n": int(finite.size),
            "estimate": _floats(estimate[order]),
            "lower": _floats(lower[order]),
            "upper": _floats(upper[order]),
            "gold": _floats(_numbers(items["gold"])[order]) if "gold" in items else None,
        }
        out["estimates"] = _histogram(estimate)
        if "gold" in items:
            gold = _numbers(items["gold"])
            width = upper - lower
            # gold items are clamped: their residual is 0 by construction, so only the others count
            free = np.isfinite(gold) & ~(width == 0)
            if free.any():
                out["residuals"] = _histogram(estimate[free] - gold[free])
    return out


def multilabel_data(
    fit: dict[str, Any], answers: Any, note: str | None, item_rows: np.ndarray, worker_rows: np.ndarray
) -> dict[str, Any]:
    """Per class: prevalence, items in the set, share of answers ticking it, agreement and alpha (with
    the answers), the spread of the annotators' sensitivity and specificity; who ticked what."""
    summary, items, workers = fit["summary"], fit["items"], fit["workers"]
    classes = [str(c) for c in summary["classes"]]
    own = summary.get("multilabel") or {}
    ticked = own.get("ticked") or {}
    per_set = own.get("items_per_class") or {}
    prior = summary.get("class_prior") or [None] * len(classes)
    n_answers = summary.get("n_answers") or summary.get("n_labels")
    agreement = None
    if answers is not None:
        from emcrowd.analysis.multilabel import class_agreement

        agreement = class_agreement(answers)
    n_items = max(len(items["item"]), 1)
    per_class = []
    for c, name in enumerate(classes):
        entry: dict[str, Any] = {
            "class": name,
            "prevalence": prior[c],
            "n_items": per_set.get(name),
            "share_items": None if per_set.get(name) is None else per_set[name] / n_items,
            "ticked": (ticked.get(name) / n_answers) if ticked.get(name) is not None and n_answers else None,
            "agreement": None,
            "alpha": None,
        }
        if agreement is not None:
            entry["agreement"] = _floats([agreement[name]["agreement"]])[0]
            entry["alpha"] = _floats([agreement[name]["alpha"]])[0]
        for rate in ("sensitivity", "specificity"):  # the spread over the annotators: its quartiles
            column = np.asarray(workers.get(f"{rate}[{name}]", []), dtype=float)
            column = column[np.isfinite(column)]
            entry[rate] = _floats(np.percentile(column, [25, 50, 75])) if column.size else None
        per_class.append(entry)
    payload = None
    if answers is not None:
        payload = _answers_payload(fit, answers, classes, item_rows, worker_rows)
        if payload is None:
            note = "the labels file does not match this fit (other classes, items or annotators)"
    return {
        "classes": per_class,
        "threshold": own.get("threshold"),
        "answers": payload,
        "answers_note": note,
    }


def _answers_payload(
    fit: dict[str, Any], answers: Any, classes: list[str], item_rows: np.ndarray, worker_rows: np.ndarray
) -> dict[str, Any] | None:
    """Who ticked what, per row ``i`` of the page's items table: the answers ``offsets[i]:offsets[i +
    1]``, each an annotator (a row of the page's annotators table, -1 when the page does not hold it)
    and the classes it ticked (indices into ``classes``). None when the answers are not this fit's."""
    items_of = _index_of(list(answers.item_names), fit["items"]["item"])
    workers_of = _index_of(list(answers.worker_names), fit["workers"]["worker"])
    index = {c: i for i, c in enumerate(classes)}
    remap = np.array([index.get(str(c), -1) for c in answers.class_names], dtype=np.int64)
    if (items_of < 0).any() or (workers_of < 0).any() or (remap < 0).any():
        return None
    page_of_item = np.full(len(fit["items"]["item"]), -1, np.int64)
    page_of_item[item_rows] = np.arange(item_rows.size)
    page_of_worker = np.full(len(fit["workers"]["worker"]), -1, np.int64)
    page_of_worker[worker_rows] = np.arange(worker_rows.size)
    rows = page_of_item[items_of[answers.item]]
    held = np.flatnonzero(rows >= 0)
    order = held[np.argsort(rows[held], kind="stable")]
    offsets = np.searchsorted(rows[order], np.arange(item_rows.size + 1))
    sets = [remap[np.flatnonzero(t)].tolist() for t in answers.ticks[order]]
    worker = page_of_worker[workers_of[answers.worker[order]]]
    return {"offsets": offsets.tolist(), "worker": worker.tolist(), "sets": sets}


def kind_blocks(
    kind: str,
    fit: dict[str, Any],
    answers: Any,
    answers_note: str | None,
    item_rows: np.ndarray,
    worker_rows: np.ndarray,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The block of the page's data for a kind beyond plain classes (``ordinal`` beside the
    ``classification`` block already in ``data``; ``numeric``; ``multilabel``). ``answers``: a
    multi-select fit's answers read again (:class:`~emcrowd.multilabels.MultiLabels`), or None."""
    if kind == "ordinal":
        crowd = np.asarray(data["classification"]["crowd_confusion"], dtype=float)
        return {"ordinal": ordinal_data(fit, crowd, worker_rows)}
    if kind == "numeric":
        return {"numeric": numeric_data(fit)}
    if kind == "multilabel":
        return {"multilabel": multilabel_data(fit, answers, answers_note, item_rows, worker_rows)}
    return {}


# --- comparisons ----------------------------------------------------------------------------------


def compare_kind(report: dict[str, Any]) -> str:
    """The kind of task a ``compare --json`` report scores: ``numeric``, ``multilabel`` or
    ``classification`` (ordered grades included)."""
    kind = report.get("kind") or report.get("task")
    if kind in _MULTI_NAMES:
        return "multilabel"
    return "numeric" if kind == "numeric" else "classification"


def check_kind_compare(path: Path, report: dict[str, Any]) -> bool:
    """Check a numeric or multi-select report's methods (one line naming the file when malformed);
    False for a report of classes (checked by its own reader)."""
    kind = compare_kind(report)
    if kind == "classification":
        return False
    need = ("mae", "rmse") if kind == "numeric" else ("micro_f1", "macro_f1")
    for name, entry in report["methods"].items():
        if not isinstance(entry, dict):
            raise InputError(path, f"method {name!r} is not an object")
        for key in need:
            if not isinstance(entry.get(key), (int, float)) or isinstance(entry.get(key), bool):
                raise InputError(path, f"method {name!r} has no {key} (a number)")
    return True


def kind_compare_data(report: dict[str, Any]) -> dict[str, Any]:
    """A numeric or multi-select comparison for the page: every scalar metric, the intervals
    (``*_ci``) and, multi-select, the F1 of each class."""
    methods = {}
    for name, entry in report["methods"].items():
        keep = {}
        for key, value in entry.items():
            scalar = isinstance(value, (int, float, bool)) and key != "seed"
            interval = key.endswith("_ci") and isinstance(value, list)
            nested = key in ("f1_per_class", "gain_over_majority") and isinstance(value, dict)
            if scalar or interval or nested:
                keep[key] = value
        methods[name] = keep
    out = {
        "kind": compare_kind(report),
        "methods": methods,
        "n_gold": report.get("n_scored")
        or next((e.get("n_items") for e in report["methods"].values() if isinstance(e, dict)), None),
        "truth_file": report.get("truth_file"),
        "labels_file": report.get("labels_file"),
    }
    return _clean(out)


def _clean(value: Any) -> Any:
    """Non-finite numbers as None, in nested dicts and lists (the page's JSON has no NaN)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
