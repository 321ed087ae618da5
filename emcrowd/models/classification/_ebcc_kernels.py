"""Compiled (numba) passes of EBCC (:class:`emcrowd.models.classification.ebcc.EBCC`) on large inputs.

EBCC has ``T = K * M`` latent rows per item (class, subtype). Its NumPy form builds (n_items, T)
arrays several times per iteration (the joint, its normalisation, sums over the subtypes) and
evaluates digamma and log-gamma on the (n_workers, K, M, K) Dirichlet parameters with NumPy
temporaries. Here one pass per iteration (:func:`Kernels.e_pass`) does, item by item while the
item's labels are in cache, what the E-step and the next M-step's sufficient statistics need:

* the item's ``T`` log scores ``sum_o E[log v[worker_o, t, label_o]] + log_prior_rows[t]`` (its
  labels in file order, as :func:`emcrowd.models.classification._observations.confusion_log_likelihoods` sums
  them), gold items keeping the rows of their class only;
* their log-sum-exp (the item's ELBO term) and the responsibilities ``r_jt``, which are not kept
  (they would be an (n_items, T) array) unless asked for: the class posteriors ``sum_m r_jkm`` are;
* ``r_jt`` added to the annotator counts ``N[worker_o, label_o, t]`` of each of its labels, and to
  the subtype totals ``sum_j r_jt`` and the rows' count totals ``sum_j r_jt * (labels of j)``.

Only the *live* rows are stored and computed per annotator: a row whose subtype emptied is *idle*
(its ``q(v)`` is exactly its prior, see :class:`emcrowd.models.classification.ebcc.EBCC`), and since all idle
rows
of a class then have the same likelihood for every item, the pass does them together, as one extra
row per class with the prior's ``E[log v]``, and splits the result among them by their prior
weights; their counts are not accumulated (they are negligible: below half the floating-point
spacing at the prior), but their count totals are, so that the caller sees when one revives.

Then :func:`Kernels.globals_step` sums the chunks' counts of the live rows and turns them into
``E[log v]`` and the KL divergence of every active annotator's ``q(v)`` from its prior, one
annotator at a time, with digamma and log-gamma computed as :mod:`emcrowd.models._special` computes
them (same shift, same series), but with no branch and no library call (the kernels' own logarithm
and exponential, from the floating-point bits), so that the loops over an annotator's live rows are
compiled to vector instructions: at 20,000 annotators x 20 rows, 6.4 ms a call instead of 10.9.

Sums over annotators are accumulated per chunk of items and the chunks added in a fixed order; the
number of chunks depends on the data alone (:func:`n_chunks`), so the fit does not depend on the
number of threads. The results equal the NumPy form's up to rounding (the tests hold the two to
1e-9 relative in the ELBO).

Importing this module imports numba (about 0.7 s).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from functools import cache
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from emcrowd.models.classification._glad_kernels import group_by_item

__all__ = ["Kernels", "compile_all", "kernels_for", "n_chunks"]

#: Items are split into at most this many chunks, each with its own annotator counts ...
MAX_CHUNKS = 16
#: ... and into fewer when those counts are large (at most this many float64 entries in all: every
#: pass zeroes and every M-step adds them), but never fewer than two, so that both cores of a small
#: machine work.
CHUNK_BUDGET = 1 << 21
#: globals_step works on this many blocks of annotators (threads take blocks; each has its scratch).
_GLOBAL_BLOCKS = 64
#: The E-step prefetches the next item's rows of E[log v] and of the counts when the tables have more
#: entries than this (2 MB: beyond a core's L2 cache).
_PREFETCH_ENTRIES = 1 << 18
#: Spare float64 entries after each thread's scratch arrays (two cache lines), against false sharing.
_PAD = 16

#: An item's products are checked after every ``_BLOCK`` labels: rescaled to a maximum of 1 below
#: ``_RESCALE``, and the item done in logarithms instead when they fell below ``_TINY`` (where the
#: small rows would lose digits to underflow).
_BLOCK = 8
_RESCALE = 1e-100
_TINY = 1e-150

_SHIFT = 10
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# the series of emcrowd.models._special, highest order first (Horner's rule in 1/x^2)
_DIGAMMA = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)
_GAMMALN = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)
_D0, _D1, _D2, _D3, _D4, _D5, _D6 = _DIGAMMA
_G0, _G1, _G2, _G3, _G4, _G5, _G6 = _GAMMALN
_SQRT2 = math.sqrt(2.0)
_LOG2_E = 1.0 / math.log(2.0)
# log 2 in two parts: the first with its low 32 bits zero, so that n * _LN2_HI is exact for |n| < 2^20
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# 1 / (2 k + 1) for k = 11 down to 1: atanh(t) / t - 1 = t^2 / 3 + t^4 / 5 + ..., highest order first
_ATANH = tuple(1.0 / (2 * k + 1) for k in range(11, 0, -1))
# 1 / k! for k = 13 down to 0 (the Taylor series of exp, highest order first)
_EXP = tuple(1.0 / math.factorial(k) for k in range(13, -1, -1))


@njit(cache=True)
def n_chunks(entries: int) -> int:
    """Chunks of items for annotator sums of ``entries`` float64 entries each: 2 to ``MAX_CHUNKS``."""
    return max(2, min(MAX_CHUNKS, CHUNK_BUDGET // max(entries, 1)))


@njit(cache=True, nogil=True)
def _chunk_bounds(n_items: int, chunks: int, chunk: int) -> tuple[int, int]:
    return (n_items * chunk) // chunks, (n_items * (chunk + 1)) // chunks


@njit(cache=True, nogil=True, inline="always")
def _horner(inv2: float, c0, c1, c2, c3, c4, c5, c6) -> float:
    total = c6
    total = total * inv2 + c5
    total = total * inv2 + c4
    total = total * inv2 + c3
    total = total * inv2 + c2
    total = total * inv2 + c1
    return total * inv2 + c0


@intrinsic
def _prefetch(typingctx, arr, index):
    """A hint that ``arr.flat[index]`` (C order) will be read and written soon: its cache line is
    fetched without waiting for it (the E-step's random rows of large annotator tables)."""
    sig = types.void(arr, types.intp)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        byte = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        address = builder.bitcast(builder.gep(ary.data, [args[1]]), byte)
        # (named for opaque pointers: LLVM 17 and later, numba 0.62 and later; see pyproject.toml)
        # read, keep in every cache level, data
        builder.call(fn, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _bits(typingctx, x):
    """The bits of a float64 as an int64 (a register move: vectorisable, unlike ``math.frexp``)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _from_bits(typingctx, x):
    """The float64 with these bits."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _log(x: float) -> float:
    """``log(x)`` for a normal positive ``x``, without branches or calls, so that loops of it are
    compiled to vector instructions (``math.log`` is a scalar library call): ``x = 2^e f`` with ``f``
    in [sqrt(1/2), sqrt(2)) from the bits, then ``log f = 2 atanh(t)``, ``t = (f - 1) / (f + 1)``,
    by its series (``|t| < 0.1716``: terms to ``t^23``, the first omitted below 1e-18), and ``e log 2``
    in two parts. Within 2 units in the last place of ``math.log`` (the tests check it)."""
    bits = _bits(x)
    e = (bits >> 52) - 1023
    f = _from_bits((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # in [1, 2)
    high = f > _SQRT2
    f = f * 0.5 if high else f
    e = e + 1 if high else e
    g = f - 1.0
    t = g / (2.0 + g)
    t2 = t * t
    p = _ATANH[0]
    for c in _ATANH[1:]:
        p = p * t2 + c
    n = float(e)
    return n * _LN2_HI + (n * _LN2_LO + (2.0 * t + 2.0 * t * t2 * p))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _exp(y: float) -> float:
    """``exp(y)`` for ``y <= 709`` (0 below -1416), without branches or calls (see :func:`_log`):
    ``y = n log 2 + r`` with ``|r| <= log(2) / 2``, ``exp(r)`` by its Taylor series to ``r^13`` (the
    first omitted term below 5e-18), times ``2^n`` made from the bits in two factors (so that ``n``
    down to -2044 gives the correctly underflowing product)."""
    y = max(y, -1416.0)
    n = math.floor(y * _LOG2_E + 0.5)
    r = (y - n * _LN2_HI) - n * _LN2_LO
    p = _EXP[0]
    for c in _EXP[1:]:
        p = p * r + c
    k = np.int64(n)
    h = k >> 1
    return p * _from_bits((h + 1023) << 52) * _from_bits((k - h + 1023) << 52)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _digamma_gammaln(x: float) -> tuple[float, float]:
    """``(psi(x), log Gamma(x))`` for ``x > 0``, as :mod:`emcrowd.models._special` computes them
    (shift to at least ``_SHIFT``, then the asymptotic series), without branches or library calls, so
    that a loop of it is compiled to vector instructions: both cases of the shift are computed and
    one selected, the shift's sum ``sum_k 1 / (x + k)`` is ``P'(x) / P(x)`` of the product
    ``P(x) = prod_k (x + k)``, the reciprocals of ``P`` and of the shifted argument ``s`` come from
    one division, ``1 / (P s)``, and the logarithms are :func:`_log`'s."""
    low = x < _SHIFT
    # the factors paired, (x + k)(x + 9 - k) = u + k (9 - k) with u = x (x + 9): P(x) = Q(u) =
    # u (u + 8) (u + 14) (u + 18) (u + 20), and sum_k 1 / (x + k) = (2 x + 9) Q'(u) / Q(u), both by
    # Horner's rule in u with positive integer coefficients (short dependency chains); from x at most
    # _SHIFT, so that nothing overflows in the case not taken
    v = min(x, float(_SHIFT))
    u = v * (v + 9.0)
    q = u * ((((u + 60.0) * u + 1308.0) * u + 12176.0) * u + 40320.0)
    deriv = (((5.0 * u + 240.0) * u + 3924.0) * u + 24352.0) * u + 40320.0
    prod = q if low else 1.0
    s = x + _SHIFT if low else x
    both = 1.0 / (prod * s)
    r = prod * both  # 1 / s
    inv = (2.0 * v + 9.0) * deriv * (s * both) if low else 0.0
    r2 = r * r
    log_s = _log(s)
    psi = log_s - 0.5 * r - _horner(r2, _D0, _D1, _D2, _D3, _D4, _D5, _D6) * r2 - inv
    lgam = (s - 0.5) * log_s - s + _HALF_LOG_2PI + _horner(r2, _G0, _G1, _G2, _G3, _G4, _G5, _G6) * r
    return psi, lgam - _log(prod)


@njit(cache=True, nogil=True, error_model="numpy")
def digamma_gammaln(x: float) -> tuple[float, float]:
    """``(psi(x), log Gamma(x))`` for ``x > 0``, as :mod:`emcrowd.models._special` computes them."""
    return _digamma_gammaln(x)


@njit(cache=True, nogil=True, error_model="numpy")
def log_exp(x: float, y: float) -> tuple[float, float]:
    """``(log(x), exp(y))`` by the kernels' own vectorisable functions (for the tests)."""
    return _log(x), _exp(y)


class Kernels(NamedTuple):
    """EBCC's passes for one (classes, subtypes) shape (see :func:`kernels_for`)."""

    e_pass: Callable[..., float]
    first_counts: Callable[..., None]
    globals_step: Callable[..., float]


def _build(k_const: int, m_const: int, parallel: bool) -> Kernels:
    """The kernels compiled for ``k_const`` classes and ``m_const`` subtypes (loops over the classes of
    constant length), or for any shape when both are 0; on threads with ``parallel``, else in one (each
    parallel pass waits for every thread, which on a busy machine can cost more than a small pass
    itself).

    Every kernel reads ``parallel`` in its body, so that it is one of the closure's variables: numba's
    on-disk cache keys a closure by its code and the values of those variables only, not by the
    decorator's options, and without that the threaded and the one-thread builds shared one entry
    (whichever was compiled first served both)."""

    @njit(cache=True, parallel=parallel, error_model="numpy")
    def e_pass(
        indptr: np.ndarray,
        worker: np.ndarray,
        label: np.ndarray,
        v_geo: np.ndarray,
        log_v: np.ndarray,
        rows: np.ndarray,
        log_prior_rows: np.ndarray,
        idle_log_v: np.ndarray,
        gold: np.ndarray,
        m: int,
        q_out: np.ndarray,
        resp_out: np.ndarray,
        acc: np.ndarray,
        totals: np.ndarray,
        bound: np.ndarray,
    ) -> float:
        """EBCC's E-step and the next M-step's counts, in one pass over the labels.

        ``rows`` (A,) are the live rows (increasing); ``log_v`` is their E[log v] with axes
        (n_workers, K labels, A) and ``v_geo`` its exponential. Every other row ``t`` is idle: its
        E[log v] is the prior's, ``idle_log_v[t // M]`` (K,) for every annotator, so the idle rows of
        a class have the same likelihood and are done together, in closed form, as one row per class.
        ``log_prior_rows`` (T,) is ``E[log tau_k] + E[log pi_km]``, ``gold`` (n_items,) the clamped
        class or -1. Writes the class posteriors into ``q_out`` (n_items, K) and, when ``resp_out``
        has a row per item, all ``T`` responsibilities into it; adds every live ``r_jt`` to
        ``acc[chunk, worker_o, label_o, a]`` for each label of item ``j`` (``acc`` (n_chunks,
        n_workers, K, A), zeroed here first), and sets ``totals[chunk, t]`` to the chunk's sum of
        ``r_jt`` and ``bound[chunk, t]`` to its sum of ``r_jt`` times the item's number of labels
        (the sum of row ``t``'s counts over annotators and labels), for every row.
        Returns the sum over the items of the log normaliser of ``r_j``.

        An item's unnormalised responsibilities are formed as products of ``v_geo`` (one multiply per
        label and row, and one logarithm per item, instead of one exponential per row), rescaled when
        they grow small; should they come near underflow (extreme priors), the item is done again in
        logarithms from ``log_v``, as the NumPy E-step does it.
        """
        n_items = indptr.size - 1
        n_sub = m_const if m_const else m
        n_rows = log_prior_rows.size
        n_cls = k_const if k_const else n_rows // n_sub
        n_live = rows.size
        keep = resp_out.shape[0] == n_items
        _threaded = parallel  # in the closure: numba's cache keys the two builds apart (see _build)
        chunks = acc.shape[0]
        top_prior = log_prior_rows[0]
        for t in range(1, n_rows):
            top_prior = max(top_prior, log_prior_rows[t])
        start = np.empty(n_live)
        cls = np.empty(n_live, dtype=np.int64)
        live = np.zeros(n_rows, dtype=np.bool_)
        for a in range(n_live):
            start[a] = math.exp(log_prior_rows[rows[a]] - top_prior)
            cls[a] = rows[a] // n_sub
            live[rows[a]] = True
        # the idle rows of each class: their log prior (log-sum-exp), and each one's share of it
        idle_log = np.full(n_cls, -np.inf)
        for t in range(n_rows):
            if not live[t]:
                idle_log[t // n_sub] = max(idle_log[t // n_sub], log_prior_rows[t])
        idle_sum = np.zeros(n_cls)
        for t in range(n_rows):
            if not live[t]:
                idle_sum[t // n_sub] += math.exp(log_prior_rows[t] - idle_log[t // n_sub])
        share = np.zeros(n_rows)
        for c in range(n_cls):
            if idle_sum[c] > 0:
                idle_log[c] += math.log(idle_sum[c])
        for t in range(n_rows):
            if not live[t]:
                share[t] = math.exp(log_prior_rows[t] - idle_log[t // n_sub])
        idle_start = np.empty(n_cls)
        idle_geo = np.empty((n_cls, n_cls))
        for c in range(n_cls):
            idle_start[c] = math.exp(idle_log[c] - top_prior)
            for lab in range(n_cls):
                idle_geo[c, lab] = math.exp(idle_log_v[c, lab])
        class_start = np.zeros(n_cls + 1, dtype=np.int64)  # live rows of class c: class_start[c:c + 2]
        for a in range(n_live):
            class_start[cls[a] + 1] += 1
        for c in range(n_cls):
            class_start[c + 1] += class_start[c]
        # tables beyond the caches (many annotators x live rows): the next item's rows fetched ahead
        ahead = v_geo.size > _PREFETCH_ENTRIES
        n_workers = v_geo.shape[0]
        evidence = np.zeros(chunks)
        for chunk in prange(chunks):
            lo_item, hi_item = _chunk_bounds(n_items, chunks, chunk)
            acc[chunk] = 0.0  # zeroed here, by the thread that fills it
            r = np.empty(n_live + _PAD)  # this thread's own cache lines
            d = np.empty(n_cls + _PAD)  # the idle rows of each class, together
            row_sums = np.zeros(n_live + _PAD)
            row_bound = np.zeros(n_live + _PAD)
            idle_sums = np.zeros(n_cls + _PAD)
            idle_bound = np.zeros(n_cls + _PAD)
            chunk_evidence = 0.0
            for j in range(lo_item, hi_item):
                lo, hi = indptr[j], indptr[j + 1]
                g = gold[j]
                if ahead and j + 1 < hi_item:
                    for o in range(hi, indptr[j + 2]):
                        at = worker[o] * n_cls + label[o]
                        _prefetch(v_geo, at * n_live)
                        _prefetch(acc, (chunk * n_workers * n_cls + at) * n_live)
                for a in range(n_live):
                    r[a] = start[a]
                for c in range(n_cls):
                    d[c] = idle_start[c]
                if g >= 0:
                    for a in range(n_live):
                        if cls[a] != g:
                            r[a] = 0.0
                    for c in range(n_cls):
                        if c != g:
                            d[c] = 0.0
                scale = top_prior
                exact = True
                for block in range(lo, hi, _BLOCK):  # the products can only fall: rescaled per block
                    for o in range(block, min(block + _BLOCK, hi)):
                        i = worker[o]
                        lab = label[o]
                        for a in range(n_live):
                            r[a] *= v_geo[i, lab, a]
                        for c in range(n_cls):
                            d[c] *= idle_geo[c, lab]
                    top = 0.0
                    for a in range(n_live):
                        top = max(top, r[a])
                    for c in range(n_cls):
                        top = max(top, d[c])
                    if top < _RESCALE:
                        if not top >= _TINY:  # near underflow: this item in logarithms instead
                            exact = False
                            break
                        inv = 1.0 / top
                        for a in range(n_live):
                            r[a] *= inv
                        for c in range(n_cls):
                            d[c] *= inv
                        scale += math.log(top)
                if exact:
                    total = 0.0
                    for a in range(n_live):
                        total += r[a]
                    for c in range(n_cls):
                        total += d[c]
                    chunk_evidence += scale + math.log(total)
                else:
                    for a in range(n_live):
                        r[a] = log_prior_rows[rows[a]]
                    for c in range(n_cls):
                        d[c] = idle_log[c]
                    for o in range(lo, hi):
                        i = worker[o]
                        lab = label[o]
                        for a in range(n_live):
                            r[a] += log_v[i, lab, a]
                        for c in range(n_cls):
                            d[c] += idle_log_v[c, lab]
                    if g >= 0:
                        for a in range(n_live):
                            if cls[a] != g:
                                r[a] = -np.inf
                        for c in range(n_cls):
                            if c != g:
                                d[c] = -np.inf
                    top = -np.inf
                    for a in range(n_live):
                        top = max(top, r[a])
                    for c in range(n_cls):
                        top = max(top, d[c])
                    total = 0.0
                    for a in range(n_live):
                        r[a] = math.exp(r[a] - top)
                        total += r[a]
                    for c in range(n_cls):
                        d[c] = math.exp(d[c] - top)
                        total += d[c]
                    chunk_evidence += top + math.log(total)
                inv = 1.0 / total
                n_obs = hi - lo
                for a in range(n_live):
                    r[a] *= inv
                    row_sums[a] += r[a]
                    row_bound[a] += r[a] * n_obs
                for c in range(n_cls):  # a class's posterior: its idle rows, then its live rows in order
                    d[c] *= inv
                    idle_sums[c] += d[c]
                    idle_bound[c] += d[c] * n_obs
                    q = d[c]
                    for a in range(class_start[c], class_start[c + 1]):
                        q += r[a]
                    q_out[j, c] = q
                if keep:
                    for t in range(n_rows):
                        resp_out[j, t] = 0.0 if live[t] else d[t // n_sub] * share[t]
                    for a in range(n_live):
                        resp_out[j, rows[a]] = r[a]
                for o in range(lo, hi):
                    i = worker[o]
                    lab = label[o]
                    for a in range(n_live):
                        acc[chunk, i, lab, a] += r[a]
            for t in range(n_rows):
                totals[chunk, t] = idle_sums[t // n_sub] * share[t]
                bound[chunk, t] = idle_bound[t // n_sub] * share[t]
            for a in range(n_live):
                totals[chunk, rows[a]] = row_sums[a]
                bound[chunk, rows[a]] = row_bound[a]
            evidence[chunk] = chunk_evidence
        out = 0.0
        for chunk in range(chunks):
            out += evidence[chunk]
        return out

    @njit(cache=True, parallel=parallel)
    def first_counts(
        indptr: np.ndarray,
        worker: np.ndarray,
        label: np.ndarray,
        posteriors: np.ndarray,
        split: np.ndarray,
        m: int,
        acc: np.ndarray,
        totals: np.ndarray,
    ) -> None:
        """The first M-step's counts, every row live, from the responsibilities ``posteriors[j, k] *
        split[j, t]`` (``split`` (n_items, T), row ``t = k * M + m``) without forming them: into
        ``acc`` and ``totals`` as ``e_pass`` does."""
        n_items = indptr.size - 1
        n_sub = m_const if m_const else m
        n_rows = k_const * m_const if k_const else split.shape[1]
        _threaded = parallel  # in the closure: numba's cache keys the two builds apart (see _build)
        chunks = acc.shape[0]
        for chunk in prange(chunks):
            lo_item, hi_item = _chunk_bounds(n_items, chunks, chunk)
            acc[chunk] = 0.0
            r = np.empty(n_rows + _PAD)
            row_sums = np.zeros(n_rows + _PAD)
            for j in range(lo_item, hi_item):
                for t in range(n_rows):
                    r[t] = posteriors[j, t // n_sub] * split[j, t]
                    row_sums[t] += r[t]
                for o in range(indptr[j], indptr[j + 1]):
                    i = worker[o]
                    lab = label[o]
                    for t in range(n_rows):
                        acc[chunk, i, lab, t] += r[t]
            for t in range(n_rows):
                totals[chunk, t] = row_sums[t]

    @njit(cache=True, parallel=parallel, error_model="numpy")
    def globals_step(
        acc: np.ndarray,
        pick: np.ndarray,
        prior: np.ndarray,
        rows: np.ndarray,
        m: int,
        active: np.ndarray,
        counts: np.ndarray,
        log_v: np.ndarray,
        v_geo: np.ndarray,
    ) -> float:
        """``q(v) = Dirichlet(prior + counts)`` of every annotator and live row: the counts of live row
        ``a`` are ``acc[:, :, :, pick[a]]`` summed over the chunks (in order), written into
        ``counts``; ``E[log v]`` into ``log_v`` and its exponential into ``v_geo`` (all three with
        axes (n_workers, K labels, A live rows)). Returns the sum over the active annotators of
        ``KL(q(v) || p(v))`` (an idle row's ``q(v)`` is its prior: no KL). ``prior`` is (K true
        classes, K labels): live row ``a`` of every annotator has the prior of its class
        ``rows[a] // M``."""
        n_workers = counts.shape[0]
        n_lab = k_const if k_const else counts.shape[1]
        n_sub = m_const if m_const else m
        n_live = rows.size
        _threaded = parallel  # in the closure: numba's cache keys the two builds apart (see _build)
        chunks = acc.shape[0]
        # every live row's prior (labels, rows) and log Gamma(its total) - sum log Gamma(its entries)
        row_prior = np.empty((n_lab, n_live))
        row_const = np.empty(n_live)
        for a in range(n_live):
            c = rows[a] // n_sub
            total, lg = 0.0, 0.0
            for lab in range(n_lab):
                row_prior[lab, a] = prior[c, lab]
                total += prior[c, lab]
                lg += _digamma_gammaln(prior[c, lab])[1]
            row_const[a] = _digamma_gammaln(total)[1] - lg
        # blocks of annotators, each with its scratch rows; the inner loops run over the live rows (the
        # array's last axis) with no branch or call, as vector instructions; the block sums are added
        # in order, so that the result does not depend on the number of threads
        blocks = max(1, min(n_workers, _GLOBAL_BLOCKS))
        kl = np.zeros(blocks)
        for block in prange(blocks):
            lo, hi = _chunk_bounds(n_workers, blocks, block)
            totals = np.empty(n_live + _PAD)
            psi_totals = np.empty(n_live + _PAD)
            row_kl = np.empty(n_live + _PAD)
            block_kl = 0.0
            for i in range(lo, hi):
                for a in range(n_live):
                    totals[a] = 0.0
                for lab in range(n_lab):
                    for a in range(n_live):
                        s = acc[0, i, lab, pick[a]]
                        for chunk in range(1, chunks):
                            s += acc[chunk, i, lab, pick[a]]
                        counts[i, lab, a] = s
                        totals[a] += s + row_prior[lab, a]
                for a in range(n_live):
                    psi_total, lgam_total = _digamma_gammaln(totals[a])
                    psi_totals[a] = psi_total
                    row_kl[a] = lgam_total - row_const[a]
                for lab in range(n_lab):
                    for a in range(n_live):
                        p = row_prior[lab, a]
                        x = counts[i, lab, a] + p
                        psi_a, lgam_a = _digamma_gammaln(x)
                        elog = psi_a - psi_totals[a]
                        log_v[i, lab, a] = elog
                        v_geo[i, lab, a] = _exp(elog)
                        row_kl[a] += (x - p) * elog - lgam_a
                if active[i]:
                    for a in range(n_live):
                        block_kl += row_kl[a]
            kl[block] = block_kl
        out = 0.0
        for block in range(blocks):
            out += kl[block]
        return out

    return Kernels(e_pass, first_counts, globals_step)


#: (classes, subtypes) shapes with kernels of their own (the rest share the general ones).
SPECIALIZED = ((2, 10),)


#: Inputs with at least this many labels run the passes on threads (EBCC's restarts on a large
#: input run on a subsample of 200,000 labels: on threads too). Below it a pass takes a few
#: milliseconds, and on a busy two-core machine waiting for the second thread costs up to ten times
#: that (100,000 labels: 3 ms a pass on one thread, 10 to 60 ms on two under a load of 5).
PARALLEL_MIN_LABELS = 150_000


@cache
def kernels_for(n_classes: int, n_subtypes: int, parallel: bool = True) -> Kernels:
    """The kernels for this shape: compiled for exactly it when it is in ``SPECIALIZED``, else the
    general ones; on threads or not."""
    if (n_classes, n_subtypes) in SPECIALIZED:
        return _build(n_classes, n_subtypes, parallel)
    return _build(0, 0, parallel)


def compile_all() -> None:
    """Compile every kernel now (into numba's cache beside this file) on a tiny input, so that the
    first large fit does not pay the compilation; ``python -m
    emcrowd.models.classification._ebcc_kernels``."""
    item = np.array([1, 0, 0], dtype=np.int32)
    worker = np.array([0, 1, 1], dtype=np.int32)
    label = np.array([1, 0, 1], dtype=np.int32)
    indptr, worker, label = group_by_item(item, worker, label, 2)
    for (k, m), parallel in itertools.product((*SPECIALIZED, (3, 2)), (True, False)):  # (3, 2): general
        kern = kernels_for(k, m, parallel)
        rows = k * m
        chunks = n_chunks(2 * k * rows)
        acc = np.zeros((chunks, 2, k, rows))
        totals = np.zeros((chunks, rows))
        q = np.full((2, k), 1.0 / k)
        kern.first_counts(indptr, worker, label, q, np.full((2, rows), 1.0 / m), m, acc, totals)
        log_v = np.empty((2, k, rows))
        prior = np.ones((k, k)) + np.eye(k)
        v_geo = np.empty((2, k, rows))
        live = np.arange(rows, dtype=np.int64)
        counts = np.empty((2, k, rows))
        kern.globals_step(acc, live, prior, live, m, np.ones(2, dtype=np.bool_), counts, log_v, v_geo)
        gold = np.full(2, -1, dtype=np.int64)
        resp = np.empty((0, rows))
        idle = np.zeros((k, k))
        bound = np.zeros((chunks, rows))
        kern.e_pass(
            indptr, worker, label, v_geo, log_v, live, np.zeros(rows), idle, gold, m, q, resp, acc, totals,
            bound,
        )  # fmt: skip


if __name__ == "__main__":
    compile_all()
