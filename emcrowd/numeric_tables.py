"""Numeric answers as output: the tables a numeric fit writes, its ``summary.json``, and what the
commands print on stderr about numeric data, fits and comparisons (the twin of :mod:`emcrowd.tables`
and :mod:`emcrowd.console` for :class:`emcrowd.numeric_data.NumericLabels`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.table import Table

from emcrowd._version import __version__
from emcrowd.console import console, escape, note, warning
from emcrowd.numeric_data import NumericLabels

#: Names shown for the numeric methods.
TITLES = {
    "mean": "Mean",
    "median": "Median",
    "bias_noise": "Bias-and-noise",
    "robust": "Robust bias-and-noise",
}


def item_table(data: NumericLabels, model: Any, gold: np.ndarray | None = None) -> dict[str, Any]:
    """One row per item: ``item``, ``estimate``, ``sd``, ``lower`` and ``upper`` (the 95% interval),
    ``n_labels``, ``mean`` and ``median`` of its answers, and ``gold`` with gold values."""
    from emcrowd.models.numeric._api import item_medians

    counts = data.labels_per_item()
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(data.item, data.value, minlength=data.n_items) / counts
    table: dict[str, Any] = {
        "item": data.item_names,
        "estimate": model.estimate_,
        "sd": model.sd_,
        "lower": model.interval_[:, 0],
        "upper": model.interval_[:, 1],
        "n_labels": counts,
        "mean": mean,
        "median": item_medians(data),
    }
    if gold is not None:
        table["gold"] = gold
    return table


def worker_table(data: NumericLabels, model: Any) -> dict[str, Any]:
    """One row per annotator: ``worker``, ``n_labels``, ``bias``, ``noise_sd``, ``scale`` (when
    fitted), ``random_rate`` (the robust model's share of random answers) and ``random`` (flagged as
    answering at random)."""
    table: dict[str, Any] = {
        "worker": data.worker_names,
        "n_labels": data.labels_per_worker(),
        "bias": model.bias_,
        "noise_sd": model.noise_,
    }
    if model.scale_ is not None:
        table["scale"] = model.scale_
    table["random_rate"] = model.random_rate_
    table["random"] = model.flagged_
    return table


def label_table(data: NumericLabels, model: Any) -> dict[str, Any]:
    """The pipe output of ``fit --out -``: ``item``, ``estimate``, ``lower``, ``upper``."""
    return {
        "item": data.item_names,
        "estimate": model.estimate_,
        "lower": model.interval_[:, 0],
        "upper": model.interval_[:, 1],
    }


def fit_record(
    data: NumericLabels, model: Any, method: str, load_report: Any = None, peak_memory_mb: float | None = None
) -> dict[str, Any]:
    """``summary.json`` of a numeric fit."""
    iterative = model.iterative
    return {
        "emcrowd_version": __version__,
        "kind": "numeric",
        "method": method,
        "input": None if load_report is None else load_report.to_dict(),
        "n_items": data.n_items,
        "n_workers": data.n_workers,
        "n_labels": data.n_labels,
        "options": model.get_params(),
        "converged": bool(model.converged_) if iterative else None,
        "n_iter": int(model.n_iter_) if iterative else None,
        "objective": list(model.history_) if iterative else None,
        "value_mean": float(model.mu_) if iterative else None,
        "value_sd": float(model.tau_) if iterative else None,
        "n_gold": int((model.sd_ == 0).sum()) if iterative else 0,
        "n_flagged": int(model.flagged_.sum()),
        "flagged": [data.worker_names[w] for w in np.flatnonzero(model.flagged_).tolist()],
        "fit_seconds": float(getattr(model, "fit_seconds_", 0.0)),
        "load_seconds": None if load_report is None else load_report.seconds,
        "peak_memory_mb": peak_memory_mb,
    }


def _number(x: float) -> str:
    return f"{x:.4g}"


def data_summary(loaded: Any) -> None:
    """What ``--numeric`` read: sizes, the spread of the answers, answers per item and annotator."""
    data, src = loaded.labels, loaded.report
    d = data.describe()
    out = console()
    columns = ""
    if src.format == "long":
        columns = " (columns " + ", ".join(f"{role}={escape(col)}" for role, col in src.columns.items()) + ")"
    out.print(f"Read {escape(src.source)}: {src.format} format, numeric labels{columns} [{src.seconds:.2f}s]")
    for text in getattr(src, "notes", ()):
        out.print(f"  {escape(text)}")
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("items", f"{d['n_items']:,}")
    table.add_row("annotators", f"{d['n_workers']:,}")
    table.add_row("labels", f"{d['n_labels']:,} ({d['density']:.2%} of items x annotators)")
    v = d["values"]
    table.add_row(
        "values",
        f"min {_number(v['min'])}, quartiles {_number(v['q1'])} / {_number(v['median'])} / "
        f"{_number(v['q3'])}, max {_number(v['max'])}; mean {_number(v['mean'])}, sd {_number(v['sd'])} "
        f"({d['n_distinct_values']:,} distinct)",
    )
    if d["mean_within_item_sd"] is not None:
        table.add_row("sd within an item", f"{_number(d['mean_within_item_sd'])} (mean over items)")
    for who in ("item", "worker"):
        spread = d[f"labels_per_{who}"]
        table.add_row(
            f"labels per {'annotator' if who == 'worker' else who}",
            f"min {spread['min']:,}, median {spread['median']:g}, max {spread['max']:,}",
        )
    table.add_row("items with one label", f"{d['items_with_one_label']:,}")
    if src.format == "long":
        table.add_row("missing answers (skipped)", f"{src.n_missing:,}")
    out.print(table)
    load_warnings(loaded)


def load_warnings(loaded: Any) -> None:
    for text in getattr(loaded.report, "warnings", ()):
        warning(f"{loaded.report.source}: {text}")


def fit_summary(data: NumericLabels, model: Any, method: str, where: str | None, quiet: bool) -> None:
    """Convergence, the annotators flagged as answering at random, the largest biases, where the
    outputs went."""
    if model.iterative and not model.converged_:
        warning(f"{TITLES[method]} did not converge in {model.n_iter_} iterations")
    if quiet:
        return
    title = TITLES[method]
    if model.iterative:
        note(
            f"{title}: {model.n_iter_} iterations, {'converged' if model.converged_ else 'not converged'}; "
            f"true values: mean {_number(model.mu_)}, sd {_number(model.tau_)}."
        )
    flagged = np.flatnonzero(model.flagged_)
    if flagged.size:
        names = ", ".join(data.worker_names[w] for w in flagged[:5].tolist())
        more = f" and {flagged.size - 5:,} more" if flagged.size > 5 else ""
        who = "annotator answers" if flagged.size == 1 else "annotators answer"
        note(f"{flagged.size:,} {who} at random or nearly ({names}{more}); see workers.")
    n = data.labels_per_worker()
    usable = np.flatnonzero((n >= 2) & ~model.flagged_)
    if usable.size:
        top = usable[np.argsort(-np.abs(model.bias_[usable]), kind="stable")[:3]]
        shown = ", ".join(
            f"{data.worker_names[w]} {model.bias_[w]:+.3g} (noise sd {model.noise_[w]:.3g})" for w in top
        )
        note(f"Largest biases: {shown}.")
    if where is not None:
        note(f"Wrote items, workers and summary.json to {where}.")


def compare_table(metrics: dict[str, Any], truth: Any, quiet: bool = False) -> None:
    """The numeric comparison: MAE and RMSE with their intervals and the gain against the mean."""
    table = Table(title=f"Against {escape(str(truth))} ({metrics['n_scored']:,} items with a true value)")
    for name in ("method", "MAE", "95% CI", "RMSE", "95% CI", "MAE gain vs mean", "interval coverage"):
        table.add_column(name, justify="left" if name == "method" else "right")
    for method, e in metrics["methods"].items():
        gain = e["mae_gain_vs_mean"]
        lo, hi = e["mae_gain_vs_mean_ci"]
        table.add_row(
            TITLES.get(method, method),
            _number(e["mae"]),
            f"{_number(e['mae_ci'][0])}-{_number(e['mae_ci'][1])}",
            _number(e["rmse"]),
            f"{_number(e['rmse_ci'][0])}-{_number(e['rmse_ci'][1])}",
            "-" if method == "mean" else f"{gain:+.4g} ({lo:+.3g} to {hi:+.3g})",
            f"{e['coverage']:.0%}",
        )
    console().print(table)
    if not quiet:
        note(
            "MAE gain vs mean: the mean's MAE minus the method's, paired over the same bootstrap "
            "resamples (positive: closer to the truth than the mean)."
        )
