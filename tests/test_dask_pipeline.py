"""The Dask engine's pipelined loop (emcrowd.distributed.pipeline): the fit of the plain loop,
iteration for iteration, with the next iteration submitted before the driver reads the objective;
and the ordinal Dawid-Skene model on the Dask engine."""

from __future__ import annotations

import numpy as np
import pytest

from emcrowd.io.partition import open_dataset, partition_arrays
from emcrowd.models.classification.dawid_skene import DawidSkene, OneCoin
from emcrowd.models.ordinal.gaussian import OrdinalDawidSkene
from emcrowd.models.ordinal.simulate import simulate_ordinal
from emcrowd.models.simulate import simulate_glad
from tests.helpers import assert_non_decreasing

distributed = pytest.importorskip("distributed")

from emcrowd.distributed import (  # noqa: E402
    Cluster,
    DaskDawidSkene,
    DaskOneCoin,
    DaskOrdinalDawidSkene,
    fit_dataset,
    local_cluster,
)

PIPELINED = {"dawid_skene": DaskDawidSkene, "one_coin": DaskOneCoin, "ordinal_ds": DaskOrdinalDawidSkene}


@pytest.fixture(scope="module")
def client():
    with local_cluster(2) as cluster, distributed.Client(cluster) as c:
        yield c


def _dataset(data, path, parts):
    partition_arrays(data, path, parts)
    return open_dataset(path)


@pytest.fixture(scope="module")
def nominal(tmp_path_factory):
    data = simulate_glad(500, 30, labels_per_item=5, n_classes=3, alpha_sd=1.5, seed=11).labels
    return data, _dataset(data, tmp_path_factory.mktemp("nominal") / "d", 5)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    data = simulate_ordinal(600, 30, n_classes=4, labels_per_item=5, random_state=4).labels
    return data, _dataset(data, tmp_path_factory.mktemp("graded") / "d", 3)


@pytest.mark.parametrize("method", sorted(PIPELINED))
def test_pipelined_fit_is_the_plain_loops(client, nominal, graded, method):
    """Same sums in the same order, the M-step on the same numbers: the histories are equal to the
    bit, and so are the stopping iteration and the fitted parameters."""
    _, ds = graded if method == "ordinal_ds" else nominal
    cls = PIPELINED[method]
    seen = []

    def ahead(n_iter, objective):
        # when the driver reads iteration t's objective, iteration t+1's step is already submitted
        # (none is after the last iteration: the loop stops at the step that says so)
        seen.append(sum(str(key).startswith("em_step") for key in client.futures))

    got = cls().fit_cluster(Cluster(client, ds), callback=ahead)
    plain = cls()
    plain.pipeline = False
    ref = plain.fit_cluster(Cluster(client, ds))
    assert got.history_ == ref.history_ and got.n_iter_ == ref.n_iter_ == len(seen) > 3
    assert got.converged_ and ref.converged_ and got.n_passes_ == ref.n_passes_
    assert np.array_equal(got.posteriors_, ref.posteriors_)
    np.testing.assert_array_equal(got.accuracy_, ref.accuracy_)
    assert min(seen[:-1]) >= 2  # its own and the next
    assert_non_decreasing(got.history_)


@pytest.mark.parametrize("max_iter", [1, 3])
def test_max_iter_and_stopping_as_in_memory(client, nominal, max_iter):
    """The driver stops submitting at max_iter; the objective, the warning and the class prior are
    the in-memory fit's."""
    data, ds = nominal
    from emcrowd.errors import ConvergenceWarning

    with pytest.warns(ConvergenceWarning):
        ref = DawidSkene(engine="numba", max_iter=max_iter).fit(data)
    with pytest.warns(ConvergenceWarning):
        got = DaskDawidSkene(max_iter=max_iter).fit_cluster(Cluster(client, ds))
    assert got.n_iter_ == ref.n_iter_ == max_iter and not got.converged_
    np.testing.assert_allclose(got.history_, ref.history_, rtol=1e-9, atol=0)
    np.testing.assert_allclose(got.class_prior_, ref.class_prior_, rtol=1e-9)
    got = DaskOneCoin(tol=1e-3, smoothing=0.5).fit_cluster(Cluster(client, ds))
    ref = OneCoin(engine="numba", tol=1e-3, smoothing=0.5).fit(data)
    np.testing.assert_allclose(got.history_, ref.history_, rtol=1e-9, atol=0)
    assert got.converged_ and np.array_equal(got.labels_, ref.labels_)


def test_ordinal_model_on_dask_is_the_in_memory_one(client, graded):
    data, ds = graded
    ref = OrdinalDawidSkene(engine="numba").fit(data)
    model, _ = fit_dataset(ds, "ordinal", client=client)
    assert isinstance(model, DaskOrdinalDawidSkene) and model.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(model.history_, ref.history_, rtol=1e-9, atol=0)
    assert np.array_equal(model.labels_, ref.labels_)
    for name in ("bias_", "spread_", "exact_bonus_", "accuracy_", "class_prior_"):
        np.testing.assert_allclose(getattr(model, name), getattr(ref, name), rtol=1e-6, atol=1e-9)
