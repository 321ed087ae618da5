"""EM accelerated by squared extrapolation (:mod:`emcrowd.models._squarem`) against plain EM: the same
fit within the tolerance, an objective that never decreases, for every EM model, on simulated and
shared data; and the arithmetic of the extrapolation itself."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emcrowd.errors import ConvergenceWarning
from emcrowd.models import MODELS
from emcrowd.models._squarem import StepLength, expit, log_normalize, logit, squared_step
from emcrowd.models.simulate import simulate_dawid_skene, simulate_glad, simulate_mace
from tests.helpers import DATASETS, assert_non_decreasing, needs_datasets

#: Each EM model with the options that keep the test fast (EBCC: one start, two subtypes).
CASES = {
    "dawid_skene": {},
    "one_coin": {},
    "mace": {},
    "glad": {"engine": "numpy"},
    "glad-numba": {"engine": "numba"},
    "bayesian_ds": {},
    "ebcc": {"n_init": 1, "n_subtypes": 2, "engine": "numpy"},
    "ebcc-numba": {"n_init": 1, "n_subtypes": 2, "engine": "numba"},
}
#: A tolerance tight enough that both runs end at the optimum they share.
TIGHT = 1e-9


def _simulations():
    return {
        "ds3": simulate_dawid_skene(200, 20, labels_per_item=3, n_classes=3, seed=1)[0],
        "glad2": simulate_glad(200, 20, labels_per_item=3, seed=2).labels,
        "mace4": simulate_mace(150, 15, labels_per_item=4, n_classes=4, seed=3).labels,
    }


SIMULATIONS = _simulations()


def _fit(case: str, data, accelerate: bool, tol: float = TIGHT):
    method = case.split("-")[0]
    model = MODELS[method](accelerate=accelerate, tol=tol, max_iter=5000, **CASES[case])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return model.fit(data)


def _same_fit(plain, fast) -> None:
    assert_non_decreasing(fast.history_)
    assert_non_decreasing(plain.history_)
    assert fast.converged_ and plain.converged_
    scale = abs(plain.lower_bound_)
    assert abs(fast.lower_bound_ - plain.lower_bound_) <= 1e-7 * scale
    # (EM's last steps along a flat direction move a few posteriors by up to about 1e-2)
    np.testing.assert_allclose(fast.posteriors_, plain.posteriors_, atol=2e-2)
    assert np.array_equal(fast.labels_, plain.labels_)
    assert plain.n_passes_ == plain.n_iter_  # plain EM: one pass per point
    assert fast.n_passes_ >= fast.n_iter_


@pytest.mark.parametrize("sim", sorted(SIMULATIONS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_fit_as_plain_em_on_simulations(case, sim):
    data = SIMULATIONS[sim]
    _same_fit(_fit(case, data, False), _fit(case, data, True))


@needs_datasets
@pytest.mark.parametrize("name", ["rte", "bluebirds"])
@pytest.mark.parametrize("case", sorted(set(CASES) - {"glad-numba"}))  # (its engine: the simulations)
def test_same_fit_as_plain_em_on_shared_data(case, name):
    from emcrowd.io.labels import read_labels

    data = read_labels(DATASETS / name / "L.npy")
    _same_fit(_fit(case, data, False), _fit(case, data, True))


@pytest.mark.parametrize("case", ["dawid_skene", "one_coin", "mace", "glad", "bayesian_ds"])
def test_fewer_passes_where_em_is_slow(case):
    # noisy three-class annotators and three labels per item: much missing information, slow EM
    data = SIMULATIONS["ds3"]
    plain, fast = _fit(case, data, False, 1e-9), _fit(case, data, True, 1e-9)
    assert fast.n_passes_ < plain.n_passes_
    assert fast.lower_bound_ >= plain.lower_bound_ - 1e-9 * abs(plain.lower_bound_)


@pytest.mark.parametrize("case", sorted(set(CASES) - {"glad-numba"}))
def test_default_tolerance_gives_the_same_labels(case):
    data = SIMULATIONS["glad2"]
    plain, fast = _fit(case, data, False, 1e-6), _fit(case, data, True, 1e-6)
    assert_non_decreasing(fast.history_)
    # plain EM stops early at this tolerance: a near tie may fall either way
    differ = fast.labels_ != plain.labels_
    assert differ.mean() <= 0.02
    assert np.all(plain.posteriors_[differ].max(axis=1) < 0.75)
    # the tolerance stops slow EM early: the accelerated fit ends at least as high, to rounding
    assert fast.lower_bound_ >= plain.lower_bound_ - 1e-6 * abs(plain.lower_bound_)


def test_max_iter_bounds_the_points():
    data = SIMULATIONS["ds3"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MODELS["dawid_skene"](max_iter=7, tol=1e-14).fit(data)
    assert model.n_iter_ == len(model.history_) == 7 and not model.converged_
    assert model.n_passes_ >= 7  # (rejected extrapolations are passes but not points)
    assert_non_decreasing(model.history_)


def test_gold_is_clamped_in_extrapolated_steps():
    data = SIMULATIONS["ds3"]
    gold = np.full(data.n_items, -1)
    gold[:40] = 0
    for accelerate in (False, True):
        model = MODELS["dawid_skene"](accelerate=accelerate, tol=TIGHT)
        model._fit_labels(data, gold, None)
        assert np.all(model.labels_[:40] == 0)
        assert_non_decreasing(model.history_)


def test_default_is_on_where_em_is_slow():
    data = SIMULATIONS["ds3"]
    for method, on in [("dawid_skene", False), ("glad", False), ("bayesian_ds", True), ("ebcc", True)]:
        model = MODELS[method]()
        assert model.accelerate is None and model._accelerating() is on
        assert MODELS[method](accelerate=not on)._accelerating() is not on
    plain = MODELS["dawid_skene"](tol=TIGHT).fit(data)
    assert plain.n_passes_ == plain.n_iter_
    assert np.array_equal(plain.history_, _fit("dawid_skene", data, False).history_)


def test_accelerate_is_a_parameter_of_every_em_model():
    for method, model in MODELS.items():
        if method != "majority":
            assert "accelerate" in model.param_names(), method
            assert model(accelerate=False).get_params()["accelerate"] is False


# -- the extrapolation's arithmetic ---------------------------------------------------------------
def test_squared_step_on_a_linear_map_jumps_to_its_fixed_point():
    # x -> c + A x with a slow eigenvalue: the squared step from three iterates lands much nearer
    # the fixed point than the plain iterate x2
    a = np.diag([0.9, 0.9])
    c = np.array([1.0, -2.0])
    fixed = np.linalg.solve(np.eye(2) - a, c)
    x0 = np.zeros(2)
    x1 = c + a @ x0
    x2 = c + a @ x1
    x, step = squared_step(x0, x1, x2, bound=1e4)
    assert step < -1
    assert np.linalg.norm(x - fixed) < 1e-9 < np.linalg.norm(x2 - fixed)


def test_squared_step_declines_when_nothing_is_gained():
    x = np.array([1.0, 2.0])
    assert squared_step(x, x, x, 4.0) is None  # converged: no differences
    assert squared_step(x, x + 1, x + 2, 4.0) is None  # a straight line at constant speed: a = -1
    assert squared_step(x, x + np.inf, x, 4.0) is None
    x0, x1, x2 = np.zeros(1), np.ones(1), np.full(1, 2.01)  # nearly constant speed: a far step
    _, step = squared_step(x0, x1, x2, 4.0)
    assert step == -4.0  # bounded


def test_step_bound_grows_and_shrinks():
    s = StepLength()
    first = s.bound
    s.accepted(-first)
    assert s.bound > first
    s.rejected()
    assert s.bound == first
    s.rejected()
    assert s.bound == first


def test_projections():
    v = np.array([[3.0, -1.0, 0.5], [100.0, 0.0, -100.0]])
    p = np.exp(log_normalize(v, axis=1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    x = np.array([-800.0, -3.0, 0.0, 4.0, 800.0])
    np.testing.assert_allclose(logit(expit(x[1:4])), x[1:4])
    assert np.all(np.isfinite(expit(x))) and expit(x)[0] == 0.0 and expit(x)[-1] == 1.0


# -- the Dask engine: the same accelerated fit as in memory ---------------------------------------------
def test_dask_engine_accelerates_as_in_memory(tmp_path):
    distributed = pytest.importorskip("distributed")
    from emcrowd.distributed import Cluster, DaskDawidSkene, DaskGLAD, local_cluster
    from emcrowd.io.partition import open_dataset, partition_arrays
    from emcrowd.models.classification.dawid_skene import DawidSkene
    from emcrowd.models.classification.glad import GLAD

    data = simulate_glad(600, 40, labels_per_item=5, n_classes=3, alpha_sd=1.5, seed=3).labels
    partition_arrays(data, tmp_path / "parts", 3)
    dataset = open_dataset(tmp_path / "parts")
    cases = [
        (GLAD(engine="numba", accelerate=True, learn_class_prior=True, tol=1e-8), DaskGLAD),
        (DawidSkene(engine="numba", accelerate=True, tol=1e-8), DaskDawidSkene),
    ]
    with local_cluster(2) as cluster, distributed.Client(cluster) as client:
        for ref, dask_model in cases:
            ref.fit(data)
            got = dask_model(**ref.get_params()).fit_cluster(Cluster(client, dataset))
            assert got.n_passes_ == ref.n_passes_ and got.n_iter_ == ref.n_iter_
            np.testing.assert_allclose(got.history_, ref.history_, rtol=1e-9, atol=0)
            assert np.array_equal(got.labels_, ref.labels_)
            assert_non_decreasing(got.history_)


# -- the command line: --accelerate on|off ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "expected"), [([], None), (["--accelerate", "on"], True), (["--accelerate", "off"], False)]
)
def test_the_command_line_turns_acceleration_on_and_off(tmp_path, given, expected):
    import json

    from typer.testing import CliRunner

    from emcrowd.cli import app

    labels, _, _ = simulate_dawid_skene(300, 8, n_classes=3, labels_per_item=4, seed=2)
    np.save(tmp_path / "L.npy", labels.to_matrix())
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["fit", str(tmp_path / "L.npy"), "-m", "dawid-skene", "-o", str(out), "-q", *given]
    )
    assert res.exit_code == 0, res.output
    options = json.loads((out / "summary.json").read_text())["options"]
    assert options["accelerate"] is expected  # None: the model's own default (off for Dawid-Skene)
    bad = CliRunner().invoke(
        app, ["fit", str(tmp_path / "L.npy"), "--accelerate", "yes", "-o", str(tmp_path / "x")]
    )
    assert bad.exit_code == 2 and not (tmp_path / "x").exists()
