"""GLAD: Generative model of Labels, Abilities and Difficulties (Whitehill et al., NIPS 2009).

Annotator ``i`` has ability ``alpha_i`` (any real; negative means adversarial), item ``j`` has inverse
difficulty ``beta_j = exp(b_j)``, and annotator ``i`` gives item ``j`` its true class ``z_j`` with
probability ``sigmoid(alpha_i * beta_j)``; each of the other ``K - 1`` classes gets an equal share of the
rest. The fit is MAP-EM with Gaussian priors on ``alpha`` and on ``b``:

* E-step (exact, log space): ``log q_j(k) = log pi_k + sum_o log P(l_o | z_j = k) - log Z_j``.
* M-step: block coordinate ascent on the expected complete-data log posterior ``Q``: a sweep is
  one step on the alpha block, then one on the b block; given ``b``, ``Q`` separates over
  annotators, given ``alpha`` over items, so each block takes one vectorised Newton step per
  annotator (per item) with step halving until that annotator's (item's) own part of ``Q`` does not
  decrease. ``Q`` therefore never decreases, and with it the objective. By default an M-step is one
  sweep (a generalised EM): with the E-step in the same compiled pass, one pass over the labels per
  iteration. More sweeps per M-step (``max_sweeps``) take fewer iterations but more passes in all
  (on 5M labels, 10 iterations of about two sweeps against 13 of one); the fixed point is the same.
  (A single sweep per M-step from a start at the prior means could settle on a sign-flipped
  optimum when the prior means move; the start from agreement below keeps it away.)
* Start: each annotator's ``alpha`` from its agreement with majority vote, ``b`` at its prior mean,
  and the first posteriors are the E-step at these parameters (a weighted majority vote).
* Objective: the log posterior ``log p(L | alpha, b) + log p(alpha) + log p(b)``, which equals the EM
  lower bound plus the log priors right after an exact E-step.

Everything works on the observed labels only: one entry per label, reductions by ``np.bincount``.
For large inputs the same iteration runs as compiled passes
(:mod:`emcrowd.models.classification._glad_kernels`,
``engine="numba"``) that keep nothing per label; both engines give the same fit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models._base import EMAggregator, normalize
from emcrowd.models.classification._observations import Observations as _Observations
from emcrowd.models.classification._observations import (
    capped_chunks,
    resolve_engine,
    symmetric_log_likelihoods,
)

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
#: Gauss-Hermite nodes and weights (probabilists', normalised) for the label predictive.
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(7)
_GH_WEIGHTS = _GH_WEIGHTS / _GH_WEIGHTS.sum()
#: How often a rejected Newton step is halved before the old value is kept.
_MAX_HALVINGS = 12
#: The M-step is block coordinate ascent: sweeps of one guarded Newton step on the alpha block, then
#: one on the b block. It stops after the first sweep that gains at most
#: ``max(SWEEP_TOL_FACTOR * tol, MIN_SWEEP_TOL) * |Q|`` (negligible by the EM loop's own stopping rule)
#: or at most ``SWEEP_SHARE`` of what the M-step has gained so far (the rest would come slowly, along
#: the ridge where alpha grows as beta shrinks), and after ``max_sweeps`` sweeps at the latest (a GLAD
#: option: 1 by default, ``MAX_SWEEPS`` for M-steps run to that rule).
SWEEP_TOL_FACTOR = 1.0
MIN_SWEEP_TOL = 1e-10
SWEEP_SHARE = 0.1
MAX_SWEEPS = 50


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
    """``(log sigmoid(x), log sigmoid(-x))`` from one ``log1p(exp(-|x|))``, accurate for any ``|x|``.

    ``log sigmoid(x) = min(x, 0) - log1p(exp(-|x|))`` adds two non-positive terms, and
    ``log sigmoid(-x) = log sigmoid(x) - x``. The subtraction loses nothing that matters: for large
    ``|x|`` the ``log1p`` term is below the rounding of ``x`` and the result is exact (0 or ``-x``),
    and where it is not (``|x| < 40``) the absolute error is below 1e-14.
    """
    soft = np.abs(x)  # in place from here on: these arrays have one entry per label
    np.negative(soft, out=soft)
    np.exp(soft, out=soft)
    np.log1p(soft, out=soft)
    right = np.minimum(x, 0.0)
    right -= soft
    return right, right - x


def typical_accuracy(alpha: np.ndarray, b: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """``sigmoid(alpha_i * beta)`` at ``beta = exp(median b)`` over the ``labelled`` items (over all
    items when none is), shape (n_workers,): each annotator's probability of naming the true class on
    a typical item."""
    typical = float(np.exp(np.median(b[labelled] if labelled.any() else b))) if b.size else 1.0
    return np.exp(log_sigmoids(alpha * typical)[0])


@dataclass
class LabelEval:
    """Per-label quantities at one ``(alpha, b)``, computed once and shared by the M-step and E-step.

    Attributes
    ----------
    x : ndarray of shape (n_labels,)
        ``alpha_i * beta_j``.
    log_right, log_wrong : ndarray of shape (n_labels,)
        ``log sigmoid(x)`` and ``log sigmoid(-x)`` (the latter before the ``- log(K-1)`` share).
    """

    x: np.ndarray
    log_right: np.ndarray
    log_wrong: np.ndarray

    @classmethod
    def at(cls, alpha: np.ndarray, b: np.ndarray, obs: _Observations) -> LabelEval:
        x = _x(alpha, b, obs)
        return cls(x, *log_sigmoids(x))

    def slopes(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``w - sigmoid(x)`` and ``sigmoid(x) sigmoid(-x)`` (the derivative of the expected
        log-likelihood in ``x`` and minus its second derivative), without cancellation: ``1 - s`` is
        taken as ``sigmoid(-x)`` itself, and for ``x >= 0`` ``w - s`` as ``(w - 1) + sigmoid(-x)``.
        Where ``|x|`` is large, ``1 - s`` computed by subtraction is all rounding error."""
        s = np.exp(self.log_right)
        sc = np.exp(self.log_wrong)
        diff = np.where(self.x >= 0, (w - 1.0) + sc, w - s)
        s *= sc
        return diff, s


