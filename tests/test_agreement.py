"""Agreement statistics: equal to the ``krippendorff`` package, and hand-computed kappas."""

from __future__ import annotations

import numpy as np
import pytest

from emcrowd.analysis.agreement import (
    agreement_line,
    agreement_summary,
    coincidences,
    fleiss_kappa,
    gwet_ac1,
    item_agreement,
    krippendorff_alpha,
    percent_agreement,
    randolph_kappa,
)
from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.io import load_labels
from emcrowd.models.classification.majority import vote_counts
from emcrowd.models.simulate import simulate_dawid_skene
from tests.helpers import DATASETS, needs_datasets

DATASET_NAMES = ["bluebirds", "rte", "temp", "dog", "adult2"]


def reference_alpha(**kwargs) -> float:
    krippendorff = pytest.importorskip("krippendorff")
    return float(krippendorff.alpha(**kwargs))


def sparse_simulation(seed: int, n_classes: int) -> Labels:
    """Dawid-Skene labels with a third of them removed: items with 0, 1 and several labels."""
    data, _, _ = simulate_dawid_skene(300, 12, labels_per_item=4, n_classes=n_classes, seed=seed)
    keep = np.random.default_rng(seed).random(data.n_labels) > 1 / 3
    return Labels(
        item=data.item[keep],
        worker=data.worker[keep],
        label=data.label[keep],
        item_names=data.item_names,
        worker_names=data.worker_names,
        class_names=data.class_names,
    )


@needs_datasets
@pytest.mark.parametrize("name", DATASET_NAMES)
def test_alpha_equals_the_krippendorff_package_on_real_data(name):
    data = load_labels(DATASETS / name / "labels.csv").labels
    counts = vote_counts(data)
    for level in ("nominal", "ordinal", "interval"):
        expected = reference_alpha(value_counts=counts, level_of_measurement=level)
        assert krippendorff_alpha(data, level=level) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_alpha_equals_the_krippendorff_package_with_missing_labels(seed, n_classes):
    data = sparse_simulation(seed, n_classes)
    per_item = data.labels_per_item()
    assert (per_item == 0).any() and (per_item == 1).any()  # the case under test: unpairable items
    reliability = data.to_matrix().T  # annotators x items, NaN = missing (no repeated pairs here)
    for level in ("nominal", "ordinal", "interval"):
        expected = reference_alpha(
            reliability_data=reliability, value_domain=list(range(n_classes)), level_of_measurement=level
        )
        assert krippendorff_alpha(data, level=level) == pytest.approx(expected, abs=1e-9)


def test_interval_alpha_uses_the_class_values():
    data = sparse_simulation(3, 3)
    values = np.array([1.0, 2.0, 10.0])
    expected = reference_alpha(
        value_counts=vote_counts(data), value_domain=values, level_of_measurement="interval"
    )
    assert krippendorff_alpha(data, level="interval", values=values) == pytest.approx(expected, abs=1e-9)
    assert krippendorff_alpha(data, level="interval", values=values) != pytest.approx(
        krippendorff_alpha(data, level="interval"), abs=1e-6
    )


def test_hand_computed_balanced_case():
    counts = np.array([[2, 0], [0, 2], [1, 1]])
    # P_j = 1, 1, 0; class shares 1/2 each.
    assert percent_agreement(counts) == pytest.approx(2 / 3)
    assert fleiss_kappa(counts) == pytest.approx(1 / 3)
    assert randolph_kappa(counts) == pytest.approx(1 / 3)
    assert gwet_ac1(counts) == pytest.approx(1 / 3)  # chance = 2 * 0.5 * 0.5 / (K - 1): as kappa
    # coincidences o00 = 2, o11 = 2, o01 = o10 = 1; n = 6: alpha = 1 - 5 * 2 / (2 * 3 * 3)
    np.testing.assert_allclose(coincidences(counts), [[2, 1], [1, 2]])
    assert krippendorff_alpha(counts) == pytest.approx(4 / 9)
    summary = agreement_summary(counts)
    assert summary["fleiss_kappa"] == pytest.approx(1 / 3) and summary["fleiss_kappa_note"] is None
    assert summary["gwet_ac1"] == pytest.approx(1 / 3) and summary["krippendorff_alpha"] == pytest.approx(
        4 / 9
    )


