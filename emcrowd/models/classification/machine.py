"""Crowd + machine: Dawid-Skene for the people, a calibrated annotator for each machine.

Each machine (a model's probabilities, or an LLM's answers with or without a confidence) is an
annotator whose output on item ``j`` is a symbol ``s = (a, b)``: its answer ``a`` (the most probable
class) and the bin ``b`` of its confidence in that answer. Bins are equal-count ranges of the
machine's confidence over the items it shares with people (one bin per ``min_bin_items`` of those,
at most ``n_bins``; a single bin for hard answers without a confidence). Given the true class ``k``::

    P(s = (a, b) | k) = f_b * (c_b            if a == k
                               (1 - c_b)/(K-1) otherwise)

``f_b`` is the share of the machine's items in bin ``b`` (it does not depend on the truth) and
``c_b`` is the probability that an answer given with a confidence in bin ``b`` is right: the
machine's calibration curve, learned by EM from the items it shares with people (and gold), never
taken from the confidence the machine states. Each ``c_b`` has a Beta prior centred on chance
(``1/K``) worth ``machine_prior`` items, so a machine that shares few items with people is trusted
no more than those few items support, and a useless machine (``c_b`` near chance) moves no
posterior. The people are Dawid-Skene annotators (a confusion matrix each, smoothed).

The EM loop is :class:`emcrowd.models._base.EMAggregator`'s (exact E-step, closed-form MAP M-step,
gold clamped, restarts, an objective that never decreases), run on the items with at least one human
label or a gold label. An item that only machines saw gets, after the fit, the posterior
``pi_k prod_m P(s_m | k)``: each machine's calibrated probability, combined.

The machines' symbols are labels of extra annotators in an alphabet of ``K + K * n_bins`` codes (the
people's labels are codes ``0..K-1``), so one pass of Dawid-Skene's kernels makes the E-step and the
M-step's sums for people and machines together.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from emcrowd.data import CODE_DTYPE, Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models._base import normalize
from emcrowd.models.classification._observations import Observations, confusion_counts
from emcrowd.models.classification.dawid_skene import DawidSkene
from emcrowd.predictions import MachineData, attach


@dataclass
class _EMSet:
    """What the EM loop reads: the items with human labels or gold, people and machines as
    annotators over the extended alphabet; the class count and names are the crowd's."""

    labels: Labels  # over K + K * n_bins symbols
    class_names: tuple[str, ...]
    n_people: int
    bins: list[int]  # per machine

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_items(self) -> int:
        return self.labels.n_items

    @property
    def n_labels(self) -> int:
        return self.labels.n_labels

    def item_name_ranks(self) -> np.ndarray:
        return self.labels.item_name_ranks()


