"""emcrowd: aggregate crowdsourced labels with GLAD (EM) and see how it compares with majority vote.

The public API is imported lazily, so that ``emcrowd --help`` does not pay for NumPy and SciPy::

    from emcrowd import GLAD, Labels, read_labels
    data = read_labels("L.npy")
    model = GLAD().fit(data)
    model.posteriors_, model.alpha_, model.beta_
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Labels": "emcrowd.data",
    "GLAD": "emcrowd.models.glad",
    "DawidSkene": "emcrowd.models.dawid_skene",
    "OneCoin": "emcrowd.models.dawid_skene",
    "BayesianDawidSkene": "emcrowd.models.bayesian",
    "EBCC": "emcrowd.models.ebcc",
    "majority_vote": "emcrowd.models.majority",
    "MajorityVote": "emcrowd.models.majority",
    "compare": "emcrowd.evaluate",
    "simulate_glad": "emcrowd.simulate",
    "read_labels": "emcrowd.io",
    "load_labels": "emcrowd.io",
    "read_truth": "emcrowd.io",
    "EmcrowdError": "emcrowd.errors",
    "InputError": "emcrowd.errors",
    "ConvergenceWarning": "emcrowd.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'emcrowd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
