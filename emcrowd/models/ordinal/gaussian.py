"""Ordinal Dawid-Skene: each annotator's confusion over grades is a discretised Gaussian.

Annotator ``i`` gives grade ``l`` to an item of true grade ``k`` with probability

    P(l | k, i) = exp(-(l - k - b_i)^2 / (2 s_i^2)) / Z_ik,      l, k in 0..K-1,

where ``b_i`` is the annotator's **bias** (in grades: +0.5 rates half a grade high on average before the
ends of the scale cut it off) and ``s_i`` its **spread** (small: precise; large: close to random).
``Z_ik`` sums the numerator over the ``K`` grades, so the ends of the scale are handled exactly. Two
numbers per annotator instead of Dawid-Skene's ``K (K - 1)``: a 3-for-2 confusion is likelier than a
3-for-0 one for every annotator, and an annotator with ten labels is still well estimated. (Close in
spirit to the ordinal annotator models of Lakshminarayanan and Teh, 2013, in which an annotator's
grade is a biased, noisy reading of the item's.) With ``exact_scale`` > 0 each annotator also has a
log-odds bonus of the exact grade, and with ``lean_scale`` > 0 a log-odds lean towards each grade
whatever the truth (:class:`OrdinalDawidSkene`).

Fitting: the E-step is Dawid-Skene's, with ``log P(l | k, i)`` as the confusion matrices, on the same
passes over the labels (compiled on large inputs, :mod:`emcrowd.models.classification.
_confusion_kernels`). The M-step needs only each annotator's expected confusion counts ``C_i[k, l]`` (a
``K x K`` table): in the natural parameters ``eta_i = (b_i / s_i^2, 1 / s_i^2, e_i, c_i(0), ...,
c_i(K - 1))`` the row ``P(. | k, i)`` is an exponential family in ``(l - k, -(l - k)^2 / 2, [l = k],
[l = 0], ..., [l = K - 1])``, so the expected log-likelihood ``sum_kl C_i[k, l] log P(l | k, i)`` is
concave in ``eta_i``; a few damped Newton steps per annotator
(each kept only when it does not lower that annotator's term) raise it, which keeps EM's objective
non-decreasing (a generalised EM). A pseudo-count ``smoothing`` in every cell (as Dawid-Skene's) is the
prior: it keeps a perfect annotator's spread finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models.classification._observations import confusion_counts, confusion_e_step
from emcrowd.models.classification.dawid_skene import DawidSkene

#: Bounds of the precision ``1 / s^2``: spread at most 1000 grades (an annotator answering at random)
#: and at least 0.01 grade (a perfect one, when ``smoothing`` is 0).
MIN_PRECISION = 1e-6
MAX_PRECISION = 1e4
#: Newton steps per M-step, and step halvings per Newton step.
NEWTON_STEPS = 8
HALVINGS = 20
#: The default prior sd of the leans (``lean_scale``).
LEAN_SCALE = 0.5


@dataclass(frozen=True)
class _Params:
    eta: np.ndarray  # (n_workers, 2): bias / spread^2, 1 / spread^2
    log_theta: np.ndarray  # (n_workers, K, K): log P(label l | true k)


def _offsets(n_classes: int) -> np.ndarray:
    """``x[k, l] = l - k``, shape (K, K)."""
    grades = np.arange(n_classes, dtype=float)
    return grades[None, :] - grades[:, None]


def _features(n_classes: int, lean: bool = False) -> np.ndarray:
    """The sufficient statistics of each cell, shape (S, K, K): ``l - k``, ``-(l - k)^2 / 2`` and
    ``[l = k]``; with ``lean``, also ``[l = g]`` for every grade ``g`` (S = 3 + K)."""
    x = _offsets(n_classes)
    parts = [x, -0.5 * x * x, (x == 0).astype(float)]
    if lean:
        grades = np.arange(n_classes)
        parts += [np.broadcast_to((grades == g).astype(float), x.shape) for g in range(n_classes)]
    return np.stack(parts)


def log_confusion(eta: np.ndarray, n_classes: int) -> np.ndarray:
    """``log P(l | k, i)`` for natural parameters ``eta`` (n_workers, 3), or (n_workers, 3 + K) with
    each annotator's lean towards every grade, shape (n_workers, K, K)."""
    logits = np.einsum("is,skl->ikl", eta, _features(n_classes, eta.shape[1] > 3))
    top = logits.max(axis=2, keepdims=True)
    return logits - (top + np.log(np.exp(logits - top).sum(axis=2, keepdims=True)))


