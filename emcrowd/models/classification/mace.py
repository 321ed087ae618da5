"""MACE (Hovy, Berg-Kirkpatrick, Vaswani and Hovy, NAACL 2013, *Learning Whom to Trust with MACE*).

Each annotator ``i`` has a **competence** ``theta_i``, the probability that it is not spamming, and a
**spam distribution** ``xi_i`` over the classes. For each label it flips a coin: with probability
``theta_i`` it gives the item's true class; otherwise it spams, and draws the label from ``xi_i``
whatever the truth. So

    P(annotator i says l | true class k) = theta_i [l = k] + (1 - theta_i) xi_i[l].

Unlike one-coin, whose errors are spread evenly, a spammer's answers may all be one class (the
"always says positive" annotator): that class then carries no evidence from it, and its other classes
(rare, so told only when not spamming) much. Unlike Dawid-Skene, an annotator has ``K`` parameters, not
``K (K - 1)``, so it is estimated well from few labels.

**Fitting.** EM over the true classes *and* the spam indicators, with maximum a posteriori M-steps
under a Beta prior on ``theta_i`` and a symmetric Dirichlet prior on ``xi_i``, given as pseudo-counts
(the prior parameters minus one) added to the expected counts. The objective is the log posterior of
the parameters (the log evidence of the labels plus the priors' log densities, up to a constant), and
EM never lowers it. Each M-step takes up to ``INNER_STEPS`` steps over the spam indicators with the
class posteriors held (cheap: a pass over the annotators, not the labels), so that an iteration is close
to one of EM over the classes alone, which converges in several times fewer passes over the labels.

The authors' program fits by variational Bayes by default, with sparse priors (a Beta(0.5, 0.5) on the
competence), and by plain EM on request, adding a small constant (0.01 over the number of classes) to
the fractional counts: that is MAP with pseudo-counts, as here. A sparse prior has no MAP estimate (its
density is unbounded at 0 and 1), so the variational option is not offered; ``smoothing`` defaults to
0.01, as for every emcrowd model with pseudo-counts. The program also runs 10 random restarts by
default; here the first start is majority vote's and ``n_init`` adds seeded random ones.

The class prior is fixed (uniform unless given), as in the paper's model (and the program's
``--priors``); ``learn_class_prior`` learns it instead.

On large inputs (``engine="auto"``, from ``NUMBA_MIN_LABELS`` labels on) the E-step and the next
M-step's sums run in one compiled pass over the labels (:mod:`._mace_kernels`); same fit to rounding.
"""

from __future__ import annotations

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models._base import EMAggregator
from emcrowd.models._squarem import expit, log_normalize, logit
from emcrowd.models.classification._observations import (
    Observations,
    _gold_codes,
    _pass_chunks,
    class_totals,
    symmetric_log_likelihoods,
    vote_shares,
)

#: Most steps over the spam indicators per M-step (with the class posteriors held), and the largest
#: change of any parameter at which they stop early. One step is plain EM over classes and spam
#: indicators together; more approach the M-step of EM over the classes alone, which needs far fewer
#: passes over the labels (on 500k labels simulated from GLAD: 10 iterations instead of 60).
INNER_STEPS = 20
INNER_TOL = 1e-6
#: The parameters of one EM iterate: competence (n_workers,) and spam distributions (n_workers, K).
Params = tuple[np.ndarray, np.ndarray]


