"""Bayesian Dawid-Skene (IBCC, VB + empirical Bayes): a monotone ELBO that is the true ELBO, recovery of
confusion matrices and of the crowd's prior, shrinkage of sparse annotators, gold, restarts, edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import digamma, gammaln
from scipy.stats import dirichlet

from emcrowd import majority_vote
from emcrowd.analysis.aggregate import aggregate, method_name
from emcrowd.data import Labels
from emcrowd.errors import ConvergenceWarning, EmcrowdError
from emcrowd.io import load_labels, load_truth
from emcrowd.models.classification.bayesian import (
    BayesianDawidSkene,
    fit_polya_prior,
    log_multivariate_beta_ratio,
)
from emcrowd.models.classification.dawid_skene import DawidSkene
from emcrowd.models.simulate import simulate_dawid_skene
from emcrowd.tables import worker_table
from tests.helpers import DATASETS, assert_non_decreasing, needs_datasets


def _expected_log_density_plus_entropy(posterior: np.ndarray, prior: np.ndarray) -> float:
    """``E_q[log Dir(x | prior)] + H(q)`` for ``q = Dir(posterior)``, written out term by term."""
    e_log = digamma(posterior) - digamma(posterior.sum())
    log_density = gammaln(prior.sum()) - gammaln(prior).sum() + ((prior - 1) * e_log).sum()
    return float(log_density + dirichlet.entropy(posterior))


def reference_elbo(
    data: Labels,
    resp: np.ndarray,
    label_concentration: np.ndarray,
    label_prior: np.ndarray,
    class_concentration: np.ndarray | None,
    class_prior: np.ndarray,
    subtype_concentration: np.ndarray | None = None,
    subtype_prior: np.ndarray | None = None,
) -> float:
    """The ELBO of EBCC (Bayesian Dawid-Skene when M = 1) from its definition, label by label.

    ``resp`` (n, K, M) is q(z, g); ``label_concentration`` (W, K, M, K) the parameters of q(v) and
    ``label_prior`` (K, K) their prior; ``class_concentration`` the parameters of q(tau) with prior
    ``class_prior`` (or None: then ``class_prior`` is the fixed class distribution); the subtype
    weights likewise (skipped for M = 1, where they are certain).
    """
    _, k, m = resp.shape
    e_log_v = digamma(label_concentration) - digamma(label_concentration.sum(axis=3, keepdims=True))
    elbo = 0.0
    for o in range(data.n_labels):
        j, i, label = data.item[o], data.worker[o], data.label[o]
        elbo += float((resp[j] * e_log_v[i, :, :, label]).sum())
    if class_concentration is None:
        e_log_tau = np.log(class_prior)
    else:
        e_log_tau = digamma(class_concentration) - digamma(class_concentration.sum())
        elbo += _expected_log_density_plus_entropy(class_concentration, class_prior)
    elbo += float((resp.sum(axis=2) * e_log_tau).sum())
    if m > 1:
        for c in range(k):
            e_log_pi = digamma(subtype_concentration[c]) - digamma(subtype_concentration[c].sum())
            elbo += float((resp[:, c, :] * e_log_pi).sum())
            elbo += _expected_log_density_plus_entropy(subtype_concentration[c], subtype_prior)
    positive = resp > 0
    elbo -= float((resp[positive] * np.log(resp[positive])).sum())
    for i in range(data.n_workers):
        for c in range(k):
            for s in range(m):
                elbo += _expected_log_density_plus_entropy(label_concentration[i, c, s], label_prior[c])
    return elbo


def fit_quietly(model, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(data, **kwargs)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"learn_prior": False},
        {"learn_class_prior": False},
        {"prior_diagonal": 20.0, "prior_off_diagonal": 0.5},
        {"prior_bounds": (0.5, 3.0)},
        {"class_pseudocount": 0.1, "class_prior": [1.0] * 4 + [3.0]},
    ],
    ids=["default", "fixed-prior", "fixed-classes", "strong-prior", "tight-bounds", "class-prior"],
)
def test_elbo_never_decreases(n_classes, options):
    if "class_prior" in options:
        options = {**options, "class_prior": options["class_prior"][-n_classes:]}
    labels, _, _ = simulate_dawid_skene(
        300, 15, labels_per_item=4, n_classes=n_classes, concentration=3, seed=1
    )
    model = fit_quietly(BayesianDawidSkene(tol=0, max_iter=40, **options), labels)
    assert len(model.history_) >= 2
    assert_non_decreasing(model.history_)
    assert np.all(np.isfinite(model.posteriors_))
    np.testing.assert_allclose(model.posteriors_.sum(axis=1), 1.0)
    assert model.lower_bound_ == model.history_[-1]


@pytest.mark.parametrize("learn_class_prior", [True, False])
def test_recorded_elbo_is_the_elbo_of_the_returned_factors(learn_class_prior):
    """The loop's shortcut (log normalisers minus KLs) against the ELBO written out from its
    definition, with gold items, for the q(z), q(theta), q(pi) and learned prior the fit returns."""
    labels, truth, _ = simulate_dawid_skene(40, 6, labels_per_item=3, n_classes=3, concentration=3, seed=2)
    gold = np.full(truth.shape, -1)
    gold[:5] = truth[:5]
    model = fit_quietly(
        BayesianDawidSkene(max_iter=7, learn_class_prior=learn_class_prior), labels, gold=gold
    )
    reference = reference_elbo(
        labels,
        model.posteriors_[:, :, None],
        model.confusion_concentration_[:, :, None, :],
        model.confusion_prior_,
        model.class_concentration_,
        np.ones(3) if learn_class_prior else np.full(3, 1 / 3),
    )
    reference -= model.prior_rate * model.confusion_prior_.sum()  # the hyperprior's log density
    assert model.lower_bound_ == pytest.approx(reference, rel=1e-10, abs=1e-8)


def test_recovers_confusion_matrices_and_beats_majority_vote():
    labels, truth, confusion = simulate_dawid_skene(
        3000, 12, labels_per_item=6, n_classes=3, concentration=4, seed=3
    )
    model = BayesianDawidSkene().fit(labels)
    assert model.converged_
    assert np.abs(model.confusion_ - confusion).mean() < 0.05
    assert np.mean(model.labels_ == truth) > np.mean(majority_vote(labels).labels == truth)
    np.testing.assert_allclose(model.confusion_.sum(axis=2), 1.0)
    np.testing.assert_allclose(model.accuracy_, np.einsum("ikk->ik", model.confusion_) @ model.class_prior_)


def test_learns_the_crowds_prior():
    """80 annotators drawn around mean rows (0.7 on the diagonal) with concentration 10: the learned
    Dirichlet rows have about that mean and that total."""
    labels, _, _ = simulate_dawid_skene(4000, 80, labels_per_item=8, n_classes=3, concentration=10, seed=4)
    model = BayesianDawidSkene().fit(labels)
    prior = model.confusion_prior_
    totals = prior.sum(axis=1)
    assert np.all((totals > 6) & (totals < 16)), totals
    np.testing.assert_allclose(np.diag(prior) / totals, 0.7, atol=0.05)
    fixed = BayesianDawidSkene(learn_prior=False).fit(labels)
    assert model.lower_bound_ > fixed.lower_bound_  # the learned prior explains the data better


def test_a_sparse_annotator_borrows_strength_from_the_crowd():
    labels, _, _ = simulate_dawid_skene(2000, 30, labels_per_item=6, n_classes=2, concentration=20, seed=5)
    # one more annotator who labelled only five items, always saying class 0
    extra = Labels(
        item=np.concatenate([labels.item, np.arange(5)]),
        worker=np.concatenate([labels.worker, np.full(5, 30)]),
        label=np.concatenate([labels.label, np.zeros(5, dtype=labels.label.dtype)]),
        item_names=labels.item_names,
        worker_names=(*labels.worker_names, "sparse"),
        class_names=labels.class_names,
    )
    bds = BayesianDawidSkene().fit(extra)
    ds = DawidSkene().fit(extra)
    crowd = bds.confusion_prior_ / bds.confusion_prior_.sum(axis=1, keepdims=True)
    assert np.abs(bds.confusion_[30] - crowd).max() < np.abs(ds.confusion_[30] - crowd).max() / 2
    # and the crowd's many-label annotators keep matrices of their own
    assert np.abs(bds.confusion_[:30] - ds.confusion_[:30]).mean() < 0.02


def test_gold_is_clamped():
    labels, truth, _ = simulate_dawid_skene(400, 10, labels_per_item=4, n_classes=3, seed=6)
    gold = np.full(truth.shape, -1)
    gold[::4] = truth[::4]
    model = BayesianDawidSkene().fit(labels, gold=gold)
    known = gold >= 0
    np.testing.assert_array_equal(model.posteriors_[known], np.eye(3)[gold[known]])
    assert model.n_gold_ == known.sum()
    assert_non_decreasing(model.history_)


def test_restarts_are_seeded_reproducible_and_keep_the_best():
    labels, _, _ = simulate_dawid_skene(300, 8, labels_per_item=3, n_classes=3, concentration=2, seed=7)
    a = BayesianDawidSkene(n_init=4, random_state=3).fit(labels)
    b = BayesianDawidSkene(n_init=4, random_state=3).fit(labels)
    np.testing.assert_array_equal(a.posteriors_, b.posteriors_)
    assert a.init_objectives_ == b.init_objectives_
    assert len(a.init_objectives_) == 4
    assert a.lower_bound_ == max(a.init_objectives_) == a.init_objectives_[a.best_init_]
    c = BayesianDawidSkene(n_init=4, random_state=4).fit(labels)
    assert c.init_objectives_[0] == a.init_objectives_[0]  # the majority-vote start is not random
    assert c.init_objectives_[1:] != a.init_objectives_[1:]


@pytest.mark.parametrize(
    "matrix",
    [
        np.array([[0.0], [1.0], [1.0], [0.0], [1.0]]),  # one annotator
        np.array([[0.0, 1.0, 1.0, np.nan]]),  # one item
        np.ones((6, 3)),  # one class used, two declared
    ],
    ids=["one-annotator", "one-item", "one-class"],
)
def test_degenerate_data(matrix):
    data = Labels.from_matrix(matrix, classes=[0.0, 1.0, 2.0])
    model = fit_quietly(BayesianDawidSkene(), data)
    assert np.all(np.isfinite(model.posteriors_)) and np.isfinite(model.lower_bound_)
    np.testing.assert_allclose(model.posteriors_.sum(axis=1), 1.0)
    assert np.all(np.isfinite(model.confusion_)) and np.all(np.isfinite(model.accuracy_))
    low, high = model.prior_bounds
    assert np.all((model.confusion_prior_ >= low) & (model.confusion_prior_ <= high))
    if len(model.history_) > 1:
        assert_non_decreasing(model.history_)
    if matrix.shape == (6, 3):
        assert np.all(model.labels_ == 1)  # the prior favours correct labels: no class swap


def test_bad_options_are_refused():
    labels, _, _ = simulate_dawid_skene(20, 3, n_classes=2, seed=8)
    for options in [
        {"prior_diagonal": 0},
        {"prior_off_diagonal": -1},
        {"prior_bounds": (0, 10)},
        {"prior_bounds": (5, 1)},
        {"prior_bounds": "x"},
        {"prior_rate": -1},
        {"class_pseudocount": 0},
    ]:
        with pytest.raises(EmcrowdError):
            BayesianDawidSkene(**options).fit(labels)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_classes=st.integers(2, 4),
    scale=st.sampled_from([0.1, 1.0, 30.0]),
    rate=st.sampled_from([0.0, 0.01, 1.0]),
)
def test_prior_fit_raises_the_likelihood_within_the_constraints(seed, n_classes, scale, rate):
    rng = np.random.default_rng(seed)
    counts = rng.gamma(0.5, scale, size=(rng.integers(1, 12), n_classes, n_classes))
    start = np.full((n_classes, n_classes), 1.0) + 3.0 * np.eye(n_classes)
    bounds = (0.05, 200.0)
    fitted = fit_polya_prior(counts, start, bounds, rate=rate)

    def objective(prior):
        return log_multivariate_beta_ratio(prior, counts) - rate * prior.sum(axis=1)

    assert np.all(objective(fitted) >= objective(start) - 1e-9)
    assert np.all((fitted >= bounds[0]) & (fitted <= bounds[1]))
    assert np.all(np.diag(fitted)[:, None] >= fitted - 1e-12)  # the diagonal is the largest of its row


def test_prior_fit_reaches_the_constrained_optimum():
    """With many steps the fixed point lands where a generic optimiser does."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(9)
    truth = np.array([[6.0, 2.0, 1.0], [1.0, 5.0, 1.0], [0.5, 0.5, 3.0]])
    theta = np.stack([[rng.dirichlet(row) for row in truth] for _ in range(200)])
    counts = np.stack([[rng.multinomial(30, row) for row in worker] for worker in theta]).astype(float)
    fitted = fit_polya_prior(counts, np.ones((3, 3)) + np.eye(3), (0.01, 1000.0), max_steps=5000)
    for r in range(3):

        def loss(log_b, r=r):
            prior = np.ones((3, 3))
            prior[r] = np.exp(log_b)
            return -log_multivariate_beta_ratio(prior, counts)[r]

        best = minimize(loss, np.zeros(3), method="BFGS")
        np.testing.assert_allclose(fitted[r], np.exp(best.x), rtol=1e-3)