def test_hand_computed_skewed_case_shows_the_kappa_paradox():
    counts = np.array([[3, 0], [3, 0], [3, 0], [2, 1]])
    # P_o = (1 + 1 + 1 + 1/3) / 4 = 5/6; label shares 11/12 and 1/12.
    assert percent_agreement(counts) == pytest.approx(5 / 6)
    assert fleiss_kappa(counts) == pytest.approx(-1 / 11)  # P_e = 122/144: below chance despite 5/6
    assert randolph_kappa(counts) == pytest.approx(2 / 3)
    assert gwet_ac1(counts) == pytest.approx(49 / 61)  # P_e = 22/144


def test_hand_computed_unequal_case_with_unpairable_items():
    counts = np.array([[1, 0], [2, 0], [1, 1], [0, 0]])
    np.testing.assert_allclose(item_agreement(counts), [np.nan, 1.0, 0.0, np.nan])
    assert percent_agreement(counts) == pytest.approx(0.5)
    assert randolph_kappa(counts) == pytest.approx(0.0)
    # pi over the three labelled items: (1 + 1 + 1/2) / 3 = 5/6 and 1/6; P_e = 2 * 5/36
    assert gwet_ac1(counts) == pytest.approx(4 / 13)
    assert krippendorff_alpha(counts) == pytest.approx(0.0)  # o00 = 2, o01 = o10 = 1: n = 4
    assert krippendorff_alpha(counts) == pytest.approx(reference_alpha(value_counts=counts), abs=1e-12)
    with pytest.raises(EmcrowdError, match="same number of labels"):
        fleiss_kappa(counts)


def test_fleiss_ignores_unlabelled_items_and_needs_pairs():
    assert fleiss_kappa(np.array([[2, 0], [0, 2], [1, 1], [0, 0]])) == pytest.approx(1 / 3)
    with pytest.raises(EmcrowdError, match="at least two"):
        fleiss_kappa(np.array([[1, 0], [0, 1]]))


def test_fleiss_matches_its_published_example():
    # Fleiss (1971) style example as tabulated on Wikipedia: 10 items, 14 raters, 5 categories.
    counts = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    assert fleiss_kappa(counts) == pytest.approx(0.210, abs=5e-4)


def test_perfect_agreement_and_one_class_only():
    perfect = np.array([[3, 0, 0], [0, 2, 0], [0, 0, 4]])
    assert krippendorff_alpha(perfect) == pytest.approx(1.0)
    assert randolph_kappa(perfect) == pytest.approx(1.0)
    assert gwet_ac1(perfect) == pytest.approx(1.0)
    one_class = np.array([[3, 0], [2, 0]])
    assert np.isnan(krippendorff_alpha(one_class))  # no disagreement possible: undefined
    assert np.isnan(fleiss_kappa(np.array([[2, 0], [2, 0]])))
    summary = agreement_summary(one_class)
    assert summary["krippendorff_alpha"] is None and summary["percent_agreement"] == 1.0


def test_summary_reports_unpairable_items_and_the_fleiss_reason():
    data = sparse_simulation(0, 3)
    summary = agreement_summary(data, ordered=True)
    per_item = data.labels_per_item()
    assert summary["n_items"] == data.n_items
    assert summary["n_items_unpairable"] == int((per_item < 2).sum())
    assert summary["n_labels_pairable"] == int(per_item[per_item >= 2].sum())
    assert summary["fleiss_kappa"] is None and "same number" in summary["fleiss_kappa_note"]
    assert summary["krippendorff_alpha"] == pytest.approx(krippendorff_alpha(data))
    assert summary["krippendorff_alpha_ordinal"] == pytest.approx(krippendorff_alpha(data, level="ordinal"))
    assert summary["gwet_ac1"] == pytest.approx(gwet_ac1(data))
    assert agreement_summary(data)["krippendorff_alpha_ordinal"] is None


def test_bad_input_is_refused():
    with pytest.raises(EmcrowdError, match="shape"):
        krippendorff_alpha(np.array([1, 2, 3]))
    with pytest.raises(EmcrowdError, match="non-negative"):
        item_agreement(np.array([[1, -1]]))
    with pytest.raises(EmcrowdError, match="level"):
        krippendorff_alpha(np.array([[1, 1]]), level="ratio")
    with pytest.raises(EmcrowdError, match="class values"):
        krippendorff_alpha(np.array([[1, 1]]), level="interval", values=[0.0])


def test_agreement_line_names_the_defined_statistics():
    line = agreement_line(agreement_summary(np.array([[2, 0], [0, 2], [1, 1], [1, 0]])))
    assert line.startswith("Agreement: Krippendorff's alpha 0.444")
    assert "Fleiss" not in line and "Gwet's AC1 0.373" in line and "(1 item with fewer" in line
    assert "Fleiss' kappa 0.333" in agreement_line(agreement_summary(np.array([[2, 0], [0, 2], [1, 1]])))
