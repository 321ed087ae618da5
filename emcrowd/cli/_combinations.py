"""The options of ``emcrowd fit`` that do not go together, each refused with one line before anything
is read (docs/machines.md, docs/numeric.md, docs/ordinal.md, docs/incremental.md say why)."""

from __future__ import annotations

from typing import Any

from emcrowd.errors import EmcrowdError


def refuse(*, engine: str, drop_flagged: bool, warm: bool, inputs: Any, machines: bool) -> None:
    """Raise :class:`EmcrowdError` for the first combination that has no meaning. ``warm``: --from or
    --keep-state given; ``machines``: --predictions or --machine given."""
    rules = (
        (
            machines and (engine != "memory" or drop_flagged or warm),
            "--predictions and --machine go with the memory engine, without --drop-flagged, --from or "
            "--keep-state",
        ),
        (
            machines and (inputs.ordinal or inputs.numeric),
            "--predictions and --machine are for unordered classes, not --ordinal or --numeric",
        ),
        (
            inputs.numeric and (engine != "memory" or drop_flagged or warm),
            "--numeric fits in memory, without --drop-flagged, --from or --keep-state (see docs/numeric.md)",
        ),
        (engine == "dask" and warm, "--from and --keep-state go with the memory engine"),
        (
            engine == "dask" and inputs.ordinal,
            "--ordinal is not available with --engine dask; fit graded labels in memory",
        ),
    )
    for broken, message in rules:
        if broken:
            raise EmcrowdError(message)
