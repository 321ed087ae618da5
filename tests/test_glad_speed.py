"""GLAD's fast paths against the plain ones: the compiled passes outside the EM loop (the difficulty's
integration, its prior's fit, the starting abilities) and the one-sweep M-step against full M-steps.
"""

from __future__ import annotations

import numpy as np
import pytest

from emcrowd import GLAD, Labels
from emcrowd.models.classification import _glad_kernels as kernels
from emcrowd.models.classification import _observations as observations
from emcrowd.models.classification import glad as glad_module
from emcrowd.models.classification.glad import (
    GaussianPrior,
    agreement_counts,
    difficulty_integrated_posteriors,
    fit_difficulty_prior,
)
from emcrowd.models.simulate import simulate_glad
from tests.helpers import assert_non_decreasing


def _shuffled(data: Labels, seed: int) -> Labels:
    order = np.random.default_rng(seed).permutation(data.n_labels)
    return Labels(
        data.item[order], data.worker[order], data.label[order],
        data.item_names, data.worker_names, data.class_names,
    )  # fmt: skip


@pytest.fixture(scope="module")
def fitted() -> tuple[Labels, GLAD]:
    sim = simulate_glad(3_000, 60, labels_per_item=5, n_classes=3, alpha_sd=1.5, seed=7)
    data = _shuffled(sim.labels, 1)  # not in item order: the compiled passes group the labels first
    return data, GLAD(engine="numpy").fit(data)


def _both(monkeypatch: pytest.MonkeyPatch, compute):
    """``compute()`` on the NumPy path, then on the compiled one (every input counts as large)."""
    plain = compute()
    monkeypatch.setattr(observations, "NUMBA_MIN_LABELS", 0)
    return plain, compute()


@pytest.mark.parametrize("with_gold", [False, True])
def test_integrated_posteriors_compiled_equal_numpy(fitted, monkeypatch, with_gold):
    data, model = fitted
    gold = None
    if with_gold:
        gold = np.full(data.n_items, -1)
        gold[::7] = 2
    prior = GaussianPrior(0.7, 1.3, "beta")
    log_pi = np.log([0.2, 0.5, 0.3])
    plain, compiled = _both(
        monkeypatch, lambda: difficulty_integrated_posteriors(data, model.alpha_, prior, log_pi, gold)
    )
    np.testing.assert_allclose(compiled, plain, rtol=0, atol=1e-12)
    if with_gold:
        assert np.all(compiled[::7, 2] == 1.0)


def test_difficulty_prior_compiled_equals_numpy(fitted, monkeypatch):
    data, model = fitted
    log_pi = np.log(model.class_prior_)
    start = GaussianPrior(1.0, 1.0, "beta")
    # the tables for every annotator, then (as with many annotators) for those that appear only
    plain, compiled = _both(monkeypatch, lambda: fit_difficulty_prior(data, model.alpha_, start, log_pi))
    monkeypatch.setattr(glad_module, "_TABLE_ENTRIES", 0)
    remapped = fit_difficulty_prior(data, model.alpha_, start, log_pi)
    assert compiled.mean == pytest.approx(plain.mean, abs=1e-12)
    assert compiled.sd == pytest.approx(plain.sd, rel=1e-12)
    assert (remapped.mean, remapped.sd) == (compiled.mean, compiled.sd)


def test_subsampled_difficulty_prior_compiled_equals_numpy(monkeypatch):
    # more items than DIFFICULTY_PRIOR_ITEMS: both paths look at the same evenly spaced items
    monkeypatch.setattr(glad_module, "DIFFICULTY_PRIOR_ITEMS", 500)
    sim = simulate_glad(2_000, 40, labels_per_item=4, seed=3)
    alpha, log_pi = sim.alpha, np.log([0.5, 0.5])
    start = GaussianPrior(1.0, 1.0, "beta")
    plain, compiled = _both(monkeypatch, lambda: fit_difficulty_prior(sim.labels, alpha, start, log_pi))
    assert (compiled.mean, compiled.sd) == pytest.approx((plain.mean, plain.sd), rel=1e-12)


def test_agreement_counts_compiled_equal_numpy(fitted):
    data, _ = fitted
    indptr, worker, label = kernels.group_by_item(data.item, data.worker, data.label, data.n_items)
    agree, n = kernels.agreement_counts(indptr, worker, label, data.n_workers, data.n_classes)
    plain_agree, plain_n = agreement_counts(
        data.item, data.worker, data.label, data.n_items, data.n_workers, data.n_classes
    )
    np.testing.assert_allclose(agree, plain_agree, rtol=1e-12)
    np.testing.assert_array_equal(n, plain_n)


def test_compiled_engine_starts_where_numpy_does(fitted):
    data, _ = fitted
    starts = []
    for engine in ("numpy", "numba"):
        model = GLAD(engine=engine)
        model._prepare(data)
        starts.append(model._start[0])
    np.testing.assert_allclose(starts[1], starts[0], rtol=1e-12)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("seed", [0, 1])
def test_one_sweep_reaches_the_full_m_steps_fit(engine, seed):
    sim = simulate_glad(2_000, 50, labels_per_item=5, n_classes=2 + seed, alpha_sd=1.5, seed=seed)
    one = GLAD(engine=engine, tol=1e-9).fit(sim.labels)
    full = GLAD(engine=engine, tol=1e-9, max_sweeps=glad_module.MAX_SWEEPS).fit(sim.labels)
    assert one.max_sweeps == 1
    assert_non_decreasing(one.history_)
    assert one.converged_ and full.converged_
    assert one.lower_bound_ == pytest.approx(full.lower_bound_, rel=1e-7)
    top_two = np.sort(full.posteriors_, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 1e-3  # (an item at a tie to 1e-5 may go either way)
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(one.labels_[clear], full.labels_[clear])
    np.testing.assert_allclose(one.alpha_, full.alpha_, atol=1e-2)
    np.testing.assert_allclose(one.posteriors_, full.posteriors_, atol=1e-3)
