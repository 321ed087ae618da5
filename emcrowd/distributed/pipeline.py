"""The pipelined EM loop of the Dask engine's confusion-matrix models (Dawid-Skene, one-coin).

The plain loop (:meth:`emcrowd.models._base.EMAggregator._iterate`) gathers each E-step's sums on
the driver, makes the M-step there and sends the new parameters out: every iteration waits for a
round trip through the driver (about 50 ms on a loaded two-core machine, against an E-step of 80 ms
over 10M labels). Here the M-step is a task too (:func:`em_step`, the model's own ``_m_step``,
``_class_prior_step`` and ``_objective`` run on a copy of the model), so that the driver submits
iteration t+1 — its E-steps, their reduction and its M-step — before it has iteration t's
objective, and the cluster goes from one iteration to the next without it.

The stopping rule moves with the objective into the task graph: the step of iteration t computes
the objective of t, tests it against t-1's with the loop's own rule (``tol``, relative), and when
the run stops there (or the objective is not finite) says so; the tasks of iteration t+1, already
submitted, then return at once without a pass. The driver reads each step's objective one
iteration behind (for the history and the callback), stops submitting at the first step that
stops, and returns iteration t's parameters and posteriors: the fit is the plain loop's, iteration
for iteration, with the same sums in the same order.

The accelerated loop (``accelerate=True``, SQUAREM) decides on the driver whether to keep an
extrapolated point, so it runs the plain loop's code (one round trip per pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emcrowd.distributed import _tasks as T

#: Iterations submitted beyond the one whose objective the driver waits for: one suffices to keep
#: the cluster busy (the next iteration's tasks are queued while this one's E-steps run), and more
#: would keep more posteriors alive on the workers.
AHEAD = 1


@dataclass
class Step:
    """What the step task of an iteration returns (small: the annotator parameters).

    ``objective`` is the iteration's (None for the start), ``stop`` whether the run stops at it
    (settled, or a non-finite objective), ``params`` and ``log_pi`` the parameters of the next
    iteration's E-step (None once stopped), and ``done`` marks a step after the run stopped
    (nothing was computed)."""

    objective: float | None
    stop: bool
    params: Any
    log_pi: np.ndarray | None
    done: bool = False


@dataclass(frozen=True)
class _KnownSums:
    """What the model's M-step reads of the observations in a step task: the class totals of the
    E-step that made the sums (``engine == "dask"``: :mod:`.classification._observations` asks it)."""

    n_classes: int
    totals: np.ndarray
    engine: str = "dask"

    def class_totals(self, q: object) -> np.ndarray:
        return self.totals.copy()


#: Stands for the E-step's posteriors, which the step task never sees: the M-step takes the sums the
#: E-step made with them (``_pending``) when given this very object.
_POSTERIORS = object()


def _model(spec: tuple, n_classes: int, sums: np.ndarray, totals: np.ndarray) -> Any:
    """The in-memory model of ``spec`` (its class, options, the state its M-step reads and the shape
    of its M-step's sums, None for flat), with the sums of one E-step pending as if it had made them."""
    cls, options, state, shape = spec
    if shape is not None:
        sums = sums.reshape(shape)
    model = cls(**options)
    model.__dict__.update(state)
    model._obs = _KnownSums(n_classes, totals)
    model._pending = (_POSTERIORS, np.array(sums, dtype=float, copy=True))
    return model


def first_step(spec: tuple, n_classes: int, sums: np.ndarray, params: Any, log_pi: np.ndarray) -> Step:
    """The parameters of iteration 1: the M-step on the starting posteriors' sums from the model's
    initial parameters ``params`` (the class prior stays the starting one, as in the plain loop's
    first pass)."""
    model = _model(spec, n_classes, sums, np.zeros(n_classes))
    with np.errstate(all="ignore"):
        params = model._m_step(model._obs, _POSTERIORS, params)
    return Step(None, False, params, log_pi)


def em_step(spec: tuple, n_classes: int, tol: float, prev: Step, *parts: np.ndarray | None) -> Step:
    """Iteration t's objective and stopping test, and iteration t+1's parameters, from the sums of
    iteration t's E-step (the sum of ``parts``, in order: [sums..., evidence, class totals...]) and
    ``prev``, the step whose parameters that E-step used."""
    if prev.stop:
        return Step(None, True, None, None, done=True)
    packed = tree_sum(*parts)  # (the last node of the reduction, here rather than a task of its own)
    assert packed is not None
    k = n_classes
    sums, evidence, totals = packed[: -k - 1], float(packed[-k - 1]), packed[-k:]
    model = _model(spec, n_classes, sums, totals)
    with np.errstate(all="ignore"):
        objective = float(model._objective(evidence, prev.params, prev.log_pi))
        if not np.isfinite(objective):
            return Step(objective, True, None, None)
        if prev.objective is not None and abs(objective - prev.objective) <= tol * abs(prev.objective):
            return Step(objective, True, None, None)
        params = model._m_step(model._obs, _POSTERIORS, prev.params)
        log_pi = model._class_prior_step(_POSTERIORS) if model.learn_class_prior else prev.log_pi
    return Step(objective, False, params, log_pi)


def confusion_e_step(part: T.Part, step: Step) -> tuple | None:
    """:func:`._tasks.confusion_e_step` at a step's parameters (the log confusion matrices, or an
    object holding them as ``log_theta``: the ordinal model's); None once the run has stopped."""
    if step.stop:
        return None
    return T.confusion_e_step(part, getattr(step.params, "log_theta", step.params), step.log_pi)


def symmetric_e_step(part: T.Part, step: Step, log_k_minus_1: float) -> tuple | None:
    """:func:`._tasks.symmetric_e_step` at a step's accuracies (as :meth:`OneCoin._log_terms`);
    None once the run has stopped."""
    if step.stop:
        return None
    accuracy = step.params
    with np.errstate(divide="ignore"):
        log_right, log_wrong = np.log(accuracy), np.log1p(-accuracy) - log_k_minus_1
    return T.symmetric_e_step(part, log_right, log_wrong, step.log_pi)


def block_sum(index: int, *results: tuple | None) -> np.ndarray | None:
    """:func:`._tasks.block_sum`, passing on a stopped run's None."""
    if any(r is None for r in results):
        return None
    return T.block_sum(index, *results)


def tree_sum(*arrays: np.ndarray | None) -> np.ndarray | None:
    """:func:`._tasks.tree_sum`, passing on a stopped run's None."""
    if any(a is None for a in arrays):
        return None
    return T.tree_sum(*arrays)


def run(model: Any, params: Any, log_pi: np.ndarray, start: list[Any], callback: Any) -> tuple:
    """The driver side: :meth:`EMAggregator._iterate` for a Dask model (``model._cluster``) whose
    M-step reads only the sums its E-step makes. ``model._pipeline_tasks()`` names the task of the
    starting posteriors' sums, the E-step task and its extra arguments; ``model._step_spec()`` the
    in-memory model the step tasks run. Returns ``(params, log_pi, E-step futures, history,
    converged)`` as ``_iterate`` (the posteriors not yet gathered)."""
    c = model._cluster
    k = c.n_classes
    start_sums, e_step, e_extra = model._pipeline_tasks()
    spec = c.constant(model._step_spec())
    max_iter, tol = int(model.max_iter), float(model.tol)
    first = start.pop()
    step = c.client.submit(
        first_step,
        spec,
        k,
        c.reduce_future(c.map(start_sums, c.parts, first.futures)),
        params,
        log_pi,
        pure=False,
    )
    del first  # the starting posteriors: let go of once their sums are made
    first_future: Any = step
    flight: list[tuple[Any, list[Any]]] = []  # (step future, E-step futures) per iteration submitted
    history: list[float] = []
    used: Step | None = None  # the step whose parameters the iteration read next ran with
    converged = False
    params = results = None
    while len(history) < max_iter:
        while len(history) + len(flight) < max_iter and len(flight) <= AHEAD:
            e_results = c.map(e_step, c.parts, extra=(step, *e_extra))
            sums = c.reduce_future(e_results, 1, block=block_sum, tree=tree_sum, last=False)
            step = c.client.submit(em_step, spec, k, tol, step, *sums, pure=False)
            flight.append((step, e_results))
        future, results = flight.pop(0)
        if used is None:
            used = first_future.result()
            first_future = None
        value: Step = future.result()
        assert value.objective is not None and used is not None
        model._check_objective(value.objective, len(history) + 1)  # raises when not finite
        history.append(value.objective)
        params, log_pi = used.params, used.log_pi
        if callback is not None:
            callback(len(history), value.objective)
        if value.stop:
            converged = True
            break
        used = value
    flight.clear()  # iterations past the last: stopped at once, or never read
    del step
    model._run_passes = len(history)
    return params, log_pi, results, history, converged
