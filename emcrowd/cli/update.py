"""``emcrowd update``: add new labels to a kept fit, incrementally (:mod:`emcrowd.cli._incremental`)
or by fitting all of them again, warm-started."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from emcrowd.cli.options import CsvSafeOpt, InputOptions, JsonOpt, OutputOptions, option_groups

PrevArg = Annotated[
    Path,
    typer.Argument(
        metavar="PREV_DIR",
        help="Output directory of `emcrowd fit --keep-state` (or of an earlier update).",
        show_default=False,
    ),
]
NewArg = Annotated[
    Path,
    typer.Argument(
        metavar="NEW_LABELS",
        help="The new labels, in any format `emcrowd fit` reads ('-' for standard input).",
        show_default=False,
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Write the updated outputs and state here (default: PREV_DIR itself, replaced all at once).",
        show_default=False,
    ),
]

ColdCheckOpt = Annotated[
    float,
    typer.Option(
        "--cold-check",
        min=0.0,
        metavar="SHARE",
        help="When the new labels are at least this share of those already fitted, also fit from the "
        "usual start (majority vote) and keep the fit with the better objective.",
    ),
]

RefitOpt = Annotated[
    bool,
    typer.Option(
        "--refit",
        help="Fit all the labels again (warm-started) instead of the incremental update: the exact fit.",
    ),
]

EXAMPLES = (
    "emcrowd fit monday.csv --keep-state --out labels-fit",
    "emcrowd update labels-fit tuesday.csv",
    "emcrowd update labels-fit tuesday.csv --out labels-fit-tuesday",
)


@option_groups
def update(
    prev_dir: PrevArg,
    new_labels: NewArg,
    *,
    out: OutOpt = None,
    inputs: InputOptions,
    output: OutputOptions,
    csv_safe: CsvSafeOpt = False,
    cold_check: ColdCheckOpt = 0.1,
    refit: RefitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add NEW_LABELS to the fit kept in PREV_DIR: incremental EM on the items they touch (GLAD,
    Dawid-Skene), or all the labels fitted again starting from the previous fit (--refit, other
    methods, or many new labels).

    New items, new annotators and more labels on known items are all welcome; a label already in the
    fit (same item, annotator and class) is not counted twice, and a repeated item-annotator pair with
    another class follows the fit's --duplicates policy. Writes posteriors, items, workers, summary.json
    and the new state, all or nothing. docs/incremental.md describes it.
    """
    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.analysis.aggregate import aggregate
    from emcrowd.cli import _fitstate as _state
    from emcrowd.cli import _output, _reading
    from emcrowd.io.state import read_state, read_state_meta
    from emcrowd.models import model_options
    from emcrowd.tables import fit_record, output_tables

    quiet = output.quiet
    phases: dict[str, float] = {}
    started = time.perf_counter()
    meta = read_state_meta(prev_dir)  # a wrong directory is refused before the new labels are read
    out_dir = prev_dir if out is None else out
    in_place = out is None or out.resolve() == prev_dir.resolve()
    fmt = "parquet" if (prev_dir / "items.parquet").exists() else "csv"
    if not in_place:
        _output.check_out_dir(out_dir, [], [new_labels])
    classes = tuple(meta.get("class_names", ()))
    if inputs.classes is None:  # the fit's classes, so that a batch without some class still reads
        inputs = _with_classes(inputs, classes)
    loaded = _reading.load(new_labels, inputs, quiet, describe=False)
    _state.check_classes(prev_dir, classes, loaded.labels.class_names, new_labels)
    phases["read_new"] = time.perf_counter() - started
    if _incremental_update(
        prev_dir, meta, loaded, new_labels=new_labels, out_dir=out_dir, fmt=fmt, csv_safe=csv_safe,
        quiet=quiet, cold_check=cold_check, refit=refit, as_json=as_json, in_place=in_place,
        phases=phases,
    ):  # fmt: skip
        return
    started = time.perf_counter()
    state = read_state(prev_dir, meta)  # (a damaged state is one line, before the data summary)
    _reading.summarise(loaded, quiet)
    phases["read_state"] = time.perf_counter() - started
    started = time.perf_counter()
    merged, n_new, n_new_items, n_new_workers = _state.merge(state.labels, loaded.labels)
    if n_new == 0:
        if not quiet:
            report.note(
                f"Every label of {new_labels} is already in the fit in {prev_dir}: nothing changes "
                "and nothing is written."
            )
        if as_json:
            _json_out({"update": {"from": str(prev_dir), "new_labels": 0, "written": False}})
        return
    duplicates = state.extra.get("duplicates", "keep")
    merged = _state.apply_duplicates(merged, duplicates, new_labels)
    gold = state.gold
    if gold is not None:
        import numpy as np

        gold = np.concatenate([gold, np.full(merged.n_items - gold.size, -1, dtype=gold.dtype)])
    phases["merge"] = time.perf_counter() - started
    started = time.perf_counter()
    method = state.method
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in state.options.items()}
    ties = state.extra.get("ties", "lowest")
    init = _state.warm_start(state)
    if init is None and method not in ("majority",) and not quiet:
        report.note(f"{method} cannot start from a previous fit: fitting all the labels afresh.")
    with report.fit_progress(not quiet, report.METHOD_TITLES.get(method, method)) as progress:
        result = aggregate(
            merged, method, gold=gold, ties=ties, callback=progress, init=init,
            **model_options(method, options),
        )  # fmt: skip
    if init is not None and n_new >= cold_check * state.labels.n_labels:
        # Many new labels: the previous fit's optimum may not be the one all the labels lead to (it
        # may even be a poor one, fitted on few annotators). EM from the usual start too; the better
        # objective wins, as between the starts of --n-init.
        with report.fit_progress(not quiet, report.METHOD_TITLES.get(method, method)) as progress:
            cold = aggregate(
                merged, method, gold=gold, ties=ties, callback=progress, **model_options(method, options)
            )
        if cold.model.lower_bound_ > result.model.lower_bound_:
            result = cold
    phases["fit"] = time.perf_counter() - started
    started = time.perf_counter()
    tables = output_tables(merged, result, gold)
    record = fit_record(merged, result, loaded.report, _output.peak_memory_mb())
    record["update"] = {
        "from": str(prev_dir), "new_labels": n_new, "new_items": n_new_items, "new_workers": n_new_workers,
        "phases": dict(phases),
    }  # fmt: skip
    outputs = {
        **_output.table_files(tables, fmt, quiet, csv_safe),
        "summary.json": io.json_text(record),
        **_state.state_outputs(merged, result, gold, dict(state.extra)),
    }
    files = io.write_outputs(out_dir, outputs, inputs=[new_labels] if str(new_labels) != "-" else [])
    for stale in out_dir.glob("state-labels-*.npz"):  # chunks of an incremental update: all in one file
        stale.unlink(missing_ok=True)
    phases["write"] = time.perf_counter() - started
    report.fit_summary(
        merged, result, out_dir, files, replaced=in_place, quiet=quiet, ties=ties, phases=phases
    )
    if not quiet:
        report.note(
            f"Added {n_new:,} labels ({n_new_items:,} new items, {n_new_workers:,} new annotators) to the "
            f"{state.labels.n_labels:,} of {prev_dir}; {result.n_iter} iterations."
        )
    if as_json:
        _json_out(json.loads(outputs["summary.json"]))


