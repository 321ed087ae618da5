"""What every model shares as a Python object, whatever its numerics: the scikit-learn style entry
points (``fit``, ``fit_predict``, ``predict``, ``predict_proba``), the input they accept and the form
of what they return, and constructor arguments checked by name.

* **In**: :class:`~emcrowd.data.Labels`; a DataFrame (pandas, polars) or a pyarrow Table of one row per
  label, its item, annotator and label columns found by name as the CLI finds them (or named with
  ``item=``, ``worker=``, ``label=``); a DataFrame of numbers as an items x annotators matrix; a NumPy
  matrix (NaN = no label). Gold labels by item id (a Series, a mapping, a table) or one per item in
  the items' order (:func:`emcrowd.io.frames.truth_codes`).
* **Out**: from a DataFrame or Table, objects of the same library, keyed by the user's item ids and in
  the user's class values; from :class:`Labels` or arrays, NumPy arrays (class codes, posteriors). The
  fitted attributes (``labels_``, ``posteriors_``, ...) are always NumPy arrays in code order.

The conversions themselves live in :mod:`emcrowd.io.frames`; a subclass provides ``_fit_labels``.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.io.frames import labels_and_form, truth_codes

#: Parameter names from other libraries (crowd-kit, scikit-learn habits) and emcrowd's name for them.
OTHER_NAMES = {
    "n_iter": "max_iter",
    "n_iters": "max_iter",
    "n_iterations": "max_iter",
    "max_iterations": "max_iter",
    "iterations": "max_iter",
    "tolerance": "tol",
    "eps": "tol",
    "seed": "random_state",
    "random_seed": "random_state",
    "n_restarts": "n_init",
    "restarts": "n_init",
    "n_starts": "n_init",
    "labels_priors": "class_prior",
    "label_priors": "class_prior",
    "priors": "class_prior",
    "class_priors": "class_prior",
    "alphas_priors_mean": "alpha_prior",
    "betas_priors_mean": "beta_prior",
    "tie_break": "ties",
    "tie_breaking": "ties",
}
#: Other libraries' options that have no counterpart here, and what to do instead.
NO_COUNTERPART = {
    "silent": "emcrowd prints nothing; pass callback=f to fit() to follow the iterations",
    "on_missing_skill": "majority vote here weighs every annotator alike",
    "default_skill": "majority vote here weighs every annotator alike",
    "skills": "majority vote here weighs every annotator alike",
}
#: Fitted attributes of other libraries (crowd-kit) and where the same thing is here.
OTHER_ATTRIBUTES = {
    "probas_": "posteriors_ (codes in classes_ order), or predict_proba() keyed by item",
    "skills_": "accuracy_ (annotators in code order), or annotator_accuracy() keyed by annotator",
    "errors_": "confusion_",
    "priors_": "class_prior_",
    "alphas_": "alpha_",
    "betas_": "beta_",
    "loss_history_": "history_",
}


class UnknownParameterError(EmcrowdError, TypeError):
    """A model was given an argument it does not take (also a TypeError, as Python's own would be)."""


class Aggregator:
    """Base of every model: input handling, result forms, named parameters.

    Subclasses define ``__init__`` with keyword-only parameters (stored under the same names), a
    class attribute ``method``, and ``_fit_labels(data, gold, callback)`` which sets at least
    ``labels_`` and ``posteriors_``.
    """

    method: str = "aggregator"

    def __new__(cls, *args: Any, **kwargs: Any) -> Aggregator:
        # Checked before __init__, so that a misspelt or foreign name gets the right name back
        # instead of Python's "unexpected keyword argument" from whichever base class saw it.
        accepted = cls.param_names()
        if args:
            raise UnknownParameterError(
                f"{cls.__name__}() takes keyword arguments only ({', '.join(accepted)})"
            )
        unknown = [name for name in kwargs if name not in accepted]
        if unknown:
            raise UnknownParameterError(unknown_parameter_message(cls.__name__, unknown[0], accepted))
        return super().__new__(cls)

    def __getattr__(self, name: str) -> Any:
        # only called for attributes that are missing: name the right one for another library's name
        if name in OTHER_ATTRIBUTES:
            raise AttributeError(f"{type(self).__name__} has no {name}; use {OTHER_ATTRIBUTES[name]}")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- to be provided by subclasses -------------------------------------------------------------
    def _fit_labels(self, data: Labels, gold: np.ndarray | None, callback: Any) -> None:
        raise NotImplementedError

    # -- entry points -----------------------------------------------------------------------------
    def fit(
        self,
        data: Any,
        *,
        gold: Any = None,
        callback: Any = None,
        item: str | None = None,
        worker: str | None = None,
        label: str | None = None,
        init: Any = None,
    ) -> Any:
        """Fit the model to observed labels.

        Parameters
        ----------
        data : DataFrame, pyarrow.Table, Labels or array-like of shape (n_items, n_workers)
            A pandas or polars DataFrame or a pyarrow Table of one row per label (its item, annotator
            and label columns found by name: ``task``/``item``/..., ``worker``/``annotator``/...,
            ``label``/``answer``/...; or named with ``item=``, ``worker=``, ``label=``); a DataFrame
            of numbers only, read as an items x annotators matrix; :class:`Labels`
            (:func:`emcrowd.read_labels`); or a dense matrix of numeric labels with NaN for "no label".
        gold : optional
            Known labels; those items are clamped to their class (they teach the model about the
            annotators). By item id: a pandas Series indexed by item, a mapping ``{item: label}``, or
            a table with an item and a label column, in the user's class values. Or one value per
            item **in the order of the items** (``data.item_names`` of :class:`Labels`): a NumPy
            array of class codes (``-1`` = unknown), or of class values (NaN = unknown).
        callback : callable, optional
            ``callback(n_iter, objective)`` after every EM iteration.
        item, worker, label : str, optional
            Column names of a DataFrame, when they are not among the recognised ones.
        init : fitted model of the same method, or :class:`emcrowd.models._warm.WarmStart`, optional
            Start EM from this previous fit's annotator parameters and class prior instead of majority
            vote (annotators and items matched by id; new ones start at the prior): a fit of all the
            labels that usually needs far fewer iterations. ``docs/incremental.md`` tells more.

        Returns
        -------
        self
        """
        labels, form = labels_and_form(data, item=item, worker=worker, label=label)
        codes = self._gold_codes(gold, labels)
        self._warm = None
        if init is not None:
            from emcrowd.models._warm import WarmStart

            if getattr(type(self), "cold_only", None):
                raise EmcrowdError(f"{self.method} cannot start from a previous fit: {type(self).cold_only}")

            self._warm = WarmStart.from_model(init)
            self._warm.check(self.method, labels.class_names)
        try:
            self._fit_labels(labels, codes, callback)
        finally:
            self._warm = None
        self._fit_names = (labels.item_names, labels.worker_names)
        self._form = form
        return self

    def fit_predict(self, data: Any, *, gold: Any = None, callback: Any = None, **columns: Any) -> Any:
        """:meth:`fit`, then :meth:`predict`: each item's most probable class.

        From a pandas DataFrame, a Series indexed by item id holding the user's class values; from a
        polars DataFrame or a pyarrow Table, one of those with an item and a label column; from
        :class:`Labels` or an array, the class codes (an ndarray in item order). ``gold``,
        ``callback`` and the column names (``item=``, ``worker=``, ``label=``) as for :meth:`fit`.
        """
        return self.fit(data, gold=gold, callback=callback, **columns).predict()

    def fit_predict_proba(self, data: Any, *, gold: Any = None, callback: Any = None, **columns: Any) -> Any:
        """:meth:`fit`, then :meth:`predict_proba`: each item's posterior over the classes."""
        return self.fit(data, gold=gold, callback=callback, **columns).predict_proba()

    def predict(self, data: Any = None, *, gold: Any = None, **columns: Any) -> Any:
        """Most probable class of every item (lowest code among exact ties), in the form of the data
        fitted (see :meth:`fit_predict`).

        Aggregation is transductive: the items are those of the data given to ``fit``. Passing
        ``data`` (and ``gold``, ``item=``, ... as for :meth:`fit`) fits again on it first.
        """
        self._refit(data, gold, columns)
        form = getattr(self, "_form", None)
        return self.labels_ if form is None else form.labels(self.labels_)

    def predict_proba(self, data: Any = None, *, gold: Any = None, **columns: Any) -> Any:
        """Posterior over classes of every item: a pandas DataFrame indexed by item id with one column
        per class value (polars DataFrame / pyarrow Table: an item column, then one per class), or
        for :class:`Labels` and arrays the ndarray of shape (n_items, n_classes) in code order. See
        :meth:`predict`."""
        self._refit(data, gold, columns)
        form = getattr(self, "_form", None)
        return self.posteriors_ if form is None else form.proba(self.posteriors_)

    def annotator_accuracy(self) -> Any:
        """Each annotator's estimated probability of giving the true class (``accuracy_``): a pandas
        Series indexed by annotator id (polars / pyarrow: an annotator and an ``accuracy`` column),
        or an ndarray in annotator code order for :class:`Labels` and arrays."""
        self._check_fitted()
        form = getattr(self, "_form", None)
        return self.accuracy_ if form is None else form.per_worker(self.accuracy_, "accuracy")

    def _refit(self, data: Any, gold: Any, columns: dict[str, Any]) -> None:
        unknown = set(columns) - {"item", "worker", "label"}
        if unknown:
            raise UnknownParameterError(
                f"unknown argument {sorted(unknown)[0]!r}; the data's columns are named with "
                "item=, worker=, label="
            )
        if data is not None:
            self.fit(data, gold=gold, **columns)
        elif gold is not None or columns:
            raise EmcrowdError("gold= and column names go with data: predict(data, gold=...)")
        self._check_fitted()

    def _gold_codes(self, gold: Any, data: Labels) -> np.ndarray | None:
        """Gold class codes for ``data`` (``-1`` = unknown), or None when no item has one."""
        if gold is None:
            return None
        return self._check_gold(truth_codes(gold, data, name="gold"), data)

    @staticmethod
    def _check_gold(gold: np.ndarray | None, data: Labels) -> np.ndarray | None:
        if gold is None:
            return None
        gold = np.asarray(gold)
        if gold.shape != (data.n_items,) or gold.dtype.kind not in "iu":
            raise EmcrowdError(f"gold must be {data.n_items} integer class codes (-1 = unknown)")
        if np.any(gold >= data.n_classes) or np.any(gold < -1):
            raise EmcrowdError(f"gold codes must be in -1..{data.n_classes - 1}")
        return gold if (gold >= 0).any() else None

    def _check_fitted(self) -> None:
        if "posteriors_" not in vars(self):
            raise EmcrowdError(f"this {type(self).__name__} is not fitted yet; call fit(data) first")

    # -- parameters -------------------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        """The constructor arguments of this model, its base classes' included."""
        names = [
            name
            for klass in cls.__mro__
            if "__init__" in vars(klass) and issubclass(klass, Aggregator)
            for name, p in inspect.signature(klass.__init__).parameters.items()
            if name != "self"
            and p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        ]
        return list(dict.fromkeys(names))

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as given (JSON-ready: arrays become lists)."""
        params = {name: getattr(self, name) for name in self.param_names()}
        return {k: np.asarray(v).tolist() if isinstance(v, np.ndarray) else v for k, v in params.items()}


def unknown_parameter_message(model: str, name: str, accepted: list[str]) -> str:
    """Why ``name`` is refused, and the right name when there is one."""
    head = f"{model}() has no parameter {name!r}"
    ours = OTHER_NAMES.get(name)
    if ours in accepted:
        hint = f"use {PAIRS.get(ours, ours + '=...')} instead"
    elif name in NO_COUNTERPART:
        hint = NO_COUNTERPART[name]
    else:
        close = difflib.get_close_matches(name, accepted, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}=...?" if close else ""
    parameters = f"{model} takes {', '.join(accepted)}" if accepted else f"{model} takes no parameters"
    text = f"{head}; {hint}" if hint else head
    return f"{text}{'' if text.endswith('?') else '.'} {parameters}."


#: How a parameter whose value is not a plain number is written, for the messages.
PAIRS = {"alpha_prior": "alpha_prior=(mean, sd)", "beta_prior": "beta_prior=(mean, sd)"}
