"""Machine annotators in the commands: ``--predictions FILE`` and ``--machine NAME`` for ``fit``,
``compare`` and ``relabel``, fitted with :class:`emcrowd.models.classification.machine.CrowdMachine`
(Dawid-Skene for the people, a learned calibration for each machine)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from emcrowd.errors import EmcrowdError

if TYPE_CHECKING:  # numpy is imported by the functions that use it: `emcrowd --help` does not need it
    import numpy as np

MACHINES = "Machine annotators"


@dataclass(frozen=True)
class MachineOptions:
    """Machine predictions beside the crowd's labels."""

    predictions: Annotated[
        list[Path] | None,
        typer.Option(
            "--predictions",
            metavar="FILE",
            help="A model's predictions (repeatable: one machine per file, or per value of a model "
            "column): an item column and a probability column per class (named by the class), or a "
            "label column and an optional confidence column; .csv/.tsv, Parquet, JSON or JSON Lines. The "
            "machine's weight is learned from the items it shares with people (docs/machines.md).",
            show_default=False,
            rich_help_panel=MACHINES,
        ),
    ] = None
    machine: Annotated[
        list[str] | None,
        typer.Option(
            "--machine",
            metavar="NAME",
            help="An annotator of LABELS that is a machine (an LLM answering in text): taken out of the "
            "crowd and fitted as a machine (repeatable).",
            show_default=False,
            rich_help_panel=MACHINES,
        ),
    ] = None
    unknown_items: Annotated[
        str,
        typer.Option(
            "--unknown-items",
            metavar="POLICY",
            help="Predicted items without a crowd label: add (their label is the machines' calibrated "
            "answer), drop, or error.",
            rich_help_panel=MACHINES,
        ),
    ] = "add"

    @property
    def given(self) -> bool:
        return bool(self.predictions or self.machine)


def load_machines(path: Path, loaded: Any, opts: MachineOptions) -> Any:
    """The crowd's labels and the machines, matched (:class:`emcrowd.predictions.MachineData`)."""
    from emcrowd.io.predictions import read_predictions
    from emcrowd.predictions import UNKNOWN_ITEM_POLICIES, attach, split_machines

    if opts.unknown_items not in UNKNOWN_ITEM_POLICIES:
        raise EmcrowdError(
            f"--unknown-items is one of {', '.join(UNKNOWN_ITEM_POLICIES)}, got {opts.unknown_items!r}"
        )
    labels = loaded.labels
    machines = []
    if opts.machine:
        labels, machines = split_machines(labels, list(opts.machine), source=str(path))
    for file in opts.predictions or ():
        if str(file) == "-":
            raise EmcrowdError(
                "--predictions - : give the predictions as a file (LABELS may come from stdin)"
            )
        machines += read_predictions(file)
    return attach(labels, machines, opts.unknown_items)


def check_method(method: str | None) -> None:
    from emcrowd.models import method_name

    if method is not None and method_name(method) != "dawid_skene":
        raise EmcrowdError(
            f"--predictions and --machine fit the crowd with Dawid-Skene beside the machines; "
            f"--method {method} does not take machines (leave --method out)"
        )


def fit_model(md: Any, options: dict[str, Any], gold: np.ndarray | None, quiet: bool) -> Any:
    """CrowdMachine fitted to ``md`` with the command's model options."""
    from emcrowd import console as report
    from emcrowd.models.classification.machine import CrowdMachine

    accepted = CrowdMachine.param_names()
    kwargs = {k: v for k, v in options.items() if k in accepted}
    with report.fit_progress(not quiet, "Crowd + machine") as progress:
        return CrowdMachine(**kwargs).fit_machine_data(md, gold, progress)


def gold_of(model_opts: Any, loaded: Any, md: Any, inputs: Any) -> np.ndarray | None:
    """--gold as class codes over ``md``'s items (machine-only items included)."""
    if model_opts.gold is None:
        return None
    return truth_of(
        model_opts.gold, loaded, md, inputs, model_opts.gold_item_col, model_opts.gold_label_col
    ).codes


def truth_of(
    path: Path, loaded: Any, md: Any, inputs: Any, item_col: Any = None, label_col: Any = None
) -> Any:
    from emcrowd import io

    return io.load_truth(
        path, md.labels, allow_aligned=False, missing=inputs.missing,
        item_col=inputs.item_col or loaded.report.columns.get("item"),
        label_col=inputs.label_col or loaded.report.columns.get("label"),
        own_item_col=item_col, own_label_col=label_col,
    )  # fmt: skip


