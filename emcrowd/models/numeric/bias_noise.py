"""Annotators with a bias and a noise: numeric answers aggregated by EM.

The model. Item ``j`` has a true value ``z_j ~ N(mu, tau^2)``. Annotator ``w`` answers item ``j`` with

    y = a_w + b_w * z_j + e,    e ~ N(0, s_w^2)

(``a_w`` the bias, ``s_w`` the noise sd, ``b_w`` the scale: fixed at 1 unless ``fit_scale``). The robust
variant (:class:`RobustBiasNoise`) adds, per annotator, a rate ``eps_w`` of answers given at random:
with probability ``eps_w`` an answer is drawn uniformly over the range of all answers instead, whatever
the item's value. There the noise variance is at most the answers' variance: a wider Gaussian is what
random answers are, and without the bound the two explain a random answerer equally well (EM then
crawls between them).

Weak priors keep annotators with few answers near the crowd: ``a_w ~ N(0, bias_prior_sd^2)`` (in units of
the answers' sd), ``b_w ~ N(1, scale_prior_sd^2)``, ``s_w^2`` inverse-gamma with the weight of
``noise_prior_labels`` answers at the pooled within-item variance, ``eps_w ~ Beta(2, 10)``, and a weak
inverse-gamma prior on ``tau^2``. ``mu`` has a flat prior.

The fit. Each iteration updates, in turn: (robust only) each answer's probability ``r_o`` of not being
random; each item's Gaussian posterior ``q(z_j) = N(m_j, v_j)``; each annotator's ``a_w, b_w`` (one weighted
least-squares solve), then ``s_w^2`` and ``eps_w``; then ``mu, tau^2``. Every update maximises the
objective

    F = E_q[log p(answers, z, random-answer indicators | params)] + H(q) + log p(params)

over its own block with the others fixed, so F never decreases. Without random answers ``q(z)`` is the
exact posterior, and F after the item update is the log posterior of the parameters (EM); with them it is
the variational lower bound of mean-field EM. Gold items have ``z_j`` fixed at their value.

An iteration is one compiled pass over the answers grouped by item (:mod:`._kernels`): per item, its
answers' responsibilities, its posterior, and its share of the annotators' sums, from which the
annotators' updates and the objective follow without another pass.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from emcrowd.errors import ConvergenceWarning, EmcrowdError
from emcrowd.models import _squarem
from emcrowd.models.numeric._api import NumericAggregator
from emcrowd.numeric_data import NumericLabels

LOG_2PI = math.log(2 * math.pi)
#: Beta prior of the random-answer rate (robust variant): about one random answer in ten pseudo-answers.
EPS_PRIOR = (2.0, 10.0)
#: Inverse-gamma prior of tau^2 (the spread of the true values): shape, and scale as a share of the
#: answers' variance. Weak: it only keeps tau^2 above zero.
TAU_PRIOR = (1.0, 0.01)
#: An annotator whose random-answer rate exceeds this is flagged as answering at random.
RANDOM_FLAG = 0.5
#: An extrapolation is tried unless EM's last gain was under this share of the one before (the
#: classification models' ``_squarem.SLOW_RATE`` is 0.5: here the cycle's three passes include the
#: EM step from the extrapolated point, which gains on its own, so it pays at faster rates too).
SLOW_RATE = 0.1


class BiasNoise(NumericAggregator):
    """Annotator bias-and-noise model for numeric answers, fitted by EM.

    Parameters
    ----------
    fit_scale : bool
        Also fit a scale per annotator (answers stretched or squeezed around the true value).
    bias_prior_sd : float
        Prior sd of the biases, in units of the answers' sd.
    scale_prior_sd : float
        Prior sd of the scales around 1.
    noise_prior_labels : float
        Weight of the noise prior, in answers: an annotator with this many answers has a noise sd
        halfway between the pooled one and their own.
    tol : float
        Stop when the objective's change is at most ``tol * |objective|``.
    max_iter : int
        Iteration limit (a ConvergenceWarning when it is reached).
    accelerate : bool
        Speed EM up by squared extrapolation (:mod:`emcrowd.models._squarem`) of the parameters and
        the items' posteriors, an extrapolated point kept only when it does not lower the objective.

    Attributes
    ----------
    estimate_, sd_ : ndarray (n_items,)
        Each item's posterior mean and sd (gold items: their value and 0).
    interval_ : ndarray (n_items, 2)
        The 95% posterior interval, estimate -+ 1.96 sd.
    bias_, noise_ : ndarray (n_workers,)
        Each annotator's offset and noise sd.
    scale_ : ndarray (n_workers,) or None
        Each annotator's scale (None unless ``fit_scale``).
    random_rate_ : ndarray (n_workers,)
        The share of each annotator's answers given at random (0 for the plain model).
    flagged_ : ndarray of bool (n_workers,)
        Annotators answering at random: random rate above 0.5, or a noise sd at least the spread of
        the true values.
    mu_, tau_ : float
        Mean and sd of the true values.
    history_ : list of float
        The objective after each iteration (never decreasing).
    converged_, n_iter_
        Whether ``tol`` was reached, and after how many iterations (the points in ``history_``).
    n_passes_ : int
        Passes over the answers the fit made: one per iteration, plus one per extrapolation that was
        tried and not kept.
    """

    method = "bias_noise"
    iterative = True
    robust = False

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        return {
            "fit_scale": False,
            "bias_prior_sd": 1.0,
            "scale_prior_sd": 0.5,
            "noise_prior_labels": 2.0,
            "tol": 1e-6,
            "max_iter": 500,
            "accelerate": True,
        }

    def _check(self) -> None:
        for name in ("bias_prior_sd", "scale_prior_sd", "noise_prior_labels"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise EmcrowdError(f"{name} must be a positive number, got {value!r}")
        if not (np.isfinite(self.tol) and self.tol >= 0):
            raise EmcrowdError(f"tol must be a non-negative number, got {self.tol!r}")
        if int(self.max_iter) != self.max_iter or self.max_iter < 1:
            raise EmcrowdError(f"max_iter must be a positive integer, got {self.max_iter!r}")

    def _fit_numeric(self, data: NumericLabels, gold: np.ndarray | None, callback: Any) -> None:
        from emcrowd.models.numeric import _kernels

        self._check()
        started = time.perf_counter()
        y, item, worker = data.value, data.item, data.worker
        n_items, n_workers = data.n_items, data.n_workers
        n_per_worker = data.labels_per_worker().astype(np.float64)
        label_var = float(y.var())
        if label_var <= 0:
            label_var = 1.0
        # the answers grouped by item: one pass per iteration does the items' update and the
        # annotators' sums over each item's answers while they are in cache
        indptr, g_worker, g_y = _kernels.group_by_item(item, worker, y, n_items)
        bounds = _kernels.item_bounds(indptr, _kernels.n_chunks(y.size))
        medians, within = _kernels.grouped_starts(indptr, g_y)
        within = float(y.var()) if np.isnan(within) else max(float(within), 0.0)
        if within <= 0:
            within = 1e-6 * label_var
        # hyperparameters, fixed from the data before the fit
        bias_var = (self.bias_prior_sd**2) * label_var
        scale_var = self.scale_prior_sd**2
        alpha0 = self.noise_prior_labels / 2.0
        beta0 = alpha0 * within
        alpha_t, beta_t = TAU_PRIOR[0], TAU_PRIOR[1] * label_var
        a_e, b_e = EPS_PRIOR
        span = float(y.max() - y.min())
        log_u = -math.log(span) if span > 0 else 0.0
        robust = self.robust
        known = np.zeros(n_items, dtype=bool) if gold is None else np.isfinite(gold)
        gold_values = np.where(known, gold, 0.0) if gold is not None else np.zeros(n_items)
        n_known = int(known.sum())
        free = ~known

        # start: the item medians as the values, no bias, the pooled noise
        m = medians
        counts = np.diff(indptr).astype(np.float64)
        empty = counts == 0
        mu = float(np.nanmean(m))
        m[empty] = mu
        v = np.where(empty, label_var, within / np.maximum(counts, 1))
        m[known], v[known] = gold_values[known], 0.0
        a = np.zeros(n_workers)
        b = np.ones(n_workers)
        s2 = np.full(n_workers, within)
        eps = np.full(n_workers, 0.05 if robust else 0.0)
        tau2 = max(float(np.var(m[~empty])) if (~empty).any() else label_var, 1e-12)
        worker_sums = np.zeros((n_workers, 10))
        center = float(y.mean())  # the moments are taken about the answers' mean (less cancellation)

        state = _State(a, b, s2, eps, mu, tau2, m, v)
        hyper = (bias_var, scale_var, alpha0, beta0, alpha_t, beta_t)
        passes = 0

        def iterate(st: _State) -> float:
            """One EM iteration from ``st`` (changed in place): a fused pass, then the M-step; returns
            the objective at the new point."""
            nonlocal passes
            passes += 1
            # one fused pass: (robust) the answers' responsibilities, the items' posteriors (after
            # the first pass, which starts from the medians), the annotators' sums under both
            _kernels.fused_pass(
                indptr, g_worker, g_y, robust, passes > 1, st.a, st.b, st.s2, st.mu, st.tau2, known,
                gold_values, st.m, st.v, st.eps, log_u, center, worker_sums, bounds,
            )  # fmt: skip
            n, syc, smc, smmc, smyc, entropy, syyc, n_g, syc_g, smc_g = worker_sums.T
            # the same sums about zero, for the bias-and-scale solve
            sy = syc + center * n
            sm = smc + center * n
            smm = smmc + 2 * center * smc + center * center * n
            smy = smyc + center * (smc + syc) + center * center * n
            # annotators: bias (and scale) by weighted least squares given the noise
            s2 = st.s2
            shrink_a = s2 / bias_var
            b = st.b
            if self.fit_scale:
                shrink_b = s2 / scale_var
                a11, a12, a22 = n + shrink_a, sm, smm + shrink_b
                r2 = smy + shrink_b
                det = a11 * a22 - a12 * a12
                a, b = (a22 * sy - a12 * r2) / det, (a11 * r2 - a12 * sy) / det
            else:
                a = (sy - sm) / (n + shrink_a)
            # the residual sums under the new bias and scale, from the moments: y - a - b m is
            # yc - a_c - b mc with a_c = a + (b - 1) center
            a_c = a + (b - 1.0) * center
            sq = syyc - 2 * a_c * syc - 2 * b * smyc + a_c * a_c * n + 2 * a_c * b * smc + b * b * smmc
            sq = np.maximum(sq, 0.0)
            resid_all = syc - a_c * n - b * smc
            resid_gold = syc_g - a_c * n_g - b * smc_g
            cross = (b - 1.0) * (resid_all - resid_gold) - resid_gold
            slope2 = (b - 1.0) ** 2 * (n - n_g) + n_g
            # then the noise and the random-answer rate
            s2 = (beta0 + 0.5 * sq) / (alpha0 + 1.0 + 0.5 * n)
            eps = st.eps
            if robust:
                # a Gaussian as wide as all the answers is what random answers are: the noise is at
                # most the answers' variance (the maximum over that fixed set, so still monotone)
                s2 = np.minimum(s2, label_var)
                eps = (n_per_worker - n + a_e - 1.0) / (n_per_worker + a_e + b_e - 2.0)
            # the true values' mean and spread
            m = st.m
            mu = float(m.mean())
            spread, log_v = _kernels.item_terms(m, st.v, known, mu)
            tau2 = (spread + 2 * beta_t) / (n_items + 2 * alpha_t + 2)
            # the exact step along the common level: every bias up by c, every free value and mu down
            # by c; the objective is quadratic in c (the sums above give its two coefficients)
            num = float((cross / s2).sum() + a.sum() / bias_var)
            den = float((slope2 / s2).sum() + n_workers / bias_var)
            gold_offset = float((m[known] - mu).sum()) if n_known else 0.0
            if n_known:
                num += gold_offset / tau2
                den += n_known / tau2
            c = -num / den
            if np.isfinite(c) and c != 0.0:
                a = a + c
                m[free] -= c
                mu -= c
                sq = sq + 2 * c * cross + c * c * slope2
                # (the free values keep their distance to mu; the gold values move by c from it)
                spread += 2 * c * gold_offset + n_known * c * c
            st.a, st.b, st.s2, st.eps, st.mu, st.tau2 = a, b, s2, eps, mu, tau2
            objective = self._objective(
                sq, n, entropy, n_per_worker, s2, eps, a, b, spread, log_v, n_items - n_known,
                n_items, tau2, log_u, hyper,
            )  # fmt: skip
            if not np.isfinite(objective):
                raise EmcrowdError(
                    f"{type(self).__name__}: the objective became {objective} at pass {passes}"
                )
            return objective

        history: list[float] = []
        converged = False

        def record(objective: float) -> None:
            history.append(objective)
            if callback is not None:
                callback(len(history), objective)

        # squared extrapolation (SQUAREM, :mod:`emcrowd.models._squarem`) of the whole point: the
        # annotators' parameters, the true values' mean and spread, and (robust: the responsibilities
        # are taken under them) the items' posteriors, in an unconstrained space. An extrapolated
        # point is followed by one EM iteration, and kept only when the objective there is at least
        # the plain step's: the history never decreases, and every point in it is one EM reached.
        pack = _Packer(free, self.fit_scale, robust, label_var)
        accelerate = bool(self.accelerate)
        step = _squarem.StepLength()
        points: list[np.ndarray] = []
        while len(history) < int(self.max_iter):
            objective = iterate(state)
            record(objective)
            if len(history) > 1 and abs(history[-1] - history[-2]) <= self.tol * abs(history[-2]):
                converged = True
                break
            if not accelerate or len(history) >= int(self.max_iter):
                continue
            points.append(pack.vector(state))
            if len(points) < 3:
                continue
            x0, x1, x2 = points
            points = [x2]
            gains = np.diff(history[-3:])
            if gains.size == 2 and gains[0] > 0 and gains[1] < SLOW_RATE * gains[0]:
                continue  # EM settles fast here: an extrapolation would likely cost more than it saves
            jump = _squarem.squared_step(x0, x1, x2, step.bound)
            if jump is None:
                continue
            x, a_step = jump
            trial = pack.state(x, state)
            trial_objective = iterate(trial)
            if trial_objective >= objective:
                step.accepted(a_step)
                state = trial
                record(trial_objective)
                points = [pack.vector(state)]
            else:
                step.rejected()
        n_iter = len(history)
        a, b, s2, eps, mu, tau2, m, v = (
            state.a, state.b, state.s2, state.eps, state.mu, state.tau2, state.m, state.v
        )  # fmt: skip
        # the item posteriors under the final parameters
        _kernels.fused_pass(
            indptr, g_worker, g_y, robust, True, a, b, s2, mu, tau2, known, gold_values, m, v, eps,
            log_u, center, worker_sums, bounds, accumulate=False,
        )  # fmt: skip
        if not converged:
            warnings.warn(
                f"{type(self).__name__} did not converge in {self.max_iter} iterations "
                f"(relative change above tol={self.tol:g}); raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.estimate_, self.sd_ = m, np.sqrt(v)
        self.bias_, self.noise_ = a, np.sqrt(s2)
        self.scale_ = b if self.fit_scale else None
        self.random_rate_ = eps
        self.mu_, self.tau_ = mu, math.sqrt(tau2)
        self.flagged_ = (eps > RANDOM_FLAG) | (np.sqrt(s2) >= math.sqrt(tau2) * np.abs(b))
        self.flagged_ &= n_per_worker >= 2
        self.history_, self.converged_, self.n_iter_ = history, converged, n_iter
        self.n_passes_ = passes
        self.fit_seconds_ = time.perf_counter() - started

    def _objective(
        self, sq, n, entropy, n_per_worker, s2, eps, a, b, spread, log_v, n_free, n_items, tau2, log_u, hyper
    ):  # fmt: skip
        """The objective F (see the module's docstring) at the current q and parameters, from the
        annotators' sums: ``sq`` (sum of r * E[residual^2]), ``n`` (sum of r), ``entropy`` (of r),
        and the items': ``spread`` (sum of E[(z - mu)^2]), ``log_v`` (sum of log v over the
        ``n_free`` items not gold, of ``n_items``)."""
        bias_var, scale_var, alpha0, beta0, alpha_t, beta_t = hyper
        total = float((-0.5 * n * (LOG_2PI + np.log(s2)) - sq / (2.0 * s2)).sum())
        if self.robust:
            total += float((n * np.log1p(-eps) + (n_per_worker - n) * (np.log(eps) + log_u) + entropy).sum())
        # the true values: E log N(z; mu, tau2) + entropy of q(z) (gold items: their value, no entropy)
        total += -0.5 * (LOG_2PI + math.log(tau2)) * n_items - spread / (2 * tau2)
        total += 0.5 * ((LOG_2PI + 1.0) * n_free + log_v)
        # the priors
        total += float((-0.5 * (LOG_2PI + math.log(bias_var)) - a * a / (2 * bias_var)).sum())
        if self.fit_scale:
            total += float((-0.5 * (LOG_2PI + math.log(scale_var)) - (b - 1) ** 2 / (2 * scale_var)).sum())
        total += float(_log_inv_gamma(s2, alpha0, beta0).sum())
        total += float(_log_inv_gamma(np.array([tau2]), alpha_t, beta_t)[0])
        if self.robust:
            a_e, b_e = EPS_PRIOR
            log_beta = math.lgamma(a_e) + math.lgamma(b_e) - math.lgamma(a_e + b_e)
            total += float(((a_e - 1) * np.log(eps) + (b_e - 1) * np.log1p(-eps) - log_beta).sum())
        return total


@dataclass
class _State:
    """A point of the fit: the annotators' bias, scale, noise variance and random-answer rate, the
    true values' mean and variance, and the items' posterior means and variances."""

    a: np.ndarray
    b: np.ndarray
    s2: np.ndarray
    eps: np.ndarray
    mu: float
    tau2: float
    m: np.ndarray
    v: np.ndarray


#: Bounds kept on an extrapolated point's random-answer rates (logits past these are rounding).
EPS_BOUNDS = (1e-12, 1.0 - 1e-12)


@dataclass
class _Packer:
    """A :class:`_State` as one unconstrained vector (variances as logs, rates as logits; the items'
    posteriors only in the robust model, where the responsibilities are taken under them, and
    without the gold items, which are fixed) and back, for the squared extrapolation."""

    free: np.ndarray
    fit_scale: bool
    robust: bool
    label_var: float

    def vector(self, st: _State) -> np.ndarray:
        parts = [st.a, np.log(st.s2), np.array([st.mu, math.log(st.tau2)])]
        if self.fit_scale:
            parts.append(st.b)
        if self.robust:
            parts += [_squarem.logit(st.eps), st.m[self.free], np.log(st.v[self.free])]
        return np.concatenate(parts)

    def state(self, x: np.ndarray, like: _State) -> _State:
        """A new point from a vector of :meth:`vector`'s space, projected back onto the valid
        parameters (the robust noise at most the answers' variance); the gold items as in ``like``.
        Without random answers the items' posteriors follow from the parameters alone (the pass
        recomputes them before reading them): they are copied from ``like``."""
        n_w, n_free = like.a.size, int(self.free.sum())
        at = 0

        def take(k: int) -> np.ndarray:
            nonlocal at
            at += k
            return x[at - k : at]

        a = take(n_w).copy()
        s2 = np.exp(take(n_w))
        mu, log_tau2 = take(2)
        b = take(n_w).copy() if self.fit_scale else like.b
        eps, m, v = like.eps, like.m.copy(), like.v.copy()
        if self.robust:
            s2 = np.minimum(s2, self.label_var)
            eps = np.clip(_squarem.expit(take(n_w)), *EPS_BOUNDS)
            m[self.free] = take(n_free)
            v[self.free] = np.exp(take(n_free))
        return replace(like, a=a, b=b, s2=s2, eps=eps, mu=float(mu), tau2=float(math.exp(log_tau2)), m=m, v=v)


def _log_inv_gamma(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return alpha * math.log(beta) - math.lgamma(alpha) - (alpha + 1) * np.log(x) - beta / x


class RobustBiasNoise(BiasNoise):
    """:class:`BiasNoise` with a rate of random answers per annotator (a mixture of the annotator's
    Gaussian and a uniform over the answers' range), fitted by mean-field EM; annotators whose answers
    are mostly random are flagged and their answers carry little weight."""

    method = "robust"
    robust = True
