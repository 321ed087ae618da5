"""One-pass aggregation of a label stream: online EM for the Dawid-Skene model (``emcrowd stream``).

Each label is seen once, in arrival order, and updates three things at once:

1. **its item** — the item keeps ``log p(its labels | true class k)`` summed so far (K numbers); the
   new label adds ``log theta_w[k, label]`` at the annotator's current confusion matrix, and the
   item's posterior is that sum plus the log class prior, normalised;
2. **its annotator** — the annotator keeps a running average ``s_w[k, l]`` of "the true class was
   ``k`` and it said ``l``", weighted by the item's posterior right after this label. The average is
   a stochastic-approximation step (online EM, after Cappe and Moulines 2009) with step size
   ``gamma = (n_w + 1) ** -decay`` at its ``n_w``-th label: ``decay`` = 1 is a plain average of all its
   labels; below 1 it forgets its first labels (weighed with the poor posteriors of items that had
   few labels then) faster. Its confusion matrix is ``n_w * s_w`` plus a prior pseudo-count that
   starts every annotator better than chance (``prior_correct`` on the diagonal, 1 elsewhere), row
   normalised;
3. **the class prior** — the sum of every item's current posterior, plus one pseudo-item per class.

Memory is bounded per item (2 K numbers: the summed log-likelihoods and the posterior) and per
annotator (K x K + 1); nothing grows with the number of labels. Past labels are not revisited, so
an item's first labels were weighed with its annotators' estimates of the time: a one-pass method is
a little less accurate than EM over all the labels (``docs/incremental.md`` has the figures), and
``emcrowd update`` refits exactly.
"""

from __future__ import annotations

import numpy as np

from emcrowd.errors import EmcrowdError

try:  # numba is a dependency; the loop runs compiled (about 100 times faster than in Python)
    from numba import njit
except ImportError:  # pragma: no cover
    njit = None


def _online_pass(
    item: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    log_lik: np.ndarray,
    post: np.ndarray,
    stats: np.ndarray,
    seen: np.ndarray,
    item_labels: np.ndarray,
    class_sum: np.ndarray,
    prior_correct: float,
    decay: float,
) -> None:
    """The updates of the module notes for each label in order (all arrays updated in place)."""
    k_classes = log_lik.shape[1]
    total = 0.0
    for k in range(k_classes):
        total += class_sum[k]
    q = np.empty(k_classes)
    other = np.empty(k_classes)
    for o in range(item.size):
        j, w, lab = item[o], worker[o], label[o]
        n = seen[w]
        informed = item_labels[j] > 0
        for k in range(k_classes):
            other[k] = post[j, k]  # the item's posterior from its other labels (this one left out)
        for k in range(k_classes):
            row = prior_correct + (k_classes - 1.0)
            cell = prior_correct if k == lab else 1.0
            s_row = 0.0
            for m in range(k_classes):
                s_row += stats[w, k, m]
            log_lik[j, k] += np.log((n * stats[w, k, lab] + cell) / (n * s_row + row))
        top = -np.inf
        for k in range(k_classes):
            q[k] = log_lik[j, k] + np.log((class_sum[k] + 1.0) / (total + k_classes))
            if q[k] > top:
                top = q[k]
        norm = 0.0
        for k in range(k_classes):
            q[k] = np.exp(q[k] - top)
            norm += q[k]
        for k in range(k_classes):
            q[k] /= norm
            class_sum[k] += q[k] - post[j, k]
            post[j, k] = q[k]
        total = 0.0
        for k in range(k_classes):
            total += class_sum[k]
        item_labels[j] += 1
        if not informed:  # nothing else says what the item is yet: the label cannot grade its annotator
            continue
        gamma = (n + 1.0) ** (-decay)
        for k in range(k_classes):
            for m in range(k_classes):
                stats[w, k, m] *= 1.0 - gamma
            stats[w, k, lab] += gamma * other[k]
        seen[w] = n + 1


_compiled = None


def _kernel():  # type: ignore[no-untyped-def]
    global _compiled
    if _compiled is None:
        _compiled = njit(cache=True, nogil=True)(_online_pass) if njit is not None else _online_pass
    return _compiled


