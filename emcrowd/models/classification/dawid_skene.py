"""Dawid-Skene (1979) and its one-coin special case, fitted by MAP-EM on the observed labels.

* **Dawid-Skene**: annotator ``i`` has a full confusion matrix ``theta_i[k, l] = P(label l | true k)``,
  so it can be biased per class (says "yes" too easily, confuses two breeds, ...).
* **One-coin**: annotator ``i`` is right with probability ``p_i`` and otherwise picks one of the
  ``K - 1`` wrong classes uniformly: GLAD without item difficulty.

Dawid-Skene learns the class prior by default, one-coin (like GLAD) fixes it. Both share the EM loop
of :class:`EMAggregator` (gold clamping,
``tol``, ``max_iter``, ``n_init``, history). The M-steps are exact (closed form) under Dirichlet
smoothing priors, and the objective includes those priors, so it never decreases.

On large inputs (``engine="auto"``, from ``NUMBA_MIN_LABELS`` labels on) both run on compiled
kernels (:mod:`._confusion_kernels`): one pass over the labels per EM iteration makes the E-step and
the next M-step's sums together. Same fit as the NumPy engine, to rounding.
"""

from __future__ import annotations

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models._base import EMAggregator
from emcrowd.models._squarem import expit, log_normalize, logit
from emcrowd.models.classification._observations import (
    Observations,
    agreement_sums,
    class_totals,
    confusion_counts,
    confusion_e_step,
    confusion_log_likelihoods,
    labels_per_worker,
    symmetric_e_step,
    symmetric_label_proba,
    symmetric_log_likelihoods,
    vote_shares,
)


class _Smoothed(EMAggregator):
    """Shared set-up: the observations, the smoothing pseudo-count, the engine, a learned class prior
    by default.

    With the numba engine, the E-step also makes the next M-step's sums (one pass over the labels);
    they wait in ``_pending`` with the posteriors they belong to, and the M-step takes them when it is
    given those very posteriors (else, at the start of every run, it computes them).
    """

    def __init__(
        self,
        *,
        smoothing: float = 0.01,
        engine: str = "auto",
        class_prior: np.ndarray | None = None,
        learn_class_prior: bool = True,
        class_pseudocount: float = 1.0,
        tol: float = 1e-6,
        max_iter: int = 500,
        n_init: int = 1,
        random_state: int = 0,
        accelerate: bool | None = None,
    ) -> None:
        super().__init__(
            class_prior=class_prior,
            learn_class_prior=learn_class_prior,
            class_pseudocount=class_pseudocount,
            tol=tol,
            max_iter=max_iter,
            n_init=n_init,
            random_state=random_state,
            accelerate=accelerate,
        )
        self.smoothing = smoothing
        self.engine = engine

    def _prepare(self, data: Labels) -> None:
        if not (np.isfinite(self.smoothing) and self.smoothing >= 0):
            raise EmcrowdError(f"smoothing must be a number >= 0, got {self.smoothing!r}")
        self._obs = self._observations(data)
        self.engine_ = self._obs.engine
        self._pending: tuple[np.ndarray, np.ndarray] | None = None

    def _observations(self, data: Labels) -> Observations:
        """The labels as the sums read them (the Dask engine gives its partitioned data set's)."""
        return Observations.from_labels(data, self.engine)

    def _take_pending(self, posteriors: np.ndarray) -> np.ndarray | None:
        """The sums the last E-step made, if they belong to ``posteriors``; they are used once."""
        pending, self._pending = self._pending, None
        return pending[1] if pending is not None and pending[0] is posteriors else None

    def _class_prior_step(self, posteriors: np.ndarray) -> np.ndarray:
        counts = class_totals(self._obs, posteriors) + self.class_pseudocount  # as EMAggregator's
        return np.log(counts / counts.sum())

    def _initial_posteriors(self, data: Labels) -> np.ndarray:
        return vote_shares(self._obs)  # the majority-vote shares, as in EMAggregator

    def _initial_params(self, data: Labels) -> None:
        return None  # the first M-step computes them from the majority-vote posteriors


