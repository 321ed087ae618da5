"""Compiled (numba) passes over the answers for :mod:`emcrowd.models.numeric.bias_noise`.

The fit groups the answers by item once (:func:`group_by_item`, :func:`grouped_starts` for the start)
and makes one pass per EM iteration, :func:`fused_pass`: per item, (robust) its answers' probabilities
of not being random, its posterior, then its share of the annotators' weighted sums, from which their
bias-and-scale solve, their squared residuals under the new bias and scale (for the noise, and the exact
step along the common bias level) and the objective follow without a pass of their own. The passes
over answers in any order are the reference it is tested against:

* :func:`items_pass`: each item's posterior precision and mean (the E-step for the values);
* :func:`answers_pass`: (robust) each answer's probability of not being random, and the annotators'
  weighted sums;
* :func:`residuals_pass`: the residual sums by a pass over the answers (for checking the moments).

Compiled on first use and cached beside this file (``python -m emcrowd.models.numeric._kernels``
compiles them ahead).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

LOG_2PI = math.log(2 * math.pi)
#: The answers are cut into this many chunks, each summed by one thread into its own arrays and the
#: chunks added in order: the sums depend on the data alone, never on the number of threads.
CHUNKS = 4
#: Beyond these log odds an answer's responsibility is taken as 1 or 0 (off by under 1e-21, and its
#: entropy then under 1e-19).
SURE = 50.0
#: Fewer answers than this are summed in one chunk (threads cost more than they save).
MIN_CHUNKED = 1 << 16


def n_chunks(n_labels: int) -> int:
    return CHUNKS if n_labels >= MIN_CHUNKED else 1


@njit(cache=True, nogil=True, error_model="numpy")
def _items_chunk(lo, hi, item, worker, y, r, robust, a, b_over_s2, b2_over_s2, precision, numerator):
    for o in range(lo, hi):
        w = worker[o]
        j = item[o]
        weight = r[o] if robust else 1.0
        precision[j] += weight * b2_over_s2[w]
        numerator[j] += weight * b_over_s2[w] * (y[o] - a[w])


@njit(cache=True, nogil=True, error_model="numpy")
def _items_finish(mu, tau2, known, gold, precision, numerator, m, v):
    chunks = precision.shape[0]
    for j in range(m.size):
        if known[j]:
            m[j] = gold[j]
            v[j] = 0.0
        else:
            p, q = 1.0 / tau2, mu / tau2
            for c in range(chunks):
                p += precision[c, j]
                q += numerator[c, j]
            v[j] = 1.0 / p
            m[j] = q * v[j]


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _items_parallel(item, worker, y, r, robust, a, b_over_s2, b2_over_s2, precision, numerator):
    n, chunks = y.size, precision.shape[0]
    for c in prange(chunks):
        lo, hi = (n * c) // chunks, (n * (c + 1)) // chunks
        _items_chunk(lo, hi, item, worker, y, r, robust, a, b_over_s2, b2_over_s2, precision[c], numerator[c])


def items_pass(item, worker, y, r, robust, a, b, s2, mu, tau2, known, gold, m, v, chunks):
    """Each item's Gaussian posterior N(m, v) given the parameters (gold items: their value, v = 0);
    writes ``m`` and ``v``. With several chunks, one thread each."""
    precision = np.zeros((chunks, m.size))
    numerator = np.zeros((chunks, m.size))
    b_over_s2 = b / s2
    b2_over_s2 = b * b_over_s2
    if chunks == 1:
        _items_chunk(
            0, y.size, item, worker, y, r, robust, a, b_over_s2, b2_over_s2, precision[0], numerator[0]
        )
    else:
        _items_parallel(item, worker, y, r, robust, a, b_over_s2, b2_over_s2, precision, numerator)
    _items_finish(mu, tau2, known, gold, precision, numerator, m, v)


@njit(cache=True, nogil=True, error_model="numpy")
def _answers_chunk(
    lo, hi, item, worker, y, m, v, a, b, log_odds, half_precision, robust, known, center, r, acc
):
    for o in range(lo, hi):
        j, w = item[o], worker[o]
        mi, vi, yo = m[j], v[j], y[o]
        weight = 1.0
        if robust:
            resid = yo - a[w] - b[w] * mi
            d = log_odds[w] - (resid * resid + b[w] * b[w] * vi) * half_precision[w]
            e = math.exp(-abs(d))
            weight = 1.0 / (1.0 + e) if d >= 0 else e / (1.0 + e)
            r[o] = weight
            # the entropy of r = logistic(d): softplus(d) - r d, one logarithm (of 1 + e: off by
            # under 3e-16 from log1p(e), which costs several times more)
            acc[w, 5] += max(d, 0.0) + math.log(1.0 + e) - weight * d
        yc, mc = yo - center, mi - center
        acc[w, 0] += weight
        acc[w, 1] += weight * yc
        acc[w, 2] += weight * mc
        acc[w, 3] += weight * (mc * mc + vi)
        acc[w, 4] += weight * mc * yc
        acc[w, 6] += weight * yc * yc
        if known[j]:
            acc[w, 7] += weight
            acc[w, 8] += weight * yc
            acc[w, 9] += weight * mc


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _answers_parallel(
    item, worker, y, m, v, a, b, log_odds, half_precision, robust, known, center, r, partial
):
    n, chunks = y.size, partial.shape[0]
    for c in prange(chunks):
        lo, hi = (n * c) // chunks, (n * (c + 1)) // chunks
        acc = partial[c]
        _answers_chunk(
            lo, hi, item, worker, y, m, v, a, b, log_odds, half_precision, robust, known, center, r, acc
        )


def answers_pass(item, worker, y, m, v, a, b, s2, eps, log_u, robust, known, center, r, sums, chunks):
    """(Robust) the responsibilities ``r`` (written), and per annotator in ``sums`` (shape (W, 10)),
    with ``yc = y - center`` and ``mc = m - center``: sum of r, r*yc, r*mc, r*(mc^2 + v), r*mc*yc, the
    entropy of r, r*yc^2, and over the answers to gold items r, r*yc, r*mc. From these the annotators'
    residual sums under any bias and scale follow without another pass. With several chunks, one
    thread each, their sums added in order."""
    # per annotator: the log odds of "not random" before the residual, and 1 / (2 s^2)
    half_precision = 0.5 / s2
    if robust:
        log_odds = np.log1p(-eps) - 0.5 * (LOG_2PI + np.log(s2)) - np.log(eps) - log_u
    else:
        log_odds = np.zeros_like(s2)
    args = (item, worker, y, m, v, a, b, log_odds, half_precision, robust, known, center, r)
    if chunks == 1:
        sums[:] = 0.0
        _answers_chunk(0, y.size, *args, sums)
        return
    partial = np.zeros((chunks, *sums.shape))
    _answers_parallel(*args, partial)
    sums[:] = partial[0]
    for c in range(1, chunks):
        sums += partial[c]


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


@njit(cache=True, nogil=True, error_model="numpy")
def _responsibility(yo, mi, vi, a, b, log_odds, half_precision):
    """An answer's probability of not being random, and its log odds ``d``, and ``exp(-|d|)``."""
    resid = yo - a - b * mi
    d = log_odds - (resid * resid + b * b * vi) * half_precision
    if abs(d) > SURE:  # (1 or 0 to within exp(-SURE); no exponential that underflows, which is slow)
        return (1.0 if d > 0 else 0.0), d, 0.0
    e = math.exp(-abs(d))
    return (1.0 / (1.0 + e) if d >= 0 else e / (1.0 + e)), d, e


