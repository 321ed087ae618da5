"""The compiled engines (numba) against the NumPy ones: the same fit, to 1e-6 in the objective.

The NumPy engine is the straightforward implementation, checked against dense references in
``test_glad.py`` and ``test_dawid_skene.py``; here every case is fitted by both engines, which must
agree on the whole objective history, the parameters and the posteriors. First GLAD, then
Dawid-Skene and one-coin (and the shared confusion sums of
:mod:`emcrowd.models.classification._observations`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emcrowd import GLAD, Labels
from emcrowd.errors import ConvergenceWarning, EmcrowdError
from emcrowd.models._base import normalize
from emcrowd.models.classification import _observations as observations
from emcrowd.models.classification._glad_kernels import group_by_item
from emcrowd.models.classification.dawid_skene import DawidSkene, OneCoin
from emcrowd.models.classification.majority import vote_counts, vote_shares
from emcrowd.models.simulate import simulate_dawid_skene, simulate_glad
from tests.helpers import DATASETS, assert_non_decreasing, needs_datasets


def _shuffled(data: Labels, seed: int) -> Labels:
    order = np.random.default_rng(seed).permutation(data.n_labels)
    return Labels(
        data.item[order],
        data.worker[order],
        data.label[order],
        data.item_names,
        data.worker_names,
        data.class_names,
    )


def _fit_both(data: Labels, gold: np.ndarray | None = None, **options) -> tuple[GLAD, GLAD]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = GLAD(engine="numpy", **options).fit(data, gold=gold)
        fast = GLAD(engine="numba", **options).fit(data, gold=gold)
    assert (plain.engine_, fast.engine_) == ("numpy", "numba")
    return plain, fast


def assert_same_fit(plain: GLAD, fast: GLAD, params_atol: float = 1e-9) -> None:
    # Rounding may end a converged fit one iteration earlier or later, when the last change is
    # right at the tolerance (with tol=0, when the objective stops changing in its last bits): the
    # shared iterations and the final objectives must agree, and a longer run may only repeat it.
    n = min(plain.n_iter_, fast.n_iter_)
    both_converged = plain.converged_ and fast.converged_
    longer = plain if plain.n_iter_ > fast.n_iter_ else fast
    tail_flat = np.allclose(longer.history_[n - 1 :], longer.lower_bound_, rtol=0, atol=1e-9)
    assert plain.n_iter_ == fast.n_iter_ or (
        both_converged and (abs(plain.n_iter_ - fast.n_iter_) <= 2 or tail_flat)
    )
    np.testing.assert_allclose(fast.history_[:n], plain.history_[:n], rtol=0, atol=1e-6)
    assert fast.lower_bound_ == pytest.approx(plain.lower_bound_, rel=0, abs=1e-6)
    assert_non_decreasing(fast.history_)
    np.testing.assert_allclose(fast.alpha_, plain.alpha_, rtol=1e-7, atol=params_atol)
    np.testing.assert_allclose(fast.b_, plain.b_, rtol=1e-7, atol=params_atol)
    np.testing.assert_allclose(fast.posteriors_, plain.posteriors_, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(fast.labels_, plain.labels_)


@pytest.mark.parametrize(
    ("n_items", "n_workers", "per_item", "n_classes", "seed"),
    [
        (400, 20, 5, 2, 0),
        (300, 40, 3, 3, 1),
        (200, 15, None, 5, 2),  # every annotator labels every item
        (600, 200, 2, 2, 3),  # sparse, annotators with a few labels each
    ],
)
def test_engines_agree(n_items, n_workers, per_item, n_classes, seed):
    sim = simulate_glad(
        n_items, n_workers, labels_per_item=per_item, n_classes=n_classes, alpha_sd=1.5, seed=seed
    )
    assert_same_fit(*_fit_both(sim.labels, tol=1e-9))


@pytest.mark.parametrize("max_sweeps", [1, 3])
@pytest.mark.parametrize(("alpha_mean", "b_mean"), [(0.0, 0.0), (3.0, 2.0)])
def test_engines_agree_sweep_by_sweep(max_sweeps, alpha_mean, b_mean):
    """The M-step's sweeps (and the rule that stops them) are the same in both engines: capped at one
    or three sweeps, and at the corners of the prior grid where the first M-steps sweep most."""
    sim = simulate_glad(300, 30, labels_per_item=4, n_classes=3, alpha_sd=1.5, seed=5)
    options = {"alpha_prior": (alpha_mean, 1.0), "beta_prior": (b_mean, 1.0), "tol": 1e-9}
    assert_same_fit(*_fit_both(sim.labels, max_sweeps=max_sweeps, **options))
    assert_same_fit(*_fit_both(sim.labels, **options))


def test_engines_agree_with_gold_learned_prior_and_restarts():
    sim = simulate_glad(300, 12, labels_per_item=4, n_classes=3, alpha_sd=1.5, seed=7)
    gold = np.full(300, -1)
    gold[::7] = sim.truth[::7]
    plain, fast = _fit_both(sim.labels, gold=gold, learn_class_prior=True, n_init=3, random_state=4)
    assert_same_fit(plain, fast)
    assert fast.init_objectives_ == pytest.approx(plain.init_objectives_, abs=1e-6)


def test_engines_agree_on_extreme_data():
    """Unanimous perfect annotators (alpha * beta grows until the priors stop it), an adversary,
    items without labels and tight priors: the numerically hard corners."""
    L = np.array([[1, 1, 0, 1], [0, 0, 1, 0], [1, 1, 0, 1], [np.nan] * 4, [0, 0, 1, np.nan]] * 30)
    data = Labels.from_matrix(L)
    for priors in ({}, {"alpha_prior": (5.0, 0.01), "beta_prior": (3.0, 0.01)}):
        assert_same_fit(*_fit_both(data, tol=0, max_iter=40, **priors))
    # A nearly flat prior on b leaves the scale of alpha * beta nearly free: the first M-steps sweep
    # along that ridge for dozens of sweeps, and the engines' rounding moves the parameters along it
    # by ~1e-8 while the objectives agree to 1e-13.
    assert_same_fit(*_fit_both(data, tol=0, max_iter=40, beta_prior=(0, 100.0)), params_atol=1e-7)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_engines_agree_with_nearly_flat_priors(n_classes):
    """Where priors barely hold ``|alpha * beta|`` in, ``1 - sigmoid(x)`` by subtraction would be pure
    rounding and the engines' Newton steps would drift apart; both use ``sigmoid(-x)`` itself."""
    sim = simulate_glad(2000, 50, labels_per_item=5, n_classes=n_classes, alpha_sd=3, seed=1)
    plain, fast = _fit_both(sim.labels, alpha_prior=(1.0, 1000.0), beta_prior=(0.0, 1000.0))
    n = min(plain.n_iter_, fast.n_iter_)
    np.testing.assert_allclose(fast.history_[:n], plain.history_[:n], rtol=0, atol=1e-6)
    np.testing.assert_allclose(fast.posteriors_, plain.posteriors_, rtol=0, atol=1e-8)


