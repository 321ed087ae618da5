"""EBCC: a monotone ELBO that is the true ELBO, the M = 1 case is Bayesian Dawid-Skene, subtypes found on
data that has them, recovery on Dawid-Skene data, gold, seeded restarts, edge cases, the published rte."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emcrowd import majority_vote
from emcrowd.analysis.aggregate import aggregate, method_name
from emcrowd.data import Labels
from emcrowd.errors import ConvergenceWarning, EmcrowdError
from emcrowd.io import load_labels, load_truth
from emcrowd.models.classification.bayesian import BayesianDawidSkene
from emcrowd.models.classification.ebcc import EBCC
from emcrowd.models.simulate import simulate_dawid_skene
from emcrowd.tables import worker_table
from tests.helpers import DATASETS, assert_non_decreasing, needs_datasets
from tests.test_bayesian import reference_elbo


def fit_quietly(model, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(data, **kwargs)


def simulate_hard_items(n_items: int, seed: int) -> tuple[Labels, np.ndarray, np.ndarray]:
    """Binary items, 30% of them hard: on easy items all 20 annotators are right 90% of the time; on
    hard ones the first ten 95%, the other ten only 25%: a second subtype of each class, with errors
    correlated across the second group."""
    rng = np.random.default_rng(seed)
    n_workers = 20
    truth = rng.integers(0, 2, n_items)
    hard = rng.random(n_items) < 0.3
    accuracy = np.full((n_items, n_workers), 0.9)
    accuracy[hard, :10] = 0.95
    accuracy[hard, 10:] = 0.25
    label = np.where(rng.random(accuracy.shape) < accuracy, truth[:, None], 1 - truth[:, None])
    data = Labels(
        item=np.repeat(np.arange(n_items), n_workers),
        worker=np.tile(np.arange(n_workers), n_items),
        label=label.ravel(),
        item_names=tuple(map(str, range(n_items))),
        worker_names=tuple(map(str, range(n_workers))),
        class_names=("0", "1"),
    )
    return data, truth, hard


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"n_subtypes": 1},
        {"n_subtypes": 3, "subtype_concentration": 5.0},
        {"learn_class_prior": False},
        {"empirical_class_prior": False, "prior_diagonal": 10.0},
    ],
    ids=["default", "one-subtype", "three-subtypes", "fixed-classes", "flat-class-prior"],
)
def test_elbo_never_decreases(n_classes, options):
    labels, _, _ = simulate_dawid_skene(
        200, 12, labels_per_item=4, n_classes=n_classes, concentration=3, seed=1
    )
    model = fit_quietly(EBCC(tol=0, max_iter=30, n_init=2, **options), labels)
    assert len(model.history_) >= 2
    assert_non_decreasing(model.history_)
    assert np.all(np.isfinite(model.posteriors_))
    np.testing.assert_allclose(model.posteriors_.sum(axis=1), 1.0)
    np.testing.assert_allclose(model.subtype_posteriors_.sum(axis=2), model.posteriors_, atol=1e-12)


@pytest.mark.parametrize("options", [{}, {"learn_class_prior": False}], ids=["learned", "fixed"])
def test_recorded_elbo_is_the_elbo_of_the_returned_factors(options):
    labels, truth, _ = simulate_dawid_skene(30, 5, labels_per_item=3, n_classes=3, concentration=3, seed=2)
    gold = np.full(truth.shape, -1)
    gold[:4] = truth[:4]
    model = fit_quietly(EBCC(n_subtypes=3, max_iter=6, n_init=1, **options), labels, gold=gold)
    if model.class_concentration_ is None:
        class_prior = np.full(3, 1 / 3)
    else:  # class_pseudocount plus the majority-vote counts (the empirical prior)
        class_prior = 1.0 + majority_vote(labels).posteriors.sum(axis=0)
    reference = reference_elbo(
        labels,
        model.subtype_posteriors_,
        model.confusion_concentration_,
        np.ones((3, 3)) + 3 * np.eye(3),
        model.class_concentration_,
        class_prior,
        model.subtype_concentration_,
        np.full(3, 0.1 / 3),
    )
    assert model.lower_bound_ == pytest.approx(reference, rel=1e-10, abs=1e-8)


def test_one_subtype_is_bayesian_dawid_skene_with_a_fixed_prior():
    labels, truth, _ = simulate_dawid_skene(300, 10, labels_per_item=4, n_classes=3, concentration=3, seed=3)
    gold = np.full(truth.shape, -1)
    gold[::7] = truth[::7]
    # (iterate by iterate: plain EM, as the two pack their parameters apart for acceleration)
    ebcc = EBCC(n_subtypes=1, empirical_class_prior=False, n_init=1, accelerate=False).fit(labels, gold=gold)
    bds = BayesianDawidSkene(learn_prior=False, accelerate=False).fit(labels, gold=gold)
    np.testing.assert_allclose(ebcc.posteriors_, bds.posteriors_, atol=1e-10)
    np.testing.assert_allclose(ebcc.history_, bds.history_, rtol=1e-12)
    np.testing.assert_allclose(ebcc.confusion_, bds.confusion_, atol=1e-10)


def test_finds_the_hard_subtype_and_its_correlated_errors():
    data, truth, hard = simulate_hard_items(600, seed=4)
    model = EBCC(n_init=3).fit(data)
    assert np.mean(model.labels_ == truth) >= max(0.98, np.mean(majority_vote(data).labels == truth))
    items = np.arange(len(truth))
    within_class = model.subtype_posteriors_[items, truth]  # (n_items, M): subtype given the true class
    main = np.argmax(model.subtype_weights_, axis=1)[truth]
    called_hard = np.argmax(within_class, axis=1) != main
    assert np.mean(called_hard[hard]) > 0.9
    assert np.mean(called_hard[~hard]) < 0.15
    # the second group is right on easy items and wrong on hard ones: seen in its subtype rows
    weights = model.subtype_weights_
    for k in range(2):
        easy_m, hard_m = np.argsort(weights[k])[::-1][:2]
        assert np.all(model.subtype_confusion_[10:, k, easy_m, k] > 0.75)
        assert np.all(model.subtype_confusion_[10:, k, hard_m, k] < 0.5)


def test_recovers_dawid_skene_confusion_matrices():
    labels, truth, confusion = simulate_dawid_skene(
        1500, 12, labels_per_item=6, n_classes=3, concentration=4, seed=5
    )
    model = EBCC(n_init=2).fit(labels)
    assert np.abs(model.confusion_ - confusion).mean() < 0.06
    assert np.mean(model.labels_ == truth) > np.mean(majority_vote(labels).labels == truth)
    np.testing.assert_allclose(model.confusion_.sum(axis=2), 1.0)
    np.testing.assert_allclose(
        model.confusion_, np.einsum("km,ikml->ikl", model.subtype_weights_, model.subtype_confusion_)
    )
    np.testing.assert_allclose(model.accuracy_, np.einsum("ikk->ik", model.confusion_) @ model.class_prior_)


def test_gold_is_clamped_subtypes_included():
    labels, truth, _ = simulate_dawid_skene(300, 10, labels_per_item=4, n_classes=3, seed=6)
    gold = np.full(truth.shape, -1)
    gold[::4] = truth[::4]
    model = EBCC(n_init=2).fit(labels, gold=gold)
    known = gold >= 0
    np.testing.assert_array_equal(model.posteriors_[known], np.eye(3)[gold[known]])
    other = np.ones((known.sum(), 3), dtype=bool)
    other[np.arange(known.sum()), gold[known]] = False
    assert np.all(model.subtype_posteriors_[known][other] == 0)
    assert model.n_gold_ == known.sum()
    assert_non_decreasing(model.history_)


def test_restarts_are_seeded_reproducible_and_keep_the_best():
    labels, _, _ = simulate_dawid_skene(200, 8, labels_per_item=3, n_classes=2, concentration=2, seed=7)
    a = EBCC(n_init=4, random_state=3).fit(labels)
    b = EBCC(n_init=4, random_state=3).fit(labels)
    np.testing.assert_array_equal(a.posteriors_, b.posteriors_)
    assert a.init_objectives_ == b.init_objectives_ and len(a.init_objectives_) == 4
    assert a.lower_bound_ == max(a.init_objectives_) == a.init_objectives_[a.best_init_]
    c = EBCC(n_init=4, random_state=4).fit(labels)
    assert all(
        x != y for x, y in zip(a.init_objectives_, c.init_objectives_, strict=True)
    )  # every start is random
    assert EBCC().n_init == 10  # fewer than the authors' 40 (see the module docstring)


@pytest.mark.parametrize(
    "matrix",
    [
        np.array([[0.0], [1.0], [1.0], [0.0], [1.0]]),  # one annotator
        np.array([[0.0, 1.0, 1.0, np.nan]]),  # one item
        np.ones((6, 3)),  # one class used, two declared
    ],
    ids=["one-annotator", "one-item", "one-class"],
)
def test_degenerate_data(matrix):
    data = Labels.from_matrix(matrix, classes=[0.0, 1.0, 2.0])
    model = fit_quietly(EBCC(n_init=3), data)
    assert np.all(np.isfinite(model.posteriors_)) and np.isfinite(model.lower_bound_)
    np.testing.assert_allclose(model.posteriors_.sum(axis=1), 1.0)
    assert np.all(np.isfinite(model.confusion_)) and np.all(np.isfinite(model.accuracy_))
    if len(model.history_) > 1:
        assert_non_decreasing(model.history_)
    if matrix.shape == (6, 3):
        assert np.all(model.labels_ == 1)


def test_bad_options_are_refused():
    labels, _, _ = simulate_dawid_skene(20, 3, n_classes=2, seed=8)
    for options in [
        {"n_subtypes": 0},
        {"n_subtypes": 2.5},
        {"subtype_concentration": 0},
        {"prior_diagonal": -1},
        {"prior_off_diagonal": float("nan")},
        {"class_pseudocount": 0},
    ]:
        with pytest.raises(EmcrowdError):
            EBCC(**options).fit(labels)


def test_registered_in_aggregate_and_worker_table():
    assert method_name("EBCC") == "ebcc"
    labels, _, _ = simulate_dawid_skene(150, 6, labels_per_item=3, n_classes=2, seed=9)
    result = aggregate(labels, "ebcc", n_init=2)
    assert isinstance(result.model, EBCC) and len(result.model.init_objectives_) == 2
    table = worker_table(labels, result)
    np.testing.assert_array_equal(table["accuracy"], result.model.accuracy_)


@needs_datasets
def test_rte_reaches_the_published_accuracy():
    """Li, Rubinstein & Cohn (2019) report 0.931 on rte with these defaults (40 restarts)."""
    loaded = load_labels(DATASETS / "rte" / "labels.csv")
    truth = load_truth(DATASETS / "rte" / "truth.csv", loaded.labels).codes
    model = EBCC().fit(loaded.labels)
    scored = truth >= 0
    assert np.mean(model.labels_[scored] == truth[scored]) >= 0.925
    assert_non_decreasing(model.history_)


def assert_same_fit(a, b):
    """Fit ``b`` (the compiled engine) is fit ``a`` (NumPy) to rounding, and its bound never falls."""
    assert a.n_iter_ == b.n_iter_ and a.best_init_ == b.best_init_
    np.testing.assert_allclose(b.history_, a.history_, rtol=1e-11)
    np.testing.assert_allclose(b.init_objectives_, a.init_objectives_, rtol=1e-11)
    np.testing.assert_allclose(b.subtype_posteriors_, a.subtype_posteriors_, atol=1e-10)
    np.testing.assert_allclose(b.posteriors_, a.posteriors_, atol=1e-10)
    np.testing.assert_allclose(b.confusion_concentration_, a.confusion_concentration_, rtol=1e-10)
    np.testing.assert_allclose(b.subtype_concentration_, a.subtype_concentration_, rtol=1e-10)
    assert_non_decreasing(b.history_)


@pytest.mark.parametrize(
    ("n_classes", "options"),
    [
        (2, {}),  # the specialised kernels (K = 2, M = 10)
        (3, {"n_subtypes": 3}),  # the general ones
        (2, {"prior_off_diagonal": 1e-3, "n_subtypes": 4}),  # products near underflow: done in logarithms
    ],
    ids=["binary", "general", "tiny-prior"],
)
def test_compiled_engine_gives_the_numpy_fit(n_classes, options):
    pytest.importorskip("numba")
    many = "prior_off_diagonal" in options
    labels, truth, _ = simulate_dawid_skene(
        400, 60 if many else 15, labels_per_item=40 if many else 5, n_classes=n_classes, seed=11
    )
    gold = np.full(truth.shape, -1)
    gold[::9] = truth[::9]
    fits = {
        engine: fit_quietly(EBCC(n_init=2, max_iter=40, engine=engine, **options), labels, gold=gold)
        for engine in ("numpy", "numba")
    }
    a, b = fits["numpy"], fits["numba"]
    assert (a.engine_, b.engine_) == ("numpy", "numba")
    assert_same_fit(a, b)


def test_restarts_on_a_subsample_of_large_inputs():
    labels, truth, _ = simulate_dawid_skene(
        3000, 30, labels_per_item=5, n_classes=2, concentration=3, seed=12
    )
    full = EBCC(n_init=3, restart_labels=None).fit(labels)
    a = EBCC(n_init=3, restart_labels=3000).fit(labels)
    b = EBCC(n_init=3, restart_labels=3000).fit(labels)
    assert a.restart_subsample_ is not None and 2500 <= a.restart_subsample_ <= 3500
    assert full.restart_subsample_ is None
    np.testing.assert_array_equal(a.posteriors_, b.posteriors_)  # seeded
    assert a.init_objectives_ == b.init_objectives_ and len(a.init_objectives_) == 3
    assert_non_decreasing(a.history_)
    assert a.converged_
    # as good as the restarts on all the labels
    assert a.lower_bound_ >= full.lower_bound_ - 1e-4 * abs(full.lower_bound_)
    assert np.mean(a.labels_ == truth) >= np.mean(full.labels_ == truth) - 0.005
    # the subsample does not depend on the rows' order
    order = np.random.default_rng(0).permutation(labels.n_labels)
    shuffled = Labels(
        labels.item[order], labels.worker[order], labels.label[order],
        labels.item_names, labels.worker_names, labels.class_names,
    )  # fmt: skip
    c = EBCC(n_init=3, restart_labels=3000).fit(shuffled)
    assert c.restart_subsample_ == a.restart_subsample_
    np.testing.assert_allclose(c.posteriors_, a.posteriors_, atol=1e-6)


def _live_rows_per_pass(monkeypatch) -> list[int]:
    """Spy on the compiled M-step: the number of live rows it leaves, every iteration."""
    seen: list[int] = []
    original = EBCC._compiled_m_step

    def spy(self, data, posteriors, params):
        out = original(self, data, posteriors, params)
        seen.append(int(out.rows.size))
        return out

    monkeypatch.setattr(EBCC, "_compiled_m_step", spy)
    return seen


@pytest.mark.parametrize(
    ("n_classes", "options"),
    [(2, {}), (3, {"n_subtypes": 4})],
    ids=["binary", "general"],
)
def test_idle_rows_give_the_numpy_fit(monkeypatch, n_classes, options):
    """Rows whose subtype emptied are done in closed form by the compiled engine (their q(v) is the
    prior): the fit is the NumPy one, which computes every row, to rounding."""
    pytest.importorskip("numba")
    labels, truth, _ = simulate_dawid_skene(
        1500, 20, labels_per_item=5, n_classes=n_classes, concentration=3, seed=21
    )
    gold = np.full(truth.shape, -1)
    gold[::13] = truth[::13]
    a = fit_quietly(EBCC(n_init=2, max_iter=300, engine="numpy", **options), labels, gold=gold)
    seen = _live_rows_per_pass(monkeypatch)
    b = fit_quietly(EBCC(n_init=2, max_iter=300, engine="numba", **options), labels, gold=gold)
    rows = n_classes * b.n_subtypes
    assert seen[0] == rows and min(seen) < rows // 2  # most rows went idle
    assert_same_fit(a, b)
    # the rows idle at the end (as many as the last M-step left) have q(v) exactly at the prior
    prior = np.ones((n_classes, n_classes)) + 3 * np.eye(n_classes)
    at_prior = (b.confusion_concentration_ == prior[None, :, None, :]).all(axis=(0, 3))
    assert at_prior.sum() >= rows - seen[-1] > 0


def test_an_idle_row_that_revives_is_counted():
    """A row made idle whose responsibilities are not negligible in the next pass is made live again
    and the pass redone: its counts are those of a pass with the row live at its prior."""
    pytest.importorskip("numba")
    labels, _, _ = simulate_dawid_skene(500, 10, labels_per_item=5, n_classes=2, concentration=3, seed=22)
    model = EBCC(n_init=1, engine="numba", n_subtypes=3)
    model._check_parameters(2)
    model._prepare(labels)
    params = model._initial_params(labels)
    params = model._m_step(labels, model._initial_posteriors(labels), params)
    # row 4 (class 1, subtype 1) idle: its E[log v] set to the prior's for every annotator
    prior_log_v = model._idle_log_v[1]
    live = _copy_params(params)
    live.log_v[:, :, 4] = prior_log_v[None, :]
    live.v_geo = np.exp(live.log_v)
    idle = _copy_params(live)
    keep = np.array([0, 1, 2, 3, 5])
    idle.rows, idle.log_v, idle.v_geo = (
        idle.rows[keep],
        idle.log_v[:, :, keep].copy(),
        idle.v_geo[:, :, keep].copy(),
    )
    q_live, e_live = model._compiled_e_step(labels, live, None)
    counts_live = live.pending[0].sum(axis=0).copy()
    q_idle, e_idle = model._compiled_e_step(labels, idle, None)
    assert idle.rows.tolist() == list(range(6))  # revived
    np.testing.assert_allclose(q_idle, q_live, atol=1e-13)
    assert e_idle == pytest.approx(e_live, rel=1e-13)
    np.testing.assert_allclose(idle.pending[0].sum(axis=0), counts_live, rtol=1e-12, atol=1e-15)


def _copy_params(params):
    from dataclasses import replace

    return replace(params, rows=params.rows.copy(), log_v=params.log_v.copy(), v_geo=params.v_geo.copy())


def test_restarts_on_a_subsample_at_scale():
    """200k labels over 2,000 annotators: the restarts run on a 20k-label subsample, the best continues;
    the ELBO never decreases, the fit is reproducible, and no worse than majority vote."""
    pytest.importorskip("numba")
    labels, truth, _ = simulate_dawid_skene(40_000, 2_000, labels_per_item=5, n_classes=2, seed=23)
    options = {"n_init": 3, "restart_labels": 100_000, "restart_sample": 20_000}
    a = fit_quietly(EBCC(**options), labels)
    b = fit_quietly(EBCC(**options), labels)
    assert a.engine_ == "numba" and 15_000 <= a.restart_subsample_ <= 25_000
    assert_non_decreasing(a.history_)
    assert a.history_ == b.history_ and a.init_objectives_ == b.init_objectives_
    np.testing.assert_array_equal(a.posteriors_, b.posteriors_)
    assert np.mean(a.labels_ == truth) >= np.mean(majority_vote(labels).labels == truth)


def test_restarts_of_large_inputs_are_capped_and_checked():
    labels, _, _ = simulate_dawid_skene(3000, 30, labels_per_item=5, n_classes=2, concentration=3, seed=24)
    capped = fit_quietly(EBCC(n_init=5, restart_labels=3000), labels)
    assert len(capped.init_objectives_) == 3  # restart_n_init
    every = fit_quietly(EBCC(n_init=5, restart_labels=3000, restart_n_init=None), labels)
    assert len(every.init_objectives_) == 5
    assert every.init_objectives_[:3] == capped.init_objectives_  # the same seeded restarts first
    small = fit_quietly(EBCC(n_init=4, restart_labels=None, max_iter=20), labels)
    assert len(small.init_objectives_) == 4  # whole fits: n_init as given
    for options in [{"restart_n_init": 0}, {"restart_n_init": 1.5}, {"restart_sample": 0}]:
        with pytest.raises(EmcrowdError):
            EBCC(n_init=2, restart_labels=3000, **options).fit(labels)


def test_compiled_digamma_gammaln_match_scipy():
    special = pytest.importorskip("scipy.special")
    kernels = pytest.importorskip("emcrowd.models.classification._ebcc_kernels")
    x = np.concatenate([np.geomspace(1e-3, 1e7, 2000), np.linspace(0.01, 12.0, 2000)])
    got = np.array([kernels.digamma_gammaln(v) for v in x])
    np.testing.assert_allclose(got[:, 0], special.digamma(x), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(got[:, 1], special.gammaln(x), rtol=1e-14, atol=2e-14)


def test_compiled_log_exp_match_numpy():
    """The kernels' branch-free logarithm and exponential (vectorisable, unlike the library calls):
    within 2 units in the last place of NumPy's, down to the smallest and up to the largest numbers."""
    kernels = pytest.importorskip("emcrowd.models.classification._ebcc_kernels")
    x = np.concatenate([np.geomspace(2.3e-308, 1.7e308, 3000), np.linspace(0.5, 30.0, 3000)])
    got = np.array([kernels.log_exp(v, 0.0)[0] for v in x])
    np.testing.assert_array_less(np.abs(got - np.log(x)), 2.01 * np.spacing(np.abs(np.log(x))) + 1e-300)
    assert kernels.log_exp(1.0, 0.0) == (0.0, 1.0)
    y = np.concatenate([np.linspace(-1500.0, 709.0, 6000), -np.geomspace(1e-300, 700.0, 3000)])
    got = np.array([kernels.log_exp(1.0, v)[1] for v in y])
    want = np.exp(y)
    normal = want > 2.3e-308
    np.testing.assert_allclose(got[normal], want[normal], rtol=4.5e-16, atol=0)
    np.testing.assert_allclose(got[~normal], want[~normal], rtol=0, atol=1e-320)


