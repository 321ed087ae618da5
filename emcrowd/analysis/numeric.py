"""Numeric answers: fitting any numeric method by name, scoring against true values, and choosing the
items one more answer helps most.

* :func:`fit_numeric` fits a method of :data:`emcrowd.models.numeric.NUMERIC_MODELS`;
* :func:`compare_numeric` scores methods against true values: MAE and RMSE with bootstrap intervals,
  and each method's gain against the mean, paired (the same resampled items for both);
* :func:`relabel_numeric` ranks items by how much one more answer would narrow their estimate;
* :func:`interval_alpha` is Krippendorff's interval alpha of the answers (``info --numeric``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from emcrowd.errors import EmcrowdError
from emcrowd.models.numeric import NUMERIC_MODELS, numeric_method_name
from emcrowd.numeric_data import NumericLabels

#: Bootstrap resamples for the intervals of compare.
N_BOOTSTRAP = 1000


def fit_numeric(
    data: NumericLabels, method: str, *, gold: np.ndarray | None = None, callback: Any = None, **options: Any
) -> Any:
    """Fit ``method`` (a name of :data:`NUMERIC_MODELS`) to ``data``; returns the fitted model, with
    ``fit_seconds_`` set. Options the method does not take are ignored."""
    method = numeric_method_name(method)
    model_class = NUMERIC_MODELS[method]
    accepted = set(model_class.param_names())
    model = model_class(**{k: v for k, v in options.items() if k in accepted})
    started = time.perf_counter()
    model.fit(data, gold=gold, callback=callback)
    model.fit_seconds_ = time.perf_counter() - started
    return model


def _bootstrap(
    errors: dict[str, np.ndarray], reference: np.ndarray, n_bootstrap: int, seed: int
) -> dict[str, dict[str, float]]:
    """MAE and RMSE of each method's ``errors`` with percentile bootstrap intervals (the items
    resampled), and the paired differences against ``reference`` (the mean's errors, on the same
    resamples): positive = better than the mean."""
    rng = np.random.default_rng(seed)
    n = reference.size
    chunk = max(1, min(n_bootstrap, 4_000_000 // n))
    samples: dict[str, dict[str, list[np.ndarray]]] = {
        m: {k: [] for k in ("mae", "rmse", "gain_mae", "gain_rmse")} for m in errors
    }
    abs_r, sq_r = np.abs(reference), reference * reference
    left = n_bootstrap
    while left > 0:
        take = min(chunk, left)
        left -= take
        idx = rng.integers(0, n, (take, n))
        ref_mae, ref_rmse = abs_r[idx].mean(axis=1), np.sqrt(sq_r[idx].mean(axis=1))
        for method, e in errors.items():
            mae, rmse = np.abs(e)[idx].mean(axis=1), np.sqrt((e * e)[idx].mean(axis=1))
            got = samples[method]
            got["mae"].append(mae)
            got["rmse"].append(rmse)
            got["gain_mae"].append(ref_mae - mae)
            got["gain_rmse"].append(ref_rmse - rmse)

    def interval(parts: list[np.ndarray]) -> list[float]:
        lo, hi = np.percentile(np.concatenate(parts), [2.5, 97.5])
        return [float(lo), float(hi)]

    out = {}
    for method, e in errors.items():
        mae, rmse = float(np.abs(e).mean()), float(np.sqrt((e * e).mean()))
        got = samples[method]
        out[method] = {
            "mae": mae,
            "mae_ci": interval(got["mae"]),
            "rmse": rmse,
            "rmse_ci": interval(got["rmse"]),
            "mae_gain_vs_mean": float(abs_r.mean()) - mae,
            "mae_gain_vs_mean_ci": interval(got["gain_mae"]),
            "rmse_gain_vs_mean": float(np.sqrt(sq_r.mean())) - rmse,
            "rmse_gain_vs_mean_ci": interval(got["gain_rmse"]),
        }
    return out


def compare_numeric(
    data: NumericLabels,
    truth: np.ndarray,
    *,
    methods: list[str],
    gold: np.ndarray | None = None,
    options: dict[str, Any] | None = None,
    seed: int = 0,
    n_bootstrap: int = N_BOOTSTRAP,
    callback: Any = None,
) -> dict[str, Any]:
    """Fit every method and score it against ``truth`` (NaN = unknown) on the items that have a true
    value and at least one answer (gold items excluded when gold is given: they are clamped to it).

    Returns
    -------
    dict
        JSON-ready: ``n_scored``, ``n_bootstrap``, and ``methods``: per method its MAE, RMSE, their
        95% bootstrap intervals, the gain against the mean (its MAE minus this one's; likewise RMSE)
        with paired intervals, ``coverage`` (share of true values inside the 95% interval),
        ``fit_seconds``, and for EM methods ``converged`` and ``n_iter``.
    """
    truth = np.asarray(truth, dtype=np.float64)
    if truth.shape != (data.n_items,):
        raise EmcrowdError(f"truth has {truth.shape[0]} values for {data.n_items} items")
    scored = np.isfinite(truth) & (data.labels_per_item() > 0)
    if gold is not None:
        scored &= ~np.isfinite(gold)
    if not scored.any():
        raise EmcrowdError("no item has both a true value and an answer (or every such item is gold)")
    chosen = [numeric_method_name(m) for m in methods]
    if "mean" not in chosen:
        chosen.insert(0, "mean")
    idx = np.flatnonzero(scored)
    fits = {m: fit_numeric(data, m, gold=gold, callback=callback, **(options or {})) for m in chosen}
    errors = {m: model.estimate_[idx] - truth[idx] for m, model in fits.items()}
    out = _bootstrap(errors, errors["mean"], n_bootstrap, seed)
    for method, model in fits.items():
        entry = out[method]
        inside = (model.interval_[idx, 0] <= truth[idx]) & (truth[idx] <= model.interval_[idx, 1])
        entry["coverage"] = float(inside.mean())
        entry["fit_seconds"] = float(model.fit_seconds_)
        entry["n_flagged"] = int(model.flagged_.sum())
        if model.iterative:
            entry["converged"] = bool(model.converged_)
            entry["n_iter"] = int(model.n_iter_)
    return {"kind": "numeric", "n_scored": int(idx.size), "n_bootstrap": n_bootstrap, "methods": out}


def relabel_numeric(model: Any, budget: int) -> dict[str, Any]:
    """The ``budget`` items whose estimate one more answer narrows most, best first.

    One more answer from a typical annotator (the median noise variance over the annotators not
    flagged) adds ``1 / noise^2`` to an item's posterior precision (for the baselines: one more answer
    to the standard error's count). Returns the table (``item``, ``estimate``, ``sd``, ``lower``,
    ``upper``, ``n_labels``, ``sd_after``: the expected sd with one more answer) and ``typical_noise``.
    """
    data = model.data_
    if budget < 1:
        raise EmcrowdError(f"the budget must be at least 1, got {budget}")
    counts = data.labels_per_item()
    sd = model.sd_
    usable = ~model.flagged_ & np.isfinite(model.noise_)
    noise = float(np.median(model.noise_[usable])) if usable.any() else float(np.nanmedian(model.noise_))
    gold_items = sd == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if model.iterative:
            after = 1.0 / np.sqrt(1.0 / (sd * sd) + 1.0 / (noise * noise))
        else:
            after = sd * np.sqrt(counts / (counts + 1.0))
    after = np.where(gold_items, 0.0, after)
    gain = np.where(np.isfinite(sd), sd - after, np.inf)  # items without answers first
    order = np.lexsort((data.item_name_ranks(), -gain))[: min(budget, data.n_items)]
    order = order[~gold_items[order]]
    table = {
        "item": tuple(data.item_names[j] for j in order.tolist()),
        "estimate": model.estimate_[order],
        "sd": sd[order],
        "lower": model.interval_[order, 0],
        "upper": model.interval_[order, 1],
        "n_labels": counts[order],
        "sd_after": after[order],
    }
    return {"table": table, "typical_noise": noise}


def interval_alpha(data: NumericLabels) -> float:
    """Krippendorff's alpha at the interval level of the answers, ``1 - D_o / D_e`` over the pairable
    items (those with two answers or more; NaN when there are none, or when every pairable answer is
    the same value).

    With squared differences as the distance, the sums over pairs reduce to sums of squares: an item
    ``j`` with ``m_j`` answers and sum of squared deviations ``SS_j`` about its mean contributes
    ``2 m_j SS_j`` to the sum over its ordered pairs, so with ``n`` pairable answers and ``SS`` their
    squares about their overall mean, ``D_o = (2 / n) sum_j m_j SS_j / (m_j - 1)`` and
    ``D_e = 2 SS / (n - 1)``: one pass over the answers, whatever the number of distinct values
    (the coincidence matrix of :mod:`emcrowd.analysis.agreement` would be one row per value).
    """
    counts = data.labels_per_item().astype(np.float64)
    pairable = counts >= 2
    keep = pairable[data.item]
    n = float(counts[pairable].sum())
    if n < 2:
        return float("nan")
    y, item = data.value[keep], data.item[keep]
    y = y - y.mean()  # (about the mean: the squares below lose nothing to cancellation)
    means = np.bincount(item, y, minlength=data.n_items) / np.maximum(counts, 1.0)
    dev = y - means[item]
    within = np.bincount(item, dev * dev, minlength=data.n_items)[pairable]
    total = float(y @ y)
    if total <= 0.0:
        return float("nan")
    m = counts[pairable]
    observed = float((m * within / (m - 1.0)).sum())
    return 1.0 - (n - 1.0) * observed / (n * total)