def natural_params(
    bias: np.ndarray, spread: np.ndarray, exact: np.ndarray | None = None, lean: np.ndarray | None = None
) -> np.ndarray:
    """``eta`` (n, 3) from biases and spreads (grades) and the log-odds bonus of the exact grade (0 by
    default: a plain discretised Gaussian); with ``lean`` (n, K), each annotator's log-odds lean
    towards each grade whatever the truth, ``eta`` is (n, 3 + K)."""
    precision = 1.0 / np.asarray(spread, dtype=float) ** 2
    exact = np.zeros_like(precision) if exact is None else np.asarray(exact, dtype=float)
    eta = np.stack([np.asarray(bias, dtype=float) * precision, precision, exact], axis=1)
    return eta if lean is None else np.concatenate([eta, np.asarray(lean, dtype=float)], axis=1)


def _worker_terms(weights: np.ndarray, log_theta: np.ndarray) -> np.ndarray:
    """Each annotator's ``sum_kl weights[i, k, l] log_theta[i, k, l]``, shape (n_workers,)."""
    return np.einsum("ikl,ikl->i", weights, log_theta)


def _prior_precisions(n_stats: int, exact_scale: float, lean_scale: float) -> np.ndarray:
    """The normal priors' precisions of the natural parameters, shape (n_stats,): none on the bias
    and spread, ``1 / exact_scale^2`` on the exact-grade bonus, ``1 / lean_scale^2`` on the leans
    (a scale of 0 holds that parameter at 0, and has no prior here)."""
    precisions = np.zeros(n_stats)
    if exact_scale > 0:
        precisions[2] = 1.0 / exact_scale**2
    if lean_scale > 0 and n_stats > 3:
        precisions[3:] = 1.0 / lean_scale**2
    return precisions


def exact_penalty(eta: np.ndarray, exact_scale: float, lean_scale: float = 0.0) -> np.ndarray:
    """Each annotator's log prior of its exact-grade bonus ``eta[:, 2]`` and its leans ``eta[:, 3:]``:
    normal with standard deviations ``exact_scale`` and ``lean_scale`` (up to a constant), shape (n,);
    zero for a scale of 0 (that parameter is held at 0)."""
    precisions = _prior_precisions(eta.shape[1], exact_scale, lean_scale)
    return -0.5 * (eta * eta) @ precisions


def fit_bias_spread(
    weights: np.ndarray, eta: np.ndarray, exact_scale: float = 1.0, lean_scale: float = 0.0
) -> np.ndarray:
    """Raise every annotator's ``sum_kl weights[i, k, l] log P(l | k; eta_i)`` plus the log prior of
    its exact-grade bonus and leans (:func:`exact_penalty`) from ``eta`` (n, 3) or (n, 3 + K).

    Damped Newton steps on the concave objective; a step is kept for an annotator only when it does
    not lower that annotator's term, so the result is never worse than ``eta``. A scale of 0 holds
    that parameter at 0 (``exact_scale`` 0 and no leans: a plain discretised Gaussian).
    """
    n_classes = weights.shape[1]
    lean = eta.shape[1] > 3
    stats = _features(n_classes, lean)
    precisions = _prior_precisions(stats.shape[0], exact_scale, lean_scale)
    active = np.ones(stats.shape[0], dtype=bool)
    active[2] = exact_scale > 0
    active[3:] = lean_scale > 0
    out = np.zeros_like(eta)
    out[:, active] = _newton(weights, eta[:, active], stats[active], precisions[active])
    return out


