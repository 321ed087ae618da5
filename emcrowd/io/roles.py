"""Role detection: which columns of a table hold the item, the annotator and the label, by the
names given (``--item-col``, ...), a platform preset's names, or the recognised common names.
"""

from __future__ import annotations

from collections.abc import Sequence

from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io import presets
from emcrowd.io._common import COLUMN_NAMES, _LongOptions
from emcrowd.io._tables import (
    Header,
)
from emcrowd.io._text import (
    is_number_row,
)


def looks_long(names: Sequence[str]) -> bool:
    """Whether a header names at least two of the item, worker and label columns (one row per label).

    With two, reading it as long fails with a message that asks for the third (``--item-col`` ...),
    which is better than reading ``id,annotator,answer`` as a matrix of three annotators.
    """
    lowered = {n.strip().lower() for n in names}
    return sum(bool(lowered & set(candidates)) for candidates in COLUMN_NAMES.values()) >= 2


def find_column(
    name: str,
    header: Sequence[str],
    role: str,
    given: str | None,
    candidates: Sequence[str],
    option: str | None = None,
) -> int:
    """Index of the column for ``role``: the one named ``given``, else the first recognised name."""
    stripped = [h.strip() for h in header]
    lowered = [h.lower() for h in stripped]
    if given is not None:
        for names in (stripped, lowered):
            key = given.strip() if names is stripped else given.strip().lower()
            if key in names:
                return names.index(key)
        raise InputError(name, f"no column named {given!r} for the {role}s (columns: {', '.join(stripped)})")
    for candidate in candidates:
        if candidate in lowered:
            return lowered.index(candidate)
    raise InputError(
        name,
        f"no {role} column among {', '.join(stripped)} (looked for {', '.join(candidates[:5])}, ...); "
        f"name it with {option or f'--{role}-col'}",
    )


def _roles(
    name: str, names: Sequence[str], options: _LongOptions, preset: presets.Preset | None
) -> dict[str, int]:
    """Column index of each role: the given names, else the preset's, else the recognised ones."""
    given = dict(options.given)
    if preset is not None:
        given = {role: given.get(role) or preset.columns.get(role) for role in COLUMN_NAMES}
    idx = {role: find_column(name, names, role, given[role], COLUMN_NAMES[role]) for role in COLUMN_NAMES}
    if len(set(idx.values())) < 3:
        raise InputError(name, "the item, worker and label columns must be three different columns")
    return idx


def _preset_for(name: str, names: Sequence[str], options: _LongOptions, allow_detect: bool = True):
    """The platform export these columns come from (forced by --preset, or recognised), or None."""
    chosen = options.preset or (presets.detect(names) if allow_detect else None)
    if chosen is None:
        return None
    try:
        return presets.resolve(chosen, names, options.given, name)
    except EmcrowdError as exc:
        raise InputError(name, str(exc).removeprefix(f"{name}: ")) from None


def _looks_headerless_gal(header: Header) -> bool:
    """A Get-Another-Label file: three text fields per row and no header (the first row is not one of
    names, and the next row is no more numeric than it)."""
    cells = [c.strip() for c in header.cells]
    if header.delimiter != "\t":  # the format is tab-separated; a CSV without a header is a matrix
        return False
    if len(cells) != 3 or header.next_cells is None or len(header.next_cells) != 3:
        return False
    lowered = {c.lower() for c in cells}
    if any(lowered & set(candidates) for candidates in COLUMN_NAMES.values()) or presets.detect(cells):
        return False
    if is_number_row(cells) or is_number_row(header.next_cells):
        return False
    return not is_number_row(cells[:2]) or not is_number_row(header.next_cells[:2])