def test_many_annotators_use_fewer_chunks_and_agree():
    from emcrowd.models.classification import _glad_kernels

    assert _glad_kernels.n_chunks(20_000) == _glad_kernels.MAX_CHUNKS
    assert _glad_kernels.n_chunks(2_000_000) == 1
    n_workers = 150_000  # more annotators than fit in 16 chunks' sums: 6 chunks
    assert 1 < _glad_kernels.n_chunks(n_workers) < _glad_kernels.MAX_CHUNKS
    sim = simulate_glad(100_000, n_workers, labels_per_item=3, seed=4)  # 2 labels per annotator
    assert_same_fit(*_fit_both(sim.labels, max_iter=15))  # the engines, not convergence, are tested here


def test_label_order_does_not_matter_to_the_compiled_engine():
    sim = simulate_glad(300, 25, labels_per_item=4, n_classes=3, seed=9)
    shuffled = _shuffled(sim.labels, 0)
    a = GLAD(engine="numba").fit(sim.labels)
    b = GLAD(engine="numba").fit(shuffled)
    np.testing.assert_allclose(b.history_, a.history_, rtol=1e-12)
    np.testing.assert_allclose(b.posteriors_, a.posteriors_, atol=1e-12)


def test_group_by_item_keeps_file_order_within_an_item():
    item = np.array([2, 0, 2, 1, 0, 2], dtype=np.int32)
    worker = np.arange(6, dtype=np.int32)
    label = np.array([1, 0, 1, 1, 0, 0], dtype=np.int32)
    indptr, w, lab = group_by_item(item, worker, label, 4)  # item 3 has no labels
    assert indptr.tolist() == [0, 2, 3, 6, 6]
    assert w.tolist() == [1, 4, 3, 0, 2, 5]
    assert lab.tolist() == [0, 0, 1, 1, 1, 0]
    # already grouped: the arrays are used as they are, not copied
    indptr, w, lab = group_by_item(np.sort(item), worker, label, 4)
    assert w is worker and lab is label
    assert indptr.tolist() == [0, 2, 3, 6, 6]