def _newton(weights: np.ndarray, eta: np.ndarray, stats: np.ndarray, precisions: np.ndarray) -> np.ndarray:
    """:func:`fit_bias_spread` over the natural parameters of ``stats``, with normal priors of
    ``precisions`` (0: none) around 0."""
    n_stats, n_classes = stats.shape[0], stats.shape[1]
    # (einsum's own loops, not BLAS: these products are small, and threaded BLAS on them is slower)
    flat = stats.reshape(n_stats, -1)  # (S, K * K): the statistics over the cells
    # the products of every pair of statistics, per cell: the second moments in one product
    pairs = (flat[:, None, :] * flat[None, :, :]).reshape(n_stats * n_stats, -1)  # (S * S, K * K)
    observed = np.einsum("ic,sc->is", weights.reshape(weights.shape[0], -1), flat)  # (n, S)
    rows = weights.sum(axis=2)  # (n, K): weight of each true grade

    def logp(eta: np.ndarray) -> np.ndarray:
        logits = np.einsum("is,sc->ic", eta, flat).reshape(-1, n_classes, n_classes)
        top = logits.max(axis=2, keepdims=True)
        return logits - (top + np.log(np.exp(logits - top).sum(axis=2, keepdims=True)))

    def penalty(eta: np.ndarray) -> np.ndarray:
        return -0.5 * (eta * eta) @ precisions

    eta = _clip(eta.copy())
    log_theta = logp(eta)
    current = _worker_terms(weights, log_theta) + penalty(eta)
    active = np.arange(eta.shape[0])  # annotators still moving
    for _ in range(NEWTON_STEPS):
        if active.size == 0:
            break
        p = np.exp(log_theta[active])  # (n, K, K)
        r = rows[active]
        # per true grade k, the mean of each statistic under the row P(. | k), (n, K, S)
        mean = np.einsum("ikl,skl->iks", p, stats, optimize=True)
        grad = observed[active] - np.einsum("ik,iks->is", r, mean, optimize=True)
        # minus the Hessian: sum_k r_k Cov_k(stats), as sum_kl r_k p_kl f_s f_t - sum_k r_k m_ks m_kt
        weighted = (p * r[:, :, None]).reshape(p.shape[0], -1)
        info = np.einsum("ic,qc->iq", weighted, pairs).reshape(-1, n_stats, n_stats)
        info -= np.matmul(np.swapaxes(mean * r[:, :, None], 1, 2), mean)
        info += 1e-9 * np.eye(n_stats)
        grad -= eta[active] * precisions
        info += np.diag(precisions)
        step = np.linalg.solve(info, grad[..., None])[..., 0]
        step = np.where(np.isfinite(step), step, 0.0)
        # the Newton decrement: what the step would gain on the quadratic model; below rounding, done
        gain = np.einsum("is,is->i", grad, step)
        moving = gain > 1e-12 * (1.0 + np.abs(current[active]))
        idx, step = active[moving], step[moving]
        # an annotator at a bound of the precision moves along it (else the clipped step is no step
        # at all, and every halving of it fails)
        low, high = eta[idx, 1] <= MIN_PRECISION, eta[idx, 1] >= MAX_PRECISION
        step[(low & (step[:, 1] < 0)) | (high & (step[:, 1] > 0)), 1] = 0.0
        t = np.ones(idx.size)
        accepted = np.zeros(idx.size, dtype=bool)
        for _ in range(HALVINGS):
            todo = np.flatnonzero(~accepted)
            if todo.size == 0:
                break
            trial = _clip(eta[idx[todo]] + t[todo, None] * step[todo])
            trial_log = logp(trial)
            value = _worker_terms(weights[idx[todo]], trial_log) + penalty(trial)
            better = value >= current[idx[todo]]
            keep = idx[todo[better]]
            eta[keep], log_theta[keep], current[keep] = trial[better], trial_log[better], value[better]
            accepted[todo[better]] = True
            t[todo[~better]] *= 0.5
        active = idx[accepted]
    return eta


def _clip(eta: np.ndarray) -> np.ndarray:
    eta[:, 1] = np.clip(eta[:, 1], MIN_PRECISION, MAX_PRECISION)
    return eta


