"""Compiled (numba) passes over the labels for the confusion-matrix models on large inputs.

The NumPy functions of :mod:`emcrowd.models.classification._observations` gather one temporary array per
label for
every latent row (a ``bincount`` each), and :class:`~emcrowd.models.classification.dawid_skene.DawidSkene`
walks the
labels twice per EM iteration (E-step, then the next M-step's counts). Here the labels are grouped by
item (CSR: the labels of item ``j`` are ``indptr[j]:indptr[j+1]``, built by
:func:`emcrowd.models.classification._glad_kernels.group_by_item`) and one pass per EM iteration does both,
item by
item while that item's labels are in cache: the item's log-likelihoods, its posterior (the exact
E-step, gold clamped) and its term of the log evidence, then its labels' share of the next M-step's
annotator sums (:func:`confusion_pass` for Dawid-Skene, :func:`symmetric_pass` for one-coin).

The arithmetic follows the NumPy functions term for term: an item's labels are summed in file order
(as ``bincount`` sums them), so the log-likelihoods are the same to the last bit; an annotator's sums
are accumulated per chunk of items and the chunks added in a fixed order, so they differ from the
NumPy sums by rounding only. The number of chunks depends on the data alone (:func:`n_chunks`), so
the results do not depend on the number of threads.

Importing this module imports numba (about 0.7 s); the models do so only for inputs large enough to
gain from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from emcrowd.models.classification._glad_kernels import group_by_item

__all__ = ["Kernels", "code_counts", "compile_all", "group_by_item", "kernels_for", "n_chunks"]

#: Items are split into at most this many chunks for the threads, each with its own annotator sums.
MAX_CHUNKS = 16
#: ... and into fewer when the sums are large: at most this many float64 entries in all chunks' sums.
CHUNK_BUDGET = 1 << 22
#: Spare float64 entries after each thread's scratch arrays (two cache lines), against false sharing.
_PAD = 16


@njit(cache=True)
def n_chunks(entries: int) -> int:
    """How many chunks of items a pass uses when each chunk's annotator sums have ``entries``
    entries: up to ``MAX_CHUNKS``, fewer for large sums. A function of the data alone, never of the
    number of threads, so the chunked sums (and the fit) are the same on every machine."""
    return max(1, min(MAX_CHUNKS, CHUNK_BUDGET // max(entries, 1)))


@njit(cache=True, nogil=True)
def _chunk_bounds(n_items: int, chunks: int, chunk: int) -> tuple[int, int]:
    return (n_items * chunk) // chunks, (n_items * (chunk + 1)) // chunks


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _normalize_item(joint: np.ndarray, n_rows: int, gold_j: int, q: np.ndarray, j: int) -> float:
    """The E-step of item ``j`` from ``joint[:n_rows] = log p(z_j = t, labels of j)``, as
    :func:`emcrowd.models._base.normalize` does it: the posterior into ``q[j]`` (one-hot at
    ``gold_j`` when that is >= 0) and the item's term of the log evidence, returned. Inlined into the
    passes, where a constant ``n_rows`` makes constant loops.

    (Rows are indexed as ``q[j, t]``, never taken as views ``q[j]``: a view is reference-counted,
    and threads counting on one array's counter take turns at its cache line.)"""
    top = joint[0]
    for t in range(1, n_rows):
        top = max(top, joint[t])
    total = 0.0
    for t in range(n_rows):
        e = math.exp(joint[t] - top)
        q[j, t] = e
        total += e
    if gold_j >= 0:
        for t in range(n_rows):
            q[j, t] = 0.0
        q[j, gold_j] = 1.0
        return joint[gold_j]
    for t in range(n_rows):
        q[j, t] /= total
    return top + math.log(total)


@njit(cache=True, nogil=True, inline="always")
def _item_joint(
    joint: np.ndarray,
    n_rows: int,
    lo: int,
    hi: int,
    worker: np.ndarray,
    label: np.ndarray,
    log_theta: np.ndarray,
) -> None:
    """``joint[t] = sum of log_theta[i, label, t]`` over an item's labels ``lo:hi`` (row ``t`` of each
    annotator's log confusion), the item's log likelihood of each row before the prior."""
    for t in range(n_rows):
        joint[t] = 0.0
    for o in range(lo, hi):
        i = worker[o]
        m = label[o]
        for t in range(n_rows):
            joint[t] += log_theta[i, m, t]


@njit(cache=True)
def code_counts(codes: np.ndarray, n: int) -> np.ndarray:
    """How often each code ``0..n-1`` occurs, shape (n,): ``np.bincount`` without its copy to ``intp``."""
    counts = np.zeros(n, dtype=np.int64)
    for o in range(codes.size):
        counts[codes[o]] += 1
    return counts


class Kernels(NamedTuple):
    """The passes for one number of latent rows (see :func:`kernels_for`)."""

    confusion_log_likelihoods: Callable[..., None]
    confusion_counts: Callable[..., np.ndarray]
    confusion_pass: Callable[..., float]
    agreement_sums: Callable[..., np.ndarray]
    symmetric_pass: Callable[..., float]
    vote_shares: Callable[..., np.ndarray]


def _build(rows: int) -> Kernels:
    """The kernels, compiled for ``rows`` latent rows T (and classes K, for the one-coin passes), or
    for any number when ``rows`` is 0 (then read from the arrays).

    ``rows`` is a constant of the compiled code: with T = 2 known, the compiler unrolls the loops over
    the rows (twice as fast a pass as with T read at run time). numba caches each variant.
    """

    @njit(cache=True, parallel=True)
    def confusion_log_likelihoods(
        indptr: np.ndarray, worker: np.ndarray, label: np.ndarray, log_theta: np.ndarray, out: np.ndarray
    ) -> None:
        """``out[j, t] = sum_o log_theta[worker_o, label_o, t]`` over item ``j``'s labels, in file
        order; ``out`` is (n_items, T). Note the order of ``log_theta``'s axes, (n_workers, K, T): a
        label's T terms are adjacent (one cache line, not T). Items are independent."""
        n_rows = rows if rows else log_theta.shape[2]
        for j in prange(indptr.size - 1):
            for t in range(n_rows):
                out[j, t] = 0.0
            for o in range(indptr[j], indptr[j + 1]):
                i = worker[o]
                m = label[o]
                for t in range(n_rows):
                    out[j, t] += log_theta[i, m, t]

    @njit(cache=True, parallel=True)
    def confusion_counts(
        indptr: np.ndarray, worker: np.ndarray, label: np.ndarray, weights: np.ndarray, n_workers: int, k: int
    ) -> np.ndarray:
        """``counts[i, l, t] = sum of weights[j, t]`` over the labels ``l`` of annotator ``i`` (item
        ``j``); ``weights`` is (n_items, T). Note the order of the axes, (n_workers, K, T): an
        annotator's T sums for one label are adjacent. Summed per chunk of items, chunks in order."""
        n_items = indptr.size - 1
        n_rows = rows if rows else weights.shape[1]
        chunks = n_chunks(n_workers * k * n_rows)
        acc = np.zeros((chunks, n_workers, k, n_rows))
        for chunk in prange(chunks):
            lo, hi = _chunk_bounds(n_items, chunks, chunk)
            for j in range(lo, hi):
                for o in range(indptr[j], indptr[j + 1]):
                    i = worker[o]
                    m = label[o]
                    for t in range(n_rows):
                        acc[chunk, i, m, t] += weights[j, t]
        total = acc[0].copy()
        for chunk in range(1, chunks):
            total += acc[chunk]
        return total

    @njit(cache=True, parallel=True, error_model="numpy")
    def confusion_pass(
        indptr: np.ndarray,
        worker: np.ndarray,
        label: np.ndarray,
        log_theta: np.ndarray,
        log_pi: np.ndarray,
        gold: np.ndarray,
        q_out: np.ndarray,
        acc: np.ndarray,
    ) -> float:
        """The E-step of a confusion-matrix model and the next M-step's counts, in one pass.

        For each item ``j``: its log-likelihoods ``sum_o log_theta[worker_o, label_o, t]`` (as
        :func:`confusion_log_likelihoods`, ``log_theta`` with axes (n_workers, K, T)), plus
        ``log_pi[t]``, normalized into ``q_out[j]`` (clamped to ``gold[j]`` where that is >= 0) with
        the item's term of the log evidence; then
        ``q_out[j, t]`` is added to ``acc[chunk, worker_o, label_o, t]`` for each of its labels
        (``acc`` has shape ``(n_chunks(n_workers * K * T), n_workers, K, T)`` and is zeroed by the
        caller; its sum over the chunks is :func:`confusion_counts` of the new posteriors).

        Returns the log evidence ``sum_j log p(labels of j [, z_j = gold_j])``.
        """
        n_items = indptr.size - 1
        n_rows = rows if rows else log_pi.size
        chunks = acc.shape[0]
        evidence = np.zeros(chunks)
        for chunk in prange(chunks):
            lo_item, hi_item = _chunk_bounds(n_items, chunks, chunk)
            joint = np.empty(n_rows + _PAD)  # this thread's own cache lines
            chunk_evidence = 0.0
            for j in range(lo_item, hi_item):
                lo, hi = indptr[j], indptr[j + 1]
                _item_joint(joint, n_rows, lo, hi, worker, label, log_theta)
                for t in range(n_rows):
                    joint[t] += log_pi[t]
                chunk_evidence += _normalize_item(joint, n_rows, gold[j], q_out, j)
                for o in range(lo, hi):
                    i = worker[o]
                    m = label[o]
                    for t in range(n_rows):
                        acc[chunk, i, m, t] += q_out[j, t]
            evidence[chunk] = chunk_evidence
        total = 0.0
        for chunk in range(chunks):
            total += evidence[chunk]
        return total

    @njit(cache=True, parallel=True)
    def agreement_sums(
        indptr: np.ndarray, worker: np.ndarray, label: np.ndarray, q: np.ndarray, n_workers: int
    ) -> np.ndarray:
        """Per annotator, the sum over its labels of ``q[j, label_o]`` (the expected number of its
        labels that name the true class), shape (n_workers,); summed per chunk of items, in order."""
        n_items = indptr.size - 1
        chunks = n_chunks(n_workers)
        acc = np.zeros((chunks, n_workers))
        for chunk in prange(chunks):
            lo, hi = _chunk_bounds(n_items, chunks, chunk)
            for j in range(lo, hi):
                for o in range(indptr[j], indptr[j + 1]):
                    acc[chunk, worker[o]] += q[j, label[o]]
        total = acc[0].copy()
        for chunk in range(1, chunks):
            total += acc[chunk]
        return total

    @njit(cache=True, parallel=True, error_model="numpy")
    def symmetric_pass(
        indptr: np.ndarray,
        worker: np.ndarray,
        label: np.ndarray,
        log_right: np.ndarray,
        log_wrong: np.ndarray,
        log_pi: np.ndarray,
        gold: np.ndarray,
        q_out: np.ndarray,
        acc: np.ndarray,
    ) -> float:
        """The E-step of a one-coin model and the next M-step's sums, in one pass.

        A label of annotator ``i`` adds ``log_right[i]`` to the class it names and ``log_wrong[i]``
        to every other class (both per annotator, shape (n_workers,)); the sums are formed as
        :func:`emcrowd.models.classification._observations.symmetric_log_likelihoods` forms them (per class
        named,
        then prefix and suffix sums: terms of one sign, never a subtraction). The posterior of item
        ``j`` goes to ``q_out[j]`` (clamped to ``gold[j]`` where that is >= 0), and
        ``q_out[j, label_o]`` is added to ``acc[chunk, worker_o]`` for each of its labels (``acc`` has
        shape ``(n_chunks(n_workers), n_workers)``, zeroed by the caller; its chunks' sum is
        :func:`agreement_sums` of the new posteriors).

        Returns the log evidence ``sum_j log p(labels of j [, z_j = gold_j])``.
        """
        n_items = indptr.size - 1
        k = rows if rows else log_pi.size
        chunks = acc.shape[0]
        evidence = np.zeros(chunks)
        for chunk in prange(chunks):
            lo_item, hi_item = _chunk_bounds(n_items, chunks, chunk)
            right_sum = np.empty(k + _PAD)
            wrong_sum = np.empty(k + _PAD)
            joint = np.empty(k + _PAD)
            chunk_evidence = 0.0
            for j in range(lo_item, hi_item):
                lo, hi = indptr[j], indptr[j + 1]
                for m in range(k):
                    right_sum[m] = 0.0
                    wrong_sum[m] = 0.0
                for o in range(lo, hi):
                    i = worker[o]
                    m = label[o]
                    right_sum[m] += log_right[i]
                    wrong_sum[m] += log_wrong[i]
                before = 0.0
                for m in range(k):
                    joint[m] = right_sum[m] + before
                    before += wrong_sum[m]
                after = 0.0
                for m in range(k - 1, -1, -1):
                    joint[m] += after
                    after += wrong_sum[m]
                for m in range(k):
                    joint[m] += log_pi[m]
                chunk_evidence += _normalize_item(joint, k, gold[j], q_out, j)
                for o in range(lo, hi):
                    acc[chunk, worker[o]] += q_out[j, label[o]]
            evidence[chunk] = chunk_evidence
        total = 0.0
        for chunk in range(chunks):
            total += evidence[chunk]
        return total

    @njit(cache=True, parallel=True)
    def vote_shares(indptr: np.ndarray, label: np.ndarray, k: int) -> np.ndarray:
        """Each class's share of an item's labels, shape (n_items, K) (uniform for an item without
        labels), as :func:`emcrowd.models.classification.majority.vote_shares` of the vote counts."""
        k = rows if rows else k
        n_items = indptr.size - 1
        shares = np.empty((n_items, k))
        for j in prange(n_items):
            lo, hi = indptr[j], indptr[j + 1]
            for m in range(k):
                shares[j, m] = 0.0
            if hi == lo:
                for m in range(k):
                    shares[j, m] = 1.0 / k
                continue
            for o in range(lo, hi):
                shares[j, label[o]] += 1.0
            for m in range(k):
                shares[j, m] /= float(hi - lo)
        return shares

    return Kernels(
        confusion_log_likelihoods,
        confusion_counts,
        confusion_pass,
        agreement_sums,
        symmetric_pass,
        vote_shares,
    )


#: Latent-row counts with kernels of their own (the rest share the general ones).
SPECIALIZED = (2,)


@cache
def kernels_for(n_rows: int) -> Kernels:
    """The kernels for ``n_rows`` latent rows (T; for the one-coin passes and vote shares, the number
    of classes K): compiled for exactly that many when it is in ``SPECIALIZED``, else the general
    ones."""
    return _build(n_rows if n_rows in SPECIALIZED else 0)


def compile_all() -> None:
    """Compile every kernel now (into numba's cache beside this file) on a tiny input, so that the
    first large fit does not pay the compilation; ``python -m
    emcrowd.models.classification._confusion_kernels``."""
    item = np.array([1, 0, 0], dtype=np.int32)
    worker = np.array([0, 1, 1], dtype=np.int32)
    label = np.array([1, 0, 1], dtype=np.int32)
    indptr, worker, label = group_by_item(item, worker, label, 2)
    code_counts(worker, 2)
    for n_rows in (*SPECIALIZED, 3):  # 3: the general kernels
        kern = kernels_for(n_rows)
        log_theta = np.log(np.full((2, n_rows, n_rows), 1.0 / n_rows))
        q = np.full((2, n_rows), 1.0 / n_rows)
        log_pi, gold = np.log(q[0]), np.full(2, -1, dtype=np.int64)
        kern.confusion_log_likelihoods(indptr, worker, label, log_theta, np.empty((2, n_rows)))
        kern.confusion_counts(indptr, worker, label, q, 2, n_rows)
        acc = np.zeros((n_chunks(2 * n_rows * n_rows), 2, n_rows, n_rows))
        kern.confusion_pass(indptr, worker, label, log_theta, log_pi, gold, np.empty((2, n_rows)), acc)
        kern.agreement_sums(indptr, worker, label, q, 2)
        acc = np.zeros((n_chunks(2), 2))
        kern.symmetric_pass(
            indptr,
            worker,
            label,
            log_pi[:2].copy(),
            log_pi[:2].copy(),
            log_pi,
            gold,
            np.empty((2, n_rows)),
            acc,
        )
        kern.vote_shares(indptr, label, n_rows)


if __name__ == "__main__":
    compile_all()
