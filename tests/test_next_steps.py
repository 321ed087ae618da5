"""The library side of `fit --drop-flagged` and `emcrowd relabel`."""

from __future__ import annotations

import numpy as np
import pytest

from emcrowd.analysis.aggregate import aggregate, drop_flagged
from emcrowd.analysis.quality import without_workers
from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models.simulate import simulate_dawid_skene
from emcrowd.tables import RELABEL_COLUMNS, relabel_outputs
from tests.test_quality import N_CONSTANT, N_RANDOM, with_spammers


def crowd(seed: int = 0) -> tuple[Labels, np.ndarray]:
    data, truth, _ = simulate_dawid_skene(1000, 20, labels_per_item=5, n_classes=3, diagonal=0.75, seed=seed)
    return with_spammers(data, seed + 50), truth


def test_without_workers_keeps_every_item_and_renumbers():
    data = Labels(
        item=[0, 0, 1, 2],
        worker=[0, 1, 1, 2],
        label=[0, 1, 1, 0],
        item_names=("a", "b", "c"),
        worker_names=("u", "v", "w"),
        class_names=("x", "y"),
    )
    kept = without_workers(data, np.array([False, True, False]))
    assert kept.item_names == data.item_names and kept.worker_names == ("u", "w")
    assert kept.item.tolist() == [0, 2] and kept.worker.tolist() == [0, 1] and kept.label.tolist() == [0, 0]
    with pytest.raises(EmcrowdError, match="one per annotator"):
        without_workers(data, np.array([True]))


@pytest.mark.filterwarnings("ignore::emcrowd.errors.ConvergenceWarning")
@pytest.mark.parametrize("method", ["dawid_skene", "glad", "majority"])
def test_drop_flagged_drops_the_spammers_and_refits(method):
    data, truth = crowd()
    first = aggregate(data, method)
    kept, refit, dropped = drop_flagged(data, first)
    spammers = set(data.worker_names[-(N_RANDOM + N_CONSTANT) :])
    assert spammers <= set(dropped) and len(dropped) <= len(spammers) + 2
    assert kept.n_workers == data.n_workers - len(dropped) and kept.n_items == data.n_items
    assert refit.fitted_method == first.fitted_method and refit.labels.shape == (data.n_items,)
    before, after = np.mean(first.labels == truth), np.mean(refit.labels == truth)
    # majority vote counts the spammers' votes as any other: dropping them helps; a model that already
    # discounts them stays about where it was
    assert after > before if method == "majority" else after >= before - 0.01


def test_drop_flagged_without_flags_returns_the_fit():
    data, _, _ = simulate_dawid_skene(400, 10, labels_per_item=5, n_classes=2, diagonal=0.85, seed=3)
    first = aggregate(data, "dawid_skene")
    kept, refit, dropped = drop_flagged(data, first)
    assert dropped == [] and kept is data and refit is first


@pytest.mark.filterwarnings("ignore::emcrowd.errors.ConvergenceWarning")
@pytest.mark.parametrize("method", ["glad", "dawid_skene", "majority"])
def test_relabel_outputs(method):
    data, _ = crowd(1)
    out = relabel_outputs(data, aggregate(data, method), 50)
    table = out["table"]
    assert tuple(table) == RELABEL_COLUMNS and len(table["item"]) == 50
    gain = np.asarray(table["expected_gain"])
    assert np.all(np.diff(gain) <= 1e-12) and gain[0] > 0
    assert out["total_gain"] == pytest.approx(gain.sum())
    assert {a["worker"] for a in out["annotators"]} >= set(data.worker_names[-N_CONSTANT:])
    assert len(relabel_outputs(data, aggregate(data, method), 10**9)["table"]["item"]) == data.n_items
    for bad in (0, -3, 2.5, True):
        with pytest.raises(EmcrowdError, match="budget"):
            relabel_outputs(data, aggregate(data, method), bad)
