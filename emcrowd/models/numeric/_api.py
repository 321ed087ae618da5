"""What every numeric model shares: input in any form the readers take, results in the user's library.

A subclass sets ``method`` and implements ``_fit_numeric(data, gold, callback)``, which sets
``estimate_`` and ``sd_`` (per item; ``sd_`` is the posterior sd, or the standard error of a baseline)
and the per-annotator ``bias_``, ``noise_``, ``scale_`` (None when not fitted), ``random_rate_`` and
``flagged_``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emcrowd.errors import EmcrowdError
from emcrowd.numeric_data import NumericLabels

#: The two-sided 95% normal quantile: the intervals are estimate +- Z95 * sd.
Z95 = 1.959963984540054


class NumericAggregator:
    """Base class of the numeric models (pandas in, pandas out; NumPy for :class:`NumericLabels`)."""

    method = "numeric"
    #: Whether the model fits an objective by EM (history_, converged_, n_iter_ are set).
    iterative = False

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self._defaults()))
        if unknown:
            accepted = ", ".join(sorted(self._defaults())) or "none"
            raise EmcrowdError(
                f"{type(self).__name__} got an unexpected parameter {unknown[0]!r}; it accepts: {accepted}"
            )
        for name, default in self._defaults().items():
            setattr(self, name, params.get(name, default))

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def param_names(cls) -> list[str]:
        return list(cls._defaults())

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._defaults()}

    # -- fitting ---------------------------------------------------------------------------------------
    def fit(self, data: Any, *, gold: Any = None, callback: Any = None, **columns: Any) -> NumericAggregator:
        """Fit to numeric answers: :class:`NumericLabels`, a table of one row per answer (pandas,
        polars, pyarrow; ``item=``, ``worker=``, ``label=`` name its columns), a table or NumPy matrix
        of items x annotators (NaN = no answer). ``gold``: known values (a Series indexed by item, a
        mapping, or one value per item, NaN = unknown); those items' values are fixed to them."""
        from emcrowd.io.numeric import _truth_in_memory, numeric_and_form

        labels, form = numeric_and_form(data, **columns)
        gold_values = None if gold is None else _truth_in_memory(gold, labels)
        if gold_values is not None and not np.isfinite(gold_values).any():
            gold_values = None
        self._form = form
        self.data_ = labels
        self._fit_numeric(labels, gold_values, callback)
        self.interval_ = np.column_stack([self.estimate_ - Z95 * self.sd_, self.estimate_ + Z95 * self.sd_])
        return self

    def _fit_numeric(self, data: NumericLabels, gold: np.ndarray | None, callback: Any) -> None:
        raise NotImplementedError

    def fit_predict(self, data: Any, *, gold: Any = None, callback: Any = None, **columns: Any) -> Any:
        """Fit, then :meth:`predict`: each item's estimated value (a pandas Series indexed by item id
        for a pandas input; a NumPy array in item order for arrays and :class:`NumericLabels`)."""
        return self.fit(data, gold=gold, callback=callback, **columns).predict()

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimate_"):
            raise EmcrowdError(f"this {type(self).__name__} is not fitted yet; call fit(data) first")

    def predict(self) -> Any:
        """Each item's estimated value."""
        self._check_fitted()
        if self._form is None:
            return self.estimate_
        import pyarrow as pa

        return self._form._keyed(
            self._form.items, self._form.item_column, pa.array(self.estimate_), "estimate"
        )

    def predict_interval(self) -> Any:
        """Each item's estimate, sd and 95% interval (``estimate``, ``sd``, ``lower``, ``upper``): a
        DataFrame indexed by item for pandas input, else a dict of arrays."""
        self._check_fitted()
        columns = {
            "estimate": self.estimate_,
            "sd": self.sd_,
            "lower": self.interval_[:, 0],
            "upper": self.interval_[:, 1],
        }
        if self._form is None:
            return columns
        from emcrowd.io.numeric import per_item_frame

        return per_item_frame(self._form, columns)

    def annotator_bias(self) -> Any:
        """Each annotator's estimated bias (a pandas Series indexed by annotator for pandas input)."""
        self._check_fitted()
        if self._form is None:
            return self.bias_
        import pyarrow as pa

        return self._form._keyed(self._form.workers, self._form.worker_column, pa.array(self.bias_), "bias")

    def annotator_noise(self) -> Any:
        """Each annotator's estimated noise sd (as :meth:`annotator_bias`)."""
        self._check_fitted()
        if self._form is None:
            return self.noise_
        import pyarrow as pa

        return self._form._keyed(
            self._form.workers, self._form.worker_column, pa.array(self.noise_), "noise_sd"
        )


def item_medians(data: NumericLabels) -> np.ndarray:
    """Each item's median answer (NaN without answers)."""
    from emcrowd.models.numeric._kernels import item_medians as medians

    return medians(data.item, data.value, data.n_items)


def pooled_within_variance(data: NumericLabels) -> float:
    """The variance of answers around their item's mean, pooled over items with two or more answers
    (the answers' variance when no item has two)."""
    from emcrowd.models.numeric._kernels import within_item_variance

    pooled = float(within_item_variance(data.item, data.value, data.n_items))
    return float(data.value.var()) if np.isnan(pooled) else max(pooled, 0.0)