def test_auto_engine_follows_the_size_of_the_input(monkeypatch):
    sim = simulate_glad(100, 5, labels_per_item=3, seed=0)
    assert GLAD().fit(sim.labels).engine_ == "numpy"
    monkeypatch.setattr(observations, "NUMBA_MIN_LABELS", 100)
    assert GLAD().fit(sim.labels).engine_ == "numba"
    monkeypatch.setattr(observations, "numba_available", lambda kernels=None: False)
    assert GLAD().fit(sim.labels).engine_ == "numpy"
    with pytest.raises(EmcrowdError, match="needs the numba package"):
        GLAD(engine="numba").fit(sim.labels)


def test_a_numba_that_does_not_import_means_numpy(monkeypatch):
    """An installed numba can refuse to import (an unsupported NumPy, say): auto falls back."""
    import sys

    monkeypatch.delitem(sys.modules, "emcrowd.models.classification._glad_kernels")
    monkeypatch.setitem(sys.modules, "numba", None)  # importing it raises ImportError
    assert not observations.numba_available("emcrowd.models.classification._glad_kernels")
    monkeypatch.setattr(observations, "NUMBA_MIN_LABELS", 100)
    sim = simulate_glad(100, 5, labels_per_item=3, seed=0)
    assert GLAD().fit(sim.labels).engine_ == "numpy"
    with pytest.raises(EmcrowdError, match="needs the numba package"):
        GLAD(engine="numba").fit(sim.labels)


def test_unknown_engine_is_a_user_error():
    sim = simulate_glad(50, 5, labels_per_item=3, seed=0)
    with pytest.raises(EmcrowdError, match="engine must be one of"):
        GLAD(engine="gpu").fit(sim.labels)


@needs_datasets
@pytest.mark.parametrize("name", ["rte", "temp", "bluebirds"])
def test_engines_agree_on_real_data(name):
    L = np.load(DATASETS / name / "L.npy", allow_pickle=False)
    assert_same_fit(*_fit_both(Labels.from_matrix(L)))


