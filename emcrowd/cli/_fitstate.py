"""A fit's saved state as the commands use it: the files a fit keeps (``--keep-state``, and every
``update``), a warm start from them, and merging new labels into the saved ones (``emcrowd update``).
The formats are :mod:`emcrowd.io.state`'s; docs/incremental.md describes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import InputError


def state_outputs(
    data: Labels, result: Any, gold: np.ndarray | None, extra: dict[str, Any]
) -> dict[str, Any]:
    """The state files of a fit (``result``, an Aggregation) of ``data``."""
    from emcrowd.io.state import FitState, state_files

    model = result.model
    workers: dict[str, np.ndarray] = {}
    items: dict[str, np.ndarray] = {}
    shared: dict[str, np.ndarray] = {}
    if model is not None and not getattr(type(model), "cold_only", None):
        workers, items = model._warm_arrays()
        shared = model._warm_shared()
    if model is not None:
        prior = np.asarray(model.class_prior_, dtype=float)
    else:
        prior = np.full(data.n_classes, 1.0 / data.n_classes)
    options = {k: list(v) if isinstance(v, tuple) else v for k, v in result.options.items()}
    stats = None
    if gold is None:  # the statistics of an incremental update (emcrowd.models._incremental)
        from emcrowd.models._incremental import statistics

        stats = statistics(result.fitted_method, model, data, result.labels)
    state = FitState(
        method=result.fitted_method, options=options, labels=data, gold=gold, class_prior=prior,
        workers=workers, items=items, shared=shared, extra=extra, stats=stats,
    )  # fmt: skip
    return state_files(state)


def warm_start(state: Any) -> Any:
    """A :class:`~emcrowd.models._warm.WarmStart` from a read state, or None where the method has no
    parameters to start from (majority vote) or cannot start warm (EBCC)."""
    from emcrowd.models._warm import WarmStart

    if not state.workers and not state.items:
        return None
    return WarmStart(
        method=state.method,
        class_names=state.labels.class_names,
        class_prior=state.class_prior,
        worker_names=state.labels.worker_names,
        item_names=state.labels.item_names,
        workers=state.workers,
        items=state.items,
        shared=state.shared,
    )


def check_method(state_dir: Path, state_method: str, method: str | None) -> str:
    """The method of a warm start or update: the state's; another one asked for is refused."""
    from emcrowd.models import method_name

    if method is None:
        return state_method
    asked = method_name(method)
    if asked not in (state_method, "auto"):
        raise InputError(
            state_dir, f"the fit there is {state_method}, not {asked}: a warm start continues the same method"
        )
    return state_method


def check_classes(state_dir: Path, old: tuple[str, ...], new: tuple[str, ...], source: Any) -> None:
    if tuple(old) != tuple(new):
        raise InputError(
            source,
            f"classes {', '.join(new)} differ from those of the fit in {state_dir} ({', '.join(old)}); "
            "give --classes with the fit's classes, in its order",
        )


def merge(old: Labels, new: Labels) -> tuple[Labels, int, int, int]:
    """``old``'s labels followed by those of ``new`` that are not already there (the same item,
    annotator and class), coded with ``old``'s codes (new items and annotators appended in order of
    first appearance): (merged labels, new labels kept, new items, new annotators).

    Labels that repeat an (item, annotator) pair already there with another class stay: the duplicates
    policy decides about them afterwards, as it does in a fit."""
    from emcrowd.models._warm import match

    item_map = match(old.item_names, new.item_names)
    worker_map = match(old.worker_names, new.worker_names)
    new_items = np.flatnonzero(item_map < 0)
    new_workers = np.flatnonzero(worker_map < 0)
    item_map[new_items] = old.n_items + np.arange(new_items.size)
    worker_map[new_workers] = old.n_workers + np.arange(new_workers.size)
    item = item_map[new.item]
    worker = worker_map[new.worker]
    label = new.label
    # drop labels already in the state: the same (item, annotator, class) on a known item
    on_known = item < old.n_items
    if on_known.any():
        n_w = old.n_workers + new_workers.size
        key_old = (old.item.astype(np.int64) * n_w + old.worker) * old.n_classes + old.label
        sel = np.flatnonzero(on_known)
        key_new = (item[sel].astype(np.int64) * n_w + worker[sel]) * old.n_classes + label[sel]
        seen = np.isin(key_new, key_old)
        if seen.any():
            keep = np.ones(item.size, dtype=bool)
            keep[sel[seen]] = False
            item, worker, label = item[keep], worker[keep], label[keep]
    merged = Labels(
        np.concatenate([old.item, item.astype(np.int32)]),
        np.concatenate([old.worker, worker.astype(np.int32)]),
        np.concatenate([old.label, label]),
        old.item_names + tuple(new.item_names[j] for j in new_items.tolist()),
        old.worker_names + tuple(new.worker_names[i] for i in new_workers.tolist()),
        old.class_names,
    )
    return merged, int(item.size), int(new_items.size), int(new_workers.size)


def apply_duplicates(data: Labels, policy: str, source: Any) -> Labels:
    """The merged labels after fit's ``--duplicates`` policy (keep, first, last or error) over the
    old and the new labels together (the old ones come first)."""
    if policy == "keep":
        return data
    from emcrowd.io._common import LoadReport, _apply_duplicates

    report = LoadReport(source=str(source), format="merged", duplicates=policy)
    rows = _apply_duplicates(
        str(source), data.item, data.worker, data.label, data.item_names, data.worker_names, report
    )
    if rows is None:
        return data
    return Labels(
        data.item[rows],
        data.worker[rows],
        data.label[rows],
        data.item_names,
        data.worker_names,
        data.class_names,
    )


def read(state_dir: Path) -> Any:
    """The fit state kept in ``state_dir`` (:func:`emcrowd.io.state.read_state`)."""
    from emcrowd.io.state import read_state

    return read_state(state_dir)
