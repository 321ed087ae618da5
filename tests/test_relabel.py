"""What to relabel: the expected gain of one more label, the vote split, and the simulation check."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from emcrowd.analysis.quality import annotator_quality, flagged, workers_to_review
from emcrowd.analysis.relabel import (
    crowd_annotators,
    expected_gain,
    posterior_margin,
    relabel_plan,
    relabel_table,
    vote_margin,
    vote_split,
)
from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models.classification.dawid_skene import DawidSkene, OneCoin
from emcrowd.models.classification.glad import GLAD
from emcrowd.models.classification.majority import vote_counts
from emcrowd.models.simulate import simulate_dawid_skene, simulate_glad
from tests.helpers import ROOT


def small_labels(item, worker, label, n_items=4, n_workers=3, classes=("cat", "dog", "fox")) -> Labels:
    return Labels(
        item=item,
        worker=worker,
        label=label,
        item_names=tuple(f"i{j}" for j in range(n_items)),
        worker_names=tuple(f"w{i}" for i in range(n_workers)),
        class_names=classes,
    )


def test_vote_split_and_margins_by_hand():
    data = small_labels(
        item=[0, 0, 0, 1, 1, 2, 2, 2, 2],
        worker=[0, 1, 2, 0, 1, 0, 1, 2, 2],
        label=[1, 1, 0, 2, 0, 2, 1, 2, 1],
    )
    assert list(vote_split(data)) == ["dog:2;cat:1", "cat:1;fox:1", "dog:2;fox:2", ""]
    np.testing.assert_array_equal(vote_margin(vote_counts(data)), [1, 0, 0, 0])
    q = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(posterior_margin(q), [0.3, 0.4, 0.0, 0.0], atol=1e-15)
    with pytest.raises(EmcrowdError, match="shape"):
        vote_split(data, np.zeros((3, 3)))


def bayes_gain(q: np.ndarray, confusions: np.ndarray, weights: np.ndarray) -> float:
    """One item's gain by the explicit Bayes update, label by label: ``confusions`` (S, K, K)."""
    expected = 0.0
    for c, w in zip(confusions, weights, strict=True):
        for label in range(q.size):
            p_label = float(q @ c[:, label])
            if p_label > 0:
                updated = q * c[:, label] / p_label
                expected += w * p_label * updated.max()
    return expected - q.max()


def symmetric(right: float, k: int) -> np.ndarray:
    c = np.full((k, k), (1 - right) / (k - 1))
    np.fill_diagonal(c, right)
    return c


@pytest.mark.parametrize("model_class", [DawidSkene, OneCoin, GLAD])
def test_gain_equals_the_explicit_bayes_update(model_class):
    data, _, _ = simulate_dawid_skene(120, 8, labels_per_item=3, n_classes=3, seed=0)
    model = model_class().fit(data)
    workers, weights = crowd_annotators(data, model)
    gain = expected_gain(data, model, workers=workers, weights=weights)
    for j in range(0, data.n_items, 7):
        if model_class is DawidSkene:
            confusions = model.confusion_[workers]
        elif model_class is OneCoin:
            confusions = np.stack([symmetric(model.accuracy_[s], 3) for s in workers])
        else:
            right = 1 / (1 + np.exp(-model.alpha_[workers] * model.beta_[j]))
            confusions = np.stack([symmetric(r, 3) for r in right])
        assert gain[j] == pytest.approx(bayes_gain(model.posteriors_[j], confusions, weights), abs=1e-12)
    assert np.all(gain >= 0) and np.all(gain <= 1 - model.posteriors_.max(axis=1) + 1e-12)
    assert gain.max() > 0


def test_gold_items_gain_nothing():
    sim = simulate_glad(200, 10, labels_per_item=3, seed=1)
    gold = np.full(200, -1)
    gold[:50] = sim.truth[:50]
    model = GLAD().fit(sim.labels, gold=gold)
    gain = expected_gain(sim.labels, model)
    assert np.all(gain[:50] == 0) and gain[50:].max() > 0


def test_a_hard_split_item_gains_less_than_a_fresh_one():
    # A GLAD crowd, plus item "hard" split 5:5 by ten annotators and item "fresh" with no labels:
    # both are coin flips to the model, but the split says "hard" is hard (low beta), so one more
    # label on it is worth less.
    sim = simulate_glad(400, 20, labels_per_item=5, alpha_mean=1.5, alpha_sd=0.3, seed=2)
    d = sim.labels
    hard, fresh = d.n_items, d.n_items + 1
    data = Labels(
        item=np.concatenate([d.item, np.full(10, hard)]),
        worker=np.concatenate([d.worker, np.arange(10)]),
        label=np.concatenate([d.label, np.arange(10) % 2]),
        item_names=(*d.item_names, "hard", "fresh"),
        worker_names=d.worker_names,
        class_names=d.class_names,
    )
    model = GLAD().fit(data)
    gain = expected_gain(data, model)
    assert abs(model.posteriors_[hard, 0] - 0.5) < 0.2 and model.posteriors_[fresh, 0] == pytest.approx(0.5)
    assert model.beta_[hard] < model.beta_[fresh]
    assert gain[hard] < gain[fresh]
    # the ranking is by gain, not by confidence: "fresh" comes before "hard"
    ranked = list(relabel_table(data, model)["item"])
    assert ranked.index("fresh") < ranked.index("hard")


