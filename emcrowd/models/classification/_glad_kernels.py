"""Compiled (numba) passes over the labels for GLAD on large inputs.

The NumPy implementation in :mod:`emcrowd.models.classification.glad` makes several temporary arrays with one
entry
per label for every quantity it needs, and evaluates the labels five or more times per EM iteration.
Here each pass reads the labels once and keeps nothing per label (labels not already in item order
are copied into it once): the labels are grouped by item
(CSR: the labels of item ``j`` are ``indptr[j]:indptr[j+1]``), so the whole b block (Newton step, step
halving), the E-step and the next alpha block's sums are computed item by item while that item's few
labels are in cache (:func:`em_pass`, one pass per EM iteration), and the annotator sums are
accumulated per chunk of items.

The arithmetic is that of the NumPy functions, term for term: the same formulas (``log1p`` to within
an ulp), an item's labels summed in the same order, but an annotator's labels summed per chunk of
items. So both implementations reach the same fit up to rounding; the tests hold them to 1e-6 in the
objective. Chunk sums are added in a fixed order, and the number of chunks depends on
the data only (:func:`n_chunks`), so the results do not depend on the number of threads.

Importing this module imports numba (about 0.7 s, 150 MB); :class:`emcrowd.GLAD` does so only for
inputs large enough to gain from it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: Items are split into at most this many chunks for the threads, each with its own annotator sums.
MAX_CHUNKS = 16
#: ... and into fewer when there are many annotators, to bound those sums' size (entries per row).
CHUNK_BUDGET = 1 << 20


#: Spare float64 entries after each thread's scratch arrays: two cache lines.
_PAD = 16


@njit(cache=True)
def n_chunks(n_workers: int) -> int:
    """How many chunks of items the passes use: up to ``MAX_CHUNKS``, fewer with many annotators.

    It depends on the data alone, never on the number of threads, so the chunked sums (and the fit)
    are the same on every machine.
    """
    return max(1, min(MAX_CHUNKS, CHUNK_BUDGET // max(n_workers, 1)))


@njit(cache=True, nogil=True)
def _log_sigmoids_and_sigmoids(x: float) -> tuple[float, float, float, float]:
    """``log sigmoid(x)``, ``log sigmoid(-x)``, ``sigmoid(x)`` and ``sigmoid(-x)`` from one ``exp(-|x|)``.

    The logs are those of :func:`emcrowd.models.classification.glad.log_sigmoids`; both sigmoids are computed
    directly (neither as one minus the other), as :meth:`emcrowd.models.classification.glad.LabelEval.slopes`
    does.
    ``log1p(e)`` is ``log(u)`` with ``u = 1 + e`` rounded, corrected by the rounding error of ``u`` to
    first order (Goldberg's trick): within an ulp of ``log1p`` (exact when ``u == 1``), at a third of
    the cost of libm's ``log1p``.
    """
    e = math.exp(-abs(x))
    u = 1.0 + e
    d = 1.0 / u
    right = min(x, 0.0) - (math.log(u) - ((u - 1.0) - e) * d)
    if x >= 0.0:
        return right, right - x, d, e * d
    return right, right - x, e * d, d


@njit(cache=True, nogil=True)
def _slope(w: float, s: float, sc: float, x: float) -> float:
    """``w - sigmoid(x)`` without cancellation (``sc = sigmoid(-x)``), as ``LabelEval.slopes``."""
    return (w - 1.0) + sc if x >= 0.0 else w - s


@njit(cache=True, nogil=True)
def _chunk_bounds(n_items: int, n_chunks: int, chunk: int) -> tuple[int, int]:
    return (n_items * chunk) // n_chunks, (n_items * (chunk + 1)) // n_chunks


@njit(cache=True)
def is_sorted(item: np.ndarray) -> bool:
    """Whether the item codes never decrease (the labels are already grouped by item)."""
    for o in range(1, item.size):  # noqa: SIM110 (numba compiles loops, not generators)
        if item[o] < item[o - 1]:
            return False
    return True


@njit(cache=True)
def group_by_item(
    item: np.ndarray, worker: np.ndarray, label: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, worker, label)`` with the labels grouped by item, file order kept within an item.

    When the labels are already grouped, the given ``worker`` and ``label`` arrays are returned as
    they are (no copy); else a counting sort copies them.
    """
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    for o in range(item.size):
        indptr[item[o] + 1] += 1
    for j in range(n_items):
        indptr[j + 1] += indptr[j]
    if is_sorted(item):
        return indptr, worker, label
    fill = indptr[:-1].copy()
    w_out = np.empty_like(worker)
    l_out = np.empty_like(label)
    for o in range(item.size):
        j = item[o]
        w_out[fill[j]] = worker[o]
        l_out[fill[j]] = label[o]
        fill[j] += 1
    return indptr, w_out, l_out


@njit(cache=True, parallel=True)
def alpha_sums(
    indptr: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    alpha: np.ndarray,
    b: np.ndarray,
    q: np.ndarray,
    c: float,
    only: np.ndarray,
    derivatives: bool,
) -> np.ndarray:
    """Per annotator, shape (n_workers, 3): its labels' part of the M-step objective
    ``sum w log s + (1 - w)(log s(-x) - c)`` and, with ``derivatives``, its derivative in ``alpha_i``
    ``sum (w - s) beta`` and minus its second derivative ``sum s (1 - s) beta^2`` (no prior terms; 0
    without ``derivatives``), as :func:`~emcrowd.models.classification.glad.alpha_block_values` and
    :func:`~emcrowd.models.classification.glad.alpha_derivatives`. Only annotators where ``only`` is set are
    summed
    (the others get 0). ``q`` is the posteriors, (n_items, K).
    """
    n_items = indptr.size - 1
    n_workers = alpha.size
    chunks = n_chunks(n_workers)
    acc = np.zeros((chunks, n_workers, 3))
    for chunk in prange(chunks):
        lo, hi = _chunk_bounds(n_items, chunks, chunk)
        for j in range(lo, hi):
            beta = math.exp(b[j])
            for o in range(indptr[j], indptr[j + 1]):
                i = worker[o]
                if not only[i]:
                    continue
                x = alpha[i] * beta
                right, wrong, s, sc = _log_sigmoids_and_sigmoids(x)
                w = q[j, label[o]]
                acc[chunk, i, 0] += w * right + (wrong - c) * (1.0 - w)
                if derivatives:
                    acc[chunk, i, 1] += _slope(w, s, sc, x) * beta
                    acc[chunk, i, 2] += s * sc * beta * beta
    total = acc[0].copy()
    for chunk in range(1, chunks):
        total += acc[chunk]
    return total


@njit(cache=True, nogil=True)
def _item_terms(
    lo: int,
    hi: int,
    worker: np.ndarray,
    label: np.ndarray,
    alpha: np.ndarray,
    beta: float,
    qj: np.ndarray,
    c: float,
    right_sum: np.ndarray,
    wrong_sum: np.ndarray,
    right_buf: np.ndarray,
    s_buf: np.ndarray,
    sc_buf: np.ndarray,
) -> float:
    """One item's labels' part of the M-step objective at ``beta``. On the way: the sums of
    ``log sigmoid(x)`` and of ``log sigmoid(-x) - c`` per class named (for its log-likelihoods), and
    each label's ``log sigmoid(x)``, ``sigmoid(x)`` and ``sigmoid(-x)`` (for the annotators' sums)
    in the buffers."""
    value = 0.0
    for m in range(right_sum.size - _PAD):
        right_sum[m] = 0.0
        wrong_sum[m] = 0.0
    for o in range(lo, hi):
        right, wrong, s, sc = _log_sigmoids_and_sigmoids(alpha[worker[o]] * beta)
        m = label[o]
        w = qj[m]
        value += w * right + (wrong - c) * (1.0 - w)
        right_sum[m] += right
        wrong_sum[m] += wrong - c
        right_buf[o - lo] = right
        s_buf[o - lo] = s
        sc_buf[o - lo] = sc
    return value


@njit(cache=True, parallel=True)
def log_likelihoods(
    indptr: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    alpha: np.ndarray,
    b: np.ndarray,
    n_classes: int,
    c: float,
) -> np.ndarray:
    """``log p(labels of j | z_j = k, alpha, b)`` for every item and class, shape (n_items, K), summed
    as :func:`em_pass` (and :func:`emcrowd.models.classification._observations.symmetric_log_likelihoods`)
    does."""
    n_items = indptr.size - 1
    out = np.zeros((n_items, n_classes))
    for j in prange(n_items):
        right_sum = np.zeros(n_classes)
        wrong_sum = np.zeros(n_classes)
        beta = math.exp(b[j])
        for o in range(indptr[j], indptr[j + 1]):
            right, wrong, _, _ = _log_sigmoids_and_sigmoids(alpha[worker[o]] * beta)
            right_sum[label[o]] += right
            wrong_sum[label[o]] += wrong - c
        before = 0.0
        for m in range(n_classes):
            out[j, m] = right_sum[m] + before
            before += wrong_sum[m]
        after = 0.0
        for m in range(n_classes - 1, -1, -1):
            out[j, m] += after
            after += wrong_sum[m]
    return out


@njit(cache=True, parallel=True)
def em_pass(
    indptr: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    alpha: np.ndarray,
    b: np.ndarray,
    q: np.ndarray,
    c: float,
    prior_mean: float,
    prior_sd: float,
    max_halvings: int,
    log_pi: np.ndarray,
    gold: np.ndarray,
    b_out: np.ndarray,
    q_out: np.ndarray,
    log_lik: np.ndarray,
    alpha_acc: np.ndarray,
    sweep_sums: bool = True,
) -> tuple[float, float]:
    """The b block of the M-step, the E-step, and the next alpha block's sums, item by item.

    For each item ``j``, with the annotators at ``alpha`` and the current posteriors ``q``:

    1. one Newton step on the item's own part of the M-step objective (labels plus the Gaussian prior
       on ``b_j``), with the curvature and the step halving of
       :func:`emcrowd.models.classification.glad._guarded_newton`; the new ``b_j`` goes to ``b_out``;
    2. the E-step at the new ``b_j``: ``log_lik[j, k] = log p(labels of j | z_j = k)`` (summed as
       :func:`emcrowd.models.classification._observations.symmetric_log_likelihoods` does: terms of one sign,
       the
       other classes by prefix and suffix sums), the posterior ``q_out[j]`` under the class prior
       ``log_pi`` (clamped to ``gold[j]`` where that is >= 0, as :func:`emcrowd.models._base.normalize`
       does), and the item's term of the log evidence;
    3. into ``alpha_acc[chunk, worker, :]`` (shape (n_chunks(n_workers), n_workers, 8), or 4 wide
       without ``sweep_sums``, zeroed by the caller; an annotator's sums share a cache line):
       entry 0, each label's part of the alpha-block objective at ``(alpha, b, q)`` (with ``alpha`` a
       trial of the alpha block, these are that trial's values, as :func:`alpha_sums`); entries 1-3,
       the three sums of :func:`alpha_sums` at ``(alpha, b_out, q_out)``, which the next M-step needs
       if this was the M-step's last sweep; entries 4-6, the same at ``(alpha, b_out, q)``, which the
       next sweep of this M-step needs otherwise (left at 0 without ``sweep_sums``: no sweep follows).

    Returns the log evidence ``sum_j log p(labels of j [, z_j = gold_j])`` at ``(alpha, b_out)`` and
    the b block's gain (its objective at ``b_out`` minus at ``b``). Because the alpha block comes
    first in a sweep, a caller passes the full alpha trial here; if the trial is then not taken for
    every annotator, it calls again with the alpha actually taken.
    """
    n_items = indptr.size - 1
    k = log_lik.shape[1]
    inv_var = 1.0 / (prior_sd * prior_sd)
    log_norm = math.log(prior_sd) + _LOG_SQRT_2PI
    max_degree = 0
    for j in range(n_items):
        max_degree = max(max_degree, indptr[j + 1] - indptr[j])
    chunks = alpha_acc.shape[0]
    evidence = np.zeros(chunks)
    gains = np.zeros(chunks)
    for chunk in prange(chunks):
        lo_item, hi_item = _chunk_bounds(n_items, chunks, chunk)
        # Each thread's scratch arrays get _PAD spare entries, so that no two threads ever write to
        # one cache line (false sharing costs more than the arithmetic here); sums stay local.
        right_sum = np.empty(k + _PAD)
        wrong_sum = np.empty(k + _PAD)
        right_buf = np.empty(max_degree + _PAD)
        s_buf = np.empty(max_degree + _PAD)
        sc_buf = np.empty(max_degree + _PAD)
        chunk_evidence = 0.0
        chunk_gain = 0.0
        for j in range(lo_item, hi_item):
            lo, hi = indptr[j], indptr[j + 1]
            bj = b[j]
            qj = q[j]
            # 1. The b step; the labels' terms at alpha and the old b_j are the trial's values.
            beta = math.exp(bj)
            value0 = 0.0
            grad = 0.0
            fisher = 0.0
            for o in range(lo, hi):
                i = worker[o]
                x = alpha[i] * beta
                right, wrong, s, sc = _log_sigmoids_and_sigmoids(x)
                w = qj[label[o]]
                term = w * right + (wrong - c) * (1.0 - w)
                alpha_acc[chunk, i, 0] += term
                value0 += term
                grad += _slope(w, s, sc, x) * x
                fisher += s * sc * x * x
            z = (bj - prior_mean) / prior_sd
            value0 += -0.5 * z * z - log_norm
            newton = -fisher + grad - inv_var
            fisher = -fisher - inv_var
            grad += -(bj - prior_mean) * inv_var
            step = -grad / min(newton, 0.5 * fisher)
            summed = False  # the sums and buffers hold item j's terms at bj
            if math.isfinite(step) and step != 0.0:
                t = 1.0
                for _ in range(max_halvings + 1):
                    trial = bj + t * step
                    z = (trial - prior_mean) / prior_sd
                    value = _item_terms(
                        lo, hi, worker, label, alpha, math.exp(trial), qj, c,
                        right_sum, wrong_sum, right_buf, s_buf, sc_buf,
                    )  # fmt: skip
                    value += -0.5 * z * z - log_norm
                    if value >= value0:
                        bj = trial
                        summed = True
                        chunk_gain += value - value0
                        break
                    t *= 0.5
            beta = math.exp(bj)
            b_out[j] = bj
            if not summed:
                _item_terms(
                    lo, hi, worker, label, alpha, beta, qj, c, right_sum, wrong_sum, right_buf, s_buf, sc_buf
                )  # fmt: skip
            # 2. The E-step for item j.
            before = 0.0
            for m in range(k):
                log_lik[j, m] = right_sum[m] + before
                before += wrong_sum[m]
            after = 0.0
            for m in range(k - 1, -1, -1):
                log_lik[j, m] += after
                after += wrong_sum[m]
            top = log_lik[j, 0] + log_pi[0]
            for m in range(1, k):
                top = max(top, log_lik[j, m] + log_pi[m])
            total = 0.0
            for m in range(k):
                q_out[j, m] = math.exp(log_lik[j, m] + log_pi[m] - top)
                total += q_out[j, m]
            if gold[j] >= 0:
                for m in range(k):
                    q_out[j, m] = 0.0
                q_out[j, gold[j]] = 1.0
                chunk_evidence += log_lik[j, gold[j]] + log_pi[gold[j]]
            else:
                for m in range(k):
                    q_out[j, m] /= total
                chunk_evidence += top + math.log(total)
            # 3. The alpha block's sums at the new b_j: with the new posterior (for the next M-step)
            # and with the old one (for the next sweep of this M-step).
            qn = q_out[j]
            for o in range(lo, hi):
                i = worker[o]
                x = alpha[i] * beta
                right = right_buf[o - lo]
                s = s_buf[o - lo]
                sc = sc_buf[o - lo]
                ss = s * sc * beta * beta
                w = qn[label[o]]
                alpha_acc[chunk, i, 1] += w * right + (right - x - c) * (1.0 - w)
                alpha_acc[chunk, i, 2] += _slope(w, s, sc, x) * beta
                alpha_acc[chunk, i, 3] += ss
                if not sweep_sums:
                    continue
                w = qj[label[o]]
                alpha_acc[chunk, i, 4] += w * right + (right - x - c) * (1.0 - w)
                alpha_acc[chunk, i, 5] += _slope(w, s, sc, x) * beta
                alpha_acc[chunk, i, 6] += ss
        evidence[chunk] = chunk_evidence
        gains[chunk] = chunk_gain
    total_evidence = 0.0
    total_gain = 0.0
    for chunk in range(chunks):
        total_evidence += evidence[chunk]
        total_gain += gains[chunk]
    return total_evidence, total_gain


@njit(cache=True, parallel=True)
def node_log_joints(
    indptr: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    right: np.ndarray,
    wrong: np.ndarray,
    log_class_prior: np.ndarray,
    log_node_weights: np.ndarray,
) -> np.ndarray:
    """For every item (labels grouped by ``indptr``) and node ``g`` of a grid over ``b`` shared by
    all items: ``log w_g + log p(z_j = k, labels of j | alpha, b_j = b_g)``, combined over the nodes
    by log-sum-exp when ``log_node_weights`` is given (shape (n_items, K): ``b_j`` integrated), or, when
    it is empty, combined over the classes instead (shape (n_items, n_nodes): ``log p(labels of j |
    b_j = b_g)`` under the class prior).

    ``right[i, g]`` and ``wrong[i, g]`` are annotator ``i``'s ``log sigmoid(alpha_i exp(b_g))`` and
    ``log sigmoid(-alpha_i exp(b_g)) - log(K - 1)``, computed once per annotator and node: the labels
    need no transcendental function here. Sums as
    :func:`emcrowd.models.classification.glad._log_joint_at` makes them (the wrong-class terms of an
    item, plus right minus wrong on the class each label names).
    """
    n_items = indptr.size - 1
    n_nodes = right.shape[1]
    k = log_class_prior.size
    integrate = log_node_weights.size > 0
    out = np.empty((n_items, k if integrate else n_nodes))
    for j in prange(n_items):
        joint = np.zeros((n_nodes, k))
        wrong_sum = np.zeros(n_nodes)
        for o in range(indptr[j], indptr[j + 1]):
            i, m = worker[o], label[o]
            for g in range(n_nodes):  # an annotator's row of the tables is contiguous
                wrong_sum[g] += wrong[i, g]
                joint[g, m] += right[i, g] - wrong[i, g]
        for g in range(n_nodes):
            for m in range(k):
                joint[g, m] += wrong_sum[g] + log_class_prior[m]
                if integrate:
                    joint[g, m] += log_node_weights[g]
        if integrate:  # log-sum-exp over the nodes, per class
            for m in range(k):
                top = joint[0, m]
                for g in range(1, n_nodes):
                    top = max(top, joint[g, m])
                total = 0.0
                for g in range(n_nodes):
                    total += math.exp(joint[g, m] - top)
                out[j, m] = top + math.log(total)
        else:  # log-sum-exp over the classes, per node
            for g in range(n_nodes):
                top = joint[g, 0]
                for m in range(1, k):
                    top = max(top, joint[g, m])
                total = 0.0
                for m in range(k):
                    total += math.exp(joint[g, m] - top)
                out[j, g] = top + math.log(total)
    return out


@njit(cache=True)
def agreement_counts(
    indptr: np.ndarray, worker: np.ndarray, label: np.ndarray, n_workers: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`emcrowd.models.classification.glad.agreement_counts` on labels grouped by item: per
    annotator, the share of the item's other labels that name the same class, summed over its
    labels, and the number of its labels on items with other labels."""
    agree = np.zeros(n_workers)
    n = np.zeros(n_workers)
    counts = np.zeros(n_classes)
    for j in range(indptr.size - 1):
        lo, hi = indptr[j], indptr[j + 1]
        if hi - lo < 2:
            continue
        for m in range(n_classes):
            counts[m] = 0.0
        for o in range(lo, hi):
            counts[label[o]] += 1.0
        others = hi - lo - 1
        for o in range(lo, hi):
            agree[worker[o]] += (counts[label[o]] - 1.0) / others
            n[worker[o]] += 1.0
    return agree, n


def compile_all() -> None:
    """Compile every kernel now (into numba's cache beside this file) on a tiny input, so that the
    first large fit does not pay the compilation (about 10 s); ``python -m
    emcrowd.models.classification._glad_kernels``."""
    item = np.array([1, 0, 0], dtype=np.int32)
    worker = np.array([0, 1, 1], dtype=np.int32)
    label = np.array([1, 0, 1], dtype=np.int32)
    indptr, worker, label = group_by_item(item, worker, label, 2)
    alpha, b, q = np.ones(2), np.zeros(2), np.full((2, 2), 0.5)
    alpha_sums(indptr, worker, label, alpha, b, q, 0.0, np.ones(2, dtype=bool), True)
    em_pass(
        indptr, worker, label, alpha, b, q, 0.0, 1.0, 1.0, 12, np.log(q[0]), np.full(2, -1, dtype=np.int64),
        np.empty(2), np.empty((2, 2)), np.empty((2, 2)), np.zeros((n_chunks(2), 2, 8)), True,
    )  # fmt: skip
    log_likelihoods(indptr, worker, label, alpha, b, 2, 0.0)
    table = np.zeros((2, 3))
    node_log_joints(indptr, worker, label, table, table, np.log(q[0]), np.zeros(3))
    node_log_joints(indptr, worker, label, table, table, np.log(q[0]), np.zeros(0))
    agreement_counts(indptr, worker, label, 2, 2)


if __name__ == "__main__":
    compile_all()
