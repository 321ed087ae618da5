"""``emcrowd stream``: aggregate a stream of labels in one pass, writing snapshots as it goes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from emcrowd.cli.options import JsonOpt, OutputOptions, TableFormat, option_groups
from emcrowd.errors import EmcrowdError, InputError

SourceArg = Annotated[
    Path,
    typer.Argument(
        metavar="[LABELS]",
        help="CSV or TSV lines item,worker,label (a header naming the columns is recognised), from this "
        "file or '-' for standard input (the default).",
        show_default=False,
    ),
]
ClassesOpt = Annotated[
    str,
    typer.Option(
        "--classes",
        metavar="A,B,...",
        help="The classes, in order (required: a stream cannot go back when a new class shows up).",
        show_default=False,
    ),
]
OutOpt = Annotated[
    Path,
    typer.Option(
        "--out", "-o", help="Directory of the snapshots: items, workers and summary.json.", show_default=False
    ),
]
EveryOpt = Annotated[
    int, typer.Option("--every", min=1, metavar="N", help="Write a snapshot every N labels.")
]
IntervalOpt = Annotated[
    float,
    typer.Option("--interval", min=0.0, metavar="SECONDS", help="... and every SECONDS seconds (0: never)."),
]
FollowOpt = Annotated[
    bool,
    typer.Option(
        "--follow",
        "-f",
        help="Keep reading LABELS as it grows (like tail -f) until stopped (Ctrl-C, SIGTERM).",
    ),
]
DecayOpt = Annotated[
    float,
    typer.Option(
        "--decay",
        help="Step-size exponent of the annotators' online updates, in (0.5, 1]: 1 weighs all their labels "
        "alike, lower forgets their first labels faster (for annotators who change).",
    ),
]
KeepOpt = Annotated[
    int,
    typer.Option(
        "--keep-labels",
        min=0,
        metavar="N",
        help="Labels kept per item (its first N), weighed again as the annotators become known; "
        "0: purely one-pass.",
    ),
]
FormatOpt = Annotated[
    TableFormat, typer.Option("--out-format", help="Format of items and workers: csv or parquet.")
]

EXAMPLES = (
    "tail -n +1 -f labels.csv | emcrowd stream --classes cat,dog --out live",
    "emcrowd stream labels.csv --follow --classes 0,1 --every 10000 --interval 30 --out live",
)


@option_groups
def stream(
    source: SourceArg = Path("-"),
    *,
    classes: ClassesOpt,
    out: OutOpt,
    every: EveryOpt = 100_000,
    interval: IntervalOpt = 10.0,
    follow: FollowOpt = False,
    decay: DecayOpt = 1.0,
    keep_labels: KeepOpt = 32,
    out_format: FormatOpt = TableFormat.csv,
    as_json: JsonOpt = False,
    output: OutputOptions,
) -> None:
    """Aggregate labels as they arrive, in one pass (online Dawid-Skene), with snapshots on the way.

    Each label updates its item's posterior and its annotator's confusion matrix once, in arrival
    order, in memory bounded per item and annotator. A snapshot (items, workers, summary.json) is
    written all at once every N labels, every SECONDS seconds and at the end (end of input, Ctrl-C or
    SIGTERM). docs/incremental.md describes the method and its accuracy.
    """
    from emcrowd import console as report
    from emcrowd._signals import describe
    from emcrowd.cli import _output
    from emcrowd.models.classification.online import OnlineDawidSkene

    names = tuple(c.strip() for c in classes.split(",") if c.strip())
    if len(set(names)) != len(names):
        raise EmcrowdError(f"--classes names a class twice: {classes}")
    model = OnlineDawidSkene(names, decay=decay, keep_labels=keep_labels)
    if follow and str(source) == "-":
        raise EmcrowdError("--follow reads a file; standard input is followed anyway")
    _output.check_out_dir(out, [], [source])
    name = "<stdin>" if str(source) == "-" else str(source)
    if str(source) == "-":
        import sys

        stdin = sys.stdin.buffer
        try:
            fd, close = stdin.fileno(), False
        except (AttributeError, OSError, ValueError):  # not a real descriptor (an embedding, a test)
            fd, close = stdin, False
    else:
        try:
            fd, close = os.open(source, os.O_RDONLY), True
        except OSError as exc:
            raise InputError(source, f"cannot read ({exc.strerror})") from None
    from emcrowd.io.line_stream import LineReader

    reader = LineReader(name, fd, names)
    started = time.perf_counter()
    state = {"snapshots": 0, "last_labels": -1, "last_time": started}

    def snapshot(final: bool) -> None:
        if model.n_labels == state["last_labels"] and not final:
            return
        _write_snapshot(out, model, out_format.value, started, final, reader.n_missing)
        state["snapshots"] += 1
        state["last_labels"] = model.n_labels
        state["last_time"] = time.perf_counter()

    status = 0
    try:
        try:
            while True:
                timeout = (
                    None if interval == 0 else max(0.0, state["last_time"] + interval - time.perf_counter())
                )
                batch = reader.read(timeout, follow)
                if batch is None:  # end of input
                    break
                if batch:
                    _add(model, batch, every, snapshot, state)
                if interval and time.perf_counter() - state["last_time"] >= interval:
                    snapshot(False)
        finally:
            if close:
                os.close(fd)  # type: ignore[arg-type]
    except KeyboardInterrupt as exc:
        what, status = describe(exc)
        if not output.quiet:
            report.note(f"{what}: writing the last snapshot")
    try:
        snapshot(True)
    except KeyboardInterrupt as exc:
        what, status = describe(exc)
        report.error(f"{what} while writing the last snapshot; {out} keeps the one before it")
        raise typer.Exit(status) from None
    seconds = time.perf_counter() - started
    if not output.quiet:
        rate = model.n_labels / seconds if seconds > 0 else 0.0
        report.note(
            f"Streamed {model.n_labels:,} labels ({model.n_items:,} items, {model.n_workers:,} annotators) "
            f"in {seconds:.1f} s ({rate:,.0f} labels/s); {state['snapshots']} snapshots in {out}."
        )
    if as_json:
        from emcrowd import _stdout

        _stdout.write((out / "summary.json").read_text(encoding="utf-8"))
    if status:
        raise typer.Exit(status)


def _add(model: Any, batch: list[tuple[str, str, str]], every: int, snapshot: Any, state: dict) -> None:
    """Feed ``batch`` to the model, with a snapshot at every multiple of ``every`` labels."""
    start = 0
    while start < len(batch):
        room = every - model.n_labels % every
        part = batch[start : start + room]
        model.add([r[0] for r in part], [r[1] for r in part], [r[2] for r in part])
        start += len(part)
        if model.n_labels % every == 0:
            snapshot(False)


def _write_snapshot(out: Path, model: Any, fmt: str, started: float, final: bool, n_missing: int) -> None:
    """items, workers and summary.json of the stream so far, written all at once."""
    import numpy as np

    from emcrowd import io
    from emcrowd._version import __version__

    post = model.posteriors()
    labels = np.argmax(post, axis=1) if post.size else np.zeros(0, dtype=np.int64)
    classes = model.class_names
    items = {
        "item": model.item_names(),
        "label": [classes[k] for k in labels.tolist()],
        "confidence": post[np.arange(post.shape[0]), labels] if post.size else np.zeros(0),
        "n_labels": model.labels_per_item(),
    }
    for k, c in enumerate(classes):
        items[f"p_{c}"] = post[:, k]
    workers = {
        "worker": model.worker_names(),
        "accuracy": model.accuracy(),
        "labels": model.labels_per_worker(),
    }
    seconds = time.perf_counter() - started
    summary = {
        "emcrowd_version": __version__,
        "method": "online_dawid_skene",
        "final": final,
        "n_labels": model.n_labels,
        "n_missing": n_missing,
        "n_items": model.n_items,
        "n_workers": model.n_workers,
        "classes": list(classes),
        "class_prior": model.class_prior().tolist(),
        "options": {
            "decay": model.decay,
            "keep_labels": model.keep_labels,
            "prior_accuracy": model.prior_accuracy,
            "prior_strength": model.prior_strength,
        },
        "seconds": seconds,
        "labels_per_second": model.n_labels / seconds if seconds > 0 else None,
    }
    io.write_outputs(
        out,
        {
            f"items.{fmt}": io.TableFile(items, fmt),
            f"workers.{fmt}": io.TableFile(workers, fmt),
            "summary.json": io.json_text(summary),
        },
    )
