"""``--method auto``: the gold-free choice by held-out label log-likelihood, and the label predictive
distribution every model gives for it."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from emcrowd.analysis.aggregate import MODELS, aggregate
from emcrowd.analysis.selection import (
    FOLD_MAX_ITER,
    available_candidates,
    better_than_default,
    held_out_log_likelihoods,
    select_method,
)
from emcrowd.data import Labels
from emcrowd.errors import ConvergenceWarning
from emcrowd.models.simulate import simulate_dawid_skene, simulate_one_coin
from emcrowd.tables import fit_record


def untimed(obj):
    if isinstance(obj, dict):
        return {k: untimed(v) for k, v in obj.items() if k != "fit_seconds"}
    return obj


def _fit(method: str, data: Labels):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MODELS[method]().fit(data)


@pytest.mark.parametrize("method", list(MODELS))
def test_label_proba_is_a_distribution_over_the_classes(method):
    data, _, _ = simulate_dawid_skene(80, 6, labels_per_item=3, n_classes=3, seed=0)
    model = _fit(method, data)
    proba = model.label_proba(data.item, data.worker)
    assert proba.shape == (data.n_labels, data.n_classes)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)


def test_label_proba_follows_each_model_definition():
    data, _, _ = simulate_dawid_skene(50, 5, labels_per_item=3, n_classes=3, seed=1)
    ds = _fit("dawid_skene", data)
    o = 7
    i, j = data.worker[o], data.item[o]
    expected = ds.posteriors_[j] @ ds.confusion_[i]
    np.testing.assert_allclose(ds.label_proba([j], [i])[0], expected, atol=1e-12)

    # GLAD: P(right) = sigmoid(alpha_i beta_j) averaged over the Laplace posteriors of alpha_i and
    # b_j (curvatures of the M-step objective), here by a dense grid rather than the quadrature.
    from emcrowd.models.classification import glad as glad_module
    from emcrowd.models.classification._observations import Observations

    glad = _fit("glad", data)
    obs = Observations.from_labels(data)
    w = glad.posteriors_.ravel()[obs.item_label]
    curv_a = glad_module.alpha_derivatives(glad.alpha_, glad.b_, obs, w, glad._alpha_p)[1][i]
    _, newton, fisher = glad_module.b_derivatives(glad.alpha_, glad.b_, obs, w, glad._b_p)
    curv_b = min(newton[j], 0.5 * fisher[j])
    z = np.linspace(-8, 8, 1601)
    density = np.exp(-0.5 * z**2)
    a = glad.alpha_[i] + z[:, None] / np.sqrt(-curv_a)
    b = glad.b_[j] + z[None, :] / np.sqrt(-curv_b)
    weights = density[:, None] * density[None, :]
    with np.errstate(over="ignore"):
        right = np.sum(weights / (1.0 + np.exp(-a * np.exp(b)))) / weights.sum()
    q = glad.posteriors_[j]
    expected = q * right + (1 - q) * (1 - right) / (data.n_classes - 1)
    np.testing.assert_allclose(glad.label_proba([j], [i])[0], expected, atol=2e-4)
    plug_in = 1.0 / (1.0 + np.exp(-glad.alpha_[i] * glad.beta_[j]))
    assert abs(right - 0.5) < abs(plug_in - 0.5)  # uncertainty pulls the prediction towards chance

    coin = _fit("one_coin", data)
    a = coin.accuracy_[i]
    q = coin.posteriors_[j]
    np.testing.assert_allclose(coin.label_proba([j], [i])[0], q * a + (1 - q) * (1 - a) / 2, atol=1e-12)


def test_label_proba_checks_its_arguments_and_the_fit():
    from emcrowd.errors import EmcrowdError

    data, _, _ = simulate_dawid_skene(20, 4, labels_per_item=2, seed=0)
    with pytest.raises(EmcrowdError, match="not fitted"):
        MODELS["glad"]().label_proba([0], [0])
    with pytest.raises(EmcrowdError, match="same length"):
        _fit("glad", data).label_proba([0, 1], [0])


def test_held_out_scores_come_from_fits_that_did_not_see_the_label():
    """Each scored label's value is what a model fitted without that label's fold gives it; labels of
    an annotator (or item) that has no other labels are not scored."""
    from emcrowd.analysis.selection import _folds, _without

    data, _, _ = simulate_dawid_skene(200, 8, labels_per_item=4, n_classes=2, seed=2)
    lonely = Labels(  # one more annotator with a single label: never seen when it is held out
        item=np.append(data.item, 0),
        worker=np.append(data.worker, data.n_workers),
        label=np.append(data.label, 1),
        item_names=data.item_names,
        worker_names=(*data.worker_names, "lonely"),
        class_names=data.class_names,
    )
    per_label, seconds = held_out_log_likelihoods(lonely, ("one_coin", "dawid_skene"), n_folds=4)
    assert set(seconds) == {"one_coin", "dawid_skene"}
    assert np.isnan(per_label["dawid_skene"][-1]) and np.isnan(per_label["one_coin"][-1])
    scored = ~np.isnan(per_label["dawid_skene"])
    assert np.array_equal(scored, ~np.isnan(per_label["one_coin"]))  # the same labels for everyone
    assert scored[:-1].mean() > 0.95
    # Fold 0 by hand: fit on the other folds, score the fold's labels.
    fold = _folds(lonely, 4, np.random.default_rng([0, 2]))
    test = (fold == 0) & scored
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MODELS["dawid_skene"](max_iter=FOLD_MAX_ITER, n_init=1).fit(_without(lonely, fold != 0))
    proba = model.label_proba(lonely.item[test], lonely.worker[test])[
        np.arange(test.sum()), lonely.label[test]
    ]
    np.testing.assert_allclose(per_label["dawid_skene"][test], np.log(proba), rtol=1e-10)


def test_standard_error_is_clustered_by_item_and_annotator():
    from emcrowd.analysis.selection import _scores

    rng = np.random.default_rng(0)
    n = 60
    data = Labels(
        item=np.arange(n) // 3,
        worker=rng.integers(0, 6, n),
        label=np.zeros(n, dtype=int),
        item_names=tuple(f"i{j}" for j in range(n // 3)),
        worker_names=tuple(f"w{i}" for i in range(6)),
        class_names=("0", "1"),
    )
    best = -rng.random(n) * 0.5
    other = best - rng.random(n) * (1 + data.worker)  # the gap differs by annotator: worker clusters
    scores = _scores(data, {"a": other, "b": best}, {"a": 0.0, "b": 0.0}, ("a", "b"))
    d = best - other
    mean = d.mean()
    by_item = sum((d[data.item == j] - mean).sum() ** 2 for j in range(data.n_items))
    by_worker = sum((d[data.worker == i] - mean).sum() ** 2 for i in range(data.n_workers))
    by_label = ((d - mean) ** 2).sum()
    assert by_item + by_worker - by_label > 0
    assert scores["b"].se == 0.0
    assert scores["a"].se == pytest.approx(np.sqrt(by_item + by_worker - by_label) / n, rel=1e-12)
    assert scores["a"].score == pytest.approx(other.mean())
    assert scores["b"].score == pytest.approx(best.mean())


def test_auto_picks_a_confusion_model_for_class_biased_annotators():
    data, truth, _ = simulate_dawid_skene(600, 20, labels_per_item=5, n_classes=3, concentration=2, seed=0)
    selection = select_method(data)
    assert selection.chosen in ("dawid_skene", "bayesian_ds", "ebcc")
    result = aggregate(data, "auto")
    coin = aggregate(data, "one_coin")
    assert np.mean(result.labels == truth) > np.mean(coin.labels == truth) + 0.03


def test_auto_prefers_the_simpler_model_on_one_coin_data():
    data, _, _ = simulate_one_coin(600, 20, labels_per_item=5, n_classes=3, seed=0)
    selection = select_method(data)
    assert selection.chosen == "one_coin"
    assert selection.scores["one_coin"].score >= max(s.score for s in selection.scores.values()) - 0.01


def test_the_choice_follows_the_one_standard_error_rule():
    data, _, _ = simulate_dawid_skene(300, 12, labels_per_item=4, n_classes=2, seed=4)
    selection = select_method(data)
    candidates = available_candidates()
    assert list(selection.scores) == list(candidates)
    top = selection.scores[selection.best].score
    assert top == max(s.score for s in selection.scores.values())
    assert selection.scores[selection.best].se == 0.0
    for method in candidates[: candidates.index(selection.chosen)]:  # every simpler one was too far
        assert selection.scores[method].score < top - selection.scores[method].se
    chosen = selection.scores[selection.chosen]
    assert chosen.score >= top - chosen.se
    assert selection.reason.startswith(("the best held-out score", "within one standard error"))


def test_auto_is_seeded_and_independent_of_row_order_and_codes():
    data, _, _ = simulate_dawid_skene(150, 8, labels_per_item=3, n_classes=3, seed=5)
    # EBCC's random start (a split of every item into subtypes) is drawn in item-code order, so its
    # fit, unlike the others', changes a little when the items are coded in another order.
    candidates = tuple(m for m in available_candidates() if m != "ebcc")
    first = select_method(data, candidates=candidates, random_state=3)
    again = select_method(data, candidates=candidates, random_state=3)
    assert untimed(first.to_dict()) == untimed(again.to_dict())
    # The same labels with the rows shuffled and the items and annotators coded in another order.
    rng = np.random.default_rng(0)
    order = rng.permutation(data.n_labels)
    item_perm, worker_perm = rng.permutation(data.n_items), rng.permutation(data.n_workers)
    item_names = np.empty(data.n_items, dtype=object)
    item_names[item_perm] = data.item_names
    worker_names = np.empty(data.n_workers, dtype=object)
    worker_names[worker_perm] = data.worker_names
    recoded = Labels(
        item=item_perm[data.item[order]],
        worker=worker_perm[data.worker[order]],
        label=data.label[order],
        item_names=tuple(item_names),
        worker_names=tuple(worker_names),
        class_names=data.class_names,
    )
    other = select_method(recoded, candidates=candidates, random_state=3)
    assert other.chosen == first.chosen
    for m in first.scores:
        assert other.scores[m].score == pytest.approx(first.scores[m].score, abs=1e-9)
        assert other.scores[m].se == pytest.approx(first.scores[m].se, abs=1e-9)


def test_large_data_is_scored_on_a_subset_and_fitted_whole():
    data, _, _ = simulate_dawid_skene(2000, 30, labels_per_item=5, n_classes=2, seed=6)
    selection = select_method(data, max_labels=2000)
    assert 2000 <= selection.n_labels < 2000 + 10 and selection.n_items < data.n_items
    assert selection.n_folds_scored == 1 and selection.to_dict()["n_folds_scored"] == 1
    assert set(selection.scores) == set(available_candidates()) - {"ebcc"}  # too slow for large data
    result = aggregate(data, "auto")  # the default max_labels covers all of it
    assert result.posteriors.shape == (data.n_items, data.n_classes)
    assert result.selection is not None and result.method == "auto"
    assert result.fitted_method == result.selection.chosen


def test_gold_is_clamped_in_the_candidate_fits_and_the_final_one():
    data, truth, _ = simulate_dawid_skene(200, 8, labels_per_item=3, n_classes=2, seed=7)
    gold = np.where(np.arange(data.n_items) % 5 == 0, truth, -1)
    result = aggregate(data, "auto", gold=gold)
    known = gold >= 0
    assert np.all(result.labels[known] == gold[known])
    assert result.model.n_gold_ == int(known.sum())


def test_gold_follows_its_items_into_the_subset(monkeypatch):
    """On a subset, every candidate's fit gets the gold codes of the subset's own items."""
    import emcrowd.analysis.selection as selection

    data, truth, _ = simulate_dawid_skene(400, 8, labels_per_item=3, n_classes=2, seed=9)
    gold = np.where(np.arange(data.n_items) % 3 == 0, truth, -1)
    seen = []

    def spy(subset, methods, **kw):
        seen.append((subset, kw["gold"]))
        return real(subset, methods, **kw)

    real = selection.held_out_log_likelihoods
    monkeypatch.setattr(selection, "held_out_log_likelihoods", spy)
    selection.select_method(data, gold=gold, max_labels=300)
    subset, sub_gold = seen[0]
    assert subset.n_items < data.n_items and sub_gold.shape == (subset.n_items,)
    position = {name: j for j, name in enumerate(data.item_names)}
    expected = np.array([gold[position[name]] for name in subset.item_names])
    assert np.array_equal(sub_gold, expected)


@pytest.mark.parametrize("n_labels", [1, 2, 5, 9])
def test_tiny_data_falls_back_to_the_least_flexible_candidate(n_labels):
    rng = np.random.default_rng(n_labels)
    data = Labels(
        item=np.arange(n_labels) // 2,
        worker=np.arange(n_labels) % 2,
        label=rng.integers(0, 2, n_labels),
        item_names=tuple(f"i{j}" for j in range((n_labels + 1) // 2)),
        worker_names=("a", "b"),
        class_names=("0", "1"),
    )
    selection = select_method(data)
    assert selection.chosen == available_candidates()[0]
    assert "too few labels" in selection.reason
    json.dumps(selection.to_dict(), allow_nan=False)  # no NaN in the JSON
    assert aggregate(data, "auto").labels.shape == (data.n_items,)


def test_a_single_class_used_still_chooses():
    data = Labels(
        item=np.repeat(np.arange(40), 3),
        worker=np.tile(np.arange(3), 40),
        label=np.zeros(120, dtype=int),
        item_names=tuple(f"i{j}" for j in range(40)),
        worker_names=("a", "b", "c"),
        class_names=("yes", "no"),
    )
    result = aggregate(data, "auto")
    assert result.selection.chosen in available_candidates()
    assert np.all(result.labels == 0)


def test_summary_records_every_candidate_and_the_choice():
    data, _, _ = simulate_dawid_skene(100, 6, labels_per_item=3, seed=8)
    record = fit_record(data, aggregate(data, "auto"))
    assert record["method"] == "auto"
    sel = record["selection"]
    assert record["fitted_method"] == sel["chosen"]
    assert set(sel["scores"]) == set(available_candidates())
    assert sel["reason"] and sel["n_folds"] == 5
    json.dumps(record, allow_nan=False)


def test_the_fit_hint_names_a_better_model_only_when_there_is_one():
    biased, _, _ = simulate_dawid_skene(600, 20, labels_per_item=5, n_classes=3, concentration=2, seed=0)
    found = better_than_default(biased)
    assert found is not None
    other, theirs, mine = found
    assert other in ("bayesian_ds", "dawid_skene") and theirs.score > mine.score
    # one-coin data: GLAD (one-coin with item difficulty) is as good as a confusion matrix per annotator
    symmetric, _, _ = simulate_one_coin(600, 20, labels_per_item=5, n_classes=2, seed=1)
    assert better_than_default(symmetric, default="one_coin") is None


def test_cli_fit_auto_and_compare_auto_row(tmp_path):
    from typer.testing import CliRunner

    from emcrowd.cli import app
    from tests.helpers import ROOT

    sample = ROOT / "sample_data"
    runner = CliRunner()
    res = runner.invoke(app, ["fit", str(sample / "L.npy"), "--method", "auto", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "auto chose" in res.stderr and "Held-out log-likelihood" in res.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["method"] == "auto" and summary["fitted_method"] == summary["selection"]["chosen"]

    res = runner.invoke(app, ["compare", str(sample / "L.npy"), "-t", str(sample / "y.npy"), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    auto = report["methods"]["auto"]
    assert auto["chosen"] in available_candidates()
    assert auto["selection"]["chosen"] == auto["chosen"]
    assert "auto → " in res.stderr and "auto (chosen without the truth) chose" in res.stderr