def test_restarts_are_screened_and_the_best_goes_on():
    """Every restart runs ``screen_iter`` iterations; only the best continues, from where it stopped."""
    labels, _, _ = simulate_dawid_skene(300, 10, labels_per_item=4, n_classes=3, concentration=3, seed=11)
    screened = EBCC(n_init=5, screen_iter=5).fit(labels)
    every = EBCC(n_init=5, screen_iter=None).fit(labels)
    assert len(screened.init_objectives_) == 5
    assert screened.lower_bound_ == max(screened.init_objectives_)
    assert screened.lower_bound_ == screened.init_objectives_[screened.best_init_]
    assert screened.n_iter_ == len(screened.history_) > 5
    assert_non_decreasing(screened.history_)
    # the kept restart goes on as if it had run alone: the same optimum as running every restart fully
    np.testing.assert_allclose(screened.lower_bound_, every.lower_bound_, rtol=1e-5)
    np.testing.assert_array_equal(screened.labels_, every.labels_)
    # the screened fit is seeded: the same again
    again = EBCC(n_init=5, screen_iter=5).fit(labels)
    np.testing.assert_array_equal(screened.posteriors_, again.posteriors_)
    for bad in (0, 2.5):
        with pytest.raises(EmcrowdError, match="screen_iter"):
            EBCC(n_init=2, screen_iter=bad).fit(labels)
