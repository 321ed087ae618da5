"""GLAD on the real datasets in ../shared/datasets (skipped when the folder is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from emcrowd import GLAD, majority_vote, read_labels, read_truth
from tests.helpers import DATASETS, assert_non_decreasing, needs_datasets

pytestmark = needs_datasets


def fit(name: str):
    data = read_labels(DATASETS / name / "L.npy")
    truth = read_truth(DATASETS / name / "y.npy", data)
    return data, truth, GLAD().fit(data)


def test_rte_reaches_published_accuracy_without_sign_flip():
    _, truth, model = fit("rte")
    gold = truth >= 0
    accuracy = np.mean(model.labels_[gold] == truth[gold])
    assert accuracy >= 0.92
    assert model.converged_
    assert np.mean(model.alpha_ > 0) > 0.9  # a flipped fit has mostly negative abilities


@pytest.mark.parametrize("name", ["rte", "temp", "bluebirds"])
def test_real_fits_are_monotone_finite_and_near_majority_vote(name):
    data, truth, model = fit(name)
    assert_non_decreasing(model.history_)
    assert np.all(np.isfinite(model.posteriors_)) and np.all(np.isfinite(model.alpha_))
    gold = truth >= 0
    mv = majority_vote(data)
    glad_acc = np.mean(model.labels_[gold] == truth[gold])
    mv_acc = np.mean(mv.labels[gold] == truth[gold])
    # GLAD may lose a little to majority vote where annotators are biased per class (bluebirds),
    # but a broken fit (sign flip, divergence) loses far more than this.
    assert glad_acc >= mv_acc - 0.05


def test_bluebirds_finds_the_adversarial_annotators():
    data, truth, model = fit("bluebirds")
    # Accuracy of each annotator against gold; bluebirds has 7 of 39 below chance.
    L = data.to_matrix()
    acc = (truth[:, None] == L).sum(axis=0) / (~np.isnan(L)).sum(axis=0)
    below = acc < 0.45
    assert below.sum() >= 3
    assert np.all(model.alpha_[below] < np.median(model.alpha_))