# -- Dawid-Skene and one-coin ---------------------------------------------------------------------------
def _fit_confusion_both(model_cls, data: Labels, gold: np.ndarray | None = None, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = model_cls(engine="numpy", **options).fit(data, gold=gold)
        fast = model_cls(engine="numba", **options).fit(data, gold=gold)
    assert (plain.engine_, fast.engine_) == ("numpy", "numba")
    return plain, fast


def assert_same_confusion_fit(plain, fast) -> None:
    n = min(plain.n_iter_, fast.n_iter_)
    both_converged = plain.converged_ and fast.converged_
    assert plain.n_iter_ == fast.n_iter_ or (both_converged and abs(plain.n_iter_ - fast.n_iter_) <= 2)
    np.testing.assert_allclose(fast.history_[:n], plain.history_[:n], rtol=1e-9, atol=0)
    assert fast.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-9)
    assert_non_decreasing(fast.history_)
    np.testing.assert_allclose(fast.posteriors_, plain.posteriors_, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(fast.labels_, plain.labels_)
    np.testing.assert_allclose(fast.accuracy_, plain.accuracy_, rtol=1e-8, atol=1e-10)
    # a learned one-coin prior creeps along a nearly flat ridge (tol=0 runs follow it): rounding
    # differences there grow to ~1e-8, while the objective agrees to 1e-9
    np.testing.assert_allclose(fast.class_prior_, plain.class_prior_, rtol=1e-7)
    if isinstance(plain, DawidSkene):
        np.testing.assert_allclose(fast.confusion_, plain.confusion_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("model_cls", [DawidSkene, OneCoin])
@pytest.mark.parametrize(
    ("n_items", "n_workers", "per_item", "n_classes", "seed"),
    [
        (400, 20, 5, 2, 0),
        (300, 40, 3, 3, 1),
        (200, 15, None, 5, 2),  # every annotator labels every item
        (600, 300, 2, 2, 3),  # sparse: some annotators have no labels at all
    ],
)
def test_confusion_engines_agree(model_cls, n_items, n_workers, per_item, n_classes, seed):
    labels, _, _ = simulate_dawid_skene(
        n_items, n_workers, labels_per_item=per_item, n_classes=n_classes, concentration=3, seed=seed
    )
    assert_same_confusion_fit(*_fit_confusion_both(model_cls, labels, tol=1e-10))


@pytest.mark.parametrize("model_cls", [DawidSkene, OneCoin])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_confusion_engines_agree_with_gold_learned_prior_and_restarts(model_cls, n_classes):
    labels, truth, _ = simulate_dawid_skene(300, 12, labels_per_item=4, n_classes=n_classes, seed=7)
    gold = np.full(300, -1)
    gold[::7] = truth[::7]
    options = {"learn_class_prior": True, "n_init": 3, "random_state": 4, "tol": 0, "max_iter": 60}
    plain, fast = _fit_confusion_both(model_cls, _shuffled(labels, 1), gold=gold, **options)
    assert_same_confusion_fit(plain, fast)
    assert fast.init_objectives_ == pytest.approx(plain.init_objectives_, rel=1e-9)
    known = gold >= 0
    np.testing.assert_array_equal(fast.posteriors_[known], np.eye(n_classes)[gold[known]])


@pytest.mark.parametrize("model_cls", [DawidSkene, OneCoin])
def test_confusion_engines_agree_without_smoothing(model_cls):
    """No smoothing: unanimous annotators reach probability 1 (log 0 = -inf for the other cells),
    annotators and items without labels, the corners where 0 * inf could turn into NaN."""
    L = np.array([[1, 1, 0, 1, np.nan], [0, 0, 1, 0, np.nan], [1, 1, 0, 1, np.nan], [np.nan] * 5] * 25)
    data = Labels.from_matrix(L)
    plain, fast = _fit_confusion_both(model_cls, data, smoothing=0.0, tol=0, max_iter=30)
    assert_same_confusion_fit(plain, fast)


@pytest.mark.filterwarnings("ignore::emcrowd.errors.ConvergenceWarning")
@pytest.mark.parametrize("model_cls", [DawidSkene, OneCoin])
def test_compiled_confusion_fit_does_not_depend_on_the_number_of_threads(model_cls):
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread here")
    labels, _, _ = simulate_dawid_skene(3000, 40, labels_per_item=3, n_classes=3, seed=5)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = model_cls(engine="numba", tol=0, max_iter=20).fit(labels)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = model_cls(engine="numba", tol=0, max_iter=20).fit(labels)
    finally:
        numba.set_num_threads(before)
    assert one.history_ == many.history_
    np.testing.assert_array_equal(one.posteriors_, many.posteriors_)


def test_many_annotators_use_fewer_chunks_in_the_confusion_passes():
    from emcrowd.models.classification import _confusion_kernels

    assert _confusion_kernels.n_chunks(20_000 * 4) == _confusion_kernels.MAX_CHUNKS
    assert _confusion_kernels.n_chunks(40_000_000) == 1
    n_workers = 30_000  # 30k annotators x 3 x 3 sums per chunk: fewer than 16 chunks
    assert 1 < _confusion_kernels.n_chunks(n_workers * 9) < _confusion_kernels.MAX_CHUNKS
    labels, _, _ = simulate_dawid_skene(20_000, n_workers, labels_per_item=3, n_classes=3, seed=4)
    assert_same_confusion_fit(*_fit_confusion_both(DawidSkene, labels, max_iter=30))


def _random_observations(n_classes: int, seed: int) -> Labels:
    """Labels in no particular order, with some items and annotators that have none."""
    rng = np.random.default_rng(seed)
    n = 900
    item = rng.integers(0, 150, n)
    item[item == 7] = 8  # item 7: no labels
    worker = rng.integers(0, 30, n)
    worker[worker == 3] = 4  # annotator 3: no labels
    label = rng.integers(0, n_classes, n)
    return Labels(
        item,
        worker,
        label,
        tuple(map(str, range(152))),
        tuple(map(str, range(30))),
        tuple(map(str, range(n_classes))),
    )


@pytest.mark.parametrize(("n_classes", "n_rows"), [(2, 2), (3, 3), (2, 4), (3, 6)])  # T = K or K * M
def test_confusion_sums_agree_across_engines(n_classes, n_rows):
    """The shared sums the confusion-matrix models call, for T = K latent rows (Dawid-Skene) and
    T = K * M (class subtypes, as EBCC's), the compiled ones against NumPy's."""
    data = _random_observations(n_classes, seed=n_rows)
    plain = observations.Observations.from_labels(data, "numpy")
    fast = observations.Observations.from_labels(data, "numba")
    assert (plain.engine, fast.engine) == ("numpy", "numba")
    rng = np.random.default_rng(0)
    log_theta = np.log(rng.dirichlet(np.ones(n_classes), size=(data.n_workers, n_rows)))
    weights = rng.dirichlet(np.ones(n_rows), size=data.n_items)
    # an item's labels are summed in file order by both engines: the same bits
    np.testing.assert_array_equal(
        observations.confusion_log_likelihoods(fast, log_theta),
        observations.confusion_log_likelihoods(plain, log_theta),
    )
    np.testing.assert_allclose(
        observations.confusion_counts(fast, weights),
        observations.confusion_counts(plain, weights),
        rtol=1e-13,
    )
    log_pi = np.log(rng.dirichlet(np.ones(n_rows)))
    gold = np.full(data.n_items, -1)
    gold[::5] = rng.integers(0, n_rows, gold[::5].size)
    for g in (None, gold):
        q_fast, ev_fast, counts_fast = observations.confusion_e_step(fast, log_theta, log_pi, g)
        q_plain, ev_plain, counts_plain = observations.confusion_e_step(plain, log_theta, log_pi, g)
        reference, evidence = normalize(observations.confusion_log_likelihoods(plain, log_theta) + log_pi, g)
        np.testing.assert_allclose(q_fast, reference, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(q_plain, reference, rtol=0, atol=0)
        assert ev_fast == pytest.approx(evidence, rel=1e-13) and ev_plain == evidence
        np.testing.assert_allclose(counts_fast, observations.confusion_counts(plain, q_plain), rtol=1e-12)
        np.testing.assert_allclose(counts_plain, observations.confusion_counts(plain, q_plain), rtol=0)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_one_coin_sums_agree_across_engines(n_classes):
    data = _random_observations(n_classes, seed=11)
    plain = observations.Observations.from_labels(data, "numpy")
    fast = observations.Observations.from_labels(data, "numba")
    rng = np.random.default_rng(1)
    q = rng.dirichlet(np.ones(n_classes), size=data.n_items)
    np.testing.assert_allclose(
        observations.agreement_sums(fast, q), observations.agreement_sums(plain, q), rtol=1e-13
    )
    accuracy = rng.uniform(0.2, 0.9, data.n_workers)
    log_right, log_wrong = np.log(accuracy), np.log1p(-accuracy) - np.log(n_classes - 1)
    log_pi = np.log(rng.dirichlet(np.ones(n_classes)))
    gold = np.full(data.n_items, -1)
    gold[1::4] = 0
    a = observations.symmetric_e_step(fast, log_right, log_wrong, log_pi, gold)
    b = observations.symmetric_e_step(plain, log_right, log_wrong, log_pi, gold)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-13, atol=1e-15)
    assert a[1] == pytest.approx(b[1], rel=1e-13)
    np.testing.assert_allclose(a[2], b[2], rtol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_compiled_vote_shares_are_numpys(n_classes):
    data = _random_observations(n_classes, seed=3)
    fast = observations.Observations.from_labels(data, "numba")
    np.testing.assert_array_equal(observations.vote_shares(fast), vote_shares(vote_counts(data)))


def test_confusion_auto_engine_follows_the_size_of_the_input(monkeypatch):
    labels, _, _ = simulate_dawid_skene(100, 5, labels_per_item=3, seed=0)
    assert DawidSkene().fit(labels).engine_ == "numpy"
    monkeypatch.setattr(observations, "NUMBA_MIN_LABELS", 300)
    assert DawidSkene().fit(labels).engine_ == "numba"
    assert OneCoin().fit(labels).engine_ == "numba"
    assert DawidSkene(engine="numpy").fit(labels).engine_ == "numpy"
    monkeypatch.setattr(observations, "numba_available", lambda kernels=None: False)
    assert OneCoin().fit(labels).engine_ == "numpy"
    with pytest.raises(EmcrowdError, match="needs the numba package"):
        DawidSkene(engine="numba").fit(labels)
    with pytest.raises(EmcrowdError, match="engine must be one of"):
        OneCoin(engine="gpu").fit(labels)


def test_a_numba_that_does_not_import_means_numpy_for_confusion_models(monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "emcrowd.models.classification._confusion_kernels")
    monkeypatch.setitem(sys.modules, "numba", None)  # importing it raises ImportError
    assert not observations.numba_available()
    monkeypatch.setattr(observations, "NUMBA_MIN_LABELS", 100)
    labels, _, _ = simulate_dawid_skene(100, 5, labels_per_item=3, seed=0)
    assert DawidSkene().fit(labels).engine_ == "numpy"


@needs_datasets
@pytest.mark.parametrize("model_cls", [DawidSkene, OneCoin])
@pytest.mark.parametrize("name", ["rte", "temp", "bluebirds", "dog"])
def test_confusion_engines_agree_on_real_data(model_cls, name):
    from emcrowd.io import load_labels

    data = load_labels(DATASETS / name / "labels.csv").labels
    assert_same_confusion_fit(*_fit_confusion_both(model_cls, data))
