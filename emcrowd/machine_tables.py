"""The output tables of a crowd + machine fit (``emcrowd fit --predictions``): posteriors, items (with
each machine's answer and confidence), workers (people and machines, with a ``kind`` column) and
``summary.json``. See docs/machines.md."""

from __future__ import annotations

from typing import Any

import numpy as np


def tables(md: Any, model: Any, gold: np.ndarray | None) -> dict[str, dict[str, Any]]:
    """posteriors, items and workers of a crowd + machine fit."""
    from emcrowd.io import NamedCodes

    data = md.labels
    n = data.n_items
    post = model.posteriors_
    posteriors: dict[str, Any] = {"item": data.item_names}
    for k, name in enumerate(data.class_names):
        posteriors[f"p_{name}"] = post[:, k]
    items: dict[str, Any] = {
        "item": data.item_names,
        "label": NamedCodes(model.labels_, data.class_names),
        "confidence": post[np.arange(n), model.labels_],
        "n_labels": np.bincount(data.item, minlength=n),
    }
    if gold is not None:
        items["gold"] = NamedCodes(gold, data.class_names)
    for m, machine in enumerate(md.machines):
        answer, confidence = machine.answers()
        said = np.full(n, -1, dtype=np.int64)
        said[md.item_codes[m]] = answer
        items[f"machine_{machine.name}"] = NamedCodes(said, data.class_names)
        if confidence is not None:
            conf = np.full(n, np.nan)
            conf[md.item_codes[m]] = confidence
            items[f"machine_{machine.name}_confidence"] = conf
    n_people = data.n_workers
    shared = np.array([c["shared_items"] for c in model.machine_calibration_], dtype=np.int64)
    workers = {
        "worker": model.worker_names_,
        "kind": model.kind_.tolist(),
        "n_labels": np.concatenate([data.labels_per_worker(), [m.n_items for m in md.machines]]),
        "shared_items": np.concatenate([data.labels_per_worker(), shared]),
        "accuracy": model.accuracy_,
        "used": ["yes"] * n_people + ["yes" if u else "no" for u in model.machine_used_],
    }
    return {"posteriors": posteriors, "items": items, "workers": workers}


def summary(md: Any, model: Any, source: str) -> dict[str, Any]:
    """The ``summary.json`` of a crowd + machine fit: sizes, classes, each machine's calibration, and
    the fit (its objective per iteration, never decreasing)."""
    return {
        "method": "crowd_machine",
        "labels_file": source,
        "n_items": md.labels.n_items,
        "n_crowd_items": md.n_crowd_items,
        "n_shared_items": model.n_shared_,
        "n_labels": md.labels.n_labels,
        "n_workers": md.labels.n_workers,
        "classes": list(md.labels.class_names),
        "class_prior": model.class_prior_.tolist(),
        "machines": [
            {
                **{k: v for k, v in cal.items() if k != "edges"},
                "confidence_edges": None
                if cal["edges"] is None
                else [e for e in cal["edges"] if np.isfinite(e)],
                "source": machine.source,
                "estimated_accuracy": float(model.accuracy_[md.labels.n_workers + m]),
                "evidence": float(model.machine_evidence_[m]),
                "used": bool(model.machine_used_[m]),
            }
            for m, (cal, machine) in enumerate(zip(model.machine_calibration_, md.machines, strict=True))
        ],
        "converged": model.converged_,
        "n_iter": model.n_iter_,
        "objective": list(model.history_),
        "params": model.get_params(),
    }


def machine_lines(md: Any, model: Any) -> list[str]:
    """One line per machine for the terminal: its estimated accuracy, items shared, used or not."""
    out = []
    for m, machine in enumerate(md.machines):
        cal = model.machine_calibration_[m]
        used = "used" if model.machine_used_[m] else "ignored: its answers gain less than noise would"
        out.append(
            f"Machine {machine.name}: estimated accuracy {model.accuracy_[md.labels.n_workers + m]:.3f} on "
            f"{cal['shared_items']:,} items shared with people ({cal['items']:,} predicted; {used})."
        )
    return out


def relabel_table(md: Any, model: Any, gain: np.ndarray, budget: int) -> tuple[dict[str, Any], float]:
    """``relabel``'s table with machines: the ``budget`` items where one more human label is expected
    to gain most (``gain``, shape (n_items,)), most first, and the expected number of labels it puts
    right."""
    from emcrowd.io import NamedCodes

    order = np.argsort(-gain, kind="stable")[:budget]
    data = md.labels
    table = {
        "item": [data.item_names[j] for j in order],
        "label": NamedCodes(model.labels_[order], data.class_names),
        "confidence": model.posteriors_[order, model.labels_[order]],
        "n_labels": np.bincount(data.item, minlength=data.n_items)[order],
        "expected_gain": gain[order],
    }
    return table, float(gain[order].sum())
