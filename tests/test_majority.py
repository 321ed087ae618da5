"""Majority vote: the documented tie rule, tie counts, vote shares."""

from __future__ import annotations

import numpy as np

from emcrowd import Labels, majority_vote


def test_ties_go_to_the_lowest_class_and_are_counted():
    L = np.array(
        [
            [1, 1, 0, np.nan],  # 2-1: class 1
            [0, 1, np.nan, np.nan],  # tie: class 0
            [1, 0, 1, 0],  # tie: class 0
            [np.nan, np.nan, np.nan, np.nan],  # no labels
            [0, 0, 0, 1],  # 3-1: class 0
        ]
    )
    mv = majority_vote(Labels.from_matrix(L))
    np.testing.assert_array_equal(mv.labels, [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(mv.tied, [False, True, True, False, False])
    assert mv.n_ties == 2
    assert mv.n_unlabeled == 1
    np.testing.assert_allclose(mv.posteriors[0], [1 / 3, 2 / 3])
    np.testing.assert_allclose(mv.posteriors[3], [0.5, 0.5])


def test_multiclass_tie_between_upper_classes():
    L = np.array([[2, 3, 3, 2, 1]], dtype=float)
    data = Labels.from_matrix(L)
    assert data.class_names == ("1", "2", "3")
    mv = majority_vote(data)
    assert data.class_names[mv.labels[0]] == "2"
    assert mv.n_ties == 1


def test_majority_vote_does_not_depend_on_column_order():
    rng = np.random.default_rng(0)
    L = rng.integers(0, 3, size=(200, 6)).astype(float)
    L[rng.random(L.shape) < 0.3] = np.nan
    L[:, 0] = np.where(np.isnan(L).all(axis=1), 0, L[:, 0])
    a = majority_vote(Labels.from_matrix(L))
    b = majority_vote(Labels.from_matrix(L[:, ::-1]))
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.tied, b.tied)