def log_joint(
    alpha: np.ndarray,
    b: np.ndarray,
    obs: _Observations,
    log_class_prior: np.ndarray,
    ev: LabelEval | None = None,
) -> np.ndarray:
    """``log p(z_j = k, labels of j | alpha, b)`` for every item and class, shape (n_items, K).

    A label adds ``log sigmoid(x)`` to the class it names and ``log sigmoid(-x) - log(K-1)`` to every
    other class. Both sums are built from terms of one sign and the "other classes" sum from prefix
    and suffix sums, never by subtracting: with ``|x|`` in the millions a subtraction would cancel.
    ``ev`` (the label quantities at ``alpha, b``) is computed when not given.
    """
    ev = LabelEval.at(alpha, b, obs) if ev is None else ev
    out = symmetric_log_likelihoods(obs, ev.log_right, ev.log_wrong - obs.log_k_minus_1)
    out += log_class_prior
    return out


def posteriors_and_log_likelihood(
    alpha: np.ndarray, b: np.ndarray, obs: _Observations, log_class_prior: np.ndarray
) -> tuple[np.ndarray, float]:
    """Exact E-step: the posterior over each item's class, shape (n_items, K), and ``log p(L | alpha, b)``."""
    return normalize(log_joint(alpha, b, obs, log_class_prior))


def _label_terms(ev: LabelEval, w: np.ndarray, c: float) -> np.ndarray:
    """Per-label expected log-likelihood ``w log s(x) + (1 - w)(log s(-x) - c)``, s the sigmoid."""
    terms = w * ev.log_right
    wrong = ev.log_wrong - c
    wrong *= 1.0 - w
    terms += wrong  # two non-positive terms: no cancellation
    return terms


def alpha_block_values(
    alpha: np.ndarray,
    b: np.ndarray,
    obs: _Observations,
    correct: np.ndarray,
    prior: GaussianPrior,
    ev: LabelEval | None = None,
) -> np.ndarray:
    """Each annotator's own part of the M-step objective (its labels' terms plus its prior), (n_workers,).

    ``correct`` is the posterior probability that each label names its item's true class, (n_labels,).
    Given ``b``, the M-step objective is the sum of these plus terms that do not involve ``alpha``.
    """
    ev = LabelEval.at(alpha, b, obs) if ev is None else ev
    return _group_values(ev, correct, obs, obs.worker, prior, alpha)


def b_block_values(
    alpha: np.ndarray,
    b: np.ndarray,
    obs: _Observations,
    correct: np.ndarray,
    prior: GaussianPrior,
    ev: LabelEval | None = None,
) -> np.ndarray:
    """Each item's own part of the M-step objective (its labels' terms plus its prior), (n_items,)."""
    ev = LabelEval.at(alpha, b, obs) if ev is None else ev
    return _group_values(ev, correct, obs, obs.item, prior, b)


def _group_values(
    ev: LabelEval,
    correct: np.ndarray,
    obs: _Observations,
    group: np.ndarray,
    prior: GaussianPrior,
    theta: np.ndarray,
) -> np.ndarray:
    """Per-group sums of the labels' expected log-likelihood terms, plus each group's prior term.

    ``group`` gives each label's group (``obs.worker`` for the alpha block, ``obs.item`` for b);
    ``ev`` and ``correct`` may cover only some labels (retries), as long as ``group`` matches them.
    """
    terms = _label_terms(ev, correct, obs.log_k_minus_1)
    return np.bincount(group, weights=terms, minlength=theta.size) + prior.log_pdf(theta)


def alpha_derivatives(
    alpha: np.ndarray,
    b: np.ndarray,
    obs: _Observations,
    correct: np.ndarray,
    prior: GaussianPrior,
    ev: LabelEval | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivative of :func:`alpha_block_values` in each annotator's ``alpha_i``.

    With ``x = alpha_i beta_j`` and ``s = sigmoid(x)``: ``dQ/dx = w - s`` and ``d2Q/dx2 = -s(1 - s)``
    (both from :meth:`LabelEval.slopes`), so
    ``dQ/dalpha_i = sum (w - s) beta_j`` and ``d2Q/dalpha_i2 = -sum s(1 - s) beta_j^2`` (always < 0).
    """
    beta_o = np.exp(b)[obs.item]
    diff, ss = (LabelEval.at(alpha, b, obs) if ev is None else ev).slopes(correct)
    grad = np.bincount(obs.worker, weights=diff * beta_o, minlength=obs.n_workers)
    ss *= beta_o
    ss *= beta_o
    curv = -np.bincount(obs.worker, weights=ss, minlength=obs.n_workers)
    return grad + prior.grad(alpha), curv + prior.curvature


def b_derivatives(
    alpha: np.ndarray,
    b: np.ndarray,
    obs: _Observations,
    correct: np.ndarray,
    prior: GaussianPrior,
    ev: LabelEval | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient, second derivative and Fisher curvature of :func:`b_block_values` in each item's ``b_j``.

    ``dx/db_j = x``, so ``dQ/db_j = sum (w - s) x`` and ``d2Q/db_j2 = sum (w - s) x - s(1 - s) x^2``,
    which can be positive; the Fisher (Gauss-Newton) curvature ``-sum s(1 - s) x^2`` never is.
    """
    ev = LabelEval.at(alpha, b, obs) if ev is None else ev
    x = ev.x
    diff, ss = ev.slopes(correct)
    grad = np.bincount(obs.item, weights=diff * x, minlength=obs.n_items)
    ss *= x
    ss *= x
    fisher = -np.bincount(obs.item, weights=ss, minlength=obs.n_items)
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
    value0: np.ndarray,
    values_at: Callable[..., tuple[np.ndarray, LabelEval | None]],
) -> tuple[np.ndarray, np.ndarray, LabelEval | None]:
    """One Newton step per coordinate of a separable objective, halved until it does not decrease.

    ``values_at(theta)`` returns each coordinate's own part of the objective (shape like ``theta``)
    and the label quantities it computed on the way; ``values_at(theta, only)`` need only be right
    where the boolean mask ``only`` is set (and may return None for the quantities). ``value0`` is
    that part at ``theta``.
    ``curvature`` must be negative. A coordinate whose step still lowers its part after
    ``_MAX_HALVINGS`` halvings keeps its old value, so the result is never worse than ``theta``
    coordinate by coordinate. Returns the result, each coordinate's part at the result, and the label
    quantities at the result when the last trial was the result (the usual case: every step accepted
    at once), else None.
    """
    step = -grad / curvature
    new = theta.copy()
    new_values = np.array(value0, dtype=float)
    pending = np.isfinite(step) & (step != 0)
    t = 1.0
    trial, ev = theta, None
    for attempt in range(_MAX_HALVINGS + 1):
        if not pending.any():
            break
        trial = np.where(pending, theta + t * step, theta)
        # Retries only need the coordinates still pending (usually few): evaluate just those.
        values, ev = values_at(trial) if attempt == 0 else values_at(trial, pending)
        ok = pending & (values >= value0)
        new[ok] = trial[ok]
        new_values[ok] = values[ok]
        pending &= ~ok
        t *= 0.5
    return new, new_values, (ev if ev is not None and np.array_equal(new, trial) else None)


