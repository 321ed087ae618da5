"""Dawid-Skene (1979) and its one-coin special case, fitted by MAP-EM on the observed labels.

* **Dawid-Skene**: annotator ``i`` has a full confusion matrix ``theta_i[k, l] = P(label l | true k)``,
  so it can be biased per class (says "yes" too easily, confuses two breeds, ...).
* **One-coin**: annotator ``i`` is right with probability ``p_i`` and otherwise picks one of the
  ``K - 1`` wrong classes uniformly: GLAD without item difficulty.

Dawid-Skene learns the class prior by default, one-coin (like GLAD) fixes it. Both share the EM loop
of :class:`EMAggregator` (gold clamping,
``tol``, ``max_iter``, ``n_init``, history). The M-steps are exact (closed form) under Dirichlet
smoothing priors, and the objective includes those priors, so it never decreases.
"""

from __future__ import annotations

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models._base import EMAggregator
from emcrowd.models._observations import (
    Observations,
    confusion_counts,
    confusion_log_likelihoods,
    symmetric_label_proba,
    symmetric_log_likelihoods,
)


class _Smoothed(EMAggregator):
    """Shared set-up: the observations, the smoothing pseudo-count, a learned class prior by default."""

    def __init__(
        self,
        *,
        smoothing: float = 0.01,
        class_prior: np.ndarray | None = None,
        learn_class_prior: bool = True,
        class_pseudocount: float = 1.0,
        tol: float = 1e-6,
        max_iter: int = 500,
        n_init: int = 1,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            class_prior=class_prior,
            learn_class_prior=learn_class_prior,
            class_pseudocount=class_pseudocount,
            tol=tol,
            max_iter=max_iter,
            n_init=n_init,
            random_state=random_state,
        )
        self.smoothing = smoothing

    def _prepare(self, data: Labels) -> None:
        if not (np.isfinite(self.smoothing) and self.smoothing >= 0):
            raise EmcrowdError(f"smoothing must be a number >= 0, got {self.smoothing!r}")
        self._obs = Observations.from_labels(data)

    def _initial_params(self, data: Labels) -> None:
        return None  # the first M-step computes them from the majority-vote posteriors


class DawidSkene(_Smoothed):
    """Dawid-Skene aggregation: one K x K confusion matrix per annotator, fitted by MAP-EM.

    Parameters
    ----------
    smoothing : float
        Pseudo-count added to every cell of every confusion matrix (a symmetric Dirichlet prior on
        each row). Keeps probabilities away from 0, so one surprising label cannot veto a class.
    class_prior, learn_class_prior, class_pseudocount, tol, max_iter, n_init, random_state
        See :class:`emcrowd.models._base.EMAggregator`; the class prior is learned by default.

    Attributes
    ----------
    confusion_ : ndarray of shape (n_workers, n_classes, n_classes)
        ``confusion_[i, k, l]``: probability that annotator ``i`` says ``l`` when the truth is ``k``.
    accuracy_ : ndarray of shape (n_workers,)
        Each annotator's probability of being right, ``sum_k class_prior_[k] * confusion_[i, k, k]``.
    posteriors_, labels_, class_prior_, history_, lower_bound_, converged_, n_iter_, ...
        See :class:`emcrowd.models._base.EMAggregator`.
    """

    method = "dawid_skene"

    def _m_step(self, data: Labels, posteriors: np.ndarray, params: np.ndarray | None) -> np.ndarray:
        k = data.n_classes
        # counts[i, t, l] = expected number of times annotator i said l when the truth was t.
        counts = confusion_counts(self._obs, posteriors)
        counts += self.smoothing
        totals = counts.sum(axis=2, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_theta = np.log(counts) - np.log(totals)
        # An annotator/true-class pair with no evidence and no smoothing: any row will do; uniform.
        return np.where(totals > 0, log_theta, -np.log(k))

    def _log_likelihoods(self, data: Labels, log_theta: np.ndarray) -> np.ndarray:
        return confusion_log_likelihoods(self._obs, log_theta)

    def _log_param_prior(self, log_theta: np.ndarray) -> float:
        return float(self.smoothing * log_theta.sum()) if self.smoothing else 0.0

    def _store(self, data: Labels, log_theta: np.ndarray) -> None:
        self.confusion_ = np.exp(log_theta)
        diag = np.einsum("ikk->ik", self.confusion_)
        self.accuracy_ = diag @ self.class_prior_


class OneCoin(_Smoothed):
    """One-coin Dawid-Skene: one accuracy per annotator, errors spread evenly over the wrong classes.

    Parameters
    ----------
    smoothing : float
        Pseudo-count added to each annotator's right and wrong counts (a symmetric Beta prior).
    learn_class_prior : bool
        False by default, as for GLAD: with errors spread evenly, a learned class prior is the only
        place where a crowd's lean towards one class can go, and it then runs to that class.
    class_prior, class_pseudocount, tol, max_iter, n_init, random_state
        See :class:`emcrowd.models._base.EMAggregator`.

    Attributes
    ----------
    accuracy_ : ndarray of shape (n_workers,)
        Each annotator's probability of giving the true class.
    posteriors_, labels_, class_prior_, history_, lower_bound_, converged_, n_iter_, ...
        See :class:`emcrowd.models._base.EMAggregator`.
    """

    method = "one_coin"

    def __init__(self, *, learn_class_prior: bool = False, **options: object) -> None:
        super().__init__(learn_class_prior=learn_class_prior, **options)  # type: ignore[arg-type]

    def _m_step(self, data: Labels, posteriors: np.ndarray, params: np.ndarray | None) -> np.ndarray:
        obs = self._obs
        correct = posteriors.ravel()[obs.item_label]  # P(label o names its item's true class)
        right = np.bincount(obs.worker, weights=correct, minlength=data.n_workers) + self.smoothing
        total = np.bincount(obs.worker, minlength=data.n_workers) + 2 * self.smoothing
        with np.errstate(divide="ignore", invalid="ignore"):
            accuracy = np.where(total > 0, right / total, 0.5)
        return accuracy

    def _log_likelihoods(self, data: Labels, accuracy: np.ndarray) -> np.ndarray:
        obs = self._obs
        with np.errstate(divide="ignore"):
            log_right = np.log(accuracy)[obs.worker]
            log_wrong = np.log1p(-accuracy)[obs.worker] - obs.log_k_minus_1
        return symmetric_log_likelihoods(obs, log_right, log_wrong)

    def _log_param_prior(self, accuracy: np.ndarray) -> float:
        if not self.smoothing:
            return 0.0
        return float(self.smoothing * (np.log(accuracy).sum() + np.log1p(-accuracy).sum()))

    def _store(self, data: Labels, accuracy: np.ndarray) -> None:
        self.accuracy_ = accuracy

    def _label_proba(self, item: np.ndarray, worker: np.ndarray) -> np.ndarray:
        return symmetric_label_proba(self.posteriors_[item], self.accuracy_[worker])