#: The running products of ``1 + e`` (one per annotator, below) are folded into their logarithm
#: before they pass this (each factor is at most 2, so they never overflow).
FOLD = 1e250


@njit(cache=True, nogil=True, error_model="numpy")
def _fused_chunk(
    j_lo, j_hi, indptr, worker, y, robust, update_items, accumulate, a, b_over_s2, b2_over_s2, mu,
    tau2, known, gold, m, v, b, log_odds, half_precision, center, acc,
):  # fmt: skip
    longest = 1
    for j in range(j_lo, j_hi):
        longest = max(longest, indptr[j + 1] - indptr[j])
    weights = np.ones(longest)  # the responsibilities of one item's answers (1 unless robust)
    # the entropy's log(1 + e) terms as a running product per annotator: a multiplication per answer
    # instead of a logarithm (the logarithm of a product of n factors is off by about n roundings,
    # as the sum of n logarithms is)
    products = np.ones(a.size)
    for j in range(j_lo, j_hi):
        lo, hi = indptr[j], indptr[j + 1]
        kj = known[j]
        update = update_items and not kj
        p, q = 1.0 / tau2, mu / tau2  # the item's posterior precision and precision-weighted mean
        if robust:
            # the responsibilities under the item's current posterior and the parameters, and in
            # the same loop the item's sums under them
            mi, vi = m[j], v[j]
            for o in range(lo, hi):
                w = worker[o]
                weight, d, e = _responsibility(y[o], mi, vi, a[w], b[w], log_odds[w], half_precision[w])
                weights[o - lo] = weight
                if update:
                    p += weight * b2_over_s2[w]
                    q += weight * b_over_s2[w] * (y[o] - a[w])
                if accumulate:
                    # the entropy of r = logistic(d): softplus(d) - r d, where softplus(d) is
                    # max(d, 0) + log(1 + e)
                    acc[w, 5] += max(d, 0.0) - weight * d
                    product = products[w] * (1.0 + e)
                    if product > FOLD:
                        acc[w, 5] += math.log(product)
                        product = 1.0
                    products[w] = product
        elif update:
            for o in range(lo, hi):
                w = worker[o]
                p += b2_over_s2[w]
                q += b_over_s2[w] * (y[o] - a[w])
        if update:
            v[j] = 1.0 / p
            m[j] = q * v[j]
        elif update_items:
            m[j] = gold[j]
            v[j] = 0.0
        if not accumulate:
            continue
        mc = m[j] - center
        mm = mc * mc + v[j]
        for o in range(lo, hi):
            w = worker[o]
            weight = weights[o - lo]
            yc = y[o] - center
            acc[w, 0] += weight
            acc[w, 1] += weight * yc
            acc[w, 2] += weight * mc
            acc[w, 3] += weight * mm
            acc[w, 4] += weight * mc * yc
            acc[w, 6] += weight * yc * yc
            if kj:
                acc[w, 7] += weight
                acc[w, 8] += weight * yc
                acc[w, 9] += weight * mc
    if robust and accumulate:
        for w in range(a.size):
            if products[w] != 1.0:
                acc[w, 5] += math.log(products[w])


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _fused_parallel(
    bounds, indptr, worker, y, robust, update_items, accumulate, a, b_over_s2, b2_over_s2, mu, tau2,
    known, gold, m, v, b, log_odds, half_precision, center, partial,
):  # fmt: skip
    for c in prange(bounds.size - 1):
        _fused_chunk(
            bounds[c], bounds[c + 1], indptr, worker, y, robust, update_items, accumulate, a,
            b_over_s2, b2_over_s2, mu, tau2, known, gold, m, v, b, log_odds, half_precision, center,
            partial[c],
        )  # fmt: skip


