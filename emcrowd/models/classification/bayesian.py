"""Bayesian Dawid-Skene (IBCC, Kim & Ghahramani 2012), fitted by variational Bayes, with the prior's
strength learned across annotators (empirical Bayes).

The model
---------
* class proportions ``pi ~ Dirichlet(a)``; each item's true class ``z_j ~ Categorical(pi)``;
* annotator ``i``'s confusion row for true class ``k``, ``theta_ik ~ Dirichlet(beta_k)``, where the
  ``K`` rows ``beta_k`` (shape (K, K)) are shared by all annotators and start with more weight on the
  diagonal (``prior_diagonal`` against ``prior_off_diagonal``: the annotators are better than chance);
* every label annotator ``i`` gives item ``j`` is drawn from ``theta_i,z_j``.

The fit
-------
Mean-field variational Bayes, ``q(z) q(theta) q(pi)``, one block at a time, each step maximising the
evidence lower bound (ELBO) over its block with the others fixed, so the ELBO never decreases:

1. *Annotators* (the "M-step"): with ``N_ikl`` the expected number of times annotator ``i`` said ``l``
   when the truth was ``k`` (the item posteriors summed over the annotator's labels),
   ``q(theta_ik) = Dirichlet(beta_k + N_ik)``. With ``learn_prior`` the shared ``beta`` is updated
   first: with ``q(theta)`` at its optimum the ELBO's annotator part is
   ``sum_ik log B(beta_k + N_ik) - log B(beta_k)`` (``B`` the multivariate Beta function), the
   Dirichlet-multinomial likelihood of the expected counts, which Minka's fixed-point iteration
   raises at every step, together with a weak exponential hyperprior on ``beta`` (``prior_rate``),
   kept inside ``prior_bounds`` and with each row's diagonal entry its largest (so the prior keeps
   favouring correct labels and the classes cannot swap). Annotators with many labels thus set the
   crowd's typical confusion row and how much annotators vary around it, and an annotator with few
   labels is pulled towards it instead of getting a confusion matrix of its own noise.
2. *Class proportions*: ``q(pi) = Dirichlet(a + sum_j q_j)`` (or ``pi`` fixed).
3. *Items* (the "E-step"): ``q_j(k) ∝ exp(E[log pi_k] + sum over j's labels of E[log theta_i,k,l])``
   with ``E[log x_l] = digamma(c_l) - digamma(sum c)`` under a ``Dirichlet(c)``; gold items are clamped
   to their class.

After the E-step the ELBO is ``sum_j log sum_k exp(...)`` (the log normaliser of each item's ``q_j``)
minus ``KL(q(theta) || p(theta | beta))`` and ``KL(q(pi) || p(pi))`` (plus, with ``learn_prior``, the
hyperprior's log density ``-prior_rate * sum(beta)``); this is the objective the loop records
(``history_``). The reported confusion matrices are the posterior means of ``q(theta)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models._base import EMAggregator, normalize
from emcrowd.models._special import digamma, gammaln
from emcrowd.models.classification._observations import (
    Observations,
    confusion_counts,
    confusion_log_likelihoods,
)


# -- Dirichlet helpers --------------------------------------------------------------------------------
def dirichlet_expected_log(concentration: np.ndarray) -> np.ndarray:
    """``E[log x]`` under ``Dirichlet(concentration)`` along the last axis (same shape)."""
    return digamma(concentration) - digamma(concentration.sum(axis=-1, keepdims=True))


def dirichlet_kl(posterior: np.ndarray, prior: np.ndarray) -> float:
    """``sum KL(Dirichlet(posterior) || Dirichlet(prior))`` over every leading index.

    ``posterior`` has shape (..., K) and ``prior`` broadcasts to it.
    """
    prior = np.broadcast_to(prior, posterior.shape)
    post_total = posterior.sum(axis=-1)
    prior_total = prior.sum(axis=-1)
    kl = gammaln(post_total) - gammaln(prior_total)
    kl -= (gammaln(posterior) - gammaln(prior)).sum(axis=-1)
    kl += ((posterior - prior) * (digamma(posterior) - digamma(post_total)[..., None])).sum(axis=-1)
    return float(kl.sum())


def log_multivariate_beta_ratio(prior: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``log B(prior + counts) - log B(prior)`` summed over the annotators, per Dirichlet row.

    ``prior`` has shape (R, K) (one Dirichlet per row), ``counts`` shape (W, R, K); the result, shape
    (R,), is the Dirichlet-multinomial log likelihood of the counts (up to the multinomial coefficient).
    """
    total = prior.sum(axis=-1)
    out = (gammaln(total) - gammaln(total + counts.sum(axis=-1))).sum(axis=0)
    out += (gammaln(prior + counts) - gammaln(prior)).sum(axis=(0, 2))
    return out