def _incremental_update(
    prev_dir: Path, meta: dict, loaded: object, *, new_labels: Path, out_dir: Path, fmt: str,
    csv_safe: bool, quiet: bool, cold_check: float, refit: bool, as_json: bool, in_place: bool,
    phases: dict[str, float],
) -> bool:  # fmt: skip
    """The incremental path (emcrowd.cli._incremental); False where all the labels are fitted again."""
    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.cli import _incremental

    if refit:
        return False
    why = _incremental.applies(meta, prev_dir, fmt)
    done = None
    if why is None:
        done = _incremental.run(
            prev_dir, meta, loaded.labels, out_dir=out_dir, fmt=fmt, csv_safe=csv_safe, quiet=quiet,
            cold_check=cold_check, phases=phases, new_source=new_labels,
        )  # type: ignore[attr-defined]  # fmt: skip
    if done is not None:
        from emcrowd.cli import _reading

        _reading.summarise(loaded, quiet)
    if done == _incremental.NOTHING_NEW:
        if not quiet:
            report.note(
                f"Every label of {new_labels} is already in the fit in {prev_dir}: nothing changes "
                "and nothing is written."
            )
        if as_json:
            _json_out({"update": {"from": str(prev_dir), "new_labels": 0, "written": False}})
        return True
    if done is None:
        if not quiet and meta.get("method") != "majority":
            reason = why or f"the new labels are at least --cold-check {cold_check:g} of those fitted"
            report.note(f"Fitting all the labels again: {reason}.")
        return False
    started = time.perf_counter()
    files = io.write_outputs(out_dir, done["outputs"], inputs=[new_labels] if str(new_labels) != "-" else [])
    phases["write"] = time.perf_counter() - started
    if not quiet:
        report.note(
            f"Added {done['n_new']:,} labels ({done['n_new_items']:,} new items, "
            f"{done['n_new_workers']:,} new annotators) to {prev_dir} incrementally: "
            f"{done['active']:,} items scored, {done['n_iter']} iterations; "
            f"{done['n_labels']:,} labels in all. Wrote {len(files)} files to {out_dir}"
            f"{' (replaced)' if in_place else ''}."
        )
    if as_json:
        _json_out(done["summary"])
    return True


def _with_classes(inputs: InputOptions, classes: tuple[str, ...]) -> InputOptions:
    from dataclasses import replace

    return replace(inputs, classes=",".join(classes))


def _json_out(record: dict) -> None:
    from emcrowd import _stdout, io

    _stdout.write(io.json_text(record))
