"""The tasks the Dask workers run: each is the in-memory engine's own function on one partition.

A partition is a :class:`Part`: its items' global codes and its labels as a :class:`Labels` over
local item codes (the partition's items in ascending global code), wrapped in the compiled engine's
:class:`~emcrowd.models._observations.Observations`, so that every sum below is the very function
the in-memory fit calls. Tasks never modify their inputs (Dask may hand the same object to several
tasks, and recomputes lost results from their inputs).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from emcrowd.data import Labels
from emcrowd.io.partition import read_partition
from emcrowd.models import _observations as ob
from emcrowd.models._base import normalize
from emcrowd.models.glad import GaussianPrior, _ItemGroups, _KernelPasses, agreement_counts

#: Chunks of items per E-step pass of a partition (:attr:`Observations.max_chunks`): one, since a
#: task runs on one thread (the partitions are the parallelism).
PASS_CHUNKS = 1


@dataclass(eq=False)
class Part:
    """One partition in a worker's memory."""

    items: np.ndarray  # (n_local,) int32 global item codes, ascending
    obs: ob.Observations  # the labels, local item codes, compiled engine

    @property
    def groups(self) -> _ItemGroups:
        g = self.obs.groups
        return _ItemGroups(g.indptr, g.worker, g.label, log_k_minus_1=self.obs.log_k_minus_1)


def load_part(files: tuple[str, str], n_workers: int, class_names: tuple[str, ...]) -> Part:
    """Read a partition from its Parquet files (the root of every partition's task graph)."""
    items, item, worker, label = read_partition(*files)
    local = np.searchsorted(items, item).astype(np.int32)
    del item
    # in item order (stable: each item's labels stay in file order, so every sum is the in-memory
    # engine's to the bit), so that grouping them by item below needs no second copy
    order = np.argsort(local, kind="stable")
    local, worker, label = local[order], worker[order], label[order]
    del order
    blank_items, blank_workers = ("",) * items.size, ("",) * n_workers
    data = Labels(local, worker, label, blank_items, blank_workers, class_names)
    obs = ob.Observations(data, "numba", max_chunks=PASS_CHUNKS)
    _ = obs.groups  # grouped once, while the partition is loaded
    return Part(items, obs)


def tree_sum(*arrays: np.ndarray) -> np.ndarray:
    """The sum of partial sums, in the order given (a node of the tree reduction)."""
    total = np.array(arrays[0], dtype=float, copy=True)
    for a in arrays[1:]:
        total += a
    return total


def posteriors(value: np.ndarray | tuple) -> np.ndarray:
    """A partition's posteriors: the array itself, or the first item of an E-step's result (the
    posteriors and the packed sums: the tasks that read the posteriors pick them)."""
    return value[0] if isinstance(value, tuple) else value


def item_counts(part: Part) -> np.ndarray:
    return np.diff(part.obs.groups.indptr)


def labels_per_worker(part: Part) -> np.ndarray:
    return ob.labels_per_worker(part.obs).astype(float)


def vote_shares(part: Part) -> np.ndarray:
    return ob.vote_shares(part.obs)


def class_totals(part: Part, q: np.ndarray | tuple) -> np.ndarray:
    return ob.class_totals(part.obs, posteriors(q))


def confusion_counts(part: Part, q: np.ndarray | tuple) -> np.ndarray:
    return ob.confusion_counts(part.obs, posteriors(q))


def agreement_sums(part: Part, q: np.ndarray | tuple) -> np.ndarray:
    return ob.agreement_sums(part.obs, posteriors(q))


