"""The labels as index arrays for the EM models, and the per-item sums they all need.

Each sum has two engines: NumPy array operations (``bincount`` over one temporary array per label),
and compiled numba kernels over the labels grouped by item (:mod:`._confusion_kernels`), several times
faster and without the temporaries on millions of labels. :meth:`Observations.from_labels` picks one
(``engine="auto"``: numba from ``NUMBA_MIN_LABELS`` labels on, when it imports) and the functions
below follow ``obs.engine``; both give the same sums up to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models._base import normalize

#: Inputs with at least this many labels use the compiled kernels (``engine="auto"``): below it,
#: importing numba (about 0.7 s) costs more than the kernels save.
NUMBA_MIN_LABELS = 500_000
ENGINES = ("auto", "numpy", "numba")


#: The compiled kernels of the confusion-matrix models (GLAD has its own module).
CONFUSION_KERNELS = "emcrowd.models.classification._confusion_kernels"


def numba_available(kernels: str = CONFUSION_KERNELS) -> bool:
    """Whether the compiled kernels of module ``kernels`` can be used: numba is installed and imports
    (an installed numba can still refuse, for instance with a NumPy it does not support). Imports
    it (about 0.5 s)."""
    import importlib

    try:
        importlib.import_module(kernels)
    except ImportError:
        return False
    return True


def resolve_engine(engine: str, n_labels: int, kernels: str = CONFUSION_KERNELS) -> str:
    """``"numpy"`` or ``"numba"`` for a requested engine (``"auto"``, ``"numpy"`` or ``"numba"``), for
    a model whose compiled kernels are in module ``kernels``; the one rule of every model."""
    if engine not in ENGINES:
        raise EmcrowdError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "numba" and not numba_available(kernels):
        raise EmcrowdError("engine 'numba' needs the numba package, which does not import here")
    if engine == "auto":
        return "numba" if n_labels >= NUMBA_MIN_LABELS and numba_available(kernels) else "numpy"
    return engine


@dataclass(frozen=True)
class ItemGroups:
    """The labels grouped by item for the compiled kernels: item ``j``'s are ``indptr[j]:indptr[j+1]``,
    in file order."""

    indptr: np.ndarray  # (n_items + 1,) int64
    worker: np.ndarray  # (n_labels,) int32
    label: np.ndarray  # (n_labels,) int32


@dataclass(eq=False)
class Observations:
    """The labels of one fit, and the index arrays the sums need, each made on first use.

    The NumPy engine's index arrays (``intp``, so that indexing does not copy; five per label, 400 MB
    for 10M labels) and the compiled engine's item groups are built only when a sum asks for them.
    """

    data: Labels
    requested_engine: str = "auto"
    #: At most this many chunks of items per compiled E-step pass (each with its own annotator
    #: sums); None: :func:`._confusion_kernels.n_chunks`'s choice (enough for the threads). The Dask
    #: engine's partitions take 1: a task runs on one thread, and with one chunk its sums stay in
    #: cache (16 chunks of 20k annotators' sums made its E-steps a third slower).
    max_chunks: int | None = None

    @classmethod
    def from_labels(cls, data: Labels, engine: str = "auto") -> Observations:
        """The observations of ``data``; ``engine`` is ``"auto"``, ``"numpy"`` or ``"numba"``.

        An explicit engine is checked here; ``"auto"`` is resolved when a sum first needs it (so a
        model that only reads the index arrays never imports numba)."""
        if engine != "auto":
            resolve_engine(engine, data.n_labels)
        return cls(data, engine)

    @cached_property
    def engine(self) -> str:
        """``"numpy"`` or ``"numba"``: how the functions below compute their sums."""
        return resolve_engine(self.requested_engine, self.n_labels)

    @property
    def n_items(self) -> int:
        return self.data.n_items

    @property
    def n_workers(self) -> int:
        return self.data.n_workers

    @property
    def n_classes(self) -> int:
        return self.data.n_classes

    @property
    def n_labels(self) -> int:
        return self.data.n_labels

    @cached_property
    def worker(self) -> np.ndarray:
        """(n_labels,) annotator code of each label."""
        return self.data.worker.astype(np.intp)

    @cached_property
    def item(self) -> np.ndarray:
        """(n_labels,) item code of each label."""
        return self.data.item.astype(np.intp)

    @cached_property
    def label(self) -> np.ndarray:
        """(n_labels,) class code of each label."""
        return self.data.label.astype(np.intp)

    @cached_property
    def item_label(self) -> np.ndarray:
        """(n_labels,) flat index ``item * K + label`` into an (n_items, K) array."""
        return self.item * self.n_classes + self.data.label

    @cached_property
    def worker_label(self) -> np.ndarray:
        """(n_labels,) flat index ``worker * K + label`` into an (n_workers, K) array."""
        return self.worker * self.n_classes + self.data.label

    @cached_property
    def groups(self) -> ItemGroups:
        """The labels grouped by item (a copy only when they are not in item order already)."""
        from emcrowd.models.classification import _confusion_kernels as kernels

        # numba compiles read-only arrays as another type: copy them rather than compile again
        data = self.data
        codes = (a if a.flags.writeable else a.copy() for a in (data.item, data.worker, data.label))
        return ItemGroups(*kernels.group_by_item(*codes, self.n_items))

    @property
    def log_k_minus_1(self) -> float:
        return float(np.log(self.n_classes - 1))


def _gold_codes(gold: np.ndarray | None, n_items: int) -> np.ndarray:
    return np.full(n_items, -1, dtype=np.int64) if gold is None else gold.astype(np.int64)


def labels_per_worker(obs: Observations) -> np.ndarray:
    """Number of labels of each annotator, shape (n_workers,)."""
    if obs.engine == "dask":  # a partitioned data set (emcrowd.distributed): summed over partitions
        return obs.labels_per_worker()
    if obs.engine == "numba":
        from emcrowd.models.classification import _confusion_kernels as kernels

        return kernels.code_counts(obs.groups.worker, obs.n_workers)
    return obs.data.labels_per_worker()


def class_totals(obs: Observations, posteriors: np.ndarray) -> np.ndarray:
    """``posteriors.sum(axis=0)``, shape (T,): a column at a time with the numba engine (NumPy's sum
    along the long axis of an (n_items, 2) array is six times slower than the columns' sums)."""
    if obs.engine == "dask":  # a partitioned data set (emcrowd.distributed): summed over partitions
        return obs.class_totals(posteriors)
    if obs.engine == "numba":
        return np.array([posteriors[:, t].sum() for t in range(posteriors.shape[1])])
    return posteriors.sum(axis=0)


def vote_shares(obs: Observations) -> np.ndarray:
    """Each class's share of an item's labels, shape (n_items, K), uniform for an item without labels:
    :func:`emcrowd.models.classification.majority.vote_shares` of the vote counts, the models' first
    posteriors."""
    if obs.engine == "dask":  # a partitioned data set (emcrowd.distributed): summed over partitions
        return obs.vote_shares()
    if obs.engine == "numba":
        from emcrowd.models.classification import _confusion_kernels as kernels

        g = obs.groups
        return kernels.kernels_for(obs.n_classes).vote_shares(g.indptr, g.label, obs.n_classes)
    from emcrowd.models.classification.majority import vote_counts
    from emcrowd.models.classification.majority import vote_shares as shares_of

    return shares_of(vote_counts(obs.data))


def symmetric_log_likelihoods(obs: Observations, log_right: np.ndarray, log_wrong: np.ndarray) -> np.ndarray:
    """``log p(labels of j | z_j = k)`` for "one-coin" style models, shape (n_items, K).

    A label adds ``log_right[o]`` to the class it names and ``log_wrong[o]`` (already including the
    share among the K - 1 wrong classes) to every other class. Both sums are built from terms of one
    sign, and the "other classes" sum from prefix and suffix sums, never by subtracting: where the
    terms are huge (GLAD with ``|alpha * beta|`` in the millions) a subtraction would cancel.
    """
    n, k = obs.n_items, obs.n_classes
    out = np.bincount(obs.item_label, weights=log_right, minlength=n * k).reshape(n, k)
    wrong = np.bincount(obs.item_label, weights=log_wrong, minlength=n * k).reshape(n, k)
    if k == 2:
        out += wrong[:, ::-1]
    else:
        prefix = np.zeros((n, k))
        np.cumsum(wrong[:, :-1], axis=1, out=prefix[:, 1:])
        suffix = np.zeros((n, k))
        np.cumsum(wrong[:, :0:-1], axis=1, out=suffix[:, -2::-1])
        out += prefix
        out += suffix
    return out


def capped_chunks(chunks: int, cap: int | None) -> int:
    """``chunks`` (a kernel's ``n_chunks`` choice), at most ``cap`` (``max_chunks``; None: no cap)."""
    return chunks if cap is None else max(1, min(chunks, cap))


def _pass_chunks(obs: Observations, entries: int) -> int:
    """How many chunks of items an E-step pass of ``obs`` uses, when each chunk's annotator sums have
    ``entries`` entries."""
    from emcrowd.models.classification import _confusion_kernels as kernels

    return capped_chunks(kernels.n_chunks(entries), obs.max_chunks)


def _by_label(log_theta: np.ndarray) -> np.ndarray:
    """``log_theta`` (n_workers, T, K) as the kernels read it: axes (n_workers, K, T), contiguous."""
    return np.ascontiguousarray(log_theta.transpose(0, 2, 1), dtype=np.float64)


def confusion_log_likelihoods(obs: Observations, log_theta: np.ndarray) -> np.ndarray:
    """``sum_o log_theta[worker_o, t, label_o]`` over each item's labels, shape (n_items, T).

    ``log_theta`` has shape (n_workers, T, K): one row of log label probabilities per annotator and
    latent row ``t`` (a true class for Dawid-Skene, a class subtype for EBCC). This is the E-step's
    likelihood of every confusion-matrix model. Both engines sum an item's labels in file order: the
    same result to the last bit.
    """
    n_rows, k = log_theta.shape[1], obs.n_classes
    if obs.engine == "numba":
        from emcrowd.models.classification import _confusion_kernels as kernels

        g = obs.groups
        out = np.empty((obs.n_items, n_rows))
        by_label = _by_label(log_theta)
        kernels.kernels_for(n_rows).confusion_log_likelihoods(g.indptr, g.worker, g.label, by_label, out)
        return out
    flat = log_theta.reshape(obs.n_workers, n_rows * k)
    out = np.empty((obs.n_items, n_rows))
    for t in range(n_rows):
        out[:, t] = np.bincount(obs.item, weights=flat[obs.worker, t * k + obs.label], minlength=obs.n_items)
    return out


def confusion_counts(obs: Observations, weights: np.ndarray) -> np.ndarray:
    """Expected label counts ``counts[i, t, l] = sum_{o: worker i, label l} weights[item_o, t]``.

    ``weights`` has shape (n_items, T) (the posteriors over the latent rows); the result has shape
    (n_workers, T, K): the M-step's sufficient statistics of every confusion-matrix model.
    """
    if obs.engine == "dask":  # a partitioned data set (emcrowd.distributed): summed over partitions
        return obs.confusion_counts(weights)
    n_rows, k = weights.shape[1], obs.n_classes
    if obs.engine == "numba":
        from emcrowd.models.classification import _confusion_kernels as kernels

        g = obs.groups
        weights = np.ascontiguousarray(weights, dtype=np.float64)
        by_label = kernels.kernels_for(n_rows).confusion_counts(
            g.indptr, g.worker, g.label, weights, obs.n_workers, k
        )
        return np.ascontiguousarray(by_label.transpose(0, 2, 1))
    counts = np.empty((obs.n_workers, n_rows, k))
    for t in range(n_rows):
        counts[:, t, :] = np.bincount(
            obs.worker_label, weights=weights[obs.item, t], minlength=obs.n_workers * k
        ).reshape(obs.n_workers, k)
    return counts


def symmetric_label_proba(posteriors: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Label distribution of "one-coin" style models, shape (n, K): the true class ``k`` is named with
    probability ``right[o]`` and each other class with ``(1 - right[o]) / (K - 1)``, so a label ``l``
    has ``q(l) right + (1 - q(l)) (1 - right) / (K - 1)``; ``posteriors`` are the items' rows ``q``."""
    k = posteriors.shape[1]
    wrong = (1.0 - right) / (k - 1)
    return wrong[:, None] + posteriors * (right - wrong)[:, None]


def confusion_e_step(
    obs: Observations, log_theta: np.ndarray, log_pi: np.ndarray, gold: np.ndarray | None
) -> tuple[np.ndarray, float, np.ndarray]:
    """The exact E-step of a confusion-matrix model and the next M-step's counts, together.

    Returns ``(posteriors, evidence, counts)``: the posteriors over the T latent rows, shape
    (n_items, T), under the prior ``log_pi`` (T,) and with gold items clamped, as
    :func:`emcrowd.models._base.normalize` gives them from ``confusion_log_likelihoods(obs,
    log_theta) + log_pi``; the log evidence; and ``confusion_counts(obs, posteriors)``. The numba
    engine makes all three in one pass over the labels.
    """
    if obs.engine == "dask":  # a partitioned data set (emcrowd.distributed): summed over partitions
        return obs.confusion_e_step(log_theta, log_pi, gold)
    if obs.engine == "numba":
        from emcrowd.models.classification import _confusion_kernels as kernels

        g = obs.groups
        n_rows, k = log_theta.shape[1], obs.n_classes
        posteriors = np.empty((obs.n_items, n_rows))
        acc = np.zeros((_pass_chunks(obs, obs.n_workers * k * n_rows), obs.n_workers, k, n_rows))
        evidence = kernels.kernels_for(n_rows).confusion_pass(
            g.indptr, g.worker, g.label,
            _by_label(log_theta),
            np.ascontiguousarray(log_pi, dtype=np.float64),
            _gold_codes(gold, obs.n_items), posteriors, acc,
        )  # fmt: skip
        counts = acc[0]
        for chunk in range(1, acc.shape[0]):
            counts += acc[chunk]
        return posteriors, float(evidence), np.ascontiguousarray(counts.transpose(0, 2, 1))
    posteriors, evidence = normalize(confusion_log_likelihoods(obs, log_theta) + log_pi, gold)
    return posteriors, evidence, confusion_counts(obs, posteriors)


def agreement_sums(obs: Observations, posteriors: np.ndarray) -> np.ndarray:
    """Per annotator, ``sum_o posteriors[item_o, label_o]`` over its labels: the expected number of
    them that name the true class, shape (n_workers,). The M-step's statistic of one-coin models."""
    if obs.engine == "dask":  # a partitioned data set (emcrowd.distributed): summed over partitions
        return obs.agreement_sums(posteriors)
    if obs.engine == "numba":
        from emcrowd.models.classification import _confusion_kernels as kernels

        g = obs.groups
        q = np.ascontiguousarray(posteriors, dtype=np.float64)
        return kernels.kernels_for(obs.n_classes).agreement_sums(
            g.indptr, g.worker, g.label, q, obs.n_workers
        )
    correct = posteriors.ravel()[obs.item_label]
    return np.bincount(obs.worker, weights=correct, minlength=obs.n_workers)


def symmetric_e_step(
    obs: Observations,
    log_right: np.ndarray,
    log_wrong: np.ndarray,
    log_pi: np.ndarray,
    gold: np.ndarray | None,
) -> tuple[np.ndarray, float, np.ndarray]:
    """The exact E-step of a one-coin model and the next M-step's sums, together.

    ``log_right`` and ``log_wrong`` are per annotator, shape (n_workers,) (``log_wrong`` already
    includes the share among the K - 1 wrong classes). Returns ``(posteriors, evidence, sums)``: the
    posteriors from :func:`symmetric_log_likelihoods` of the labels' terms plus ``log_pi``, gold items
    clamped; the log evidence; and ``agreement_sums(obs, posteriors)``. The numba engine makes all
    three in one pass over the labels.
    """
    if obs.engine == "dask":  # a partitioned data set (emcrowd.distributed): summed over partitions
        return obs.symmetric_e_step(log_right, log_wrong, log_pi, gold)
    if obs.engine == "numba":
        from emcrowd.models.classification import _confusion_kernels as kernels

        g = obs.groups
        posteriors = np.empty((obs.n_items, obs.n_classes))
        acc = np.zeros((_pass_chunks(obs, obs.n_workers), obs.n_workers))
        evidence = kernels.kernels_for(obs.n_classes).symmetric_pass(
            g.indptr, g.worker, g.label,
            np.ascontiguousarray(log_right, dtype=np.float64),
            np.ascontiguousarray(log_wrong, dtype=np.float64),
            np.ascontiguousarray(log_pi, dtype=np.float64),
            _gold_codes(gold, obs.n_items), posteriors, acc,
        )  # fmt: skip
        sums = acc[0]
        for chunk in range(1, acc.shape[0]):
            sums += acc[chunk]
        return posteriors, float(evidence), sums
    log_lik = symmetric_log_likelihoods(obs, log_right[obs.worker], log_wrong[obs.worker])
    posteriors, evidence = normalize(log_lik + log_pi, gold)
    return posteriors, evidence, agreement_sums(obs, posteriors)
