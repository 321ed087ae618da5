"""Annotator quality: spammers found on simulated crowds, accuracies that rank like the true ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from emcrowd.analysis.quality import (
    DEFAULT_SPAMMER_THRESHOLD,
    accuracy_interval,
    annotator_confusions,
    annotator_quality,
    flagged,
    gold_accuracy,
    spammer_scores,
    workers_to_review,
)
from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models.classification.dawid_skene import DawidSkene, OneCoin
from emcrowd.models.classification.glad import GLAD
from emcrowd.models.classification.majority import majority_vote
from emcrowd.models.simulate import simulate_dawid_skene, simulate_glad

N_RANDOM, N_CONSTANT, SPAMMER_LABELS = 5, 5, 150


def with_spammers(data: Labels, seed: int) -> Labels:
    """``data`` plus N_RANDOM annotators answering uniformly at random and N_CONSTANT always giving
    one class, each on SPAMMER_LABELS random items; the spammers are the last annotators."""
    rng = np.random.default_rng(seed)
    k = data.n_classes
    items, workers, labels = [data.item], [data.worker], [data.label]
    for s in range(N_RANDOM + N_CONSTANT):
        items.append(rng.choice(data.n_items, SPAMMER_LABELS, replace=False))
        workers.append(np.full(SPAMMER_LABELS, data.n_workers + s))
        if s < N_RANDOM:
            labels.append(rng.integers(0, k, SPAMMER_LABELS))
        else:
            labels.append(np.full(SPAMMER_LABELS, s % k))
    n_workers = data.n_workers + N_RANDOM + N_CONSTANT
    return Labels(
        item=np.concatenate(items),
        worker=np.concatenate(workers),
        label=np.concatenate(labels),
        item_names=data.item_names,
        worker_names=tuple(map(str, range(n_workers))),
        class_names=data.class_names,
    )


def symmetric_confusion(right: np.ndarray, k: int) -> np.ndarray:
    out = np.repeat(((1 - right) / (k - 1))[:, None, None], k, axis=1).repeat(k, axis=2)
    out[:, np.arange(k), np.arange(k)] = right[:, None]
    return out


def check_recovery(data: Labels, model, true_confusion: np.ndarray, true_accuracy: np.ndarray) -> None:
    n_honest = true_confusion.shape[0]
    q = annotator_quality(data, model)
    # The spammers are the added ones, and any simulated annotator whose true confusion matrix is as
    # uninformative (true spammer score below the threshold).
    spammer = np.ones(data.n_workers, dtype=bool)
    spammer[:n_honest] = spammer_scores(true_confusion) < DEFAULT_SPAMMER_THRESHOLD
    found = flagged(q)
    precision = (found & spammer).sum() / found.sum()
    recall = (found & spammer).sum() / spammer.sum()
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    truth = np.concatenate([true_accuracy, np.full(data.n_workers - n_honest, 1 / data.n_classes)])
    assert spearmanr(q["accuracy"], truth)[0] >= 0.9
    assert np.all(q["accuracy_low"] <= q["accuracy"]) and np.all(q["accuracy"] <= q["accuracy_high"])
    assert q["constant"][-N_CONSTANT:].all() and not q["constant"][:-N_CONSTANT].any()


@pytest.mark.filterwarnings("ignore::emcrowd.errors.ConvergenceWarning")
@pytest.mark.parametrize("model_class", [GLAD, OneCoin])
def test_spammers_found_in_a_glad_crowd(model_class):
    sim = simulate_glad(2000, 40, labels_per_item=8, alpha_mean=1.5, alpha_sd=0.5, seed=0)
    data = with_spammers(sim.labels, seed=100)
    # a simulated annotator's accuracy at the median item, as the estimate is defined
    true_right = 1 / (1 + np.exp(-sim.alpha * np.median(sim.beta)))
    model = model_class().fit(data)
    check_recovery(data, model, symmetric_confusion(true_right, 2), true_right)


@pytest.mark.filterwarnings("ignore::emcrowd.errors.ConvergenceWarning")
@pytest.mark.parametrize("n_classes", [2, 3])
def test_spammers_found_in_a_dawid_skene_crowd(n_classes):
    labels, _, confusion = simulate_dawid_skene(
        2000, 40, labels_per_item=8, n_classes=n_classes, diagonal=0.75, concentration=30, seed=1
    )
    data = with_spammers(labels, seed=101)
    true_accuracy = np.einsum("ikk->i", confusion) / n_classes  # true classes are uniform
    check_recovery(data, DawidSkene().fit(data), confusion, true_accuracy)


def test_spammer_score_extremes_and_the_binary_formula():
    k = 3
    rows_equal = np.tile(np.array([0.2, 0.5, 0.3]), (k, 1))[None]
    perfect = np.eye(k)[None]
    renamed = np.eye(k)[[1, 2, 0]][None]
    np.testing.assert_allclose(spammer_scores(np.concatenate([rows_equal, perfect, renamed])), [0, 1, 1])
    sens, spec = 0.8, 0.65
    binary = np.array([[[spec, 1 - spec], [1 - sens, sens]]])
    np.testing.assert_allclose(spammer_scores(binary), [(sens + spec - 1) ** 2])
    # symmetric: ((K p - 1) / (K - 1))^2
    np.testing.assert_allclose(
        spammer_scores(symmetric_confusion(np.array([0.6]), 4)), [((2.4 - 1) / 3) ** 2]
    )


def test_confusions_of_each_model_kind():
    data, _, _ = simulate_dawid_skene(300, 10, labels_per_item=5, n_classes=3, seed=2)
    ds = DawidSkene().fit(data)
    np.testing.assert_array_equal(annotator_confusions(data, ds), ds.confusion_)
    oc = OneCoin().fit(data)
    c = annotator_confusions(data, oc)
    np.testing.assert_allclose(np.einsum("ikk->ik", c), np.repeat(oc.accuracy_[:, None], 3, axis=1))
    np.testing.assert_allclose(c.sum(axis=2), 1.0)
    glad = GLAD().fit(data)
    beta = np.median(glad.beta_)
    right = annotator_confusions(data, glad)[:, 0, 0]
    np.testing.assert_allclose(right, 1 / (1 + np.exp(-glad.alpha_ * beta)))
    assert np.all((right > 0) & (right < 1))
    with pytest.raises(EmcrowdError, match="annotator parameters"):
        annotator_confusions(data, majority_vote(data))


def test_gold_accuracy_counts_gold_labels_only():
    data = Labels(
        item=[0, 1, 2, 0, 1, 0],
        worker=[0, 0, 0, 1, 2, 1],
        label=[1, 0, 1, 0, 0, 1],
        item_names=("a", "b", "c"),
        worker_names=("x", "y", "z"),
        class_names=("0", "1"),
    )
    accuracy, n_gold = gold_accuracy(data, np.array([1, -1, 0]))
    # annotator y labelled gold item "a" twice (wrong, then right): one item, half right
    np.testing.assert_array_equal(n_gold, [2, 1, 0])
    np.testing.assert_allclose(accuracy, [0.5, 0.5, np.nan])
    with pytest.raises(EmcrowdError, match="gold"):
        gold_accuracy(data, np.array([1.0, 0.0, 0.0]))


def test_sparse_annotators_get_no_other_flag():
    sim = simulate_glad(400, 12, labels_per_item=4, seed=3)
    # annotator 12 answers "1" on three items: constant, but too sparse to judge
    data = Labels(
        item=np.concatenate([sim.labels.item, [0, 1, 2]]),
        worker=np.concatenate([sim.labels.worker, [12, 12, 12]]),
        label=np.concatenate([sim.labels.label, [1, 1, 1]]),
        item_names=sim.labels.item_names,
        worker_names=(*sim.labels.worker_names, "new"),
        class_names=sim.labels.class_names,
    )
    model = GLAD().fit(data)
    q = annotator_quality(data, model, gold=sim.truth, min_labels=5)
    assert q["sparse"][12] and q["flags"][12] == "sparse"
    assert not flagged(q)[12]
    assert annotator_quality(data, model, min_labels=3)["constant"][12]
    assert q["n_gold"].sum() == data.n_labels  # no annotator labels an item twice here
    expected = np.mean(data.label[data.worker == 0] == sim.truth[data.item[data.worker == 0]])
    assert q["gold_accuracy"][0] == pytest.approx(expected)


def test_interval_narrows_with_more_labels():
    low, high = accuracy_interval(np.array([0.8, 0.8, 0.8]), np.array([10, 1000, 0]))
    assert high[0] - low[0] > high[1] - low[1] > 0
    assert low[1] < 0.8 < high[1] and np.isnan(low[2]) and np.isnan(high[2])


def test_review_list_is_ordered_by_spammer_score():
    sim = simulate_glad(1000, 20, labels_per_item=6, alpha_mean=1.5, alpha_sd=0.3, seed=4)
    data = with_spammers(sim.labels, seed=5)
    q = annotator_quality(data, GLAD().fit(data))
    review = workers_to_review(q)
    assert {r["worker"] for r in review} == set(np.asarray(q["worker"])[flagged(q)])
    scores = [r["spammer_score"] for r in review]
    assert scores == sorted(scores) and len(review) >= N_RANDOM + N_CONSTANT
    assert all(r["flags"] for r in review)


def test_bad_options_are_refused():
    sim = simulate_glad(50, 5, seed=6)
    model = GLAD().fit(sim.labels)
    with pytest.raises(EmcrowdError, match="min_labels"):
        annotator_quality(sim.labels, model, min_labels=0)
    with pytest.raises(EmcrowdError, match="spammer_threshold"):
        annotator_quality(sim.labels, model, spammer_threshold=2.0)
