"""GLAD: Generative model of Labels, Abilities and Difficulties (Whitehill et al., NIPS 2009).

Annotator ``i`` has ability ``alpha_i`` (any real; negative means adversarial), item ``j`` has inverse
difficulty ``beta_j = exp(b_j)``, and annotator ``i`` gives item ``j`` its true class ``z_j`` with
probability ``sigmoid(alpha_i * beta_j)``; each of the other ``K - 1`` classes gets an equal share of the
rest. The fit is MAP-EM with Gaussian priors on ``alpha`` and on ``b``:

* E-step (exact, log space): ``log q_j(k) = log pi_k + sum_o log P(l_o | z_j = k) - log Z_j``.
* M-step: one sweep of block coordinate ascent on the expected complete-data log posterior ``Q``;
  given ``b`` it separates over annotators, given ``alpha`` over items, so each block takes one
  vectorised Newton step per annotator (per item) with step halving until that annotator's (item's)
  own part of ``Q`` does not decrease. ``Q`` therefore never decreases, and with it the objective.
* Objective: the log posterior ``log p(L | alpha, b) + log p(alpha) + log p(b)``, which equals the EM
  lower bound plus the log priors right after an exact E-step.

Everything works on the observed labels only: one entry per label, reductions by ``np.bincount``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models._base import EMAggregator, normalize
from emcrowd.models._observations import Observations as _Observations
from emcrowd.models._observations import symmetric_log_likelihoods

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
#: How often a rejected Newton step is halved before the old value is kept.
_MAX_HALVINGS = 12


#: Allowed prior standard deviations: outside this range the prior is numerically a point mass or flat.
PRIOR_SD_RANGE = (1e-3, 1e3)
#: Largest allowed |mean| of a prior; for b = log(beta), exp(20) ~ 5e8 is already absurd.
PRIOR_MEAN_LIMIT = {"alpha": 1e3, "beta": 20.0}


@dataclass
class GaussianPrior:
    """Normal prior ``N(mean, sd**2)``, applied independently to every entry of a parameter vector.

    ``name`` ("alpha" or "beta") only chooses the bounds and the wording of errors.
    """

    mean: float
    sd: float
    name: str = "alpha"

    def __post_init__(self) -> None:
        lo, hi = PRIOR_SD_RANGE
        limit = PRIOR_MEAN_LIMIT[self.name]
        if not (np.isfinite(self.mean) and abs(self.mean) <= limit):
            raise EmcrowdError(f"the {self.name} prior mean must be within ±{limit:g}, got {self.mean!r}")
        if not (lo <= self.sd <= hi):
            raise EmcrowdError(f"the {self.name} prior sd must be between {lo:g} and {hi:g}, got {self.sd!r}")

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """Elementwise log density."""
        z = (x - self.mean) / self.sd
        return -0.5 * z * z - np.log(self.sd) - _LOG_SQRT_2PI

    def grad(self, x: np.ndarray) -> np.ndarray:
        """Elementwise derivative of the log density."""
        return -(x - self.mean) / self.sd**2

    @property
    def curvature(self) -> float:
        """Second derivative of the log density (a negative constant)."""
        return -1.0 / self.sd**2


# --------------------------------------------------------------------------------------------------
# The model's quantities as pure functions of (alpha, b); the fit and the tests use the same ones.
# --------------------------------------------------------------------------------------------------
def _x(alpha: np.ndarray, b: np.ndarray, obs: _Observations) -> np.ndarray:
    """``alpha_i * beta_j`` for every label, shape (n_labels,)."""
    return alpha[obs.worker] * np.exp(b)[obs.item]


def log_sigmoids(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(log sigmoid(x), log sigmoid(-x))`` without cancellation, from one ``log1p(exp(-|x|))``.

    ``log sigmoid(x) = min(x, 0) - log1p(exp(-|x|))`` and ``log sigmoid(-x) = -max(x, 0) - log1p(...)``:
    each is a sum of two non-positive terms, exact for any ``|x|``.
    """
    soft = np.abs(x)  # in place from here on: these arrays have one entry per label
    np.negative(soft, out=soft)
    np.exp(soft, out=soft)
    np.log1p(soft, out=soft)
    right = np.minimum(x, 0.0)
    right -= soft
    wrong = np.maximum(x, 0.0)
    wrong += soft
    np.negative(wrong, out=wrong)
    return right, wrong


