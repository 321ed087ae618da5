"""Compiled (numba) passes over the answers for :mod:`emcrowd.models.numeric.bias_noise`.

An EM iteration walks the answers three times, each pass one loop that reads an answer once and adds
its share to per-item or per-annotator sums (the NumPy version would make a temporary array per term):

* :func:`items_pass`: each item's posterior precision and mean (the E-step for the values);
* :func:`answers_pass`: (robust) each answer's probability of not being random, and the annotators'
  weighted sums that the bias-and-scale solve needs, and the entropy of those probabilities;
* :func:`residuals_pass`: the annotators' sums of squared residuals (for the noise) and the sums that
  the exact step along the common bias level needs.

Compiled on first use and cached beside this file (``python -m emcrowd.models.numeric._kernels``
compiles them ahead).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

LOG_2PI = math.log(2 * math.pi)


@njit(cache=True, nogil=True, error_model="numpy")
def items_pass(item, worker, y, r, robust, a, b, s2, mu, tau2, known, gold, m, v):
    """Each item's Gaussian posterior N(m, v) given the parameters (gold items: their value, v = 0);
    writes ``m`` and ``v``."""
    n_items = m.size
    precision = np.full(n_items, 1.0 / tau2)
    numerator = np.full(n_items, mu / tau2)
    for o in range(y.size):
        w = worker[o]
        weight = b[w] / s2[w]
        if robust:
            weight *= r[o]
        j = item[o]
        precision[j] += weight * b[w]
        numerator[j] += weight * (y[o] - a[w])
    for j in range(n_items):
        if known[j]:
            m[j] = gold[j]
            v[j] = 0.0
        else:
            v[j] = 1.0 / precision[j]
            m[j] = numerator[j] * v[j]


@njit(cache=True, nogil=True, error_model="numpy")
def answers_pass(item, worker, y, m, v, a, b, s2, eps, log_u, robust, r, sums):
    """(Robust) the responsibilities ``r`` (written), and per annotator in ``sums`` (shape (W, 6),
    zeroed here): sum of r, r*y, r*m, r*(m^2 + v), r*m*y, and the entropy of r."""
    sums[:] = 0.0
    log_eps = np.log(eps) if robust else eps
    log_keep = np.log1p(-eps) if robust else eps
    log_s2 = np.log(s2)
    for o in range(y.size):
        j, w = item[o], worker[o]
        mi, vi, yo = m[j], v[j], y[o]
        weight = 1.0
        if robust:
            resid = yo - a[w] - b[w] * mi
            log_gauss = -0.5 * (LOG_2PI + log_s2[w]) - (resid * resid + b[w] * b[w] * vi) / (2.0 * s2[w])
            d = log_keep[w] + log_gauss - log_eps[w] - log_u
            if d >= 0:
                weight = 1.0 / (1.0 + math.exp(-d))
            else:
                e = math.exp(d)
                weight = e / (1.0 + e)
            r[o] = weight
            entropy = 0.0
            if weight > 0.0:
                entropy -= weight * math.log(weight)
            if weight < 1.0:
                entropy -= (1.0 - weight) * math.log1p(-weight)
            sums[w, 5] += entropy
        sums[w, 0] += weight
        sums[w, 1] += weight * yo
        sums[w, 2] += weight * mi
        sums[w, 3] += weight * (mi * mi + vi)
        sums[w, 4] += weight * mi * yo


@njit(cache=True, nogil=True, error_model="numpy")
def residuals_pass(item, worker, y, m, v, a, b, r, robust, known, sums):
    """Per annotator in ``sums`` (shape (W, 3), zeroed here): sum of r * (residual^2 + b^2 v), of
    r * residual * slope and of r * slope^2, where slope is the residual's change per unit of the
    common level (-1 on gold items, b - 1 elsewhere)."""
    sums[:] = 0.0
    for o in range(y.size):
        j, w = item[o], worker[o]
        weight = r[o] if robust else 1.0
        resid = y[o] - a[w] - b[w] * m[j]
        slope = -1.0 if known[j] else b[w] - 1.0
        sums[w, 0] += weight * (resid * resid + b[w] * b[w] * v[j])
        sums[w, 1] += weight * resid * slope
        sums[w, 2] += weight * slope * slope


def compile_all() -> None:
    """Compile every kernel once (cached beside this file)."""
    n = 3
    item = np.array([0, 0, 1], dtype=np.int32)
    worker = np.array([0, 1, 1], dtype=np.int32)
    y = np.array([1.0, 2.0, 3.0])
    r = np.ones(n)
    ones = np.ones(2)
    known = np.zeros(2, dtype=np.bool_)
    m, v = np.zeros(2), np.ones(2)
    items_pass(item, worker, y, r, True, np.zeros(2), ones, ones, 0.0, 1.0, known, m, m.copy(), v)
    answers_pass(item, worker, y, m, v, np.zeros(2), ones, ones, ones * 0.1, 0.0, True, r, np.zeros((2, 6)))
    residuals_pass(item, worker, y, m, v, np.zeros(2), ones, r, True, known, np.zeros((2, 3)))


if __name__ == "__main__":
    compile_all()
