"""Compiled (numba) E-step of :class:`~emcrowd.models.classification.machine.CrowdMachine` on large inputs.

Dawid-Skene's one pass over the people's labels grouped by item
(:mod:`._confusion_kernels`), with each machine's answer on the item added as one more term: a
machine gives an item at most one symbol (its answer and confidence bin), so the machines are a
small ``(n_items, n_machines)`` table of symbol codes read beside the item's labels, not labels of
extra annotators. For each item: the people's log-likelihoods, plus each machine's
``log P(symbol | t)``, plus ``log_pi``, normalized (gold clamped), then the next M-step's sums for
the people (per annotator, label and row) and for the machines (per machine, symbol and row).

The terms are added in the order the NumPy engine adds them (the item's labels in file order, then
the machines in order, then the class prior), so the log-likelihoods are the same to the last bit;
the sums are accumulated per chunk of items, chunks added in order, as in :mod:`._confusion_kernels`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from numba import njit, prange

from emcrowd.models.classification._confusion_kernels import (
    _PAD,
    SPECIALIZED,
    _chunk_bounds,
    _item_joint,
    _normalize_item,
)

__all__ = ["PAD", "answers", "compile_all", "machine_counts", "machine_pass_for", "symbols"]

#: Spare entries after each chunk's machine sums (against false sharing between threads).
PAD = _PAD


def _build(rows: int) -> Callable[..., float]:
    """The pass compiled for ``rows`` classes (a constant of the compiled code), or for any number
    when ``rows`` is 0."""

    @njit(cache=True, parallel=True, error_model="numpy")
    def machine_pass(
        indptr: np.ndarray,
        worker: np.ndarray,
        label: np.ndarray,
        log_theta: np.ndarray,
        symbol: np.ndarray,
        machine_log: np.ndarray,
        log_pi: np.ndarray,
        gold: np.ndarray,
        q_out: np.ndarray,
        acc: np.ndarray,
        machine_acc: np.ndarray,
        class_acc: np.ndarray,
    ) -> float:
        """The E-step and the next M-step's sums, in one pass.

        ``log_theta`` (n_people, K, T) and ``acc`` (chunks, n_people, K, T) as in
        :func:`._confusion_kernels.confusion_pass`; ``symbol`` (n_items, n_machines) int32, the
        machine's symbol on the item or -1; ``machine_log`` (n_machines, S, T) the log probability of
        each symbol given each row; ``machine_acc`` (chunks, n_machines * S * T + padding), zeroed by
        the caller: ``q_out[j, t]`` is added at ``(m * S + s) * T + t`` for each machine ``m`` with a
        symbol ``s`` on item ``j``; ``class_acc`` (chunks, T + padding), zeroed by the caller: the
        chunk's sum of ``q_out[j, t]`` (the next class prior's sums). Returns the log evidence.
        """
        n_items = indptr.size - 1
        n_rows = rows if rows else log_pi.size
        n_machines = symbol.shape[1]
        n_symbols = machine_log.shape[1]
        chunks = acc.shape[0]
        evidence = np.zeros(chunks)
        for chunk in prange(chunks):
            lo_item, hi_item = _chunk_bounds(n_items, chunks, chunk)
            joint = np.empty(n_rows + _PAD)  # this thread's own cache lines
            chunk_evidence = 0.0
            for j in range(lo_item, hi_item):
                lo, hi = indptr[j], indptr[j + 1]
                _item_joint(joint, n_rows, lo, hi, worker, label, log_theta)
                for m in range(n_machines):
                    s = symbol[j, m]
                    if s >= 0:
                        for t in range(n_rows):
                            joint[t] += machine_log[m, s, t]
                for t in range(n_rows):
                    joint[t] += log_pi[t]
                chunk_evidence += _normalize_item(joint, n_rows, gold[j], q_out, j)
                for t in range(n_rows):
                    class_acc[chunk, t] += q_out[j, t]
                for o in range(lo, hi):
                    i = worker[o]
                    m = label[o]
                    for t in range(n_rows):
                        acc[chunk, i, m, t] += q_out[j, t]
                for m in range(n_machines):
                    s = symbol[j, m]
                    if s >= 0:
                        base = (m * n_symbols + s) * n_rows
                        for t in range(n_rows):
                            machine_acc[chunk, base + t] += q_out[j, t]
            evidence[chunk] = chunk_evidence
        total = 0.0
        for chunk in range(chunks):
            total += evidence[chunk]
        return total

    return machine_pass


@njit(cache=True, parallel=True)
def answers(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's most probable class (the lowest code among ties), int32, and its probability."""
    n, k = proba.shape
    answer = np.empty(n, dtype=np.int32)
    top = np.empty(n)
    for j in prange(n):
        best, value = 0, proba[j, 0]
        for c in range(1, k):
            if proba[j, c] > value:
                best, value = c, proba[j, c]
        answer[j] = best
        top[j] = value
    return answer, top


