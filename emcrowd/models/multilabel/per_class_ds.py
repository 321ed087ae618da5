"""Per-class Dawid-Skene for multi-select answers: each class a present/absent question.

For item ``j`` and class ``c`` the truth ``z_jc`` is 1 (the class applies) with the class's
prevalence ``pi_c``. Annotator ``a`` ticks class ``c`` with probability ``se[a, c]`` (sensitivity)
when it applies and ``1 - sp[a, c]`` (one minus specificity) when it does not; an answer's classes
are independent given the truth. An annotator's per-class rates are tied together by a prior of
their own: ``se[a, c] ~ Beta(s m_a, s (1 - m_a))`` around the annotator's mean sensitivity ``m_a``
(the same for specificity), with ``s`` (``strength``) pseudo-answers. An annotator with few answers
on a class is shrunk towards its own mean over the classes, one with many is not; the means have a
weak Beta(``mean_prior``) prior that prefers better than chance.

The fit is the shared EM loop (:mod:`emcrowd.models._base`) on the (item, class) pairs as binary
items: the E-step is exact, the M-step maximises the expected complete-data log posterior in two
coordinate steps (the rates given the means in closed form, then each mean by a one-dimensional
concave search), so the objective -- the log posterior of the parameters -- never decreases. Gold
sets are clamped; ``n_init`` restarts mix the majority-vote start with random posteriors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emcrowd.data import name_ranks
from emcrowd.errors import EmcrowdError
from emcrowd.models._base import EMAggregator
from emcrowd.models.multilabel import _kernels
from emcrowd.models.multilabel.majority import tick_shares
from emcrowd.multilabels import MultiLabels

#: Rates are kept inside [EPS, 1 - EPS] so that no log is infinite.
EPS = 1e-6


@dataclass
class _Pairs:
    """The (item, class) pairs as the binary items the EM loop sees (its ``data``), and the answers
    grouped by item for the compiled pass (``indptr``, ``worker``, ``ticks`` in item order)."""

    data: MultiLabels
    ranks: np.ndarray
    indptr: np.ndarray
    worker: np.ndarray
    ticks: np.ndarray
    gold: np.ndarray
    chunks: int

    @property
    def n_items(self) -> int:
        return self.data.n_items * self.data.n_classes

    n_classes = 2
    class_names = ("absent", "present")

    def item_name_ranks(self) -> np.ndarray:
        return self.ranks


@dataclass
class _Step:
    """What one E-step hands to the next M-step: the posteriors that classes apply, shape
    (n_items, C), and the expected counts per annotator and class from the same pass."""

    q: np.ndarray
    counts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass
class _Params:
    se: np.ndarray  # (n_workers, C)
    sp: np.ndarray
    m_se: np.ndarray  # (n_workers,)
    m_sp: np.ndarray
    log_prev: np.ndarray  # (C, 2): log P(absent), log P(present)


class PerClassDawidSkene(EMAggregator):
    """Per-class Dawid-Skene with annotator rates tied by a prior per annotator (multi-select tasks).

    Parameters
    ----------
    strength : float
        Pseudo-answers of the prior tying an annotator's per-class rates to its mean (> 2). Larger
        shares more across classes; smaller trusts each class's own answers sooner.
    mean_prior : tuple of float
        Beta prior (a, b) of each annotator's mean sensitivity and mean specificity (both >= 1).
    learn_prevalence : bool
        Estimate each class's prevalence (MAP, ``prevalence_pseudocount`` pseudo-items of each kind);
        else every class has prevalence 1/2.
    prevalence_pseudocount : float
        Pseudo-items added to "applies" and "does not apply" of every class.
    threshold : float
        An item's set is the classes whose posterior is at least this.
    tol, max_iter, n_init, random_state
        As every EM model (:class:`~emcrowd.models._base.EMAggregator`).

    Attributes
    ----------
    posteriors_ : ndarray (n_items, n_classes)
        Posterior probability that each class applies to each item (1/0 for gold).
    sets_ : ndarray of bool (n_items, n_classes)
        ``posteriors_ >= threshold``.
    sensitivity_, specificity_ : ndarray (n_workers, n_classes)
        Each annotator's rates per class.
    mean_sensitivity_, mean_specificity_ : ndarray (n_workers,)
        Each annotator's means (the centres of its prior).
    prevalence_ : ndarray (n_classes,)
        Each class's prevalence.
    history_, converged_, n_iter_, init_objectives_, best_init_, n_gold_, lower_bound_
        As :class:`~emcrowd.models._base.EMAggregator`.
    """

    method = "per_class_ds"

    def __init__(
        self,
        *,
        strength: float = 10.0,
        mean_prior: tuple[float, float] = (2.0, 1.0),
        learn_prevalence: bool = True,
        prevalence_pseudocount: float = 1.0,
        threshold: float = 0.5,
        tol: float = 1e-6,
        max_iter: int = 500,
        n_init: int = 1,
        random_state: int = 0,
    ) -> None:
        super().__init__(tol=tol, max_iter=max_iter, n_init=n_init, random_state=random_state)
        self.strength = strength
        self.mean_prior = mean_prior
        self.learn_prevalence = learn_prevalence
        self.prevalence_pseudocount = prevalence_pseudocount
        self.threshold = threshold

    # -- the input ------------------------------------------------------------------------------------
    def fit(self, data: Any, *, gold: Any = None, callback: Any = None, **columns: Any) -> PerClassDawidSkene:
        """Fit to multi-select answers.

        Parameters
        ----------
        data : MultiLabels or DataFrame
            :class:`~emcrowd.multilabels.MultiLabels`, or a table of one row per answer whose label
            column holds lists of classes, JSON arrays or text joined by ``label_sep`` (read by
            :func:`emcrowd.io.multilabel.multilabels_from_frame`; ``item=``, ``worker=``, ``label=``,
            ``label_sep=``, ``classes=``, ``empty=`` pass through).
        gold : ndarray or mapping, optional
            Known sets: an (n_items, n_classes) matrix of 1/0 (-1 = unknown), or a mapping from item
            id to a collection of classes.
        """
        labels, self._form = _as_multilabels(data, columns)
        self._fit_multi(labels, _gold_matrix(gold, labels), callback)
        return self

    def fit_predict(self, data: Any, *, gold: Any = None, callback: Any = None, **columns: Any) -> Any:
        """Fit, then :meth:`predict`."""
        return self.fit(data, gold=gold, callback=callback, **columns).predict()

    def predict(self) -> Any:
        """Each item's set: from a pandas table, a Series of tuples of class names indexed by item;
        else the boolean (n_items, n_classes) matrix."""
        self._check_fitted()
        if self._form == "pandas":
            import pandas as pd

            names = np.asarray(self.classes_, dtype=object)
            sets = [tuple(names[row]) for row in self.sets_]
            return pd.Series(sets, index=pd.Index(self.item_names_, name="item"), name="classes")
        return self.sets_

    def predict_proba(self) -> Any:
        """Posterior that each class applies: a pandas DataFrame (items x classes) from a pandas
        table, else the (n_items, n_classes) array."""
        self._check_fitted()
        if self._form == "pandas":
            import pandas as pd

            return pd.DataFrame(
                self.posteriors_, index=pd.Index(self.item_names_, name="item"), columns=list(self.classes_)
            )
        return self.posteriors_

    def _check_fitted(self) -> None:
        if not hasattr(self, "sets_"):
            raise EmcrowdError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def _fit_multi(self, labels: MultiLabels, gold: np.ndarray | None, callback: Any) -> None:
        if not (np.isfinite(self.strength) and self.strength > 2):
            raise EmcrowdError(f"strength must be a number above 2, got {self.strength!r}")
        a0, b0 = (float(v) for v in self.mean_prior)
        if not (a0 >= 1 and b0 >= 1):
            raise EmcrowdError(f"mean_prior must be two numbers >= 1, got {self.mean_prior!r}")
        if not (np.isfinite(self.prevalence_pseudocount) and self.prevalence_pseudocount >= 0):
            raise EmcrowdError("prevalence_pseudocount must be >= 0")
        if not 0 < self.threshold < 1:
            raise EmcrowdError(f"threshold must be between 0 and 1, got {self.threshold!r}")
        n_classes = labels.n_classes
        ranks = (name_ranks(labels.item_names)[:, None] * n_classes + np.arange(n_classes)).ravel()
        order = np.argsort(labels.item, kind="stable")
        if np.all(order == np.arange(order.size)):
            worker, ticks = labels.worker, labels.ticks
        else:
            worker, ticks = labels.worker[order], labels.ticks[order]
        indptr = np.zeros(labels.n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(labels.item, minlength=labels.n_items), out=indptr[1:])
        clamp = (
            np.full((labels.n_items, n_classes), -1, dtype=np.int8) if gold is None else gold.astype(np.int8)
        )
        chunks = _kernels.n_chunks(labels.n_items, labels.n_workers, n_classes)
        pairs = _Pairs(labels, ranks, indptr, worker, ticks, clamp, chunks)
        flat = None if gold is None else gold.ravel().astype(np.intp)
        self._fit(pairs, flat, callback)

    # -- the EM hooks -------------------------------------------------------------------------------
    def _initial_posteriors(self, pairs: _Pairs) -> np.ndarray:
        share = tick_shares(pairs.data).ravel()
        return np.column_stack([1.0 - share, share])

    def _initial_params(self, pairs: _Pairs) -> _Params:
        n_workers, n_classes = pairs.data.n_workers, pairs.data.n_classes
        half = np.full((n_workers, n_classes), 0.5)
        prior_mean = self.mean_prior[0] / sum(self.mean_prior)
        m = np.full(n_workers, self._clip_mean(prior_mean))
        return _Params(half, half.copy(), m, m.copy(), np.full((n_classes, 2), np.log(0.5)))

    def _clip_mean(self, m: Any) -> Any:
        lo, hi = self._mean_bounds()
        return np.clip(m, lo, hi)

    def _mean_bounds(self) -> tuple[float, float]:
        # the rates' Beta parameters stay above 1: their MAP is inside (0, 1)
        margin = 1.0 / self.strength + 1e-3
        return margin, 1.0 - margin

    def _m_step(self, pairs: _Pairs, posteriors: np.ndarray, params: _Params) -> _Params:
        data = pairs.data
        if isinstance(posteriors, _Step):  # counted in the E-step's pass
            tp, pos, tn, neg = posteriors.counts
            q = posteriors.q
        else:  # the first M-step, from the starting posteriors
            q = np.ascontiguousarray(posteriors[:, 1].reshape(data.n_items, data.n_classes))
            tp, pos, tn, neg = _kernels.counts(data.item, data.worker, data.ticks, q, data.n_workers)
        s = float(self.strength)
        se = (tp + s * params.m_se[:, None] - 1.0) / (pos + s - 2.0)
        sp = (tn + s * params.m_sp[:, None] - 1.0) / (neg + s - 2.0)
        se = np.clip(se, EPS, 1.0 - EPS)
        sp = np.clip(sp, EPS, 1.0 - EPS)
        lo, hi = self._mean_bounds()
        a0, b0 = (float(v) for v in self.mean_prior)
        m_se = _kernels.mean_step(params.m_se, np.log(se), np.log1p(-se), s, a0, b0, lo, hi)
        m_sp = _kernels.mean_step(params.m_sp, np.log(sp), np.log1p(-sp), s, a0, b0, lo, hi)
        if self.learn_prevalence:
            c = float(self.prevalence_pseudocount)
            present = q.sum(axis=0) + c
            prev = present / (data.n_items + 2.0 * c)
            prev = np.clip(prev, EPS, 1.0 - EPS)
            log_prev = np.column_stack([np.log1p(-prev), np.log(prev)])
        else:
            log_prev = params.log_prev
        return _Params(se, sp, m_se, m_sp, log_prev)

    def _e_step(self, pairs: _Pairs, params: _Params, log_pi: np.ndarray, gold: np.ndarray | None):
        q, evidence, *counts = _kernels.fused_pass(
            pairs.indptr, pairs.worker, pairs.ticks, np.log(params.se), np.log1p(-params.se),
            np.log(params.sp), np.log1p(-params.sp), np.ascontiguousarray(params.log_prev), pairs.gold,
            pairs.chunks,
        )  # fmt: skip
        return _Step(q, tuple(counts)), evidence + self._log_param_prior(params)

    def _final_posteriors(self, posteriors: Any) -> np.ndarray:
        q = posteriors.q.ravel()
        return np.column_stack([1.0 - q, q])

    def _log_param_prior(self, params: _Params) -> float:
        s = float(self.strength)
        a0, b0 = (float(v) for v in self.mean_prior)
        total = _kernels.mean_log_prior(params.m_se, np.log(params.se), np.log1p(-params.se), s, a0, b0)
        total += _kernels.mean_log_prior(params.m_sp, np.log(params.sp), np.log1p(-params.sp), s, a0, b0)
        if self.learn_prevalence:
            total += float(self.prevalence_pseudocount * params.log_prev.sum())
        return total

    def _store(self, pairs: _Pairs, params: _Params) -> None:
        data = pairs.data
        self.posteriors_ = self.posteriors_[:, 1].reshape(data.n_items, data.n_classes).copy()
        self.sets_ = self.posteriors_ >= self.threshold
        del self.labels_, self.class_prior_
        self.classes_ = data.class_names
        self.item_names_ = data.item_names
        self.worker_names_ = data.worker_names
        self.sensitivity_ = params.se
        self.specificity_ = params.sp
        self.mean_sensitivity_ = params.m_se
        self.mean_specificity_ = params.m_sp
        self.prevalence_ = np.exp(params.log_prev[:, 1])

    def worker_table(self) -> dict[str, np.ndarray]:
        """Per annotator: its means and the per-class rates (columns ``sensitivity[c]``)."""
        self._check_fitted()
        out: dict[str, Any] = {
            "sensitivity": self.sensitivity_.mean(axis=1),
            "specificity": self.specificity_.mean(axis=1),
        }
        for k, name in enumerate(self.classes_):
            out[f"sensitivity[{name}]"] = self.sensitivity_[:, k]
            out[f"specificity[{name}]"] = self.specificity_[:, k]
        return out


def _as_multilabels(data: Any, columns: dict[str, Any]) -> tuple[MultiLabels, str]:
    if isinstance(data, MultiLabels):
        if columns:
            raise EmcrowdError(f"column options ({', '.join(columns)}) go with a table, not MultiLabels")
        return data, "arrays"
    from emcrowd.io.multilabel import multilabels_from_frame

    form = "pandas" if type(data).__module__.startswith("pandas") else "arrays"
    return multilabels_from_frame(data, **columns), form


def _gold_matrix(gold: Any, data: MultiLabels) -> np.ndarray | None:
    """Gold sets as an (n_items, n_classes) int matrix, -1 where unknown."""
    if gold is None:
        return None
    if isinstance(gold, np.ndarray):
        out = np.asarray(gold)
        if out.shape != (data.n_items, data.n_classes) or not np.isin(out, (-1, 0, 1)).all():
            raise EmcrowdError(f"gold must be an ({data.n_items}, {data.n_classes}) matrix of 1, 0 and -1")
        return out.astype(np.intp)
    out = np.full((data.n_items, data.n_classes), -1, dtype=np.intp)
    index = {name: j for j, name in enumerate(data.item_names)}
    items = gold.items() if hasattr(gold, "items") else gold
    for item, classes in items:
        j = index.get(str(item))
        if j is None:
            continue
        out[j] = 0
        for c in classes:
            out[j, data.class_of(str(c))] = 1
    return out
