"""The commands with ``--numeric``: fit, compare, info and relabel on numeric answers.

Each command checks ``inputs.numeric`` first and hands over to the function of the same name here,
with the options it parsed; the numeric work lives in :mod:`emcrowd.analysis.numeric` and the output in
:mod:`emcrowd.numeric_tables`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from emcrowd.cli import _output, _reading
from emcrowd.cli.options import InputOptions, ModelOptions
from emcrowd.errors import EmcrowdError

#: Model options a numeric fit takes from the shared model options.
SHARED = ("tol", "max_iter", "accelerate")


def method_of(method: str | None) -> str:
    from emcrowd.models.numeric import DEFAULT_NUMERIC_METHOD, numeric_method_name

    return numeric_method_name(DEFAULT_NUMERIC_METHOD if method is None else method)


def options_of(model: ModelOptions) -> dict[str, Any]:
    """The model options that apply to numeric fits (--tol, --max-iter, --accelerate when given)."""
    options = model.as_kwargs()
    return {k: v for k, v in options.items() if k in SHARED and v is not None}


def gold_values(model: ModelOptions, loaded: Any, inputs: InputOptions) -> Any:
    """The --gold values per item (NaN = none), read and reported; None without --gold."""
    if model.gold is None:
        return None
    return truth_values(model.gold, loaded, inputs, model.gold_item_col, model.gold_label_col, "--gold")


def truth_values(
    path: Path, loaded: Any, inputs: InputOptions, own_item: Any, own_label: Any, what: str = "--truth"
) -> Any:
    from emcrowd import console as report
    from emcrowd.io.numeric import numeric_truth

    if str(path) == "-":
        raise EmcrowdError(f"{path}: only LABELS can be read from standard input; give {what} as a file")
    values, unknown = numeric_truth(
        path,
        loaded.labels,
        allow_aligned=loaded.report.format in ("matrix", "npz"),
        missing=inputs.missing,
        item_col=inputs.item_col or loaded.report.columns.get("item"),
        label_col=inputs.label_col or loaded.report.columns.get("label"),
        own_item_col=own_item,
        own_label_col=own_label,
    )
    if unknown:
        report.note(f"Note: {unknown:,} {what} items are not among the labelled items; ignored.")
    return values


def summarise(loaded: Any, quiet: bool) -> None:
    _reading.summarise(loaded, quiet)


def fit(
    labels: Path,
    *,
    out: Path | None,
    out_format: str,
    inputs: InputOptions,
    method: str | None,
    model: ModelOptions,
    quiet: bool,
    csv_safe: bool,
) -> None:
    from emcrowd import console as report
    from emcrowd import io, numeric_tables
    from emcrowd.analysis.numeric import fit_numeric

    method = method_of(method)
    options = options_of(model)
    to_stdout = out is not None and str(out) == "-"
    out_dir = out if out is not None else _output.default_out(labels)
    sources = [p for p in (labels, model.gold) if p is not None and str(p) != "-"]
    if not to_stdout:
        names = [f"{stem}.{out_format}" for stem in ("items", "workers")]
        _output.check_out_dir(out_dir, [*names, "summary.json"], sources)
    loaded = _reading.load(labels, inputs, quiet, describe=False)
    data = loaded.labels
    gold = gold_values(model, loaded, inputs)
    summarise(loaded, quiet)
    if gold is not None and method in ("mean", "median"):
        report.warning(f"{method} does not use --gold; the gold column in items is for reference")
    with report.fit_progress(not quiet, numeric_tables.TITLES[method]) as progress:
        fitted = fit_numeric(data, method, gold=gold, callback=progress, **options)
    if to_stdout:
        table = _output.safe(numeric_tables.label_table(data, fitted), csv_safe)
        _output.write_stdout(io.csv_chunks(table))
        numeric_tables.fit_summary(data, fitted, method, None, quiet)
        return
    tables = {
        "items": numeric_tables.item_table(data, fitted, gold),
        "workers": numeric_tables.worker_table(data, fitted),
    }
    record = numeric_tables.fit_record(data, fitted, method, loaded.report, _output.peak_memory_mb())
    outputs = {
        **_output.table_files(tables, out_format, quiet, csv_safe),
        "summary.json": io.json_text(record),
    }
    io.write_outputs(out_dir, outputs, inputs=sources)
    numeric_tables.fit_summary(data, fitted, method, str(out_dir), quiet)


def compare(
    labels: Path,
    *,
    truth: Path,
    truth_item_col: Any,
    truth_label_col: Any,
    as_json: bool,
    inputs: InputOptions,
    methods: str | None,
    model: ModelOptions,
    report_file: Path | None,
    quiet: bool,
) -> None:
    from emcrowd import _stdout, io, numeric_tables
    from emcrowd import console as report
    from emcrowd.analysis.numeric import compare_numeric
    from emcrowd.models.numeric import NUMERIC_METHODS, numeric_method_name

    chosen = list(NUMERIC_METHODS) if methods is None else [m for m in methods.split(",") if m.strip()]
    chosen = [numeric_method_name(m) for m in chosen]
    if not chosen:
        raise EmcrowdError("--methods names no method; give e.g. mean,robust")
    if report_file is not None:
        if report_file.is_dir():
            raise EmcrowdError(f"{report_file}: --report needs a file name, not a directory")
        _output.check_out_dir(report_file.parent, [report_file.name], [labels, truth])
    loaded = _reading.load(labels, inputs, quiet, describe=False)
    reference = truth_values(truth, loaded, inputs, truth_item_col, truth_label_col)
    gold = gold_values(model, loaded, inputs)
    summarise(loaded, quiet)
    with report.fit_progress(not quiet) as progress:
        metrics = compare_numeric(
            loaded.labels, reference, methods=chosen, gold=gold, options=options_of(model),
            seed=model.seed, callback=progress,
        )  # fmt: skip
    metrics["labels_file"] = loaded.report.source
    metrics["truth_file"] = str(truth)
    text = json.dumps(metrics, indent=2) + "\n"
    if report_file is not None:
        io.write_outputs(report_file.parent, {report_file.name: text}, inputs=[labels, truth])
    if not (quiet and (as_json or report_file is not None)):
        numeric_tables.compare_table(metrics, truth, quiet=quiet)
    if as_json:
        _stdout.write(text)


def info(labels: Path, *, as_json: bool, inputs: InputOptions, quiet: bool) -> None:
    from emcrowd import _stdout
    from emcrowd import console as report
    from emcrowd.analysis.numeric import interval_alpha

    loaded = _reading.load(labels, inputs, quiet, describe=False)
    summarise(loaded, quiet)
    alpha = interval_alpha(loaded.labels)
    alpha = None if math.isnan(alpha) else alpha
    if not quiet:
        shown = "n/a (no item has two answers, or all are equal)" if alpha is None else f"{alpha:.3f}"
        report.note(f"Krippendorff's alpha interval {shown}")
    if as_json:
        agreement = {"krippendorff_alpha_interval": alpha}
        record = {"source": loaded.report.to_dict(), **loaded.labels.describe(), "agreement": agreement}
        _stdout.write(json.dumps(record, indent=2) + "\n")


def relabel(
    labels: Path,
    *,
    budget: int,
    out: Path,
    inputs: InputOptions,
    model: ModelOptions,
    method: str | None,
    quiet: bool,
    csv_safe: bool,
) -> None:
    from emcrowd import console as report
    from emcrowd import io, numeric_tables
    from emcrowd.analysis.numeric import fit_numeric, relabel_numeric

    method = method_of(method)
    if str(out) != "-" and out.is_dir():
        raise EmcrowdError(f"{out}: --out needs a file name, not a directory")
    loaded = _reading.load(labels, inputs, quiet, describe=False)
    gold = gold_values(model, loaded, inputs)
    summarise(loaded, quiet)
    with report.fit_progress(not quiet, numeric_tables.TITLES[method]) as progress:
        fitted = fit_numeric(loaded.labels, method, gold=gold, callback=progress, **options_of(model))
    plan = relabel_numeric(fitted, budget)
    table = _output.safe(plan["table"], csv_safe)
    if str(out) == "-":
        _output.write_stdout(io.csv_chunks(table))
    else:
        written = [p for p in (labels, model.gold) if p is not None and str(p) != "-"]
        io.write_outputs(out.parent, {out.name: io.TableFile(table)}, inputs=written)
    if not quiet:
        where = "stdout" if str(out) == "-" else str(out)
        report.note(
            f"{len(table['item']):,} items whose estimate is least certain written to {where} (widest "
            f"intervals first; sd_after: the expected sd with one more answer at the typical noise sd "
            f"{plan['typical_noise']:.3g})."
        )


def simulate(
    out: Path,
    *,
    items: int,
    workers: int,
    labels_per_item: int | None,
    random_workers: float,
    seed: int,
    quiet: bool,
) -> None:
    """``simulate --numeric``: labels.csv (item, worker, value), truth.csv (item, value) and
    workers.csv (each annotator's true bias, noise sd and whether they answer at random)."""
    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.models.numeric.simulate import simulate_numeric

    k = min(5, workers) if labels_per_item is None else labels_per_item
    sim = simulate_numeric(items, workers, k, random_workers=random_workers, seed=seed)
    data = sim.labels
    files = io.write_outputs(
        out,
        {
            "labels.csv": io.TableFile(
                {
                    "item": [data.item_names[j] for j in data.item.tolist()],
                    "worker": [data.worker_names[w] for w in data.worker.tolist()],
                    "value": data.value,
                }
            ),
            "truth.csv": io.TableFile({"item": data.item_names, "value": sim.values.round(3)}),
            "workers.csv": io.TableFile(
                {
                    "worker": data.worker_names,
                    "bias": sim.bias.round(3),
                    "noise_sd": sim.noise.round(3),
                    "random": sim.random,
                }
            ),
        },
    )
    if not quiet:
        report.note(
            f"Simulated {data.n_labels:,} numeric answers ({data.n_items:,} items, {data.n_workers:,} "
            f"annotators, {int(sim.random.sum())} answering at random); wrote "
            f"{', '.join(str(f) for f in files)}."
        )
