"""The choices of the command line's options (each a ``StrEnum``: its values are what the user types)."""

from enum import StrEnum


class Format(StrEnum):
    auto = "auto"
    matrix = "matrix"
    long = "long"


class TableFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


class TieRule(StrEnum):
    lowest = "lowest"
    random = "random"


class Duplicates(StrEnum):
    keep = "keep"
    first = "first"
    last = "last"
    error = "error"


class Preset(StrEnum):
    toloka = "toloka"
    mturk = "mturk"
    label_studio = "label-studio"
    crowd_kit = "crowd-kit"
    gal = "gal"
