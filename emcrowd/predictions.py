"""Machine annotators: a model's (or an LLM's) predictions beside the crowd's labels.

A :class:`Predictions` holds one machine's output for the items it saw: either a probability per class
(``proba``, rows summing to 1) or a hard class with an optional confidence in [0, 1]. The readers of
:mod:`emcrowd.io.predictions` make them; :func:`attach` matches their item ids to a crowd's
:class:`~emcrowd.data.Labels` and gives the :class:`MachineData` that
:class:`emcrowd.models.classification.machine.CrowdMachine` fits.

Items only a machine saw are added to the crowd's items (after them, in the order the machines name
them), or dropped, or refused (``unknown_items``: ``"add"``, ``"drop"``, ``"error"``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from emcrowd.data import CODE_DTYPE, Labels
from emcrowd.errors import EmcrowdError, InputError

UNKNOWN_ITEM_POLICIES = ("add", "drop", "error")
#: A row of probabilities may be off 1 by this much (rounding in a CSV); it is then rescaled.
SUM_TOLERANCE = 1e-3


@dataclass(frozen=True, eq=False)
class Predictions:
    """One machine's predictions.

    Attributes
    ----------
    name : str
        The machine's name (it is listed under this name among the annotators).
    item_names : tuple of str
        The items it predicted, one row each.
    class_names : tuple of str
        The classes of the columns of ``proba``, or the classes that ``label`` codes name.
    proba : ndarray of shape (n, len(class_names)), or None
        A probability per class and item.
    label : ndarray of shape (n,), or None
        With hard answers: the class code of each item's answer.
    confidence : ndarray of shape (n,), or None
        With hard answers: the machine's confidence in each answer, in [0, 1] (optional).
    source : str
        Where the predictions came from (a file name), for messages.
    """

    name: str
    item_names: tuple[str, ...]
    class_names: tuple[str, ...]
    proba: np.ndarray | None = None
    label: np.ndarray | None = None
    confidence: np.ndarray | None = None
    source: str = "predictions"

    def __post_init__(self) -> None:
        n = len(self.item_names)
        where = self.source
        if (self.proba is None) == (self.label is None):
            raise InputError(where, "give either a probability per class or a hard label, not both")
        if len(set(self.item_names)) != n:
            seen: set[str] = set()
            dup = next(i for i in self.item_names if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise InputError(where, f"item {dup!r} is predicted twice by {self.name!r}")
        if self.proba is not None:
            proba = np.asarray(self.proba, dtype=float)
            if proba.shape != (n, len(self.class_names)):
                raise InputError(where, "probabilities must be one row per item, one column per class")
            check_probabilities(proba, where, self.item_names)
            object.__setattr__(self, "proba", proba / proba.sum(axis=1, keepdims=True))
        else:
            label = np.asarray(self.label)
            if label.shape != (n,) or label.dtype.kind not in "iu":
                raise InputError(where, "labels must be one class code per item")
            if n and (label.min() < 0 or label.max() >= len(self.class_names)):
                raise InputError(where, f"label codes outside 0..{len(self.class_names) - 1}")
            object.__setattr__(self, "label", label.astype(CODE_DTYPE))
        if self.confidence is not None:
            if self.label is None:
                raise InputError(where, "a confidence goes with hard labels, not with probabilities")
            conf = np.asarray(self.confidence, dtype=float)
            if conf.shape != (n,):
                raise InputError(where, "one confidence per item")
            bad = ~((conf >= 0) & (conf <= 1))
            if bad.any():
                j = int(np.flatnonzero(bad)[0])
                raise InputError(
                    where, f"confidence {conf[j]:g} of item {self.item_names[j]!r} is not in [0, 1]"
                )
            object.__setattr__(self, "confidence", conf)

    @property
    def n_items(self) -> int:
        return len(self.item_names)

    @property
    def kind(self) -> str:
        """``"proba"`` (a probability per class) or ``"label"`` (hard answers)."""
        return "proba" if self.proba is not None else "label"

    def answers(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Each item's answer (the most probable class, lowest code among ties) and the confidence in
        it (its probability; for hard labels the given confidence, or None)."""
        if self.proba is not None:
            top = np.argmax(self.proba, axis=1)
            return top.astype(CODE_DTYPE), self.proba[np.arange(self.n_items), top]
        assert self.label is not None
        return self.label, self.confidence

    def with_classes(self, class_names: tuple[str, ...]) -> Predictions:
        """The same predictions over ``class_names`` (the crowd's classes): probability columns in that
        order (0 for a class the machine has no column for), label codes recoded. A class of the
        machine that the crowd never names is refused."""
        if self.class_names == tuple(class_names):
            return self
        position = {c: k for k, c in enumerate(class_names)}
        unknown = [c for c in self.class_names if c not in position]
        if unknown:
            raise InputError(
                self.source,
                f"class {unknown[0]!r} of {self.name!r} is not a class of the labels "
                f"({', '.join(class_names)})",
            )
        order = np.array([position[c] for c in self.class_names], dtype=np.intp)
        if self.proba is not None:
            proba = np.zeros((self.n_items, len(class_names)))
            proba[:, order] = self.proba
            return dataclasses.replace(self, class_names=class_names, proba=proba)
        assert self.label is not None
        return dataclasses.replace(self, class_names=class_names, label=order[self.label])


