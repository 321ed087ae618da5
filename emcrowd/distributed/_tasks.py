"""The tasks the Dask workers run: each is the in-memory engine's own function on one partition.

A partition is a :class:`Part`: its items' global codes and its labels grouped by item, read by
the compiled engine's :class:`~emcrowd.models.classification._observations.Observations`, so that every sum
below
is the very function the in-memory fit calls. Tasks never modify their inputs (Dask may hand the
same object to several tasks, and recomputes lost results from their inputs), but for a
partition's cached properties, which hold the same value whoever makes them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io.partition import read_partition
from emcrowd.models._base import normalize
from emcrowd.models.classification import _observations as ob
from emcrowd.models.classification.glad import GaussianPrior, _ItemGroups, _KernelPasses, agreement_counts

#: Chunks of items per E-step pass of a partition (:attr:`Observations.max_chunks`): one, since a
#: task runs on one thread (the partitions are the parallelism).
PASS_CHUNKS = 1


@dataclass(frozen=True)
class _Sizes:
    """What :class:`~.classification._observations.Observations` reads of a partition's labels on the
    compiled engine besides its item groups: the sizes."""

    n_items: int
    n_workers: int
    n_classes: int
    n_labels: int


@dataclass(eq=False)
class Part:
    """One partition in a worker's memory: its items' global codes and its labels grouped by item
    (local item codes: the partition's items in ascending global code). The labels' item codes are
    not kept (a fifth of a partition's memory): :meth:`labels` makes them again for the few tasks
    that read a :class:`Labels`."""

    items: np.ndarray  # (n_local,) int32 global item codes, ascending
    by_item: ob.ItemGroups  # the labels, grouped by local item code
    n_workers: int
    class_names: tuple[str, ...]

    @cached_property
    def obs(self) -> ob.Observations:
        """The labels as the compiled engine's sums read them."""
        g = self.by_item
        sizes = _Sizes(self.items.size, self.n_workers, len(self.class_names), g.worker.size)
        obs = ob.Observations(sizes, "numba", max_chunks=PASS_CHUNKS)  # type: ignore[arg-type]
        obs.__dict__["groups"] = g  # (its cached property: already grouped)
        return obs

    def labels(self) -> Labels:
        """The partition's labels as a :class:`Labels` (local item codes, blank names), made anew."""
        g = self.by_item
        item = np.repeat(np.arange(self.items.size, dtype=np.int32), np.diff(g.indptr))
        blank_items, blank_workers = ("",) * self.items.size, ("",) * self.n_workers
        return Labels(item, g.worker, g.label, blank_items, blank_workers, self.class_names)

    @cached_property
    def no_gold(self) -> np.ndarray:
        """No item's class is known (the engine takes no gold): -1 for each, as the kernels read it."""
        return np.full(self.items.size, -1, dtype=np.int64)

    @property
    def groups(self) -> _ItemGroups:
        """The item groups as GLAD's passes read them."""
        g = self.by_item
        return _ItemGroups(g.indptr, g.worker, g.label, log_k_minus_1=self.obs.log_k_minus_1)


@dataclass
class Failed:
    """A partition that could not be loaded: the error, returned rather than raised (a task that
    raises makes the worker log Dask's own traceback; the driver raises this one, naming the file)."""

    error: EmcrowdError


def load_part(files: tuple[str, str], n_workers: int, class_names: tuple[str, ...]) -> Part | Failed:
    """Read a partition from its Parquet files (the root of every partition's task graph)."""
    try:
        return _load_part(files, n_workers, class_names)
    except InputError as exc:
        return Failed(exc)
    except (EmcrowdError, OSError, ValueError, IndexError, KeyError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Failed(InputError(files[0], f"is not a valid partition ({problem})"))


def _load_part(files: tuple[str, str], n_workers: int, class_names: tuple[str, ...]) -> Part:
    items, item, worker, label = read_partition(*files)
    local = np.searchsorted(items, item).astype(np.int32)
    del item
    # in item order (stable: each item's labels stay in file order, so every sum is the in-memory
    # engine's to the bit), so that grouping them by item below needs no second copy
    order = np.argsort(local, kind="stable")
    local, worker, label = local[order], worker[order], label[order]
    del order
    blank_items, blank_workers = ("",) * items.size, ("",) * n_workers
    data = Labels(local, worker, label, blank_items, blank_workers, class_names)  # (checks the codes)
    return Part(items, ob.Observations(data, "numba").groups, n_workers, tuple(class_names))


def tree_sum(*arrays: np.ndarray) -> np.ndarray:
    """The sum of partial sums, in the order given (a node of the tree reduction)."""
    total = np.array(arrays[0], dtype=float, copy=True)
    for a in arrays[1:]:
        total += a
    return total


def block_sum(index: int | None, *results: np.ndarray | tuple) -> np.ndarray:
    """The sum of a block of partitions' arrays (with ``index``: of item ``index`` of each one's
    result tuple), in the order given, run where the partitions are."""
    return tree_sum(*(r if index is None else r[index] for r in results))


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
    """:func:`~.glad.agreement_counts` of the partition, stacked (2, n_workers)."""
    d = part.labels()
    return np.stack(agreement_counts(d.item, d.worker, d.label, d.n_items, d.n_workers, d.n_classes))


def glad_start(part: Part, alpha: np.ndarray, b_mean: float, b_sd: float, log_pi: np.ndarray) -> tuple:
    """``(q, b)``: the first posteriors (the E-step at the start, as :meth:`GLAD._initial_posteriors`)
    with ``b`` at its prior mean, the partition's state before the first M-step.

    A partition's GLAD state is a tuple whose first item is the posteriors and second is ``b``
    (a pass's result adds its packed sums, :func:`glad_keep` drops them): an array is in one
    state only, so that what Dask counts of a worker's memory is what it holds, and a state it
    spills frees what it counts."""
    from emcrowd.models.classification import _glad_kernels as kernels

    g = part.groups
    b = np.full(part.items.size, b_mean)
    joint = kernels.log_likelihoods(
        g.indptr, g.worker, g.label, alpha, b, part.obs.n_classes, g.log_k_minus_1
    )
    return normalize(joint + log_pi)[0], b


def _passes(part: Part, b_from: tuple, q_from: tuple, log_pi: np.ndarray, b_prior: tuple) -> _KernelPasses:
    """The partition's :class:`_KernelPasses` at the ``b`` of state ``b_from`` and the posteriors of
    state ``q_from`` (the M-step's, fixed during it), under the class prior ``log_pi``."""
    prior = GaussianPrior(*b_prior, "beta")
    return _KernelPasses(
        part.groups, b_from[1], q_from[0], log_pi, part.no_gold, prior, max_chunks=PASS_CHUNKS
    )


def glad_alpha_sums(
    part: Part, b_from: tuple, q_from: tuple, b_prior: tuple, alpha: np.ndarray, only: np.ndarray,
    derivatives: bool,
) -> np.ndarray:  # fmt: skip
    passes = _passes(part, b_from, q_from, np.zeros(part.obs.n_classes), b_prior)
    return passes.alpha_sums(alpha, only, derivatives)


def glad_em_pass(
    part: Part, b_from: tuple, q_from: tuple, b_prior: tuple, alpha: np.ndarray, log_pi: np.ndarray
) -> tuple:
    """``(q, b, packed)``: the pass's posteriors and b (the state a later pass starts from if this
    one is accepted), and [annotator sums (n_workers x 8)..., evidence, b gain, log prior of the
    pass's b], one array to reduce."""
    passes = _passes(part, b_from, q_from, log_pi, b_prior)
    total, evidence, b_gain = passes.em_pass(alpha)
    b, q, _ = passes.pending  # (the log-likelihoods: not needed by this engine)
    return q, b, np.concatenate([total.ravel(), [evidence, b_gain, passes.b_prior.log_pdf(b).sum()]])


def glad_keep(result: tuple) -> tuple:
    """``(q, b)`` of an accepted pass's result: the state the next passes start from, without the
    pass's annotator sums (at 200k annotators as large as the partition's posteriors), which are
    freed with the result once reduced."""
    return result[0], result[1]


def glad_b_norms(b0: np.ndarray, b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """``[|r|^2, |v|^2]`` of the partition's b over three EM iterates (see :mod:`emcrowd.models._squarem`)."""
    r = b1 - b0
    v = b2 - b1 - r
    return np.array([r @ r, v @ v])


def glad_b_combine(b0: np.ndarray, b1: np.ndarray, b2: np.ndarray, coefs: tuple) -> np.ndarray:
    """The partition's b at the extrapolated point, ``c0 b0 + c1 b1 + c2 b2``."""
    c0, c1, c2 = coefs
    return c0 * b0 + c1 * b1 + c2 * b2


def glad_e_step(part: Part, b: np.ndarray, alpha: np.ndarray, log_pi: np.ndarray, b_prior: tuple) -> tuple:
    """``((q, b), [evidence, log prior of b])``: the E-step at ``(alpha, b)`` (an extrapolated point,
    which no pass has made) and the partition's state there."""
    from emcrowd.models.classification import _glad_kernels as kernels

    g = part.groups
    joint = kernels.log_likelihoods(
        g.indptr, g.worker, g.label, alpha, b, part.obs.n_classes, g.log_k_minus_1
    )
    q, evidence = normalize(joint + log_pi)
    prior = float(GaussianPrior(*b_prior, "beta").log_pdf(b).sum())
    return (q, b), np.array([evidence, prior])


def glad_b_log_prior(state: tuple, b_prior: tuple) -> float:
    return float(GaussianPrior(*b_prior, "beta").log_pdf(state[1]).sum())


# -- sizes for the scheduler ------------------------------------------------------------------
def nbytes(obj: object, depth: int = 3) -> int:
    """The bytes of the NumPy arrays that ``obj`` holds in its attributes (and their tuples and
    attributes, ``depth`` levels down), each array counted once."""
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
        return sum(walk(v, level + 1) for v in attrs.values())

    return 64 + walk(obj, 0)


def _register_sizes() -> None:
    """Tell Dask what a partition weighs (its default for an object is a few dozen bytes): what it
    counts of a worker's memory, and so when it spills, is then what the worker holds."""
    from dask.sizeof import sizeof

    sizeof.register(Part)(nbytes)


_register_sizes()

__all__ = ["Part", "load_part", "nbytes", "replace"]
