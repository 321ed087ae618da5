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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models._base import normalize
from emcrowd.models._observations import Observations, confusion_counts, confusion_log_likelihoods
from emcrowd.models.bayesian import VariationalAggregator, dirichlet_expected_log, dirichlet_kl


@dataclass
class _EBCCParams:
    split: np.ndarray | None = None  # (n, K, M) starting subtype shares within each class (first M-step)
    responsibilities: np.ndarray | None = None  # (n, K, M) r_jkm from the last E-step
    concentration: np.ndarray | None = None  # (W, K, M, K) parameters of q(v)
    log_v: np.ndarray | None = None  # (W, K * M, K) E[log v], rows (k, m) flattened
    subtype_concentration: np.ndarray | None = None  # (K, M) parameters of q(pi)
    log_class: np.ndarray | None = None  # (K,) E[log tau]
    log_prior_rows: np.ndarray | None = None  # (K * M,) E[log tau_k] + E[log pi_km]
    class_concentration: np.ndarray | None = None  # (K,) parameters of q(tau), None when fixed
    kl: float = 0.0


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
    class_prior, class_pseudocount, tol, max_iter, random_state
        See :class:`emcrowd.models._base.EMAggregator` and
        :class:`emcrowd.models.bayesian.VariationalAggregator`.

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
        ``q_j(z = k, g = m)``; summed over the subtypes it gives ``posteriors_``.
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
    posteriors_, labels_, lower_bound_, converged_, n_iter_, init_objectives_, best_init_, ...
        See :class:`emcrowd.models._base.EMAggregator`.
    """

    method = "ebcc"

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
    ) -> None:
        super().__init__(
            class_prior=class_prior,
            learn_class_prior=learn_class_prior,
            class_pseudocount=class_pseudocount,
            tol=tol,
            max_iter=max_iter,
            n_init=n_init,
            random_state=random_state,
        )
        self.n_subtypes = n_subtypes
        self.subtype_concentration = subtype_concentration
        self.prior_diagonal = prior_diagonal
        self.prior_off_diagonal = prior_off_diagonal
        self.empirical_class_prior = empirical_class_prior

    def _prepare(self, data: Labels) -> None:
        if int(self.n_subtypes) != self.n_subtypes or self.n_subtypes < 1:
            raise EmcrowdError(f"n_subtypes must be a positive integer, got {self.n_subtypes!r}")
        for name in ("subtype_concentration", "prior_diagonal", "prior_off_diagonal"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise EmcrowdError(f"{name} must be a positive number, got {value!r}")
        self._prepare_classes(data)
        if self._class_concentration is not None and self.empirical_class_prior:
            self._class_concentration = self._class_concentration + self._initial_posteriors(data).sum(axis=0)
        self._obs = Observations.from_labels(data)
        self._active = data.labels_per_worker() > 0
        k, m = data.n_classes, int(self.n_subtypes)
        self._m = m
        self._label_prior = np.full((k, k), float(self.prior_off_diagonal))
        np.fill_diagonal(self._label_prior, float(self.prior_diagonal))
        self._subtype_prior = np.full(m, self.subtype_concentration / m)
        # one stream for the subtype splits of all restarts, so a fit is reproducible from random_state
        self._rng = np.random.default_rng(np.random.SeedSequence([int(self.random_state), 1]))

    def _initial_params(self, data: Labels) -> _EBCCParams:
        # drawn in name order, so that the split of an item does not depend on its code
        split = self._rng.dirichlet(np.ones(self._m), size=(data.n_items, data.n_classes))
        return _EBCCParams(split=split[data.item_name_ranks()])

    def _m_step(self, data: Labels, posteriors: np.ndarray, params: _EBCCParams) -> _EBCCParams:
        n, k, m = data.n_items, data.n_classes, self._m
        if params.responsibilities is None:
            resp = posteriors[:, :, None] * params.split
        else:
            resp = params.responsibilities
        counts = confusion_counts(self._obs, resp.reshape(n, k * m)).reshape(-1, k, m, k)
        concentration = counts + self._label_prior[None, :, None, :]
        subtype_concentration = self._subtype_prior + resp.sum(axis=0)  # (K, M)
        log_class, class_concentration, class_kl = self._class_update(resp.sum(axis=(0, 2)))
        log_prior_rows = log_class[:, None] + dirichlet_expected_log(subtype_concentration)
        kl = (
            dirichlet_kl(concentration[self._active], self._label_prior[None, :, None, :])
            + dirichlet_kl(subtype_concentration, self._subtype_prior)
            + class_kl
        )
        return _EBCCParams(
            concentration=concentration,
            log_v=dirichlet_expected_log(concentration).reshape(-1, k * m, k),
            subtype_concentration=subtype_concentration,
            log_class=log_class,
            log_prior_rows=log_prior_rows.ravel(),
            class_concentration=class_concentration,
            kl=kl,
        )

    def _log_likelihoods(self, data: Labels, params: _EBCCParams) -> np.ndarray:
        """``log p(labels of j | z_j = k, g_j = m)`` under E[log v], shape (n_items, K * M)."""
        return confusion_log_likelihoods(self._obs, params.log_v)

    def _e_step(
        self, data: Labels, params: _EBCCParams, log_pi: np.ndarray, gold: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
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

    def _store(self, data: Labels, params: _EBCCParams) -> None:
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
        self.subtype_posteriors_ = params.responsibilities

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