def log_joint(
    alpha: np.ndarray, b: np.ndarray, obs: _Observations, log_class_prior: np.ndarray
) -> np.ndarray:
    """``log p(z_j = k, labels of j | alpha, b)`` for every item and class, shape (n_items, K).

    A label adds ``log sigmoid(x)`` to the class it names and ``log sigmoid(-x) - log(K-1)`` to every
    other class. Both sums are built from terms of one sign and the "other classes" sum from prefix
    and suffix sums, never by subtracting: with ``|x|`` in the millions a subtraction would cancel.
    """
    log_right, log_wrong = log_sigmoids(_x(alpha, b, obs))
    log_wrong -= obs.log_k_minus_1
    out = symmetric_log_likelihoods(obs, log_right, log_wrong)
    out += log_class_prior
    return out


def posteriors_and_log_likelihood(
    alpha: np.ndarray, b: np.ndarray, obs: _Observations, log_class_prior: np.ndarray
) -> tuple[np.ndarray, float]:
    """Exact E-step: the posterior over each item's class, shape (n_items, K), and ``log p(L | alpha, b)``."""
    return normalize(log_joint(alpha, b, obs, log_class_prior))


def _label_terms(x: np.ndarray, w: np.ndarray, c: float) -> np.ndarray:
    """Per-label expected log-likelihood ``w log s(x) + (1 - w)(log s(-x) - c)``, s the sigmoid."""
    log_right, log_wrong = log_sigmoids(x)
    log_right *= w
    log_wrong -= c
    log_wrong *= 1.0 - w
    log_right += log_wrong  # two non-positive terms: no cancellation
    return log_right


def alpha_block_values(
    alpha: np.ndarray, b: np.ndarray, obs: _Observations, correct: np.ndarray, prior: GaussianPrior
) -> np.ndarray:
    """Each annotator's own part of the M-step objective (its labels' terms plus its prior), (n_workers,).

    ``correct`` is the posterior probability that each label names its item's true class, (n_labels,).
    Given ``b``, the M-step objective is the sum of these plus terms that do not involve ``alpha``.
    """
    terms = _label_terms(_x(alpha, b, obs), correct, obs.log_k_minus_1)
    return np.bincount(obs.worker, weights=terms, minlength=obs.n_workers) + prior.log_pdf(alpha)


def b_block_values(
    alpha: np.ndarray, b: np.ndarray, obs: _Observations, correct: np.ndarray, prior: GaussianPrior
) -> np.ndarray:
    """Each item's own part of the M-step objective (its labels' terms plus its prior), (n_items,)."""
    terms = _label_terms(_x(alpha, b, obs), correct, obs.log_k_minus_1)
    return np.bincount(obs.item, weights=terms, minlength=obs.n_items) + prior.log_pdf(b)


