"""The aggregation models: pure computations over :class:`emcrowd.data.Labels`; no printing, no files.

Grouped by kind of task, then method (:mod:`emcrowd.models.classification` for unordered classes,
:mod:`emcrowd.models.ordinal` for ordered grades),
on the one EM loop of :mod:`emcrowd.models._base`. This module is also the registry of methods by name
(:data:`MODELS`, :data:`METHODS`, :func:`method_name`) that the analysis and the CLI look them up in.

May import: the core modules (:mod:`emcrowd.data`, :mod:`emcrowd.errors`, :mod:`emcrowd.budget`) and
:mod:`emcrowd.io` (to accept tables as input). Never :mod:`emcrowd.analysis` or anything above it.
"""

from __future__ import annotations

from typing import Any

from emcrowd.errors import EmcrowdError
from emcrowd.models._base import EMAggregator
from emcrowd.models.classification.bayesian import BayesianDawidSkene
from emcrowd.models.classification.dawid_skene import DawidSkene, OneCoin
from emcrowd.models.classification.ebcc import EBCC
from emcrowd.models.classification.glad import GLAD
from emcrowd.models.classification.mace import MACE
from emcrowd.models.classification.majority import MajorityVote, majority_vote
from emcrowd.models.ordinal.gaussian import OrdinalDawidSkene

__all__ = [
    "EBCC",
    "GLAD",
    "MACE",
    "METHODS",
    "MODELS",
    "BayesianDawidSkene",
    "DawidSkene",
    "MajorityVote",
    "OneCoin",
    "OrdinalDawidSkene",
    "majority_vote",
    "method_name",
    "model_options",
]

#: The EM models by method name.
MODELS: dict[str, type[EMAggregator]] = {
    "glad": GLAD,
    "dawid_skene": DawidSkene,
    "one_coin": OneCoin,
    "mace": MACE,
    "bayesian_ds": BayesianDawidSkene,
    "ebcc": EBCC,
    "ordinal_ds": OrdinalDawidSkene,  # ordered grades (--ordinal): emcrowd.models.ordinal
}
#: Methods by name, in the order ``compare`` shows them; ``auto`` chooses one of the EM models
#: without gold (:mod:`emcrowd.analysis.selection`).
METHODS = ("majority", *MODELS, "auto")
_ALIASES = {"mv": "majority", "majority_vote": "majority", "ds": "dawid_skene", "onecoin": "one_coin"}
_ALIASES |= {"ibcc": "bayesian_ds", "bds": "bayesian_ds"}
_ALIASES |= {"ordinal": "ordinal_ds", "ods": "ordinal_ds"}


def method_name(name: str) -> str:
    """The canonical name of a method: case, dashes and a few aliases (``ds``, ``mv``) forgiven."""
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in METHODS:
        from emcrowd.models.numeric import NUMERIC_MODELS

        if key in NUMERIC_MODELS or key == "robust_bias_noise":
            raise EmcrowdError(f"{name!r} is a method for numeric labels: add --numeric (numeric=True)")
        raise EmcrowdError(
            f"unknown method {name!r}; choose from {', '.join(m.replace('_', '-') for m in METHODS)}"
        )
    return key


def model_options(method: str, options: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``options`` that ``method``'s model takes (GLAD's priors are not Dawid-Skene's)."""
    if method == "majority":
        return {k: v for k, v in options.items() if k == "random_state"}
    if method == "auto":  # every candidate takes its own share later
        accepted = {name for model in MODELS.values() for name in model.param_names()}
        return {k: v for k, v in options.items() if k in accepted}
    accepted = MODELS[method].param_names()
    return {k: v for k, v in options.items() if k in accepted}