class DawidSkene(_Smoothed):
    """Dawid-Skene aggregation: one K x K confusion matrix per annotator, fitted by MAP-EM.

    Parameters
    ----------
    smoothing : float
        Pseudo-count added to every cell of every confusion matrix (a symmetric Dirichlet prior on
        each row). Keeps probabilities away from 0, so one surprising label cannot veto a class.
    engine : {"auto", "numpy", "numba"}
        How the passes over the labels are computed: NumPy array operations, or compiled numba
        kernels (one pass per iteration, several times faster on millions of labels, but importing
        numba takes about 0.7 s). ``"auto"`` uses numba from ``NUMBA_MIN_LABELS`` labels on. Both give
        the same fit (to rounding).
    class_prior, learn_class_prior, class_pseudocount, tol, max_iter, n_init, random_state
        See :class:`emcrowd.models._base.EMAggregator`; the class prior is learned by default.

    Attributes
    ----------
    confusion_ : ndarray of shape (n_workers, n_classes, n_classes)
        ``confusion_[i, k, l]``: probability that annotator ``i`` says ``l`` when the truth is ``k``.
    accuracy_ : ndarray of shape (n_workers,)
        Each annotator's probability of being right, ``sum_k class_prior_[k] * confusion_[i, k, k]``.
    engine_ : str
        The engine that ran: ``"numpy"`` or ``"numba"``.
    posteriors_, labels_, class_prior_, history_, lower_bound_, converged_, n_iter_, ...
        See :class:`emcrowd.models._base.EMAggregator`.
    """

    method = "dawid_skene"

    def _m_step(self, data: Labels, posteriors: np.ndarray, params: np.ndarray | None) -> np.ndarray:
        k = data.n_classes
        # counts[i, t, l] = expected number of times annotator i said l when the truth was t.
        counts = self._take_pending(posteriors)
        if counts is None:
            counts = confusion_counts(self._obs, posteriors)
        counts += self.smoothing
        totals = counts.sum(axis=2, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_theta = np.log(counts) - np.log(totals)
        # An annotator/true-class pair with no evidence and no smoothing: any row will do; uniform.
        return np.where(totals > 0, log_theta, -np.log(k))

    def _e_step(
        self, data: Labels, log_theta: np.ndarray, log_pi: np.ndarray, gold: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        if self.engine_ == "numpy":
            return super()._e_step(data, log_theta, log_pi, gold)
        posteriors, evidence, counts = confusion_e_step(self._obs, log_theta, log_pi, gold)
        self._pending = (posteriors, counts)
        return posteriors, self._objective(evidence, log_theta, log_pi)

    def _log_likelihoods(self, data: Labels, log_theta: np.ndarray) -> np.ndarray:
        return confusion_log_likelihoods(self._obs, log_theta)

    def _pack_params(self, log_theta: np.ndarray) -> np.ndarray:
        return log_theta.ravel().copy()  # log probabilities: each row renormalized when unpacked

    def _unpack_params(self, vector: np.ndarray, like: np.ndarray) -> np.ndarray:
        return log_normalize(vector.reshape(like.shape), axis=2)

    def _log_param_prior(self, log_theta: np.ndarray) -> float:
        return float(self.smoothing * log_theta.sum()) if self.smoothing else 0.0

    def _warm_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return {"confusion": self.confusion_}, {}

    def _warm_posteriors(self, data: Labels, warm: object) -> np.ndarray:
        confusion = warm.worker_array("confusion", data.worker_names)  # type: ignore[attr-defined]
        with np.errstate(divide="ignore"):
            return self._warm_e_step(data, confusion_log_likelihoods(self._obs, np.log(confusion)))

    def _store(self, data: Labels, log_theta: np.ndarray) -> None:
        self._pending = None
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
    engine : {"auto", "numpy", "numba"}
        See :class:`DawidSkene`.
    class_prior, class_pseudocount, tol, max_iter, n_init, random_state
        See :class:`emcrowd.models._base.EMAggregator`.

    Attributes
    ----------
    accuracy_ : ndarray of shape (n_workers,)
        Each annotator's probability of giving the true class.
    engine_ : str
        The engine that ran: ``"numpy"`` or ``"numba"``.
    posteriors_, labels_, class_prior_, history_, lower_bound_, converged_, n_iter_, ...
        See :class:`emcrowd.models._base.EMAggregator`.
    """

    method = "one_coin"

    def __init__(self, *, learn_class_prior: bool = False, **options: object) -> None:
        super().__init__(learn_class_prior=learn_class_prior, **options)  # type: ignore[arg-type]

    def _prepare(self, data: Labels) -> None:
        super()._prepare(data)
        self._totals = labels_per_worker(self._obs) + 2 * self.smoothing

    def _m_step(self, data: Labels, posteriors: np.ndarray, params: np.ndarray | None) -> np.ndarray:
        # right[i] = expected number of annotator i's labels that name their item's true class
        right = self._take_pending(posteriors)
        if right is None:
            right = agreement_sums(self._obs, posteriors)
        right = right + self.smoothing
        with np.errstate(divide="ignore", invalid="ignore"):
            accuracy = np.where(self._totals > 0, right / self._totals, 0.5)
        return accuracy

    def _log_terms(self, accuracy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per annotator, the log probability of a right label and of each particular wrong one."""
        with np.errstate(divide="ignore"):
            return np.log(accuracy), np.log1p(-accuracy) - self._obs.log_k_minus_1

    def _e_step(
        self, data: Labels, accuracy: np.ndarray, log_pi: np.ndarray, gold: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        if self.engine_ == "numpy":
            return super()._e_step(data, accuracy, log_pi, gold)
        posteriors, evidence, right = symmetric_e_step(self._obs, *self._log_terms(accuracy), log_pi, gold)
        self._pending = (posteriors, right)
        return posteriors, self._objective(evidence, accuracy, log_pi)

    def _log_likelihoods(self, data: Labels, accuracy: np.ndarray) -> np.ndarray:
        obs = self._obs
        log_right, log_wrong = self._log_terms(accuracy)
        return symmetric_log_likelihoods(obs, log_right[obs.worker], log_wrong[obs.worker])

    def _pack_params(self, accuracy: np.ndarray) -> np.ndarray:
        return logit(accuracy)

    def _unpack_params(self, vector: np.ndarray, like: np.ndarray) -> np.ndarray:
        return expit(vector)

    def _log_param_prior(self, accuracy: np.ndarray) -> float:
        if not self.smoothing:
            return 0.0
        return float(self.smoothing * (np.log(accuracy).sum() + np.log1p(-accuracy).sum()))

    def _warm_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return {"accuracy": self.accuracy_}, {}

    def _warm_posteriors(self, data: Labels, warm: object) -> np.ndarray:
        accuracy = warm.worker_array("accuracy", data.worker_names)  # type: ignore[attr-defined]
        return self._warm_e_step(data, self._log_likelihoods(data, accuracy))

    def _store(self, data: Labels, accuracy: np.ndarray) -> None:
        self._pending = None
        self.accuracy_ = accuracy

    def _label_proba(self, item: np.ndarray, worker: np.ndarray) -> np.ndarray:
        return symmetric_label_proba(self.posteriors_[item], self.accuracy_[worker])