def alpha_derivatives(
    alpha: np.ndarray, b: np.ndarray, obs: _Observations, correct: np.ndarray, prior: GaussianPrior
) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivative of :func:`alpha_block_values` in each annotator's ``alpha_i``.

    With ``x = alpha_i beta_j`` and ``s = sigmoid(x)``: ``dQ/dx = w - s`` and ``d2Q/dx2 = -s(1 - s)``, so
    ``dQ/dalpha_i = sum (w - s) beta_j`` and ``d2Q/dalpha_i2 = -sum s(1 - s) beta_j^2`` (always < 0).
    """
    beta_o = np.exp(b)[obs.item]
    s = expit(alpha[obs.worker] * beta_o)
    grad = np.bincount(obs.worker, weights=(correct - s) * beta_o, minlength=obs.n_workers)
    curv = -np.bincount(obs.worker, weights=s * (1.0 - s) * beta_o**2, minlength=obs.n_workers)
    return grad + prior.grad(alpha), curv + prior.curvature


def b_derivatives(
    alpha: np.ndarray, b: np.ndarray, obs: _Observations, correct: np.ndarray, prior: GaussianPrior
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient, second derivative and Fisher curvature of :func:`b_block_values` in each item's ``b_j``.

    ``dx/db_j = x``, so ``dQ/db_j = sum (w - s) x`` and ``d2Q/db_j2 = sum (w - s) x - s(1 - s) x^2``,
    which can be positive; the Fisher (Gauss-Newton) curvature ``-sum s(1 - s) x^2`` never is.
    """
    x = _x(alpha, b, obs)
    s = expit(x)
    grad = np.bincount(obs.item, weights=(correct - s) * x, minlength=obs.n_items)
    fisher = -np.bincount(obs.item, weights=s * (1.0 - s) * x * x, minlength=obs.n_items)
    return grad + prior.grad(b), fisher + grad + prior.curvature, fisher + prior.curvature


def expected_log_posterior(
    alpha: np.ndarray,
    b: np.ndarray,
    obs: _Observations,
    correct: np.ndarray,
    alpha_prior: GaussianPrior,
    b_prior: GaussianPrior,
) -> float:
    """The M-step objective ``Q(alpha, b) + log p(alpha) + log p(b)``.

    Parameters
    ----------
    correct : ndarray of shape (n_labels,)
        Posterior probability that each label names its item's true class (``q_j(l_o)``).
    """
    return float(alpha_block_values(alpha, b, obs, correct, alpha_prior).sum() + b_prior.log_pdf(b).sum())