def _subset_values(
    alpha: np.ndarray,
    b: np.ndarray,
    obs: _Observations,
    correct: np.ndarray,
    prior: GaussianPrior,
    group: np.ndarray,
    only: np.ndarray,
) -> np.ndarray:
    """:func:`alpha_block_values` (``group = obs.worker``) or :func:`b_block_values` (``obs.item``),
    computed over the labels of the groups in ``only`` alone; other entries are meaningless.

    The labels of a group are summed in the same order as in the full computation, so a group's value
    is bit-for-bit what the full computation gives.
    """
    sel = np.flatnonzero(only[group])
    x = alpha[obs.worker[sel]] * np.exp(b)[obs.item[sel]]
    theta = alpha if group is obs.worker else b
    return _group_values(LabelEval(x, *log_sigmoids(x)), correct[sel], obs, group[sel], prior, theta)


def agreement_counts(
    item: np.ndarray, worker: np.ndarray, label: np.ndarray, n_items: int, n_workers: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per annotator, ``agree_i`` (over its labels, the share of the item's other labels that name the
    same class) and ``n_i`` (its labels on items with other labels), each (n_workers,): sums over
    items, so those of a data set's partitions add up. See :meth:`GLAD._start_abilities`."""
    flat = item.astype(np.intp) * n_classes + label
    counts = np.bincount(flat, minlength=n_items * n_classes).reshape(n_items, n_classes)
    others = counts.sum(axis=1)[item] - 1
    same = counts[item, label] - 1
    share = np.divide(same, others, out=np.zeros(item.size), where=others > 0)
    n = np.bincount(worker, weights=others > 0, minlength=n_workers)
    agree = np.bincount(worker, weights=share, minlength=n_workers)
    return agree, n


def abilities_from_agreement(agree: np.ndarray, n: np.ndarray, b_mean: float) -> np.ndarray:
    """The starting ``alpha``, ``logit((agree_i + 1) / (n_i + 2)) / exp(b_mean)``."""
    p = (agree + 1.0) / (n + 2.0)
    return np.log(p / (1.0 - p)) / np.exp(b_mean)


@dataclass
class _GLADState:
    alpha: np.ndarray  # (n_workers,)
    b: np.ndarray  # (n_items,)
    ev: LabelEval | None = None  # label quantities at (alpha, b), when known (NumPy engine)
    # numba engine: the posteriors the pending M-step starts from, log p(labels of j | z_j = k) at
    # (alpha, b), and the alpha block's sums at (alpha, b, posteriors) when the last pass made them
    q: np.ndarray | None = None
    log_lik: np.ndarray | None = None
    alpha_sums: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    sweeps: int = 0  # sweeps the last M-step took
    parts: Any = None  # the Dask engine: the partitions' states after the E-step at these parameters


@dataclass
class _ItemGroups:
    """The labels grouped by item for the compiled kernels: item ``j``'s are ``indptr[j]:indptr[j+1]``."""

    indptr: np.ndarray  # (n_items + 1,) int64
    worker: np.ndarray  # (n_labels,) int32
    label: np.ndarray  # (n_labels,) int32
    log_k_minus_1: float


class _KernelPasses:
    """GLAD's compiled passes over item groups, at the current ``b`` and the posteriors ``q`` the
    M-step starts from (fixed during it): what :meth:`GLAD._kernel_m_step` asks of the labels.

    Used for all the items in memory, and by the Dask engine for each partition (whose items' ``b``
    and posteriors it holds); nothing here depends on which items the groups hold, except the sums'
    rounding (the items are summed in chunks)."""

    def __init__(
        self,
        groups: _ItemGroups,
        b: np.ndarray,
        q: np.ndarray,
        log_pi: np.ndarray,
        gold: np.ndarray | None,
        b_prior: GaussianPrior,
        reuse: bool = False,
        max_chunks: int | None = None,
    ) -> None:
        self.groups, self.b, self.q, self.b_prior = groups, b, q, b_prior
        self.max_chunks = max_chunks  # as Observations.max_chunks
        self.gold = np.full(b.size, -1, dtype=np.int64) if gold is None else gold.astype(np.int64, copy=False)
        self.log_pi = np.ascontiguousarray(log_pi, dtype=np.float64)
        self.pending: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        #: whether a pass also sums for another sweep of the same M-step (not when none can follow)
        self.sweep_sums = True
        # with ``reuse``, every pass writes its posteriors and log-likelihoods into the same two
        # arrays (only the last pass's are kept; fresh arrays per pass cost their page faults)
        self.reuse = reuse
        self.buffers: tuple[np.ndarray, np.ndarray] | None = None

    def alpha_sums(self, alpha: np.ndarray, only: np.ndarray, derivatives: bool) -> np.ndarray:
        """:func:`._glad_kernels.alpha_sums` at ``alpha`` and the current ``b``, (n_workers, 3)."""
        from emcrowd.models.classification import _glad_kernels as kernels

        g = self.groups
        return kernels.alpha_sums(
            g.indptr, g.worker, g.label, alpha, self.b, self.q, g.log_k_minus_1, only, derivatives
        )

    def em_pass(self, alpha: np.ndarray) -> tuple[np.ndarray, float, float]:
        """:func:`._glad_kernels.em_pass` at ``alpha`` from the current ``b``: the annotator sums
        (n_workers, 8), the log evidence and the b block's gain. Its b, posteriors and
        log-likelihoods wait for :meth:`accept` and :meth:`result`."""
        from emcrowd.models.classification import _glad_kernels as kernels

        g, bp = self.groups, self.b_prior
        # 8 sums per annotator (one cache line), or the first 4 (half a line) when no sweep follows
        width = 8 if self.sweep_sums else 4
        acc = np.zeros((capped_chunks(kernels.n_chunks(alpha.size), self.max_chunks), alpha.size, width))
        if self.buffers is None:
            buffers = (np.empty_like(self.q), np.empty_like(self.q))
            self.buffers = buffers if self.reuse else None
        else:
            buffers = self.buffers
        b_out, (q_out, log_lik) = np.empty_like(self.b), buffers
        evidence, b_gain = kernels.em_pass(
            g.indptr, g.worker, g.label, alpha, self.b, self.q, g.log_k_minus_1, bp.mean, bp.sd,
            _MAX_HALVINGS, self.log_pi, self.gold, b_out, q_out, log_lik, acc, self.sweep_sums,
        )  # fmt: skip
        self.pending = (b_out, q_out, log_lik)
        total = np.zeros((alpha.size, 8))
        total[:, :width] = acc.sum(axis=0)
        return total, float(evidence), float(b_gain)

    def accept(self) -> None:
        """The last pass's b becomes the current b."""
        assert self.pending is not None
        self.b = self.pending[0]

    def b_log_prior(self) -> float:
        """``sum_j log p(b_j)`` at the current b."""
        return float(self.b_prior.log_pdf(self.b).sum())

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """The last pass's posteriors and log-likelihoods (the E-step at the M-step's result)."""
        assert self.pending is not None
        return self.pending[1], self.pending[2]


#: Nodes of the grid over an item's ``b_j`` (Gauss-Hermite under its prior) when the item difficulty
#: is integrated out of the posteriors and of the label predictive.
DIFFICULTY_NODES = 7
#: Labels per chunk of the integrated passes (bounds their temporary arrays at scale).
_INTEGRATION_CHUNK = 500_000


def _log_joint_at(
    b: float,
    item: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    n_items: int,
    n_classes: int,
    alpha: np.ndarray,
    log_class_prior: np.ndarray,
) -> np.ndarray:
    """``log p(z_j = k, labels of j | alpha, b_j = b)`` for every item and class at one value ``b``
    shared by all items, shape (n_items, K); the labels in chunks of :data:`_INTEGRATION_CHUNK`."""
    log_k_minus_1 = float(np.log(n_classes - 1)) if n_classes > 1 else 0.0
    wrong_sum = np.zeros(n_items)
    extra = np.zeros(n_items * n_classes)
    for lo in range(0, item.size, _INTEGRATION_CHUNK):
        hi = lo + _INTEGRATION_CHUNK
        it, lab = item[lo:hi], label[lo:hi]
        right, wrong = log_sigmoids(alpha[worker[lo:hi]] * np.exp(b))
        wrong -= log_k_minus_1
        wrong_sum += np.bincount(it, weights=wrong, minlength=n_items)
        right -= wrong
        extra += np.bincount(it.astype(np.intp) * n_classes + lab, weights=right, minlength=extra.size)
    joint = extra.reshape(n_items, n_classes)
    joint += wrong_sum[:, None]
    joint += log_class_prior
    return joint


def _node_log_joints(
    item: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    n_items: int,
    n_classes: int,
    alpha: np.ndarray,
    prior: GaussianPrior,
    log_class_prior: np.ndarray,
) -> Iterator[tuple[float, np.ndarray]]:
    """For each node ``g`` of the grid over ``b`` (the prior's Gauss-Hermite nodes): ``(b_g, log w_g +
    log p(z_j = k, labels of j | alpha, b_j = b_g))``, the latter of shape (n_items, K), ``w_g`` the
    node's prior weight. Summing ``exp`` of these over the nodes integrates ``b_j`` over its prior."""
    nodes, log_weights = _difficulty_nodes(prior)
    for b, log_w in zip(nodes.tolist(), log_weights, strict=True):
        joint = _log_joint_at(b, item, worker, label, n_items, n_classes, alpha, log_class_prior)
        joint += log_w
        yield b, joint


#: :func:`fit_difficulty_prior`: the grid of ``b`` values it works on, the most items it looks at
#: (a spread and a mean need no more) and the range of the spread it fits.
DIFFICULTY_GRID = np.linspace(-5.0, 7.0, 121)
DIFFICULTY_PRIOR_ITEMS = 20_000
DIFFICULTY_PRIOR_SD = (0.1, 3.0)


def fit_difficulty_prior(
    data: Labels, alpha: np.ndarray, prior: GaussianPrior, log_class_prior: np.ndarray
) -> GaussianPrior:
    """The normal distribution of the items' ``b`` that the labels support, given ``alpha``
    (empirical Bayes): the mean and standard deviation that maximise the marginal likelihood of the
    items' labels, ``prod_j ∫ N(b; mean, sd) p(labels of j | alpha, b) db`` on a fixed grid of ``b``
    (:data:`DIFFICULTY_GRID`), found by a coarse then a fine search over the pairs. Items that differ
    little in difficulty give a narrow distribution, and GLAD's posteriors and predictions approach
    one-coin's; items that differ give a wide one. At most :data:`DIFFICULTY_PRIOR_ITEMS` items are
    used (evenly spaced over the labelled items in name order, so the same whatever the rows' order)."""
    labelled = np.flatnonzero(data.labels_per_item() > 0)
    if labelled.size < 2:
        return prior
    if labelled.size > DIFFICULTY_PRIOR_ITEMS:  # evenly spaced in name order: whatever the row order
        by_name = labelled[np.argsort(data.item_name_ranks()[labelled], kind="stable")]
        chosen = np.sort(by_name[:: labelled.size // DIFFICULTY_PRIOR_ITEMS])
    else:
        chosen = labelled
    keep = np.zeros(data.n_items, dtype=bool)
    keep[chosen] = True
    mask = keep[data.item]
    code = np.cumsum(keep) - 1
    item, worker, label = code[data.item[mask]], data.worker[mask], data.label[mask]
    grid = DIFFICULTY_GRID
    if _compiled(data):  # log p(labels of j | alpha, b_t), by one compiled pass
        log_lik = _compiled_node_log_joints(item, worker, label, chosen.size, alpha, grid, log_class_prior)
    else:
        log_lik = np.empty((chosen.size, grid.size))  # log p(labels of j | alpha, b_t)
        for t, b in enumerate(grid):
            joint = _log_joint_at(
                float(b), item, worker, label, chosen.size, data.n_classes, alpha, log_class_prior
            )
            top = joint.max(axis=1)
            log_lik[:, t] = top + np.log(np.exp(joint - top[:, None]).sum(axis=1))
    log_lik -= log_lik.max(axis=1, keepdims=True)
    lik = np.exp(log_lik)  # (items, grid), each row's largest entry 1

    def best_of(means: np.ndarray, sds: np.ndarray) -> tuple[float, float]:
        """The (mean, sd) pair of these candidates with the largest marginal log-likelihood."""
        m, d = np.meshgrid(means, sds, indexing="ij")
        weights = np.exp(-0.5 * ((grid[:, None] - m.ravel()[None, :]) / d.ravel()[None, :]) ** 2)
        weights /= weights.sum(axis=0, keepdims=True)  # each candidate's prior over the grid
        total = np.log(np.maximum(lik @ weights, 1e-300)).sum(axis=0)
        top = int(np.argmax(total))
        return float(m.ravel()[top]), float(d.ravel()[top])

    # a coarse search over the candidates, then a finer one around the best
    low, high = DIFFICULTY_PRIOR_SD
    mean, sd = best_of(np.linspace(grid[0] + 2, grid[-1] - 2, 25), np.geomspace(low, high, 16))
    step_mean, step_sd = (grid[-1] - grid[0] - 4) / 24, (high / low) ** (1 / 15)
    mean, sd = best_of(
        np.linspace(mean - step_mean, mean + step_mean, 13),
        np.clip(np.geomspace(sd / step_sd, sd * step_sd, 13), low, high),
    )
    return GaussianPrior(mean, sd, "beta")


def difficulty_integrated_posteriors(
    data: Labels,
    alpha: np.ndarray,
    prior: GaussianPrior,
    log_class_prior: np.ndarray,
    gold: np.ndarray | None = None,
) -> np.ndarray:
    """Each item's posterior over its class with its difficulty ``b_j`` integrated over its prior
    rather than fixed at its MAP value, given the annotators' ``alpha``, shape (n_items, K):
    ``q_j(k) ∝ pi_k ∫ N(b; prior) prod_o P(l_o | k, alpha_o, b) db`` on a Gauss-Hermite grid.

    An item has one ``b_j`` and a handful of labels: its MAP value, fitted to those very labels,
    follows them (unanimous labels make the item "easy", and the posterior near certain), and the
    posterior that treats it as known overstates how sure the labels make us. Integrating ``b_j``
    out is the posterior of the same model without that overfit.
    """
    if _compiled(data):
        nodes, log_weights = _difficulty_nodes(prior)
        running = _compiled_node_log_joints(
            data.item, data.worker, data.label, data.n_items, alpha, nodes, log_class_prior, log_weights
        )
        return normalize(running, gold)[0]
    running = None
    for _, joint in _node_log_joints(
        data.item, data.worker, data.label, data.n_items, data.n_classes, alpha, prior, log_class_prior
    ):
        running = joint if running is None else np.logaddexp(running, joint, out=running)
    assert running is not None
    return normalize(running, gold)[0]


def _compiled(data: Labels) -> bool:
    """Whether the passes over ``data``'s labels after the fit (the difficulty's integration and its
    prior's fit) run on the compiled kernels: by the rule of ``engine="auto"``."""
    return resolve_engine("auto", data.n_labels, "emcrowd.models.classification._glad_kernels") == "numba"


def _difficulty_nodes(prior: GaussianPrior) -> tuple[np.ndarray, np.ndarray]:
    """The values of ``b`` at the Gauss-Hermite nodes under ``prior`` and their log weights."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(DIFFICULTY_NODES)
    return prior.mean + prior.sd * nodes, np.log(weights / weights.sum())


#: :func:`_compiled_node_log_joints` makes its tables for every annotator up to this many entries.
_TABLE_ENTRIES = 1 << 20


def _compiled_node_log_joints(
    item: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    n_items: int,
    alpha: np.ndarray,
    b_values: np.ndarray,
    log_class_prior: np.ndarray,
    log_weights: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`._glad_kernels.node_log_joints` on the labels (grouped by item first when they are
    not) at the values ``b_values`` of ``b`` shared by all items: with ``log_weights``, the joint
    with ``b_j`` integrated, shape (n_items, K); without, ``log p(labels of j | b_j = b_t)``, shape
    (n_items, len(b_values)). Each annotator's terms are computed once per value of ``b``, by
    :func:`log_sigmoids` (for the annotators that appear, when there are many)."""
    from emcrowd.models.classification import _glad_kernels as kernels

    n_classes = log_class_prior.size
    b_values = np.asarray(b_values, dtype=float)
    if alpha.size * b_values.size > _TABLE_ENTRIES:  # tables for the annotators that appear only
        used = np.flatnonzero(np.bincount(worker, minlength=alpha.size))
        code = np.zeros(alpha.size, dtype=np.int32)
        code[used] = np.arange(used.size, dtype=np.int32)
        alpha, worker = alpha[used], code[worker]
    right, wrong = log_sigmoids(np.outer(alpha, np.exp(b_values)))
    wrong -= float(np.log(n_classes - 1)) if n_classes > 1 else 0.0
    codes = (a if a.flags.writeable else a.copy() for a in (item, worker, label))
    indptr, worker, label = kernels.group_by_item(*codes, n_items)
    weights = np.zeros(0) if log_weights is None else np.asarray(log_weights, dtype=float)
    return kernels.node_log_joints(
        indptr, worker, label, right, wrong, np.ascontiguousarray(log_class_prior, dtype=float), weights
    )


class GLAD(EMAggregator):
    """GLAD aggregation of crowd labels, fitted by MAP-EM.

    Parameters
    ----------
    alpha_prior : (float, float)
        Mean and standard deviation of the Gaussian prior on each annotator's ability ``alpha``. The
        positive mean says "annotators are better than chance until shown otherwise". The fit starts
        from each annotator's agreement with majority vote (see :meth:`_start_abilities`), not from
        this mean, which keeps it away from the sign-flipped solution whatever the mean.
    beta_prior : (float, float)
        Mean and standard deviation of the Gaussian prior on ``b = log beta`` (log inverse difficulty).
        Without priors, unanimous items and perfect annotators drive ``alpha * beta`` to infinity.
    engine : {"auto", "numpy", "numba"}
        How the passes over the labels are computed: with NumPy array operations, or with compiled
        numba kernels that keep nothing per label (several times faster and far smaller on millions of
        labels, but importing numba takes about 0.7 s). ``"auto"`` uses numba from
        ``_observations.NUMBA_MIN_LABELS`` labels on. Both give the same fit (to rounding).
    max_sweeps : int
        The most sweeps (an alpha step, then a b step) per M-step. 1 (the default) is one Newton step
        per block and EM iteration (a generalised EM: one pass over the labels per iteration on the
        compiled engine). With more, an M-step stops once a sweep gains little (see
        ``SWEEP_TOL_FACTOR`` and ``SWEEP_SHARE``): fewer iterations, more passes.
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
    accuracy_ : ndarray of shape (n_workers,)
        Each annotator's probability of naming the true class on a typical item:
        ``sigmoid(alpha_i * exp(median(b_j)))``, the median over the items with at least one label.
        Chance is ``1 / n_classes``: with more than two classes a negative ``alpha`` (accuracy below
        1/2) can still be better than chance.
    engine_ : str
        The engine that ran: ``"numpy"`` or ``"numba"``.
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
        engine: str = "auto",
        max_sweeps: int = 1,
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
        self.alpha_prior = alpha_prior
        self.beta_prior = beta_prior
        self.engine = engine
        self.max_sweeps = max_sweeps

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
        sweeps = self.max_sweeps
        if isinstance(sweeps, bool) or not isinstance(sweeps, (int, np.integer)) or sweeps < 1:
            raise EmcrowdError(f"max_sweeps must be a positive integer, got {self.max_sweeps!r}")
        self._max_sweeps = int(self.max_sweeps)
        self.engine_ = resolve_engine(
            self.engine, data.n_labels, "emcrowd.models.classification._glad_kernels"
        )
        if self.engine_ == "numba":
            from emcrowd.models.classification import _glad_kernels as kernels

            # numba compiles read-only arrays as another type: copy them rather than compile again
            codes = (a if a.flags.writeable else a.copy() for a in (data.item, data.worker, data.label))
            self._obs = None
            self._groups = _ItemGroups(
                *kernels.group_by_item(*codes, data.n_items),
                log_k_minus_1=float(np.log(data.n_classes - 1)),
            )
        else:
            self._obs = _Observations.from_labels(data)
            self._groups = None
        if getattr(self, "_warm", None) is None:  # (a warm start sets its own, in _warm_posteriors)
            self._start = (self._start_abilities(data), np.full(data.n_items, self._b_p.mean))

    def _start_abilities(self, data: Labels) -> np.ndarray:
        """Each annotator's starting ``alpha``: the one under which, at the prior mean of ``b``, its
        probability of naming the true class equals its agreement with the other annotators,
        ``logit((agree_i + 1) / (n_i + 2)) / exp(mean of b)``. ``agree_i`` sums, over its labels, the
        share of the item's other labels that name the same class, and ``n_i`` counts its labels on
        items with other labels. Leaving its own label out matters: counted in, an adversary on items
        with few labels looks like a coin (alpha near 0) instead of worse."""
        if self._groups is not None:  # the compiled engine: one pass over the grouped labels
            from emcrowd.models.classification import _glad_kernels as kernels

            g = self._groups
            agree, n = kernels.agreement_counts(g.indptr, g.worker, g.label, data.n_workers, data.n_classes)
        else:
            agree, n = agreement_counts(
                data.item, data.worker, data.label, data.n_items, data.n_workers, data.n_classes
            )
        return abilities_from_agreement(agree, n, self._b_p.mean)

    def _initial_posteriors(self, data: Labels) -> np.ndarray:
        # The first posteriors are the E-step at the starting parameters: majority vote weighted by
        # each annotator's agreement with it. (Starting instead from the plain majority-vote shares
        # and alpha at its prior mean lets the first, exact M-step settle hard items on a worse
        # optimum: on the temp data set about 100 lower in the objective.)
        alpha, b = self._start
        log_pi = self._first_log_pi(data.n_classes)
        if self._groups is not None:
            from emcrowd.models.classification import _glad_kernels as kernels

            g = self._groups
            codes = (g.indptr, g.worker, g.label)
            joint = kernels.log_likelihoods(*codes, alpha, b, data.n_classes, g.log_k_minus_1)
            return normalize(joint + log_pi)[0]
        return posteriors_and_log_likelihood(alpha, b, self._obs, log_pi)[0]

    def _warm_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return {"alpha": self.alpha_}, {"b": self.b_}

    def _warm_posteriors(self, data: Labels, warm: Any) -> np.ndarray:
        # known annotators and items at their previous alpha and b; a new annotator at its agreement
        # start (as in a cold start), a new item at the prior mean of b
        from emcrowd.models._warm import match

        where = match(warm.worker_names, data.worker_names)
        known = where >= 0
        if known.all():  # (the agreement start, a pass over the labels, only for new annotators)
            alpha = warm.workers["alpha"][where].astype(float)
        else:
            alpha = self._start_abilities(data)
            alpha[known] = warm.workers["alpha"][where[known]]
        self._start = (alpha, warm.item_array("b", data.item_names, self._b_p.mean))
        return self._initial_posteriors(data)

    def _initial_params(self, data: Labels) -> _GLADState:
        alpha, b = self._start
        return _GLADState(alpha=alpha.copy(), b=b.copy())

    def _m_step(self, data: Labels, posteriors: np.ndarray, state: _GLADState) -> _GLADState:
        if self._groups is not None:
            # The numba engine does the M-step and the E-step in one pass over the labels, which
            # needs the E-step's class prior and gold labels: it runs in _e_step.
            state.q = np.ascontiguousarray(posteriors, dtype=np.float64)
            return state
        obs = self._obs
        w = posteriors.ravel()[obs.item_label]
        ap, bp = self._alpha_p, self._b_p
        alpha, b = state.alpha, state.b
        # The E-step just evaluated the labels at (alpha, b); each block's accepted trial is the next
        # block's starting point and, at the end, the E-step's: one evaluation per block and step.
        ev = state.ev if state.ev is not None else LabelEval.at(alpha, b, obs)

        # Block 1: alpha given b. Concave in each alpha_i: a Newton step per annotator.
        def alpha_trial(a: np.ndarray, only: np.ndarray | None = None) -> tuple[np.ndarray, LabelEval | None]:
            if only is not None:
                return _subset_values(a, b, obs, w, ap, obs.worker, only), None
            e = LabelEval.at(a, b, obs)
            return alpha_block_values(a, b, obs, w, ap, e), e

        # Block 2: b given alpha. Not always concave in b_j: take the Newton curvature where it is
        # clearly negative, else half the Fisher curvature (always negative); the halving guards both.
        def b_trial(bb: np.ndarray, only: np.ndarray | None = None) -> tuple[np.ndarray, LabelEval | None]:
            if only is not None:
                return _subset_values(alpha, bb, obs, w, bp, obs.item, only), None
            e = LabelEval.at(alpha, bb, obs)
            return b_block_values(alpha, bb, obs, w, bp, e), e

        values = alpha_block_values(alpha, b, obs, w, ap, ev)
        threshold = self._sweep_threshold(float(values.sum() + bp.log_pdf(b).sum()))
        total = 0.0
        for sweep in range(1, self._max_sweeps + 1):
            grad, curv = alpha_derivatives(alpha, b, obs, w, ap, ev)
            alpha, new_values, ev = _guarded_newton(alpha, grad, curv, values, alpha_trial)
            gain = float((new_values - values).sum())
            ev = ev if ev is not None else LabelEval.at(alpha, b, obs)

            grad, newton, fisher = b_derivatives(alpha, b, obs, w, bp, ev)
            values = b_block_values(alpha, b, obs, w, bp, ev)
            b, new_values, ev = _guarded_newton(b, grad, np.minimum(newton, 0.5 * fisher), values, b_trial)
            gain += float((new_values - values).sum())
            ev = ev if ev is not None else LabelEval.at(alpha, b, obs)
            total += gain
            if self._last_sweep(gain, total, threshold, sweep):
                break
            values = alpha_block_values(alpha, b, obs, w, ap, ev)
        state.alpha, state.b, state.ev, state.sweeps = alpha, b, ev, sweep
        return state

    def _last_sweep(self, gain: float, total: float, threshold: float, sweep: int) -> bool:
        """Whether the M-step stops after this sweep, which gained ``gain`` (of ``total`` so far)."""
        return gain <= max(threshold, SWEEP_SHARE * total) or sweep >= self._max_sweeps

    def _sweep_threshold(self, objective: float) -> float:
        """The gain below which a sweep ends the M-step, at this scale of the M-step objective: what
        the EM loop's tolerance would call no change."""
        return max(SWEEP_TOL_FACTOR * float(self.tol), MIN_SWEEP_TOL) * abs(objective)

    def _e_step(
        self, data: Labels, state: _GLADState, log_pi: np.ndarray, gold: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        if self._groups is None or state.q is None:
            return super()._e_step(data, state, log_pi, gold)
        posteriors, evidence = self._em_step_kernels(state, log_pi, gold)
        return posteriors, self._objective(evidence, state, log_pi)

    def _em_step_kernels(
        self, state: _GLADState, log_pi: np.ndarray, gold: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        """The NumPy engine's M-step (sweeps of an alpha step, then a b step) followed by the exact
        E-step, by the compiled passes of :mod:`._glad_kernels`: usually one pass over the labels per
        sweep. Every pass also makes the E-step at its result, used when that sweep is the last."""
        g = self._groups
        passes = _KernelPasses(g, state.b, state.q, log_pi, gold, self._b_p, reuse=True)
        passes.sweep_sums = self._max_sweeps > 1
        evidence = self._kernel_m_step(state, passes)
        new_q, log_lik = passes.result()
        state.b, state.log_lik, state.q = passes.b, log_lik, None
        return new_q, evidence

    def _kernel_m_step(self, state: _GLADState, passes: Any) -> float:
        """The M-step and E-step of :meth:`_em_step_kernels` over ``passes``, the labels' passes at
        the current ``b`` and posteriors: those of all the items in memory (:class:`_KernelPasses`)
        or the sums over the partitions of a data set (:mod:`emcrowd.distributed`). The same steps,
        tests and stopping rules either way. Updates ``state.alpha``, ``state.alpha_sums`` and
        ``state.sweeps``; returns the log evidence of the E-step."""
        ap = self._alpha_p
        alpha = state.alpha
        every = np.ones(alpha.size, dtype=bool)
        if state.alpha_sums is None:  # the first iteration: the labels have not been seen yet
            state.alpha_sums = tuple(passes.alpha_sums(alpha, every, True).T)
        sums = state.alpha_sums
        found: dict[str, Any] = {}

        def em_pass(a: np.ndarray) -> np.ndarray:
            """The b block given ``a``, the E-step and the alpha sums in one pass; returns the
            alpha-block values at ``a`` (gathered on the way)."""
            total, found["evidence"], found["b_gain"] = passes.em_pass(a)
            found["next_step"] = (total[:, 1].copy(), total[:, 2].copy(), total[:, 3].copy())
            found["next_sweep"] = (total[:, 4].copy(), total[:, 5].copy(), total[:, 6].copy())
            return total[:, 0].copy()

        def alpha_trial(a: np.ndarray, only: np.ndarray | None = None) -> tuple[np.ndarray, None]:
            if only is None:  # the full step: evaluated by the pass, whose b block is right if it is taken
                found["trial"] = a
                return em_pass(a) + ap.log_pdf(a), None
            return passes.alpha_sums(a, only, False)[:, 0] + ap.log_pdf(a), None

        values = sums[0] + ap.log_pdf(alpha)
        threshold = self._sweep_threshold(float(values.sum() + passes.b_log_prior()))
        total = 0.0
        for sweep in range(1, self._max_sweeps + 1):
            found.pop("trial", None)
            grad = sums[1] + ap.grad(alpha)
            curv = ap.curvature - sums[2]
            alpha, new_values, _ = _guarded_newton(alpha, grad, curv, values, alpha_trial)
            if "trial" not in found or not np.array_equal(alpha, found["trial"]):
                em_pass(alpha)  # some annotators kept their old alpha (or none moved): pass again
            gain = float((new_values - values).sum()) + found["b_gain"]
            passes.accept()  # the last pass's b block is the new b
            total += gain
            if self._last_sweep(gain, total, threshold, sweep):
                break
            sums = found["next_sweep"]
            values = sums[0] + ap.log_pdf(alpha)
        state.alpha, state.alpha_sums, state.sweeps = alpha, found["next_step"], sweep
        return found["evidence"]

    def _log_likelihoods(self, data: Labels, state: _GLADState) -> np.ndarray:
        if self._groups is not None:
            if state.log_lik is None:  # an extrapolated point (see _unpack_params): one pass
                from emcrowd.models.classification import _glad_kernels as kernels

                g = self._groups
                state.log_lik = kernels.log_likelihoods(
                    g.indptr, g.worker, g.label, state.alpha, state.b, data.n_classes, g.log_k_minus_1
                )
            return state.log_lik
        if state.ev is None:
            state.ev = LabelEval.at(state.alpha, state.b, self._obs)
        return log_joint(state.alpha, state.b, self._obs, np.zeros(data.n_classes), state.ev)

    def _log_param_prior(self, state: _GLADState) -> float:
        return float(self._alpha_p.log_pdf(state.alpha).sum() + self._b_p.log_pdf(state.b).sum())

    def _pack_params(self, state: _GLADState) -> np.ndarray | None:
        return np.concatenate([state.alpha, state.b])  # alpha and b = log beta are unconstrained

    def _unpack_params(self, vector: np.ndarray, like: _GLADState) -> _GLADState:
        # a fresh state: nothing cached at these parameters (the E-step and the next M-step make it)
        n = like.alpha.size
        return _GLADState(alpha=vector[:n].copy(), b=vector[n:].copy())

    def _store(self, data: Labels, state: _GLADState) -> None:
        self._fit_data = data  # for label_proba's curvatures
        self.difficulty_prior_ = None  # fitted by integrate_difficulty (or label_proba) on demand
        if hasattr(self, "map_posteriors_"):
            del self.map_posteriors_
        self.alpha_ = state.alpha
        self.b_ = state.b
        self.beta_ = np.exp(state.b)
        self.accuracy_ = typical_accuracy(state.alpha, state.b, data.labels_per_item() > 0)

    def integrate_difficulty(self, data: Labels, gold: np.ndarray | None = None) -> GLAD:
        """Replace the fitted posteriors (and labels) by :func:`difficulty_integrated_posteriors` at the
        fitted ``alpha`` and class prior; ``data`` and ``gold`` are those given to ``fit``. The MAP-EM
        posteriors stay in ``map_posteriors_``. :func:`emcrowd.analysis.aggregate.aggregate` does this
        for every GLAD fit it reports (better calibrated posteriors: see the module notes)."""
        self._check_fitted()
        self.map_posteriors_ = self.posteriors_
        gold = self._check_gold(gold, data)
        log_pi = np.log(np.maximum(self.class_prior_, 1e-300))
        self.difficulty_prior_ = fit_difficulty_prior(data, self.alpha_, self._b_p, log_pi)
        self.posteriors_ = difficulty_integrated_posteriors(
            data, self.alpha_, self.difficulty_prior_, log_pi, gold
        )
        self.labels_ = np.argmax(self.posteriors_, axis=1)
        return self

    def _label_proba(self, item: np.ndarray, worker: np.ndarray) -> np.ndarray:
        """The label distribution with the item's ``b_j`` integrated over its posterior given the item's
        other labels (on the grid of :func:`difficulty_integrated_posteriors`), and ``alpha_i`` over
        its Laplace posterior ``N(alpha_hat, -1/curv)`` by Gauss-Hermite quadrature.

        Plugging in the MAP ``b_j``, fitted on the item's few labels, would overstate how surely the
        next annotator agrees with them (a unanimous item looks easy).
        """
        data = self._fit_data
        obs = _Observations.from_labels(data)
        w = self.map_posteriors_.ravel()[obs.item_label] if hasattr(self, "map_posteriors_") else None
        if w is None:
            w = self.posteriors_.ravel()[obs.item_label]
        _, curv_alpha = alpha_derivatives(self.alpha_, self.b_, obs, w, self._alpha_p)
        sd_alpha = np.sqrt(-1.0 / curv_alpha)[worker]
        alpha = self.alpha_[worker]
        k = data.n_classes
        log_pi = np.log(np.maximum(self.class_prior_, 1e-300))
        if getattr(self, "difficulty_prior_", None) is None:
            self.difficulty_prior_ = fit_difficulty_prior(data, self.alpha_, self._b_p, log_pi)
        prior = self.difficulty_prior_
        joints = list(
            _node_log_joints(data.item, data.worker, data.label, data.n_items, k, self.alpha_, prior, log_pi)
        )
        log_z = joints[0][1]
        for _, joint in joints[1:]:
            log_z = np.logaddexp(log_z, joint)
        log_z = np.logaddexp.reduce(log_z, axis=1)[item]  # log p(labels of j), per scored label
        out = np.zeros((item.size, k))
        for b, joint in joints:
            share = np.exp(joint[item] - log_z[:, None])  # p(z_j = k, b_j = b | labels of j)
            right = np.zeros(item.size)
            for y, wy in zip(_GH_NODES, _GH_WEIGHTS, strict=True):
                right += wy * np.exp(log_sigmoids((alpha + sd_alpha * y) * np.exp(b))[0])
            node_total = share.sum(axis=1, keepdims=True)
            wrong = ((1.0 - right) / max(k - 1, 1))[:, None]
            out += share * right[:, None] + (node_total - share) * wrong
        return out
