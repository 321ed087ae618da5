"""The EM loop shared by the latent-truth models (after scikit-learn's ``mixture._base``).

Every model here has a latent true class ``z_j`` per item with a class prior ``pi`` and a likelihood of
the item's labels given ``z_j``. A subclass provides:

* ``_prepare(data)`` — check options, precompute what the loop needs;
* ``_initial_params(data)`` — parameters before the first M-step;
* ``_m_step(data, posteriors, params)`` — parameters that raise the expected complete-data log
  posterior (never lower it);
* ``_log_likelihoods(data, params)`` — ``log p(labels of j | z_j = k)``, shape (n_items, K);
* ``_log_param_prior(params)`` — the log prior density of the parameters;
* ``_store(data, params)`` — set the fitted attributes.

A model whose M-step is best done in the same pass as the E-step (GLAD's compiled engine) may leave
``_m_step`` to record the posteriors and override ``_e_step`` to do both; the loop calls them in
that order every iteration.

This class owns everything the models share: the class prior (fixed, or learned with a Dirichlet
pseudo-count), gold labels clamped in every E-step (semi-supervised EM), the exact E-step and the
objective, convergence, restarts (``n_init``) and the fitted attributes.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import ConvergenceWarning, EmcrowdError
from emcrowd.models import _squarem
from emcrowd.models._api import Aggregator

#: Called after every EM iteration with ``(n_iter, objective)``; used by the CLI for progress.
IterationCallback = Callable[[int, float], None]


class NumericalError(EmcrowdError):
    """The objective became NaN or infinite; the fit cannot be trusted."""


def normalize(joint: np.ndarray, gold: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Exact E-step from ``log p(z_j = k, labels of j)``, shape (n_items, K), modified in place.

    Returns the posteriors and the log evidence ``sum_j log p(labels of j [, z_j = gold_j])``: for a
    gold item (``gold[j] >= 0``) the posterior is clamped to its gold class and its term is the joint
    with that class, the complete-data likelihood of semi-supervised EM.
    """
    # log-sum-exp over classes, written out for speed: a column at a time, as NumPy's reductions
    # along a short last axis are slow (1M x 2: 60 ms for max and sum, against 8 ms)
    n_classes = joint.shape[1]
    top = joint[:, 0].copy()
    for k in range(1, n_classes):
        np.maximum(top, joint[:, k], out=top)
    known = None
    if gold is not None and (gold >= 0).any():
        known = np.flatnonzero(gold >= 0)
        clamped = joint[known, gold[known]].copy()
    joint -= top[:, None]
    np.exp(joint, out=joint)
    total = joint[:, 0].copy()
    for k in range(1, n_classes):
        total += joint[:, k]
    joint /= total[:, None]
    log_norm = top + np.log(total)
    if known is not None:
        joint[known] = 0.0
        joint[known, gold[known]] = 1.0
        log_norm[known] = clamped
    return joint, float(log_norm.sum())


