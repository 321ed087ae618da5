"""Compiled (numba) passes of :class:`~emcrowd.models.multilabel.per_class_ds.PerClassDawidSkene`.

One pass over the answers per EM step, each answer's row of ticks read once: :func:`log_likelihoods`
(the E-step's sums per item and class) and :func:`counts` (the M-step's sums per annotator and class).
:func:`mean_step` is the M-step of an annotator's mean (a concave one-dimensional maximisation per
annotator, by golden-section search).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


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
        for _ in range(40):
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


#: Items are split into at most this many chunks, each with its own annotator sums (added in a fixed
#: order afterwards): the sums, and so the fit, do not depend on the number of threads.
MAX_CHUNKS = 8


def n_chunks(n_items: int, n_workers: int, n_classes: int) -> int:
    """Chunks of a pass: a function of the data's sizes alone (fewer when the sums are large)."""
    sums = 4 * n_workers * n_classes
    return int(max(1, min(MAX_CHUNKS, n_items // 1000, 50_000_000 // max(sums, 1))))


def _fused_pass(
    indptr, worker, ticks, log_se, log_1mse, log_sp, log_1msp, log_prev, gold, chunks
):  # pragma: no cover
    """One EM iteration's pass over the answers grouped by item (``indptr``): the exact E-step of
    every (item, class) -- gold clamped where ``gold >= 0`` -- its log evidence, and the next
    M-step's expected counts per annotator and class, item by item while the item's answers are in
    cache. Returns ``(q, evidence, tp, pos, tn, neg)``."""
    n_items = indptr.size - 1
    n_classes = ticks.shape[1]
    n_workers = log_se.shape[0]
    q = np.empty((n_items, n_classes))
    sums = np.zeros((chunks, 4, n_workers, n_classes))
    parts = np.zeros(chunks)
    for chunk in prange(chunks):
        start = (n_items * chunk) // chunks
        stop = (n_items * (chunk + 1)) // chunks
        a0 = np.empty(n_classes)
        a1 = np.empty(n_classes)
        total = 0.0
        acc = sums[chunk]
        for j in range(start, stop):
            for c in range(n_classes):
                a0[c] = log_prev[c, 0]
                a1[c] = log_prev[c, 1]
            for o in range(indptr[j], indptr[j + 1]):
                w = worker[o]
                for c in range(n_classes):
                    if ticks[o, c]:
                        a1[c] += log_se[w, c]
                        a0[c] += log_1msp[w, c]
                    else:
                        a1[c] += log_1mse[w, c]
                        a0[c] += log_sp[w, c]
            for c in range(n_classes):
                g = gold[j, c]
                if g >= 0:
                    q[j, c] = float(g)
                    total += a1[c] if g == 1 else a0[c]
                else:
                    top = max(a0[c], a1[c])
                    e0 = math.exp(a0[c] - top)
                    e1 = math.exp(a1[c] - top)
                    q[j, c] = e1 / (e0 + e1)
                    total += top + math.log(e0 + e1)
            for o in range(indptr[j], indptr[j + 1]):
                w = worker[o]
                for c in range(n_classes):
                    p = q[j, c]
                    acc[1, w, c] += p
                    acc[3, w, c] += 1.0 - p
                    if ticks[o, c]:
                        acc[0, w, c] += p
                    else:
                        acc[2, w, c] += 1.0 - p
        parts[chunk] = total
    out = sums[0].copy()
    evidence = parts[0]
    for chunk in range(1, chunks):
        out += sums[chunk]
        evidence += parts[chunk]
    return q, evidence, out[0], out[1], out[2], out[3]


#: :func:`_fused_pass` compiled twice: serial for small inputs (threads cost more than they save),
#: parallel over the chunks for large ones. The chunks are the same, so are the results.
fused_serial = njit(cache=True, nogil=True)(_fused_pass)
fused_parallel = njit(cache=True, nogil=True, parallel=True)(_fused_pass)
#: (item, class) answers from which the parallel pass is used.
PARALLEL_FROM = 2_000_000


def fused_pass(indptr, worker, ticks, log_se, log_1mse, log_sp, log_1msp, log_prev, gold, chunks):
    """:func:`_fused_pass`, serial or parallel by the size of the input."""
    kernel = fused_parallel if ticks.size >= PARALLEL_FROM else fused_serial
    return kernel(indptr, worker, ticks, log_se, log_1mse, log_sp, log_1msp, log_prev, gold, chunks)
