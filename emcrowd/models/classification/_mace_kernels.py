"""Compiled (numba) passes over the labels for MACE on large inputs.

MACE's label model is one-coin's with a table per annotator *and class said*: a label ``l`` of
annotator ``i`` adds ``log_right[i, l] = log(theta_i + (1 - theta_i) xi_il)`` to the class it names
and ``log_wrong[i, l] = log((1 - theta_i) xi_il)`` to every other class. Its M-step needs, per
annotator and class said, the sum of the posteriors of that class over the annotator's labels of it
(``agree[i, l]``) and the number of those labels (``counts[i, l]``).

:func:`mace_pass` makes the E-step and the next M-step's ``agree`` in one pass over the labels grouped
by item (the layout of :mod:`._confusion_kernels`, whose item normalisation and chunking it shares):
the log-likelihoods are formed exactly as
:func:`emcrowd.models.classification._observations.symmetric_log_likelihoods` forms them (per class
named, then prefix and suffix sums, each item's labels in file order), so both engines give the same
posteriors to the last bit; the annotator sums are accumulated per chunk of items and the chunks added
in order, so they differ from NumPy's by rounding only, and never depend on the number of threads.

Importing this module imports numba (about 0.7 s); MACE does so only for inputs large enough to gain.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from emcrowd.models.classification._confusion_kernels import (
    _PAD,
    _chunk_bounds,
    _normalize_item,
    group_by_item,
    n_chunks,
)

__all__ = ["MaceKernels", "compile_all", "kernels_for", "worker_label_counts"]


@njit(cache=True)
def worker_label_counts(worker: np.ndarray, label: np.ndarray, n_workers: int, k: int) -> np.ndarray:
    """How many labels of each class each annotator gave, shape (n_workers, K)."""
    counts = np.zeros((n_workers, k))
    for o in range(worker.size):
        counts[worker[o], label[o]] += 1.0
    return counts


class MaceKernels(NamedTuple):
    """The passes for one number of classes (see :func:`kernels_for`)."""

    agreement_by_label: Callable[..., np.ndarray]
    mace_pass: Callable[..., float]


def _build(classes: int) -> MaceKernels:
    """The kernels compiled for ``classes`` classes (a constant: unrolled loops), or for any number
    when ``classes`` is 0 (then read from the arrays)."""

    @njit(cache=True, parallel=True)
    def agreement_by_label(
        indptr: np.ndarray, worker: np.ndarray, label: np.ndarray, q: np.ndarray, n_workers: int
    ) -> np.ndarray:
        """``agree[i, l] = sum of q[j, l]`` over the labels ``l`` of annotator ``i`` (item ``j``), shape
        (n_workers, K); summed per chunk of items, the chunks in order."""
        n_items = indptr.size - 1
        k = classes if classes else q.shape[1]
        chunks = n_chunks(n_workers * k)
        acc = np.zeros((chunks, n_workers, k))
        for chunk in prange(chunks):
            lo, hi = _chunk_bounds(n_items, chunks, chunk)
            for j in range(lo, hi):
                for o in range(indptr[j], indptr[j + 1]):
                    m = label[o]
                    acc[chunk, worker[o], m] += q[j, m]
        total = acc[0].copy()
        for chunk in range(1, chunks):
            total += acc[chunk]
        return total

    @njit(cache=True, parallel=True, error_model="numpy")
    def mace_pass(
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
        """MACE's E-step and the next M-step's sums, in one pass.

        ``log_right`` and ``log_wrong`` are (n_workers, K). The posterior of item ``j`` goes to
        ``q_out[j]`` (clamped to ``gold[j]`` where that is >= 0); ``q_out[j, label_o]`` is added to
        ``acc[chunk, worker_o, label_o]`` for each of its labels (``acc`` has shape
        ``(chunks, n_workers, K)``, zeroed by the caller; its chunks' sum is :func:`agreement_by_label`
        of the new posteriors). Returns the log evidence ``sum_j log p(labels of j [, z_j = gold_j])``.
        """
        n_items = indptr.size - 1
        k = classes if classes else log_pi.size
        chunks = acc.shape[0]
        evidence = np.zeros(chunks)
        for chunk in prange(chunks):
            lo_item, hi_item = _chunk_bounds(n_items, chunks, chunk)
            right_sum = np.empty(k + _PAD)  # this thread's own cache lines
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
                    right_sum[m] += log_right[i, m]
                    wrong_sum[m] += log_wrong[i, m]
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
                    m = label[o]
                    acc[chunk, worker[o], m] += q_out[j, m]
            evidence[chunk] = chunk_evidence
        total = 0.0
        for chunk in range(chunks):
            total += evidence[chunk]
        return total

    return MaceKernels(agreement_by_label, mace_pass)


#: Class counts with kernels of their own (the rest share the general ones).
SPECIALIZED = (2,)


@cache
def kernels_for(n_classes: int) -> MaceKernels:
    """The kernels for ``n_classes`` classes: compiled for exactly that many when it is in
    ``SPECIALIZED``, else the general ones."""
    return _build(n_classes if n_classes in SPECIALIZED else 0)


def compile_all() -> None:
    """Compile every kernel now (into numba's cache beside this file) on a tiny input;
    ``python -m emcrowd.models.classification._mace_kernels``."""
    item = np.array([1, 0, 0], dtype=np.int32)
    worker = np.array([0, 1, 1], dtype=np.int32)
    label = np.array([1, 0, 1], dtype=np.int32)
    indptr, worker, label = group_by_item(item, worker, label, 2)
    worker_label_counts(worker, label, 2, 2)
    for k in (*SPECIALIZED, 3):  # 3: the general kernels
        kern = kernels_for(k)
        q = np.full((2, k), 1.0 / k)
        table = np.log(np.full((2, k), 0.5))
        kern.agreement_by_label(indptr, worker, label, q, 2)
        acc = np.zeros((n_chunks(2 * k), 2, k))
        gold = np.full(2, -1, dtype=np.int64)
        kern.mace_pass(indptr, worker, label, table, table.copy(), np.log(q[0]), gold, np.empty((2, k)), acc)


if __name__ == "__main__":
    compile_all()
