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
    LARGE_FOLDS_SCORED,
    VoteModel,
    available_candidates,
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

    # GLAD: the item's b_j integrated over its posterior given the item's labels (under the fitted
    # normal distribution of b), alpha_i over its Laplace posterior; here by dense grids rather than
    # the quadratures.
    from emcrowd.models.classification import glad as glad_module
    from emcrowd.models.classification._observations import Observations

    glad = _fit("glad", data)
    got = glad.label_proba([j], [i])[0]
    prior = glad.difficulty_prior_
    obs = Observations.from_labels(data)
    w = glad.posteriors_.ravel()[obs.item_label]
    curv_a = glad_module.alpha_derivatives(glad.alpha_, glad.b_, obs, w, glad._alpha_p)[1][i]
    z = np.linspace(-8, 8, 1601)
    density = np.exp(-0.5 * z**2)
    b = prior.mean + prior.sd * z  # (grid,)
    mine = data.item == j
    k = data.n_classes
    log_joint = np.log(glad.class_prior_)[:, None] + np.log(density)[None, :]
    for o in np.flatnonzero(mine):
        s_right = 1.0 / (1.0 + np.exp(-glad.alpha_[data.worker[o]] * np.exp(b)))
        for c in range(k):
            log_joint[c] += np.log(s_right if c == data.label[o] else (1 - s_right) / (k - 1))
    p = np.exp(log_joint - log_joint.max())
    p /= p.sum()  # p(z_j = c, b_j = b | labels of j)
    a = glad.alpha_[i] + z[:, None] / np.sqrt(-curv_a)
    with np.errstate(over="ignore"):
        right = np.sum(density[:, None] / (1.0 + np.exp(-a * np.exp(b)[None, :])), axis=0) / density.sum()
    expected = np.array(
        [np.sum(p[c] * right + (p.sum(axis=0) - p[c]) * (1 - right) / (k - 1)) for c in range(k)]
    )
    np.testing.assert_allclose(got, expected, atol=2e-3)
    np.testing.assert_allclose(got.sum(), 1.0, atol=1e-12)

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
    assert selection.reason.startswith(
        ("it predicts labels it did not see", "no model predicts labels it did not see")
    )


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
    selection = select_method(data, full_data_labels=5000, subset_labels=2000)
    assert 2000 <= selection.n_labels < 2000 + 10 and selection.n_items < data.n_items
    assert selection.large and selection.fits == {}  # subset fits are not fits of the data
    assert selection.n_folds_scored == LARGE_FOLDS_SCORED < selection.n_folds
    assert set(selection.scores) == set(available_candidates()) - {"ebcc"}  # too slow for large data
    result = aggregate(data, "auto")  # the default threshold covers all of it
    assert not result.selection.large
    assert result.posteriors.shape == (data.n_items, data.n_classes)
    assert result.selection is not None and result.method == "auto"
    assert result.fitted_method == result.selection.chosen


def test_auto_returns_the_chosen_candidates_own_fit_on_all_the_labels():
    """Below the threshold nothing is fitted twice: auto's answer is the candidate fit the choice made."""
    data, _, _ = simulate_dawid_skene(300, 12, labels_per_item=4, n_classes=3, concentration=2, seed=3)
    result = aggregate(data, "auto")
    alone = aggregate(data, result.fitted_method)
    np.testing.assert_allclose(result.posteriors, alone.posteriors, atol=1e-12)
    assert result.selection.fits == {}  # the others' fits are let go of


def test_gold_is_clamped_in_the_candidate_fits_and_the_final_one():
    data, truth, _ = simulate_dawid_skene(200, 8, labels_per_item=3, n_classes=2, seed=7)
    gold = np.where(np.arange(data.n_items) % 5 == 0, truth, -1)
    selection = select_method(data, gold=gold)
    for method, fit in selection.fits.items():
        if method != "majority":  # majority vote takes no gold
            assert fit.model.n_gold_ == int((gold >= 0).sum())
    result = aggregate(data, "auto", gold=gold)
    known = gold >= 0
    assert np.all(result.labels[known] == gold[known])  # whichever method was chosen
    np.testing.assert_array_equal(result.posteriors[known], np.eye(2)[gold[known]])


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
    selection.select_method(data, gold=gold, full_data_labels=600, subset_labels=300)
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


