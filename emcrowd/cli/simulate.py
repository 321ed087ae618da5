"""``emcrowd simulate``: draw labels from the GLAD model."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from emcrowd.cli import _machines_sim
from emcrowd.cli.choices import finite
from emcrowd.cli.options import MAX_SEED, OutputOptions, option_groups
from emcrowd.errors import EmcrowdError


class OutFormat(StrEnum):
    npy = "npy"
    npz = "npz"


EXAMPLES = (
    "emcrowd simulate --items 500 --workers 20 --labels-per-item 5 --seed 0 --out sample_data",
    "emcrowd simulate --items 1000000 -r 3 --format npz --out big",
    "emcrowd simulate --multi-label --classes 6 -r 5 --out tags",
    "emcrowd simulate --ordinal --classes 4 --items 2000 --workers 50 -r 5 --out graded",
)


@option_groups
def simulate(
    *,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output directory for L.npy, y.npy, alpha.npy, beta.npy.")
    ] = Path("simulated"),
    items: Annotated[int, typer.Option("--items", min=1, help="Number of items (rows).")] = 1000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Number of annotators (columns).")] = 20,
    labels_per_item: Annotated[
        int | None,
        typer.Option(
            "--labels-per-item",
            "-r",
            min=1,
            help="Distinct annotators per item, chosen at random (default: all, a dense matrix).",
            show_default=False,
        ),
    ] = None,
    classes: Annotated[int, typer.Option("--classes", min=2, help="Number of classes.")] = 2,
    alpha_mean: Annotated[
        float, typer.Option(callback=finite(), help="Mean of the annotator abilities alpha.")
    ] = 1.0,
    alpha_sd: Annotated[
        float, typer.Option(callback=finite(0.0), help="SD of alpha (larger: more adversaries).")
    ] = 1.0,
    b_mean: Annotated[
        float, typer.Option(callback=finite(), help="Mean of log inverse difficulty b = log(beta).")
    ] = 0.0,
    b_sd: Annotated[float, typer.Option(callback=finite(0.0), help="SD of b.")] = 0.5,
    ordinal: Annotated[
        bool,
        typer.Option(
            "--ordinal",
            help="Draw ordered grades instead (docs/ordinal.md): each annotator with a bias and a spread in "
            "grades (a discretised Gaussian confusion); writes bias.npy and spread.npy, not alpha and beta.",
        ),
    ] = False,
    bias_sd: Annotated[
        float,
        typer.Option(callback=finite(0.0), help="With --ordinal: SD of the annotators' biases (grades)."),
    ] = 0.5,
    spread_low: Annotated[
        float, typer.Option(callback=finite(0.01), help="With --ordinal: smallest spread (grades).")
    ] = 0.3,
    spread_high: Annotated[
        float, typer.Option(callback=finite(0.01), help="With --ordinal: largest spread (grades).")
    ] = 1.5,
    seed: Annotated[
        int, typer.Option(min=0, max=MAX_SEED, help="Random seed; the same options give the same files.")
    ] = 0,
    out_format: Annotated[
        OutFormat,
        typer.Option(
            "--format",
            help="npy: the labels as a dense L.npy matrix; npz: as labels.npz code arrays (fast to read, "
            "no matrix: for millions of labels).",
        ),
    ] = OutFormat.npy,
    multi_label: Annotated[
        bool,
        typer.Option(
            "--multi-label",
            help="Multi-select answers instead: correlated classes and biased annotators (careful ones, "
            "under- and over-tickers, spammers); writes labels.csv (JSON arrays), truth.csv and workers.csv.",
        ),
    ] = False,
    correlation: Annotated[
        float,
        typer.Option(
            "--correlation", callback=finite(0.0), help="With --multi-label: correlation between the classes."
        ),
    ] = 0.5,
    numeric: Annotated[
        bool,
        typer.Option(
            "--numeric",
            help="Numeric answers instead (annotators with a bias and a noise sd, some answering at "
            "random): labels.csv, truth.csv, workers.csv. --labels-per-item defaults to 5.",
        ),
    ] = False,
    random_workers: Annotated[
        float | None,
        typer.Option(
            "--random-workers",
            callback=finite(0.0),
            help="With --numeric: the share of annotators who answer at random (default 0.1).",
            show_default=False,
        ),
    ] = None,
    output: OutputOptions,
    machine: _machines_sim.MachineSimOptions,
) -> None:
    """Draw crowd labels from the GLAD model, with their truth.

    Writes L.npy (items x annotators, NaN = no label) or labels.npz, y.npy (truth) and the true
    alpha.npy and beta.npy.
    """
    if random_workers is not None and not numeric:
        raise EmcrowdError("--random-workers goes with --numeric")
    if numeric:
        from emcrowd.cli import _numeric

        return _numeric.simulate(
            out, items=items, workers=workers, labels_per_item=labels_per_item,
            random_workers=0.1 if random_workers is None else random_workers, seed=seed,
            quiet=output.quiet,
        )  # fmt: skip
    import numpy as np

    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.models.classification.majority import majority_vote
    from emcrowd.models.simulate import simulate_glad

    if multi_label:
        from emcrowd.cli._multilabel import simulate as simulate_multi

        return simulate_multi(
            out, items=items, workers=workers, classes=classes, per_item=labels_per_item or min(5, workers),
            correlation=correlation, seed=seed, quiet=output.quiet,
        )  # fmt: skip
    if machine.with_machine:  # a crowd and a model's probabilities: docs/machines.md
        return _machines_sim.simulate(
            out, items=items, workers=workers, labels_per_item=labels_per_item, classes=classes, seed=seed,
            opts=machine, quiet=output.quiet,
        )  # fmt: skip
    if out_format is OutFormat.npy and items * workers > 200_000_000:
        raise EmcrowdError(f"a dense {items:,} x {workers:,} matrix is too large for L.npy; use --format npz")
    if ordinal:
        from emcrowd.models.ordinal.simulate import simulate_ordinal

        if spread_low > spread_high:
            raise EmcrowdError("--spread-low must be at most --spread-high")
        graded = simulate_ordinal(
            items, workers, classes, workers if labels_per_item is None else min(labels_per_item, workers),
            bias_scale=bias_sd, spread_range=(spread_low, spread_high), random_state=seed,
        )  # fmt: skip
        truth, extra = graded.truth, {"bias.npy": graded.bias, "spread.npy": graded.spread}
        data = graded.labels
    else:
        sim = simulate_glad(
            items,
            workers,
            labels_per_item=labels_per_item,
            n_classes=classes,
            alpha_mean=alpha_mean,
            alpha_sd=alpha_sd,
            b_mean=b_mean,
            b_sd=b_sd,
            seed=seed,
        )
        truth, extra, data = sim.truth, {"alpha.npy": sim.alpha, "beta.npy": sim.beta}, sim.labels
    labels_file = (
        {"L.npy": data.to_matrix()} if out_format is OutFormat.npy else {"labels.npz": io.labels_npz(data)}
    )
    files = io.write_outputs(out, {**labels_file, "y.npy": truth.astype(np.float64), **extra})
    if not output.quiet:
        mv = majority_vote(data)
        report.simulate_summary(out, files, data, float((mv.labels == truth).mean()))
