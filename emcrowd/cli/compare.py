"""``emcrowd compare``: score every method against gold labels, side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from emcrowd import _stdout
from emcrowd.cli import _machines, _output, _reading
from emcrowd.cli.choices import bounded
from emcrowd.cli.options import (
    MODEL,
    InputOptions,
    LabelsArg,
    ModelOptions,
    MultiLabelOptions,
    OutputOptions,
    check_class_prior,
    file_column,
    option_groups,
)
from emcrowd.errors import EmcrowdError

TruthOpt = Annotated[
    Path,
    typer.Option(
        "--truth",
        "-t",
        help="Gold labels: a table with item and label columns (ids matched to LABELS; .csv/.tsv, "
        "Parquet, JSON; columns named by --truth-item-col/--truth-label-col), a platform export's "
        "control answers (the LABELS file itself will do), or, for a label matrix, a .npy vector or "
        "one-column .csv aligned with its rows (NaN/empty = unknown).",
        show_default=False,
    ),
]
TruthItemCol = file_column("--truth-item-col", "item", "truth", "Input")
TruthLabelCol = file_column("--truth-label-col", "gold label", "truth", "Input")
CompareJson = Annotated[
    bool, typer.Option("--json", help="Print the metrics as JSON on stdout (the table still goes to stderr).")
]
MethodsOpt = Annotated[
    str,
    typer.Option(
        "--methods",
        metavar="M1,M2,...",
        rich_help_panel=MODEL,
        help="Methods to compare: majority, glad, dawid-skene, bayesian-ds, ebcc, one-coin, mace, auto, "
        "ordinal-ds. Default: all but ebcc, whose restarts make it the slowest by far (and ordinal-ds only "
        "with --ordinal). Majority vote always runs; auto chooses without looking at the truth.",
        show_default=False,
    ),
]
ConfusionOpt = Annotated[
    bool, typer.Option("--confusion", help="Also print each method's confusion matrix (truth x answer).")
]
DisagreementsOpt = Annotated[
    int,
    typer.Option(
        "--disagreements",
        callback=bounded(0),
        metavar="N",
        help="List up to N gold items where GLAD and majority vote disagree, and who was right.",
    ),
]
ReportOpt = Annotated[
    Path | None,
    typer.Option("--report", metavar="FILE.json", help="Also write the JSON metrics to this file."),
]


#: compare's --methods by default (with --numeric: every numeric method).
DEFAULT_METHODS = "majority,glad,dawid-skene,one-coin,mace,bayesian-ds,auto"

EXAMPLES = (
    "emcrowd compare sample_data/L.npy --truth sample_data/y.npy",
    "emcrowd compare labels.csv -t truth.csv --methods glad,dawid-skene --disagreements 10",
    "emcrowd compare labels.csv -t truth.csv --json -q > metrics.json",
)


#: The methods compare runs unless told (with multi-select answers: per-class majority and Dawid-Skene).
DEFAULT_METHODS = "majority,glad,dawid-skene,one-coin,mace,bayesian-ds,auto"


@option_groups
def compare(
    labels: LabelsArg,
    *,
    truth: TruthOpt,
    truth_item_col: TruthItemCol = None,
    truth_label_col: TruthLabelCol = None,
    as_json: CompareJson = False,
    inputs: InputOptions,
    multi: MultiLabelOptions,
    methods: MethodsOpt = DEFAULT_METHODS,
    model: ModelOptions,
    confusion: ConfusionOpt = False,
    disagreements: DisagreementsOpt = 0,
    report_file: ReportOpt = None,
    output: OutputOptions,
    machines: _machines.MachineOptions,
) -> None:
    """Score every method against gold labels, side by side.

    Majority vote, GLAD, Dawid-Skene, one-coin, MACE, Bayesian DS and auto by default (see --methods), with
    accuracy, its 95% interval, macro-F1, Brier score and log-loss. With -q, stderr has only warnings
    and errors when the metrics go elsewhere (--json, --report); else -q keeps the table itself.
    """
    if inputs.numeric:
        from emcrowd.cli import _numeric

        return _numeric.compare(
            labels, truth=truth, truth_item_col=truth_item_col, truth_label_col=truth_label_col,
            as_json=as_json, inputs=inputs, methods=None if methods == DEFAULT_METHODS else methods,
            model=model, report_file=report_file, quiet=output.quiet,
        )  # fmt: skip
    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.analysis.evaluate import NoGoldError
    from emcrowd.analysis.evaluate import compare as compare_methods
    from emcrowd.models import method_name

    if machines.given:  # the crowd alone, each machine alone, and both: docs/machines.md
        _machines.compare(
            labels, truth=truth, truth_item_col=truth_item_col, truth_label_col=truth_label_col,
            as_json=as_json, inputs=inputs, model=model, output=output, report_file=report_file,
            machines=machines,
        )  # fmt: skip
        return
    quiet = output.quiet
    chosen = [method_name(m) for m in methods.split(",") if m.strip()]
    if not chosen:
        raise EmcrowdError("--methods names no method; give e.g. glad,dawid-skene")
    if report_file is not None and report_file.is_dir():
        raise EmcrowdError(f"{report_file}: --report needs a file name, not a directory")

    multi_args = dict(
        unsupported={
            "--report": report_file is not None,
            "--confusion": confusion,
            "--disagreements": disagreements > 0,
        },
        truth=truth,
        truth_item_col=truth_item_col,
        truth_label_col=truth_label_col,
        as_json=as_json,
        inputs=inputs,
        multi=multi,
        methods=methods,
        default_methods=DEFAULT_METHODS,
        model=model,
        quiet=quiet,
    )
    if multi.requested:
        from emcrowd.cli import _multilabel

        return _multilabel.compare(labels, loaded=None, **multi_args)
    options = model.as_kwargs()
    if report_file is not None:
        _output.check_out_dir(report_file.parent, [report_file.name], [labels, truth])
    loaded = _reading.load(labels, inputs, quiet, describe=False)
    if _reading.multi_label(loaded, inputs.ordinal):
        from emcrowd.cli import _multilabel

        return _multilabel.compare(labels, loaded=loaded, **multi_args)
    data = loaded.labels
    if data.ordered and methods == DEFAULT_METHODS and "ordinal_ds" not in chosen:
        chosen.append("ordinal_ds")  # graded labels: the ordinal model too, by default
    check_class_prior(options, data.n_classes)
    reference = _reading.truth(truth, loaded, inputs, truth_item_col, truth_label_col)
    known = _reading.read_gold(model, loaded, inputs)
    _reading.check_ordinal_methods(labels, data, chosen)
    _reading.check_memory(labels, data, chosen, options)
    _reading.summarise(loaded, quiet)  # every input checked: now the summary, then the work
    gold_codes = _reading.codes_of(known)
    try:
        with report.fit_progress(not quiet) as progress:
            metrics = compare_methods(
                data,
                reference.codes,
                methods=chosen,
                gold=gold_codes,
                options=options,
                ties=model.ties.value,
                seed=model.seed,
                disagreements=disagreements,
                callback=progress,
                on_method=getattr(progress, "method", None),
            )
    except NoGoldError as exc:
        raise EmcrowdError(f"{truth}: {exc}") from None
    metrics["n_gold_unknown_items"] = reference.n_unknown_items
    metrics["labels_file"] = loaded.report.source
    metrics["truth_file"] = str(truth)
    text = json.dumps(metrics, indent=2) + "\n"
    if report_file is not None:
        io.write_outputs(report_file.parent, {report_file.name: text}, inputs=[labels, truth])
    if quiet and (as_json or report_file is not None):
        report.compare_warnings(metrics)
    else:  # without --json or --report the table is compare's result: -q keeps it, drops the rest
        report.compare_table(metrics, truth, confusion=confusion, quiet=quiet)
        if not quiet:
            from emcrowd.analysis.agreement import agreement_line

            report.note(agreement_line(metrics["agreement"]))
    if as_json:
        _stdout.write(text)