def expected_log_posterior_grad(
    alpha: np.ndarray,
    b: np.ndarray,
    obs: _Observations,
    correct: np.ndarray,
    alpha_prior: GaussianPrior,
    b_prior: GaussianPrior,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of :func:`expected_log_posterior` in ``alpha`` and in ``b``."""
    return (
        alpha_derivatives(alpha, b, obs, correct, alpha_prior)[0],
        b_derivatives(alpha, b, obs, correct, b_prior)[0],
    )


def _guarded_newton(
    theta: np.ndarray,
    grad: np.ndarray,
    curvature: np.ndarray,
    values_at: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """One Newton step per coordinate of a separable objective, halved until it does not decrease.

    ``values_at(theta)`` returns each coordinate's own part of the objective, shape like ``theta``.
    ``curvature`` must be negative. A coordinate whose step still lowers its part after
    ``_MAX_HALVINGS`` halvings keeps its old value, so the result is never worse than ``theta``
    coordinate by coordinate.
    """
    step = -grad / curvature
    value0 = values_at(theta)
    new = theta.copy()
    pending = np.isfinite(step) & (step != 0)
    t = 1.0
    for _ in range(_MAX_HALVINGS + 1):
        if not pending.any():
            break
        trial = np.where(pending, theta + t * step, theta)
        ok = pending & (values_at(trial) >= value0)
        new[ok] = trial[ok]
        pending &= ~ok
        t *= 0.5
    return new


@dataclass
class _GLADState:
    obs: _Observations
    alpha: np.ndarray  # (n_workers,)
    b: np.ndarray  # (n_items,)


class GLAD(EMAggregator):
    """GLAD aggregation of crowd labels, fitted by MAP-EM.

    Parameters
    ----------
    alpha_prior : (float, float)
        Mean and standard deviation of the Gaussian prior on each annotator's ability ``alpha``. The
        positive mean says "annotators are better than chance until shown otherwise" and, with the
        majority-vote start, keeps the fit away from the sign-flipped solution.
    beta_prior : (float, float)
        Mean and standard deviation of the Gaussian prior on ``b = log beta`` (log inverse difficulty).
        Without priors, unanimous items and perfect annotators drive ``alpha * beta`` to infinity.
    class_prior, learn_class_prior, class_pseudocount, tol, max_iter, n_init, random_state
        See :class:`emcrowd.models._base.EMAggregator`: the class prior (fixed and uniform by default,
        or learned), the stopping rule, and restarts.

    Attributes
    ----------
    alpha_ : ndarray of shape (n_workers,)
        Annotator abilities.
    b_ : ndarray of shape (n_items,)
        Log inverse difficulties.
    beta_ : ndarray of shape (n_items,)
        Item inverse difficulties ``exp(b)``, all positive; larger is easier.
    posteriors_, labels_, class_prior_, history_, lower_bound_, converged_, n_iter_, init_objectives_,
    best_init_, n_gold_, fit_seconds_
        See :class:`emcrowd.models._base.EMAggregator`.

    Notes
    -----
    ``fit(data, gold=...)`` clamps known labels (semi-supervised EM).

    Examples
    --------
    >>> import numpy as np
    >>> from emcrowd import GLAD, Labels
    >>> L = np.array([[1, 1, 0], [0, 0, 0], [1, np.nan, 1]])
    >>> model = GLAD().fit(Labels.from_matrix(L))
    >>> model.labels_
    array([1, 0, 1])
    """

    method = "glad"

    def __init__(
        self,
        *,
        alpha_prior: tuple[float, float] = (1.0, 1.0),
        beta_prior: tuple[float, float] = (1.0, 1.0),
        class_prior: np.ndarray | None = None,
        learn_class_prior: bool = False,
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
        self.alpha_prior = alpha_prior
        self.beta_prior = beta_prior

    def _priors(self) -> tuple[GaussianPrior, GaussianPrior]:
        try:
            (am, asd), (bm, bsd) = (tuple(map(float, p)) for p in (self.alpha_prior, self.beta_prior))
        except (TypeError, ValueError):
            raise EmcrowdError(
                f"priors are (mean, sd) pairs of numbers, got {self.alpha_prior!r} and {self.beta_prior!r}"
            ) from None
        return GaussianPrior(am, asd, "alpha"), GaussianPrior(bm, bsd, "beta")

    def _prepare(self, data: Labels) -> None:
        self._alpha_p, self._b_p = self._priors()
        self._obs = _Observations.from_labels(data)

    def _initial_params(self, data: Labels) -> _GLADState:
        # With the majority-vote shares as the first posteriors (the base class's start), the first
        # M-step moves these prior means towards the abilities that majority vote implies.
        return _GLADState(
            obs=self._obs,
            alpha=np.full(data.n_workers, self._alpha_p.mean),
            b=np.full(data.n_items, self._b_p.mean),
        )

    def _m_step(self, data: Labels, posteriors: np.ndarray, state: _GLADState) -> _GLADState:
        obs = state.obs
        w = posteriors.ravel()[obs.item_label]
        ap, bp = self._alpha_p, self._b_p

        # Block 1: alpha given b. Concave in each alpha_i: a Newton step per annotator.
        grad, curv = alpha_derivatives(state.alpha, state.b, obs, w, ap)
        state.alpha = _guarded_newton(
            state.alpha, grad, curv, lambda a: alpha_block_values(a, state.b, obs, w, ap)
        )

        # Block 2: b given alpha. Not always concave in b_j: take the Newton curvature where it is
        # clearly negative, else half the Fisher curvature (always negative); the halving guards both.
        grad, newton, fisher = b_derivatives(state.alpha, state.b, obs, w, bp)
        curv = np.minimum(newton, 0.5 * fisher)
        state.b = _guarded_newton(state.b, grad, curv, lambda b: b_block_values(state.alpha, b, obs, w, bp))
        return state

    def _log_likelihoods(self, data: Labels, state: _GLADState) -> np.ndarray:
        return log_joint(state.alpha, state.b, state.obs, np.zeros(data.n_classes))

    def _log_param_prior(self, state: _GLADState) -> float:
        return float(self._alpha_p.log_pdf(state.alpha).sum() + self._b_p.log_pdf(state.b).sum())

    def _store(self, data: Labels, state: _GLADState) -> None:
        self.alpha_ = state.alpha
        self.b_ = state.b
        self.beta_ = np.exp(state.b)
