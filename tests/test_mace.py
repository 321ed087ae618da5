"""MACE: the guarantees every EM model has (monotone objective, recovery on its own simulations, gold
clamped, seeded restarts, engines that agree), the published behaviour on spammers, and its outputs."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from typer.testing import CliRunner

from emcrowd import majority_vote
from emcrowd.analysis.aggregate import aggregate
from emcrowd.analysis.quality import annotator_confusions, estimated_accuracy
from emcrowd.cli import app
from emcrowd.data import Labels
from emcrowd.errors import ConvergenceWarning, EmcrowdError
from emcrowd.io import load_labels, load_truth
from emcrowd.models import MODELS, method_name
from emcrowd.models.classification.dawid_skene import DawidSkene
from emcrowd.models.classification.mace import MACE
from emcrowd.models.simulate import simulate_dawid_skene, simulate_mace
from tests.helpers import DATASETS, assert_non_decreasing, needs_datasets


def _fit_all_iterations(model: MACE, data: Labels, gold: np.ndarray | None = None) -> MACE:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0 runs to max_iter unless EM stalls
        return model.fit(data, gold=gold)


# -- the EM guarantees ----------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("n_classes", [2, 3, 4, 5])
@pytest.mark.parametrize(
    ("n_items", "n_workers", "per_item", "seed"), [(60, 5, 3, 0), (400, 20, 5, 1), (1500, 40, 4, 2)]
)
@pytest.mark.parametrize(
    "options",
    [{}, {"smoothing": 0.0}, {"smoothing": 2.0, "competence_prior": (3.0, 1.0)}, {"learn_class_prior": True}],
    ids=["default", "no-smoothing", "priors", "learned-prior"],
)
def test_objective_never_decreases(engine, n_classes, n_items, n_workers, per_item, seed, options):
    sim = simulate_mace(n_items, n_workers, labels_per_item=per_item, n_classes=n_classes, seed=seed)
    model = _fit_all_iterations(MACE(tol=0, max_iter=60, engine=engine, **options), sim.labels)
    assert model.engine_ == engine
    assert_non_decreasing(model.history_)
    assert np.allclose(model.posteriors_.sum(axis=1), 1.0)
    assert np.allclose(model.spam_distribution_.sum(axis=1), 1.0)
    assert np.all((model.competence_ >= 0) & (model.competence_ <= 1))


def test_objective_never_decreases_on_other_models_data():
    labels, _, _ = simulate_dawid_skene(500, 12, labels_per_item=4, n_classes=3, concentration=2, seed=9)
    for seed in range(3):
        model = _fit_all_iterations(MACE(tol=0, max_iter=80, n_init=3, random_state=seed), labels)
        assert_non_decreasing(model.history_)


def _dense_objective(model: MACE, data: Labels) -> tuple[np.ndarray, float]:
    """The posteriors and log posterior of the fitted parameters, from the definition, item by item."""
    theta, xi = model.competence_, model.spam_distribution_
    log_pi = np.log(model.class_prior_)
    k = data.n_classes
    L = data.to_matrix()
    post = np.empty((data.n_items, k))
    evidence = 0.0
    for j in range(data.n_items):
        scores = log_pi.copy()
        for i in range(data.n_workers):
            if not np.isnan(L[j, i]):
                said = int(L[j, i])
                scores += np.log(theta[i] * (np.arange(k) == said) + (1 - theta[i]) * xi[i, said])
        evidence += logsumexp(scores)
        post[j] = np.exp(scores - logsumexp(scores))
    s = model.smoothing
    prior = s * (np.log(theta).sum() + np.log1p(-theta).sum() + np.log(xi).sum())
    return post, evidence + prior


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_posteriors_and_objective_match_the_definition(engine):
    sim = simulate_mace(40, 6, labels_per_item=3, n_classes=3, seed=3)
    model = MACE(engine=engine, smoothing=0.5).fit(sim.labels)
    post, objective = _dense_objective(model, sim.labels)
    # the final E-step ran with the final parameters: its posteriors and objective are theirs
    np.testing.assert_allclose(model.posteriors_, post, atol=1e-10)
    assert model.lower_bound_ == pytest.approx(objective, rel=1e-10)


def test_m_step_maximises_the_objective_locally():
    """At convergence no small move of one annotator's parameters raises the log posterior (EM's
    fixed point is a stationary point of the marginal objective)."""
    sim = simulate_mace(150, 6, labels_per_item=4, n_classes=3, seed=4)
    model = MACE(smoothing=0.5, tol=1e-12, max_iter=5000).fit(sim.labels)
    _, best = _dense_objective(model, sim.labels)
    rng = np.random.default_rng(0)
    theta, xi = model.competence_.copy(), model.spam_distribution_.copy()
    for _ in range(10):
        i = rng.integers(sim.labels.n_workers)
        model.competence_ = theta.copy()
        model.spam_distribution_ = xi.copy()
        model.competence_[i] = np.clip(theta[i] + rng.normal(0, 0.02), 1e-6, 1 - 1e-6)
        moved = xi[i] * np.exp(rng.normal(0, 0.05, size=3))
        model.spam_distribution_[i] = moved / moved.sum()
        assert _dense_objective(model, sim.labels)[1] <= best + 1e-8


# -- recovery on its own simulations ------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_recovers_competence_spam_distributions_and_labels(n_classes):
    sim = simulate_mace(4000, 25, labels_per_item=6, n_classes=n_classes, seed=10 + n_classes)
    model = MACE().fit(sim.labels)
    assert model.converged_
    assert np.abs(model.competence_ - sim.competence).mean() < 0.03
    # a spam distribution is seen only through the annotator's spam: judge it where there is plenty
    spammy = sim.competence < 0.5
    assert np.abs(model.spam_distribution_ - sim.spam_distribution)[spammy].mean() < 0.03
    accuracy = np.mean(model.labels_ == sim.truth)
    assert accuracy > np.mean(majority_vote(sim.labels).labels == sim.truth) + 0.02
    assert accuracy >= np.mean(DawidSkene().fit(sim.labels).labels_ == sim.truth) - 0.005


def test_identifies_spammers():
    """The paper's first claim: competence separates spammers from good annotators."""
    sim = simulate_mace(2000, 30, labels_per_item=5, n_classes=2, spammer_share=0.4, seed=21)
    model = MACE().fit(sim.labels)
    assert model.competence_[sim.spammer].max() < 0.3
    assert model.competence_[~sim.spammer].min() > 0.5
    # and the quality analysis flags them from the implied confusion matrices
    quality = estimated_accuracy(sim.labels, model)
    np.testing.assert_allclose(quality, model.accuracy_, atol=1e-12)


