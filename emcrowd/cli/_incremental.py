"""``emcrowd update``'s incremental path: the cost follows the new labels and the items they touch.

The fit kept in PREV_DIR keeps sufficient statistics (``state-stats.npz``,
:mod:`emcrowd.models._incremental`).
The update looks the new labels' item ids up in the kept hashes (:class:`emcrowd.io.state.NameIndex`:
the ids already fitted are not decoded), reads the parameters, those statistics and the kept label
codes (one vectorised pass), fits the active items (new items and known items with new labels) with
incremental EM, then (GLAD) scores again the known items whose label the move could flip, or
(Dawid-Skene) runs full EM iterations over the label codes, and writes:

* the output tables as the previous ones with the rows of the items scored again (Dawid-Skene: of
  the active items and of those whose label changed) replaced in place and the new items' rows
  appended, gathered from the previous files' column buffers (:mod:`emcrowd.io.kept_tables`); the
  annotators' tables again (one row per annotator, from the kept counts);
* the new labels as one more chunk, ``state-labels-NNNN.npz``, listed in ``state.json`` with its
  CRC-32; the earlier labels files stay as they are (linked into ``--out`` when it is elsewhere);
* the parameters and statistics (one row per item and annotator: small beside the labels).

:func:`run` returns None where the incremental path does not apply (a method without statistics, gold
labels, a --duplicates policy other than keep on known items, too many new labels); the caller then
fits all the labels again.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from emcrowd import update_tables
from emcrowd.data import Labels
from emcrowd.io.kept_tables import carry_files, merge_rows, read_table

NOTHING_NEW = "nothing new"


def applies(meta: dict[str, Any], prev_dir: Path, fmt: str) -> str | None:
    """Why the incremental path does not apply to the state ``meta``, or None when it does."""
    from emcrowd.models._incremental import INCREMENTAL_METHODS

    if meta.get("method") not in INCREMENTAL_METHODS:
        return f"{meta.get('method')} keeps no statistics for an incremental update"
    if not meta.get("stats"):
        return "the fit state keeps no statistics (a fit with gold labels, or of an older emcrowd)"
    for name in (f"items.{fmt}", f"posteriors.{fmt}", "summary.json"):
        if not (prev_dir / name).is_file():
            return f"{name} is missing from {prev_dir}"
    return None


def run(
    prev_dir: Path, meta: dict[str, Any], new: Labels, *, out_dir: Path, fmt: str, csv_safe: bool,
    quiet: bool, cold_check: float, phases: dict[str, float], new_source: Path,
) -> Any:  # fmt: skip
    """The incremental update (see the module notes): a dict of the outputs to write, ``NOTHING_NEW``,
    or None where a full fit is needed."""
    from emcrowd.io.state import PARAMS_NPZ, _load_npz, read_codes, read_index, read_names, read_stats
    from emcrowd.models._warm import match

    started = time.perf_counter()
    indexed = read_index(prev_dir, meta)  # the item ids looked up by hash, not decoded
    if indexed is None:  # (a state whose labels files keep no hashes of the ids)
        old_items, old_workers = read_names(prev_dir, meta)
    else:
        old_items, old_workers = indexed
    stats = read_stats(prev_dir, meta)
    p_keys = [f"worker.{k}" for k in meta["worker_params"]] + [f"item.{k}" for k in meta["item_params"]]
    params = _load_npz(prev_dir / PARAMS_NPZ, meta["state_id"], ["class_prior", *p_keys])
    phases["read_state"] = time.perf_counter() - started
    started = time.perf_counter()
    n_old, n_old_w, k = len(old_items), len(old_workers), new.n_classes
    item_map = match(old_items, new.item_names) if indexed is None else old_items.positions(new.item_names)
    worker_map = match(old_workers, new.worker_names)
    new_items = np.flatnonzero(item_map < 0)
    new_workers = np.flatnonzero(worker_map < 0)
    item_map[new_items] = n_old + np.arange(new_items.size)
    worker_map[new_workers] = n_old_w + np.arange(new_workers.size)
    item, worker, label = item_map[new.item], worker_map[new.worker], new.label.astype(np.int64)
    on_known = item < n_old
    if on_known.any() and meta.get("duplicates", "keep") != "keep":
        return None
    all_item, all_worker, all_label = read_codes(prev_dir, meta)  # one vectorised pass: no EM over them
    n_w = n_old_w + new_workers.size
    if on_known.any():  # a label already there (same item, annotator and class) is not counted twice
        is_touched = np.zeros(n_old, dtype=bool)
        is_touched[item[on_known]] = True
        sel = np.flatnonzero(is_touched[all_item])
        key_old = (all_item[sel].astype(np.int64) * n_w + all_worker[sel]) * k + all_label[sel]
        key_new = (item * n_w + worker) * k + label
        keep = ~(on_known & np.isin(key_new, key_old))
        item, worker, label = item[keep], worker[keep], label[keep]
    if item.size == 0:
        return NOTHING_NEW
    if item.size >= cold_check * int(meta["n_labels"]):
        return None
    method = meta["method"]
    options = {key: tuple(v) if isinstance(v, list) else v for key, v in meta["options"].items()}
    from emcrowd.models import MODELS, model_options
    from emcrowd.models._incremental import active_set, flip_bounds, likelihoods, margins, update

    model = MODELS[method](**model_options(method, options))
    p_arrays = {key: params[key] for key in p_keys}
    item_names_new = tuple(new.item_names[j] for j in new_items.tolist())
    worker_names = old_workers + tuple(new.worker_names[i] for i in new_workers.tolist())
    phases["merge"] = time.perf_counter() - started
    started = time.perf_counter()
    prev_items = read_table(prev_dir / f"items.{fmt}", fmt)
    prev_post = read_table(prev_dir / f"posteriors.{fmt}", fmt)
    if prev_items.num_rows != n_old or prev_post.num_rows != n_old:
        return None  # the tables are not those of the state: fit again
    phases["read_tables"] = time.perf_counter() - started
    started = time.perf_counter()
    # the active items: the known items with new labels, then the new ones in code order; then, in
    # a second round, the known items whose label the parameters' move could flip (flip_bounds)
    active_known = np.zeros(n_old, dtype=bool)
    active_known[item[item < n_old]] = True
    margin = stats["item_margin"]
    inc, start_codes = None, None
    for round_ in range(2):
        touched, active_codes, active, n_old_labels = active_set(
            active_known, (all_item, all_worker, all_label), (item, worker, label), old_items,
            item_names_new, worker_names, new.class_names,
        )  # fmt: skip
        old_label = np.zeros(active.n_labels, dtype=bool)
        old_label[:n_old_labels] = True
        old_code = np.where(active_codes < n_old, active_codes, -1)
        chosen_before = stats["item_label"][touched]
        frozen_lik = stats["item_lik"][~active_known] if "item_lik" in stats else None
        inc = update(
            method, model, stats, p_arrays, params["class_prior"], active, old_code, old_label,
            chosen_before, frozen_lik, start=inc, start_codes=start_codes,
        )  # fmt: skip
        start_codes = active_codes
        if round_ == 1 or method == "dawid_skene":  # (Dawid-Skene: full sweeps below instead)
            break
        bound = flip_bounds(
            method, p_arrays, params["class_prior"], inc, all_item, all_worker, all_label, n_old, stats
        )
        more = ~active_known & (margin <= bound)
        if not more.any():
            break
        active_known |= more
    n_items = n_old + new_items.size
    sweep = None
    if method == "dawid_skene":
        sweep, active_known = _sweep(
            model, inc, stats, kept=(all_item, all_worker, all_label), new=(item, worker, label),
            active_codes=active_codes, n_old=n_old, n_items=n_items,
        )  # fmt: skip
        touched, active_codes, active, _ = active_set(
            active_known, (all_item, all_worker, all_label), (item, worker, label), old_items,
            item_names_new, worker_names, new.class_names,
        )  # fmt: skip
        inc.posteriors = inc.map_posteriors = sweep.q[active_codes]
    phases["fit"] = time.perf_counter() - started
    started = time.perf_counter()
    stand_in = update_tables.stand_in_model(method, inc, n_items, worker_names)
    tables = update_tables.active_tables(active, inc, stand_in, meta.get("ties", "lowest"), options)
    from emcrowd.cli._output import safe

    csv_safe = csv_safe and fmt == "csv"  # (the new rows; the kept ones are as the last write left them)
    items_table = merge_rows(prev_items, active_codes, safe(tables["items"], csv_safe), fmt)
    post_table = merge_rows(prev_post, active_codes, safe(tables["posteriors"], csv_safe), fmt)
    workers = update_tables.worker_tables(new.class_names, worker_names, inc, stand_in, n_items)
    from emcrowd import io
    from emcrowd.cli import _output

    outputs: dict[str, Any] = {
        **_output.table_files({"posteriors": post_table, "items": items_table}, fmt, quiet, csv_safe),
        **_output.table_files(workers, fmt, quiet, csv_safe),
    }
    # the state: the new labels as a chunk, the parameters and statistics again
    from emcrowd.io import state as st

    chunks = list(meta.get("label_chunks", []))
    chunk_file = st.chunk_name(len(chunks) + 1)
    chunk_id = uuid.uuid4().hex
    chunk, crc = st.chunk_arrays(chunk_id, item, worker, label, item_names_new, tuple(worker_names[n_old_w:]))
    chunks.append({
        "file": chunk_file, "chunk_id": chunk_id, "n_labels": int(item.size),
        "n_items": int(new_items.size), "n_workers": int(new_workers.size), "crc32": crc,
    })  # fmt: skip
    state_id = uuid.uuid4().hex
    tag = np.frombuffer(state_id.encode(), dtype=np.uint8)
    if sweep is not None:  # every item scored again: the statistics of all of them
        item_q, item_label, item_margin = (
            sweep.q,
            np.argmax(sweep.q, axis=1).astype(np.int32),
            margins(sweep.q),
        )
        inc.stats.pop("item_margin_active")
        inc.stats.pop("item_lik_active")
        new_stats = {**inc.stats, "item_q": item_q, "item_margin": item_margin, "item_label": item_label}
        if "item_lik" in stats:
            new_stats["item_lik"] = likelihoods(sweep.q, sweep.class_prior)
    else:
        item_q = np.concatenate([stats["item_q"], np.zeros((new_items.size, k))])
        item_q[active_codes] = inc.map_posteriors
        item_label = np.concatenate([stats["item_label"], np.zeros(new_items.size, dtype=np.int32)])
        item_label[active_codes] = np.argmax(inc.posteriors, axis=1)
        item_margin = np.concatenate([stats["item_margin"], np.zeros(new_items.size)])
        item_margin[active_codes] = inc.stats.pop("item_margin_active")
        new_stats = {**inc.stats, "item_q": item_q, "item_margin": item_margin, "item_label": item_label}
    lik_active = new_stats.pop("item_lik_active", None)
    if "item_lik" in stats and sweep is None:
        item_lik = np.concatenate([stats["item_lik"], np.zeros((new_items.size, k))])
        item_lik[active_codes] = lik_active
        new_stats["item_lik"] = item_lik
    n_labels = int(meta["n_labels"]) + int(item.size)
    doc = {
        **meta,
        "state_id": state_id,
        "labels_id": meta.get("labels_id", meta["state_id"]),
        "base_items": meta.get("base_items", meta["n_items"]),
        "base_workers": meta.get("base_workers", meta["n_workers"]),
        "n_items": n_items,
        "n_workers": len(worker_names),
        "n_labels": n_labels,
        "label_chunks": chunks,
        "stats": sorted(new_stats),
    }
    summary = json.loads((prev_dir / "summary.json").read_text(encoding="utf-8"))
    majority = update_tables.majority_counts(prev_items, active_codes, tables["items"], summary)
    summary.update({
        "n_items": n_items, "n_workers": len(worker_names), "n_labels": n_labels,
        "converged": inc.converged, "n_iter": inc.n_iter, "objective": inc.history,
        "class_prior": inc.class_prior.tolist(), "majority": majority,
        "peak_memory_mb": _output.peak_memory_mb(),
    })  # fmt: skip
    phases["tables"] = time.perf_counter() - started
    summary["update"] = {
        "from": str(prev_dir), "incremental": True, "new_labels": int(item.size),
        "new_items": int(new_items.size), "new_workers": int(new_workers.size),
        "active_items": int(active.n_items), "phases": dict(phases),
    }  # fmt: skip
    outputs |= {
        "summary.json": io.json_text(summary),
        st.STATE_JSON: st.document_text({k: v for k, v in doc.items() if k != "checksum"}),
        st.PARAMS_NPZ: {"state_id": tag, "class_prior": inc.class_prior, **inc.params},
        st.STATS_NPZ: {"state_id": tag, **new_stats},
        chunk_file: chunk,
    }
    carry = [st.LABELS_NPZ, *(c["file"] for c in chunks[:-1])]
    if out_dir.resolve() != prev_dir.resolve():
        carry_files(prev_dir, out_dir, carry)
    return {
        "outputs": outputs, "n_new": int(item.size), "n_new_items": int(new_items.size),
        "n_new_workers": int(new_workers.size), "n_iter": inc.n_iter, "active": int(active.n_items),
        "n_labels": n_labels, "summary": summary,
    }  # fmt: skip


def _sweep(
    model: Any, inc: Any, stats: dict[str, np.ndarray], *, kept: tuple[np.ndarray, ...],
    new: tuple[np.ndarray, ...], active_codes: np.ndarray, n_old: int, n_items: int,
) -> tuple[Any, np.ndarray]:  # fmt: skip
    """Dawid-Skene's full EM iterations after the incremental fit (:func:`ds_sweeps`), ``inc`` set
    to their parameters and statistics; and the known items whose rows are written again: those
    scored in the incremental fit and those whose label the iterations changed."""
    from emcrowd.models._incremental import answer_counts, ds_sweeps

    k = inc.class_prior.size
    codes = [  # int32, as the kept codes and the compiled kernels have them (no int64 copies)
        np.concatenate([a, b.astype(np.int32)]) for a, b in zip(kept, new, strict=True)
    ]
    sweep = ds_sweeps(model, *codes, n_items, inc.params["worker.confusion"], inc.class_prior, _MAX_SWEEPS)
    chosen = np.argmax(sweep.q, axis=1)
    n_w = sweep.confusion.shape[0]
    inc.params = {"worker.confusion": sweep.confusion}
    inc.class_prior = sweep.class_prior
    inc.stats["confusion_counts"] = sweep.confusion_counts
    inc.stats["class_counts"] = sweep.q.sum(axis=0)
    inc.stats["answer_counts"] = answer_counts(*codes, chosen, n_w, k)
    inc.n_iter += sweep.n_iter
    inc.converged = sweep.converged
    inc.history = sweep.history
    rewrite = np.zeros(n_old, dtype=bool)
    rewrite[active_codes[active_codes < n_old]] = True
    rewrite |= chosen[:n_old] != stats["item_label"]
    return sweep, rewrite


#: At most this many Dawid-Skene EM iterations over all the labels after the incremental fit.
_MAX_SWEEPS = 20
