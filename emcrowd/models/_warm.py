"""Warm starts: an EM fit that begins at a previous fit's parameters instead of majority vote.

A :class:`WarmStart` holds what a fit of one method learned, by name: the class names and prior, one
array per annotator parameter (first axis: the annotators, ``worker_names`` order) and one per item
parameter (first axis: the items), and the model's other parameters (``shared``). It is made from a
fitted model (:meth:`WarmStart.from_model`) or read from a fit's saved state
(:mod:`emcrowd.io.state`), and given to ``fit(data, init=...)``.

The new data's annotators and items are matched to the previous ones by id; a new annotator starts at
the mean of the known annotators' parameters (the crowd's typical annotator), a new item at the
model's prior. The first run then starts from the E-step at those parameters and runs the same EM
loop as any fit (so the objective never decreases from there, and the result is a fit of all the
labels); other starts (``n_init``) are as usual.

Every EM method starts warm except EBCC: its class subtypes are drawn at random at every start and
have no names to match, so a previous fit's subtype parameters mean nothing to the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emcrowd.errors import EmcrowdError


@dataclass(frozen=True, eq=False)
class WarmStart:
    """A previous fit's parameters, by name (see the module notes)."""

    method: str
    class_names: tuple[str, ...]
    class_prior: np.ndarray
    worker_names: tuple[str, ...]
    item_names: tuple[str, ...]
    workers: dict[str, np.ndarray] = field(default_factory=dict)
    items: dict[str, np.ndarray] = field(default_factory=dict)
    shared: dict[str, np.ndarray] = field(default_factory=dict)  # the model's other parameters

    @classmethod
    def from_model(cls, model: Any) -> WarmStart:
        """The warm start of a fitted EM model (its ``fit`` data's names)."""
        if isinstance(model, WarmStart):
            return model
        names = getattr(model, "_fit_names", None)
        if names is None or not hasattr(model, "posteriors_"):
            raise EmcrowdError("init= takes a fitted model (or a WarmStart); this one is not fitted")
        workers, items = model._warm_arrays()
        return cls(
            method=model.method,
            class_names=tuple(model.classes_),
            class_prior=np.asarray(model.class_prior_, dtype=float),
            worker_names=names[1],
            item_names=names[0],
            workers=workers,
            items=items,
            shared=model._warm_shared(),
        )

    def check(self, method: str, class_names: tuple[str, ...]) -> None:
        """Refuse a warm start from another method or another class set."""
        if self.method != method:
            raise EmcrowdError(
                f"the previous fit is {self.method}, not {method}: a warm start needs the same method"
            )
        if tuple(self.class_names) != tuple(class_names):
            raise EmcrowdError(
                f"the previous fit's classes are {', '.join(self.class_names)}, these labels' are "
                f"{', '.join(class_names)}: a warm start needs the same class set"
            )

    def worker_array(self, key: str, names: tuple[str, ...]) -> np.ndarray:
        """The annotator parameter ``key`` for annotators ``names``: matched by id, new ones at the
        mean of the known ones."""
        return _matched(self.workers[key], self.worker_names, names, None)

    def item_array(self, key: str, names: tuple[str, ...], default: float) -> np.ndarray:
        """The item parameter ``key`` for items ``names``: matched by id, new ones at ``default``."""
        return _matched(self.items[key], self.item_names, names, default)


def match(old: tuple[str, ...], new: tuple[str, ...]) -> np.ndarray:
    """For each name of ``new``, its position in ``old``, or -1; shape (len(new),).

    An update appends new names after the old ones, so ``old`` is often a prefix of ``new``: that is
    checked first (one comparison of tuples), else the names are looked up in a dict."""
    n = len(old)
    if len(new) >= n and new[:n] == old:
        out = np.full(len(new), -1, dtype=np.int64)
        out[:n] = np.arange(n)
        return out
    if len(new) * 4 < n:
        # few new names among many old ones: a pass over the old names in C (set membership), then
        # positions of only those found (a dict of every old name costs far more: 2M names ~1 s)
        wanted = set(new)
        found = np.flatnonzero(np.fromiter(map(wanted.__contains__, old), dtype=bool, count=n))
        where = {old[p]: p for p in found.tolist()}
    else:
        where = dict(zip(old, range(n), strict=True))
    return np.fromiter((where.get(name, -1) for name in new), dtype=np.int64, count=len(new))


def _matched(
    values: np.ndarray, old: tuple[str, ...], new: tuple[str, ...], default: float | None
) -> np.ndarray:
    where = match(old, new)
    known = where >= 0
    if default is None:
        fill = values.mean(axis=0) if len(values) else np.zeros(values.shape[1:])
    else:
        fill = np.full(values.shape[1:], default)
    out = np.empty((len(new), *values.shape[1:]), dtype=float)
    out[known] = values[where[known]]
    out[~known] = fill
    return out