def item_bounds(indptr: np.ndarray, chunks: int) -> np.ndarray:
    """The items cut into ``chunks`` runs of about equal numbers of answers (from the data alone):
    ``chunks + 1`` item indices, first 0 and last the number of items."""
    n = int(indptr[-1])
    targets = (n * np.arange(chunks + 1, dtype=np.int64)) // chunks
    bounds = np.searchsorted(indptr, targets, side="left").astype(np.int64)
    bounds[0], bounds[-1] = 0, indptr.size - 1
    return np.maximum.accumulate(bounds)


def fused_pass(
    indptr, worker, y, robust, update_items, a, b, s2, mu, tau2, known, gold, m, v, eps, log_u,
    center, sums, bounds, accumulate=True,
):  # fmt: skip
    """One pass over the answers grouped by item (``indptr``; ``worker`` and ``y`` in that order)
    doing a whole E-step and the M-step's sums. Per item: (robust) its answers' responsibilities
    under its current posterior and the parameters (kept in a buffer of the item's length, never in
    an array over all answers); (with ``update_items``) its posterior ``m, v`` given them (what
    :func:`items_pass` does); then, over the same answers still in cache, the annotators' sums of
    :func:`answers_pass` under the new posterior (into ``sums``, unless not ``accumulate``). Each
    update maximises the objective over its own block, so the order (responsibilities before the
    values, where :func:`answers_pass` takes them after) keeps it monotone. The item runs in
    ``bounds`` (:func:`item_bounds`) are summed one thread each and their sums added in order."""
    half_precision = 0.5 / s2
    if robust:
        log_odds = np.log1p(-eps) - 0.5 * (LOG_2PI + np.log(s2)) - np.log(eps) - log_u
    else:
        log_odds = np.zeros_like(s2)
    b_over_s2 = b / s2
    b2_over_s2 = b * b_over_s2
    chunks = bounds.size - 1
    args = (robust, update_items, accumulate, a, b_over_s2, b2_over_s2, mu, tau2, known, gold, m, v, b)
    args += (log_odds, half_precision, center)
    if chunks == 1:
        sums[:] = 0.0
        _fused_chunk(0, m.size, indptr, worker, y, *args, sums)
        return
    partial = np.zeros((chunks, *sums.shape))
    _fused_parallel(bounds, indptr, worker, y, *args, partial)
    sums[:] = partial[0]
    for c in range(1, chunks):
        sums += partial[c]