class OnlineDawidSkene:
    """Online (one-pass) Dawid-Skene over a stream of labels; see the module notes.

    Parameters
    ----------
    class_names : sequence of str
        The classes, in code order (a stream cannot go back when a new class shows up).
    decay : float
        The step-size exponent, in (0.5, 1]: 1 averages all of an annotator's labels alike; lower
        forgets its first labels faster. 0.7 by default.
    prior_correct : float
        Pseudo-count on the diagonal of every annotator's confusion matrix (1 off it): how much better
        than chance an annotator is taken to be before its labels say otherwise. 2 by default.
    """

    def __init__(
        self, class_names: tuple[str, ...], *, decay: float = 0.7, prior_correct: float = 2.0
    ) -> None:
        if len(class_names) < 2:
            raise EmcrowdError("at least two classes are needed to aggregate labels")
        if not 0.5 < decay <= 1.0:
            raise EmcrowdError(f"decay must be in (0.5, 1], got {decay!r}")
        if not prior_correct >= 1.0:
            raise EmcrowdError(f"prior_correct must be >= 1, got {prior_correct!r}")
        self.class_names = tuple(class_names)
        self.decay = float(decay)
        self.prior_correct = float(prior_correct)
        k = len(class_names)
        self._class_code = {name: i for i, name in enumerate(class_names)}
        self._items: dict[str, int] = {}
        self._workers: dict[str, int] = {}
        self._log_lik = np.zeros((1024, k))
        self._post = np.zeros((1024, k))
        self._stats = np.zeros((64, k, k))
        self._seen = np.zeros(64)
        self._item_labels = np.zeros(1024, dtype=np.int64)
        self._class_sum = np.zeros(k)
        self.n_labels = 0

    @property
    def n_items(self) -> int:
        return len(self._items)

    @property
    def n_workers(self) -> int:
        return len(self._workers)

    def _code(self, names: list[str], index: dict[str, int], kind: str) -> np.ndarray:
        out = np.empty(len(names), dtype=np.int64)
        for pos, name in enumerate(names):
            code = index.get(name)
            if code is None:
                code = index[name] = len(index)
                if kind == "item":
                    self._new_item(code)
            out[pos] = code
        return out

    def _new_item(self, code: int) -> None:
        if code >= self._post.shape[0]:
            grow = self._post.shape[0]
            k = len(self.class_names)
            self._log_lik = np.concatenate([self._log_lik, np.zeros((grow, k))])
            self._post = np.concatenate([self._post, np.zeros((grow, k))])
            self._item_labels = np.concatenate([self._item_labels, np.zeros(grow, dtype=np.int64)])
        # a new item starts at the class prior: its posterior joins the class sums
        prior = (self._class_sum + 1.0) / (self._class_sum.sum() + len(self.class_names))
        self._post[code] = prior
        self._class_sum += prior

    def _grow_workers(self) -> None:
        need = len(self._workers)
        if need > self._seen.size:
            grow = max(need - self._seen.size, self._seen.size)
            k = len(self.class_names)
            self._stats = np.concatenate([self._stats, np.zeros((grow, k, k))])
            self._seen = np.concatenate([self._seen, np.zeros(grow)])

    def classes_of(self, values: list[str]) -> np.ndarray:
        """Class codes of label values; an unknown value is an error naming it."""
        try:
            return np.fromiter((self._class_code[v] for v in values), dtype=np.int64, count=len(values))
        except KeyError as exc:
            raise EmcrowdError(
                f"label {exc.args[0]!r} is not one of the classes {', '.join(self.class_names)}"
            ) from None

    def add(self, items: list[str], workers: list[str], labels: list[str]) -> None:
        """Take a batch of labels, in arrival order (each is seen once)."""
        codes = self.classes_of(labels)
        item = self._code(items, self._items, "item")
        worker = self._code(workers, self._workers, "worker")
        self._grow_workers()
        _kernel()(
            item, worker, codes, self._log_lik, self._post, self._stats, self._seen, self._item_labels,
            self._class_sum, self.prior_correct, self.decay,
        )  # fmt: skip
        self.n_labels += len(items)

    # -- results --------------------------------------------------------------------------------------
    def posteriors(self) -> np.ndarray:
        """Each item's current posterior, shape (n_items, K), items in order of first appearance."""
        return self._post[: self.n_items].copy()

    def item_names(self) -> list[str]:
        return list(self._items)

    def worker_names(self) -> list[str]:
        return list(self._workers)

    def labels_per_item(self) -> np.ndarray:
        return self._item_labels[: self.n_items].copy()

    def class_prior(self) -> np.ndarray:
        return (self._class_sum + 1.0) / (self._class_sum.sum() + len(self.class_names))

    def confusion(self) -> np.ndarray:
        """Each annotator's current confusion matrix, shape (n_workers, K, K)."""
        w = self.n_workers
        k = len(self.class_names)
        prior = np.ones((k, k)) + (self.prior_correct - 1.0) * np.eye(k)
        counts = self._seen[:w, None, None] * self._stats[:w] + prior
        return counts / counts.sum(axis=2, keepdims=True)

    def accuracy(self) -> np.ndarray:
        """Each annotator's probability of naming the true class, at the current class prior."""
        return np.einsum("ikk->ik", self.confusion()) @ self.class_prior()

    def labels_per_worker(self) -> np.ndarray:
        return self._seen[: self.n_workers].astype(np.int64)
