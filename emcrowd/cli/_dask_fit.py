"""``emcrowd fit DATASET_DIR --engine dask``: the fit on a Dask cluster (:mod:`emcrowd.distributed`),
its outputs gathered into the same files as an in-memory fit's (all or nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emcrowd.errors import EmcrowdError, InputError


def fit_dask(
    dataset_dir: Path,
    *,
    out: Path | None,
    out_format: str,
    model: Any,
    method: str | None,
    scheduler: str | None,
    local_workers: int | None,
    quiet: bool,
    csv_safe: bool = False,
) -> None:
    """Fit ``method`` to the partitioned data set and write posteriors, items, workers and summary."""
    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.analysis.aggregate import method_name
    from emcrowd.cli import _output
    from emcrowd.cli.options import check_class_prior
    from emcrowd.io.partition import open_dataset
    from emcrowd.models import model_options
    from emcrowd.tables import fit_record, label_table, output_tables

    try:
        import distributed  # noqa: F401
    except ImportError:
        raise EmcrowdError("--engine dask needs dask and distributed: pip install 'emcrowd[dask]'") from None
    from emcrowd.distributed import METHODS, fit_dataset
    from emcrowd.distributed.engine import gathered_aggregation

    if scheduler is not None and local_workers is not None:
        raise EmcrowdError("give --scheduler or --local-workers, not both")
    if model.gold is not None:
        raise EmcrowdError("--engine dask does not take --gold")
    if model.ties.value != "lowest":
        raise EmcrowdError("--engine dask breaks majority-vote ties towards the lowest code only")
    method = method_name("glad" if method is None else method)
    if method not in METHODS:
        raise EmcrowdError(f"--engine dask fits {', '.join(METHODS)}; not {method}")
    dataset = open_dataset(dataset_dir)
    to_stdout = out is not None and str(out) == "-"
    out_dir = out if out is not None else Path(f"{Path(dataset_dir).name}-emcrowd")
    if not to_stdout:  # before starting a cluster, as the in-memory engine checks before the fit
        names = [f"{stem}.{out_format}" for stem in ("posteriors", "items", "workers", "confusion")]
        _output.check_out_dir(out_dir, [*names, "summary.json"], [dataset_dir])
        if (
            out_dir.resolve() == Path(dataset_dir).resolve()
            or Path(dataset_dir).resolve() in out_dir.resolve().parents
        ):
            raise InputError(out_dir, "is inside the data set; write the outputs elsewhere")
    options = model.as_kwargs()
    check_class_prior(options, dataset.n_classes)
    if not to_stdout:
        from emcrowd import budget

        try:
            budget.check_outputs(dataset)
        except budget.BudgetError as error:
            raise budget.BudgetError(f"{dataset_dir}: {error}") from None
    with report.fit_progress(not quiet, report.METHOD_TITLES.get(method, method)) as progress:
        fitted, majority = fit_dataset(
            dataset, method, scheduler=scheduler, local_workers=local_workers, callback=progress,
            **{k: v for k, v in model_options(method, options).items() if method != "majority"},
        )  # fmt: skip
    data, result = gathered_aggregation(dataset, method, fitted, majority)
    if to_stdout:
        _output.write_stdout(io.csv_chunks(_output.safe(label_table(data, result), csv_safe)))
        report.fit_summary(data, result, None, [], quiet=quiet)
        return
    tables = output_tables(data, result)
    record = fit_record(data, result, None, _output.peak_memory_mb())
    record["engine"] = {"name": "dask", "dataset": str(dataset_dir), "partitions": dataset.n_partitions}
    outputs = {
        **_output.table_files(tables, out_format, quiet, csv_safe),
        "summary.json": io.json_text(record),
    }
    replaced = any((out_dir / name).exists() for name in outputs)
    files = io.write_outputs(out_dir, outputs, inputs=[dataset_dir])
    report.fit_summary(data, result, out_dir, files, replaced=replaced, quiet=quiet)