@njit(cache=True, nogil=True)
def item_terms(m, v, known, mu):
    """Over the items: the sum of (m - mu)^2 + v, and the sum of log v over the items not known
    (one loop instead of NumPy's temporaries, for the objective and the spread of the true values)."""
    spread, log_v = 0.0, 0.0
    for j in range(m.size):
        spread += (m[j] - mu) ** 2 + v[j]
        if not known[j]:
            log_v += math.log(v[j])
    return spread, log_v


@njit(cache=True, nogil=True)
def group_by_item(item, worker, y, n_items):
    """``(indptr, worker, y)`` with the answers grouped by item (file order kept within an item):
    the given arrays when they are grouped already, else copies by a counting sort."""
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    grouped = True
    for o in range(item.size):
        indptr[item[o] + 1] += 1
        if o > 0 and item[o] < item[o - 1]:
            grouped = False
    for j in range(n_items):
        indptr[j + 1] += indptr[j]
    if grouped:
        return indptr, worker, y
    fill = indptr[:-1].copy()
    w_out = np.empty_like(worker)
    y_out = np.empty_like(y)
    for o in range(item.size):
        j = item[o]
        w_out[fill[j]] = worker[o]
        y_out[fill[j]] = y[o]
        fill[j] += 1
    return indptr, w_out, y_out


