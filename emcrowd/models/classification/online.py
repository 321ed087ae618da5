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
   starts every annotator better than chance (``prior_strength`` pseudo-labels per row, a share
   ``prior_accuracy`` of them on the diagonal), row normalised;
3. **the class prior** — the sum of every item's current posterior, plus one pseudo-item per class.

Past labels are not revisited one by one, but each item keeps its first ``keep_labels`` labels (32 by
default; annotator and class codes): from time to time (at 1k, 2k, 4k, ... labels, and before every
snapshot) every item's log-likelihood is summed again over those at the current confusion matrices,
so that labels that arrived while their annotators were still unknown are weighed as the annotators
are known now. Labels beyond the first ``keep_labels`` of an item stay in a frozen sum, weighed as at
their arrival. Memory is bounded per item (``keep_labels`` pairs of codes, 6 bytes each, and 3 K
numbers) and per annotator (K x K + 1); nothing grows with the number of labels. With
``keep_labels=0`` the method is purely one-pass. EM over all the labels (``emcrowd update``) remains a
little more accurate; ``docs/incremental.md`` has the figures.
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
    kept_worker: np.ndarray,
    kept_label: np.ndarray,
    frozen: np.ndarray,
    class_sum: np.ndarray,
    prior_diag: float,
    prior_off: float,
    decay: float,
) -> None:
    """The updates of the module notes for each label in order (all arrays updated in place)."""
    k_classes = log_lik.shape[1]
    keep = kept_worker.shape[1]
    total = 0.0
    for k in range(k_classes):
        total += class_sum[k]
    q = np.empty(k_classes)
    other = np.empty(k_classes)
    for o in range(item.size):
        j, w, lab = item[o], worker[o], label[o]
        n = seen[w]
        c = item_labels[j]
        informed = c > 0
        if c < keep:
            kept_worker[j, c] = w
            kept_label[j, c] = lab
        for k in range(k_classes):
            other[k] = post[j, k]  # the item's posterior from its other labels (this one left out)
        for k in range(k_classes):
            row = prior_diag + (k_classes - 1.0) * prior_off
            cell = prior_diag if k == lab else prior_off
            s_row = 0.0
            for m in range(k_classes):
                s_row += stats[w, k, m]
            term = np.log((n * stats[w, k, lab] + cell) / (n * s_row + row))
            log_lik[j, k] += term
            if c >= keep:
                frozen[j, k] += term
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


def _rescore(
    n_items: int,
    item_labels: np.ndarray,
    kept_worker: np.ndarray,
    kept_label: np.ndarray,
    frozen: np.ndarray,
    log_theta: np.ndarray,
    log_pi: np.ndarray,
    log_lik: np.ndarray,
    post: np.ndarray,
    class_sum: np.ndarray,
) -> None:
    """Every item's log-likelihood again: its kept labels at the current confusion matrices, plus the
    frozen sum of the labels beyond those; then its posterior and the class sums."""
    k_classes = log_lik.shape[1]
    keep = kept_worker.shape[1]
    for k in range(k_classes):
        class_sum[k] = 0.0
    for j in range(n_items):
        top = -np.inf
        for k in range(k_classes):
            total = frozen[j, k]
            for c in range(min(item_labels[j], keep)):
                total += log_theta[kept_worker[j, c], k, kept_label[j, c]]
            log_lik[j, k] = total
            if total + log_pi[k] > top:
                top = total + log_pi[k]
        norm = 0.0
        for k in range(k_classes):
            post[j, k] = np.exp(log_lik[j, k] + log_pi[k] - top)
            norm += post[j, k]
        for k in range(k_classes):
            post[j, k] /= norm
            class_sum[k] += post[j, k]


_compiled: dict[str, object] = {}


def _kernel(name: str = "pass"):  # type: ignore[no-untyped-def]
    if name not in _compiled:
        func = _online_pass if name == "pass" else _rescore
        _compiled[name] = njit(cache=True, nogil=True)(func) if njit is not None else func
    return _compiled[name]