def test_crowd_annotators_leave_out_flagged_and_stand_for_many():
    sim = simulate_glad(600, 80, labels_per_item=5, seed=3)
    model = GLAD().fit(sim.labels)
    exclude = np.zeros(80, dtype=bool)
    exclude[:10] = True
    workers, weights = crowd_annotators(sim.labels, model, exclude=exclude, max_annotators=100)
    assert set(workers) == set(range(10, 80)) and weights.sum() == pytest.approx(1.0)
    n = sim.labels.labels_per_worker()
    np.testing.assert_allclose(weights, n[workers] / n[workers].sum())
    workers, weights = crowd_annotators(sim.labels, model, exclude=exclude, max_annotators=7)
    assert workers.size == 7 and np.all(workers >= 10) and np.allclose(weights, 1 / 7)
    accuracy = annotator_quality(sim.labels, model)["accuracy"]
    assert np.all(np.diff(accuracy[workers]) >= 0)  # evenly spaced quantiles, in accuracy order
    everyone = np.ones(80, dtype=bool)  # excluding everybody would leave nobody: ignored
    assert crowd_annotators(sim.labels, model, exclude=everyone)[0].size == 50
    with pytest.raises(EmcrowdError, match="max_annotators"):
        crowd_annotators(sim.labels, model, max_annotators=0)


def test_relabel_table_and_plan():
    labels, _, _ = simulate_dawid_skene(300, 15, labels_per_item=3, n_classes=3, seed=4)
    model = DawidSkene().fit(labels)
    table = relabel_table(labels, model)
    assert set(table) == {
        "item",
        "label",
        "confidence",
        "votes",
        "n_labels",
        "margin",
        "vote_margin",
        "expected_gain",
    }
    assert all(len(col) == labels.n_items for col in table.values())
    gain = np.asarray(table["expected_gain"])
    assert np.all(np.diff(gain) <= 0)
    np.testing.assert_allclose(
        np.sort(gain), np.sort(expected_gain(labels, model, **crowd_pool(labels, model)))
    )
    j = int(table["item"][0])
    assert table["label"][0] == labels.class_names[model.labels_[j]]
    assert table["confidence"][0] == pytest.approx(model.posteriors_[j].max())
    assert table["n_labels"][0] == labels.labels_per_item()[j]
    assert list(relabel_table(labels, model, limit=5)["item"]) == list(table["item"][:5])
    plan = relabel_plan(labels, model, limit=3)
    assert len(plan["items"]["item"]) == 3
    assert plan["annotators"] == workers_to_review(annotator_quality(labels, model))
    with pytest.raises(EmcrowdError, match="limit"):
        relabel_table(labels, model, limit=-1)


def crowd_pool(labels: Labels, model) -> dict[str, np.ndarray]:
    """The crowd relabel_table draws the new annotator from: the unflagged annotators."""
    workers, weights = crowd_annotators(labels, model, exclude=flagged(annotator_quality(labels, model)))
    return {"workers": workers, "weights": weights}


def test_bad_pools_are_refused():
    sim = simulate_glad(50, 5, seed=5)
    model = GLAD().fit(sim.labels)
    with pytest.raises(EmcrowdError, match="same length"):
        expected_gain(sim.labels, model, workers=np.array([0, 1]), weights=np.array([1.0]))
    with pytest.raises(EmcrowdError, match="sum to 1"):
        expected_gain(sim.labels, model, workers=np.array([0, 1]), weights=np.array([0.2, 0.2]))


def load_benchmark():
    spec = importlib.util.spec_from_file_location("relabel_benchmark", ROOT / "benchmarks" / "relabel.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_relabelling_the_ranked_items_beats_random_items():
    # The small version of benchmarks/relabel.py: a GLAD crowd of 2000 items with 5 labels each, 20%
    # more labels; mean accuracy gain over two simulations.
    bench = load_benchmark()
    ranked, random = bench.mean_gains("GLAD crowd, GLAD fit", 2000, 5, 0.20, range(2))
    assert random > 0 and ranked >= 2 * random, (ranked, random)
