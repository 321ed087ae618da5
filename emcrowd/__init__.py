"""emcrowd: aggregate crowdsourced labels with GLAD (EM) and see how it compares with majority vote.

The public API is imported lazily, so that ``emcrowd --help`` does not pay for NumPy and SciPy::

    import pandas as pd
    from emcrowd import DawidSkene
    df = pd.read_csv("labels.csv")                 # one row per label: task, worker, label
    labels = DawidSkene().fit_predict(df)          # a Series indexed by task, in df's label values

The public names are the models (:class:`GLAD`, :class:`DawidSkene`, :class:`OneCoin`,
:class:`BayesianDawidSkene`, :class:`EBCC`, :class:`MACE`, :class:`MajorityVote`), the functions users
call (:func:`read_labels`, :func:`load_labels`, :func:`labels_from_frame`, :func:`read_truth`,
:func:`load_truth`, :func:`majority_vote`, :func:`aggregate`, :func:`compare`, :func:`simulate_glad`),
:class:`Labels` (what the readers make) and the errors; ``docs/python.md`` is the guide. Beside them,
by kind of task: :class:`OrdinalDawidSkene` and :func:`simulate_ordinal` for ordered grades
(``docs/ordinal.md``); :class:`BiasNoise`, :class:`RobustBiasNoise` and :func:`simulate_numeric` for
numeric answers (``docs/numeric.md``); :class:`PerClassDawidSkene` and :class:`MultiLabels` for
multi-select answers (``docs/multilabel.md``); :class:`CrowdMachine` and :func:`read_predictions` for
a model's predictions beside the crowd (``docs/machines.md``).

The package in layers, each importing only the ones before it (``tests/test_layers.py`` checks):

1. core: :mod:`emcrowd.data` (the :class:`Labels` every reader makes and every model reads;
   :mod:`emcrowd.numeric_data` for numeric answers),
   :mod:`emcrowd.errors`, :mod:`emcrowd.budget` (memory estimates);
2. :mod:`emcrowd.io` (reading, validating, writing; no numerics) and :mod:`emcrowd.models` (the methods,
   by kind of task, on one EM loop);
3. :mod:`emcrowd.analysis`: aggregation over any method, evaluation against gold, gold-free method
   selection, annotator quality, agreement, relabelling;
4. :mod:`emcrowd.distributed`: the Dask engine;
5. :mod:`emcrowd.tables` (a result as output tables; :mod:`emcrowd.numeric_tables` for numeric fits),
   :mod:`emcrowd.html_report` and
   :mod:`emcrowd.console` (what people read on stderr);
6. :mod:`emcrowd.cli`: the commands, and the terminal output (stderr).
"""

from __future__ import annotations

import importlib
from typing import Any

from emcrowd._version import __version__

_EXPORTS = {
    "Labels": "emcrowd.data",
    "GLAD": "emcrowd.models.classification.glad",
    "DawidSkene": "emcrowd.models.classification.dawid_skene",
    "OneCoin": "emcrowd.models.classification.dawid_skene",
    "BayesianDawidSkene": "emcrowd.models.classification.bayesian",
    "EBCC": "emcrowd.models.classification.ebcc",
    "MACE": "emcrowd.models.classification.mace",
    "MajorityVote": "emcrowd.models.classification.majority",
    "PerClassDawidSkene": "emcrowd.models.multilabel",
    "MultiLabels": "emcrowd.multilabels",
    "CrowdMachine": "emcrowd.models.classification.machine",
    "read_predictions": "emcrowd.io.predictions",
    "OrdinalDawidSkene": "emcrowd.models.ordinal.gaussian",
    "simulate_ordinal": "emcrowd.models.ordinal.simulate",
    "BiasNoise": "emcrowd.models.numeric.bias_noise",
    "RobustBiasNoise": "emcrowd.models.numeric.bias_noise",
    "simulate_numeric": "emcrowd.models.numeric.simulate",
    "majority_vote": "emcrowd.models.classification.majority",
    "aggregate": "emcrowd.analysis.aggregate",
    "compare": "emcrowd.analysis.evaluate",
    "simulate_glad": "emcrowd.models.simulate",
    "simulate_mace": "emcrowd.models.simulate",
    "read_labels": "emcrowd.io",
    "load_labels": "emcrowd.io",
    "labels_from_frame": "emcrowd.io",
    "read_truth": "emcrowd.io",
    "load_truth": "emcrowd.io",
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