def _packed(part: Part, result: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(posteriors, [next M-step's sums..., evidence, class totals...]): one array to reduce."""
    q, evidence, sums = result
    return q, np.concatenate([np.ravel(sums), [evidence], ob.class_totals(part.obs, q)])


def confusion_e_step(part: Part, log_theta: np.ndarray, log_pi: np.ndarray) -> tuple:
    return _packed(part, ob.confusion_e_step(part.obs, log_theta, log_pi, None))


def symmetric_e_step(part: Part, log_right: np.ndarray, log_wrong: np.ndarray, log_pi: np.ndarray) -> tuple:
    return _packed(part, ob.symmetric_e_step(part.obs, log_right, log_wrong, log_pi, None))


def pick(result: tuple, index: int):
    """Item ``index`` of a partition's result tuple: run where the tuple is, so that only that item
    travels (the reduction's inputs are a few arrays per annotator; the posteriors and GLAD's states
    beside them in the tuple, megabytes, stay on their worker)."""
    return result[index]


# -- GLAD ------------------------------------------------------------------------------------------
def glad_agreement(part: Part) -> np.ndarray:
    """:func:`emcrowd.models.glad.agreement_counts` of the partition, stacked (2, n_workers)."""
    d = part.obs.data
    return np.stack(agreement_counts(d.item, d.worker, d.label, d.n_items, d.n_workers, d.n_classes))


def glad_start(
    part: Part, alpha: np.ndarray, b_mean: float, b_sd: float, log_pi: np.ndarray
) -> _KernelPasses:
    """The first posteriors (the E-step at the start, as :meth:`GLAD._initial_posteriors`), with b at
    its prior mean: the partition's state before the first M-step."""
    from emcrowd.models import _glad_kernels as kernels

    g = part.groups
    b = np.full(part.items.size, b_mean)
    joint = kernels.log_likelihoods(
        g.indptr, g.worker, g.label, alpha, b, part.obs.n_classes, g.log_k_minus_1
    )
    q = normalize(joint + log_pi)[0]
    return _KernelPasses(g, b, q, log_pi, None, GaussianPrior(b_mean, b_sd, "beta"), max_chunks=PASS_CHUNKS)


def glad_with_prior(state: _KernelPasses, log_pi: np.ndarray) -> _KernelPasses:
    """The state for an M-step under the class prior ``log_pi``."""
    new = _copy(state)
    new.log_pi = np.ascontiguousarray(log_pi, dtype=np.float64)
    return new


def _copy(state: _KernelPasses) -> _KernelPasses:
    new = object.__new__(_KernelPasses)
    new.__dict__.update(state.__dict__)
    return new


def glad_alpha_sums(
    state: _KernelPasses, alpha: np.ndarray, only: np.ndarray, derivatives: bool
) -> np.ndarray:
    return state.alpha_sums(alpha, only, derivatives)


def glad_em_pass(state: _KernelPasses, alpha: np.ndarray) -> tuple:
    """(state holding the pass's results, [annotator sums (n_workers x 8)..., evidence, b gain, log
    prior of the pass's b]): one array to reduce."""
    new = _copy(state)
    total, evidence, b_gain = new.em_pass(alpha)
    b_prior = float(new.b_prior.log_pdf(new.pending[0]).sum())
    new.pending = (*new.pending[:2], None)  # the log-likelihoods: not needed by this engine
    return new, np.concatenate([total.ravel(), [evidence, b_gain, b_prior]])


def glad_accept(result: tuple) -> _KernelPasses:
    """The state of an accepted pass, from :func:`glad_em_pass`'s result."""
    new = _copy(result[0])
    new.accept()
    return new


def glad_b_log_prior(state: _KernelPasses) -> float:
    return state.b_log_prior()


def glad_next(state: _KernelPasses) -> _KernelPasses:
    """After the M-step and E-step: the state the next M-step starts from (b, and the posteriors)."""
    new = _copy(state)
    new.q = state.result()[0]
    new.pending = None
    return new


def glad_q(state: _KernelPasses) -> np.ndarray:
    return state.q


def glad_b(state: _KernelPasses) -> np.ndarray:
    return state.b


# -- sizes for the scheduler ------------------------------------------------------------------
def nbytes(obj: object, skip: tuple[str, ...] = (), depth: int = 3) -> int:
    """The bytes of the NumPy arrays that ``obj`` holds in its attributes (and their tuples and
    attributes, ``depth`` levels down), each array counted once; attributes named in ``skip`` left
    out."""
    seen: set[int] = set()

    def walk(value: object, level: int) -> int:
        if isinstance(value, np.ndarray):
            if id(value) in seen:
                return 0
            seen.add(id(value))
            return int(value.nbytes)
        if level >= depth:
            return 0
        if isinstance(value, (tuple, list)):
            return sum(walk(v, level + 1) for v in value)
        attrs = getattr(value, "__dict__", None)
        if not attrs:
            return 0
        return sum(walk(v, level + 1) for k, v in attrs.items() if k not in skip)

    return 64 + walk(obj, 0)


def _register_sizes() -> None:
    """Tell Dask what a partition and a GLAD state weigh. Its default for an object is a few dozen
    bytes, with which the scheduler moves a task to whichever worker is free and ships its
    megabytes of inputs there: the partitions' tasks drift between workers, which then do unequal
    shares of each pass. A state's item groups are its partition's (shared, not copies): left out."""
    from dask.sizeof import sizeof

    sizeof.register(Part)(nbytes)
    sizeof.register(_KernelPasses)(lambda state: nbytes(state, skip=("groups",)))


_register_sizes()

__all__ = ["Part", "load_part", "nbytes", "replace"]