def check_probabilities(proba: np.ndarray, where: str, item_names: tuple[str, ...]) -> None:
    """Refuse negative, missing or infinite probabilities and rows that do not sum to 1."""
    bad = ~np.isfinite(proba).all(axis=1)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise InputError(where, f"item {item_names[j]!r} has a missing or non-numeric probability")
    bad = (proba < 0).any(axis=1)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise InputError(where, f"item {item_names[j]!r} has a negative probability")
    sums = proba.sum(axis=1)
    bad = np.abs(sums - 1.0) > SUM_TOLERANCE
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise InputError(
            where,
            f"the probabilities of item {item_names[j]!r} sum to {sums[j]:.6g}, not 1 "
            f"({int(bad.sum()):,} such rows)",
        )


@dataclass(frozen=True, eq=False)
class MachineData:
    """Crowd labels and machine predictions on one set of items.

    Attributes
    ----------
    labels : Labels
        The crowd's labels, with the items only a machine saw appended (no labels of their own).
    machines : tuple of Predictions
        Every machine's predictions over ``labels.class_names``.
    item_codes : tuple of ndarray
        For each machine, the item code (in ``labels``) of each of its rows.
    n_crowd_items : int
        How many of ``labels``' items came from the crowd (the first ones).
    """

    labels: Labels
    machines: tuple[Predictions, ...]
    item_codes: tuple[np.ndarray, ...]
    n_crowd_items: int

    @property
    def machine_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.machines)

    def machine_proba(self, m: int) -> np.ndarray:
        """Machine ``m``'s probabilities on every item, shape (n_items, K): its own where it predicted
        (a hard answer counts as certain), NaN rows elsewhere. What ``compare`` scores it by."""
        out = np.full((self.labels.n_items, self.labels.n_classes), np.nan)
        machine = self.machines[m]
        if machine.proba is not None:
            out[self.item_codes[m]] = machine.proba
        else:
            assert machine.label is not None
            out[self.item_codes[m]] = np.eye(self.labels.n_classes)[machine.label]
        return out


