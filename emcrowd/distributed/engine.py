"""The driver side of the Dask engine: the in-memory models' EM loop, with the labels' sums made by
the partitions on the cluster.

Every partition is a persisted future whose task graph starts at its Parquet files
(:func:`._tasks.load_part`), and every per-partition state (posteriors, GLAD's ``b``) is a future
derived from it and from the broadcast annotator parameters by tasks; the scheduler therefore
recomputes a lost worker's partitions (and their states) from the files. The per-annotator sums come
back by a reduction over fixed blocks of partitions in partition order (so the result does not
depend on which worker holds what), and the loop itself — start, M-step, convergence test — is the
models' own (:class:`emcrowd.models._base.EMAggregator`,
:meth:`emcrowd.models.classification.glad.GLAD._kernel_m_step`); the confusion-matrix models run it
pipelined, their M-step a task on the cluster (:mod:`.pipeline`).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from emcrowd.distributed import _tasks as T
from emcrowd.errors import EmcrowdError
from emcrowd.io.partition import PartitionedDataset, open_dataset
from emcrowd.models._base import EMAggregator
from emcrowd.models.classification.dawid_skene import DawidSkene, OneCoin
from emcrowd.models.classification.glad import GLAD, _GLADState
from emcrowd.models.classification.majority import VoteResult
from emcrowd.models.ordinal.gaussian import OrdinalDawidSkene

#: Partial sums combined per node of the tree reduction over the blocks (one block per worker).
FAN_IN = 8
#: The environment of a local cluster's workers: one thread each, the compiled kernels' included (so
#: that N workers use N cores, as the in-memory engine's threads do).
LOCAL_WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
#: Dask settings for the engine's local clusters (see :func:`local_cluster`).
LOCAL_CLUSTER_CONFIG = {"distributed.scheduler.work-stealing": False}
#: Seconds between checks that every partition's home worker is still there.
HOMES_REFRESH = 1.0
#: Seconds to wait for a scheduler before giving up.
CONNECT_TIMEOUT = 5.0


def connect(
    scheduler: str | None = None, local_workers: int | None = None, *, timeout: float = CONNECT_TIMEOUT
):
    """A ``distributed.Client``: to the scheduler at ``scheduler``, or to a new local cluster of
    ``local_workers`` worker processes (default 2). An unreachable scheduler is an
    :class:`~emcrowd.errors.EmcrowdError` after ``timeout`` seconds."""
    from distributed import Client

    if scheduler is not None:
        try:
            return Client(scheduler, timeout=f"{timeout}s")
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise EmcrowdError(f"cannot reach the Dask scheduler at {scheduler} ({reason})") from None
    n = 2 if local_workers is None else int(local_workers)
    if n < 1:
        raise EmcrowdError(f"--local-workers must be at least 1, got {local_workers!r}")
    return Client(local_cluster(n))


def local_cluster(n_workers: int = 2, memory_limit: str | int | None = None):
    """A ``distributed.LocalCluster`` for the engine: ``n_workers`` single-threaded worker processes
    (``memory_limit`` each, default none), and a scheduler that keeps every partition's tasks where
    the partition is.

    Work stealing is off: an EM pass's tasks take about the same time on every partition, so moving
    one to a worker that finished early saves little in that pass, and its partition's state
    (megabytes) moves with it and stays, leaving that worker with a larger share of every later
    pass. A lost worker's partitions are still placed on the others (that is not stealing).

    The scheduler's web server takes any free port: ``dashboard_address=None`` still binds 8787, and
    when another cluster holds it Dask warns on stderr, an extra line in every message."""
    import dask
    from distributed import LocalCluster

    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        return LocalCluster(
            n_workers=n_workers, processes=True, threads_per_worker=1, dashboard_address=":0",
            memory_limit=memory_limit or 0, env=LOCAL_WORKER_ENV,
        )  # fmt: skip


class Cluster:
    """A data set's partitions persisted on a cluster, and the reductions over them.

    Each partition has a home worker, and every task on a partition (its E-step, GLAD's passes)
    is asked to run there (a loose restriction: any worker when the home is gone). The homes are
    consecutive blocks of partitions, one block per worker, so that every worker does the same
    share of each pass; left to itself the scheduler sends a task to the least busy worker when
    moving its inputs looks cheaper than waiting, and the partition's state then stays there,
    leaving that worker with a larger share of every later pass. After a worker is lost, the homes
    are asked of the scheduler again (at most every :data:`HOMES_REFRESH` seconds), so that the
    recomputed partitions keep the workers they were recomputed on."""

    def __init__(self, client: Any, dataset: PartitionedDataset) -> None:
        self.client = client
        self.dataset = dataset
        self.n_items, self.n_workers = dataset.n_items, dataset.n_workers
        self.n_classes, self.n_labels = dataset.n_classes, dataset.n_labels
        self.class_names = dataset.class_names
        files = dataset.partition_files()
        workers = sorted(client.scheduler_info()["workers"])
        self.homes: list[str | None] = [
            workers[i * len(workers) // len(files)] if workers else None for i in range(len(files))
        ]
        self._checked = time.monotonic()
        #: The reduction's blocks: runs of consecutive partitions with the same first home, fixed for
        #: the fit (so that the sums' order, and their rounding, do not depend on where things are).
        self.blocks = _blocks(self.homes)
        self.parts = self.map(T.load_part, files, extra=(self.n_workers, self.class_names))
        # read now: a bad file fails here, before any fit, in one message naming it
        for problem in client.gather([client.submit(_failure, part) for part in self.parts]):
            if problem is not None:
                raise problem
        self.items = client.gather([client.submit(_items, part) for part in self.parts])

    def _where(self) -> list[str | None]:
        """Each partition's home; asked again of the scheduler when a home worker has left (or a
        partition had none: no worker yet when it was loaded, or not yet recomputed)."""
        now = time.monotonic()
        if now - self._checked >= HOMES_REFRESH:
            self._checked = now
            live = self.client.scheduler_info()["workers"]
            if any(h is None or h not in live for h in self.homes):
                held = self.client.who_has(self.parts)
                self.homes = [next(iter(held.get(p.key, ())), None) for p in self.parts]
        return self.homes

    def constant(self, value: Any) -> Any:
        """A future holding ``value`` (the broadcast of annotator parameters): a task of its own, so
        that a lost copy is made again rather than lost."""
        return self.client.submit(_identity, value, pure=False)

    def map(self, fn: Any, *per_part: list[Any], extra: tuple = ()) -> list[Any]:
        """``fn(part_input..., *extra)`` for every partition, as futures, each on its partition's
        home worker."""
        submit, homes = self.client.submit, self._where()
        return [
            submit(fn, *args, *extra, workers=home and [home], allow_other_workers=True, pure=False)
            for home, args in zip(homes, zip(*per_part, strict=True), strict=True)
        ]

    def reduce(self, futures: list[Any], index: int | None = None) -> np.ndarray:
        """The sum of per-partition arrays (with ``index``, of item ``index`` of each partition's
        result tuple), gathered: :meth:`reduce_future`'s value."""
        return self.client.gather(self.reduce_future(futures, index))

    def reduce_future(
        self,
        futures: list[Any],
        index: int | None = None,
        *,
        block: Any = T.block_sum,
        tree: Any = T.tree_sum,
        last: bool = True,
    ) -> Any:
        """A future of the sum of per-partition arrays, or of item ``index`` of each partition's
        result tuple: one task per block sums its partitions' (in partition order, on the block's
        home, so that the tuples' other items — posteriors, states — stay where they are), and a
        tree sums the blocks' (:data:`FAN_IN` at a time, in block order). ``block`` and ``tree``:
        the tasks that do so (:func:`._tasks.block_sum` and :func:`._tasks.tree_sum`'s
        signatures). ``last=False``: the futures of the tree's top node's inputs (at most
        :data:`FAN_IN`), for a task that sums them in order as its first step."""
        submit, homes = self.client.submit, self._where()
        level = [
            submit(block, index, *futures[lo:hi], workers=homes[lo] and [homes[lo]],
                   allow_other_workers=True, pure=False)
            for lo, hi in self.blocks
        ]  # fmt: skip
        while len(level) > (1 if last else FAN_IN):
            level = [submit(tree, *level[i : i + FAN_IN], pure=False) for i in range(0, len(level), FAN_IN)]
        return level[0] if last else level

    def scalar_sum(self, futures: list[Any]) -> float:
        return float(sum(float(v) for v in self.client.gather(futures)))

    def gather_items(self, futures: list[Any], width: int | None = None) -> np.ndarray:
        """Per-partition item arrays assembled into one in item-code order."""
        out = np.empty(self.n_items if width is None else (self.n_items, width))
        for items, values in zip(self.items, self.client.gather(futures), strict=True):
            out[items] = T.posteriors(values)
        return out


