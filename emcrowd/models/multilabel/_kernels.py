"""Compiled (numba) passes of :class:`~emcrowd.models.multilabel.per_class_ds.PerClassDawidSkene`.

One pass over the answers per EM step, each answer's row of ticks read once: :func:`log_likelihoods`
(the E-step's sums per item and class) and :func:`counts` (the M-step's sums per annotator and class).
:func:`mean_step` is the M-step of an annotator's mean (a concave one-dimensional maximisation per
annotator, by golden-section search).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def log_likelihoods(item, worker, ticks, log_se, log_1mse, log_sp, log_1msp, n_items):  # pragma: no cover
    """``(A0, A1)``, each (n_items, C): ``log p(answers of item j on class c | class absent / present)``."""
    n_classes = ticks.shape[1]
    a0 = np.zeros((n_items, n_classes))
    a1 = np.zeros((n_items, n_classes))
    for o in range(item.size):
        j = item[o]
        w = worker[o]
        for c in range(n_classes):
            if ticks[o, c]:
                a1[j, c] += log_se[w, c]
                a0[j, c] += log_1msp[w, c]
            else:
                a1[j, c] += log_1mse[w, c]
                a0[j, c] += log_sp[w, c]
    return a0, a1


@njit(cache=True, nogil=True)
def counts(item, worker, ticks, q, n_workers):  # pragma: no cover
    """``(tp, pos, tn, neg)``, each (n_workers, C): expected ticks on present classes, present classes,
    expected non-ticks on absent classes, absent classes, given ``q[j, c] = P(class c applies to j)``."""
    n_classes = ticks.shape[1]
    tp = np.zeros((n_workers, n_classes))
    pos = np.zeros((n_workers, n_classes))
    tn = np.zeros((n_workers, n_classes))
    neg = np.zeros((n_workers, n_classes))
    for o in range(item.size):
        j = item[o]
        w = worker[o]
        for c in range(n_classes):
            p = q[j, c]
            pos[w, c] += p
            neg[w, c] += 1.0 - p
            if ticks[o, c]:
                tp[w, c] += p
            else:
                tn[w, c] += 1.0 - p
    return tp, pos, tn, neg


@njit(cache=True)
def _mean_objective(m, log_x, log_1mx, strength, a0, b0):  # pragma: no cover
    """Log prior of one annotator's per-class rates ``x`` under Beta(s m, s (1 - m)), plus its mean's
    Beta(a0, b0) log density (constants dropped); concave in ``m``."""
    alpha = strength * m
    beta = strength * (1.0 - m)
    total = 0.0
    for c in range(log_x.size):
        total += (alpha - 1.0) * log_x[c] + (beta - 1.0) * log_1mx[c]
    total -= log_x.size * (math.lgamma(alpha) + math.lgamma(beta) - math.lgamma(strength))
    return total + (a0 - 1.0) * math.log(m) + (b0 - 1.0) * math.log(1.0 - m)


@njit(cache=True)
def mean_step(means, log_x, log_1mx, strength, a0, b0, lo, hi):  # pragma: no cover
    """Each annotator's mean maximised given its per-class rates (rows of ``log_x``), within [lo, hi];
    the old mean is kept unless the new one scores at least as well (the objective never drops)."""
    out = means.copy()
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    for a in range(means.size):
        left, right = lo, hi
        x1 = right - ratio * (right - left)
        x2 = left + ratio * (right - left)
        f1 = _mean_objective(x1, log_x[a], log_1mx[a], strength, a0, b0)
        f2 = _mean_objective(x2, log_x[a], log_1mx[a], strength, a0, b0)
        for _ in range(60):
            if f1 < f2:
                left, x1, f1 = x1, x2, f2
                x2 = left + ratio * (right - left)
                f2 = _mean_objective(x2, log_x[a], log_1mx[a], strength, a0, b0)
            else:
                right, x2, f2 = x2, x1, f1
                x1 = right - ratio * (right - left)
                f1 = _mean_objective(x1, log_x[a], log_1mx[a], strength, a0, b0)
        best = x1 if f1 >= f2 else x2
        fbest = max(f1, f2)
        if fbest >= _mean_objective(means[a], log_x[a], log_1mx[a], strength, a0, b0):
            out[a] = best
    return out


def mean_log_prior(means, log_x, log_1mx, strength, a0, b0):
    """Sum over annotators of :func:`_mean_objective` (NumPy: called once per iteration)."""
    from math import lgamma

    alpha = strength * means
    beta = strength * (1.0 - means)
    lg = np.array([lgamma(a) + lgamma(b) for a, b in zip(alpha, beta, strict=True)]) - lgamma(strength)
    n_classes = log_x.shape[1]
    total = ((alpha - 1.0)[:, None] * log_x + (beta - 1.0)[:, None] * log_1mx).sum(axis=1)
    total -= n_classes * lg
    total += (a0 - 1.0) * np.log(means) + (b0 - 1.0) * np.log1p(-means)
    return float(total.sum())