def _surrogate_maximiser(gain: np.ndarray, cost: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Maximise ``sum_l gain[r, l] log b_l - cost[r] b_l`` over every row ``r`` of a square (K, K) prior,
    subject to ``low <= b <= high`` and to the diagonal entry ``b_r`` being the largest of its row.

    Without the ordering each coordinate's maximiser is ``gain / cost``. With it, the off-diagonal
    entries that would exceed the diagonal are pooled with it (largest first) at their common
    maximiser, the mean of the pooled ``gain / cost``; the box then clips every coordinate (the pooled
    problem is concave in one variable, so clipping keeps it exact).
    """
    low, high = bounds
    free = gain / cost[:, None]
    out = np.clip(free, low, high)
    diagonal = np.diagonal(out)
    violated = np.flatnonzero(np.any(out > diagonal[:, None], axis=1))
    for r in violated:  # rows whose unconstrained maximiser puts an off-diagonal entry above the diagonal
        others = np.delete(np.arange(free.shape[1]), r)
        order = others[np.argsort(-free[r, others], kind="stable")]
        pooled_gain, n_pooled, level = gain[r, r], 1, free[r, r]
        pooled = []
        for col in order:
            if free[r, col] <= level:
                break
            pooled.append(col)
            pooled_gain += gain[r, col]
            n_pooled += 1
            level = pooled_gain / (cost[r] * n_pooled)
        level = min(max(level, low), high)
        out[r] = np.minimum(np.clip(free[r], low, high), level)
        out[r, r] = level
        out[r, pooled] = level
    return out


def fit_polya_prior(
    counts: np.ndarray,
    prior: np.ndarray,
    bounds: tuple[float, float],
    *,
    rate: float = 0.0,
    max_steps: int = 20,
) -> np.ndarray:
    """Raise the Dirichlet-multinomial log likelihood of ``counts``, minus ``rate`` times the sum of the
    parameters (an exponential hyperprior), over the square Dirichlet ``prior``, keeping every row's
    diagonal entry its largest.

    Minka's (2000) fixed point: with ``gain_l = beta_l * sum_i [psi(N_il + beta_l) - psi(beta_l)]`` and
    ``cost = sum_i [psi(N_i + beta_0) - psi(beta_0)]``, the function ``sum_l gain_l log b_l - cost b_0``
    (plus a constant) is a lower bound of the log likelihood that touches it at the current ``beta``;
    its maximiser is ``gain / cost`` (Minka's update; the hyperprior adds ``rate`` to ``cost``), and
    its maximiser under the constraints (the bounds, and the diagonal largest in its row, which keeps
    the prior favouring correct labels so that the class codes cannot swap) is found exactly by
    :func:`_surrogate_maximiser`. Every step therefore raises the objective; a row whose objective
    would still fall by more than rounding keeps its old value.

    Parameters
    ----------
    counts : ndarray of shape (W, K, K)
        Expected counts of every annotator for every true class (row) and label (column).
    prior : ndarray of shape (K, K)
        The starting Dirichlet parameters (satisfying the constraints).
    bounds : (float, float)
        Smallest and largest allowed parameter.
    rate : float
        Rate of the exponential hyperprior on every parameter (0: none).
    max_steps : int
        Fixed-point steps (it stops earlier once no parameter moves by more than 1e-8 relative); the
        fit warm-starts it every iteration, so a few steps each time suffice.

    Returns
    -------
    ndarray of shape (K, K)
    """
    row_totals = counts.sum(axis=-1)  # (W, K)

    def objective(beta: np.ndarray) -> np.ndarray:
        return log_multivariate_beta_ratio(beta, counts) - rate * beta.sum(axis=-1)

    start = prior
    beta = prior.copy()
    for _ in range(max_steps):
        total = beta.sum(axis=-1)
        gain = beta * (digamma(counts + beta) - digamma(beta)).sum(axis=0)
        cost = (digamma(row_totals + total) - digamma(total)).sum(axis=0)
        # a row with no evidence at all (a class no item is believed to have) keeps its prior
        evidence = cost > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.where(evidence[:, None], _surrogate_maximiser(gain, cost + rate, bounds), beta)
        moved = np.max(np.abs(new - beta) / beta)
        beta = new
        if moved <= 1e-8:
            break
    before = objective(start)
    # only a real fall: one at the rounding level would make the result depend on the labels' order
    worse = objective(beta) < before - 1e-12 * (np.abs(before) + 1.0)
    if worse.any():
        beta[worse] = start[worse]
    return beta


# -- the shared variational machinery -----------------------------------------------------------------
class VariationalAggregator(EMAggregator):
    """Base of the variational-Bayes models: a Dirichlet posterior over the class proportions.

    With ``learn_class_prior`` the class proportions get a ``Dirichlet(a)`` prior, ``a = class_pseudocount
    * K * class_prior`` (``class_pseudocount`` on every class when no ``class_prior`` is given: the
    posterior mean then adds exactly that many pseudo-items to every class), and a ``Dirichlet``
    posterior ``q(pi)``; otherwise they are fixed at ``class_prior`` (uniform by default).

    A subclass's ``_m_step`` returns a parameter object with ``log_class`` (``E[log pi]``),
    ``class_concentration`` (the parameters of ``q(pi)``, or None) and ``kl`` (the KL divergences of the
    global factors from their priors); ``_e_step`` turns the item scores into posteriors and the ELBO.
    """

    def _prepare_classes(self, data: Labels) -> None:
        n_classes = data.n_classes
        self._fixed_log_pi = self._start_log_pi(n_classes)
        if self.learn_class_prior:
            if not self.class_pseudocount > 0:
                raise EmcrowdError(
                    f"{self.method} needs class_pseudocount > 0 to learn the class prior "
                    f"(the Dirichlet parameter), got {self.class_pseudocount!r}"
                )
            self._class_concentration = self.class_pseudocount * n_classes * np.exp(self._fixed_log_pi)
        else:
            self._class_concentration = None

    def _class_update(self, class_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
        """``(E[log pi], parameters of q(pi) or None, KL(q(pi) || p(pi)))`` given expected class counts."""
        if self._class_concentration is None:
            return self._fixed_log_pi, None, 0.0
        posterior = self._class_concentration + class_counts
        return (
            dirichlet_expected_log(posterior),
            posterior,
            dirichlet_kl(posterior, self._class_concentration),
        )

    #: accelerated unless ``accelerate=False``: variational EM over many Dirichlet factors is slow
    accelerate_default = True

    def _accel_log_pi(self) -> bool:
        return False  # the E-step uses E[log pi] of q(pi), which is among the extrapolated parameters

    def _class_from_concentration(self, concentration: np.ndarray | None) -> tuple[np.ndarray, float]:
        """``(E[log pi], KL(q(pi) || p(pi)))`` at the parameters of ``q(pi)`` (fixed pi: None)."""
        if concentration is None:
            return self._fixed_log_pi, 0.0
        return dirichlet_expected_log(concentration), dirichlet_kl(concentration, self._class_concentration)

    def _class_prior_mean(self, params: Any) -> np.ndarray:
        if params.class_concentration is None:
            return np.exp(self._fixed_log_pi)
        return params.class_concentration / params.class_concentration.sum()

    def _e_step(
        self, data: Labels, params: Any, log_pi: np.ndarray, gold: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        # ``log_pi`` is the base loop's point estimate; the variational models use E[log pi] instead.
        posteriors, evidence = normalize(self._log_likelihoods(data, params) + params.log_class, gold)
        return posteriors, evidence - params.kl


@dataclass
class _BDSParams:
    prior: np.ndarray  # (K, K) Dirichlet parameters of every annotator's confusion rows
    concentration: np.ndarray | None = None  # (W, K, K) parameters of q(theta)
    log_theta: np.ndarray | None = None  # (W, K, K) E[log theta]
    log_class: np.ndarray | None = None  # (K,) E[log pi]
    class_concentration: np.ndarray | None = None  # (K,) parameters of q(pi), None when pi is fixed
    kl: float = 0.0  # KL of q(theta) and q(pi) from their priors, plus the hyperprior's -log density


class BayesianDawidSkene(VariationalAggregator):
    """Bayesian Dawid-Skene (IBCC): Dirichlet priors on the confusion rows, fitted by variational Bayes.

    Parameters
    ----------
    prior_diagonal, prior_off_diagonal : float
        The Dirichlet prior of every confusion row before it is learned (or for good, without
        ``learn_prior``): ``prior_diagonal`` pseudo-labels on the true class and
        ``prior_off_diagonal`` on every other class. The defaults (4 and 1) are those of the IBCC
        baseline of Li, Rubinstein & Cohn (2019).
    learn_prior : bool
        Learn the shared Dirichlet parameters (one row of K per true class, shape (K, K)) by
        maximising the ELBO (empirical Bayes), so that the crowd tells how much an annotator with few
        labels should be pulled towards the typical annotator.
    prior_bounds : (float, float)
        Smallest and largest value of every learned Dirichlet parameter. The upper bound keeps a
        crowd of near-identical annotators (or a single annotator) from an infinitely strong prior; the
        lower bound keeps the digamma function away from its pole at 0.
    prior_rate : float
        Rate of an exponential hyperprior on every learned Dirichlet parameter (mean ``1 / rate``,
        100 pseudo-labels by default). Negligible against a real crowd's evidence, it gives the
        prior's strength a finite optimum where the labels cannot tell (a handful of labels, or
        annotators who never disagree), instead of a slow drift to the upper bound. Its log density
        is part of the objective.
    learn_class_prior : bool
        Give the class proportions a Dirichlet posterior (True by default); see
        :class:`VariationalAggregator` for ``class_prior`` and ``class_pseudocount``.
    class_prior, class_pseudocount, tol, max_iter, n_init, random_state
        See :class:`emcrowd.models._base.EMAggregator`.

    Attributes
    ----------
    confusion_ : ndarray of shape (n_workers, n_classes, n_classes)
        Posterior mean of ``P(annotator i says l | truth k)``.
    accuracy_ : ndarray of shape (n_workers,)
        ``sum_k class_prior_[k] * confusion_[i, k, k]``.
    confusion_prior_ : ndarray of shape (n_classes, n_classes)
        The (learned) Dirichlet parameters of the confusion rows; row ``k`` for true class ``k``.
    confusion_concentration_ : ndarray of shape (n_workers, n_classes, n_classes)
        Parameters of each annotator's Dirichlet posterior ``q(theta_ik)``.
    class_prior_ : ndarray of shape (n_classes,)
        Posterior mean of the class proportions (or the fixed ones).
    class_concentration_ : ndarray of shape (n_classes,) or None
        Parameters of the Dirichlet posterior of the class proportions (None when they are fixed).
    history_ : list of float
        The ELBO after every iteration; never decreases. ``lower_bound_`` is its last value.
    posteriors_, labels_, converged_, n_iter_, init_objectives_, best_init_, n_gold_, fit_seconds_
        See :class:`emcrowd.models._base.EMAggregator`.
    """

    method = "bayesian_ds"

    def __init__(
        self,
        *,
        prior_diagonal: float = 4.0,
        prior_off_diagonal: float = 1.0,
        learn_prior: bool = True,
        prior_bounds: tuple[float, float] = (0.01, 1000.0),
        prior_rate: float = 0.01,
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
        self.prior_diagonal = prior_diagonal
        self.prior_off_diagonal = prior_off_diagonal
        self.learn_prior = learn_prior
        self.prior_bounds = prior_bounds
        self.prior_rate = prior_rate

    def _prepare(self, data: Labels) -> None:
        for name in ("prior_diagonal", "prior_off_diagonal"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise EmcrowdError(f"{name} must be a positive number, got {value!r}")
        try:
            low, high = (float(b) for b in self.prior_bounds)
        except (TypeError, ValueError):
            raise EmcrowdError(f"prior_bounds must be two numbers, got {self.prior_bounds!r}") from None
        if not (0 < low <= high < np.inf):
            raise EmcrowdError(f"prior_bounds must satisfy 0 < low <= high < inf, got {self.prior_bounds!r}")
        self._bounds = (low, high)
        if not (np.isfinite(self.prior_rate) and self.prior_rate >= 0):
            raise EmcrowdError(f"prior_rate must be a number >= 0, got {self.prior_rate!r}")
        self._prepare_classes(data)
        self._obs = Observations.from_labels(data)
        # annotators without labels have q(theta) = prior whatever the prior: they add nothing to the
        # ELBO and are left out of the prior's fit
        self._active = data.labels_per_worker() > 0

    def _starting_prior(self, n_classes: int) -> np.ndarray:
        prior = np.full((n_classes, n_classes), float(self.prior_off_diagonal))
        np.fill_diagonal(prior, float(self.prior_diagonal))
        return prior

    def _initial_params(self, data: Labels) -> _BDSParams:
        warm = getattr(self, "_warm", None)
        if warm is not None and self.learn_prior and "confusion_prior" in warm.shared:
            return _BDSParams(prior=np.array(warm.shared["confusion_prior"], dtype=float))  # learned before
        return _BDSParams(prior=self._starting_prior(data.n_classes))

    def _warm_shared(self) -> dict[str, np.ndarray]:
        return {"confusion_prior": self.confusion_prior_}

    def _m_step(self, data: Labels, posteriors: np.ndarray, params: _BDSParams) -> _BDSParams:
        counts = confusion_counts(self._obs, posteriors)  # (W, K, K)
        prior = params.prior
        if self.learn_prior and self._active.any():
            prior = fit_polya_prior(counts[self._active], prior, self._bounds, rate=self.prior_rate)
        concentration = counts + prior
        log_class, class_concentration, class_kl = self._class_update(posteriors.sum(axis=0))
        return _BDSParams(
            prior=prior,
            concentration=concentration,
            log_theta=dirichlet_expected_log(concentration),
            log_class=log_class,
            class_concentration=class_concentration,
            kl=dirichlet_kl(concentration[self._active], prior) + class_kl + self._hyperprior_penalty(prior),
        )

    def _pack_params(self, params: _BDSParams) -> np.ndarray | None:
        # q(theta), q(pi) and the learned prior are Dirichlet parameters: positive, extrapolated in logs
        if params.concentration is None:
            return None
        parts = [params.concentration.ravel(), params.prior.ravel()]
        if params.class_concentration is not None:
            parts.append(params.class_concentration)
        return np.log(np.concatenate(parts))

    def _unpack_params(self, vector: np.ndarray, like: _BDSParams) -> _BDSParams:
        values = np.exp(vector)
        n_conc, n_prior = like.concentration.size, like.prior.size
        concentration = values[:n_conc].reshape(like.concentration.shape)
        prior = values[n_conc : n_conc + n_prior].reshape(like.prior.shape)
        # a fixed prior does not move; a learned one is projected back into the bounds the M-step keeps
        prior = np.clip(prior, *self._bounds) if self.learn_prior else like.prior
        class_concentration = values[n_conc + n_prior :] if like.class_concentration is not None else None
        log_class, class_kl = self._class_from_concentration(class_concentration)
        return _BDSParams(
            prior=prior,
            concentration=concentration,
            log_theta=dirichlet_expected_log(concentration),
            log_class=log_class,
            class_concentration=class_concentration,
            kl=dirichlet_kl(concentration[self._active], prior) + class_kl + self._hyperprior_penalty(prior),
        )

    def _hyperprior_penalty(self, prior: np.ndarray) -> float:
        """Minus the log density of the exponential hyperprior (up to a constant), when it is learned."""
        return float(self.prior_rate * prior.sum()) if self.learn_prior else 0.0

    def _log_likelihoods(self, data: Labels, params: _BDSParams) -> np.ndarray:
        return confusion_log_likelihoods(self._obs, params.log_theta)

    def _warm_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return {"concentration": self.confusion_concentration_}, {}

    def _warm_posteriors(self, data: Labels, warm: object) -> np.ndarray:
        # the E-step at q(theta) of the previous fit: E[log theta] of its Dirichlet parameters
        concentration = warm.worker_array("concentration", data.worker_names)  # type: ignore[attr-defined]
        log_theta = dirichlet_expected_log(concentration)
        return self._warm_e_step(data, confusion_log_likelihoods(self._obs, log_theta))

    def _store(self, data: Labels, params: _BDSParams) -> None:
        self.class_prior_ = self._class_prior_mean(params)
        self.class_concentration_ = params.class_concentration
        self.confusion_prior_ = params.prior
        self.confusion_concentration_ = params.concentration
        self.confusion_ = params.concentration / params.concentration.sum(axis=2, keepdims=True)
        self.accuracy_ = np.einsum("ikk->ik", self.confusion_) @ self.class_prior_