@njit(cache=True, nogil=True, parallel=True)
def grouped_starts(indptr, y):
    """From the answers grouped by item: each item's median (NaN without answers), and the pooled
    within-item variance (as :func:`within_item_variance`; NaN when no item has two answers). One
    pass over the items in ``CHUNKS`` blocks on threads, each item's few answers sorted in the
    block's buffer."""
    n_items = indptr.size - 1
    medians = np.full(n_items, np.nan)
    squares = np.zeros(n_items)
    longest = 0
    for j in range(n_items):
        longest = max(longest, indptr[j + 1] - indptr[j])
    for c in prange(CHUNKS):
        buffer = np.empty(longest)
        for j in range((n_items * c) // CHUNKS, (n_items * (c + 1)) // CHUNKS):
            start, n = indptr[j], indptr[j + 1] - indptr[j]
            if n == 0:
                continue
            mean = 0.0
            for i in range(n):  # insertion sort: an item has a handful of answers
                x = y[start + i]
                mean += (x - mean) / (i + 1)
                k = i - 1
                while k >= 0 and buffer[k] > x:
                    buffer[k + 1] = buffer[k]
                    k -= 1
                buffer[k + 1] = x
            medians[j] = 0.5 * (buffer[(n - 1) // 2] + buffer[n // 2])
            total = 0.0
            for i in range(n):
                total += (buffer[i] - mean) ** 2
            squares[j] = total
    ss, dof = 0.0, 0.0
    for j in range(n_items):  # in order: the same sum whatever the threads
        n = indptr[j + 1] - indptr[j]
        if n >= 2:
            ss += squares[j]
            dof += n - 1.0
    return medians, (ss / dof if dof > 0 else np.nan)


@njit(cache=True, nogil=True)
def item_medians(item, y, n_items):
    """Each item's median answer (NaN without answers): the answers bucketed by item (a counting
    sort, one pass), then each item's few answers sorted on their own."""
    counts = np.zeros(n_items + 1, dtype=np.int64)
    for o in range(item.size):
        counts[item[o] + 1] += 1
    for j in range(n_items):
        counts[j + 1] += counts[j]
    fill = counts[:-1].copy()
    grouped = np.empty(y.size)
    for o in range(item.size):
        j = item[o]
        grouped[fill[j]] = y[o]
        fill[j] += 1
    out = np.full(n_items, np.nan)
    for j in range(n_items):
        start, stop = counts[j], counts[j + 1]
        n = stop - start
        if n == 0:
            continue
        for i in range(start + 1, stop):  # insertion sort: an item has a handful of answers
            x = grouped[i]
            k = i - 1
            while k >= start and grouped[k] > x:
                grouped[k + 1] = grouped[k]
                k -= 1
            grouped[k + 1] = x
        out[j] = 0.5 * (grouped[start + (n - 1) // 2] + grouped[start + n // 2])
    return out


@njit(cache=True, nogil=True)
def within_item_variance(item, y, n_items):
    """The answers' variance around their item's mean, pooled over items with two or more answers
    (NaN when none has two): one pass for each item's count, mean and sum of squared deviations
    (Welford's updates, no cancellation)."""
    count = np.zeros(n_items)
    mean = np.zeros(n_items)
    m2 = np.zeros(n_items)
    for o in range(y.size):
        j = item[o]
        count[j] += 1.0
        delta = y[o] - mean[j]
        mean[j] += delta / count[j]
        m2[j] += delta * (y[o] - mean[j])
    total, dof = 0.0, 0.0
    for j in range(n_items):
        if count[j] >= 2:
            total += m2[j]
            dof += count[j] - 1.0
    return total / dof if dof > 0 else np.nan


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
    for chunks in (1, 2):
        items_pass(item, worker, y, r, True, np.zeros(2), ones, ones, 0.0, 1.0, known, m, m.copy(), v, chunks)
    sums = np.zeros((2, 10))
    answers_pass(
        item, worker, y, m, v, np.zeros(2), ones, ones, ones * 0.1, 0.0, True, known, 0.0, r, sums, 2
    )
    residuals_pass(item, worker, y, m, v, np.zeros(2), ones, r, True, known, np.zeros((2, 3)))
    indptr, _, _ = group_by_item(item[::-1].copy(), worker, y, 2)
    for chunks in (1, 2):
        bounds = item_bounds(indptr, chunks)
        fused_pass(
            indptr, worker, y, True, True, np.zeros(2), ones, ones, 0.0, 1.0, known, m, m.copy(), v,
            ones * 0.1, 0.0, 0.0, sums, bounds,
        )  # fmt: skip
    grouped_starts(indptr, y)
    item_terms(m, v, known, 0.0)
    item_medians(item, y, 2)
    within_item_variance(item, y, 2)


if __name__ == "__main__":
    compile_all()