def _blocks(homes: list[str | None]) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]``: the runs of consecutive partitions with the same home."""
    bounds = [0] + [i for i in range(1, len(homes)) if homes[i] != homes[i - 1]] + [len(homes)]
    return list(itertools.pairwise(bounds))


def _identity(value: Any) -> Any:
    return value


def _failure(part: T.Part | T.Failed) -> EmcrowdError | None:
    return part.error if isinstance(part, T.Failed) else None


def _items(part: T.Part) -> np.ndarray:
    return part.items


@dataclass(eq=False)
class _Handle:
    """Per-partition posteriors on the cluster: the base loop passes it along like an array."""

    futures: list[Any]


class DaskObservations:
    """The partitioned labels as :mod:`emcrowd.models.classification._observations` reads them (``engine ==
    "dask"``): each function there hands its work to the partitions and sums their results."""

    engine = "dask"

    def __init__(self, cluster: Cluster) -> None:
        self.c = cluster
        self.n_items, self.n_workers = cluster.n_items, cluster.n_workers
        self.n_classes, self.n_labels = cluster.n_classes, cluster.n_labels

    @property
    def log_k_minus_1(self) -> float:
        return float(np.log(self.n_classes - 1))

    def labels_per_worker(self) -> np.ndarray:
        return self.c.reduce(self.c.map(T.labels_per_worker, self.c.parts))

    def class_totals(self, q: _Handle) -> np.ndarray:
        known = getattr(self, "_totals", None)
        if known is not None and known[0] is q:  # the E-step that made q summed them too
            return known[1].copy()
        return self.c.reduce(self.c.map(T.class_totals, self.c.parts, q.futures))

    def vote_shares(self) -> _Handle:
        return _Handle(self.c.map(T.vote_shares, self.c.parts))

    def confusion_counts(self, q: _Handle) -> np.ndarray:
        return self.c.reduce(self.c.map(T.confusion_counts, self.c.parts, q.futures))

    def agreement_sums(self, q: _Handle) -> np.ndarray:
        return self.c.reduce(self.c.map(T.agreement_sums, self.c.parts, q.futures))

    def _e_step(self, fn: Any, params: tuple, gold: Any) -> tuple[_Handle, float, np.ndarray]:
        if gold is not None:
            raise EmcrowdError("the Dask engine does not take gold labels")
        shared = tuple(self.c.constant(np.asarray(p)) for p in params)
        results = self.c.map(fn, self.c.parts, extra=shared)
        q = _Handle(results)  # (posteriors, packed) per partition: the tasks that read q pick them
        packed = self.c.reduce(results, index=1)  # sums, evidence, class totals
        k = self.n_classes
        self._totals = (q, packed[-k:])
        sums = packed[: -k - 1]
        if fn is T.confusion_e_step:
            sums = sums.reshape(self.n_workers, k, k)
        return q, float(packed[-k - 1]), sums

    def confusion_e_step(self, log_theta: np.ndarray, log_pi: np.ndarray, gold: Any) -> tuple:
        return self._e_step(T.confusion_e_step, (log_theta, log_pi), gold)

    def symmetric_e_step(self, log_right: np.ndarray, log_wrong: np.ndarray, log_pi: np.ndarray, gold: Any):
        return self._e_step(T.symmetric_e_step, (log_right, log_wrong, log_pi), gold)


class _DaskMixin:
    """What the Dask versions of the models share: the fit on a :class:`Cluster`, and the posteriors
    gathered at the end of each run."""

    def fit_cluster(self, cluster: Cluster, callback: Any = None) -> EMAggregator:
        if int(self.n_init) != 1:  # type: ignore[attr-defined]
            raise EmcrowdError("the Dask engine fits one start (n_init=1)")
        self._cluster = cluster
        return self._fit(cluster, None, callback)  # type: ignore[attr-defined]

    def _final_posteriors(self, q: Any) -> np.ndarray:
        return self._gather(q)

    def _gather(self, q: Any) -> np.ndarray:
        return self._cluster.gather_items(q.futures, self._cluster.n_classes)


class _Pipelined(_DaskMixin):
    """The confusion-matrix models' loop on Dask: pipelined (:mod:`.pipeline`: the next iteration is
    submitted before the driver has this one's objective) but with acceleration, which decides on
    the driver (the plain loop's code)."""

    #: The in-memory model class whose M-step the step tasks run.
    _memory_class: type
    #: Whether the loop is pipelined (set False on an instance for the plain loop, one round trip
    #: through the driver per iteration: the same fit, for comparison).
    pipeline: bool = True

    def _observations(self, data: Any) -> DaskObservations:
        return DaskObservations(data)

    def _iterate(
        self, data: Any, params: Any, log_pi: np.ndarray, start: list[Any], gold: Any, callback: Any
    ):
        if self._accelerating() or not self.pipeline:  # type: ignore[attr-defined]
            return super()._iterate(data, params, log_pi, start, gold, callback)  # type: ignore[misc]
        if gold is not None:
            raise EmcrowdError("the Dask engine does not take gold labels")
        from emcrowd.distributed import pipeline

        params, log_pi, results, history, converged = pipeline.run(self, params, log_pi, start, callback)
        return params, log_pi, self._final_posteriors(_Handle(results)), history, converged

    def _step_spec(self) -> tuple:
        """What a step task needs of the model (:func:`.pipeline._model`): the in-memory class, its
        options, the state its M-step reads besides the sums, and the sums' shape (confusion counts
        by default)."""
        c = self._cluster
        shape = (c.n_workers, c.n_classes, c.n_classes)
        return self._memory_class, self.get_params(), {}, shape  # type: ignore[attr-defined]


class DaskDawidSkene(_Pipelined, DawidSkene):
    """:class:`~.dawid_skene.DawidSkene` on a partitioned data set (``engine_ = "dask"``)."""

    _memory_class = DawidSkene

    def _pipeline_tasks(self) -> tuple:
        from emcrowd.distributed import pipeline

        return T.confusion_counts, pipeline.confusion_e_step, ()


class DaskOrdinalDawidSkene(_Pipelined, OrdinalDawidSkene):
    """:class:`~.ordinal.gaussian.OrdinalDawidSkene` on a partitioned data set (``engine_ = "dask"``):
    Dawid-Skene's E-step and sums (its confusion matrices are the annotators' discretised
    Gaussians), and the ordinal M-step (each annotator's bias and spread from its confusion counts)
    in the step tasks. The classes are the grades in code order, lowest first: partition labels read
    with their order (:func:`emcrowd.io.partition.partition_labels` keeps the codes it is given)."""

    _memory_class = OrdinalDawidSkene

    def _pipeline_tasks(self) -> tuple:
        from emcrowd.distributed import pipeline

        return T.confusion_counts, pipeline.confusion_e_step, ()


class DaskOneCoin(_Pipelined, OneCoin):
    """:class:`~.dawid_skene.OneCoin` on a partitioned data set (``engine_ = "dask"``)."""

    _memory_class = OneCoin

    def _pipeline_tasks(self) -> tuple:
        from emcrowd.distributed import pipeline

        return T.agreement_sums, pipeline.symmetric_e_step, (self._obs.log_k_minus_1,)

    def _step_spec(self) -> tuple:
        cls, options, _, _ = super()._step_spec()
        return cls, options, {"_totals": self._totals}, None


class _DaskGladPasses:
    """:class:`emcrowd.models.classification.glad._KernelPasses` over every partition: each call runs the
    partitions' own ``_KernelPasses`` (built by the task from the partition's states) and sums what
    they return.

    A partition's state is a future of ``(q, b[, packed])`` (:func:`._tasks.glad_start`,
    :func:`._tasks.glad_em_pass`): the M-step reads its posteriors from the states it started
    from (``fixed``) and ``b`` from the last accepted pass's (``current``); accepting a pass keeps
    its posteriors and ``b`` (:func:`._tasks.glad_keep`) and lets go of the rest."""

    def __init__(
        self, cluster: Cluster, states: list[Any], log_pi: np.ndarray, b_p: Any, b_prior: float | None
    ) -> None:
        self.c = cluster
        self.log_pi = cluster.constant(np.ascontiguousarray(log_pi, dtype=np.float64))
        self.prior = (float(b_p.mean), float(b_p.sd))
        self.fixed = self.current = states
        self.pending: list[Any] | None = None
        self.b_prior = b_prior  # sum_j log p(b_j) at the current b, when known
        self.pending_prior = 0.0

    def _map(self, fn: Any, *extra: Any) -> list[Any]:
        c = self.c
        return c.map(fn, c.parts, self.current, self.fixed, extra=(self.prior, *extra))

    def alpha_sums(self, alpha: np.ndarray, only: np.ndarray, derivatives: bool) -> np.ndarray:
        a, o = self.c.constant(alpha), self.c.constant(only)
        return self.c.reduce(self._map(T.glad_alpha_sums, a, o, derivatives))

    def em_pass(self, alpha: np.ndarray) -> tuple[np.ndarray, float, float]:
        self.pending = self._map(T.glad_em_pass, self.c.constant(alpha), self.log_pi)
        packed = self.c.reduce(self.pending, index=2)
        self.pending_prior = float(packed[-1])
        return packed[:-3].reshape(alpha.size, 8), float(packed[-3]), float(packed[-2])

    def accept(self) -> None:
        assert self.pending is not None
        self.current = self.c.map(T.glad_keep, self.pending)
        self.pending, self.b_prior = None, self.pending_prior

    def b_log_prior(self) -> float:
        if self.b_prior is None:
            self.b_prior = self.c.scalar_sum(
                self.c.map(T.glad_b_log_prior, self.current, extra=(self.prior,))
            )
        return self.b_prior

    def result(self) -> list[Any]:
        """The states after the M-step: the last accepted pass's, whose posteriors are the E-step's."""
        return self.current


@dataclass
class _DaskPoint:
    """GLAD's parameters packed for extrapolation on the Dask engine: alpha (and the log class prior
    when it is learned), and b as a future per partition. ``shape`` tells the loop that three points
    can be combined (always)."""

    alpha: np.ndarray
    b: list[Any]
    shape: tuple = ()


class DaskGLAD(_DaskMixin, GLAD):
    """:class:`~.classification.glad.GLAD` on a partitioned data set (``engine_ = "dask"``): the compiled
    engine's M-step and E-step (:meth:`GLAD._kernel_m_step`) with each pass made by the partitions."""

    def _prepare(self, data: Any) -> None:
        self._alpha_p, self._b_p = self._priors()
        sweeps = self.max_sweeps
        if isinstance(sweeps, bool) or not isinstance(sweeps, (int, np.integer)) or sweeps < 1:
            raise EmcrowdError(f"max_sweeps must be a positive integer, got {self.max_sweeps!r}")
        self._max_sweeps = int(self.max_sweeps)
        self.engine_ = "dask"
        self._groups = None
        from emcrowd.models.classification.glad import abilities_from_agreement

        c = self._cluster
        agree, n = c.reduce(c.map(T.glad_agreement, c.parts))
        self._start = (abilities_from_agreement(agree, n, self._b_p.mean), None)

    def _initial_posteriors(self, data: Any) -> _Handle:
        c = self._cluster
        alpha = c.constant(self._start[0])
        log_pi = c.constant(self._start_log_pi(data.n_classes))
        return _Handle(c.map(T.glad_start, c.parts, extra=(alpha, self._b_p.mean, self._b_p.sd, log_pi)))

    def _initial_params(self, data: Any) -> _GLADState:
        return _GLADState(alpha=self._start[0].copy(), b=None)  # type: ignore[arg-type]

    def _m_step(self, data: Any, posteriors: _Handle, state: _GLADState) -> _GLADState:
        state.q = posteriors  # type: ignore[assignment]
        return state

    def _class_prior_step(self, posteriors: _Handle) -> np.ndarray:
        c = self._cluster
        counts = c.reduce(c.map(T.class_totals, c.parts, posteriors.futures))
        counts = counts + self.class_pseudocount
        return np.log(counts / counts.sum())

    def _e_step(self, data: Any, state: _GLADState, log_pi: np.ndarray, gold: Any) -> tuple[_Handle, float]:
        if gold is not None:
            raise EmcrowdError("the Dask engine does not take gold labels")
        if state.q is None:  # an extrapolated point: no M-step came before this E-step
            return self._trial_e_step(state, log_pi)
        known = getattr(self, "_b_prior_sum", None) if state.alpha_sums is not None else None
        passes = _DaskGladPasses(self._cluster, state.q.futures, log_pi, self._b_p, known)  # type: ignore[union-attr]
        evidence = self._kernel_m_step(state, passes)
        self._b_prior_sum = passes.b_log_prior()
        state.q = None
        handle = _Handle(passes.result())
        state.parts = handle.futures
        return handle, self._objective(evidence, state, log_pi)

    def _log_param_prior(self, state: _GLADState) -> float:
        return float(self._alpha_p.log_pdf(state.alpha).sum() + self._b_prior_sum)

    # -- acceleration: alpha on the driver, b in the partitions (see EMAggregator._iterate) -------------
    def _accel_vector(self, state: _GLADState, log_pi: np.ndarray) -> _DaskPoint | None:
        if state.parts is None:
            return None
        c = self._cluster
        small = np.concatenate([state.alpha, log_pi]) if self._accel_log_pi() else state.alpha.copy()
        return _DaskPoint(small, c.map(T.pick, state.parts, extra=(1,)))

    def _accel_extrapolate(
        self, x0: _DaskPoint, x1: _DaskPoint, x2: _DaskPoint, bound: float
    ) -> tuple[_DaskPoint, float] | None:
        from emcrowd.models import _squarem

        c = self._cluster
        r = x1.alpha - x0.alpha
        v = x2.alpha - x1.alpha - r
        rr, vv = c.reduce(c.map(T.glad_b_norms, x0.b, x1.b, x2.b))
        a = _squarem.step_length(float(r @ r) + rr, float(v @ v) + vv, bound)
        if a is None:
            return None
        coefs = _squarem.coefficients(a)
        alpha = coefs[0] * x0.alpha + coefs[1] * x1.alpha + coefs[2] * x2.alpha
        if not np.all(np.isfinite(alpha)):
            return None
        return _DaskPoint(alpha, c.map(T.glad_b_combine, x0.b, x1.b, x2.b, extra=(coefs,))), a

    def _accel_point(
        self, x: _DaskPoint, state: _GLADState, log_pi: np.ndarray
    ) -> tuple[_GLADState, np.ndarray]:
        from emcrowd.models import _squarem

        n = state.alpha.size
        if self._accel_log_pi():
            log_pi = _squarem.log_normalize(x.alpha[n:])
        return _GLADState(alpha=x.alpha[:n], b=x.b), log_pi  # type: ignore[arg-type]

    def _trial_e_step(self, state: _GLADState, log_pi: np.ndarray) -> tuple[_Handle, float]:
        """The E-step at an extrapolated point (``state.b``: the partitions' b there)."""
        c = self._cluster
        alpha, lp = c.constant(state.alpha), c.constant(np.ascontiguousarray(log_pi, dtype=np.float64))
        prior = (float(self._b_p.mean), float(self._b_p.sd))
        results = c.map(T.glad_e_step, c.parts, state.b, extra=(alpha, lp, prior))
        evidence, b_prior = c.reduce(results, index=1)
        self._b_prior_before = getattr(self, "_b_prior_sum", None)
        self._b_prior_sum = float(b_prior)
        handle = _Handle(c.map(T.pick, results, extra=(0,)))
        state.parts = handle.futures
        return handle, self._objective(float(evidence), state, log_pi)

    def _accel_rejected(self, data: Any, state: _GLADState, log_pi: np.ndarray, gold: Any) -> None:
        self._b_prior_sum = self._b_prior_before  # the log prior of b at the point the run goes on from

    def _gather(self, q: _Handle) -> np.ndarray:
        c = self._cluster
        self._final_b = c.gather_items(c.map(T.pick, q.futures, extra=(1,)))
        return c.gather_items(q.futures, c.n_classes)

    def _store(self, data: Any, state: _GLADState) -> None:
        from emcrowd.models.classification.glad import typical_accuracy

        c = self._cluster
        labelled = c.gather_items(c.map(T.item_counts, c.parts)) > 0
        self.alpha_ = state.alpha
        self.b_ = self._final_b
        self.beta_ = np.exp(self.b_)
        self.accuracy_ = typical_accuracy(state.alpha, self.b_, labelled)

    def _label_proba(self, item: np.ndarray, worker: np.ndarray) -> np.ndarray:
        raise NotImplementedError("label_proba needs the labels in memory; fit GLAD in memory for it")


DASK_MODELS = {
    "glad": DaskGLAD, "dawid_skene": DaskDawidSkene, "one_coin": DaskOneCoin,
    "ordinal_ds": DaskOrdinalDawidSkene,
}  # fmt: skip
#: The methods of ``emcrowd fit --engine dask`` (unordered classes); :func:`fit_dataset` also fits
#: ``ordinal_ds`` (grades in code order), whose outputs the command line does not write from Dask.
METHODS = ("majority", "glad", "dawid_skene", "one_coin")


def majority_vote_cluster(cluster: Cluster, ties: str = "lowest") -> VoteResult:
    """:func:`~.classification.majority.majority_vote` (ties to the lowest code) on a partitioned set."""
    if ties != "lowest":
        raise EmcrowdError("the Dask engine breaks majority-vote ties towards the lowest code only")
    from emcrowd.models.classification.majority import majority_vote as mv

    c = cluster
    results = c.map(_part_majority, c.parts, extra=(mv,))
    labels = c.gather_items(c.map(T.pick, results, extra=(0,))).astype(np.intp)
    posteriors = c.gather_items(c.map(T.pick, results, extra=(1,)), c.n_classes)
    tied = c.gather_items(c.map(T.pick, results, extra=(2,))).astype(bool)
    n_unlabeled = int(sum(c.client.gather(c.map(T.pick, results, extra=(3,)))))
    return VoteResult(labels, posteriors, tied, int(tied.sum()), n_unlabeled)


def _part_majority(part: T.Part, mv: Any) -> tuple:
    r = mv(part.labels())
    return r.labels, r.posteriors, r.tied, r.n_unlabeled


def fit_dataset(
    dataset: str | PartitionedDataset,
    method: str = "glad",
    *,
    client: Any = None,
    scheduler: str | None = None,
    local_workers: int | None = None,
    callback: Any = None,
    **options: Any,
) -> tuple[Any, VoteResult]:
    """Fit ``method`` to a partitioned data set on a Dask cluster.

    Parameters
    ----------
    dataset : path or PartitionedDataset
        A directory written by :func:`emcrowd.io.partition.partition_labels`.
    method : {"majority", "glad", "dawid_skene", "one_coin", "ordinal_ds"}
        ``ordinal_ds``: the classes are grades in code order, lowest first.
    client : distributed.Client, optional
        The cluster to use; else one from :func:`connect` (``scheduler`` or ``local_workers``),
        closed at the end.
    callback : callable, optional
        ``callback(n_iter, objective)`` after every EM iteration.
    **options
        The model's constructor options (as for :func:`emcrowd.analysis.aggregate.aggregate`).

    Returns
    -------
    (model, majority)
        The fitted model (a subclass of the in-memory one, with the same fitted attributes; None for
        majority vote) and the majority vote.
    """
    from emcrowd.models import method_name

    method = method_name(method)
    if method not in ("majority", *DASK_MODELS):
        raise EmcrowdError(f"the Dask engine fits {', '.join(('majority', *DASK_MODELS))}; not {method}")
    data = dataset if isinstance(dataset, PartitionedDataset) else open_dataset(dataset)
    own = client is None
    if own:
        client = connect(scheduler, local_workers)
    try:
        cluster = Cluster(client, data)
        majority = majority_vote_cluster(cluster)
        if method == "majority":
            return None, majority
        model = DASK_MODELS[method](**options)
        model.fit_cluster(cluster, callback)
        return model, majority
    finally:
        if own:
            cluster_obj = getattr(client, "cluster", None)
            client.close()
            if cluster_obj is not None:
                cluster_obj.close()


def gathered_aggregation(dataset: PartitionedDataset, method: str, model: Any, majority: VoteResult):
    """``(labels, aggregation)``: the data set gathered as one :class:`~emcrowd.data.Labels` and the
    fit as an :class:`emcrowd.analysis.aggregate.Aggregation`, so that
    :func:`emcrowd.analysis.aggregate.item_table`,
    ``worker_table`` and ``fit_record`` (today's output files) take them as they take an in-memory
    fit. For outputs that fit on one machine."""
    from emcrowd.analysis.aggregate import Aggregation, flip_warnings, method_name
    from emcrowd.io.partition import dataset_labels

    data = dataset_labels(dataset)
    method = method_name(method)
    if model is None:
        return data, Aggregation(
            method=method, posteriors=majority.posteriors, labels=majority.labels, majority=majority,
            options={"ties": "lowest"},
        )  # fmt: skip
    if hasattr(model, "integrate_difficulty"):  # GLAD: the posteriors it reports in memory too
        model.integrate_difficulty(data)
    return data, Aggregation(
        method=method, posteriors=model.posteriors_, labels=model.labels_, majority=majority, model=model,
        options=model.get_params(), fit_seconds=model.fit_seconds_,
        warnings=flip_warnings(data, model, majority),
    )  # fmt: skip
