"""The report's view of machine annotators (``fit --predictions`` / ``--machine``, docs/machines.md).

A crowd + machine fit writes ``summary.json`` with ``"method": "crowd_machine"`` and a ``machines``
list (per machine: its fitted accuracy per confidence bin, the bins' inner edges, the shared items in
each bin, its evidence and whether it is used), ``workers.csv`` with ``kind``, ``shared_items`` and
``used``, and ``items.csv`` with each machine's answer (``machine_NAME``) and stated confidence
(``machine_NAME_confidence``). :func:`machines_block` makes the page's ``machines`` block from them:
per machine its accuracy beside the crowd's, its coverage, used or set aside and why, and its
calibration (the mean stated confidence of each bin's shared items, counted again from ``items.csv``,
against the fitted accuracy of the bin). :func:`normalise_machine_compare` reads ``compare
--predictions --json`` in the shape of a report of classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MACHINE_METHOD = "crowd_machine"


def is_machine_summary(summary: Any) -> bool:
    return isinstance(summary, dict) and (
        summary.get("method") == MACHINE_METHOD or isinstance(summary.get("machines"), list)
    )


def normalise_machine_summary(summary: Any) -> Any:
    """A crowd + machine ``summary.json`` in the shape the page reads: the labels file as
    ``input.source`` (the fit writes ``labels_file``), its one final objective out of ``objective``
    (a history elsewhere). Any other summary is returned as it is."""
    if not is_machine_summary(summary):
        return summary
    out = dict(summary)
    if not isinstance(out.get("objective"), list):  # one number, the final objective: not a history
        out["final_objective"], out["objective"] = out.get("objective"), None
    if not isinstance(out.get("input"), dict) and isinstance(out.get("labels_file"), str):
        out["input"] = {"source": out["labels_file"]}
    return out


def check_machine_summary(path: Any, summary: Any) -> None:
    """The ``machines`` list of a crowd + machine ``summary.json``, with its types (a hand-edited or
    truncated file is one line naming it, never an internal error)."""
    from emcrowd.errors import InputError

    entries = summary.get("machines") if isinstance(summary, dict) else None
    if entries is None:
        return
    if not isinstance(entries, list):
        raise InputError(path, "'machines' must be a list (one entry per machine)")
    for m, entry in enumerate(entries):
        where = f"machines[{m}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InputError(path, f"{where} must be an object with the machine's name")
        fitted, counts = entry.get("accuracy"), entry.get("bin_items")
        edges = entry.get("confidence_edges")
        numbers = (int, float)
        if not (
            isinstance(fitted, list) and fitted and all(isinstance(a, numbers) for a in fitted)
            and isinstance(counts, list) and len(counts) == len(fitted)
            and all(isinstance(c, numbers) for c in counts)
            and (edges is None or (
                isinstance(edges, list) and len(edges) == len(fitted) - 1
                and all(isinstance(e, numbers) for e in edges)
            ))
        ):  # fmt: skip
            raise InputError(
                path, f"{where} ({entry['name']}): 'accuracy', 'bin_items' and 'confidence_edges' must "
                "be lists of numbers, one per confidence bin (edges: one fewer)",
            )  # fmt: skip


def is_machine_compare(report: Any) -> bool:
    return isinstance(report, dict) and isinstance(report.get("machines"), list)


def normalise_machine_compare(report: dict[str, Any]) -> dict[str, Any]:
    """``compare --predictions --json`` (rows: the crowd alone, each machine alone, both) with its
    interval under the name a report of classes uses (``accuracy_ci``)."""
    if not is_machine_compare(report):
        return report
    methods = {}
    for name, entry in (report.get("methods") or {}).items():
        if isinstance(entry, dict) and "accuracy_ci" not in entry and "accuracy_ci95" in entry:
            entry = {**entry, "accuracy_ci": entry["accuracy_ci95"]}
        methods[name] = entry
    return {**report, "methods": methods}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        return None
    return float(value)


def _bin_of(confidence: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The bin of each confidence, as the fit bins it: ``edges[b] < c <= edges[b + 1]``."""
    return np.searchsorted(inner, confidence, side="left").astype(np.int64)