class CrowdMachine(DawidSkene):
    """Dawid-Skene for the crowd with one or several machine annotators whose weight is learned.

    Parameters
    ----------
    n_bins : int
        The most confidence bins per machine (its calibration curve has one point per bin).
    min_bin_items : int
        Items shared with people per bin: a machine sharing fewer than ``2 * min_bin_items`` items
        has one bin (one accuracy).
    machine_prior : float
        Weight, in items, of each bin's Beta prior centred on chance: how much shared evidence a
        machine needs before its answers count.
    unknown_items : {"add", "drop", "error"}
        Items only a machine saw: added (with the machines' calibrated posterior), dropped, or refused.
    select_machines : bool
        Ignore a machine whose answers gain less, on the items it shares with people, than its bins
        would gain by fitting noise (half a log of its shared items per bin, the BIC penalty): the fit
        is then made again with that machine's accuracy held at chance, so a useless machine leaves
        the crowd's answer as it is.
    smoothing, engine, class_prior, learn_class_prior, class_pseudocount, tol, max_iter, n_init, random_state
        As for :class:`DawidSkene` (the people's confusion matrices, the EM loop).

    Attributes
    ----------
    confusion_ : ndarray of shape (n_people, K, K)
        The people's confusion matrices.
    accuracy_ : ndarray of shape (n_people + n_machines,)
        Each annotator's probability of being right, the machines last (a machine's over the items
        it shares with people).
    kind_ : ndarray of str, shape (n_people + n_machines,)
        ``"human"`` or ``"machine"``.
    worker_names_ : tuple of str
        The annotators' names, people then machines.
    machine_names_ : tuple of str
    machine_calibration_ : list of dict
        Per machine: ``edges`` (the confidence bins' bounds), ``accuracy`` (``c_b`` per bin),
        ``items`` (shared items per bin), ``shared_items``, ``items`` seen in all.
    machine_data_ : MachineData
        The labels (with the machine-only items appended) and the predictions, as matched.
    machine_evidence_ : ndarray of shape (n_machines,)
        Per machine, the log-likelihood its answers gain over chance minus the penalty (see
        ``select_machines``); positive: used.
    machine_used_ : ndarray of bool, shape (n_machines,)
        Whether each machine counts in the posteriors.
    n_shared_ : int
        Items with a human label or gold, the ones the EM loop ran on.
    posteriors_, labels_, class_prior_, history_, lower_bound_, converged_, n_iter_, ...
        See :class:`emcrowd.models._base.EMAggregator`; posteriors over every item of
        ``machine_data_.labels``.
    """

    method = "crowd_machine"

    def __init__(
        self,
        *,
        n_bins: int = 10,
        min_bin_items: int = 50,
        machine_prior: float = 2.0,
        unknown_items: str = "add",
        select_machines: bool = True,
        smoothing: float = 0.01,
        engine: str = "auto",
        class_prior: np.ndarray | None = None,
        learn_class_prior: bool = True,
        class_pseudocount: float = 1.0,
        tol: float = 1e-6,
        max_iter: int = 500,
        n_init: int = 1,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            smoothing=smoothing,
            engine=engine,
            class_prior=class_prior,
            learn_class_prior=learn_class_prior,
            class_pseudocount=class_pseudocount,
            tol=tol,
            max_iter=max_iter,
            n_init=n_init,
            random_state=random_state,
        )
        self.n_bins = n_bins
        self.min_bin_items = min_bin_items
        self.machine_prior = machine_prior
        self.unknown_items = unknown_items
        self.select_machines = select_machines

    # -- entry points -----------------------------------------------------------------------------
    def fit(
        self, data: Any, *, predictions: Any = None, gold: Any = None, callback: Any = None, **columns: Any
    ) -> Any:
        """Fit to crowd labels (any input :meth:`Aggregator.fit` takes) and machine predictions.

        ``predictions``: a :class:`~emcrowd.predictions.Predictions`, a list of them, or a DataFrame /
        pyarrow Table (an item column and a probability column per class, or a label column and an
        optional confidence column; several models as a ``model`` column, see
        :func:`emcrowd.io.predictions.predictions_from_table`), or a mapping ``{name: table}``. Gold by
        item id or in the order of ``machine_data_.labels.item_names``.
        """
        from emcrowd.io.frames import labels_and_form, truth_codes
        from emcrowd.io.predictions import as_predictions

        if predictions is None:
            raise EmcrowdError("CrowdMachine.fit needs predictions=: a machine's predictions per item")
        labels, form = labels_and_form(data, **columns)
        md = attach(labels, as_predictions(predictions, labels.class_names), self.unknown_items)
        codes = (
            None if gold is None else self._check_gold(truth_codes(gold, md.labels, name="gold"), md.labels)
        )
        self.fit_machine_data(md, codes, callback)
        self._form = None if form is None else _extended_form(form, md)
        return self

    def fit_machine_data(
        self, md: MachineData, gold: np.ndarray | None = None, callback: Any = None
    ) -> CrowdMachine:
        """Fit to matched labels and predictions (what :func:`emcrowd.predictions.attach` gives);
        ``gold``: class codes per item of ``md.labels`` (-1 = unknown)."""
        self._check_options()
        data = md.labels
        n_people, k = data.n_workers, data.n_classes
        shared = np.zeros(data.n_items, dtype=bool)
        shared[data.item] = True
        if gold is not None:
            shared |= gold >= 0
        shared_idx = np.flatnonzero(shared)
        if shared_idx.size == 0:
            raise EmcrowdError(
                "no item has a human label or a gold label: a machine's weight is learned from the items "
                "it shares with people"
            )
        new_code = np.full(data.n_items, -1, dtype=CODE_DTYPE)  # the codes Labels keeps: no conversion
        new_code[shared_idx] = np.arange(shared_idx.size)

        symbols, bins, calibration = [], [], []
        for m, machine in enumerate(md.machines):
            answer, confidence = machine.answers()
            items = md.item_codes[m]
            on_shared = shared[items]
            edges = self._edges(confidence, on_shared)
            b = np.zeros(items.size, dtype=np.int64) if edges is None else _bin_of(confidence, edges)
            n_b = 1 if edges is None else edges.size - 1
            symbols.append(answer.astype(np.int64) * n_b + b)
            bins.append(n_b)
            calibration.append({"edges": edges, "bin": b, "answer": answer})
        alphabet = k + k * max(bins)
        machine_rows = [np.flatnonzero(shared[md.item_codes[m]]) for m in range(len(md.machines))]
        item = [new_code[data.item]] + [new_code[md.item_codes[m][r]] for m, r in enumerate(machine_rows)]
        worker = [data.worker] + [
            np.full(r.size, n_people + m, dtype=CODE_DTYPE) for m, r in enumerate(machine_rows)
        ]
        label = [data.label] + [(k + symbols[m][r]).astype(CODE_DTYPE) for m, r in enumerate(machine_rows)]
        em_labels = Labels(
            np.concatenate(item),
            np.concatenate(worker),
            np.concatenate(label),
            data.item_names
            if shared_idx.size == data.n_items
            else tuple(data.item_names[j] for j in shared_idx),
            data.worker_names + md.machine_names,
            data.class_names + tuple(f"\x00symbol{s}" for s in range(alphabet - k)),
        )
        em = _EMSet(em_labels, data.class_names, n_people, bins)
        em_gold = None if gold is None else gold[shared_idx]
        self._ignored: set[int] = set()
        self._fit(em, em_gold, callback)
        # a machine is used when its evidence beats what its bins would gain by fitting noise
        counts = self._final_counts
        if counts is None:
            counts = confusion_counts(self._obs, self.posteriors_)
        self.machine_evidence_ = self._evidence(counts, em)
        estimated = self.accuracy_[n_people:].copy()
        self.machine_used_ = self.machine_evidence_ > 0 if self.select_machines else np.ones(len(bins), bool)
        if not self.machine_used_.all():
            self._ignored = set(np.flatnonzero(~self.machine_used_).tolist())
            # without the ignored machines' answers: the fit (and its objective) is the one without them
            keep = ~np.isin(em_labels.worker, [n_people + m for m in self._ignored])
            em = dataclasses.replace(
                em, labels=dataclasses.replace(
                    em_labels, item=em_labels.item[keep], worker=em_labels.worker[keep],
                    label=em_labels.label[keep],
                ),
            )  # fmt: skip
            self._fit(em, em_gold, callback)
            self.accuracy_[n_people:][~self.machine_used_] = estimated[~self.machine_used_]

        # every item: the EM posteriors on the shared ones, the machines' calibrated ones elsewhere
        log_theta = self._log_theta_
        joint = np.tile(np.log(self.class_prior_), (data.n_items, 1))
        for m in np.flatnonzero(self.machine_used_):
            rows = ~shared[md.item_codes[m]]
            cols = k + symbols[m][rows]
            joint[md.item_codes[m][rows]] += log_theta[n_people + m][:, cols].T
        posteriors, _ = normalize(joint)
        posteriors[shared_idx] = self.posteriors_
        self.posteriors_ = posteriors
        self.labels_ = np.argmax(posteriors, axis=1)
        self.machine_data_ = md
        self.n_shared_ = int(shared_idx.size)
        self.worker_names_ = em_labels.worker_names
        self.machine_names_ = md.machine_names
        self.kind_ = np.array(["human"] * n_people + ["machine"] * len(md.machines))
        self.machine_calibration_ = []
        for m, machine in enumerate(md.machines):
            cal = calibration[m]
            on_shared = shared[md.item_codes[m]]
            self.machine_calibration_.append(
                {
                    "name": machine.name,
                    "edges": None if cal["edges"] is None else cal["edges"].tolist(),
                    "accuracy": self._coin_[m].tolist(),
                    "bin_items": np.bincount(cal["bin"][on_shared], minlength=bins[m]).tolist(),
                    "shared_items": int(on_shared.sum()),
                    "items": int(on_shared.size),
                }
            )
        return self

    def _evidence(self, counts: np.ndarray, em: _EMSet) -> np.ndarray:
        """Per machine: the expected log-likelihood its fitted bins gain over chance on the shared
        items, minus half a log of its shared items per bin (the BIC penalty of its coins)."""
        k, people = em.n_classes, em.n_people
        out = []
        for m, n_b in enumerate(em.bins):
            c = counts[people + m, :, k : k + k * n_b].reshape(k, k, n_b)
            right = np.einsum("kkb->b", c)
            total = c.sum(axis=(0, 1))
            wrong = total - right
            coin = np.clip((right + self.machine_prior / k) / (total + self.machine_prior), 1e-12, 1 - 1e-12)
            gain = right * np.log(coin * k) + wrong * np.log((1 - coin) * k / (k - 1))
            out.append(float(gain.sum() - 0.5 * n_b * np.log(max(total.sum(), 1.0))))
        return np.array(out)

    # -- the EM hooks -----------------------------------------------------------------------------
    def _check_options(self) -> None:
        if int(self.n_bins) != self.n_bins or self.n_bins < 1:
            raise EmcrowdError(f"n_bins must be a positive integer, got {self.n_bins!r}")
        if int(self.min_bin_items) != self.min_bin_items or self.min_bin_items < 1:
            raise EmcrowdError(f"min_bin_items must be a positive integer, got {self.min_bin_items!r}")
        if not (np.isfinite(self.machine_prior) and self.machine_prior >= 0):
            raise EmcrowdError(f"machine_prior must be a number >= 0, got {self.machine_prior!r}")

    def _edges(self, confidence: np.ndarray | None, on_shared: np.ndarray) -> np.ndarray | None:
        """Bounds of the confidence bins (equal counts of shared items), or None for one bin."""
        if confidence is None:
            return None
        n_bins = min(int(self.n_bins), int(on_shared.sum()) // int(self.min_bin_items))
        if n_bins < 2:
            return None
        inner = np.unique(np.quantile(confidence[on_shared], np.linspace(0, 1, n_bins + 1)[1:-1]))
        return np.concatenate([[-np.inf], inner, [np.inf]])

    def _observations(self, data: Any) -> Observations:
        return Observations.from_labels(data.labels, self.engine)

    def _initial_posteriors(self, data: Any) -> np.ndarray:
        labels, k = data.labels, data.n_classes
        human = labels.worker < data.n_people
        counts = np.bincount(
            labels.item[human].astype(np.int64) * k + labels.label[human], minlength=labels.n_items * k
        ).reshape(labels.n_items, k)
        totals = counts.sum(axis=1, keepdims=True)
        shares = np.full(counts.shape, 1.0 / k)
        np.divide(counts, totals, out=shares, where=totals > 0)
        return shares

    def _m_step(self, data: Any, posteriors: np.ndarray, params: Any) -> np.ndarray:
        counts = self._take_pending(posteriors)
        if counts is None:
            counts = confusion_counts(self._obs, posteriors)
        k, people = data.n_classes, data.n_people
        log_theta = np.zeros(counts.shape)
        human = counts[:people, :, :k] + self.smoothing
        totals = human.sum(axis=2, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_human = np.log(human) - np.log(totals)
        log_theta[:people, :, :k] = np.where(totals > 0, log_human, -np.log(k))
        self._coin_ = []
        for m, n_b in enumerate(data.bins):
            c = counts[people + m, :, k : k + k * n_b].reshape(k, k, n_b)  # [true, answer, bin]
            right = np.einsum("kkb->b", c)
            total = c.sum(axis=(0, 1))
            coin = (right + self.machine_prior / k) / (total + self.machine_prior)
            coin = np.where(total + self.machine_prior > 0, coin, 1.0 / k)
            if m in self._ignored:
                coin = np.full(n_b, 1.0 / k)
            share = total / max(total.sum(), 1e-300)
            with np.errstate(divide="ignore"):
                log_f = np.log(share)
                log_right, log_wrong = np.log(coin), np.log1p(-coin) - np.log(k - 1)
            block = np.broadcast_to(log_f + log_wrong, (k, k, n_b)).copy()
            block[np.arange(k), np.arange(k)] = log_f + log_right
            log_theta[people + m, :, k : k + k * n_b] = block.reshape(k, k * n_b)
            self._coin_.append(coin)
        return log_theta

    def _log_param_prior(self, log_theta: np.ndarray) -> float:
        data = self._em
        k, people = data.n_classes, data.n_people
        total = float(self.smoothing * log_theta[:people, :, :k].sum()) if self.smoothing else 0.0
        if self.machine_prior:
            for m, coin in enumerate(self._coin_):
                if m in self._ignored:
                    continue
                with np.errstate(divide="ignore"):
                    total += float(
                        self.machine_prior / k * np.log(coin).sum()
                        + self.machine_prior * (k - 1) / k * np.log1p(-coin).sum()
                    )
        return total

    def _prepare(self, data: Any) -> None:
        self._em = data
        super()._prepare(data)

    def _store(self, data: Any, log_theta: np.ndarray) -> None:
        # the sums the last E-step made for the kept posteriors (the numba engine's), for the evidence
        pending = self._pending
        self._final_counts = pending[1] if pending is not None and pending[0] is self.posteriors_ else None
        self._pending = None
        # the kept start's machine coins, from its parameters
        k, people = data.n_classes, data.n_people
        coins = []
        for m, n_b in enumerate(data.bins):
            block = log_theta[people + m, :, k : k + k * n_b].reshape(k, k, n_b)
            share = np.exp(block).sum(axis=1)[0]  # f_b
            with np.errstate(divide="ignore", invalid="ignore"):
                coins.append(np.where(share > 0, np.exp(block[0, 0]) / share, 1.0 / k))
        self._coin_ = coins
        self._log_theta_ = log_theta
        self.confusion_ = np.exp(log_theta[:people, :, :k])
        human = np.einsum("ikk->ik", self.confusion_) @ self.class_prior_
        machine = []
        for m, n_b in enumerate(data.bins):
            block = np.exp(log_theta[people + m, :, k : k + k * n_b].reshape(k, k, n_b))
            right = np.einsum("kkb->k", block)  # P(answer right | true k)
            machine.append(float(right @ self.class_prior_))
        self.accuracy_ = np.concatenate([human, np.array(machine)])

    def _label_proba(self, item: np.ndarray, worker: np.ndarray) -> np.ndarray:
        raise NotImplementedError("CrowdMachine does not give label probabilities")


def _bin_of(confidence: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The bin of each confidence: ``edges[b] < c <= edges[b+1]``."""
    return np.searchsorted(edges[1:-1], confidence, side="left").astype(np.int64)


def _extended_form(form: Any, md: MachineData) -> Any:
    """The input's result form with the added items and the machines among the annotators."""
    import pyarrow as pa

    def extend(values: Any, extra: tuple[str, ...]) -> Any:
        if not extra:
            return values
        try:
            return pa.concat_arrays([values, pa.array(list(extra)).cast(values.type)])
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return pa.concat_arrays([values.cast(pa.string()), pa.array(list(extra), type=pa.string())])

    items = extend(form.items, md.labels.item_names[md.n_crowd_items :])
    workers = extend(form.workers, md.machine_names)
    return dataclasses.replace(form, items=items, workers=workers)
