"""compare's claims: an exact test when few items are discordant, no claim on too few gold items."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from emcrowd.analysis.evaluate import (
    EXACT_BELOW,
    MIN_GOLD_ITEMS,
    compare,
    exact_difference_interval,
    mcnemar_exact,
    paired_comparison,
)
from emcrowd.models.simulate import simulate_glad


@pytest.mark.parametrize(("fixed", "broken"), [(3, 0), (0, 4), (7, 2), (10, 10), (12, 1), (0, 0)])
def test_mcnemar_exact_is_the_two_sided_binomial_test(fixed, broken):
    expected = 1.0 if fixed + broken == 0 else binomtest(fixed, fixed + broken, 0.5).pvalue
    assert mcnemar_exact(fixed, broken) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("fixed", "broken"), [(3, 0), (6, 0), (7, 1), (9, 3), (5, 5), (0, 8)])
def test_the_exact_interval_excludes_zero_exactly_when_the_test_rejects(fixed, broken):
    n = 200
    lo, hi = exact_difference_interval(fixed, broken, n)
    assert lo <= (fixed - broken) / n <= hi
    assert (lo > 0 or hi < 0) == (mcnemar_exact(fixed, broken) < 0.05)


def test_a_three_to_nothing_split_on_nine_gold_items_claims_nothing():
    """The case of the issue: 9 gold items, one method right on 3 that the other gets wrong."""
    a = np.array([True] * 9)
    b = np.array([True] * 6 + [False] * 3)
    out = paired_comparison(a, b, np.random.default_rng(0))
    assert out["test"] == "exact McNemar" and out["p_value"] == pytest.approx(0.25)
    assert out["gain_ci"][0] < 0 < out["gain_ci"][1]  # the exact interval includes zero
    assert out["significant"] is None  # and below MIN_GOLD_ITEMS nothing is claimed anyway
    assert MIN_GOLD_ITEMS > 9


def test_many_discordant_items_use_the_bootstrap_and_claim():
    rng = np.random.default_rng(1)
    a = rng.random(400) < 0.9
    b = a.copy()
    b[:60] = ~b[:60]
    out = paired_comparison(a, b, rng)
    assert out["fixed"] + out["broken"] >= EXACT_BELOW and out["test"] == "bootstrap"
    assert isinstance(out["significant"], bool)


def test_compare_reports_the_test_and_withholds_claims_on_few_gold_items():
    sim = simulate_glad(200, 10, labels_per_item=3, seed=2)
    truth = np.full(sim.labels.n_items, -1)
    truth[:12] = sim.truth[:12]
    report = compare(sim.labels, truth, methods=["glad", "one_coin"])
    assert report["n_gold"] == 12 and report["min_gold_items"] == MIN_GOLD_ITEMS
    for diff in report["vs_majority"].values():
        assert diff["significant"] is None and diff["test"] == "exact McNemar"
    full = compare(sim.labels, sim.truth, methods=["glad"])
    assert isinstance(full["vs_majority"]["glad"]["significant"], bool)


def test_the_console_says_too_few_instead_of_a_verdict(capsys):
    from emcrowd import console

    sim = simulate_glad(200, 10, labels_per_item=3, seed=2)
    truth = np.full(sim.labels.n_items, -1)
    truth[:9] = sim.truth[:9]
    report = compare(sim.labels, truth, methods=["glad"])
    console._compare_notes(report)
    err = capsys.readouterr().err
    assert "too few to tell the methods apart" in err
    assert "excludes zero" not in err and "includes zero" not in err