# -- the commands ------------------------------------------------------------------------------------
def fit(
    labels: Path, *, out: Path | None, out_format: str, inputs: Any, method: str | None, model: Any,
    output: Any, csv_safe: bool, machines: MachineOptions,
) -> None:  # fmt: skip
    """``emcrowd fit`` with machines."""
    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.cli import _output, _reading
    from emcrowd.cli.options import check_class_prior
    from emcrowd.tables import label_table

    check_method(method)
    quiet = output.quiet
    options = model.as_kwargs()
    started = time.perf_counter()
    to_stdout = out is not None and str(out) == "-"
    out_dir = out if out is not None else _output.default_out(labels)
    sources = [
        p for p in (labels, model.gold, *(machines.predictions or ())) if p is not None and str(p) != "-"
    ]
    if not to_stdout:
        names = [f"{stem}.{out_format}" for stem in ("posteriors", "items", "workers")]
        _output.check_out_dir(out_dir, [*names, "summary.json"], sources)
    loaded = _reading.load(labels, inputs, quiet, describe=False)
    check_class_prior(options, loaded.labels.n_classes)
    md = load_machines(labels, loaded, machines)
    gold = gold_of(model, loaded, md, inputs)
    _reading.summarise(loaded, quiet)
    read_seconds = time.perf_counter() - started
    fitted = fit_model(md, options, gold, quiet)
    if to_stdout:

        class _Result:
            labels = fitted.labels_
            posteriors = fitted.posteriors_

        _output.write_stdout(io.csv_chunks(_output.safe(label_table(md.labels, _Result()), csv_safe)))  # type: ignore[arg-type]
        return
    from emcrowd.machine_tables import machine_lines, summary, tables

    record = summary(md, fitted, loaded.report.source)
    record["seconds"] = {"read": read_seconds, "fit": fitted.fit_seconds_}
    outputs = {
        **_output.table_files(tables(md, fitted, gold), out_format, quiet, csv_safe),
        "summary.json": io.json_text(record),
    }
    files = io.write_outputs(out_dir, outputs, inputs=sources)
    if not quiet:
        for line in machine_lines(md, fitted):
            report.note(line)
        report.note(
            f"Crowd + machine fit of {md.labels.n_items:,} items ({md.labels.n_items - md.n_crowd_items:,} "
            f"only machines saw) in {fitted.n_iter_} iterations; wrote {', '.join(p.name for p in files)} "
            f"to {out_dir}."
        )