@njit(cache=True, parallel=True)
def symbols(answer: np.ndarray, confidence: np.ndarray, inner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each answer's confidence bin ``b`` (``inner[b-1] < c <= inner[b]``, the inner bounds sorted)
    and its symbol ``answer * n_bins + b``, both int32."""
    n, n_bins = answer.size, inner.size + 1
    bin_ = np.empty(n, dtype=np.int32)
    symbol = np.empty(n, dtype=np.int32)
    for j in prange(n):
        c = confidence[j]
        b = 0
        while b < inner.size and inner[b] < c:
            b += 1
        bin_[j] = b
        symbol[j] = answer[j] * n_bins + b
    return bin_, symbol


@njit(cache=True)
def machine_counts(symbol: np.ndarray, q: np.ndarray, n_symbols: int) -> np.ndarray:
    """``counts[m, s, t]``: the sum of ``q[j, t]`` over the items ``j`` where machine ``m`` gave
    symbol ``s`` (in item order), shape (n_machines, S, T); the machines' sums of a first M-step."""
    n_items, n_machines = symbol.shape
    n_rows = q.shape[1]
    counts = np.zeros((n_machines, n_symbols, n_rows))
    for j in range(n_items):
        for m in range(n_machines):
            s = symbol[j, m]
            if s >= 0:
                for t in range(n_rows):
                    counts[m, s, t] += q[j, t]
    return counts


@cache
def machine_pass_for(n_classes: int) -> Callable[..., float]:
    """The pass for ``n_classes`` classes: compiled for exactly that many when it is in
    :data:`._confusion_kernels.SPECIALIZED`, else the general one."""
    return _build(n_classes if n_classes in SPECIALIZED else 0)


def compile_all() -> None:
    """Compile the passes now (into numba's cache beside this file) on a tiny input; ``python -m
    emcrowd.models.classification._machine_kernels``."""
    from emcrowd.models.classification._glad_kernels import group_by_item

    item = np.array([1, 0, 0], dtype=np.int32)
    worker = np.array([0, 1, 1], dtype=np.int32)
    label = np.array([1, 0, 1], dtype=np.int32)
    indptr, worker, label = group_by_item(item, worker, label, 2)
    for k in (*SPECIALIZED, 3):  # 3: the general pass
        log_theta = np.log(np.full((2, k, k), 1.0 / k))
        symbol = np.array([[0], [-1]], dtype=np.int32)
        machine_log = np.log(np.full((1, k, k), 1.0 / k))
        log_pi = np.log(np.full(k, 1.0 / k))
        gold = np.full(2, -1, dtype=np.int64)
        acc = np.zeros((1, 2, k, k))
        machine_acc = np.zeros((1, k * k + _PAD))
        q = np.empty((2, k))
        class_acc = np.zeros((1, k + _PAD))
        machine_pass_for(k)(
            indptr,
            worker,
            label,
            log_theta,
            symbol,
            machine_log,
            log_pi,
            gold,
            q,
            acc,
            machine_acc,
            class_acc,
        )
        machine_counts(symbol, q, k)
        answer, top = answers(q)
        symbols(answer, top, np.array([0.5]))


if __name__ == "__main__":
    compile_all()
