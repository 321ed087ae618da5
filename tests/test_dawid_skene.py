"""Dawid-Skene and one-coin: the same guarantees as GLAD (monotone EM, recovery, gold), and the metrics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import spearmanr

from emcrowd import majority_vote
from emcrowd.analysis.evaluate import brier, confusion_matrix, difference_interval, log_loss, macro_f1
from emcrowd.errors import ConvergenceWarning
from emcrowd.io import load_labels, load_truth
from emcrowd.models.classification.dawid_skene import DawidSkene, OneCoin
from emcrowd.models.simulate import simulate_dawid_skene, simulate_one_coin
from tests.helpers import DATASETS, assert_non_decreasing, needs_datasets


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("model_cls", [DawidSkene, OneCoin])
@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize(
    "options",
    [{}, {"smoothing": 0.0}, {"smoothing": 2.0}, {"learn_class_prior": True}, {"learn_class_prior": False}],
    ids=["default", "no-smoothing", "smooth", "learned-prior", "fixed-prior"],
)
def test_objective_never_decreases(model_cls, n_classes, options, engine):
    labels, _, _ = simulate_dawid_skene(
        300, 15, labels_per_item=4, n_classes=n_classes, concentration=3, seed=1
    )
    model = model_cls(tol=0, max_iter=40, engine=engine, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0 runs to max_iter unless EM stalls
        model.fit(labels)
    assert len(model.history_) == 40 or model.history_[-1] == model.history_[-2]
    assert_non_decreasing(model.history_)
    assert np.allclose(model.posteriors_.sum(axis=1), 1.0)


def test_dawid_skene_e_step_matches_a_dense_reference():
    labels, _, _ = simulate_dawid_skene(30, 5, labels_per_item=3, n_classes=3, seed=2)
    model = DawidSkene(max_iter=3)
    with pytest.warns(ConvergenceWarning):
        model.fit(labels)
    log_theta = np.log(model.confusion_)
    log_pi = np.log(model.class_prior_)
    L = labels.to_matrix()
    for j in range(labels.n_items):
        scores = log_pi.copy()
        for i in range(labels.n_workers):
            if not np.isnan(L[j, i]):
                scores += log_theta[i, :, int(L[j, i])]
        np.testing.assert_allclose(model.posteriors_[j], np.exp(scores - logsumexp(scores)), atol=1e-12)


def test_dawid_skene_recovers_confusion_matrices_and_beats_majority_vote():
    labels, truth, confusion = simulate_dawid_skene(
        3000, 12, labels_per_item=6, n_classes=3, concentration=4, seed=3
    )
    model = DawidSkene().fit(labels)
    assert model.converged_
    assert np.abs(model.confusion_ - confusion).mean() < 0.05
    assert np.mean(model.labels_ == truth) > np.mean(majority_vote(labels).labels == truth)


def test_one_coin_recovers_accuracies():
    labels, truth, accuracy = simulate_one_coin(2000, 15, labels_per_item=5, n_classes=3, seed=4)
    model = OneCoin().fit(labels)
    assert spearmanr(model.accuracy_, accuracy).statistic > 0.9
    assert np.abs(model.accuracy_ - accuracy).mean() < 0.05
    assert np.mean(model.labels_ == truth) >= np.mean(majority_vote(labels).labels == truth)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("model_cls", [DawidSkene, OneCoin])
def test_gold_is_clamped(model_cls, engine):
    labels, truth, _ = simulate_dawid_skene(400, 10, labels_per_item=4, n_classes=3, seed=5)
    gold = np.full(truth.shape, -1)
    gold[::4] = truth[::4]
    model = model_cls(engine=engine).fit(labels, gold=gold)
    assert model.engine_ == engine
    known = gold >= 0
    np.testing.assert_array_equal(model.posteriors_[known], np.eye(3)[gold[known]])
    assert model.n_gold_ == known.sum()
    assert_non_decreasing(model.history_)


@needs_datasets
@pytest.mark.parametrize(("name", "floor"), [("bluebirds", 0.875), ("dog", 0.838), ("rte", 0.92)])
def test_dawid_skene_reaches_published_accuracy(name, floor):
    loaded = load_labels(DATASETS / name / "labels.csv")
    truth = load_truth(DATASETS / name / "truth.csv", loaded.labels).codes
    model = DawidSkene().fit(loaded.labels)
    scored = truth >= 0
    assert np.mean(model.labels_[scored] == truth[scored]) >= floor
    assert_non_decreasing(model.history_)


# -- metrics --------------------------------------------------------------------------------------------
def test_metrics_on_hand_computed_examples():
    truth = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0])
    # F1: class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp0 -> 0
    assert macro_f1(pred, truth) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    post = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    y = np.array([0, 1, 0])
    assert brier(post, y) == pytest.approx((0 + 0.5 + 2) / 3)
    assert log_loss(post, y) == pytest.approx((0 - np.log(0.5) - np.log(1e-15)) / 3)
    np.testing.assert_array_equal(confusion_matrix(truth, pred, 3), [[1, 1, 0], [0, 2, 0], [1, 0, 0]])


def test_difference_interval_brackets_the_observed_difference_and_is_seeded():
    rng = np.random.default_rng(0)
    a = rng.random(500) < 0.9
    b = a.copy()
    b[:40] = ~b[:40]
    ci = difference_interval(a, b, np.random.default_rng(1))
    assert ci[0] <= a.mean() - b.mean() <= ci[1]
    assert ci == difference_interval(a, b, np.random.default_rng(1))
    same = difference_interval(a, a, np.random.default_rng(1))
    assert same == [0.0, 0.0]
