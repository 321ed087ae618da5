"""``emcrowd info``: describe the labels without fitting anything."""

from __future__ import annotations

import json

from emcrowd import _stdout
from emcrowd.cli import _reading
from emcrowd.cli.options import (
    InputOptions,
    JsonOpt,
    LabelsArg,
    MultiLabelOptions,
    OutputOptions,
    option_groups,
)

EXAMPLES = ("emcrowd info sample_data/L.npy", "emcrowd info labels.csv --json")


@option_groups
def info(
    labels: LabelsArg,
    *,
    as_json: JsonOpt = False,
    inputs: InputOptions,
    multi: MultiLabelOptions,
    output: OutputOptions,
) -> None:
    """Describe the labels without fitting anything.

    Sizes, classes, labels per item and per annotator, missing and repeated labels, agreement. The
    description is info's result: -q drops it from stderr only with --json, which has it on stdout.
    """
    if inputs.numeric:
        from emcrowd.cli import _numeric

        return _numeric.info(labels, as_json=as_json, inputs=inputs, quiet=output.quiet and as_json)
    from emcrowd import console as report
    from emcrowd.analysis.agreement import agreement_line, labels_agreement

    quiet = output.quiet and as_json
    if multi.requested:
        from emcrowd.cli import _multilabel

        return _multilabel.info(labels, loaded=None, inputs=inputs, multi=multi, as_json=as_json, quiet=quiet)
    loaded = _reading.load(labels, inputs, quiet=quiet, describe=False)
    if _reading.multi_label(loaded, inputs.ordinal):
        from emcrowd.cli import _multilabel

        return _multilabel.info(
            labels, loaded=loaded, inputs=inputs, multi=multi, as_json=as_json, quiet=quiet
        )
    _reading.summarise(loaded, quiet)
    agreement = labels_agreement(loaded.labels)
    if not quiet:
        report.note(agreement_line(agreement))
    if as_json:
        record = {"source": loaded.report.to_dict(), **loaded.labels.describe(), "agreement": agreement}
        _stdout.write(json.dumps(record, indent=2) + "\n")
