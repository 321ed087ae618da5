"""EBCC: enhanced Bayesian classifier combination (Li, Rubinstein & Cohn, ICML 2019), by variational Bayes.

Annotators who make the same mistakes on the same items are correlated, which Dawid-Skene (labels
independent given the true class) cannot express. EBCC splits every true class into ``M`` latent
*subtypes* (kinds of items within the class: easy cases, one confusing sort, ...) and gives every
annotator a confusion row per subtype; labels are independent given the subtype, but not given the
class alone, so annotators who share a subtype's mistakes are modelled as correlated.

The model
---------
* class proportions ``tau ~ Dirichlet(alpha)``; item ``j``'s true class ``z_j ~ Categorical(tau)``;
* subtype weights of class ``k``, ``pi_k ~ Dirichlet(a_pi / M, ..., a_pi / M)`` (a sparse prior: few
  subtypes end up used); the item's subtype ``g_j ~ Categorical(pi_z_j)``;
* annotator ``i``'s label distribution for subtype ``(k, m)``, ``v_ikm ~ Dirichlet(beta_k)`` with
  ``beta_k`` = ``prior_diagonal`` on class ``k`` and ``prior_off_diagonal`` elsewhere;
* every label annotator ``i`` gives item ``j`` is drawn from ``v_i,z_j,g_j``.

The fit
-------
Mean-field VB with ``q(z, g) q(v) q(pi) q(tau)``, the items' factor over the ``K * M`` (class,
subtype) pairs; every update maximises the ELBO over its block, so the ELBO never decreases:

1. *Global factors* (the "M-step"), with ``r_jkm = q_j(z = k, g = m)``:
   ``q(v_ikm) = Dirichlet(beta_k + N_ikm)`` where ``N_ikml`` sums ``r_jkm`` over annotator ``i``'s
   labels ``l``; ``q(pi_k) = Dirichlet(a_pi / M + sum_j r_jk.)``; ``q(tau) = Dirichlet(alpha +
   sum_j r_j..)``.
2. *Items* (the "E-step"): ``r_jkm ∝ exp(E[log tau_k] + E[log pi_km] + sum over j's labels of
   E[log v_i,k,m,l])``; a gold item keeps only the pairs of its class.

After the E-step the ELBO is the sum over items of the log normaliser of ``r_j`` minus the KL
divergences of ``q(v)``, ``q(pi)`` and ``q(tau)`` from their priors. The subtypes start from a random
split of the majority-vote posteriors (each restart its own, drawn from ``random_state``), and, as in
the paper, several restarts are run and the one with the highest ELBO kept.

Defaults are the authors' (``M = 10``, ``a_pi = 0.1``, ``beta`` 4 on the diagonal and 1 elsewhere,
and the class proportions' Dirichlet centred on the majority-vote class counts:
``alpha = class_pseudocount + sum_j mv_share_j``, their ``empirical_prior``), but for the number of
restarts: 10 instead of their 40, since every restart costs a whole fit (adult2, 92,721 labels: 4.5 s
each) and on the shared data sets 10 and 40 restarts differ by no more than the seed does.
The random splits are drawn over the items in the order of their names, so a fit does not depend on
the order of the input's rows.

Restarts
--------
A restart's subtypes take some tens of iterations to collapse, and until then every iteration does
all ``K * M`` rows: ten whole restarts made EBCC some 30 times slower than Dawid-Skene on 100,000
labels. So, on inputs up to ``restart_labels`` labels, every restart runs only ``screen_iter``
iterations (5 by default), the ``screen_keep`` (3) with the highest ELBO there go on to ``tol``, each
from its factors (one repeated E-step, then its own next iterations), and the best of those is kept;
the others stop. The ELBO after five iterations ranks the restarts well enough: on the five shared data
sets and on simulations the mean accuracy over seeds 0-4 is the ten whole restarts' within 0.001, a
single seed's within one gold item, for a third of the CPU time (docs/performance.md). Keeping one
restart after ten iterations was not enough: ``auto`` then chose EBCC on bluebirds at seed 2 (0.861,
where the other seeds choose Bayesian DS at 0.898). ``screen_iter=None`` runs every restart to ``tol``.
``init_objectives_`` holds the stopped restarts' ELBOs where they stopped, the others' final ones;
``history_`` and ``n_passes_`` are the kept restart's from its first iteration.

Large inputs
------------
From ``EBCC_NUMBA_MIN_LABELS`` labels on (``engine="auto"``) the iterations run on the compiled
kernels of :mod:`emcrowd.models.classification._ebcc_kernels` (one pass over the labels per iteration; the
same fit
as the NumPy code to rounding). The sparse prior on the subtype weights empties most subtypes within
some tens of iterations; the compiled engine then stops computing their rows: a row whose counts
(summed over annotators and labels) fall below ``2**-55`` times the smallest prior entry is *idle*,
since adding such counts to the prior gives the prior itself in floating point, so its ``q(v)`` is
exactly the prior and has no KL term. The idle rows of a class then share one likelihood (the
prior's) and every pass does them together in closed form, as one row per class, while still
making their responsibilities and totals (``q(pi)`` is updated as before); should an idle row's
counts grow past the threshold again, it is made live and that pass redone. The fit is the same as
the NumPy engine's (which computes every row) to rounding, the ELBO is the same bound, and a pass
over the labels costs in proportion to the live rows (2 instead of 20 for a binary fit whose
subtypes collapsed).

Above ``restart_labels`` labels (a million by default) the restarts are not whole fits: every
restart runs on the same random subsample of the items (about ``min(restart_sample,
restart_labels)`` labels, 200,000 by default, drawn from ``random_state`` in item-name order, every
annotator kept) for at most ``restart_iter`` iterations, and only the one with the highest ELBO
there continues, on all the labels, from its factors (one E-step with them, then the usual
iterations to ``tol``; its subtypes have mostly collapsed by then, so these iterations are cheap).
There are ``min(n_init, restart_n_init)`` such restarts, 3 by default: a restart's iterations cost
in proportion to the number of annotators times the live rows (their Dirichlet parameters' digamma
and log-gamma terms), whatever the subsample's size, and on 20,000 annotators each takes about half
a second on two cores (most of a 10M-label fit with 10 of them); set ``restart_n_init=None`` for ``n_init`` of
them. ``init_objectives_`` and ``best_init_`` are then those of the subsample's restarts, and
``restart_subsample_`` its number of labels. Inputs up to ``restart_labels`` labels (the five shared
real data sets among them) are fitted as before: every restart a whole fit.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import ConvergenceWarning, EmcrowdError
from emcrowd.models import _special
from emcrowd.models._base import IterationCallback, normalize
from emcrowd.models.classification._observations import (
    Observations,
    confusion_counts,
    confusion_log_likelihoods,
    numba_available,
    resolve_engine,
    vote_shares,
)
from emcrowd.models.classification.bayesian import VariationalAggregator, dirichlet_expected_log, dirichlet_kl

#: The compiled kernels of EBCC.
EBCC_KERNELS = "emcrowd.models.classification._ebcc_kernels"
#: ``engine="auto"`` runs the compiled kernels from this many labels on: EBCC runs hundreds of
#: iterations per restart over ``K * M`` latent rows, so importing numba (about 0.7 s) pays off on
#: much smaller inputs than for the other models.
EBCC_NUMBA_MIN_LABELS = 20_000


@dataclass
class _EBCCParams:
    split: np.ndarray | None = None  # (n, K, M) starting subtype shares within each class (first M-step)
    responsibilities: np.ndarray | None = None  # (n, K, M) r_jkm from the last E-step
    concentration: np.ndarray | None = None  # (W, K, M, K) parameters of q(v)
    log_v: np.ndarray | None = None  # (W, K * M, K) E[log v], rows (k, m) flattened
    subtype_concentration: np.ndarray | None = None  # (K, M) parameters of q(pi)
    log_prior_rows: np.ndarray | None = None  # (K * M,) E[log tau_k] + E[log pi_km]
    class_concentration: np.ndarray | None = None  # (K,) parameters of q(tau), None when fixed
    kl: float = 0.0
    # the compiled engine's: the live rows (A,) (the others are idle: q(v) is the prior), counts N of
    # the live rows with axes (W, K labels, A) (log_v has the same axes), the next M-step's sums made
    # by the E-step's pass (the live rows' counts (chunks, W, K, A), then the totals and bounds of
    # every row (chunks, T) and the rows live in that pass), and the gold codes of that E-step
    rows: np.ndarray | None = None
    counts: np.ndarray | None = None
    v_geo: np.ndarray | None = None  # exp(E[log v]), same axes
    pending: tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray] | None = None
    gold: np.ndarray | None = None


class EBCC(VariationalAggregator):
    """EBCC: every true class split into latent subtypes, a confusion row per annotator and subtype.

    Parameters
    ----------
    n_subtypes : int
        Subtypes per class, ``M`` (10 in the paper; a sparse prior leaves most of them unused).
    subtype_concentration : float
        ``a_pi``: the total Dirichlet parameter of each class's subtype weights, spread evenly over
        the ``M`` subtypes (0.1 in the paper).
    prior_diagonal, prior_off_diagonal : float
        Dirichlet prior of every subtype's label distribution: pseudo-labels on the subtype's class
        and on every other class (4 and 1 in the paper).
    empirical_class_prior : bool
        Add the majority-vote class counts (the sum of the items' vote shares) to the Dirichlet
        parameter of the class proportions, as the authors' published runs do.
    learn_class_prior : bool
        Give the class proportions a Dirichlet posterior (True by default; with False they are fixed
        at ``class_prior`` and ``empirical_class_prior`` does nothing).
    n_init : int
        Restarts, each with its own random subtype split; the one with the highest ELBO is kept. 10
        by default (the authors run 40; see the module docstring).
    restart_labels : int or None
        On inputs with more labels than this, the restarts run on a random subsample of the items
        (``restart_sample`` labels), and the best continues on all of them (see "Large inputs" in
        the module docstring); None: every restart is a whole fit, whatever the size.
    restart_sample : int
        The subsample's size in labels on such inputs (at most ``restart_labels``): 200,000 by
        default (a restart there takes about half a second with 20,000 annotators).
    restart_n_init : int or None
        On such inputs, at most this many restarts (3 by default: each costs about half a second
        per 20,000 annotators whatever the subsample's size, see "Large inputs"); None: ``n_init``.
    restart_iter : int
        The most iterations of each restart on that subsample.
    screen_iter : int or None
        On inputs up to ``restart_labels`` labels, every restart runs this many iterations (5 by
        default) and only the ``screen_keep`` with the highest ELBO then go on to ``tol``, each from
        where it stopped (see "Restarts" in the module docstring); None: every restart runs to ``tol``.
    screen_keep : int
        How many screened restarts go on (3 by default).
    engine : {"auto", "numpy", "numba"}
        ``"auto"``: the compiled kernels from ``EBCC_NUMBA_MIN_LABELS`` labels on, NumPy below.
    class_prior, class_pseudocount, tol, max_iter, random_state
        See :class:`emcrowd.models._base.EMAggregator` and
        :class:`emcrowd.models.classification.bayesian.VariationalAggregator`.

    Attributes
    ----------
    confusion_ : ndarray of shape (n_workers, n_classes, n_classes)
        ``P(annotator i says l | truth k)``: the subtypes' posterior-mean label distributions mixed
        with the fitted subtype weights, ``sum_m subtype_weights_[k, m] * subtype_confusion_[i, k, m]``.
    accuracy_ : ndarray of shape (n_workers,)
        ``sum_k class_prior_[k] * confusion_[i, k, k]``.
    subtype_confusion_ : ndarray of shape (n_workers, n_classes, n_subtypes, n_classes)
        Posterior mean of every annotator's label distribution for every subtype.
    subtype_weights_ : ndarray of shape (n_classes, n_subtypes)
        Posterior mean of each class's subtype weights.
    subtype_posteriors_ : ndarray of shape (n_items, n_classes, n_subtypes)
        ``q_j(z = k, g = m)``; summed over the subtypes it gives ``posteriors_``. On the compiled
        engine it is computed when first read (one more pass over the labels), since for a large
        input it is much larger than anything else the fit returns.
    class_prior_ : ndarray of shape (n_classes,)
        Posterior mean of the class proportions (or the fixed ones).
    class_concentration_ : ndarray of shape (n_classes,) or None
        Parameters of the Dirichlet posterior of the class proportions (None when they are fixed).
    subtype_concentration_ : ndarray of shape (n_classes, n_subtypes)
        Parameters of the Dirichlet posteriors of the subtype weights.
    confusion_concentration_ : ndarray of shape (n_workers, n_classes, n_subtypes, n_classes)
        Parameters of the Dirichlet posteriors of the subtypes' label distributions.
    history_ : list of float
        The ELBO after every iteration of the kept restart; never decreases.
    restart_subsample_ : int or None
        Labels in the subsample the restarts ran on (None when they were whole fits).
    engine_ : str
        The engine that ran: ``"numpy"`` or ``"numba"``.
    posteriors_, labels_, lower_bound_, converged_, n_iter_, init_objectives_, best_init_, ...
        See :class:`emcrowd.models._base.EMAggregator`.
    """

    method = "ebcc"
    #: why ``fit(init=...)`` is refused (:mod:`emcrowd.models._warm`)
    cold_only = (
        "its class subtypes are drawn at random at every start, so a previous fit's subtype parameters "
        "do not match the next fit's; fit it afresh"
    )

    def __init__(
        self,
        *,
        n_subtypes: int = 10,
        subtype_concentration: float = 0.1,
        prior_diagonal: float = 4.0,
        prior_off_diagonal: float = 1.0,
        empirical_class_prior: bool = True,
        class_prior: np.ndarray | None = None,
        learn_class_prior: bool = True,
        class_pseudocount: float = 1.0,
        tol: float = 1e-6,
        max_iter: int = 500,
        n_init: int = 10,
        random_state: int = 0,
        restart_labels: int | None = 1_000_000,
        restart_sample: int = 200_000,
        restart_n_init: int | None = 3,
        restart_iter: int = 100,
        screen_iter: int | None = 5,
        screen_keep: int = 3,
        engine: str = "auto",
        accelerate: bool | None = None,
    ) -> None:
        super().__init__(
            class_prior=class_prior,
            learn_class_prior=learn_class_prior,
            class_pseudocount=class_pseudocount,
            tol=tol,
            max_iter=max_iter,
            n_init=n_init,
            random_state=random_state,
            accelerate=accelerate,
        )
        self.n_subtypes = n_subtypes
        self.subtype_concentration = subtype_concentration
        self.prior_diagonal = prior_diagonal
        self.prior_off_diagonal = prior_off_diagonal
        self.empirical_class_prior = empirical_class_prior
        self.restart_labels = restart_labels
        self.restart_sample = restart_sample
        self.restart_n_init = restart_n_init
        self.restart_iter = restart_iter
        self.screen_iter = screen_iter
        self.screen_keep = screen_keep
        self.engine = engine

    # -- restarts on a subsample of the items, on large inputs ------------------------------------
    def _fit_labels(self, data: Labels, gold: np.ndarray | None, callback: IterationCallback | None) -> None:
        """Fit by variational Bayes (``fit`` reads the input and the gold; see
        :class:`emcrowd.models._api.Aggregator`).

        With more than ``restart_labels`` labels and ``n_init > 1``, ``min(n_init, restart_n_init)``
        restarts are run on a random subsample of the items with about ``restart_sample`` labels,
        and the best of them by
        its ELBO there is continued on all the labels (see the class docstring).
        """
        self._kept_restart = None
        self.restart_subsample_ = None
        limit = self.restart_labels
        if limit is not None and (int(limit) != limit or limit < 1):
            raise EmcrowdError(f"restart_labels must be a positive integer or None, got {limit!r}")
        screen = self.screen_iter
        if screen is not None and (int(screen) != screen or screen < 1):
            raise EmcrowdError(f"screen_iter must be a positive integer or None, got {screen!r}")
        keep = self.screen_keep
        if int(keep) != keep or keep < 1:
            raise EmcrowdError(f"screen_keep must be a positive integer, got {keep!r}")
        large = limit is not None and data.n_labels > limit
        screened = not large and screen is not None and int(screen) < int(self.max_iter)
        if int(self.n_init) <= 1 or not (large or screened):
            self._fit(data, gold, callback)
            return
        self._check_parameters(data.n_classes)
        start = time.perf_counter()
        if large:
            size = self.restart_sample
            if int(size) != size or size < 1:
                raise EmcrowdError(f"restart_sample must be a positive integer, got {size!r}")
            sub, sub_gold = self._subsample(data, gold, min(int(size), int(limit)))
            if int(self.restart_iter) != self.restart_iter or self.restart_iter < 1:
                raise EmcrowdError(f"restart_iter must be a positive integer, got {self.restart_iter!r}")
            restarts = self.restart_n_init
            if restarts is not None and (int(restarts) != restarts or restarts < 1):
                raise EmcrowdError(f"restart_n_init must be a positive integer or None, got {restarts!r}")
            n_trials = int(self.n_init) if restarts is None else min(int(self.n_init), int(restarts))
            trial_iter = int(self.restart_iter)
        else:
            # every restart screened on all the labels for its first ``screen_iter`` iterations; only
            # the best one goes on (from where it stopped, so it is the same fit as when it ran alone)
            sub, sub_gold, n_trials, trial_iter = data, gold, int(self.n_init), int(screen)
        options = {
            **self.get_params(),
            "n_init": n_trials,
            "restart_labels": None,
            "screen_iter": None,
            "max_iter": min(int(self.max_iter), trial_iter),
            "engine": self._engine_for(data.n_labels),
        }
        trial = EBCC(**options)
        trial._keep_runs = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            trial.fit(sub, gold=sub_gold)
        # the restarts that go on, best first (ties: the earlier restart)
        n_keep = 1 if large else min(int(self.screen_keep), n_trials)
        kept = sorted(range(n_trials), key=lambda r: -trial.init_objectives_[r])[:n_keep]
        self._restart_queue = [trial._keep_runs[r][0] for r in kept]
        self._gold_for_restart = gold
        n_init = self.n_init
        try:
            self.n_init = n_keep
            self._fit(data, gold, callback)
        finally:
            self.n_init = n_init
            self._restart_queue = []
            self._kept_restart = None
        finals = self.init_objectives_
        self.init_objectives_ = list(trial.init_objectives_)
        self.best_init_ = kept[self.best_init_]
        if large:
            self.restart_subsample_ = sub.n_labels
        else:  # the kept restarts' objectives are their final ones; the others' where they were stopped
            for r, final in zip(kept, finals, strict=True):
                self.init_objectives_[r] = final
            _, screened_history, screened_passes = trial._keep_runs[self.best_init_]
            self.history_ = screened_history + self.history_
            self.n_iter_ = len(self.history_)
            self.n_passes_ += screened_passes
        self.fit_seconds_ = time.perf_counter() - start

    def _run(
        self,
        data: Labels,
        posteriors: np.ndarray,
        gold: np.ndarray | None,
        callback: IterationCallback | None,
    ) -> tuple:
        """One run (see :meth:`EMAggregator._run`); when screened restarts are continued, each run goes
        on from the next kept restart's factors, and a screening fit keeps every run's factors."""
        queue = getattr(self, "_restart_queue", None)
        if queue:
            self._kept_restart = queue.pop(0)
        outcome = super()._run(data, posteriors, gold, callback)
        runs = getattr(self, "_keep_runs", None)
        if runs is not None:
            runs.append((outcome[0], list(outcome[3]), self._run_passes))
        return outcome

    def _subsample(
        self, data: Labels, gold: np.ndarray | None, limit: int
    ) -> tuple[Labels, np.ndarray | None]:
        """A random subset of the items with about ``limit`` labels (drawn in item-name order, so that
        it does not depend on the rows' order), every annotator kept (codes unchanged)."""
        n_keep = max(1, round(data.n_items * limit / data.n_labels))
        rng = np.random.default_rng(np.random.SeedSequence([int(self.random_state), 2]))
        keep = rng.permutation(data.n_items)[data.item_name_ranks()] < n_keep
        new_code = np.cumsum(keep) - 1
        rows = keep[data.item]
        names = data.item_names
        sub = Labels(
            item=new_code[data.item[rows]],
            worker=data.worker[rows],
            label=data.label[rows],
            item_names=tuple(names[j] for j in np.flatnonzero(keep)),
            worker_names=data.worker_names,
            class_names=data.class_names,
        )
        return sub, None if gold is None else gold[keep]

    def _engine_for(self, n_labels: int) -> str:
        if self.engine == "auto":
            use = n_labels >= EBCC_NUMBA_MIN_LABELS and numba_available(EBCC_KERNELS)
            return "numba" if use else "numpy"
        return resolve_engine(self.engine, n_labels, EBCC_KERNELS)

    def _prepare(self, data: Labels) -> None:
        if int(self.n_subtypes) != self.n_subtypes or self.n_subtypes < 1:
            raise EmcrowdError(f"n_subtypes must be a positive integer, got {self.n_subtypes!r}")
        for name in ("subtype_concentration", "prior_diagonal", "prior_off_diagonal"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise EmcrowdError(f"{name} must be a positive number, got {value!r}")
        self.engine_ = self._engine_for(data.n_labels)
        self._obs = Observations.from_labels(data, self.engine_)
        self._shares = None
        self._prepare_classes(data)
        if self._class_concentration is not None and self.empirical_class_prior:
            self._class_concentration = self._class_concentration + self._initial_posteriors(data).sum(axis=0)
        self._active = data.labels_per_worker() > 0
        k, m = data.n_classes, int(self.n_subtypes)
        self._m = m
        self._label_prior = np.full((k, k), float(self.prior_off_diagonal))
        np.fill_diagonal(self._label_prior, float(self.prior_diagonal))
        self._subtype_prior = np.full(m, self.subtype_concentration / m)
        # one stream for the subtype splits of all restarts, so a fit is reproducible from random_state
        self._rng = np.random.default_rng(np.random.SeedSequence([int(self.random_state), 1]))
        if self.engine_ == "numba":
            from emcrowd.models.classification import _ebcc_kernels

            parallel = data.n_labels >= _ebcc_kernels.PARALLEL_MIN_LABELS
            self._kernels = _ebcc_kernels.kernels_for(k, m, parallel)
            g = self._obs.groups
            self._groups = g
            self._chunks = _ebcc_kernels.n_chunks(data.n_workers * k * k * m) if parallel else 1
            self._buffers: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
            self._n_workers = data.n_workers
            # E[log v] of an idle row of each class (its prior's), by the same kernel as a live row's
            idle = np.empty((1, k, k))
            first = np.arange(k, dtype=np.int64)
            self._kernels.globals_step(
                np.zeros((1, 1, k, k)), first, self._label_prior, first * m, m, np.zeros(1, dtype=np.bool_),
                np.empty((1, k, k)), idle, np.empty((1, k, k)),
            )  # fmt: skip
            self._idle_log_v = np.ascontiguousarray(idle[0].T)  # (class, label)
            # a row whose counts sum to less than this is idle: each count is then below half the
            # spacing of floating-point numbers at the smallest prior entry, so prior + count == prior
            # and the row's q(v) is its prior exactly
            self._idle_below = float(self._label_prior.min()) * 2.0**-55

    def _initial_posteriors(self, data: Labels) -> np.ndarray:
        """The items' vote shares (computed once per fit; a copy each time, as the loop modifies it)."""
        if self._shares is None:
            self._shares = vote_shares(self._obs)
        return self._shares.copy()

    def _class_prior_step(self, posteriors: np.ndarray) -> np.ndarray:
        # the base loop's point estimate of the class prior, which the variational E-step does not use
        return self._fixed_log_pi

    def _initial_params(self, data: Labels) -> _EBCCParams:
        if getattr(self, "_kept_restart", None) is not None:
            # the factors of the best restart on the subsample: one E-step with them on all the labels
            # gives the responsibilities (the numba engine: its counts) that the first M-step uses
            warm = self._kept_restart
            self._e_step(data, warm, None, self._gold_for_restart)
            return warm
        # drawn in name order, so that the split of an item does not depend on its code
        split = self._rng.dirichlet(np.ones(self._m), size=(data.n_items, data.n_classes))
        return _EBCCParams(split=split[data.item_name_ranks()])

    def _m_step(self, data: Labels, posteriors: np.ndarray, params: _EBCCParams) -> _EBCCParams:
        if self.engine_ == "numba":
            return self._compiled_m_step(data, posteriors, params)
        n, k, m = data.n_items, data.n_classes, self._m
        if params.responsibilities is None:
            resp = posteriors[:, :, None] * params.split
        else:
            resp = params.responsibilities
        counts = confusion_counts(self._obs, resp.reshape(n, k * m)).reshape(-1, k, m, k)
        concentration = counts + self._label_prior[None, :, None, :]
        subtype_concentration = self._subtype_prior + resp.sum(axis=0)  # (K, M)
        class_concentration = self._class_posterior(resp.sum(axis=(0, 2)))
        log_prior_rows, subtype_kl, class_kl = self._prior_factors(subtype_concentration, class_concentration)
        kl = (
            dirichlet_kl(concentration[self._active], self._label_prior[None, :, None, :])
            + subtype_kl
            + class_kl
        )
        return _EBCCParams(
            concentration=concentration,
            log_v=dirichlet_expected_log(concentration).reshape(-1, k * m, k),
            subtype_concentration=subtype_concentration,
            log_prior_rows=log_prior_rows,
            class_concentration=class_concentration,
            kl=kl,
        )

    def _class_posterior(self, class_counts: np.ndarray) -> np.ndarray | None:
        """The parameters of q(tau) given the expected class counts (None: the class prior is fixed)."""
        return None if self._class_concentration is None else self._class_concentration + class_counts

    def _prior_factors(
        self, subtype_concentration: np.ndarray, class_concentration: np.ndarray | None
    ) -> tuple[np.ndarray, float, float]:
        """``E[log tau_k] + E[log pi_km]`` (the rows' log prior, (K * M,)), ``KL(q(pi) || p(pi))`` and
        ``KL(q(tau) || p(tau))``: what :func:`dirichlet_expected_log` and :func:`dirichlet_kl` give,
        with their handful of values put through one ``digamma`` and one ``gammaln`` call (these
        small arrays cost NumPy's per-call overhead only: a dozen calls per iteration were a quarter
        of a 100k-label fit's iterations). The same numbers: the functions work elementwise."""
        k, m = subtype_concentration.shape
        sub_prior = np.broadcast_to(self._subtype_prior, (k, m))
        sub_total, prior_total = subtype_concentration.sum(axis=-1), sub_prior.sum(axis=-1)
        digamma_in = [subtype_concentration.ravel(), sub_total]
        gammaln_in = [sub_total, prior_total, subtype_concentration.ravel(), sub_prior.ravel()]
        if class_concentration is not None:
            class_prior = self._class_concentration
            class_total = class_concentration.sum(axis=-1, keepdims=True)
            digamma_in += [class_concentration, class_total]
            gammaln_in += [
                class_total,
                class_prior.sum(axis=-1, keepdims=True),
                class_concentration,
                class_prior,
            ]
        psi = _special.digamma(np.concatenate(digamma_in))
        lg = _special.gammaln(np.concatenate(gammaln_in))
        psi_sub, psi_sub_total = psi[: k * m].reshape(k, m), psi[k * m : k * m + k]
        sub_kl = lg[:k] - lg[k : 2 * k]
        sub_kl -= (
            (lg[2 * k : 2 * k + k * m] - lg[2 * k + k * m : 2 * k + 2 * k * m]).reshape(k, m).sum(axis=-1)
        )
        sub_kl += ((subtype_concentration - sub_prior) * (psi_sub - psi_sub_total[:, None])).sum(axis=-1)
        expected_log_pi = psi_sub - psi_sub_total[:, None]
        if class_concentration is None:
            log_class, class_kl = self._fixed_log_pi, 0.0
        else:
            psi_class, psi_class_total = psi[k * m + k : k * m + 2 * k], psi[k * m + 2 * k :]
            at = 2 * k + 2 * k * m
            kl = lg[at : at + 1] - lg[at + 1 : at + 2]
            kl -= (lg[at + 2 : at + 2 + k] - lg[at + 2 + k :]).sum(axis=-1)
            kl += ((class_concentration - class_prior) * (psi_class - psi_class_total)).sum(axis=-1)
            log_class, class_kl = psi_class - psi_class_total, float(kl.sum())
        log_prior_rows = np.ascontiguousarray((log_class[:, None] + expected_log_pi).ravel())
        return log_prior_rows, float(sub_kl.sum()), class_kl

    def _pass_buffers(self, n_live: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pass's sums for ``n_live`` live rows (reused from pass to pass; the passes overwrite
        them)."""
        buffers = self._buffers.get(n_live)
        if buffers is None:
            k, t = self._label_prior.shape[0], self._label_prior.shape[0] * self._m
            buffers = (
                np.empty((self._chunks, self._n_workers, k, n_live)),
                np.empty((self._chunks, t)),
                np.empty((self._chunks, t)),
            )
            self._buffers[n_live] = buffers
        return buffers

    def _compiled_m_step(self, data: Labels, posteriors: np.ndarray, params: _EBCCParams) -> _EBCCParams:
        """The M-step from the counts that the last E-step's pass made (the first one from the
        starting split), then ``E[log v]`` and the KL terms by the compiled kernels.

        A row whose counts sum to less than ``_idle_below`` becomes idle: its ``q(v)`` is its prior
        (exactly what the update gives it, see ``_prepare``), it has no KL term, and the passes do
        it in closed form; the M-step computes the live rows only."""
        k, m = data.n_classes, self._m
        if params.pending is None:
            g = self._groups
            acc, totals, _ = self._pass_buffers(k * m)
            split = np.ascontiguousarray(params.split.reshape(data.n_items, k * m))
            shares = np.ascontiguousarray(posteriors, dtype=np.float64)
            self._kernels.first_counts(g.indptr, g.worker, g.label, shares, split, m, acc, totals)
            rows = pick = np.arange(k * m, dtype=np.int64)
        else:
            acc, totals, bound, rows = params.pending
            pick = np.flatnonzero(bound.sum(axis=0)[rows] >= self._idle_below)
            rows = rows[pick]
        row_totals = totals.sum(axis=0).reshape(k, m)
        shape = (self._n_workers, k, rows.size)
        counts, log_v, v_geo = np.empty(shape), np.empty(shape), np.empty(shape)
        kl_v = self._kernels.globals_step(
            acc, pick, self._label_prior, rows, m, self._active, counts, log_v, v_geo
        )  # the counts of the live rows: the chunks added in order
        subtype_concentration = self._subtype_prior + row_totals
        class_concentration = self._class_posterior(row_totals.sum(axis=1))
        log_prior_rows, subtype_kl, class_kl = self._prior_factors(subtype_concentration, class_concentration)
        return _EBCCParams(
            rows=rows,
            counts=counts,
            log_v=log_v,
            v_geo=v_geo,
            subtype_concentration=subtype_concentration,
            log_prior_rows=log_prior_rows,
            class_concentration=class_concentration,
            kl=kl_v + subtype_kl + class_kl,
        )

    def _compiled_e_step(
        self, data: Labels, params: _EBCCParams, gold: np.ndarray | None, keep: bool = False
    ) -> tuple[np.ndarray, float]:
        """One pass over the labels: the class posteriors and the log evidence, the next M-step's
        counts into ``params.pending``, and with ``keep`` the responsibilities too."""
        g = self._groups
        n, k, m = data.n_items, data.n_classes, self._m
        codes = np.full(n, -1, dtype=np.int64) if gold is None else gold.astype(np.int64)
        posteriors = np.empty((n, k))
        resp = np.empty((n if keep else 0, k * m))
        while True:
            acc, totals, bound = self._pass_buffers(params.rows.size)
            evidence = self._kernels.e_pass(
                g.indptr, g.worker, g.label, params.v_geo, params.log_v, params.rows,
                params.log_prior_rows, self._idle_log_v, codes, m, posteriors, resp, acc, totals, bound,
            )  # fmt: skip
            idle = np.ones(k * m, dtype=bool)
            idle[params.rows] = False
            revived = np.flatnonzero(idle & (bound.sum(axis=0) >= self._idle_below))
            if revived.size == 0:
                break
            # an idle row whose counts would no longer be negligible: live again (its q(v) is the
            # prior), and the pass done again so that its counts are made
            rows = np.concatenate([params.rows, revived])
            order = np.argsort(rows)
            shape = (self._n_workers, k, revived.size)
            extra = np.broadcast_to(self._idle_log_v[revived // m].T[None, :, :], shape)
            params.rows = rows[order]
            params.log_v = np.ascontiguousarray(np.concatenate([params.log_v, extra], axis=2)[:, :, order])
            params.v_geo = np.exp(params.log_v)
            if params.counts is not None:
                counts = np.concatenate([params.counts, np.zeros(shape)], axis=2)
                params.counts = np.ascontiguousarray(counts[:, :, order])
        params.pending = (acc, totals, bound, params.rows)
        params.gold = gold
        if keep:
            params.responsibilities = resp.reshape(n, data.n_classes, self._m)
        return posteriors, float(evidence)

    def _log_likelihoods(self, data: Labels, params: _EBCCParams) -> np.ndarray:
        """``log p(labels of j | z_j = k, g_j = m)`` under E[log v], shape (n_items, K * M)."""
        return confusion_log_likelihoods(self._obs, params.log_v)

    def _e_step(
        self, data: Labels, params: _EBCCParams, log_pi: np.ndarray, gold: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        if self.engine_ == "numba":
            posteriors, evidence = self._compiled_e_step(data, params, gold)
            return posteriors, evidence - params.kl
        n, k, m = data.n_items, data.n_classes, self._m
        joint = self._log_likelihoods(data, params)
        joint += params.log_prior_rows
        if gold is not None:
            # a gold item keeps its class's subtypes only; its ELBO term is their log-sum-exp
            known = np.flatnonzero(gold >= 0)
            block = joint[known].reshape(-1, k, m)
            block[np.arange(k)[None, :] != gold[known][:, None]] = -np.inf
            joint[known] = block.reshape(-1, k * m)
        resp, evidence = normalize(joint)
        params.responsibilities = resp.reshape(n, k, m)
        return params.responsibilities.sum(axis=2), evidence - params.kl

    # -- acceleration (see EMAggregator._iterate): q(v), q(pi) and q(tau) in log concentrations ------
    def _pack_params(self, params: _EBCCParams) -> np.ndarray | None:
        if params.subtype_concentration is None:
            return None
        rows = self._full_concentration(params) if self.engine_ == "numba" else params.concentration
        parts = [rows.ravel(), params.subtype_concentration.ravel()]
        if params.class_concentration is not None:
            parts.append(params.class_concentration)
        return np.log(np.concatenate(parts))

    def _row_priors(self) -> np.ndarray:
        """Every latent row's prior, (K labels, K * M rows)."""
        return self._label_prior[np.arange(self._label_prior.shape[0] * self._m) // self._m].T

    def _full_concentration(self, params: _EBCCParams) -> np.ndarray:
        """The compiled engine's q(v) with its idle rows at their prior, laid out as the NumPy
        engine's ``concentration`` (W, K true, M, K labels): both engines extrapolate the same vector."""
        k, m = self._label_prior.shape[0], self._m
        full = np.repeat(self._row_priors()[None, :, :], self._n_workers, axis=0)  # (W, K labels, T)
        full[:, :, params.rows] += params.counts
        return full.transpose(0, 2, 1).reshape(self._n_workers, k, m, k)

    def _unpack_params(self, vector: np.ndarray, like: _EBCCParams) -> _EBCCParams:
        values = np.exp(vector)
        k, m = self._label_prior.shape[0], self._m
        n_rows = values.size - k * m - (k if like.class_concentration is not None else 0)
        subtype_concentration = values[n_rows : n_rows + k * m].reshape(k, m)
        class_concentration = values[n_rows + k * m :] if like.class_concentration is not None else None
        log_prior_rows, subtype_kl, class_kl = self._prior_factors(subtype_concentration, class_concentration)
        kl = subtype_kl + class_kl
        common = dict(
            subtype_concentration=subtype_concentration,
            log_prior_rows=log_prior_rows,
            class_concentration=class_concentration,
        )
        if self.engine_ == "numba":
            full = values[:n_rows].reshape(self._n_workers, k * m, k).transpose(0, 2, 1)  # (W, K, T)
            offset = full - self._row_priors()[None, :, :]
            live = np.abs(offset).sum(axis=(0, 1)) >= self._idle_below
            live[like.rows] = True
            rows = np.flatnonzero(live).astype(np.int64)
            counts_in = np.ascontiguousarray(offset[:, :, rows])
            shape = counts_in.shape
            counts, log_v, v_geo = np.empty(shape), np.empty(shape), np.empty(shape)
            kl_v = self._kernels.globals_step(
                counts_in[None], np.arange(rows.size, dtype=np.int64),
                self._label_prior, rows, m, self._active, counts, log_v, v_geo,
            )  # fmt: skip
            return _EBCCParams(rows=rows, counts=counts, log_v=log_v, v_geo=v_geo, kl=kl_v + kl, **common)
        concentration = values[:n_rows].reshape(like.concentration.shape)
        prior = self._label_prior[None, :, None, :]
        return _EBCCParams(
            concentration=concentration,
            log_v=dirichlet_expected_log(concentration).reshape(-1, k * m, k),
            kl=dirichlet_kl(concentration[self._active], prior) + kl,
            **common,
        )

    def _accel_rejected(
        self, data: Labels, params: _EBCCParams, log_pi: np.ndarray, gold: np.ndarray | None
    ) -> None:
        if self.engine_ == "numba":  # the rejected point's pass overwrote the shared sums: make them again
            self._compiled_e_step(data, params, gold)

    def _store(self, data: Labels, params: _EBCCParams) -> None:
        self._subtypes_from = None
        if self.engine_ == "numba":
            # the Dirichlet parameters as (W, K, M, K); the responsibilities (an (n_items, K * M)
            # array, 320 MB for 2M binary items) are recomputed by the same pass (the same numbers
            # as its last E-step's, which were not kept) when first asked for
            k, m = data.n_classes, self._m
            counts = np.zeros((self._n_workers, k, k * m))
            counts[:, :, params.rows] = params.counts
            counts = counts.transpose(0, 2, 1).reshape(-1, k, m, k)
            params.concentration = counts + self._label_prior[None, :, None, :]
            params.pending = None
            self._buffers = {}
            self._subtypes_from = (data, params)
        self.class_prior_ = self._class_prior_mean(params)
        self.class_concentration_ = params.class_concentration
        self.subtype_concentration_ = params.subtype_concentration
        self.confusion_concentration_ = params.concentration
        self.subtype_weights_ = params.subtype_concentration / params.subtype_concentration.sum(
            axis=1, keepdims=True
        )
        self.subtype_confusion_ = params.concentration / params.concentration.sum(axis=3, keepdims=True)
        self.confusion_ = np.einsum("km,ikml->ikl", self.subtype_weights_, self.subtype_confusion_)
        self.accuracy_ = np.einsum("ikk->ik", self.confusion_) @ self.class_prior_
        self._subtype_posteriors = params.responsibilities

    @property
    def subtype_posteriors_(self) -> np.ndarray:
        """``q_j(z = k, g = m)``, shape (n_items, n_classes, n_subtypes) (see the class docstring)."""
        source = getattr(self, "_subtypes_from", None)
        if source is not None:
            data, params = source
            self._compiled_e_step(data, params, params.gold, keep=True)
            params.pending = None
            self._buffers = {}
            self._subtype_posteriors = params.responsibilities
            self._subtypes_from = None
        if not hasattr(self, "_subtype_posteriors"):
            raise AttributeError("subtype_posteriors_")
        return self._subtype_posteriors

    def _label_proba(self, item: np.ndarray, worker: np.ndarray) -> np.ndarray:
        """``sum_{k,m} q_j(k, m) E[v_ikm]``: the item's own subtype posteriors, not the marginal
        ``confusion_`` (which averages the subtypes with the crowd's weights)."""
        k = self.subtype_confusion_.shape[-1]
        rows = self.subtype_posteriors_.reshape(self.subtype_posteriors_.shape[0], -1)
        table = self.subtype_confusion_.reshape(self.subtype_confusion_.shape[0], -1, k)
        out = np.zeros((item.size, k))
        for t in range(rows.shape[1]):  # a row at a time: no (n, K * M, K) temporary
            out += rows[item, t, None] * table[worker, t]
        return out
