"""``emcrowd relabel``: which items one more label helps most, and which annotators to review."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emcrowd.cli import _machines, _output, _reading
from emcrowd.cli.fit import MethodOpt
from emcrowd.cli.options import (
    CsvSafeOpt,
    InputOptions,
    LabelsArg,
    ModelOptions,
    MultiLabelOptions,
    OutputOptions,
    check_class_prior,
    option_groups,
)
from emcrowd.errors import EmcrowdError

BudgetOpt = Annotated[
    int,
    typer.Option(
        "--budget",
        "-b",
        min=1,
        help="Extra labels to spend, one per item: relabel.csv lists this many items, best first.",
        show_default=False,
    ),
]
OutOpt = Annotated[
    Path,
    typer.Option("--out", "-o", help="The CSV to write; '-' prints it on stdout instead."),
]
#: Annotators listed on stderr at most.
N_REVIEW = 10


EXAMPLES = ("emcrowd relabel labels.csv --budget 100", "emcrowd relabel labels.csv --budget 500 -o next.csv")


@option_groups
def relabel(
    labels: LabelsArg,
    *,
    budget: BudgetOpt,
    out: OutOpt = Path("relabel.csv"),
    inputs: InputOptions,
    multi: MultiLabelOptions,
    model: ModelOptions,
    method: MethodOpt = None,
    output: OutputOptions,
    csv_safe: CsvSafeOpt = False,
    machines: _machines.MachineOptions,
) -> None:
    """Choose the items that one more label helps most, and the annotators to review.

    Ranks the items by the expected gain in accuracy from one more label and writes the best --budget
    of them to relabel.csv.
    """
    if inputs.numeric:
        from emcrowd.cli import _numeric

        return _numeric.relabel(
            labels, budget=budget, out=out, inputs=inputs, model=model, method=method, quiet=output.quiet,
            csv_safe=csv_safe,
        )  # fmt: skip
    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.analysis.aggregate import aggregate, method_name
    from emcrowd.models import model_options
    from emcrowd.tables import relabel_outputs

    if machines.given:  # one more human label where it is worth most, given the machines
        return _machines.relabel(
            labels, budget=budget, out=out, inputs=inputs, model=model, method=method, output=output,
            csv_safe=csv_safe, machines=machines,
        )  # fmt: skip
    quiet = output.quiet
    asked, method = method, method_name("glad" if method is None else method)
    if str(out) != "-" and out.is_dir():
        raise EmcrowdError(f"{out}: --out needs a file name, not a directory")
    multi_args = dict(
        inputs=inputs,
        multi=multi,
        model=model,
        method=asked,
        budget=budget,
        out=out,
        quiet=quiet,
        csv_safe=csv_safe,
    )
    if multi.requested:
        from emcrowd.cli import _multilabel

        return _multilabel.relabel(labels, loaded=None, **multi_args)
    options = model.as_kwargs()
    loaded = _reading.load(labels, inputs, quiet, describe=False)
    if _reading.multi_label(loaded, inputs.ordinal):
        from emcrowd.cli import _multilabel

        return _multilabel.relabel(labels, loaded=loaded, **multi_args)
    _reading.summarise(loaded, quiet)
    data = loaded.labels
    check_class_prior(options, data.n_classes)
    gold_codes = _reading.gold_codes(model, loaded, inputs)
    _reading.check_ordinal_methods(labels, data, [method])
    _reading.check_memory(labels, data, [method], options, outputs=True)  # annotators' K x K matrices
    with report.fit_progress(not quiet, report.METHOD_TITLES.get(method, method)) as progress:
        result = aggregate(
            data,
            method,
            gold=gold_codes,
            ties=model.ties.value,
            callback=progress,
            **model_options(method, options),
        )
    plan = relabel_outputs(data, result, budget, gold=gold_codes)
    table = _output.safe(plan["table"], csv_safe)
    if str(out) == "-":
        _output.write_stdout(io.csv_chunks(table))
    else:
        written = [p for p in (labels, model.gold) if p is not None and str(p) != "-"]
        io.write_outputs(out.parent, {out.name: io.TableFile(table)}, inputs=written)
    if quiet:
        return
    n = len(table["item"])
    where = "stdout" if str(out) == "-" else str(out)
    report.note(
        f"{n:,} items to relabel written to {where}: one more label each is expected to make "
        f"{plan['total_gain']:.1f} more of them right ({report.METHOD_TITLES.get(method, method)} fit)."
    )
    review = plan["annotators"]
    if not review:
        report.note("No annotator is flagged for review.")
        return
    report.note(f"Annotators worth reviewing ({len(review):,}; lowest spammer score first):")
    for row in review[:N_REVIEW]:
        report.note(
            f"  {row['worker']}: {row['n_labels']:,} labels, estimated accuracy {row['accuracy']:.2f}, "
            f"spammer score {row['spammer_score']:.2f} ({row['flags'].replace(';', ', ')})"
        )
    if len(review) > N_REVIEW:
        report.note(f"  ... and {len(review) - N_REVIEW:,} more (see workers.csv of `emcrowd fit`).")