def _fixed_class_spammers(seed: int, n_items: int = 1000) -> tuple[Labels, np.ndarray]:
    """Six annotators of seven spam one class (always class 0) half the time; the seventh is good. Every
    annotator labels every item. On class-1 items the crowd votes 0 more often than not."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, size=n_items)
    competence = np.array([0.45, 0.45, 0.4, 0.4, 0.35, 0.35, 0.8])
    honest = rng.random((n_items, 7)) < competence
    label = np.where(honest, truth[:, None], 0)
    label[:, 6] = np.where(honest[:, 6], truth, 1 - truth)  # the good one errs evenly
    data = Labels.from_matrix(label.astype(float))
    return data, truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beats_majority_vote_when_many_annotators_spam_one_class(seed):
    data, truth = _fixed_class_spammers(seed)
    model = MACE().fit(data)
    mace_acc = np.mean(model.labels_ == truth)
    vote_acc = np.mean(majority_vote(data).labels == truth)
    assert vote_acc < 0.8
    assert mace_acc > 0.95
    # the spam went where it was: all on class 0
    assert np.all(model.spam_distribution_[:6, 0] > 0.95)


# -- gold, restarts, engines --------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_gold_is_clamped(engine):
    sim = simulate_mace(400, 10, labels_per_item=4, n_classes=3, seed=5)
    gold = np.full(sim.truth.shape, -1)
    gold[::4] = sim.truth[::4]
    model = MACE(engine=engine).fit(sim.labels, gold=gold)
    known = gold >= 0
    np.testing.assert_array_equal(model.posteriors_[known], np.eye(3)[gold[known]])
    assert model.n_gold_ == known.sum()
    assert_non_decreasing(model.history_)
    # gold teaches: the labels of the other items are at least as good as without it
    plain = MACE(engine=engine).fit(sim.labels)
    rest = ~known
    assert (
        np.mean(model.labels_[rest] == sim.truth[rest])
        >= np.mean(plain.labels_[rest] == sim.truth[rest]) - 0.01
    )


def test_seeded_restarts_are_reproducible_and_keep_the_best():
    sim = simulate_mace(300, 12, labels_per_item=3, n_classes=4, seed=6)
    first = MACE(n_init=4, random_state=3).fit(sim.labels)
    again = MACE(n_init=4, random_state=3).fit(sim.labels)
    other = MACE(n_init=4, random_state=4).fit(sim.labels)
    assert first.init_objectives_ == again.init_objectives_
    np.testing.assert_array_equal(first.posteriors_, again.posteriors_)
    np.testing.assert_array_equal(first.competence_, again.competence_)
    assert first.init_objectives_[0] == other.init_objectives_[0]  # the majority-vote start
    assert first.init_objectives_[1:] != other.init_objectives_[1:]
    assert first.lower_bound_ == max(first.init_objectives_)
    assert first.init_objectives_[first.best_init_] == first.lower_bound_


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("with_gold", [False, True])
def test_numpy_and_numba_engines_agree(n_classes, with_gold):
    sim = simulate_mace(800, 15, labels_per_item=4, n_classes=n_classes, seed=7)
    gold = np.where(np.arange(800) % 5 == 0, sim.truth, -1) if with_gold else None
    # items not in file order: the compiled engine groups them first
    order = np.random.default_rng(0).permutation(sim.labels.n_labels)
    data = Labels(
        item=sim.labels.item[order],
        worker=sim.labels.worker[order],
        label=sim.labels.label[order],
        item_names=sim.labels.item_names,
        worker_names=sim.labels.worker_names,
        class_names=sim.labels.class_names,
    )
    fits = [
        _fit_all_iterations(MACE(engine=e, tol=0, max_iter=40, learn_class_prior=True), data, gold)
        for e in ("numpy", "numba")
    ]
    a, b = fits
    np.testing.assert_allclose(a.history_, b.history_, rtol=1e-11)
    np.testing.assert_allclose(a.posteriors_, b.posteriors_, atol=1e-9)
    np.testing.assert_allclose(a.competence_, b.competence_, atol=1e-9)
    np.testing.assert_allclose(a.spam_distribution_, b.spam_distribution_, atol=1e-9)


def test_engine_auto_and_bad_options():
    sim = simulate_mace(50, 5, labels_per_item=3, seed=8)
    assert MACE().fit(sim.labels).engine_ == "numpy"  # small input: no numba import
    with pytest.raises(EmcrowdError, match="engine"):
        MACE(engine="gpu").fit(sim.labels)
    with pytest.raises(EmcrowdError, match="smoothing"):
        MACE(smoothing=-1).fit(sim.labels)
    with pytest.raises(EmcrowdError, match="competence_prior"):
        MACE(competence_prior=(1.0, -2.0)).fit(sim.labels)
    with pytest.raises(EmcrowdError, match="competence_prior"):
        MACE(competence_prior="strong").fit(sim.labels)  # type: ignore[arg-type]


# -- what the fitted model gives ----------------------------------------------------------------------
def test_implied_confusion_label_proba_and_quality():
    sim = simulate_mace(300, 8, labels_per_item=4, n_classes=3, seed=12)
    model = MACE().fit(sim.labels)
    confusion = annotator_confusions(sim.labels, model)
    np.testing.assert_allclose(confusion.sum(axis=2), 1.0)
    theta, xi = model.competence_, model.spam_distribution_
    for i in range(3):
        expected = (1 - theta[i]) * np.tile(xi[i], (3, 1)) + theta[i] * np.eye(3)
        np.testing.assert_allclose(confusion[i], expected)
    item, worker = sim.labels.item, sim.labels.worker
    proba = model.label_proba(item, worker)
    reference = np.einsum("nk,nkl->nl", model.posteriors_[item], confusion[worker])
    np.testing.assert_allclose(proba, reference, atol=1e-12)
    np.testing.assert_allclose(model.accuracy_, np.einsum("ikk->ik", confusion) @ model.class_prior_)


def test_registered_as_a_method():
    assert MODELS["mace"] is MACE
    assert method_name("MACE") == "mace"
    sim = simulate_mace(100, 6, labels_per_item=3, seed=13)
    result = aggregate(sim.labels, "mace", smoothing=0.1)
    assert result.model.smoothing == 0.1 and result.model.get_params()["competence_prior"] is None


runner = CliRunner()


def test_cli_fit_writes_competence_and_spam_columns(tmp_path):
    data, _ = _fixed_class_spammers(0, n_items=200)
    rows = [("item", "worker", "label")]
    names = ("no", "yes")
    for j, i, label in zip(data.item, data.worker, data.label, strict=True):
        rows.append((f"q{data.item_names[j]}", f"w{data.worker_names[i]}", names[label]))
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    res = runner.invoke(
        app, ["fit", str(tmp_path / "labels.csv"), "--method", "mace", "--out", str(tmp_path / "out")]
    )
    assert res.exit_code == 0, res.stderr
    assert "MACE" in res.stderr and "Annotators by competence" in res.stderr
    with open(tmp_path / "out" / "workers.csv", newline="") as fh:
        workers = list(csv.DictReader(fh))
    assert list(workers[0])[-3:] == ["competence", "spam_no", "spam_yes"]
    by_name = {w["worker"]: w for w in workers}
    for i in range(6):  # the spammers: less competent than the good one (0.8 right: competence 0.6)
        row = by_name[f"w{i}"]
        assert float(row["competence"]) < float(by_name["w6"]["competence"])
        assert float(row["spam_no"]) > 0.95
        assert float(row["spam_no"]) + float(row["spam_yes"]) == pytest.approx(1.0, abs=1e-6)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["method"] == "mace" and summary["options"]["smoothing"] == 0.01
    with open(tmp_path / "out" / "confusion.csv", newline="") as fh:
        confusion = list(csv.DictReader(fh))
    assert len(confusion) == 7 * 2 * 2


def test_cli_compare_includes_mace(tmp_path):
    sim = simulate_mace(300, 10, labels_per_item=4, n_classes=3, seed=14)
    np.save(tmp_path / "L.npy", sim.labels.to_matrix())
    np.save(tmp_path / "y.npy", sim.truth)
    res = runner.invoke(
        app,
        [
            "compare",
            str(tmp_path / "L.npy"),
            "-t",
            str(tmp_path / "y.npy"),
            "--methods",
            "mv,ds,mace",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    metrics = json.loads(res.stdout)
    assert list(metrics["methods"]) == ["majority", "dawid_skene", "mace"]
    assert metrics["methods"]["mace"]["accuracy"] > metrics["methods"]["majority"]["accuracy"]
    assert "MACE" in res.stderr


# -- the shared real data sets ------------------------------------------------------------------------
@needs_datasets
@pytest.mark.parametrize("name", ["adult2", "bluebirds", "dog", "rte", "temp"])
def test_at_least_majority_vote_on_real_data(name):
    loaded = load_labels(DATASETS / name / "labels.csv")
    truth = load_truth(DATASETS / name / "truth.csv", loaded.labels).codes
    scored = truth >= 0
    model = MACE().fit(loaded.labels)
    assert_non_decreasing(model.history_)
    mace = np.mean(model.labels_[scored] == truth[scored])
    vote = np.mean(majority_vote(loaded.labels).labels[scored] == truth[scored])
    assert mace >= vote
