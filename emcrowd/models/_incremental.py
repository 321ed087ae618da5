"""Incremental EM (Neal & Hinton, 1998): an update whose cost follows the new labels, not the old ones.

EM's objective is a sum over items of what each item's posterior contributes. Incremental EM keeps
the posteriors of the items that got no new label as they are (they are not scored again), keeps
their contribution to the M-step as *sufficient statistics*, and runs the E-step only on the
*active* items: the new ones and the known ones that got new labels. Every M-step then uses the kept
statistics plus those of the active items. Each step raises the EM objective with the kept
posteriors held fixed, so the update is a partial EM fit of all the labels: a refit would also score
the old items again (and would move them slightly as the parameters move).

* Dawid-Skene: the statistics are exact, each annotator's expected confusion counts
  ``counts[w, t, l] = sum of q_j(t) over its labels l`` and the class totals ``sum_j q_j``. The
  incremental fit is followed by full EM iterations over the label codes (:func:`ds_sweeps`): with
  the kept posteriors held fixed the parameters move only part of the way (the kept items' move
  feeds back into them), which left 0.13% of the labels other than a refit's on 1% new labels.
* GLAD: the annotator's M-step has no closed form. For each annotator the statistics are a quadratic
  in its ``alpha``: the value, slope and curvature, at the kept ``alpha``, of its old labels'
  expected log-likelihood with their items' posteriors and difficulties ``b`` held fixed. The
  update maximises that quadratic plus the active labels' exact terms and the prior: an
  approximation (second order in how far ``alpha`` moves), measured against a refit in
  docs/incremental.md.

:func:`statistics` makes them at the end of a full fit; :func:`update` runs the incremental fit and
returns the new parameters and statistics. The statistics of items that get new labels are taken out
with the posteriors (and ``b``) kept for them, ``item_q``, and put back at their new values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.models._base import normalize

#: The methods with statistics for an incremental update.
INCREMENTAL_METHODS = ("dawid_skene", "glad")
#: Guarded Newton steps per M-step on each annotator's alpha (the kept quadratic plus the active
#: labels: nearly quadratic, so few are needed) and on each active item's b (Fisher scoring, as the
#: full fit's M-step takes one step per sweep).
_ALPHA_STEPS = 5
_B_STEPS = 2
_MAX_STEP = 4.0


def _log_k_minus_1(k: int) -> float:
    return float(np.log(k - 1)) if k > 1 else 0.0


def statistics(method: str, model: Any, data: Labels, chosen: np.ndarray) -> dict[str, np.ndarray] | None:
    """The sufficient statistics of a full fit of ``data`` (``model``, fitted) for later updates, or
    None for a method without them. ``chosen`` are the reported labels (the annotators' agreement
    counts of the workers table)."""
    if method not in INCREMENTAL_METHODS or model is None:
        return None
    q = np.asarray(getattr(model, "map_posteriors_", model.posteriors_), dtype=float)
    k = data.n_classes
    out: dict[str, np.ndarray] = {
        "item_q": q,
        "class_counts": q.sum(axis=0),
        "answer_counts": answer_counts(data.item, data.worker, data.label, chosen, data.n_workers, k),
        "worker_n_labels": data.labels_per_worker().astype(np.int64),
        "item_margin": margins(np.asarray(model.posteriors_, dtype=float)),
        "item_label": np.asarray(chosen, dtype=np.int32),
    }
    if getattr(model, "learn_class_prior", False):  # (only a learned prior's M-step reads them)
        out["item_lik"] = likelihoods(q, np.asarray(model.class_prior_, dtype=float))
    if method == "dawid_skene":
        out["confusion_counts"] = confusion_counts(data.item, data.worker, data.label, q, data.n_workers)
    else:
        terms = _glad_terms(model.alpha_, model.b_, data.item, data.worker, data.label, q, k)
        n = data.n_workers
        out["alpha_value"] = np.bincount(data.worker, weights=terms[0], minlength=n)
        out["alpha_grad"] = np.bincount(data.worker, weights=terms[1], minlength=n)
        out["alpha_curv"] = np.bincount(data.worker, weights=terms[2], minlength=n)
        prior = getattr(model, "difficulty_prior_", None) or model._b_p
        out["difficulty_prior"] = np.array([prior.mean, prior.sd])
    return out


def likelihoods(q: np.ndarray, class_prior: np.ndarray) -> np.ndarray:
    """Each item's likelihood of each class, ``q / prior`` normalised: its posterior under any other
    class prior ``pi`` is ``pi * lik`` normalised (what the class prior's M-step needs of the items
    that are not scored again)."""
    lik = q / np.maximum(class_prior, 1e-300)
    total = lik.sum(axis=1, keepdims=True)
    return np.divide(lik, total, out=np.full_like(lik, 1.0 / max(q.shape[1], 1)), where=total > 0)


def margins(q: np.ndarray) -> np.ndarray:
    """Each item's log posterior of its top class minus that of the runner-up (inf for one class)."""
    if q.shape[1] < 2:
        return np.full(q.shape[0], np.inf)
    top2 = np.sort(q, axis=1)[:, -2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(np.log(top2[:, 1]) - np.log(top2[:, 0]), nan=0.0)


def flip_bounds(
    method: str, params: dict[str, np.ndarray], class_prior: np.ndarray, inc: Increment,
    item: np.ndarray, worker: np.ndarray, label: np.ndarray, n_items: int, stats: dict[str, np.ndarray],
) -> np.ndarray:  # fmt: skip
    """For each known item, an upper bound on how much the move of the parameters (from ``params`` to
    ``inc``'s) changes the difference of its log posterior between any two classes, shape (n_items,).
    An item whose kept margin (top class against the runner-up, ``item_margin``) is above its bound
    keeps its label whatever the E-step would say at the new parameters; one below may flip, and is
    scored again. ``item``, ``worker`` and ``label`` are the kept labels' codes."""
    d_pi = np.log(np.maximum(inc.class_prior, 1e-300)) - np.log(np.maximum(class_prior, 1e-300))
    bound = np.full(n_items, float(d_pi.max() - d_pi.min()))
    if method == "dawid_skene":
        old = np.log(np.maximum(params["worker.confusion"], 1e-300))
        new = np.log(np.maximum(inc.params["worker.confusion"][: old.shape[0]], 1e-300))
        d = new - old  # (W, K, K): the move of log P(label l | truth k)
        spread = d.max(axis=1) - d.min(axis=1)  # (W, K): per annotator and label said
        flat = worker * np.int32(spread.shape[1])
        flat += label
        bound += np.bincount(item, weights=np.take(spread.ravel(), flat), minlength=n_items)
    else:
        old = params["worker.alpha"]
        d_alpha = np.abs(inc.params["worker.alpha"][: old.size] - old)
        mean, sd = (float(v) for v in stats["difficulty_prior"])
        # a label moves the log odds between its class and another by d_alpha * beta; the reported
        # posteriors integrate b over its prior, so beta up to exp(mean + 3 sd) is counted
        beta = np.maximum(np.exp(params["item.b"]), np.exp(mean + 3.0 * sd))
        bound += np.bincount(item, weights=np.take(d_alpha, worker), minlength=n_items) * beta
    return bound


def answer_counts(
    item: np.ndarray, worker: np.ndarray, label: np.ndarray, chosen: np.ndarray, n_workers: int, k: int
) -> np.ndarray:
    """``counts[w, t, l]``: labels ``l`` of annotator ``w`` on items whose chosen label is ``t``."""
    key = (worker.astype(np.int64) * k + chosen[item]) * k + label
    return np.bincount(key, minlength=n_workers * k * k).reshape(n_workers, k, k).astype(np.int64)


def confusion_counts(
    item: np.ndarray, worker: np.ndarray, label: np.ndarray, q: np.ndarray, n_workers: int
) -> np.ndarray:
    """``counts[w, t, l] = sum of q[item, t]`` over annotator ``w``'s labels ``l``."""
    k = q.shape[1]
    out = np.empty((n_workers, k, k))
    base = worker.astype(np.int64) * k + label
    for t in range(k):
        out[:, t, :] = np.bincount(base, weights=q[item, t], minlength=n_workers * k).reshape(n_workers, k)
    return out


def _log_sigmoids(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    soft = np.log1p(np.exp(-np.abs(x)))
    right = np.minimum(x, 0.0) - soft
    return right, right - x


def _glad_terms(
    alpha: np.ndarray, b: np.ndarray, item: np.ndarray, worker: np.ndarray, label: np.ndarray,
    q: np.ndarray, k: int,
) -> tuple[np.ndarray, ...]:  # fmt: skip
    """Per label: the expected log-likelihood term, its slope and curvature in ``alpha`` of its
    annotator, its slope and Fisher curvature in ``b`` of its item."""
    beta = np.exp(b)[item]
    x = alpha[worker] * beta
    lr, lw = _log_sigmoids(x)
    w = q[item, label]
    value = w * lr + (1.0 - w) * (lw - _log_k_minus_1(k))
    s, sc = np.exp(lr), np.exp(lw)
    diff = np.where(x >= 0, (w - 1.0) + sc, w - s)
    ss = s * sc
    return value, diff * beta, -ss * beta * beta, diff * x, -ss * x * x


@dataclass
class Increment:
    """What :func:`update` returns."""

    posteriors: np.ndarray  # the active items' reported posteriors (GLAD: difficulty integrated)
    map_posteriors: np.ndarray  # the EM posteriors kept for the next update
    params: dict[str, np.ndarray]  # worker.* and item.* parameters of the method (all items)
    class_prior: np.ndarray
    stats: dict[str, np.ndarray]
    n_iter: int
    converged: bool
    history: list[float] = field(default_factory=list)
    active_b: np.ndarray | None = None  # GLAD: the active items' b


def update(
    method: str,
    model: Any,
    stats: dict[str, np.ndarray],
    params: dict[str, np.ndarray],
    class_prior: np.ndarray,
    active: Labels,
    old_code: np.ndarray,
    old_label: np.ndarray,
    chosen_before: np.ndarray,
    frozen_lik: np.ndarray | None = None,
    start: Increment | None = None,
    start_codes: np.ndarray | None = None,
) -> Increment:
    """The incremental fit.

    ``model`` is an unfitted model of ``method`` with the fit's options (its priors, smoothing,
    tolerance); ``stats`` and ``params`` those kept (annotator arrays of the known annotators, item
    arrays of the known items); ``active`` the labels of the active items (items coded 0..n-1,
    annotators in the merged coding, new annotators last); ``old_code`` each active item's code among
    the known items (-1 for a new one); ``old_label`` which active labels were already fitted (their
    contribution is in ``stats`` and is taken out); ``chosen_before`` the known active items' reported
    labels before the update (for the agreement counts); ``frozen_lik`` the kept :func:`likelihoods`
    of the items that are not scored again: with a learned class prior, their posteriors follow the
    prior exactly (the prior's M-step counts them at the current prior), else their kept posteriors
    count as they are. ``start``, an earlier round's result (its active items ``start_codes``, codes
    among all the items), is where EM starts instead of the kept parameters."""
    k = active.n_classes
    n_w = active.n_workers
    known = old_code >= 0
    q_old = stats["item_q"][old_code[known]]
    # the kept statistics without the old labels of the active items (their items are scored again)
    o_item, o_worker, o_label = active.item[old_label], active.worker[old_label], active.label[old_label]
    q_full_old = np.zeros((active.n_items, k))
    q_full_old[known] = q_old
    class_counts = stats["class_counts"] - q_old.sum(axis=0)
    answers = _pad(stats["answer_counts"], n_w)
    chosen_old = np.zeros(active.n_items, dtype=np.int64)
    chosen_old[known] = chosen_before
    answers -= answer_counts(o_item, o_worker, o_label, chosen_old, n_w, k)
    n_labels = _pad(stats["worker_n_labels"], n_w) + np.bincount(active.worker[~old_label], minlength=n_w)
    learn = bool(getattr(model, "learn_class_prior", False))
    pseudo = float(getattr(model, "class_pseudocount", 1.0))
    fixed_pi = np.log(np.maximum(np.asarray(class_prior, dtype=float), 1e-300))

    current = [fixed_pi]
    # (classes first: sums over the classes of a long (K, n) array run along its rows, fast)
    lik_t = (
        np.ascontiguousarray(frozen_lik.T) if learn and frozen_lik is not None and frozen_lik.size else None
    )

    def log_pi_of(q: np.ndarray) -> np.ndarray:
        if not learn:
            return fixed_pi
        if lik_t is not None:
            shares = lik_t * np.exp(current[0])[:, None]
            shares /= shares.sum(axis=0)
            kept = shares.sum(axis=1)
        else:
            kept = class_counts
        counts = kept + q.sum(axis=0) + pseudo
        current[0] = np.log(counts / counts.sum())
        return current[0]

    tol, max_iter = float(model.tol), int(model.max_iter)
    history: list[float] = []
    converged = False
    if method == "dawid_skene":
        frozen = _pad(stats["confusion_counts"], n_w)
        frozen -= confusion_counts(o_item, o_worker, o_label, q_full_old, n_w)
        smoothing = float(model.smoothing)
        confusion = _pad(params["worker.confusion"], n_w, fill_mean=True)
        if start is not None:
            confusion = start.params["worker.confusion"]
        log_theta = np.log(np.maximum(confusion, 1e-300))
        q, evidence = _ds_e_step(active, log_theta, fixed_pi)
        for n_iter in range(1, max_iter + 1):
            counts = frozen + confusion_counts(active.item, active.worker, active.label, q, n_w) + smoothing
            totals = counts.sum(axis=2, keepdims=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                log_theta = np.where(totals > 0, np.log(counts) - np.log(totals), -np.log(k))
            q, evidence = _ds_e_step(active, log_theta, log_pi_of(q))
            history.append(evidence)
            if n_iter > 1 and abs(history[-1] - history[-2]) <= tol * abs(history[-1]):
                converged = True
                break
        new_stats = {"confusion_counts": frozen + confusion_counts(
            active.item, active.worker, active.label, q, n_w)}  # fmt: skip
        new_params = {"worker.confusion": np.exp(log_theta)}
        reported = q
        active_b = None
    else:
        ap, bp = model._priors()
        value = _pad(stats["alpha_value"], n_w)
        grad = _pad(stats["alpha_grad"], n_w)
        curv = _pad(stats["alpha_curv"], n_w)
        alpha0 = _pad(params["worker.alpha"], n_w, fill=ap.mean)
        b_old = params["item.b"]
        q_sub = q_full_old
        t = _glad_terms(alpha0, np.where(known, b_old[np.maximum(old_code, 0)], 0.0), o_item, o_worker,
                        o_label, q_sub, k)  # fmt: skip
        value -= np.bincount(o_worker, weights=t[0], minlength=n_w)
        grad -= np.bincount(o_worker, weights=t[1], minlength=n_w)
        curv -= np.bincount(o_worker, weights=t[2], minlength=n_w)
        alpha = alpha0.copy() if start is None else start.params["worker.alpha"].copy()
        b = np.where(known, b_old[np.maximum(old_code, 0)], bp.mean)
        if start is not None and start_codes is not None:  # the earlier round's b where it has one
            codes = np.where(known, old_code, b_old.size + np.cumsum(~known) - 1)
            b_start = start.params["item.b"]
            b = np.where(np.isin(codes, start_codes), b_start[np.minimum(codes, b_start.size - 1)], b)
        moving = np.bincount(active.worker, minlength=n_w) > 0
        q, evidence = _glad_e_step(active, alpha, b, fixed_pi)
        for n_iter in range(1, max_iter + 1):
            alpha = _alpha_block(alpha, alpha0, value, grad, curv, b, active, q, ap, moving)
            b = _b_block(alpha, b, active, q, bp)
            q, evidence = _glad_e_step(active, alpha, b, log_pi_of(q))
            objective = evidence + float(bp.log_pdf(b).sum())
            history.append(objective)
            if n_iter > 1 and abs(history[-1] - history[-2]) <= tol * abs(history[-1]):
                converged = True
                break
        # the quadratics re-centred at the new alpha, plus the active labels' terms there
        d = alpha - alpha0
        t = _glad_terms(alpha, b, active.item, active.worker, active.label, q, k)
        new_stats = {
            "alpha_value": value + grad * d + 0.5 * curv * d * d + np.bincount(active.worker, t[0], n_w),
            "alpha_grad": grad + curv * d + np.bincount(active.worker, t[1], n_w),
            "alpha_curv": curv + np.bincount(active.worker, t[2], n_w),
            "difficulty_prior": stats["difficulty_prior"],
        }
        from emcrowd.models.classification.glad import GaussianPrior, difficulty_integrated_posteriors

        mean, sd = (float(v) for v in stats["difficulty_prior"])
        reported = difficulty_integrated_posteriors(
            active, alpha, GaussianPrior(mean, sd, "beta"), log_pi_of(q), None
        )
        b_all = np.concatenate([b_old, np.zeros(int((~known).sum()))])
        n_old = b_old.size
        b_all[np.where(known, old_code, n_old + np.cumsum(~known) - 1)] = b
        new_params = {"worker.alpha": alpha, "item.b": b_all}
        active_b = b
    chosen = np.argmax(reported, axis=1)
    new_stats["class_counts"] = class_counts + q.sum(axis=0)
    new_stats["answer_counts"] = answers + answer_counts(
        active.item, active.worker, active.label, chosen, n_w, k
    )
    new_stats["worker_n_labels"] = n_labels
    new_stats["item_margin_active"] = margins(reported)
    pi = np.exp(current[0])
    pi /= pi.sum()
    new_stats["item_lik_active"] = likelihoods(q, pi)
    return Increment(reported, q, new_params, pi, new_stats, n_iter, converged, history, active_b)


def _pad(values: np.ndarray, n: int, fill: float = 0.0, fill_mean: bool = False) -> np.ndarray:
    """``values`` (first axis: the known annotators) extended to ``n`` annotators."""
    values = np.asarray(values)
    extra = n - values.shape[0]
    if extra <= 0:
        return values.astype(np.result_type(values, float) if values.dtype.kind == "f" else values.dtype)
    if fill_mean and values.shape[0]:
        tail = np.repeat(values.mean(axis=0)[None], extra, axis=0)
    else:
        tail = np.full((extra, *values.shape[1:]), fill, dtype=values.dtype)
    return np.concatenate([values, tail.astype(values.dtype)])


def _ds_e_step(active: Labels, log_theta: np.ndarray, log_pi: np.ndarray) -> tuple[np.ndarray, float]:
    k = active.n_classes
    joint = np.empty((active.n_items, k))
    for t in range(k):
        joint[:, t] = np.bincount(
            active.item, weights=log_theta[active.worker, t, active.label], minlength=active.n_items
        )
    joint += log_pi
    return normalize(joint)


def _glad_e_step(
    active: Labels, alpha: np.ndarray, b: np.ndarray, log_pi: np.ndarray
) -> tuple[np.ndarray, float]:
    k = active.n_classes
    x = alpha[active.worker] * np.exp(b)[active.item]
    lr, lw = _log_sigmoids(x)
    lw = lw - _log_k_minus_1(k)
    joint = np.empty((active.n_items, k))
    for t in range(k):
        joint[:, t] = np.bincount(
            active.item, weights=np.where(active.label == t, lr, lw), minlength=active.n_items
        )
    joint += log_pi
    return normalize(joint)


def _alpha_block(
    alpha: np.ndarray, alpha0: np.ndarray, value: np.ndarray, grad: np.ndarray, curv: np.ndarray,
    b: np.ndarray, active: Labels, q: np.ndarray, prior: Any, moving: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Each moving annotator's alpha maximising its kept quadratic, its active labels' exact terms and
    its prior: guarded Newton steps (the function is concave in alpha)."""
    n_w, k = alpha.size, active.n_classes

    def parts(a: np.ndarray, derivatives: bool) -> tuple[np.ndarray, ...]:
        d = a - alpha0
        t = _glad_terms(a, b, active.item, active.worker, active.label, q, k)
        f = value + grad * d + 0.5 * curv * d * d + np.bincount(active.worker, t[0], n_w) + prior.log_pdf(a)
        if not derivatives:
            return (f,)
        g = grad + curv * d + np.bincount(active.worker, t[1], n_w) + prior.grad(a)
        c = curv + np.bincount(active.worker, t[2], n_w) + prior.curvature
        return f, g, c

    return _newton(alpha, parts, moving, _ALPHA_STEPS)


def _b_block(alpha: np.ndarray, b: np.ndarray, active: Labels, q: np.ndarray, prior: Any) -> np.ndarray:
    """Each active item's b given alpha: guarded Fisher-scoring steps."""
    n, k = b.size, active.n_classes

    def parts(bb: np.ndarray, derivatives: bool) -> tuple[np.ndarray, ...]:
        t = _glad_terms(alpha, bb, active.item, active.worker, active.label, q, k)
        f = np.bincount(active.item, t[0], n) + prior.log_pdf(bb)
        if not derivatives:
            return (f,)
        return (
            f,
            np.bincount(active.item, t[3], n) + prior.grad(bb),
            np.bincount(active.item, t[4], n) + prior.curvature,
        )

    return _newton(b, parts, np.ones(n, dtype=bool), _B_STEPS)


def _newton(theta: np.ndarray, parts: Any, moving: np.ndarray, steps: int) -> np.ndarray:
    """Coordinate-wise Newton steps on a separable objective, each step halved until that coordinate's
    part does not decrease; stops when no step moves by more than 1e-9."""
    theta = theta.copy()
    f, g, c = parts(theta, True)
    for _ in range(steps):
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(moving & (c < 0), -g / c, 0.0)
        step = np.clip(np.nan_to_num(step), -_MAX_STEP, _MAX_STEP)
        if np.abs(step).max(initial=0.0) <= 1e-9:
            break
        pending = step != 0
        for _ in range(12):
            trial = np.where(pending, theta + step, theta)
            (ft,) = parts(trial, False)
            ok = pending & (ft >= f - 1e-12 * np.abs(f))
            theta = np.where(ok, trial, theta)
            pending &= ~ok
            if not pending.any():
                break
            step = 0.5 * step
        f, g, c = parts(theta, True)
    return theta


@dataclass
class Sweeps:
    """What :func:`ds_sweeps` returns: every item's posteriors and the parameters after full EM
    iterations over all the labels, and the statistics of all the items."""

    q: np.ndarray  # (n_items, K) every item's posteriors at the final parameters
    confusion: np.ndarray
    class_prior: np.ndarray
    confusion_counts: np.ndarray
    n_iter: int
    converged: bool
    history: list[float]


def ds_sweeps(
    model: Any, item: np.ndarray, worker: np.ndarray, label: np.ndarray, n_items: int,
    confusion: np.ndarray, class_prior: np.ndarray, max_sweeps: int,
) -> Sweeps:  # fmt: skip
    """Dawid-Skene EM iterations over all the labels (``item``, ``worker``, ``label``: every kept
    and new label's codes), from the incremental fit's parameters, until the objective's relative
    change is within the model's ``tol`` (at most ``max_sweeps`` iterations).

    The incremental fit holds the items that are not scored again at their kept posteriors; a full
    fit moves them as the parameters move, and their move feeds back into the parameters (EM's slow
    directions: the annotators' matrices and the class prior moving together). These iterations are
    passes over the label codes only (no ids, no tables): each one the E-step of every item and the
    next M-step's counts, on the compiled kernels of a fit (the same engine rule) or in NumPy."""
    k = confusion.shape[1]
    n_w = confusion.shape[0]
    learn = bool(getattr(model, "learn_class_prior", False))
    pseudo = float(getattr(model, "class_pseudocount", 1.0))
    smoothing = float(model.smoothing)
    tol = float(model.tol)
    e_pass = _ds_pass(model, item, worker, label, n_items, n_w, k)
    log_theta = np.log(np.maximum(confusion, 1e-300))
    log_pi = np.log(np.maximum(np.asarray(class_prior, dtype=float), 1e-300))
    history: list[float] = []
    n_iter = 0
    while True:
        q, evidence, counts = e_pass(log_theta, log_pi)
        objective = evidence + smoothing * float(log_theta.sum())
        if learn and pseudo > 0:
            objective += pseudo * float(log_pi.sum())
        history.append(objective)
        converged = len(history) > 1 and abs(history[-1] - history[-2]) <= tol * abs(history[-1])
        if converged or n_iter >= max_sweeps:
            break
        n_iter += 1
        smoothed = counts + smoothing
        totals = smoothed.sum(axis=2, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_theta = np.where(totals > 0, np.log(smoothed) - np.log(totals), -np.log(k))
        if learn:
            c = q.sum(axis=0) + pseudo
            log_pi = np.log(c / c.sum())
    pi = np.exp(log_pi)
    return Sweeps(q, np.exp(log_theta), pi / pi.sum(), counts, n_iter, converged, history)


def _ds_pass(
    model: Any, item: np.ndarray, worker: np.ndarray, label: np.ndarray, n_items: int, n_w: int, k: int
) -> Any:
    """A function ``(log_theta, log_pi) -> (posteriors, log evidence, counts)``: Dawid-Skene's E-step
    over all the labels and the next M-step's counts ``counts[w, t, l]``."""
    from emcrowd.models.classification._observations import resolve_engine

    if resolve_engine(str(getattr(model, "engine", "auto")), item.size) == "numba":
        from emcrowd.models.classification import _confusion_kernels as kernels

        codes = (np.ascontiguousarray(a, dtype=np.int32) for a in (item, worker, label))
        indptr, g_worker, g_label = kernels.group_by_item(*codes, n_items)
        run = kernels.kernels_for(k).confusion_pass
        gold = np.full(n_items, -1, dtype=np.int64)
        chunks = kernels.n_chunks(n_w * k * k)

        def compiled(log_theta: np.ndarray, log_pi: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
            q = np.empty((n_items, k))
            acc = np.zeros((chunks, n_w, k, k))
            by_label = np.ascontiguousarray(log_theta.transpose(0, 2, 1), dtype=np.float64)
            evidence = run(indptr, g_worker, g_label, by_label, np.ascontiguousarray(log_pi), gold, q, acc)
            return q, float(evidence), np.ascontiguousarray(acc.sum(axis=0).transpose(0, 2, 1))

        return compiled
    flat = worker.astype(np.int64) * (k * k)
    flat += label
    by_worker_label = worker.astype(np.int64) * k
    by_worker_label += label

    def numpy_pass(log_theta: np.ndarray, log_pi: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        joint = np.empty((n_items, k))
        table = log_theta.ravel()
        for t in range(k):  # log P(labels of j | truth t), a class at a time
            joint[:, t] = np.bincount(item, weights=np.take(table, flat + t * k), minlength=n_items)
        joint += log_pi
        q, evidence = normalize(joint)
        counts = np.empty((n_w, k, k))
        for t in range(k):
            counts[:, t, :] = np.bincount(
                by_worker_label, weights=np.take(q[:, t], item), minlength=n_w * k
            ).reshape(n_w, k)
        return q, evidence, counts

    return numpy_pass


def active_set(
    active_known: np.ndarray,
    kept: tuple[np.ndarray, np.ndarray, np.ndarray],
    new_labels: tuple[np.ndarray, np.ndarray, np.ndarray],
    old_items: tuple[str, ...],
    item_names_new: tuple[str, ...],
    worker_names: tuple[str, ...],
    class_names: tuple[str, ...],
) -> tuple[np.ndarray, np.ndarray, Labels, int]:
    """The labels the update's EM runs on: the kept labels of the active known items
    (``active_known``, shape (n_old,)) and every new label, items renumbered (the active known items
    in code order, then the new items). Returns the active known items' codes, every active item's
    code among all the items, those labels, and how many of them are kept (old) labels (first)."""
    n_old = active_known.size
    touched = np.flatnonzero(active_known)
    all_item, all_worker, all_label = kept
    item, worker, label = new_labels
    sel = active_known[all_item]
    o_item = all_item[sel]
    active_codes = np.concatenate([touched, n_old + np.arange(len(item_names_new))])
    position = np.full(n_old + len(item_names_new), -1, dtype=np.int64)
    position[active_codes] = np.arange(active_codes.size)
    active = Labels(
        np.concatenate([position[o_item], position[item]]).astype(np.int32),
        np.concatenate([all_worker[sel], worker]).astype(np.int32),
        np.concatenate([all_label[sel], label]).astype(np.int32),
        names_of(old_items, touched) + item_names_new, worker_names, class_names,
    )  # fmt: skip
    return touched, active_codes, active, o_item.size


def names_of(old_items: Any, codes: np.ndarray) -> tuple[str, ...]:
    """The names of item codes ``codes`` among the kept items (a tuple of names or a name index)."""
    if isinstance(old_items, tuple):
        return tuple(old_items[j] for j in codes.tolist())
    return old_items.names_of(codes)
