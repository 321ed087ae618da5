"""``emcrowd info``: describe the labels without fitting anything."""

from __future__ import annotations

import json

from emcrowd import _stdout
from emcrowd.cli import _reading
from emcrowd.cli.options import InputOptions, JsonOpt, LabelsArg, option_groups


@option_groups
def info(labels: LabelsArg, *, as_json: JsonOpt = False, inputs: InputOptions) -> None:
    """Describe the labels (sizes, classes, labels per item and worker, missing and repeated labels)
    without fitting anything."""
    loaded = _reading.load(labels, inputs, quiet=False)
    if as_json:
        record = {"source": loaded.report.to_dict(), **loaded.labels.describe()}
        _stdout.write(json.dumps(record, indent=2) + "\n")
