"""Writing a command's results: output tables as files, CSV on stdout, the run's peak memory."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer


def safe(table: dict[str, Any], csv_safe: bool) -> dict[str, Any]:
    """``table`` as ``--csv-safe`` writes it (text cells a spreadsheet would run, prefixed), or as is."""
    from emcrowd import io

    return io.spreadsheet_safe(table) if csv_safe else table


def table_files(tables: dict[str, Any], fmt: str, quiet: bool, csv_safe: bool = False) -> dict[str, Any]:
    """The output tables as files in format ``fmt`` (csv or parquet), written through Arrow; with
    ``csv_safe``, CSV text cells that a spreadsheet would run as formulas are prefixed with ``'``."""
    from emcrowd import console as report
    from emcrowd import io

    out = {}
    for stem, table in tables.items():
        table = safe(table, csv_safe and fmt == "csv")
        name = f"{stem}.{fmt}"
        out[name] = io.TableFile(table, fmt, progress=report.write_progress(name, table, not quiet))
    return out


def write_stdout(chunks: Iterable[str]) -> None:
    """Write text to stdout as it is made. A reader that stops early (``| head``) ends the command
    quietly, as it always has; an interrupt says that the output is incomplete."""
    from emcrowd import _stdout

    try:
        for chunk in chunks:
            _stdout.write(chunk, flush=False)
        _stdout.write("")
    except _stdout.ReaderGone:
        raise typer.Exit(0) from None
    except KeyboardInterrupt as exc:
        from emcrowd import console as report
        from emcrowd._signals import describe

        what, status = describe(exc)
        report.error(f"{what}; the CSV written to stdout is incomplete")
        raise typer.Exit(status) from None


def peak_memory_mb() -> float | None:
    """Peak resident memory of this process so far, in MB (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def default_out(labels: Path) -> Path:
    """fit's default output directory: ``./<LABELS stem>-emcrowd``."""
    return Path("stdin-emcrowd" if str(labels) == "-" else f"{labels.stem}-emcrowd")


def check_out_dir(out_dir: Path, names: Iterable[str], inputs: Iterable[Path]) -> None:
    """Before any work: ``out_dir`` can be made or written, and none of its ``names`` is an input.
    (:func:`emcrowd.io.write_outputs` checks again when it writes; this only makes the error come
    first, before the data summary and the fit.)"""
    from emcrowd.errors import InputError

    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(out_dir, "output directory is an existing file")
    protected = {Path(p).resolve() for p in inputs if str(p) != "-"}
    for name in names:
        if (out_dir / name).resolve() in protected:
            raise InputError(out_dir / name, "refusing to overwrite an input file")
    existing = next((d for d in (out_dir, *out_dir.parents) if d.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise InputError(out_dir, f"cannot create output directory ({existing} is a file)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(out_dir, f"cannot write output ({existing} is not writable)")
