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

A machine gives an item at most one symbol, so the machines are a table of one symbol code per EM
item and machine (-1 where it gave none), read beside the people's labels: the E-step adds each
machine's ``log P(s | k)`` to the item's people terms (in the compiled engine, in the same pass over
the labels grouped by item, :mod:`._machine_kernels`), and the M-step's sums for the machines are
the posterior mass per machine, symbol and class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from emcrowd.data import CODE_DTYPE, Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models._base import normalize
from emcrowd.models.classification._observations import (
    Observations,
    _by_label,
    _gold_codes,
    _pass_chunks,
    confusion_counts,
    confusion_log_likelihoods,
    resolve_engine,
    vote_shares,
)
from emcrowd.models.classification.dawid_skene import DawidSkene
from emcrowd.predictions import MachineData, attach


@dataclass
class _EMSet:
    """What the EM loop reads: the items with human labels or gold, the people's labels on them, and
    each machine's symbol on each of them; the class count and names are the crowd's."""

    labels: Labels  # the people's labels over the shared items
    symbols: np.ndarray  # (n_items, n_machines) int32: a machine's symbol on an item, -1 for none
    n_people: int
    bins: list[int]  # per machine

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.labels.class_names

    @property
    def n_classes(self) -> int:
        return self.labels.n_classes

    @property
    def n_items(self) -> int:
        return self.labels.n_items

    @property
    def n_symbols(self) -> int:
        """Columns of a machine's table: ``K * n_bins`` of the machine with the most bins."""
        return self.n_classes * max(self.bins)

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
        n_shared = int(np.count_nonzero(shared))
        if n_shared == 0:
            raise EmcrowdError(
                "no item has a human label or a gold label: a machine's weight is learned from the items "
                "it shares with people"
            )
        # the EM items: the shared ones, in code order; when they come first (as attach appends the
        # items only machines saw), their codes stay as they are and nothing is recoded
        first = bool(shared[:n_shared].all())
        shared_idx = None if first else np.flatnonzero(shared)
        new_code = None
        if not first:
            new_code = np.full(data.n_items, -1, dtype=CODE_DTYPE)  # the codes Labels keeps
            new_code[shared_idx] = np.arange(n_shared, dtype=CODE_DTYPE)

        # the engine, chosen on all the EM's observations (the machines' answers on shared items too)
        on_shared_of = [shared[items] for items in md.item_codes]
        n_observed = data.n_labels + sum(int(np.count_nonzero(on)) for on in on_shared_of)
        self._engine_choice = resolve_engine(self.engine, n_observed)
        symbols = np.full((n_shared, len(md.machines)), -1, dtype=CODE_DTYPE)
        bins, calibration = [], []
        for m, machine in enumerate(md.machines):
            answer, confidence = self._answers(machine)
            items, on_shared = md.item_codes[m], on_shared_of[m]
            everywhere = bool(on_shared.all())
            edges = self._edges(confidence, on_shared, everywhere)
            n_b = 1 if edges is None else edges.size - 1
            b, symbol = self._symbols(answer, confidence, edges)
            rows = slice(None) if everywhere else np.flatnonzero(on_shared)
            at = items[rows]
            symbols[at if new_code is None else new_code[at], m] = symbol[rows]
            bins.append(n_b)
            calibration.append(
                {"edges": edges, "bin": b, "symbol": symbol, "on_shared": on_shared, "everywhere": everywhere}
            )
        if n_shared == data.n_items:
            people = data
        elif first:
            people = dataclasses.replace(data, item_names=data.item_names[:n_shared])
        else:
            assert new_code is not None and shared_idx is not None
            people = dataclasses.replace(
                data, item=new_code[data.item], item_names=tuple(data.item_names[j] for j in shared_idx)
            )
        em = _EMSet(people, symbols, n_people, bins)
        em_gold = None if gold is None else gold[:n_shared] if first else gold[shared_idx]
        self._ignored: set[int] = set()
        self._fit(em, em_gold, callback)
        # a machine is used when its evidence beats what its bins would gain by fitting noise
        counts = self._final_counts
        if counts is None:
            counts = self._machine_counts(em, self.posteriors_)
        self.machine_evidence_ = self._evidence(counts, em)
        estimated = self.accuracy_[n_people:].copy()
        self.machine_used_ = self.machine_evidence_ > 0 if self.select_machines else np.ones(len(bins), bool)
        if not self.machine_used_.all():
            # the fit without the set-aside machines' answers, from the same start (its objective is
            # the one without them); the people's labels grouped by item are the first fit's
            self._ignored = set(np.flatnonzero(~self.machine_used_).tolist())
            kept = symbols.copy()
            kept[:, ~self.machine_used_] = -1
            self._fit(dataclasses.replace(em, symbols=kept), em_gold, callback)
            self.accuracy_[n_people:][~self.machine_used_] = estimated[~self.machine_used_]

        # every item: the EM posteriors on the shared ones, the machines' calibrated ones elsewhere
        if n_shared < data.n_items:
            rest = np.flatnonzero(~shared)
            position = np.full(data.n_items, -1, dtype=np.intp)
            position[rest] = np.arange(rest.size)
            joint = np.tile(np.log(self.class_prior_), (rest.size, 1))
            for m in np.flatnonzero(self.machine_used_):
                off = ~calibration[m]["on_shared"]
                cols = calibration[m]["symbol"][off]
                joint[position[md.item_codes[m][off]]] += self._machine_log_[m][:, cols].T
            posteriors = np.empty((data.n_items, k))
            posteriors[rest], _ = normalize(joint)
            if shared_idx is None:
                posteriors[:n_shared] = self.posteriors_
            else:
                posteriors[shared_idx] = self.posteriors_
            self.posteriors_ = posteriors
            self.labels_ = np.argmax(posteriors, axis=1)
        self.machine_data_ = md
        self.n_shared_ = n_shared
        self.worker_names_ = data.worker_names + md.machine_names
        self.machine_names_ = md.machine_names
        self.kind_ = np.array(["human"] * n_people + ["machine"] * len(md.machines))
        self.machine_calibration_ = []
        for m, machine in enumerate(md.machines):
            cal = calibration[m]
            on_shared = cal["on_shared"]
            self.machine_calibration_.append(
                {
                    "name": machine.name,
                    "edges": None if cal["edges"] is None else cal["edges"].tolist(),
                    "accuracy": self._coin_[m].tolist(),
                    "bin_items": np.bincount(
                        cal["bin"] if cal["everywhere"] else cal["bin"][on_shared], minlength=bins[m]
                    ).tolist(),
                    "shared_items": int(on_shared.sum()),
                    "items": int(on_shared.size),
                }
            )
        return self

    def _evidence(self, counts: np.ndarray, em: _EMSet) -> np.ndarray:
        """Per machine: the expected log-likelihood its fitted bins gain over chance on the shared
        items, minus half a log of its shared items per bin (the BIC penalty of its coins).
        ``counts``: the machines' sums, shape (n_machines, K, n_symbols)."""
        k = em.n_classes
        out = []
        for m, n_b in enumerate(em.bins):
            c = counts[m, :, : k * n_b].reshape(k, k, n_b)
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

    def _answers(self, machine: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`Predictions.answers` (the most probable class, lowest code among ties, and its
        probability), in one compiled pass with the numba engine."""
        if machine.proba is None or self._engine_choice != "numba":
            return machine.answers()
        from emcrowd.models.classification import _machine_kernels as kernels

        return kernels.answers(np.ascontiguousarray(machine.proba, dtype=np.float64))

    def _symbols(self, answer: np.ndarray, confidence: np.ndarray | None, edges: np.ndarray | None) -> Any:
        """Each answer's confidence bin (``edges[b] < c <= edges[b+1]``) and its symbol
        ``answer * n_bins + bin``, int32."""
        if edges is None:
            return np.zeros(answer.size, dtype=CODE_DTYPE), answer.astype(CODE_DTYPE, copy=True)
        assert confidence is not None
        if self._engine_choice == "numba":
            from emcrowd.models.classification import _machine_kernels as kernels

            return kernels.symbols(answer.astype(CODE_DTYPE, copy=False), confidence, edges[1:-1].copy())
        b = np.searchsorted(edges[1:-1], confidence, side="left").astype(CODE_DTYPE)
        return b, answer.astype(CODE_DTYPE) * CODE_DTYPE(edges.size - 1) + b

    def _edges(
        self, confidence: np.ndarray | None, on_shared: np.ndarray, everywhere: bool
    ) -> np.ndarray | None:
        """Bounds of the confidence bins (equal counts of shared items), or None for one bin."""
        if confidence is None:
            return None
        n_shared = on_shared.size if everywhere else int(np.count_nonzero(on_shared))
        n_bins = min(int(self.n_bins), n_shared // int(self.min_bin_items))
        if n_bins < 2:
            return None
        shared_confidence = confidence if everywhere else confidence[on_shared]
        inner = np.unique(np.quantile(shared_confidence, np.linspace(0, 1, n_bins + 1)[1:-1]))
        return np.concatenate([[-np.inf], inner, [np.inf]])

    def _observations(self, data: Any) -> Observations:
        # the people's labels; the machines' symbols are read beside them. The engine is chosen on
        # all the observations, the machines' answers included; a set-aside refit of the same labels
        # keeps the first fit's (and its labels grouped by item)
        engine = self._engine_choice
        obs = getattr(self, "_obs", None)
        if obs is not None and obs.data is data.labels and obs.requested_engine == engine:
            return obs
        return Observations.from_labels(data.labels, engine)

    def _initial_posteriors(self, data: Any) -> np.ndarray:
        return vote_shares(self._obs)  # the people's vote shares: the machines wait for the M-step

    def _machine_counts(self, data: Any, posteriors: np.ndarray) -> np.ndarray:
        """``counts[m, t, s]``: the posterior mass of row ``t`` on the items where machine ``m`` gave
        symbol ``s``, shape (n_machines, K, n_symbols)."""
        k, n_symbols = data.n_classes, data.n_symbols
        if self.engine_ == "numba":
            from emcrowd.models.classification import _machine_kernels as kernels

            q = np.ascontiguousarray(posteriors, dtype=np.float64)
            return kernels.machine_counts(data.symbols, q, n_symbols).transpose(0, 2, 1)
        counts = np.zeros((len(data.bins), k, n_symbols))
        for m in range(len(data.bins)):
            column = data.symbols[:, m]
            on = np.flatnonzero(column >= 0)
            symbol, weights = column[on], posteriors[on]
            for t in range(k):
                counts[m, t] = np.bincount(symbol, weights=weights[:, t], minlength=n_symbols)
        return counts

    def _m_step(self, data: Any, posteriors: np.ndarray, params: Any) -> tuple[np.ndarray, np.ndarray]:
        pending = self._take_pending(posteriors)
        if pending is None:
            pending = (confusion_counts(self._obs, posteriors), self._machine_counts(data, posteriors))
        people_counts, machine_counts = pending
        k = data.n_classes
        human = people_counts + self.smoothing
        totals = human.sum(axis=2, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_human = np.log(human) - np.log(totals)
        log_people = np.where(totals > 0, log_human, -np.log(k))
        machine_log = np.zeros(machine_counts.shape)  # [machine, true, symbol]
        self._coin_ = []
        for m, n_b in enumerate(data.bins):
            c = machine_counts[m, :, : k * n_b].reshape(k, k, n_b)  # [true, answer, bin]
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
            machine_log[m, :, : k * n_b] = block.reshape(k, k * n_b)
            self._coin_.append(coin)
        return log_people, machine_log

    def _e_step(
        self, data: Any, params: tuple[np.ndarray, np.ndarray], log_pi: np.ndarray, gold: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        if self.engine_ == "numpy":
            return super()._e_step(data, params, log_pi, gold)  # from _log_likelihoods
        from emcrowd.models.classification import _machine_kernels as kernels

        log_people, machine_log = params
        obs, g = self._obs, self._obs.groups
        k, n_machines, n_symbols = data.n_classes, len(data.bins), data.n_symbols
        posteriors = np.empty((obs.n_items, k))
        acc = np.zeros((_pass_chunks(obs, obs.n_workers * k * k), obs.n_workers, k, k))
        machine_acc = np.zeros((acc.shape[0], n_machines * n_symbols * k + kernels.PAD))
        class_acc = np.zeros((acc.shape[0], k + kernels.PAD))
        evidence = kernels.machine_pass_for(k)(
            g.indptr, g.worker, g.label, _by_label(log_people), data.symbols, _by_label(machine_log),
            np.ascontiguousarray(log_pi, dtype=np.float64), self._gold_codes(gold), posteriors, acc,
            machine_acc, class_acc,
        )  # fmt: skip
        people_counts = acc[0]
        for chunk in range(1, acc.shape[0]):
            people_counts += acc[chunk]
        machine_sums = machine_acc[0]
        for chunk in range(1, acc.shape[0]):
            machine_sums += machine_acc[chunk]
        machine_counts = machine_sums[: n_machines * n_symbols * k].reshape(n_machines, n_symbols, k)
        self._class_sums = (posteriors, class_acc[:, :k].sum(axis=0))
        self._pending = (
            posteriors,
            (np.ascontiguousarray(people_counts.transpose(0, 2, 1)), machine_counts.transpose(0, 2, 1)),
        )
        return posteriors, self._objective(float(evidence), params, log_pi)

    def _class_prior_step(self, posteriors: np.ndarray) -> np.ndarray:
        # the compiled pass summed the posteriors per class as it made them
        made = self._class_sums
        if made is None or made[0] is not posteriors:
            return super()._class_prior_step(posteriors)
        counts = made[1] + self.class_pseudocount
        return np.log(counts / counts.sum())

    def _gold_codes(self, gold: np.ndarray | None) -> np.ndarray:
        """The gold codes as the compiled pass reads them, made once per fit (not once per pass)."""
        made = self._gold_made
        if made is None or made[0] is not gold:
            made = self._gold_made = (gold, _gold_codes(gold, self._obs.n_items))
        return made[1]

    def _log_likelihoods(self, data: Any, params: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        log_people, machine_log = params
        out = confusion_log_likelihoods(self._obs, log_people)
        for m in range(len(data.bins)):
            column = data.symbols[:, m]
            on = np.flatnonzero(column >= 0)
            out[on] += machine_log[m][:, column[on]].T
        return out

    def _pack_params(self, params: Any) -> None:
        return None  # not accelerated

    def _log_param_prior(self, params: tuple[np.ndarray, np.ndarray]) -> float:
        k = self._em.n_classes
        total = float(self.smoothing * params[0].sum()) if self.smoothing else 0.0
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
        self._gold_made: tuple[np.ndarray | None, np.ndarray] | None = None
        self._class_sums: tuple[np.ndarray, np.ndarray] | None = None
        super()._prepare(data)

    def _store(self, data: Any, params: tuple[np.ndarray, np.ndarray]) -> None:
        # the sums the last E-step made for the kept posteriors (the numba engine's), for the evidence
        pending = self._pending
        self._final_counts = pending[1][1] if pending is not None and pending[0] is self.posteriors_ else None
        self._pending = self._class_sums = None
        log_people, machine_log = params
        k = data.n_classes
        # the kept start's machine coins and accuracies, from its parameters
        coins, machine = [], []
        for n_b, table in zip(data.bins, machine_log, strict=True):
            block = table[:, : k * n_b].reshape(k, k, n_b)
            share = np.exp(block).sum(axis=1)[0]  # f_b
            with np.errstate(divide="ignore", invalid="ignore"):
                coins.append(np.where(share > 0, np.exp(block[0, 0]) / share, 1.0 / k))
            right = np.einsum("kkb->k", np.exp(block))  # P(answer right | true k)
            machine.append(float(right @ self.class_prior_))
        self._coin_ = coins
        self._machine_log_ = machine_log
        self.confusion_ = np.exp(log_people)
        human = np.einsum("ikk->ik", self.confusion_) @ self.class_prior_
        self.accuracy_ = np.concatenate([human, np.array(machine)])

    def _label_proba(self, item: np.ndarray, worker: np.ndarray) -> np.ndarray:
        raise NotImplementedError("CrowdMachine does not give label probabilities")


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
