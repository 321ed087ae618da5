"""Models for numeric answers (:class:`emcrowd.numeric_data.NumericLabels`): each item has a latent true
value, each annotator a way of getting it wrong.

* :mod:`.baselines`: the mean and the median of each item's answers;
* :mod:`.bias_noise`: annotators with a bias (an offset), a noise sd and optionally a scale, fitted by
  EM; its robust variant adds, per annotator, a rate of answers given at random.

The registry :data:`NUMERIC_MODELS` names them for the CLI and the analysis. May import the core modules
and :mod:`emcrowd.io` (to accept tables), like every model.
"""

from __future__ import annotations

from typing import Any

from emcrowd.errors import EmcrowdError
from emcrowd.models.numeric.baselines import MeanAggregator, MedianAggregator
from emcrowd.models.numeric.bias_noise import BiasNoise, RobustBiasNoise

__all__ = [
    "NUMERIC_METHODS",
    "NUMERIC_MODELS",
    "BiasNoise",
    "MeanAggregator",
    "MedianAggregator",
    "RobustBiasNoise",
    "numeric_method_name",
]

#: The numeric methods by name, in the order ``compare`` shows them.
NUMERIC_MODELS: dict[str, Any] = {
    "mean": MeanAggregator,
    "median": MedianAggregator,
    "bias_noise": BiasNoise,
    "robust": RobustBiasNoise,
}
NUMERIC_METHODS = tuple(NUMERIC_MODELS)
#: What ``--numeric`` fits when no method is named.
DEFAULT_NUMERIC_METHOD = "bias_noise"
_ALIASES = {"robust_bias_noise": "robust", "biasnoise": "bias_noise", "average": "mean"}


def numeric_method_name(name: str) -> str:
    """The canonical name of a numeric method (case and dashes forgiven)."""
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in NUMERIC_MODELS:
        shown = ", ".join(m.replace("_", "-") for m in NUMERIC_METHODS)
        raise EmcrowdError(f"unknown method {name!r} for numeric labels; choose from {shown}")
    return key