def compare(
    labels: Path, *, truth: Path, truth_item_col: Any, truth_label_col: Any, as_json: bool, inputs: Any,
    model: Any, output: Any, report_file: Path | None, machines: MachineOptions,
) -> dict[str, Any]:  # fmt: skip
    """``emcrowd compare --truth`` with machines: the crowd alone (Dawid-Skene), each machine alone (its
    own probabilities) and both (crowd + machine), on the gold items."""
    import json

    import numpy as np

    from emcrowd import _stdout, io
    from emcrowd import console as report
    from emcrowd.analysis.evaluate import accuracy_interval, brier, log_loss, macro_f1
    from emcrowd.cli import _output, _reading
    from emcrowd.cli.options import check_class_prior
    from emcrowd.models.classification.dawid_skene import DawidSkene

    quiet = output.quiet
    options = model.as_kwargs()
    sources = [labels, truth, *(machines.predictions or ())]
    if report_file is not None:
        _output.check_out_dir(report_file.parent, [report_file.name], sources)
    loaded = _reading.load(labels, inputs, quiet, describe=False)
    check_class_prior(options, loaded.labels.n_classes)
    md = load_machines(labels, loaded, machines)
    reference = truth_of(truth, loaded, md, inputs, truth_item_col, truth_label_col)
    gold = gold_of(model, loaded, md, inputs)
    _reading.summarise(loaded, quiet)
    known = np.flatnonzero(reference.codes >= 0)
    if known.size == 0:
        raise EmcrowdError(f"{truth}: no gold label names an item of the labels or the predictions")
    both = fit_model(md, options, gold, quiet)
    ds_kwargs = {k: v for k, v in options.items() if k in DawidSkene.param_names()}
    crowd_labels = md.labels
    crowd_gold = None if gold is None or not (gold >= 0).any() else gold
    crowd = DawidSkene(**ds_kwargs).fit(crowd_labels, gold=crowd_gold)
    k = md.labels.n_classes
    has_label = np.bincount(md.labels.item, minlength=md.labels.n_items) > 0
    rows: dict[str, tuple[np.ndarray, np.ndarray]] = {"crowd (Dawid-Skene)": (crowd.posteriors_, has_label)}
    for m, machine in enumerate(md.machines):
        proba = md.machine_proba(m)
        covered = ~np.isnan(proba[:, 0])
        rows[f"machine {machine.name}"] = (np.where(covered[:, None], proba, 1.0 / k), covered)
    rows["crowd + machine"] = (both.posteriors_, np.ones(md.labels.n_items, dtype=bool))
    rng = np.random.default_rng(model.seed)
    truth_codes = reference.codes[known]
    metrics: dict[str, Any] = {"n_gold": int(known.size), "methods": {}}
    for name, (post, covered) in rows.items():
        p = post[known]
        pred = np.argmax(p, axis=1)
        correct = pred == truth_codes
        metrics["methods"][name] = {
            "accuracy": float(correct.mean()),
            "accuracy_ci95": accuracy_interval(correct, rng),
            "macro_f1": float(macro_f1(pred, truth_codes)),
            "brier": float(brier(p, truth_codes)),
            "log_loss": float(log_loss(p, truth_codes)),
            "coverage": float(covered[known].mean()),
        }
    from emcrowd.machine_tables import machine_lines, summary

    metrics["machines"] = summary(md, both, loaded.report.source)["machines"]
    metrics["labels_file"] = loaded.report.source
    metrics["truth_file"] = str(truth)
    text = json.dumps(metrics, indent=2) + "\n"
    if report_file is not None:
        io.write_outputs(report_file.parent, {report_file.name: text}, inputs=sources)
    if not (quiet and (as_json or report_file is not None)):
        report.note(f"{known.size:,} gold items ({truth}); coverage: share of them each one answers")
        report.note(f"{'':<28}{'accuracy':>9}{'log-loss':>9}{'brier':>8}{'macro-F1':>9}{'coverage':>9}")
        for name, row in metrics["methods"].items():
            report.note(
                f"{name:<28}{row['accuracy']:>9.4f}{row['log_loss']:>9.4f}{row['brier']:>8.4f}"
                f"{row['macro_f1']:>9.4f}{row['coverage']:>9.2f}"
            )
        if not quiet:
            for line in machine_lines(md, both):
                report.note(line)
    if as_json:
        _stdout.write(text)
    return metrics


def relabel(
    labels: Path, *, budget: int, out: Path, inputs: Any, model: Any, method: str | None, output: Any,
    csv_safe: bool, machines: MachineOptions,
) -> None:  # fmt: skip
    """``emcrowd relabel`` with machines: the items where one more human label is worth most, given
    what the machines say."""
    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.analysis.machines import expected_gain
    from emcrowd.cli import _output, _reading
    from emcrowd.cli.options import check_class_prior
    from emcrowd.machine_tables import machine_lines, relabel_table

    check_method(method)
    quiet = output.quiet
    options = model.as_kwargs()
    if str(out) != "-" and out.is_dir():
        raise EmcrowdError(f"{out}: --out needs a file name, not a directory")
    sources = [
        p for p in (labels, model.gold, *(machines.predictions or ())) if p is not None and str(p) != "-"
    ]
    loaded = _reading.load(labels, inputs, quiet, describe=False)
    check_class_prior(options, loaded.labels.n_classes)
    md = load_machines(labels, loaded, machines)
    gold = gold_of(model, loaded, md, inputs)
    _reading.summarise(loaded, quiet)
    fitted = fit_model(md, options, gold, quiet)
    gain = expected_gain(md, fitted)
    if gold is not None:
        gain[gold >= 0] = 0.0
    table, expected = relabel_table(md, fitted, gain, budget)
    table = _output.safe(table, csv_safe)
    if str(out) == "-":
        _output.write_stdout(io.csv_chunks(table))
    else:
        io.write_outputs(out.parent, {out.name: io.TableFile(table)}, inputs=sources)
    if not quiet:
        for line in machine_lines(md, fitted):
            report.note(line)
        where = "stdout" if str(out) == "-" else str(out)
        report.note(
            f"{len(table['item']):,} items to relabel written to {where}: one more human label each is "
            f"expected to make {expected:.1f} more of them right (crowd + machine fit)."
        )
