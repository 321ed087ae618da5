"""The page's data: everything the page shows, as one JSON-ready dict (see :func:`page_data`).

Tables travel column by column (``{"name", "type", "values"}``, or ``"names"`` and ``"codes"`` for a
text column with few distinct values), so the page renders whatever columns the output tables have.
Aggregates (class distribution, crowd confusion, the confidence histogram) are computed here over every
item, before any sampling; only the items table and who-said-what are limited to :data:`MAX_ITEMS`.
"""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

import numpy as np

from emcrowd.html_report._util import _floats, _index_of

#: Items the page holds in full. Beyond it, the page holds the :data:`N_LEAST_CERTAIN` least certain
#: items and a seeded random sample of the rest, up to this many, and says so.
MAX_ITEMS = 100_000
N_LEAST_CERTAIN = 20_000
#: Annotators the page holds (those with the most labels beyond it).
MAX_WORKERS = 50_000
#: Confidence histogram bins.
N_BINS = 20
#: Off-diagonal cells of the crowd confusion listed as the most confused pairs.
N_PAIRS = 10
_FLOAT_DIGITS = 4


def _scaled(values: np.ndarray) -> dict[str, Any]:
    """Numbers as integers and a scale (``value = int / scale``; missing as ``null``): integers are
    written and read much faster than floats, and take fewer bytes at :data:`_FLOAT_DIGITS` digits."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    whole = bool(np.all(values[finite] == np.round(values[finite])))
    scale = 1 if whole else 10**_FLOAT_DIGITS
    ints = np.round(np.where(finite, values, 0.0) * scale).astype(np.int64).tolist()
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            ints[i] = None
    return {"scale": scale, "ints": ints}


def encode_column(name: str, values: np.ndarray) -> dict[str, Any]:
    """One table column for the page: numbers as scaled integers, text with few distinct values as
    codes into its distinct values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.asarray(values)
    if values.dtype == bool:
        return {"name": name, "type": "bool", "values": values.astype(int).tolist()}
    if values.dtype.kind in "fiu":
        return {"name": name, "type": "num", **_scaled(values)}
    text = pa.array(values, type=pa.string())
    encoded = pc.dictionary_encode(text)
    if len(encoded.dictionary) <= max(16, len(text) // 8):
        return {
            "name": name,
            "type": "str",
            "names": encoded.dictionary.to_pylist(),
            "codes": encoded.indices.to_numpy(zero_copy_only=False).tolist(),
        }
    return {"name": name, "type": "str", "values": text.to_pylist()}


def encode_table(table: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, Any]:
    whole = rows.size == len(next(iter(table.values()))) if table else True
    return {
        "n": int(rows.size),
        "columns": [
            encode_column(k, np.asarray(v) if whole else np.asarray(v)[rows]) for k, v in table.items()
        ],
    }


def select_items(confidence: np.ndarray, max_items: int, n_least: int, seed: int = 0) -> np.ndarray:
    """Rows of the items the page holds, in file order: all of them up to ``max_items``; beyond, the
    ``n_least`` least confident and a seeded random sample of the rest."""
    n = confidence.size
    if n <= max_items:
        return np.arange(n)
    n_least = min(n_least, max_items)
    key = np.where(np.isfinite(confidence), confidence, -np.inf)
    least = np.argsort(key, kind="stable")[:n_least]
    rest = np.setdiff1d(np.arange(n), least, assume_unique=True)
    sample = np.random.default_rng(seed).choice(rest, size=max_items - n_least, replace=False)
    return np.sort(np.concatenate([least, sample]))


def _class_codes(texts: np.ndarray, classes: list[str]) -> np.ndarray:
    return _index_of(texts, classes)


def _unquote(text: str) -> str:
    return text.replace("%3B", ";").replace("%3A", ":").replace("%25", "%")


def crowd_counts_from_votes(votes: np.ndarray, label: np.ndarray, classes: list[str]) -> np.ndarray:
    """``counts[t, s]``: labels saying ``s`` on items labelled ``t``, from the ``votes`` column
    (``cat:3;dog:2``) when the labels file is not at hand."""
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((k, k), dtype=np.int64)
    memo: dict[str, list[tuple[int, int]]] = {}
    for split, t in zip(votes.tolist(), label.tolist(), strict=True):
        if t < 0 or not split:
            continue
        parts = memo.get(split)
        if parts is None:
            parts = []
            for part in str(split).split(";"):
                name, _, n = part.rpartition(":")
                if _unquote(name) in index and n.isdigit():
                    parts.append((index[_unquote(name)], int(n)))
            memo[split] = parts
        for s, n in parts:
            counts[t, s] += n
    return counts


def _pairs(counts: np.ndarray, classes: list[str]) -> list[dict[str, Any]]:
    k = len(classes)
    rows = counts.sum(axis=1)
    cells = [(int(counts[t, s]), t, s) for t in range(k) for s in range(k) if t != s and counts[t, s] > 0]
    cells.sort(key=lambda c: -c[0])
    return [
        {"true": classes[t], "said": classes[s], "count": n, "share": n / rows[t] if rows[t] else None}
        for n, t, s in cells[:N_PAIRS]
    ]


def classification_data(fit: dict[str, Any], labels: Any, item_label: np.ndarray) -> dict[str, Any]:
    """What the per-class section shows: prevalence, crowd accuracy per class, the crowd confusion
    (labels said against the chosen label) with counts, the most confused pairs."""
    summary, items = fit["summary"], fit["items"]
    classes = [str(c) for c in summary["classes"]]
    k = len(classes)
    if labels is not None:
        chosen = item_label[labels.item]
        keep = chosen >= 0
        counts = np.bincount(chosen[keep] * k + labels.label[keep], minlength=k * k).reshape(k, k)
    elif "votes" in items:
        counts = crowd_counts_from_votes(items["votes"], item_label, classes)
    else:
        counts = np.zeros((k, k), dtype=np.int64)
    n_items = np.bincount(item_label[item_label >= 0], minlength=k)
    prior = summary.get("class_prior")
    prior = prior if isinstance(prior, list) and len(prior) == k else [None] * k
    confidence = np.asarray(items["confidence"], dtype=float)
    per_class = []
    for c in range(k):
        row = counts[c].sum()
        mine = confidence[item_label == c]
        per_class.append(
            {
                "class": classes[c],
                "prevalence": prior[c],
                "n_items": int(n_items[c]),
                "share_items": float(n_items[c] / max(1, n_items.sum())),
                "crowd_accuracy": float(counts[c, c] / row) if row else None,
                "mean_confidence": float(np.nanmean(mine)) if mine.size else None,
                "n_labels": int(row),
            }
        )
    return {
        "classes": per_class,
        "crowd_confusion": counts.tolist(),
        "confused_pairs": _pairs(counts, classes),
    }


def _labels_payload(
    labels: Any, item_rows: np.ndarray, worker_rows: np.ndarray, n_items: int, n_workers: int
) -> dict[str, Any]:
    """Who said what on the items the page holds: per page row ``i``, the labels
    ``offsets[i]:offsets[i + 1]`` of ``packed``, each ``(annotator + 1) * n_classes + class``, the
    annotator a row of the page's annotators table (-1 when the page does not hold it)."""
    page_of_item = np.full(n_items, -1, np.int64)
    page_of_item[item_rows] = np.arange(item_rows.size)
    page_of_worker = np.full(n_workers, -1, np.int64)
    page_of_worker[worker_rows] = np.arange(worker_rows.size)
    rows = page_of_item[labels.item]
    keep = rows >= 0
    order = np.argsort(rows[keep], kind="stable")
    rows = rows[keep][order]
    offsets = np.searchsorted(rows, np.arange(item_rows.size + 1))
    k = int(labels.n_classes)
    packed = (page_of_worker[labels.worker[keep][order]] + 1) * k + labels.label[keep][order]
    return {"offsets": offsets.tolist(), "packed": packed.tolist(), "n_classes": k}


def _worker_matrices(fit: dict[str, Any], labels: Any, item_label: np.ndarray, rows: np.ndarray) -> dict:
    """Per annotator row of the page: ``P(said | true)`` (confusion.csv) and the counts behind it
    (the annotator's labels against the chosen label)."""
    k = len(fit["summary"].get("classes") or [])
    names = fit["workers"]["worker"][rows]
    probs = None
    if fit["confusion"] is not None:
        nan = np.full((k, k), np.nan)
        probs = [_floats(fit["confusion"].get(str(w), nan).ravel()) for w in names]
    counts = None
    if labels is not None:
        page_of_worker = np.full(len(fit["workers"]["worker"]), -1, np.int64)
        page_of_worker[rows] = np.arange(rows.size)
        w = page_of_worker[labels.worker]
        t = item_label[labels.item]
        keep = (w >= 0) & (t >= 0)
        flat = np.bincount((w[keep] * k + t[keep]) * k + labels.label[keep], minlength=rows.size * k * k)
        counts = flat.reshape(rows.size, k * k).tolist()
    return {"probability": probs, "count": counts}


def _histogram(confidence: np.ndarray, k: int) -> dict[str, Any]:
    values = confidence[np.isfinite(confidence)]
    low = 1.0 / k if k > 1 else 0.0
    edges = np.linspace(min(low, float(values.min())) if values.size else low, 1.0, N_BINS + 1)
    counts, _ = np.histogram(values, bins=edges)
    return {"edges": _floats(edges), "counts": counts.tolist()}


def _compare_data(report: dict[str, Any]) -> dict[str, Any]:
    keep = ("n_gold", "classes", "best", "best_em", "vs_majority", "labels_file", "truth_file", "seed")
    out = {key: report.get(key) for key in keep}
    structured = ("accuracy_ci", "calibration", "confusion", "chosen")
    methods = {}
    for name, entry in report["methods"].items():
        # every scalar metric (a kind's own too: MAE, within-one, ...) and the structures drawn
        methods[name] = {
            key: value
            for key, value in entry.items()
            if key in structured
            or (key.endswith("_ci") and isinstance(value, list))  # a kind's intervals: mae_ci, ...
            or (isinstance(value, (int, float, bool)) and key not in ("objective", "seed"))
        }
    out["methods"] = methods
    agreement = report.get("agreement")
    out["agreement"] = agreement if isinstance(agreement, dict) else None
    return out


def _matching(labels: Any, classes: list[str], items: Any, workers: Any, note: str | None) -> tuple[Any, Any]:
    """The labels as rows of the items and workers tables and class codes in the fit's order, or None
    (and why) when the file is not the one the fit read (other classes, items or annotators)."""
    index = {c: i for i, c in enumerate(classes)}
    remap = np.array([index.get(str(c), -1) for c in labels.class_names], dtype=np.int64)
    items_of = _index_of(list(labels.item_names), items)
    workers_of = _index_of(list(labels.worker_names), workers)
    if (remap < 0).any() or (items_of < 0).any() or (workers_of < 0).any():
        return None, "the labels file does not match this fit (other classes, items or annotators)"
    view = SimpleNamespace(
        item=items_of[labels.item],
        worker=workers_of[labels.worker],
        label=remap[labels.label],
        n_classes=len(classes),
    )
    return view, note


def page_data(
    fit: dict[str, Any],
    compare: dict[str, Any] | None,
    labels: Any,
    labels_note: str | None,
    *,
    source_dir: str,
    max_items: int = MAX_ITEMS,
    n_least: int = N_LEAST_CERTAIN,
) -> dict[str, Any]:
    """The dict the page is drawn from (JSON-ready; see the page's script for how it is read)."""
    from emcrowd.console import METHOD_TITLES
    from emcrowd.html_report._kinds import (
        KIND_METHOD_TITLES,
        compare_kind,
        kind_blocks,
        kind_compare_data,
        kind_of,
    )

    summary, items, workers = fit["summary"], fit["items"], fit["workers"]
    classes = [str(c) for c in summary.get("classes") or []]
    kind = kind_of(summary, workers, compare)
    answers = None
    if kind == "multilabel":  # multi-select answers: read by the kind's own view
        answers, labels = labels, None
    method = str(summary.get("method") or "?")
    fitted = str(summary.get("fitted_method") or method)
    n_all = len(items["item"])
    confidence = np.asarray(items.get("confidence", np.full(n_all, np.nan)), dtype=float)
    if classes and "label" in items:
        item_label = _class_codes(items["label"], classes)
    else:
        item_label = np.full(n_all, -1, dtype=np.int64)
    if labels is not None and kind in ("classification", "ordinal"):
        labels, labels_note = _matching(labels, classes, items["item"], workers["worker"], labels_note)
    certainty = confidence  # beyond max_items the page keeps the least certain items
    if not np.isfinite(confidence).any():  # other kinds: the largest uncertainty (sets), sd (numbers)
        names = [c for c in ("uncertainty", "sd") if c in items and np.asarray(items[c]).dtype.kind == "f"]
        spread = items[names[0]] if names else None
        certainty = confidence if spread is None else -np.asarray(spread, dtype=float)
    item_rows = select_items(certainty, max_items, n_least)
    worker_rows = np.arange(len(workers["worker"]))
    if worker_rows.size > MAX_WORKERS and "n_labels" in workers:
        worker_rows = np.sort(
            np.argsort(-np.asarray(workers["n_labels"], float), kind="stable")[:MAX_WORKERS]
        )
    selection = summary.get("selection") if isinstance(summary.get("selection"), dict) else None
    written = datetime.datetime.fromtimestamp(fit["written"], tz=datetime.UTC)
    flags = [str(f).split(";") for f in workers.get("flags", ())]
    review = ("spammer", "constant", "below_chance")
    history = [x for x in (summary.get("objective") or []) if x is not None]
    data: dict[str, Any] = {
        "kind": kind,
        "meta": {
            "method": method,
            "fitted_method": fitted,
            "title": METHOD_TITLES.get(fitted) or KIND_METHOD_TITLES.get(fitted, fitted),
            "asked_title": METHOD_TITLES.get(method) or KIND_METHOD_TITLES.get(method, method),
            "reason": selection.get("reason") if selection else None,
            "scores": selection.get("scores") if selection else None,
            "source": (summary.get("input") or {}).get("source"),
            "output": source_dir,
            "written": written.strftime("%Y-%m-%d %H:%M UTC"),
            "version": summary.get("emcrowd_version"),
            "classes": classes,
            "engine": summary.get("engine"),
            "warnings": summary.get("warnings") or [],
        },
        "headline": {
            "n_items": summary.get("n_items", n_all),
            "n_workers": summary.get("n_workers", len(workers["worker"])),
            "n_labels": summary.get("n_labels"),
            "n_classes": len(classes),
            "n_gold": summary.get("n_gold"),
            "mean_confidence": float(np.nanmean(confidence)) if np.isfinite(confidence).any() else None,
            "n_uncertain": int(np.sum(confidence < 0.9)) if np.isfinite(confidence).any() else None,
            "n_differ": (summary.get("majority") or {}).get("n_differ"),
            "n_flagged": (
                int(sum(bool(set(review) & set(f)) for f in flags)) if "flags" in workers
                else int(np.sum(workers["random"])) if "random" in workers else None
            ),
            "n_sparse": int(sum("sparse" in f for f in flags)),
            "converged": summary.get("converged"),
            "n_iter": summary.get("n_iter"),
            "fit_seconds": summary.get("fit_seconds"),
        },
        "convergence": _floats(np.asarray(history, dtype=float)) if history else [],
        "confidence_histogram": (
            _histogram(confidence, len(classes)) if np.isfinite(confidence).any() else None
        ),
        "items": encode_table(items, item_rows),
        "items_note": {"shown": int(item_rows.size), "total": n_all, "least": min(n_least, max_items)},
        "workers": encode_table(workers, worker_rows),
        "workers_note": {"shown": int(worker_rows.size), "total": len(workers["worker"])},
        "worker_matrices": _worker_matrices(fit, labels, item_label, worker_rows),
        "labels": None if labels is None else _labels_payload(
            labels, item_rows, worker_rows, n_all, len(workers["worker"])
        ),
        "labels_note": labels_note,
        "compare": None if compare is None else (
            _compare_data(compare) if compare_kind(compare) == "classification"
            else kind_compare_data(compare)
        ),
    }  # fmt: skip
    answers_of_kind = answers if kind == "multilabel" else labels
    if kind in ("classification", "ordinal"):
        data["classification"] = classification_data(fit, labels, item_label)
    from emcrowd.html_report._machines import machines_block

    data["machines"] = machines_block(fit)
    data.update(kind_blocks(kind, fit, answers_of_kind, labels_note, item_rows, worker_rows, data))
    return data
