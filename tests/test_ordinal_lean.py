"""The ordinal model's per-annotator lean towards grades (``lean_scale``): annotators who answer one
grade on most items whatever the truth (docs/ordinal.md)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emcrowd.errors import EmcrowdError
from emcrowd.models.ordinal.gaussian import (
    OrdinalDawidSkene,
    exact_penalty,
    fit_bias_spread,
    log_confusion,
    natural_params,
)
from emcrowd.models.ordinal.simulate import simulate_ordinal
from tests.helpers import assert_non_decreasing

K = 5


def term(weights: np.ndarray, eta: np.ndarray, exact: float, lean: float) -> np.ndarray:
    return np.einsum("ikl,ikl->i", weights, log_confusion(eta, K)) + exact_penalty(eta, exact, lean)


def test_the_step_with_leans_never_lowers_its_objective_and_holds_what_is_off():
    rng = np.random.default_rng(0)
    weights = rng.gamma(0.5, 3.0, size=(40, K, K))
    eta = np.column_stack(
        [rng.normal(0, 2, 40), rng.uniform(0.01, 5, 40), rng.normal(0, 1, 40), rng.normal(0, 1, (40, K))]
    )
    for exact, lean in ((1.0, 0.5), (0.0, 1.0), (1.0, 0.0)):
        start = eta.copy()
        start[:, 2] *= exact > 0
        start[:, 3:] *= lean > 0
        after_eta = fit_bias_spread(weights, start, exact, lean)
        before, after = term(weights, start, exact, lean), term(weights, after_eta, exact, lean)
        assert np.all(after >= before - 1e-12)
        assert np.mean(after > before + 1e-6) > 0.9  # and it moves
        if lean == 0:
            assert np.all(after_eta[:, 3:] == 0)
        if exact == 0:
            assert np.all(after_eta[:, 2] == 0)


@pytest.mark.parametrize("kind", ["lean", "gaussian", "confusion"])
def test_objective_never_decreases_with_leans(kind):
    sim = simulate_ordinal(400, 30, K, 4, kind=kind, random_state=5)
    model = OrdinalDawidSkene(lean_scale=0.5, n_init=2).fit(sim.labels)
    assert_non_decreasing(model.history_)
    assert model.converged_
    assert model.lean_.shape == (30, K)


def test_leans_are_recovered_on_data_of_that_shape():
    rng = np.random.default_rng(3)
    n_workers = 30
    bias, spread = rng.normal(0, 0.3, n_workers), rng.uniform(0.4, 1.0, n_workers)
    lean = np.zeros((n_workers, K))
    lean[: n_workers // 2, 0] = rng.uniform(1.0, 3.0, n_workers // 2)  # half lean to the lowest grade
    confusion = np.exp(log_confusion(natural_params(bias, spread, lean=lean), K))
    truth = rng.integers(0, K, 3000)
    item = np.repeat(np.arange(3000), 6)
    worker = np.concatenate([rng.choice(n_workers, 6, replace=False) for _ in range(3000)])
    cdf = np.cumsum(confusion[worker, truth[item]], axis=1)
    label = np.minimum((rng.random(item.size)[:, None] > cdf).sum(axis=1), K - 1)
    from emcrowd.data import Labels

    data = Labels(
        item=item.astype(np.int32),
        worker=worker.astype(np.int32),
        label=label.astype(np.int32),
        item_names=tuple(map(str, range(3000))),
        worker_names=tuple(map(str, range(n_workers))),
        class_names=tuple(map(str, range(K))),
        ordered=True,
    )
    model = OrdinalDawidSkene(exact_scale=0.0, lean_scale=2.0).fit(data)
    # the leans themselves are known only up to terms the bias and spread also make (a lean linear
    # in the grade is a bias): compare the confusions they make
    assert np.abs(model.confusion_ - confusion).mean() < 0.02
    # the leaning annotators' share of lowest grades on items two or more grades up
    got, want = model.confusion_[:, 2:, 0].mean(axis=1), confusion[:, 2:, 0].mean(axis=1)
    assert np.corrcoef(got, want)[0, 1] > 0.95
    plain = OrdinalDawidSkene(exact_scale=0.0, lean_scale=0.0).fit(data)
    assert np.abs(plain.confusion_ - confusion).mean() > 2 * np.abs(model.confusion_ - confusion).mean()
    assert (model.labels_ == truth).mean() > 0.9


def test_leans_help_where_busy_annotators_answer_one_grade_and_cost_little_elsewhere():
    gains = {"lean": [], "gaussian": []}
    for seed in range(4):
        for kind, got in gains.items():
            sim = simulate_ordinal(1000, 60, K, 5, kind=kind, random_state=seed)
            plain = OrdinalDawidSkene(lean_scale=0.0).fit(sim.labels).labels_
            leaning = OrdinalDawidSkene(lean_scale=0.5).fit(sim.labels).labels_
            got.append((leaning == sim.truth).mean() - (plain == sim.truth).mean())
    assert np.mean(gains["lean"]) > 0.03 and min(gains["lean"]) > -0.01
    assert np.mean(gains["gaussian"]) > -0.01


def test_bad_lean_scale_is_refused():
    sim = simulate_ordinal(50, 10, K, 3, random_state=0)
    with pytest.raises(EmcrowdError, match="lean_scale"):
        OrdinalDawidSkene(lean_scale=-1.0).fit(sim.labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert OrdinalDawidSkene(lean_scale=0.0).fit(sim.labels).lean_.shape == (10, K)


def test_accelerate_is_a_no_op_for_the_ordinal_model():
    """``accelerate=True`` (which ``auto`` asks of its fold fits on large data) runs plain EM here."""
    sim = simulate_ordinal(300, 20, K, 4, kind="lean", random_state=7)
    plain = OrdinalDawidSkene(accelerate=False).fit(sim.labels)
    asked = OrdinalDawidSkene(accelerate=True).fit(sim.labels)
    assert asked.history_ == plain.history_ and asked.n_passes_ == asked.n_iter_
    assert np.array_equal(asked.posteriors_, plain.posteriors_)