class OrdinalDawidSkene(DawidSkene):
    """Dawid-Skene for ordered grades: each annotator's confusion is a discretised Gaussian over the
    grades, with a bias and a spread (two numbers per annotator), fitted by (generalised) MAP-EM.

    The classes are the grades in code order, lowest first. Numeric labels are in numeric order as
    read; text grades are in alphabetical order unless their order is declared: read them with
    :func:`emcrowd.labels_from_frame` or :func:`emcrowd.read_labels` with ``ordinal=True`` and
    ``classes=[lowest, ..., highest]`` (the CLI's ``--ordinal --classes``, which ``--method ordinal-ds``
    requires).

    Parameters
    ----------
    exact_scale : float
        Each annotator may also give the exact grade more (or less) often than the Gaussian says: a
        log-odds bonus ``e_i`` on the diagonal, ``P(l | k, i)`` proportional to
        ``exp(-(l - k - b_i)^2 / (2 s_i^2) + e_i [l = k])``. Its prior is normal with this standard
        deviation; 0 holds it at 0 (a plain discretised Gaussian, two numbers per annotator). The bonus
        lets a precise annotator have heavier tails (an occasional wild grade) than a Gaussian allows.
    lean_scale : float
        Each annotator may lean towards some grades whatever the truth (answer G on most items): a
        log-odds lean ``c_i(l)`` per grade, ``P(l | k, i)`` also multiplied by ``exp(c_i(l))``. Its
        prior is normal with this standard deviation; 0 holds the leans at 0. The distance term
        still tells far grades apart, so an annotator who answers G on G and P items but X on X items
        is represented (a bias alone shifts every grade alike).
    smoothing : float
        Pseudo-count in every cell of every annotator's confusion (as Dawid-Skene's): the prior that
        keeps a perfect annotator's spread finite.
    engine : {"auto", "numpy", "numba"}
        How the passes over the labels run; see :class:`emcrowd.DawidSkene`.
    class_prior, learn_class_prior, class_pseudocount, tol, max_iter, n_init, random_state
        See :class:`emcrowd.models._base.EMAggregator`; the class prior is learned by default.

    Attributes
    ----------
    bias_ : ndarray of shape (n_workers,)
        Each annotator's shift in grades (positive: rates high).
    spread_ : ndarray of shape (n_workers,)
        Each annotator's spread in grades (the Gaussian's standard deviation before discretising).
    exact_bonus_ : ndarray of shape (n_workers,)
        Each annotator's log-odds bonus of the exact grade (0 with ``exact_scale=0``).
    lean_ : ndarray of shape (n_workers, n_classes)
        Each annotator's log-odds lean towards each grade (0 with ``lean_scale=0``); known up to what
        a bias and a spread also make (a lean linear in the grade is a bias), so read
        ``confusion_`` for what an annotator does.
    confusion_ : ndarray of shape (n_workers, n_classes, n_classes)
        ``confusion_[i, k, l]``: probability that annotator ``i`` says grade ``l`` when the truth is ``k``.
    accuracy_ : ndarray of shape (n_workers,)
        Each annotator's probability of giving the true grade.
    posteriors_, labels_, class_prior_, history_, lower_bound_, converged_, n_iter_, ...
        See :class:`emcrowd.models._base.EMAggregator`.
    """

    method = "ordinal_ds"

    def __init__(
        self, *, exact_scale: float = 1.0, lean_scale: float = LEAN_SCALE, **options: object
    ) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.exact_scale = exact_scale
        self.lean_scale = lean_scale

    def _prepare(self, data: Labels) -> None:
        for name in ("exact_scale", "lean_scale"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
                raise EmcrowdError(f"{name} must be a number >= 0, got {value!r}")
        super()._prepare(data)

    def _initial_params(self, data: Labels) -> _Params:
        eta = np.zeros((data.n_workers, 3 + (data.n_classes if self.lean_scale > 0 else 0)))
        eta[:, 1] = 1.0  # no bias, a spread of one grade
        return _Params(eta, log_confusion(eta, data.n_classes))

    def _m_step(self, data: Labels, posteriors: np.ndarray, params: _Params) -> _Params:
        counts = self._take_pending(posteriors)
        if counts is None:
            counts = confusion_counts(self._obs, posteriors)
        eta = fit_bias_spread(counts + self.smoothing, params.eta, self.exact_scale, self.lean_scale)
        return _Params(eta, log_confusion(eta, data.n_classes))

    def _e_step(
        self, data: Labels, params: _Params, log_pi: np.ndarray, gold: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        if self.engine_ == "numpy":
            posteriors, evidence = self._numpy_e_step(data, params, log_pi, gold)
        else:
            posteriors, evidence, counts = confusion_e_step(self._obs, params.log_theta, log_pi, gold)
            self._pending = (posteriors, counts)
        return posteriors, self._objective(evidence, params, log_pi)

    def _numpy_e_step(
        self, data: Labels, params: _Params, log_pi: np.ndarray, gold: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        from emcrowd.models._base import normalize

        return normalize(self._log_likelihoods(data, params) + log_pi, gold)

    def _log_likelihoods(self, data: Labels, params: _Params) -> np.ndarray:
        return super()._log_likelihoods(data, params.log_theta)

    def _pack_params(self, params: _Params) -> None:
        """Not accelerated (``accelerate`` is a no-op here): the M-step's damped Newton steps inside
        the precision bounds stop, from an extrapolated point, short of the plain fit's optimum
        (measured: 8e-6 of the objective below it at a tolerance of 1e-9)."""
        return None

    def _log_param_prior(self, params: _Params) -> float:
        prior = float(exact_penalty(params.eta, self.exact_scale, self.lean_scale).sum())
        return prior + (float(self.smoothing * params.log_theta.sum()) if self.smoothing else 0.0)

    def _store(self, data: Labels, params: _Params) -> None:
        self._pending = None
        eta = params.eta
        self.spread_ = 1.0 / np.sqrt(eta[:, 1])
        self.bias_ = eta[:, 0] / eta[:, 1]
        self.exact_bonus_ = eta[:, 2]
        self.lean_ = eta[:, 3:] if eta.shape[1] > 3 else np.zeros((eta.shape[0], data.n_classes))
        self.confusion_ = np.exp(params.log_theta)
        self.accuracy_ = np.einsum("ikk->ik", self.confusion_) @ self.class_prior_
