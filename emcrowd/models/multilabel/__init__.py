"""Models for multi-select tasks: each annotator ticks any number of classes for an item, and each
class is a present/absent question (:class:`emcrowd.multilabels.MultiLabels` in).

:mod:`~.majority` is the per-class majority vote (the baseline, and the start of the EM model);
:mod:`~.per_class_ds` is the per-class Dawid-Skene model (a sensitivity and a specificity per
annotator and class, tied by a prior per annotator); :mod:`~._kernels` holds its compiled passes;
:mod:`~.simulate` makes such data (correlated classes, biased annotators).

May import: :mod:`emcrowd.models._base`, the core modules (:mod:`emcrowd.multilabels`,
:mod:`emcrowd.data`, :mod:`emcrowd.errors`). Never :mod:`emcrowd.analysis` or anything above it.
"""

from __future__ import annotations

from emcrowd.models.multilabel.majority import PerClassMajority, per_class_vote
from emcrowd.models.multilabel.per_class_ds import PerClassDawidSkene

__all__ = [
    "MULTI_LABEL_METHODS",
    "PerClassDawidSkene",
    "PerClassMajority",
    "multi_label_method",
    "per_class_vote",
]

#: The multi-select methods by name, in the order ``compare`` shows them.
MULTI_LABEL_METHODS = ("majority", "per_class_ds")
_ALIASES = {
    "mv": "majority",
    "majority_vote": "majority",
    "ds": "per_class_ds",
    "dawid_skene": "per_class_ds",
}


def multi_label_method(name: str | None) -> str:
    """The canonical name of a multi-select method (default: the per-class Dawid-Skene model)."""
    from emcrowd.errors import EmcrowdError

    if name is None:
        return "per_class_ds"
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in MULTI_LABEL_METHODS:
        raise EmcrowdError(
            f"method {name!r} does not take multi-select answers; choose from "
            f"{', '.join(m.replace('_', '-') for m in MULTI_LABEL_METHODS)}"
        )
    return key