def attach(labels: Labels, predictions: list[Predictions], unknown_items: str = "add") -> MachineData:
    """Match the predictions' item ids to the crowd's, as :class:`MachineData`.

    ``unknown_items`` says what to do with an item no crowd label names: ``"add"`` it (its posterior is
    then the machines' calibrated one), ``"drop"`` its predictions, or refuse the input (``"error"``).
    Machine names must differ from each other and from the crowd's annotators.
    """
    if unknown_items not in UNKNOWN_ITEM_POLICIES:
        raise EmcrowdError(
            f"unknown_items must be one of {', '.join(UNKNOWN_ITEM_POLICIES)}, got {unknown_items!r}"
        )
    if not predictions:
        raise EmcrowdError("no predictions given")
    names = [p.name for p in predictions]
    clash = [n for n in names if n in set(labels.worker_names)] or [n for n in names if names.count(n) > 1]
    if clash:
        raise InputError(
            predictions[names.index(clash[0])].source,
            f"machine name {clash[0]!r} is already an "
            "annotator's or another machine's; name the machines apart",
        )
    import pyarrow as pa
    import pyarrow.compute as pc

    crowd_items = None  # the crowd's item ids as Arrow strings, made when an order differs
    position: dict[str, int] | None = None  # made only when items are added
    extra: list[str] = []
    machines = []
    codes = []
    for p in predictions:
        p = p.with_classes(labels.class_names)
        n_same = min(p.n_items, labels.n_items)
        if p.item_names[:n_same] == labels.item_names[:n_same]:  # the crowd's items first, in order
            item = np.arange(p.n_items, dtype=np.int64)
            item[n_same:] = -1
        else:
            if crowd_items is None:
                crowd_items = pa.array(labels.item_names, type=pa.string())
            found = pc.index_in(pa.array(p.item_names, type=pa.string()), value_set=crowd_items)
            item = found.to_numpy(zero_copy_only=False)
            item = np.where(np.isnan(item), -1, item) if found.null_count else item
            item = item.astype(np.int64)
        missing = item < 0
        if missing.any():
            if unknown_items == "error":
                first = p.item_names[int(np.flatnonzero(missing)[0])]
                raise InputError(
                    p.source,
                    f"item {first!r} has no crowd label ({int(missing.sum()):,} such items); "
                    "add them with unknown_items='add' (--unknown-items add) or drop them",
                )
            if unknown_items == "drop":
                keep = ~missing
                p = _subset(p, keep)
                item = item[keep]
            else:
                if position is None:
                    position = {name: j for j, name in enumerate(labels.item_names)}
                for j in np.flatnonzero(missing):
                    name = p.item_names[j]
                    if name not in position:
                        position[name] = len(position)
                        extra.append(name)
                    item[j] = position[name]
        machines.append(p)
        codes.append(item.astype(np.intp))
    extended = labels
    if extra:
        extended = dataclasses.replace(labels, item_names=labels.item_names + tuple(extra))
    return MachineData(extended, tuple(machines), tuple(codes), labels.n_items)


def _subset(p: Predictions, keep: np.ndarray) -> Predictions:
    names = tuple(n for n, k in zip(p.item_names, keep, strict=True) if k)
    return dataclasses.replace(
        p,
        item_names=names,
        proba=None if p.proba is None else p.proba[keep],
        label=None if p.label is None else p.label[keep],
        confidence=None if p.confidence is None else p.confidence[keep],
    )


def split_machines(
    labels: Labels, names: list[str], source: str = "labels"
) -> tuple[Labels, list[Predictions]]:
    """Take the named annotators (machines answering in the labels file, such as an LLM) out of the
    crowd's labels, as hard-label :class:`Predictions` (``--machine NAME``)."""
    position = {n: i for i, n in enumerate(labels.worker_names)}
    unknown = [n for n in names if n not in position]
    if unknown:
        raise InputError(source, f"--machine {unknown[0]!r} is not an annotator of the labels")
    machine_codes = [position[n] for n in names]
    is_machine = np.zeros(labels.n_workers, dtype=bool)
    is_machine[machine_codes] = True
    preds = []
    for name, code in zip(names, machine_codes, strict=True):
        rows = np.flatnonzero(labels.worker == code)
        items = labels.item[rows]
        _, first = np.unique(items, return_index=True)  # one answer per item: the first given
        rows = rows[np.sort(first)]
        preds.append(
            Predictions(
                name,
                tuple(labels.item_names[j] for j in labels.item[rows]),
                labels.class_names,
                label=labels.label[rows],
                source=source,
            )
        )
    keep = ~is_machine[labels.worker]
    new_code = np.cumsum(~is_machine) - 1
    crowd = Labels(
        labels.item[keep],
        new_code[labels.worker[keep]],
        labels.label[keep],
        labels.item_names,
        tuple(n for n, m in zip(labels.worker_names, is_machine, strict=True) if not m),
        labels.class_names,
    )
    return crowd, preds