def _reason(used: bool, evidence: float | None, shared: int, n_bins: int) -> str:
    gain = "" if evidence is None else f" (by {abs(evidence):.1f} nats)"
    if used:
        return (
            f"used: on the {shared:,} items it shares with people, its answers gain more log-likelihood "
            f"over chance than its {n_bins} confidence bin{'s' if n_bins != 1 else ''} would gain by "
            f"fitting noise{gain}"
        )
    return (
        f"set aside: on the {shared:,} items it shares with people, its answers gain less log-likelihood "
        f"over chance than its {n_bins} confidence bin{'s' if n_bins != 1 else ''} would gain by fitting "
        f"noise{gain}; the fit was made again without it"
    )


def machines_block(fit: dict[str, Any]) -> dict[str, Any] | None:
    """The page's ``machines`` block, or None for a fit without machines."""
    summary, items, workers = fit["summary"], fit["items"], fit["workers"]
    entries = summary.get("machines")
    if not isinstance(entries, list) or not entries:
        return None
    names = [str(w) for w in workers.get("worker", ())]
    kinds = [str(k) for k in workers.get("kind", [""] * len(names))]
    accuracy = np.asarray(workers.get("accuracy", np.full(len(names), np.nan)), dtype=float)
    n_labels = np.asarray(workers.get("n_labels", np.zeros(len(names))), dtype=float)
    human = np.array([k != "machine" for k in kinds], dtype=bool)
    ok = human & np.isfinite(accuracy) & (n_labels > 0)
    crowd = float(np.average(accuracy[ok], weights=n_labels[ok])) if ok.any() else None
    n_items = len(items["item"])
    shared = np.asarray(items.get("n_labels", np.zeros(n_items)), dtype=float) > 0
    if "gold" in items:  # gold items are shared too: the EM loop runs on them
        shared |= np.asarray(items["gold"], dtype=object) != ""
    label = np.asarray(items.get("label", np.full(n_items, "")), dtype=object)
    out = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("name", ""))
        fitted = [_number(a) for a in (entry.get("accuracy") or [])]
        counts = [int(c) if _number(c) is not None else 0 for c in (entry.get("bin_items") or [])]
        inner = [e for e in (entry.get("confidence_edges") or []) if _number(e) is not None]
        answer = items.get(f"machine_{name}")
        stated = items.get(f"machine_{name}_confidence")
        mean_stated: list[float | None] = [None] * len(fitted)
        counted: list[int] | None = None
        lo: list[float | None] = [None] * len(fitted)
        hi: list[float | None] = [None] * len(fitted)
        if stated is not None:
            conf = np.asarray(stated, dtype=float)
            seen = np.isfinite(conf)
            b = _bin_of(conf, np.asarray(inner, dtype=float))
            on = seen & shared
            nb = len(fitted)
            counted = np.bincount(b[on], minlength=nb)[:nb].tolist() if nb else []
            for j in range(nb):
                mine = conf[on & (b == j)]
                mean_stated[j] = float(mine.mean()) if mine.size else None
                everywhere = conf[seen & (b == j)]
                lo[j] = float(everywhere.min()) if everywhere.size else None
                hi[j] = float(everywhere.max()) if everywhere.size else None
        covered = None if answer is None else np.asarray(answer, dtype=object) != ""
        agree = None
        if answer is not None and covered is not None and covered.any():
            agree = float(np.mean(np.asarray(answer, dtype=object)[covered] == label[covered]))
        row = names.index(name) if name in names else -1
        used = entry.get("used")
        evidence = _number(entry.get("evidence"))
        shared_n = int(_number(entry.get("shared_items")) or 0)
        out.append(
            {
                "name": name,
                "source": entry.get("source"),
                "worker_row": row,
                "estimated_accuracy": _number(entry.get("estimated_accuracy")),
                "used": bool(used),
                "evidence": evidence,
                "reason": _reason(bool(used), evidence, shared_n, max(1, len(fitted))),
                "items": int(_number(entry.get("items")) or 0),
                "shared_items": shared_n,
                "machine_only_items": int(covered.sum() - (covered & shared).sum())
                if covered is not None
                else None,
                "agrees_with_label": agree,
                "has_confidence": stated is not None,
                "calibration": {
                    "edges": inner,
                    "accuracy": fitted,
                    "count": counts,
                    "count_from_items": counted,
                    "mean_stated": mean_stated,
                    "stated_low": lo,
                    "stated_high": hi,
                },
            }
        )
    return {
        "crowd_accuracy": crowd,
        "n_people": int(human.sum()),
        "n_shared_items": summary.get("n_shared_items"),
        "n_crowd_items": summary.get("n_crowd_items"),
        "n_items": summary.get("n_items", n_items),
        "machines": out,
    }