class EMAggregator(Aggregator):
    """Base class of the EM aggregators (their input and output: :class:`~emcrowd.models._api.Aggregator`).

    Parameters
    ----------
    class_prior : array-like of shape (n_classes,), optional
        Prior probability of each true class, fixed during the fit (or the starting point when
        ``learn_class_prior``). Uniform by default.
    learn_class_prior : bool
        Estimate the class prior by MAP under a symmetric Dirichlet prior instead of fixing it.
    class_pseudocount : float
        With ``learn_class_prior``: pseudo-items added to every class (the Dirichlet parameter minus
        one), which keeps a rare class from being estimated at probability 0.
    tol : float
        Stop when the change of the objective between two iterations is at most
        ``tol * |objective|`` (a relative tolerance).
    max_iter : int
        The most EM iterations (one M-step and one E-step each) per start; with ``accelerate``, the
        most points moved to (EM iterations and accepted extrapolations).
    n_init : int
        Number of starts: the first from the majority-vote shares, the others from those shares mixed
        with random posteriors. The fit with the highest final objective is kept.
    random_state : int
        Seed of the random starts.
    accelerate : bool or None
        Speed EM up by squared extrapolation (:mod:`emcrowd.models._squarem`), keeping an
        extrapolated point only when its objective is at least the plain EM step's (so the history
        never decreases, and the fit is the plain one's within the tolerance). None (the default):
        the model's own choice, ``accelerate_default`` (on for Bayesian DS and EBCC, whose EM is
        slow; off for the others); ``False`` runs plain EM.

    Attributes
    ----------
    posteriors_ : ndarray of shape (n_items, n_classes)
        Posterior probability of each item's true class, from the final E-step (one-hot for gold
        items).
    labels_ : ndarray of shape (n_items,)
        The most probable class code of each item (lowest code among exact ties).
    class_prior_ : ndarray of shape (n_classes,)
        The class prior used (the learned one with ``learn_class_prior``).
    history_ : list of float
        The objective of the kept start after every iteration; never decreases.
    lower_bound_ : float
        The final objective, ``history_[-1]``: the log posterior of the parameters given the labels
        (and the gold labels), up to a constant.
    converged_ : bool
        Whether the kept start reached the tolerance before ``max_iter``.
    n_iter_ : int
        Number of points the kept start moved to (``len(history_)``): its EM iterations, plus the
        accepted extrapolated points with ``accelerate``.
    n_passes_ : int
        Number of passes over the labels (E-steps) of the kept start: its EM iterations plus every
        extrapolated point evaluated, accepted or not. Equals ``n_iter_`` without ``accelerate``.
    init_objectives_ : list of float
        Final objective of every start, in order; the kept one is the largest.
    best_init_ : int
        Index of the kept start (0 = the majority-vote start).
    n_gold_ : int
        Number of items whose class was clamped to a gold label.
    fit_seconds_ : float
        Wall time of ``fit``, all starts included.
    """

    method: str = "em"
    #: Whether ``accelerate=None`` (the default) accelerates: where EM takes hundreds of steps (the
    #: variational models). Elsewhere EM settles in about ten at the default tolerance, there is
    #: little to gain, and plain EM's result does not depend on the order of the rows to rounding
    #: (an extrapolation's accept-or-reject decision can turn on rounding).
    accelerate_default: bool = False

    def __init__(
        self,
        *,
        class_prior: np.ndarray | None = None,
        learn_class_prior: bool = False,
        class_pseudocount: float = 1.0,
        tol: float = 1e-6,
        max_iter: int = 500,
        n_init: int = 1,
        random_state: int = 0,
        accelerate: bool | None = None,
    ) -> None:
        self.class_prior = class_prior
        self.learn_class_prior = learn_class_prior
        self.class_pseudocount = class_pseudocount
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state
        self.accelerate = accelerate

    # -- to be provided by subclasses -------------------------------------------------------------
    def _prepare(self, data: Labels) -> None:
        """Check the model's own options and precompute what the loop needs."""

    def _initial_params(self, data: Labels) -> Any:
        raise NotImplementedError

    def _initial_posteriors(self, data: Labels) -> np.ndarray:
        from emcrowd.models.classification.majority import vote_counts, vote_shares

        return vote_shares(vote_counts(data))

    def _m_step(self, data: Labels, posteriors: np.ndarray, params: Any) -> Any:
        raise NotImplementedError

    def _log_likelihoods(self, data: Labels, params: Any) -> np.ndarray:
        raise NotImplementedError

    def _log_param_prior(self, params: Any) -> float:
        raise NotImplementedError

    def _store(self, data: Labels, params: Any) -> None:
        raise NotImplementedError

    # -- warm starts (emcrowd.models._warm) -------------------------------------------------------
    def _warm_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The fitted parameters a warm start needs: (per annotator, per item) arrays by name."""
        raise EmcrowdError(f"{self.method} cannot start from a previous fit")

    def _warm_shared(self) -> dict[str, np.ndarray]:
        """Fitted parameters of a warm start that belong to no annotator or item (none by default)."""
        return {}

    def _warm_posteriors(self, data: Labels, warm: Any) -> np.ndarray:
        """The first posteriors of a warm start: the E-step at ``warm``'s parameters, matched to
        ``data``'s annotators and items by id."""
        raise EmcrowdError(f"{self.method} cannot start from a previous fit")

    def _warm_e_step(self, data: Labels, log_likelihoods: np.ndarray) -> np.ndarray:
        """Posteriors from the warm parameters' log-likelihoods and the first E-step's class prior."""
        return normalize(log_likelihoods + self._first_log_pi(data.n_classes))[0]

    def _first_log_pi(self, n_classes: int) -> np.ndarray:
        """The class prior of a run's first E-step: the fixed or starting one; when it is learned and
        the fit starts warm, the previous fit's."""
        warm = getattr(self, "_warm", None)
        if warm is not None and self.learn_class_prior:
            return np.log(np.maximum(np.asarray(warm.class_prior, dtype=float), 1e-300))
        return self._start_log_pi(n_classes)

    # -- shared pieces ----------------------------------------------------------------------------
    def _check_parameters(self, n_classes: int) -> None:
        if not (np.isfinite(self.tol) and self.tol >= 0):
            raise EmcrowdError(f"tol must be a non-negative number, got {self.tol!r}")
        if int(self.max_iter) != self.max_iter or self.max_iter < 1:
            raise EmcrowdError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if int(self.n_init) != self.n_init or self.n_init < 1:
            raise EmcrowdError(f"n_init must be a positive integer, got {self.n_init!r}")
        if not (np.isfinite(self.class_pseudocount) and self.class_pseudocount >= 0):
            raise EmcrowdError(f"class_pseudocount must be >= 0, got {self.class_pseudocount!r}")
        self._start_log_pi(n_classes)

    def _start_log_pi(self, n_classes: int) -> np.ndarray:
        if self.class_prior is None:
            return np.full(n_classes, -np.log(n_classes))
        prior = np.asarray(self.class_prior, dtype=float)
        if prior.shape != (n_classes,) or np.any(prior <= 0) or not np.all(np.isfinite(prior)):
            raise EmcrowdError(f"class_prior must be {n_classes} positive numbers, got {self.class_prior!r}")
        return np.log(prior / prior.sum())

    def _class_prior_step(self, posteriors: np.ndarray) -> np.ndarray:
        """MAP class prior given the posteriors: ``(sum_j q_jk + c) / (n + K c)``."""
        counts = posteriors.sum(axis=0) + self.class_pseudocount
        return np.log(counts / counts.sum())

    def _e_step(
        self, data: Labels, params: Any, log_pi: np.ndarray, gold: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        posteriors, evidence = normalize(self._log_likelihoods(data, params) + log_pi, gold)
        return posteriors, self._objective(evidence, params, log_pi)

    def _objective(self, evidence: float, params: Any, log_pi: np.ndarray) -> float:
        """The objective from the log evidence: plus the parameters' log prior and, when the class
        prior is learned, its Dirichlet term."""
        objective = evidence + self._log_param_prior(params)
        if self.learn_class_prior and self.class_pseudocount > 0:
            objective += self.class_pseudocount * float(log_pi.sum())
        return objective

    # -- the loop ---------------------------------------------------------------------------------
    def _fit_labels(self, data: Labels, gold: np.ndarray | None, callback: IterationCallback | None) -> None:
        """:meth:`fit` (of :class:`emcrowd.models._api.Aggregator`, which reads the input) on
        :class:`Labels` and checked gold codes."""
        self._fit(data, gold, callback)

    def _fit(self, data: Any, gold: np.ndarray | None, callback: IterationCallback | None) -> EMAggregator:
        """:meth:`fit` on checked gold codes. ``data`` is a :class:`Labels`, or what a subclass's
        hooks read instead (the Dask engine's partitioned data set: sizes and class names)."""
        self._check_parameters(data.n_classes)
        start = time.perf_counter()
        self._prepare(data)
        rng = np.random.default_rng(self.random_state)
        best: tuple[float, int, Any, np.ndarray, np.ndarray, list[float], bool] | None = None
        objectives = []
        passes = []
        for run in range(int(self.n_init)):
            # (no name here holds the first posteriors: the run lets go of them after its first
            # M-step, and on the Dask engine they are a state per partition)
            outcome = self._run(data, self._first_posteriors(data, run, rng, gold), gold, callback)
            objectives.append(outcome[3][-1])
            passes.append(getattr(self, "_run_passes", len(outcome[3])))
            if best is None or outcome[3][-1] > best[0]:
                best = (outcome[3][-1], run, *outcome)
        assert best is not None
        _, run, params, log_pi, posteriors, history, converged = best
        if not converged:
            warnings.warn(
                f"{self.method} did not converge in {len(history)} iterations "
                f"(relative change above tol={self.tol:g}); raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        # Each run ends on an E-step, so the posteriors belong to the returned parameters.
        self.posteriors_ = posteriors
        self.labels_ = np.argmax(posteriors, axis=1)
        self.class_prior_ = np.exp(log_pi)
        self.history_ = history
        self.lower_bound_ = history[-1]
        self.converged_ = converged
        self.n_iter_ = len(history)
        self.n_passes_ = passes[run]
        self.init_objectives_ = objectives
        self.best_init_ = run
        self.n_gold_ = 0 if gold is None else int((gold >= 0).sum())
        self.classes_ = data.class_names
        self._store(data, params)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _first_posteriors(
        self, data: Labels, run: int, rng: np.random.Generator, gold: np.ndarray | None
    ) -> np.ndarray:
        """The posteriors that run ``run`` starts from: the model's start, mixed half and half with
        Dirichlet noise after the first run, gold items clamped."""
        warm = getattr(self, "_warm", None)
        first = (
            self._initial_posteriors(data) if warm is None or run > 0 else self._warm_posteriors(data, warm)
        )
        if run > 0:
            # drawn over the items in name order: the same starts whatever the rows' order
            noise = rng.dirichlet(np.ones(data.n_classes), size=data.n_items)[data.item_name_ranks()]
            first = 0.5 * first + 0.5 * noise
        if gold is not None:
            known = gold >= 0
            first[known] = np.eye(data.n_classes)[gold[known]]
        return first

    def _run(
        self,
        data: Labels,
        posteriors: np.ndarray,
        gold: np.ndarray | None,
        callback: IterationCallback | None,
    ) -> tuple[Any, np.ndarray, np.ndarray, list[float], bool]:
        """One EM run from the given posteriors: (params, log class prior, posteriors, history, converged)."""
        params = self._initial_params(data)
        log_pi = self._first_log_pi(data.n_classes)
        # no name here keeps the first posteriors: the run lets go of them after its first M-step
        # (on the Dask engine they are a state per partition)
        start = [posteriors]
        del posteriors
        return self._iterate(data, params, log_pi, start, gold, callback)

    def _iterate(
        self,
        data: Labels,
        params: Any,
        log_pi: np.ndarray,
        start: list[Any],
        gold: np.ndarray | None,
        callback: IterationCallback | None,
    ) -> tuple[Any, np.ndarray, np.ndarray, list[float], bool]:
        """The iterations of :meth:`_run` from its starting point (``start`` holds the first
        posteriors, taken out of it so that nothing keeps them once the first M-step has read them):
        plain EM, or EM accelerated by
        squared extrapolation (:mod:`emcrowd.models._squarem`) when ``accelerate`` is on and the
        model maps its parameters to an unconstrained vector (``_pack_params``).

        ``history_`` holds the objective of every point the run moved to (an extrapolated point only
        when its objective is at least the plain EM step's), so it never decreases; ``max_iter``
        bounds its length (the points, as for plain EM: a rejected extrapolation costs a pass but
        is not a point). Convergence is tested on plain EM steps only, as without acceleration (a jump that
        gains little may have overshot, which says nothing of how far the optimum is). The number
        of passes is left in ``_run_passes``."""
        history: list[float] = []
        converged = False
        max_iter = int(self.max_iter)
        passes = 0

        def em_step(state: tuple[Any, np.ndarray, np.ndarray]) -> tuple[Any, np.ndarray, np.ndarray, float]:
            nonlocal passes
            params, log_pi, posteriors = state
            passes += 1
            # Overflow and the like show up as a non-finite objective, checked below; NumPy's own
            # warnings would only repeat that, once per array operation.
            with np.errstate(all="ignore"):
                params = self._m_step(data, posteriors, params)
                if self.learn_class_prior and passes > 1:  # the first E-step uses the starting prior
                    log_pi = self._class_prior_step(posteriors)
                posteriors, objective = self._e_step(data, params, log_pi, gold)
            self._check_objective(objective, passes)
            return params, log_pi, posteriors, float(objective)

        def record(objective: float) -> None:
            history.append(objective)
            if callback is not None:
                callback(len(history), objective)

        def settled() -> bool:
            return len(history) > 1 and abs(history[-1] - history[-2]) <= self.tol * abs(history[-2])

        accelerate = self._accelerating()
        step = _squarem.StepLength()
        state = (params, log_pi, start.pop())
        points: list[Any] = []  # the packed iterates since the last extrapolation
        points_layout: Any = None
        while len(history) < max_iter:
            *state, objective = em_step(state)
            record(objective)
            if settled():
                converged = True
                break
            if not accelerate or len(history) >= max_iter:
                continue
            point = self._accel_vector(state[0], state[1])
            if point is None:
                accelerate = False  # this model (or this state) has no unconstrained map: plain EM
                continue
            layout = self._accel_layout(state[0])
            if points and (layout != points_layout or points[-1].shape != point.shape):
                points = []  # the parameters changed shape (e.g. EBCC's live rows): start a new cycle
            points_layout = layout
            points.append(point)
            if len(points) < 3:
                continue
            x0, x1, x2 = points
            points = [x2]  # x2 starts the next cycle whatever happens here
            if not self._em_is_slow(history):
                continue  # EM settles fast here: an extrapolation would likely cost more than it saves
            jump = self._accel_extrapolate(x0, x1, x2, step.bound)
            if jump is None:
                continue
            x, a = jump
            trial_params, trial_log_pi = self._accel_point(x, state[0], state[1])
            passes += 1
            with np.errstate(all="ignore"):
                trial_q, trial_objective = self._e_step(data, trial_params, trial_log_pi, gold)
            if np.isfinite(trial_objective) and trial_objective >= objective:
                step.accepted(a)
                state = (trial_params, trial_log_pi, trial_q)
                record(float(trial_objective))
                first = self._accel_vector(trial_params, trial_log_pi)  # the next cycle's x0
                points = [] if first is None else [first]
                points_layout = self._accel_layout(trial_params)
            else:
                step.rejected()
                self._accel_rejected(data, state[0], state[1], gold)
        self._run_passes = passes
        params, log_pi, posteriors = state
        return params, log_pi, self._final_posteriors(posteriors), history, converged

    def _em_is_slow(self, history: list[float]) -> bool:
        """Whether EM's last two steps show a slow linear rate (the second gained at least
        ``_squarem.SLOW_RATE`` times the first): only then is an extrapolation worth its pass."""
        if len(history) < 3:
            return True
        first, second = history[-2] - history[-3], history[-1] - history[-2]
        return first <= 0 or second >= _squarem.SLOW_RATE * first

    def _accelerating(self) -> bool:
        chosen = getattr(self, "accelerate", None)
        return bool(self.accelerate_default if chosen is None else chosen)

    def _check_objective(self, objective: float, n_pass: int) -> None:
        if not np.isfinite(objective):
            raise NumericalError(
                f"the {self.method} objective became {objective} at iteration {n_pass}; "
                "the priors may be too extreme for this data"
            )

    # -- acceleration: the seam each model fills ------------------------------------------------------
    def _pack_params(self, params: Any) -> np.ndarray | None:
        """The parameters as one flat vector in an unconstrained space (log probabilities, logits,
        log concentrations, ...), in which the EM iterates are extrapolated; None: not accelerated.
        Must return new arrays (the M-step may modify ``params`` in place afterwards)."""
        return None

    def _unpack_params(self, vector: np.ndarray, like: Any) -> Any:
        """Parameters from a vector of :meth:`_pack_params`'s space (any finite vector: projected
        back onto valid parameters), as a new object shaped as ``like`` (the latest iterate)."""
        raise NotImplementedError

    def _accel_extrapolate(self, x0: Any, x1: Any, x2: Any, bound: float) -> tuple[Any, float] | None:
        """:func:`._squarem.squared_step` on three packed iterates (a model whose packed parameters
        are not one array, such as the Dask engine's, does the same arithmetic on its own)."""
        return _squarem.squared_step(x0, x1, x2, bound)

    def _accel_layout(self, params: Any) -> Any:
        """What must be the same for three iterates to be extrapolated together (compared with ``==``);
        None by default: the vector's shape suffices."""
        return None

    def _accel_rejected(self, data: Labels, params: Any, log_pi: np.ndarray, gold: np.ndarray | None) -> None:
        """Called when an extrapolated point was evaluated and rejected: the run goes on from
        ``params``, whose E-step came before that evaluation (a model whose E-step leaves sums
        for the next M-step in shared buffers restores them here)."""

    def _accel_log_pi(self) -> bool:
        """Whether the class prior is a parameter the loop iterates (and so extrapolates)."""
        return bool(self.learn_class_prior)

    def _accel_vector(self, params: Any, log_pi: np.ndarray) -> np.ndarray | None:
        packed = self._pack_params(params)
        if packed is None:
            return None
        if self._accel_log_pi():
            packed = np.concatenate([packed, log_pi])
        return packed

    def _accel_point(self, x: np.ndarray, params: Any, log_pi: np.ndarray) -> tuple[Any, np.ndarray]:
        if self._accel_log_pi():
            k = log_pi.size
            return self._unpack_params(x[:-k], params), _squarem.log_normalize(x[-k:])
        return self._unpack_params(x, params), log_pi

    def _final_posteriors(self, posteriors: Any) -> np.ndarray:
        """A run's last posteriors as the (n_items, K) array the model keeps: themselves here; the
        Dask engine gathers them from the partitions."""
        return posteriors

    def label_proba(self, item: np.ndarray, worker: np.ndarray) -> np.ndarray:
        """The fitted model's predictive distribution of a label, shape (n, n_classes).

        Row ``o`` is the probability of each class being the label that annotator ``worker[o]`` gives
        item ``item[o]``: ``sum_k posteriors_[item, k] * P(label | true class k, annotator, item)``.
        Held-out labels scored this way are the gold-free model-selection criterion of
        :mod:`emcrowd.analysis.selection`.

        Parameters
        ----------
        item, worker : array-like of int, shape (n,)
            Item and annotator codes of the data given to ``fit``.
        """
        self._check_fitted()
        item = np.asarray(item, dtype=np.intp)
        worker = np.asarray(worker, dtype=np.intp)
        if item.shape != worker.shape or item.ndim != 1:
            raise EmcrowdError("label_proba needs two one-dimensional code arrays of the same length")
        return self._label_proba(item, worker)

    def _label_proba(self, item: np.ndarray, worker: np.ndarray) -> np.ndarray:
        """Default for the confusion-matrix models: ``q_j @ confusion_[i]``."""
        confusion = getattr(self, "confusion_", None)
        if confusion is None:
            raise NotImplementedError(f"{type(self).__name__} does not give label probabilities")
        return np.einsum("nk,nkl->nl", self.posteriors_[item], confusion[worker])