def test_the_answer_does_not_depend_on_the_order_of_the_labels():
    """A tiny crowd, where the labels cannot pin the prior's strength: the hyperprior gives it a finite
    optimum, so rounding differences from another label order do not grow along a flat direction."""
    item = np.array([0, 0, 0, 1, 2, 3, 3, 4])
    worker = np.array([0, 1, 3, 1, 1, 0, 2, 4])
    label = np.array([0, 1, 2, 0, 1, 1, 2, 1])
    names = {"item_names": tuple("abcde"), "worker_names": tuple("uvwxy"), "class_names": ("p", "q", "r")}
    fits = []
    for order in [np.arange(8), np.random.default_rng(0).permutation(8), np.arange(8)[::-1]]:
        data = Labels(item=item[order], worker=worker[order], label=label[order], **names)
        fits.append(BayesianDawidSkene().fit(data))
    for other in fits[1:]:
        np.testing.assert_allclose(other.posteriors_, fits[0].posteriors_, atol=1e-10)
        np.testing.assert_allclose(other.confusion_prior_, fits[0].confusion_prior_, rtol=1e-8)
    assert np.all(fits[0].confusion_prior_ < 50)  # no drift towards the upper bound


def test_registered_in_aggregate_with_aliases_and_worker_table():
    assert method_name("ibcc") == method_name("bds") == method_name("Bayesian-DS") == "bayesian_ds"
    labels, _, _ = simulate_dawid_skene(200, 6, labels_per_item=3, n_classes=2, seed=10)
    result = aggregate(labels, "ibcc", n_init=2)
    assert isinstance(result.model, BayesianDawidSkene) and result.model.n_init == 2
    table = worker_table(labels, result)
    np.testing.assert_array_equal(table["accuracy"], result.model.accuracy_)


@needs_datasets
@pytest.mark.parametrize(("name", "floor"), [("bluebirds", 0.89), ("dog", 0.83), ("rte", 0.92)])
def test_real_data_accuracy(name, floor):
    loaded = load_labels(DATASETS / name / "labels.csv")
    truth = load_truth(DATASETS / name / "truth.csv", loaded.labels).codes
    model = BayesianDawidSkene().fit(loaded.labels)
    scored = truth >= 0
    assert np.mean(model.labels_[scored] == truth[scored]) >= floor
    assert_non_decreasing(model.history_)