class OnlineDawidSkene:
    """Online (one-pass) Dawid-Skene over a stream of labels; see the module notes.

    Parameters
    ----------
    class_names : sequence of str
        The classes, in code order (a stream cannot go back when a new class shows up).
    decay : float
        The step-size exponent, in (0.5, 1]: 1 averages all of an annotator's labels alike; lower
        forgets its first labels faster. 0.7 by default.
    prior_accuracy, prior_strength : float
        The prior of every annotator's confusion rows: ``prior_strength`` pseudo-labels per row, a
        share ``prior_accuracy`` of them on the diagonal (the rest spread evenly): an annotator is
        taken to be this accurate until its own labels outweigh that many pseudo-labels. 0.7 and 10.
    """

    def __init__(
        self,
        class_names: tuple[str, ...],
        *,
        decay: float = 1.0,
        prior_accuracy: float = 0.7,
        prior_strength: float = 10.0,
        keep_labels: int = 32,
    ) -> None:
        if len(class_names) < 2:
            raise EmcrowdError("at least two classes are needed to aggregate labels")
        if not 0.5 < decay <= 1.0:
            raise EmcrowdError(f"decay must be in (0.5, 1], got {decay!r}")
        if not 1.0 / len(class_names) < prior_accuracy < 1.0:
            raise EmcrowdError(f"prior_accuracy must be between 1/K and 1, got {prior_accuracy!r}")
        if not prior_strength > 0:
            raise EmcrowdError(f"prior_strength must be > 0, got {prior_strength!r}")
        self.class_names = tuple(class_names)
        if len(class_names) > 32767:
            raise EmcrowdError(f"at most 32,767 classes, got {len(class_names):,}")
        if int(keep_labels) != keep_labels or keep_labels < 0:
            raise EmcrowdError(f"keep_labels must be an integer >= 0, got {keep_labels!r}")
        self.keep_labels = int(keep_labels)
        self.decay = float(decay)
        self.prior_accuracy = float(prior_accuracy)
        self.prior_strength = float(prior_strength)
        k = len(class_names)
        self._class_code = {name: i for i, name in enumerate(class_names)}
        self._items: dict[str, int] = {}
        self._workers: dict[str, int] = {}
        self._log_lik = np.zeros((1024, k))
        self._post = np.zeros((1024, k))
        self._stats = np.zeros((64, k, k))
        self._seen = np.zeros(64)
        self._item_labels = np.zeros(1024, dtype=np.int32)
        self._kept_worker = np.zeros((1024, self.keep_labels), dtype=np.int32)
        self._kept_label = np.zeros((1024, self.keep_labels), dtype=np.int16)
        self._frozen = np.zeros((1024, k))
        self._class_sum = np.zeros(k)
        self.n_labels = 0
        self._next_rescore = 1024

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
            self._item_labels = np.concatenate([self._item_labels, np.zeros(grow, dtype=np.int32)])
            self._kept_worker = np.concatenate(
                [self._kept_worker, np.zeros((grow, self.keep_labels), np.int32)]
            )
            self._kept_label = np.concatenate(
                [self._kept_label, np.zeros((grow, self.keep_labels), np.int16)]
            )
            self._frozen = np.concatenate([self._frozen, np.zeros((grow, k))])
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
            self._kept_worker, self._kept_label, self._frozen, self._class_sum, *self._prior_cells(),
            self.decay,
        )  # fmt: skip
        self.n_labels += len(items)
        if self.n_labels >= self._next_rescore:  # at 1k, 2k, 4k, ... labels: O(1) per label overall
            self.rescore()
            self._next_rescore = 2 * self.n_labels

    def rescore(self) -> None:
        """Every item's posterior again from its kept labels at the current annotator estimates (see
        the module notes); :meth:`posteriors` does it first."""
        if not self.n_items:
            return
        log_theta = np.log(self.confusion())
        _kernel("rescore")(
            self.n_items, self._item_labels, self._kept_worker, self._kept_label, self._frozen, log_theta,
            np.log(self.class_prior()), self._log_lik, self._post, self._class_sum,
        )  # fmt: skip

    def _prior_cells(self) -> tuple[float, float]:
        """Pseudo-counts of a confusion row: on the diagonal, and on each other cell."""
        k = len(self.class_names)
        return self.prior_strength * self.prior_accuracy, self.prior_strength * (1 - self.prior_accuracy) / (
            k - 1
        )

    # -- results --------------------------------------------------------------------------------------
    def posteriors(self) -> np.ndarray:
        """Each item's current posterior, shape (n_items, K), items in order of first appearance."""
        self.rescore()
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
        diag, off = self._prior_cells()
        prior = np.full((k, k), off) + (diag - off) * np.eye(k)
        counts = self._seen[:w, None, None] * self._stats[:w] + prior
        return counts / counts.sum(axis=2, keepdims=True)

    def accuracy(self) -> np.ndarray:
        """Each annotator's probability of naming the true class, at the current class prior."""
        return np.einsum("ikk->ik", self.confusion()) @ self.class_prior()

    def labels_per_worker(self) -> np.ndarray:
        return self._seen[: self.n_workers].astype(np.int64)