def test_the_vote_model_is_majority_vote_with_one_shared_accuracy():
    from emcrowd.models import majority_vote

    data, _, _ = simulate_dawid_skene(300, 10, labels_per_item=5, n_classes=3, seed=11)
    model = VoteModel().fit(data)
    assert 1 / 3 < model.accuracy_ < 1
    mv = majority_vote(data)
    untied = ~mv.tied
    assert np.array_equal(model.posteriors_.argmax(axis=1)[untied], mv.labels[untied])
    proba = model.label_proba(data.item, data.worker)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # the most likely next label of an item is its vote
    assert np.array_equal(proba.argmax(axis=1)[untied[data.item]], mv.labels[data.item][untied[data.item]])


def test_fold_fits_started_from_the_full_fit_score_as_fits_from_scratch():
    """Starting a fold fit from the fit on all the labels saves iterations, not honesty: the held-out
    scores match those of fits from each model's own start (the leak through the first M-step fades
    as the fit converges on the training labels)."""
    data, _, _ = simulate_dawid_skene(400, 16, labels_per_item=5, n_classes=3, seed=12)
    methods = ("one_coin", "glad", "dawid_skene")
    warm = {m: aggregate(data, m).posteriors for m in methods}
    cold, _ = held_out_log_likelihoods(data, methods)
    started, _ = held_out_log_likelihoods(data, methods, warm=warm)
    for m in methods:
        scored = ~np.isnan(cold[m])
        assert np.array_equal(scored, ~np.isnan(started[m]))
        assert abs(np.mean(cold[m][scored]) - np.mean(started[m][scored])) < 0.002, m


def test_a_candidate_whose_answer_depends_on_its_random_starts_is_not_chosen(monkeypatch):
    import emcrowd.analysis.selection as selection

    data, _, _ = simulate_dawid_skene(300, 12, labels_per_item=4, n_classes=3, concentration=2, seed=13)
    checked = select_method(data)
    assert checked.scores["ebcc"].unstable_share is not None  # EBCC has random restarts: checked
    assert checked.scores["dawid_skene"].unstable_share is None  # one deterministic start: not
    assert checked.chosen != "ebcc" or checked.scores["ebcc"].stable
    monkeypatch.setattr(selection, "STABLE_SHARE", -1.0)  # every checked candidate counts as unstable
    strict = select_method(data)
    assert strict.chosen != "ebcc"
    assert "changed_with_restarts" in strict.to_dict()["scores"]["ebcc"]
    if strict.scores["ebcc"].score > max(s.score for m, s in strict.scores.items() if m != "ebcc"):
        assert "depends on the seed" in strict.reason


def test_auto_keeps_majority_vote_when_no_model_predicts_better():
    """Annotators that are all alike (one accuracy): weighting them cannot help, and the vote stays."""
    rng = np.random.default_rng(14)
    n_items, n_workers, per = 400, 30, 5
    truth = rng.integers(0, 2, n_items)
    item = np.repeat(np.arange(n_items), per)
    worker = np.concatenate([rng.choice(n_workers, per, replace=False) for _ in range(n_items)])
    label = np.where(rng.random(item.size) < 0.75, truth[item], 1 - truth[item])
    data = Labels(
        item=item, worker=worker, label=label, item_names=tuple(map(str, range(n_items))),
        worker_names=tuple(map(str, range(n_workers))), class_names=("0", "1"),
    )  # fmt: skip
    result = aggregate(data, "auto")
    assert result.fitted_method == "majority", result.selection.reason
    assert "vote" in result.selection.reason


def _simulated(generator: str, seed: int):
    from emcrowd.models.simulate import simulate_glad

    if generator == "glad":
        sim = simulate_glad(2000, 100, labels_per_item=5, seed=seed)
        return sim.labels, sim.truth
    if generator == "dawid_skene":
        data, truth, _ = simulate_dawid_skene(2000, 100, labels_per_item=5, n_classes=3, seed=seed)
        return data, truth
    data, truth, _ = simulate_one_coin(2000, 100, labels_per_item=5, seed=seed)
    return data, truth


@pytest.mark.slow
@pytest.mark.parametrize("generator", ["glad", "dawid_skene", "one_coin"])
def test_auto_is_as_accurate_as_the_generating_model_at_10k_labels(generator):
    data, truth = _simulated(generator, seed=0)
    assert data.n_labels == 10_000
    result = aggregate(data, "auto")
    own = aggregate(data, generator)
    assert np.mean(result.labels == truth) >= np.mean(own.labels == truth) - 0.002, result.selection.reason
    assert np.mean(result.labels == truth) > np.mean(result.majority.labels == truth)
