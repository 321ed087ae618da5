"""The choices of the command line's options (each a ``StrEnum``: its values are what the user types)."""

import math
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import click


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
    figure_eight = "figure-eight"
    peerannot = "peerannot"


#: The methods, as typed on the command line (``emcrowd.analysis.aggregate.METHODS`` with hyphens; a test
#: keeps the two the same, so that this module needs no NumPy).
METHODS = ("glad", "dawid-skene", "bayesian-ds", "ebcc", "one-coin", "mace", "majority", "auto", "ordinal-ds")


class MethodChoice(click.Choice):
    """``--method``: one of :data:`METHODS` (any case, ``_`` for ``-``), or an alias that
    :func:`emcrowd.analysis.aggregate.method_name` knows (``ds``, ``mv``, ...); converted to the canonical
    name."""

    def __init__(self) -> None:
        super().__init__(METHODS, case_sensitive=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value).strip().lower().replace("_", "-")
        if text in METHODS:
            return text
        from emcrowd.models.numeric import NUMERIC_MODELS

        if text.replace("-", "_") in NUMERIC_MODELS:  # --numeric's methods (checked against --numeric later)
            return text
        from emcrowd.errors import EmcrowdError
        from emcrowd.models import method_name

        try:
            return method_name(text).replace("_", "-")
        except EmcrowdError:
            return super().convert(value, param, ctx)  # click's own message, listing the choices


def finite(minimum: float | None = None, *, exclusive: bool = False) -> Callable[[Any], Any]:
    """An option callback refusing NaN, infinities and numbers below ``minimum`` (or equal to it, when
    ``exclusive``), as a usage error naming the option."""

    def check(value: Any) -> Any:
        if value is None:
            return value
        if not math.isfinite(value):
            raise click.BadParameter(f"{value} is not a finite number")
        if minimum is not None and (value < minimum or (exclusive and value == minimum)):
            raise click.BadParameter(f"{value} must be {'>' if exclusive else '>='} {minimum:g}")
        return value

    return check


def bounded(minimum: int, maximum: int | None = None) -> Callable[[Any], Any]:
    """An option callback refusing integers outside ``minimum..maximum``, as a usage error naming the
    option (a callback, not Click's IntRange, so that the help's metavar column stays narrow)."""

    def check(value: Any) -> Any:
        if value is None:
            return value
        if value < minimum or (maximum is not None and value > maximum):
            span = f"from {minimum:,} to {maximum:,}" if maximum is not None else f"at least {minimum:,}"
            raise click.BadParameter(f"{value} is out of range; give a number {span}")
        return value

    return check
