"""``auto``'s cheaper paths: GLAD's fold fits reuse its difficulty distribution, and on large data the
chosen method's fit on all the labels starts from its fit on the subset; and auto against the
generating model on simulations from every model (slow)."""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pytest

import emcrowd.analysis.selection as selection
from emcrowd.analysis.aggregate import MODELS, aggregate
from emcrowd.errors import ConvergenceWarning
from emcrowd.models.simulate import simulate_dawid_skene, simulate_glad, simulate_mace, simulate_one_coin


def _fit(method, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MODELS[method](tol=1e-10, max_iter=2000).fit(data)


@pytest.mark.parametrize("method", ["dawid_skene", "one_coin", "bayesian_ds", "mace"])
def test_posteriors_from_annotators_are_the_models_own_e_step(method):
    """On the data a model was fitted to, one E-step from its annotators is its own posteriors (its
    fit ends on an E-step): the start of the large-data fit is that model's E-step, not a guess."""
    data, _, _ = simulate_dawid_skene(300, 12, labels_per_item=4, n_classes=3, seed=1)
    model = _fit(method, data)
    start = selection.posteriors_from_annotators(model, data)
    if method == "bayesian_ds":  # a variational E-step uses E[log theta], not log E[theta]: close only
        assert np.mean(start.argmax(axis=1) == model.labels_) > 0.98
    else:
        np.testing.assert_allclose(start, model.posteriors_, atol=1e-6)


def test_posteriors_from_annotators_of_glad_use_its_typical_accuracy():
    sim = simulate_glad(300, 12, labels_per_item=5, seed=2)
    model = _fit("glad", sim.labels)
    start = selection.posteriors_from_annotators(model, sim.labels)
    assert start.shape == (sim.labels.n_items, 2)
    np.testing.assert_allclose(start.sum(axis=1), 1.0)
    assert np.mean(start.argmax(axis=1) == model.labels_) > 0.98
    assert selection.posteriors_from_annotators(None, sim.labels) is None  # majority vote: no start


def test_glad_fold_fits_take_the_full_fits_difficulty_distribution(monkeypatch):
    """The difficulty distribution (two numbers) is fitted once, on all the labels, not per fold."""
    import emcrowd.models.classification.glad as glad

    sim = simulate_glad(300, 12, labels_per_item=5, seed=3)
    full = aggregate(sim.labels, "glad").model
    assert full.difficulty_prior_ is not None
    calls = []
    real = glad.fit_difficulty_prior
    monkeypatch.setattr(glad, "fit_difficulty_prior", lambda *a: calls.append(1) or real(*a))
    shared, _ = selection.held_out_log_likelihoods(
        sim.labels, ("glad",), warm={"glad": full.posteriors_}, full_models={"glad": full}
    )
    assert calls == []
    own, _ = selection.held_out_log_likelihoods(sim.labels, ("glad",), warm={"glad": full.posteriors_})
    assert len(calls) == selection.N_FOLDS
    scored = ~np.isnan(own["glad"])
    # the same score to a small fraction of the gaps between models
    assert abs(np.mean(shared["glad"][scored]) - np.mean(own["glad"][scored])) < 0.002


def test_large_data_fit_starts_from_the_subset_fit_and_reaches_the_same_labels(monkeypatch):
    """Above the threshold the chosen method is fitted on all the labels from its subset fit's
    annotators: the same labels as its fit from its own start, in no more iterations."""
    sim = simulate_glad(3000, 60, labels_per_item=5, seed=4)
    data = sim.labels
    small = partial(selection.select_method, full_data_labels=5000, subset_labels=4000)
    monkeypatch.setattr(selection, "select_method", small)
    starts = []
    real = selection.posteriors_from_annotators

    def spy(model, part):
        out = real(model, part)
        starts.append(out)
        return out

    monkeypatch.setattr(selection, "posteriors_from_annotators", spy)
    result = aggregate(data, "auto")
    assert result.selection.large and result.selection.subset_model is None  # let go of
    assert len(starts) == 1 and starts[0].shape == (data.n_items, data.n_classes)
    own = aggregate(data, result.fitted_method)
    assert np.mean(result.labels != own.labels) <= 0.002
    assert result.n_iter <= own.n_iter


def test_large_data_criterion_fits_each_candidate_once_from_its_own_start(monkeypatch):
    """On large data no candidate is fitted on the whole subset: each is fitted once, from its own
    start (accelerated), on the subset's labels outside one fold, and scored on that fold."""
    sim = simulate_glad(3000, 60, labels_per_item=5, seed=5)

    def no_full_fit(*args, **kwargs):
        raise AssertionError("a candidate was fitted on the whole subset")

    monkeypatch.setattr(selection, "_plain_fit", no_full_fit)
    seen = []
    real = selection.held_out_log_likelihoods

    def spy(data, methods, **kwargs):
        seen.append((kwargs["max_folds"], kwargs["warm"], kwargs["options"].get("accelerate")))
        return real(data, methods, **kwargs)

    monkeypatch.setattr(selection, "held_out_log_likelihoods", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = selection.select_method(sim.labels, full_data_labels=5000, subset_labels=8000)
    assert seen == [(1, {}, True)]
    assert sel.large and sel.n_folds_scored == 1
    assert "one fold" in sel.to_dict()["criterion"]
    assert sel.subset_model is not None and sel.subset_model.n_iter_ >= 1  # the chosen one's fold fit
    assert sel.chosen in ("glad", "one_coin")  # data drawn from GLAD: the symmetric models


def _simulated(generator: str, seed: int, n_items: int = 2000, n_workers: int = 100):
    if generator == "glad":
        sim = simulate_glad(n_items, n_workers, labels_per_item=5, seed=seed)
        return sim.labels, sim.truth
    if generator == "mace":
        sim = simulate_mace(n_items, n_workers, labels_per_item=5, seed=seed)
        return sim.labels, sim.truth
    if generator == "dawid_skene":
        data, truth, _ = simulate_dawid_skene(n_items, n_workers, labels_per_item=5, n_classes=3, seed=seed)
        return data, truth
    data, truth, _ = simulate_one_coin(n_items, n_workers, labels_per_item=5, seed=seed)
    return data, truth


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("generator", ["glad", "dawid_skene", "one_coin", "mace"])
def test_auto_is_as_accurate_as_the_generating_model_at_10k_labels_on_two_seeds(generator, seed):
    data, truth = _simulated(generator, seed)
    assert data.n_labels == 10_000
    result = aggregate(data, "auto", random_state=seed)
    own = aggregate(data, generator)
    assert np.mean(result.labels == truth) >= np.mean(own.labels == truth) - 0.002, result.selection.reason
    assert np.mean(result.labels == truth) > np.mean(result.majority.labels == truth)
