"""``emcrowd convert``: read labels once and save them as .npz code arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emcrowd.cli import _reading
from emcrowd.cli.options import InputOptions, LabelsArg, OutputOptions, option_groups
from emcrowd.errors import EmcrowdError

NpzArg = Annotated[
    Path, typer.Argument(help="The .npz file to write.", metavar="OUT.npz", show_default=False)
]


EXAMPLES = ("emcrowd convert labels.csv labels.npz", "emcrowd convert export.tsv export.npz --preset toloka")


@option_groups
def convert(labels: LabelsArg, out: NpzArg, *, inputs: InputOptions, output: OutputOptions) -> None:
    """Save labels as .npz code arrays, which every command reads much faster than a CSV.

    The labels are read once, with the input options.
    """
    from emcrowd import console as report
    from emcrowd import io

    if out.suffix.lower() != ".npz":
        raise EmcrowdError(f"{out}: the output of convert must end in .npz")
    loaded = _reading.load(labels, inputs, output.quiet)
    sources = [] if str(labels) == "-" else [labels]
    files = io.write_outputs(out.parent, {out.name: io.labels_npz(loaded.labels)}, inputs=sources)
    if not output.quiet:
        report.note(f"Wrote {files[0]} ({loaded.labels.n_labels:,} labels)")
