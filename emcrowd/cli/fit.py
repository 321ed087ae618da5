"""``emcrowd fit``: aggregate the labels and write posteriors, item and annotator estimates."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from emcrowd.cli import _combinations, _machines, _output, _reading
from emcrowd.cli.choices import MethodChoice
from emcrowd.cli.options import (
    MODEL,
    CsvSafeOpt,
    InputOptions,
    LabelsArg,
    ModelOptions,
    MultiLabelOptions,
    OutputOptions,
    TableFormat,
    check_class_prior,
    option_groups,
)
from emcrowd.errors import EmcrowdError

OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Output directory for posteriors.csv, items.csv, workers.csv (or .parquet) and summary.json "
        "(default: ./<LABELS name>-emcrowd). '-' prints item,label,confidence CSV on stdout instead.",
        show_default=False,
    ),
]
OutFormatOpt = Annotated[
    TableFormat,
    typer.Option(
        "--out-format",
        help="Format of posteriors, items and workers: csv, or parquet (smaller and faster to read back).",
    ),
]
MethodOpt = Annotated[
    str | None,
    typer.Option(
        "--method",
        "-m",
        metavar="METHOD",
        click_type=MethodChoice(),
        help="glad (item difficulty and annotator ability; the default), dawid-skene (a confusion "
        "matrix per annotator), bayesian-ds (Dawid-Skene with priors learned from the crowd), ebcc "
        "(classes with subtypes, for correlated annotators), one-coin (one accuracy per annotator), mace "
        "(each annotator answers right or spams from its own answer distribution), "
        "majority, or auto (the model that best predicts held-out labels; no gold used). With --numeric: "
        "bias-noise (the default), robust, mean or median.",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]


EXAMPLES = (
    "emcrowd fit sample_data/L.npy --out demo-output",
    "emcrowd fit labels.csv --method auto",
    "emcrowd fit labels.csv --gold known.csv --out-format parquet",
    "emcrowd fit labels.csv --out - > labels-aggregated.csv",
)


DropFlaggedOpt = Annotated[
    bool,
    typer.Option(
        "--drop-flagged",
        help="Fit, drop the annotators flagged as spammer, constant or below chance (see workers.csv), "
        "and fit again without them; the outputs are the second fit's.",
        rich_help_panel=MODEL,
    ),
]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="memory (the default), or dask: LABELS is a data set directory written by `emcrowd "
        "partition`, fitted on a Dask cluster (glad, dawid-skene, one-coin, majority; needs the dask "
        "extra: pip install 'emcrowd\\[dask]').",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="With --engine dask: the scheduler's address (tcp://HOST:8786).",
        show_default=False,
    ),
]
LocalWorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--local-workers", min=1, show_default=False,
        help="With --engine dask: start a local cluster of this many worker processes (default 2).",
    ),
]  # fmt: skip


FromOpt = Annotated[
    Path | None,
    typer.Option(
        "--from",
        metavar="PREV_DIR",
        help="Start EM from the fit whose outputs (and --keep-state files) are in PREV_DIR: its "
        "annotators' parameters and class prior, matched by id (see docs/incremental.md).",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]
KeepStateOpt = Annotated[
    bool,
    typer.Option(
        "--keep-state",
        help="Also write state.json, state-labels.npz and state-params.npz: what `emcrowd update` and "
        "--from read (see docs/incremental.md).",
    ),
]


@option_groups
def fit(
    labels: LabelsArg,
    *,
    out: OutOpt = None,
    out_format: OutFormatOpt = TableFormat.csv,
    inputs: InputOptions,
    multi: MultiLabelOptions,
    method: MethodOpt = None,
    model: ModelOptions,
    drop_flagged: DropFlaggedOpt = False,
    output: OutputOptions,
    csv_safe: CsvSafeOpt = False,
    engine: EngineOpt = "memory",
    scheduler: SchedulerOpt = None,
    local_workers: LocalWorkersOpt = None,
    machines: _machines.MachineOptions,
    from_: FromOpt = None,
    keep_state: KeepStateOpt = False,
) -> None:
    """Aggregate the labels (GLAD by default) into one label per item, with estimates.

    Writes posteriors, items (label, confidence, difficulty), workers (each annotator's reliability)
    and summary.json.
    """
    if engine not in ("memory", "dask"):
        raise EmcrowdError(f"--engine is memory or dask, got {engine!r}")
    _combinations.refuse(
        engine=engine, drop_flagged=drop_flagged, warm=from_ is not None or keep_state, inputs=inputs,
        machines=machines.given,
    )  # fmt: skip
    if machines.given:  # a model's predictions or an LLM's answers beside the crowd: docs/machines.md
        return _machines.fit(
            labels, out=out, out_format=out_format.value, inputs=inputs, method=method, model=model,
            output=output, csv_safe=csv_safe, machines=machines,
        )  # fmt: skip
    if inputs.numeric:
        from emcrowd.cli import _numeric

        return _numeric.fit(
            labels, out=out, out_format=out_format.value, inputs=inputs, method=method, model=model,
            quiet=output.quiet, csv_safe=csv_safe,
        )  # fmt: skip
    if engine == "dask":
        from emcrowd.cli._dask_fit import fit_dask

        return fit_dask(
            labels,
            out=out,
            out_format=out_format.value,
            model=model,
            method=method,
            scheduler=scheduler,
            local_workers=local_workers,
            quiet=output.quiet,
            csv_safe=csv_safe,
        )
    if scheduler is not None or local_workers is not None:
        raise EmcrowdError("--scheduler and --local-workers go with --engine dask")
    multi_args = dict(
        unsupported={"--drop-flagged": drop_flagged},
        out=out,
        out_format=out_format.value,
        inputs=inputs,
        multi=multi,
        model=model,
        method=method,
        quiet=output.quiet,
        csv_safe=csv_safe,
    )
    if multi.requested:
        from emcrowd.cli import _multilabel

        return _multilabel.fit(labels, loaded=None, **multi_args)
    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.analysis.aggregate import aggregate, method_name
    from emcrowd.models import model_options
    from emcrowd.tables import fit_record, label_table, output_tables

    quiet = output.quiet
    init = None
    if from_ is not None:
        from emcrowd.cli import _fitstate as _state

        previous = _state.read(from_)
        method = _state.check_method(from_, previous.method, method)
        init = _state.warm_start(previous)
        if init is None and previous.method != "majority":
            from emcrowd import console

            console.warning(f"{previous.method} cannot start from a previous fit: it starts as usual")
    method = method_name("glad" if method is None else method)
    options = model.as_kwargs()
    started = time.perf_counter()
    to_stdout = out is not None and str(out) == "-"
    out_dir = out if out is not None else _output.default_out(labels)
    sources = [p for p in (labels, model.gold) if p is not None and str(p) != "-"]
    if not to_stdout:
        names = [f"{stem}.{out_format.value}" for stem in ("posteriors", "items", "workers", "confusion")]
        _output.check_out_dir(out_dir, [*names, "summary.json"], sources)
    elif keep_state:
        raise EmcrowdError("--keep-state writes files: give --out a directory, not -")
    loaded = _reading.load(labels, inputs, quiet, describe=False)
    if _reading.multi_label(loaded, inputs.ordinal):
        from emcrowd.cli import _multilabel

        if from_ is not None or keep_state:
            raise EmcrowdError("--from and --keep-state are not available for multi-select answers")

        return _multilabel.fit(labels, loaded=loaded, **multi_args)
    data = loaded.labels
    if from_ is not None:
        _state.check_classes(from_, previous.labels.class_names, data.class_names, labels)
    check_class_prior(options, data.n_classes)
    known = _reading.read_gold(model, loaded, inputs)
    _reading.check_ordinal_methods(labels, data, [method])
    _reading.check_memory(labels, data, [method], options, outputs=not to_stdout)
    _reading.summarise(loaded, quiet)  # every input checked: now the summary, then the work
    gold_codes = _reading.codes_of(known)
    if gold_codes is not None and method == "majority":
        report.warning("majority vote does not use --gold; the gold column in items.csv is for reference")
    phases = {"read": time.perf_counter() - started}
    started = time.perf_counter()
    with report.fit_progress(not quiet, report.METHOD_TITLES.get(method, method)) as progress:
        result = aggregate(
            data,
            method,
            gold=gold_codes,
            ties=model.ties.value,
            callback=progress,
            init=init,
            **model_options(method, options),
        )
    if drop_flagged:
        result, data = _refit_without_flagged(data, result, gold_codes, model, options, quiet)
    phases["fit"] = time.perf_counter() - started
    started = time.perf_counter()
    summary = {"quiet": quiet, "ties": model.ties.value, "phases": phases}
    if to_stdout:
        _output.write_stdout(io.csv_chunks(_output.safe(label_table(data, result), csv_safe)))
        phases["write"] = time.perf_counter() - started
        report.fit_summary(data, result, None, [], **summary)
        return
    tables = output_tables(data, result, gold_codes)
    outputs = {
        **_output.table_files(tables, out_format.value, quiet, csv_safe),
        "summary.json": io.json_text(fit_record(data, result, loaded.report, _output.peak_memory_mb())),
    }
    if keep_state:
        from emcrowd.cli import _fitstate as _state

        extra = {"ties": model.ties.value, "duplicates": inputs.duplicates.value}
        outputs |= _state.state_outputs(data, result, gold_codes, extra)
    replaced = any((out_dir / name).exists() for name in outputs)
    files = io.write_outputs(out_dir, outputs, inputs=sources)
    phases["write"] = time.perf_counter() - started
    report.fit_summary(data, result, out_dir, files, replaced=replaced, **summary)


def _refit_without_flagged(
    data: Any, result: Any, gold_codes: Any, model: ModelOptions, options: dict[str, Any], quiet: bool
) -> tuple[Any, Any]:
    """--drop-flagged: the refit without the flagged annotators, and the labels it was fitted to."""
    from emcrowd import console as report
    from emcrowd.analysis.aggregate import drop_flagged
    from emcrowd.models import model_options

    method = result.fitted_method
    with report.fit_progress(not quiet, report.METHOD_TITLES.get(method, method)) as progress:
        kept, refit, dropped = drop_flagged(
            data,
            result,
            gold_codes,
            ties=model.ties.value,
            callback=progress,
            **model_options(method, options),
        )
    if not quiet:
        if dropped:
            shown = ", ".join(dropped[:5]) + (f" and {len(dropped) - 5:,} more" if len(dropped) > 5 else "")
            report.note(
                f"Dropped {len(dropped):,} flagged annotator{'s' if len(dropped) != 1 else ''} "
                f"({shown}; {sum(data.labels_per_worker()) - kept.n_labels:,} labels) and fitted again "
                f"without them."
            )
        else:
            report.note("Dropped 0 flagged annotators: nobody is flagged; the fit is kept as it is.")
    return refit, kept
