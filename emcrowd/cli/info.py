"""``emcrowd info``: describe the labels without fitting anything."""

from __future__ import annotations

import json
import sys

from emcrowd.cli import _reading
from emcrowd.cli.options import InputOptions, JsonOpt, LabelsArg, option_groups


@option_groups
def info(labels: LabelsArg, *, as_json: JsonOpt = False, inputs: InputOptions) -> None:
    """Describe the labels (sizes, classes, labels per item and worker, missing and repeated labels)
    without fitting anything."""
    from emcrowd import report
    from emcrowd.agreement import agreement_line, agreement_summary

    loaded = _reading.load(labels, inputs, quiet=False)
    agreement = agreement_summary(loaded.labels)
    report.note(agreement_line(agreement))
    if as_json:
        record = {"source": loaded.report.to_dict(), **loaded.labels.describe(), "agreement": agreement}
        sys.stdout.write(json.dumps(record, indent=2) + "\n")
