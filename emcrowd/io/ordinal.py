"""Ordered grades (``--ordinal``): labels whose classes have an order, lowest grade first.

The order comes from the declared classes (``--classes G,P,R,X``: as written), or, when none are
declared, from the class names themselves when every one is a number (their numeric order). Text
classes without a declared order are refused: no order can be guessed from them (alphabetical order
would put "Bad" before "Perfect" and "Fair" after "Excellent").

Reading only: the models that use the order live in :mod:`emcrowd.models.ordinal`.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError


def numeric_values(class_names: tuple[str, ...]) -> np.ndarray | None:
    """The class names as numbers, shape (n_classes,), or None when one of them is not a finite number."""
    values = []
    for name in class_names:
        try:
            value = float(name)
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
        values.append(value)
    return np.array(values)


def grade_values(data: Labels) -> np.ndarray:
    """The value of each grade, in code order, for interval distances: the class names when they are
    all numbers, else the ranks ``0..n_classes-1``."""
    values = numeric_values(data.class_names)
    return np.arange(data.n_classes, dtype=float) if values is None else values


def as_ordinal(data: Labels, *, declared: bool = False, source: str | os.PathLike | None = None) -> Labels:
    """The same labels with ordered classes (``Labels.ordered``), codes renumbered lowest grade first.

    Parameters
    ----------
    data : Labels
    declared : bool
        The class names were declared in their order (``--classes``, ``classes=``): keep that order.
        Otherwise the names must all be numbers, and the grades follow their numeric order.
    source : str or PathLike, optional
        The file read, named in the error message.

    Raises
    ------
    InputError (EmcrowdError without ``source``)
        The order is unknown (text classes not declared), or two classes are the same number.
    """
    if data.ordered:
        return data
    if declared:
        return dataclasses.replace(data, ordered=True)
    values = numeric_values(data.class_names)
    if values is None:
        shown = ", ".join(data.class_names[:4]) + (", ..." if data.n_classes > 4 else "")
        _refuse(
            source,
            f"--ordinal needs the order of the grades, and classes ({shown}) are not all numbers; "
            "declare it lowest first with --classes A,B,... (in Python: classes=[...], ordinal=True)",
        )
    if np.unique(values).size != values.size:
        _refuse(source, "--ordinal: two classes are the same number; declare the order with --classes")
    order = np.argsort(values, kind="stable")
    if np.array_equal(order, np.arange(order.size)):
        return dataclasses.replace(data, ordered=True)
    new_code = np.empty_like(order)
    new_code[order] = np.arange(order.size)
    return dataclasses.replace(
        data,
        label=new_code[data.label],
        class_names=tuple(data.class_names[k] for k in order),
        ordered=True,
    )


def _refuse(source: str | os.PathLike | None, problem: str) -> None:
    if source is None:
        raise EmcrowdError(problem)
    raise InputError(source, problem)
