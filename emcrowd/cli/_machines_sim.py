"""``emcrowd simulate --with-machine``: a crowd's labels and a model's probabilities (docs/machines.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from emcrowd.cli._machines import MACHINES


@dataclass(frozen=True)
class MachineSimOptions:
    """``simulate --with-machine``: a crowd and a model's probabilities."""

    with_machine: Annotated[
        bool,
        typer.Option(
            "--with-machine",
            help="Write labels.csv (1 to --labels-per-item labels per item), truth.csv and model.csv "
            "(a model's probabilities: informative, miscalibrated) instead of the GLAD matrices.",
            rich_help_panel=MACHINES,
        ),
    ] = False
    machine_signal: Annotated[
        float,
        typer.Option(
            "--machine-signal", min=0.0, help="The model's signal (0: random probabilities).",
            rich_help_panel=MACHINES,
        ),
    ] = 1.5  # fmt: skip
    machine_sharpness: Annotated[
        float,
        typer.Option(
            "--machine-sharpness", min=0.01,
            help="Above 1 the model is overconfident, below 1 underconfident, 1 calibrated.",
            rich_help_panel=MACHINES,
        ),
    ] = 3.0  # fmt: skip
    crowd_share: Annotated[
        float,
        typer.Option(
            "--crowd-share", min=0.01, max=1.0,
            help="Share of the items the crowd labels (the rest only the model saw).",
            rich_help_panel=MACHINES,
        ),
    ] = 1.0  # fmt: skip


def simulate(
    out: Path, *, items: int, workers: int, labels_per_item: int | None, classes: int, seed: int,
    opts: MachineSimOptions, quiet: bool,
) -> None:  # fmt: skip
    """``emcrowd simulate --with-machine``."""
    import numpy as np  # here, not at the top: `emcrowd --help` does not import numpy

    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.io import NamedCodes
    from emcrowd.models.simulate_machines import simulate_crowd_machine

    high = min(5 if labels_per_item is None else labels_per_item, workers)
    labels, truth, machine = simulate_crowd_machine(
        items, n_classes=classes, n_workers=workers, labels_per_item=(1, high), signal=opts.machine_signal,
        sharpness=opts.machine_sharpness, crowd_items=opts.crowd_share, random_state=seed,
    )  # fmt: skip
    assert machine.proba is not None
    label_file = {
        "item": NamedCodes(labels.item, labels.item_names),
        "worker": NamedCodes(labels.worker, labels.worker_names),
        "label": NamedCodes(labels.label, labels.class_names),
    }
    predictions: dict[str, Any] = {"item": machine.item_names}
    for k, name in enumerate(labels.class_names):
        predictions[name] = np.round(machine.proba[:, k], 6)
    predictions[labels.class_names[-1]] = np.round(
        1.0 - sum(predictions[c] for c in labels.class_names[:-1]), 6
    )
    truth_file = {"item": machine.item_names, "label": NamedCodes(truth, labels.class_names)}
    files = io.write_outputs(
        out,
        {
            "labels.csv": io.TableFile(label_file),
            "model.csv": io.TableFile(predictions),
            "truth.csv": io.TableFile(truth_file),
        },
    )
    if not quiet:
        report.note(
            f"Wrote {', '.join(p.name for p in files)} to {out}: {labels.n_labels:,} labels on "
            f"{labels.n_items:,} items, a model's probabilities on {machine.n_items:,}."
        )