class MACE(EMAggregator):
    """MACE aggregation: a competence and a spam distribution per annotator, fitted by MAP-EM.

    Parameters
    ----------
    smoothing : float
        Pseudo-count added to each class of every annotator's expected spam counts (a symmetric
        Dirichlet prior on the spam distribution, parameter ``1 + smoothing``), and, unless
        ``competence_prior`` is given, to both its expected honest and spam counts (a Beta prior on the
        competence). The default, 0.01, is enough to keep probabilities off 0.
    competence_prior : (float, float), optional
        Pseudo-counts ``(honest, spam)`` added to every annotator's expected numbers of honest and
        spam labels: a ``Beta(1 + honest, 1 + spam)`` prior on the competence. Larger values pull
        annotators with few labels towards the prior's mode ``honest / (honest + spam)``.
    engine : {"auto", "numpy", "numba"}
        NumPy array operations, or compiled numba kernels (one pass per iteration); ``"auto"`` uses
        numba from ``NUMBA_MIN_LABELS`` labels on. Both give the same fit (to rounding).
    class_prior, learn_class_prior, class_pseudocount, tol, max_iter, n_init, random_state
        See :class:`emcrowd.models._base.EMAggregator`; the class prior is fixed by default.

    Attributes
    ----------
    competence_ : ndarray of shape (n_workers,)
        Each annotator's probability of not spamming (``theta``).
    spam_distribution_ : ndarray of shape (n_workers, n_classes)
        Each annotator's distribution of labels when spamming (``xi``); rows sum to 1.
    accuracy_ : ndarray of shape (n_workers,)
        Each annotator's probability of giving the true class,
        ``competence_ + (1 - competence_) * spam_distribution_ @ class_prior_``.
    confusion_ : ndarray of shape (n_workers, n_classes, n_classes)
        The confusion matrices the model implies, ``P(l | k) = theta [l = k] + (1 - theta) xi[l]``
        (computed when read).
    engine_ : str
        The engine that ran: ``"numpy"`` or ``"numba"``.
    posteriors_, labels_, class_prior_, history_, lower_bound_, converged_, n_iter_, ...
        See :class:`emcrowd.models._base.EMAggregator`.
    """

    method = "mace"

    def __init__(
        self,
        *,
        smoothing: float = 0.01,
        competence_prior: tuple[float, float] | None = None,
        engine: str = "auto",
        class_prior: np.ndarray | None = None,
        learn_class_prior: bool = False,
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
        self.competence_prior = competence_prior
        self.engine = engine

    # -- set-up -------------------------------------------------------------------------------------
    def _prepare(self, data: Labels) -> None:
        if not (np.isfinite(self.smoothing) and self.smoothing >= 0):
            raise EmcrowdError(f"smoothing must be a number >= 0, got {self.smoothing!r}")
        self._honest_pc, self._spam_pc = self._competence_pseudocounts()
        self._obs = Observations.from_labels(data, self.engine)
        self.engine_ = self._obs.engine
        obs = self._obs
        if self.engine_ == "numba":
            from emcrowd.models.classification import _mace_kernels as kernels

            g = obs.groups
            self._counts = kernels.worker_label_counts(g.worker, g.label, obs.n_workers, obs.n_classes)
        else:
            flat = np.bincount(obs.worker_label, minlength=obs.n_workers * obs.n_classes)
            self._counts = flat.reshape(obs.n_workers, obs.n_classes).astype(float)
        self._pending: tuple[np.ndarray, np.ndarray] | None = None

    def _competence_pseudocounts(self) -> tuple[float, float]:
        if self.competence_prior is None:
            return float(self.smoothing), float(self.smoothing)
        try:
            honest, spam = (float(x) for x in self.competence_prior)
        except (TypeError, ValueError):
            raise EmcrowdError(
                f"competence_prior must be two pseudo-counts (honest, spam), got {self.competence_prior!r}"
            ) from None
        if not (np.isfinite(honest) and np.isfinite(spam) and honest >= 0 and spam >= 0):
            raise EmcrowdError(
                f"competence_prior pseudo-counts must be numbers >= 0, got {self.competence_prior!r}"
            )
        return honest, spam

    def _initial_posteriors(self, data: Labels) -> np.ndarray:
        return vote_shares(self._obs)  # the majority-vote shares, as in EMAggregator

    def _initial_params(self, data: Labels) -> Params:
        # A neutral start for the first M-step's spam indicators: a coin's competence, uniform spam.
        k = data.n_classes
        return np.full(data.n_workers, 0.5), np.full((data.n_workers, k), 1.0 / k)

    def _class_prior_step(self, posteriors: np.ndarray) -> np.ndarray:
        counts = class_totals(self._obs, posteriors) + self.class_pseudocount  # as EMAggregator's
        return np.log(counts / counts.sum())

    # -- EM -----------------------------------------------------------------------------------------
    def _agreement(self, posteriors: np.ndarray) -> np.ndarray:
        """``agree[i, l]``: the sum of ``posteriors[j, l]`` over annotator ``i``'s labels ``l``,
        shape (n_workers, K): the expected number of its labels of class ``l`` that name the truth."""
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] is posteriors:
            return pending[1]
        obs = self._obs
        if self.engine_ == "numba":
            from emcrowd.models.classification import _mace_kernels as kernels

            g = obs.groups
            q = np.ascontiguousarray(posteriors, dtype=np.float64)
            return kernels.kernels_for(obs.n_classes).agreement_by_label(
                g.indptr, g.worker, g.label, q, obs.n_workers
            )
        weights = posteriors.ravel()[obs.item_label]
        flat = np.bincount(obs.worker_label, weights=weights, minlength=obs.n_workers * obs.n_classes)
        return flat.reshape(obs.n_workers, obs.n_classes)

    def _m_step(self, data: Labels, posteriors: np.ndarray, params: Params) -> Params:
        """Parameters that raise the expected complete-data log posterior given the class posteriors,
        ``sum_il agree_il log P(right) + wrong_il log P(wrong) + log prior``: EM steps over the spam
        indicators with the posteriors held (each raises it, so the objective never decreases)."""
        agree = self._agreement(posteriors)
        wrong = np.maximum(self._counts - agree, 0.0)  # expected labels of class l that are not the truth
        theta, xi = params
        for _ in range(INNER_STEPS):
            new_theta, new_xi = self._spam_step(theta, xi, agree, wrong)
            change = max(
                np.max(np.abs(new_theta - theta), initial=0.0), np.max(np.abs(new_xi - xi), initial=0.0)
            )
            theta, xi = new_theta, new_xi
            if change <= INNER_TOL:
                break
        return theta, xi

    def _spam_step(self, theta: np.ndarray, xi: np.ndarray, agree: np.ndarray, wrong: np.ndarray) -> Params:
        """One EM step over the spam indicators: their posteriors under ``(theta, xi)``, then the MAP
        competence and spam distributions from the expected counts."""
        # A label l that names the truth was honest with probability theta / (theta + (1 - theta) xi_l);
        # a label that does not name the truth was spam.
        spam_said = (1.0 - theta)[:, None] * xi
        said = theta[:, None] + spam_said
        honest_share = np.divide(theta[:, None], said, out=np.zeros_like(said), where=said > 0)
        spam_share = np.divide(spam_said, said, out=np.ones_like(said), where=said > 0)
        honest = (agree * honest_share).sum(axis=1)
        spam = wrong + agree * spam_share  # (n_workers, K)
        honest_total = honest + self._honest_pc
        total = honest_total + spam.sum(axis=1) + self._spam_pc
        new_theta = np.divide(honest_total, total, out=np.full_like(total, 0.5), where=total > 0)
        spam += self.smoothing
        spam_total = spam.sum(axis=1, keepdims=True)
        k = xi.shape[1]
        new_xi = np.divide(spam, spam_total, out=np.full_like(spam, 1.0 / k), where=spam_total > 0)
        return new_theta, new_xi

    def _log_tables(self, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """Per annotator and class said, (n_workers, K): the log probability of saying it when it is
        the truth, and when it is not."""
        theta, xi = params
        with np.errstate(divide="ignore"):
            log_right = np.log(theta[:, None] + (1.0 - theta)[:, None] * xi)
            log_wrong = np.log1p(-theta)[:, None] + np.log(xi)
        return log_right, log_wrong

    def _e_step(
        self, data: Labels, params: Params, log_pi: np.ndarray, gold: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        if self.engine_ == "numpy":
            return super()._e_step(data, params, log_pi, gold)
        from emcrowd.models.classification import _mace_kernels as kernels

        obs = self._obs
        g = obs.groups
        log_right, log_wrong = self._log_tables(params)
        posteriors = np.empty((obs.n_items, obs.n_classes))
        acc = np.zeros((_pass_chunks(obs, obs.n_workers * obs.n_classes), obs.n_workers, obs.n_classes))
        evidence = kernels.kernels_for(obs.n_classes).mace_pass(
            g.indptr, g.worker, g.label,
            np.ascontiguousarray(log_right), np.ascontiguousarray(log_wrong),
            np.ascontiguousarray(log_pi, dtype=np.float64),
            _gold_codes(gold, obs.n_items), posteriors, acc,
        )  # fmt: skip
        agree = acc[0]
        for chunk in range(1, acc.shape[0]):
            agree += acc[chunk]
        self._pending = (posteriors, agree)
        return posteriors, self._objective(float(evidence), params, log_pi)

    def _log_likelihoods(self, data: Labels, params: Params) -> np.ndarray:
        obs = self._obs
        log_right, log_wrong = self._log_tables(params)
        return symmetric_log_likelihoods(
            obs, log_right.ravel()[obs.worker_label], log_wrong.ravel()[obs.worker_label]
        )

    def _pack_params(self, params: Params) -> np.ndarray:
        theta, xi = params
        with np.errstate(divide="ignore"):
            return np.concatenate([logit(theta), np.log(xi).ravel()])

    def _unpack_params(self, vector: np.ndarray, like: Params) -> Params:
        n = like[0].size
        return expit(vector[:n]), np.exp(log_normalize(vector[n:].reshape(like[1].shape), axis=1))

    def _log_param_prior(self, params: Params) -> float:
        theta, xi = params
        total = 0.0
        with np.errstate(divide="ignore"):
            if self._honest_pc:
                total += self._honest_pc * float(np.log(theta).sum())
            if self._spam_pc:
                total += self._spam_pc * float(np.log1p(-theta).sum())
            if self.smoothing:
                total += self.smoothing * float(np.log(xi).sum())
        return total

    def _warm_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return {"competence": self.competence_, "spam_distribution": self.spam_distribution_}, {}

    def _warm_posteriors(self, data: Labels, warm: object) -> np.ndarray:
        theta = warm.worker_array("competence", data.worker_names)  # type: ignore[attr-defined]
        xi = warm.worker_array("spam_distribution", data.worker_names)  # type: ignore[attr-defined]
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._warm_e_step(data, self._log_likelihoods(data, (theta, xi)))

    def _store(self, data: Labels, params: Params) -> None:
        self._pending = None
        theta, xi = params
        self.competence_ = theta
        self.spam_distribution_ = xi
        self.accuracy_ = theta + (1.0 - theta) * (xi @ self.class_prior_)

    # -- what the fitted model says -------------------------------------------------------------------
    @property
    def confusion_(self) -> np.ndarray:
        """``P(annotator i says l | truth k)``, shape (n_workers, K, K), from the fitted parameters."""
        if not hasattr(self, "competence_"):
            raise AttributeError("confusion_")
        theta, xi = self.competence_, self.spam_distribution_
        k = xi.shape[1]
        out = np.repeat(((1.0 - theta)[:, None] * xi)[:, None, :], k, axis=1)
        idx = np.arange(k)
        out[:, idx, idx] += theta[:, None]
        return out

    def _label_proba(self, item: np.ndarray, worker: np.ndarray) -> np.ndarray:
        theta = self.competence_[worker][:, None]
        return (1.0 - theta) * self.spam_distribution_[worker] + theta * self.posteriors_[item]
