"""The Dask engine against the in-memory engine, on a LocalCluster of two worker processes; and the
partitioned data sets it reads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from emcrowd.errors import ConvergenceWarning, EmcrowdError, InputError
from emcrowd.io.partition import open_dataset, partition_arrays, partition_labels, read_partition
from emcrowd.models.classification.dawid_skene import DawidSkene, OneCoin
from emcrowd.models.classification.glad import GLAD
from emcrowd.models.classification.majority import majority_vote
from emcrowd.models.simulate import simulate_dawid_skene, simulate_glad
from tests.helpers import ROOT, assert_non_decreasing

distributed = pytest.importorskip("distributed")

from emcrowd.distributed import (  # noqa: E402
    Cluster,
    DaskDawidSkene,
    DaskGLAD,
    DaskOneCoin,
    connect,
    fit_dataset,
    local_cluster,
    majority_vote_cluster,
)

MODELS = {
    "glad": (GLAD, DaskGLAD),
    "dawid_skene": (DawidSkene, DaskDawidSkene),
    "one_coin": (OneCoin, DaskOneCoin),
}


@pytest.fixture(scope="module")
def client():
    cluster = local_cluster(2)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    # three classes, some adversarial annotators, an item without labels would be dropped by the
    # simulator; a learned class prior is exercised by Dawid-Skene (its default)
    return simulate_glad(600, 40, labels_per_item=5, n_classes=3, alpha_sd=1.5, seed=3).labels


@pytest.fixture(scope="module")
def datasets(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    return {p: open_dataset(_written(data, root / f"p{p}", p)) for p in (1, 3, 7)}


def _written(data, path, p):
    partition_arrays(data, path, p)
    return path


def _same_fit(ref, got):
    h_ref, h_got = np.asarray(ref.history_), np.asarray(got.history_)
    assert h_ref.size == h_got.size
    np.testing.assert_allclose(h_got, h_ref, rtol=1e-6, atol=0)
    assert np.array_equal(ref.labels_, got.labels_)
    np.testing.assert_allclose(got.posteriors_, ref.posteriors_, atol=1e-6)
    assert_non_decreasing(got.history_)
    assert got.converged_ == ref.converged_ and got.n_iter_ == ref.n_iter_


@pytest.mark.parametrize("parts", [1, 3, 7])
@pytest.mark.parametrize("method", sorted(MODELS))
def test_same_fit_as_in_memory(client, data, datasets, method, parts):
    memory, dask_model = MODELS[method]
    ref = memory(engine="numba").fit(data)
    got = dask_model().fit_cluster(Cluster(client, datasets[parts]))
    _same_fit(ref, got)
    assert got.engine_ == "dask"
    for name in ("accuracy_", "class_prior_"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-6, atol=1e-9)
    if method == "glad":
        np.testing.assert_allclose(got.alpha_, ref.alpha_, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(got.b_, ref.b_, rtol=1e-6, atol=1e-9)
    if method == "dawid_skene":
        np.testing.assert_allclose(got.confusion_, ref.confusion_, rtol=1e-6, atol=1e-9)
    # and the NumPy in-memory engine agrees too
    _same_fit(memory(engine="numpy").fit(data), got)


#: The tasks whose results are a partition's labels, posteriors or GLAD state (megabytes at scale):
#: they never cross between workers (the broadcasts and the partial sums do).
STAY_HOME = {
    "load_part", "vote_shares", "confusion_e_step", "symmetric_e_step", "glad_start", "glad_em_pass",
    "glad_keep",
}  # fmt: skip


@pytest.mark.parametrize("method", sorted(MODELS))
def test_partitions_stay_home(client, data, datasets, method):
    """Each partition and its states stay on their home worker (consecutive blocks, one per
    worker): what crosses between workers is the broadcasts and the partial sums."""
    cluster = Cluster(client, datasets[7])
    held = client.who_has(cluster.parts)
    homes = [next(iter(held[p.key])) for p in cluster.parts]
    assert homes == cluster.homes == sorted(homes)  # consecutive blocks...
    assert len(set(homes)) == 2  # ...on both workers
    began = time.time()
    MODELS[method][1]().fit_cluster(cluster)

    def shipped(dask_worker, since):
        return [k for d in dask_worker.transfer_incoming_log if d["start"] >= since for k in d["keys"]]

    keys = [k for ks in client.run(shipped, since=began).values() for k in ks]
    names = {(k[0] if isinstance(k, tuple) else k).rsplit("-", 5)[0] for k in keys}
    assert "block_sum" in names  # the log is read right
    assert not names & STAY_HOME, names & STAY_HOME


def test_scheduler_knows_what_partitions_weigh(client, data, datasets):
    """Dask is told the bytes of a partition (not its default of a few dozen bytes for an object),
    and a GLAD state is a tuple of arrays, each in one result only: what the workers report holding
    is what they hold."""
    from dask.sizeof import sizeof

    from emcrowd.distributed import _tasks as T

    part = T.load_part(datasets[1].partition_files()[0], data.n_workers, data.class_names)
    g = part.by_item
    assert sizeof(part) > part.items.nbytes + g.indptr.nbytes + g.worker.nbytes + g.label.nbytes

    # the states during a fit: no array is in two of them (but for an accepted pass's result and
    # the state kept of it, until the result is freed)
    def states(dask_worker):
        holders: dict[int, list[str]] = {}
        for key, value in dask_worker.data.items():
            for a in value if isinstance(value, tuple) else ():
                if isinstance(a, np.ndarray) and a.size > 1:
                    base = a if a.base is None else a.base
                    holders.setdefault(id(base), []).append(key.rsplit("-", 5)[0])
        kept = ["glad_em_pass", "glad_keep"]
        names = {k.rsplit("-", 5)[0] for k in dask_worker.data}
        return len(holders), [h for h in holders.values() if len(h) > 1 and sorted(h) != kept], names

    seen = []

    def look(n_iter, objective):
        seen.extend((n_iter, *found) for found in client.run(states).values())

    with pytest.warns(ConvergenceWarning):  # three iterations, all looked at
        DaskGLAD(max_iter=3, tol=0.0).fit_cluster(Cluster(client, datasets[3]), callback=look)
    assert min(n for _, n, _, _ in seen) >= 2  # states were looked at...
    assert all(not shared for _, _, shared, _ in seen), seen  # ...none shares an array with another
    # and the first posteriors are let go of once the first M-step has read them
    assert all("glad_start" not in names for n_iter, _, _, names in seen if n_iter >= 2), seen


def test_options_and_learned_prior(client, data, datasets):
    options = {"learn_class_prior": True, "max_sweeps": 3, "alpha_prior": (0.5, 2.0)}
    ref = GLAD(engine="numba", **options).fit(data)
    _same_fit(ref, DaskGLAD(**options).fit_cluster(Cluster(client, datasets[3])))
    ref = DawidSkene(engine="numba", smoothing=0.5, learn_class_prior=False).fit(data)
    _same_fit(
        ref, DaskDawidSkene(smoothing=0.5, learn_class_prior=False).fit_cluster(Cluster(client, datasets[7]))
    )


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_majority_vote(client, data, datasets, parts):
    ref = majority_vote(data)
    got = majority_vote_cluster(Cluster(client, datasets[parts]))
    assert np.array_equal(got.labels, ref.labels)
    assert np.array_equal(got.tied, ref.tied) and got.n_ties == ref.n_ties
    np.testing.assert_array_equal(got.posteriors, ref.posteriors)


def test_binary_dawid_skene_data(client, tmp_path):
    data = simulate_dawid_skene(500, 25, labels_per_item=4, n_classes=2, seed=5)[0]
    ds = open_dataset(_written(data, tmp_path / "ds", 3))
    for method in sorted(MODELS):
        memory, dask_model = MODELS[method]
        _same_fit(memory(engine="numba").fit(data), dask_model().fit_cluster(Cluster(client, ds)))


def test_fit_dataset_entry(client, data, datasets):
    model, mv = fit_dataset(datasets[3].path, "ds", client=client)
    assert isinstance(model, DaskDawidSkene)
    assert np.array_equal(mv.labels, majority_vote(data).labels)
    assert fit_dataset(datasets[3].path, "majority", client=client)[0] is None
    with pytest.raises(EmcrowdError, match="Dask engine fits"):
        fit_dataset(datasets[3].path, "ebcc", client=client)
    with pytest.raises(EmcrowdError, match="n_init"):
        fit_dataset(datasets[3].path, "glad", client=client, n_init=2)


@pytest.mark.parametrize("method", sorted(MODELS))
def test_lost_worker_is_survived(client, data, datasets, method):
    """A worker process killed after iteration 2: its partitions (and their states) are recomputed
    from the Parquet files, and the fit ends as the in-memory one."""
    memory, dask_model = MODELS[method]
    ref = memory(engine="numba").fit(data)
    killed = []

    def kill_one(n_iter, objective):
        if n_iter == 2 and not killed:
            pids = client.run(os.getpid)
            address, pid = sorted(pids.items())[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(address)

    got = dask_model().fit_cluster(Cluster(client, datasets[7]), callback=kill_one)
    assert killed
    _same_fit(ref, got)
    client.wait_for_workers(2, timeout=300)  # the nanny restarts it (slowly when loaded)


def test_unreachable_scheduler_is_one_error():
    with pytest.raises(EmcrowdError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        connect("tcp://127.0.0.1:9", timeout=2)


# -- the partitioned data sets ---------------------------------------------------------------------
def test_partition_layout_and_codes(data, tmp_path):
    manifest = partition_arrays(data, tmp_path / "d", 4)
    ds = open_dataset(tmp_path / "d")
    assert manifest["n_labels"] == data.n_labels == ds.n_labels and ds.n_partitions == 4
    assert ds.item_names() == data.item_names and ds.worker_names() == data.worker_names
    assert ds.class_names == data.class_names
    seen = []
    for files in ds.partition_files():
        items, item, worker, label = read_partition(*files)
        assert np.all(np.diff(items) > 0) and np.isin(item, items).all()
        seen.append(items)
        rows = np.flatnonzero(np.isin(data.item, items))  # the partition's labels in file order
        assert np.array_equal(item, data.item[rows]) and np.array_equal(worker, data.worker[rows])
        assert np.array_equal(label, data.label[rows])
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(data.n_items))


def test_partition_from_a_file(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("item,worker,label\na,w1,cat\na,w2,dog\nb,w1,dog\nc,w2,cat\n", encoding="utf-8")
    partition_labels(csv, tmp_path / "d", 2)
    ds = open_dataset(tmp_path / "d")
    assert ds.n_labels == 4 and ds.n_items == 3 and ds.class_names == ("cat", "dog")
    with pytest.raises(InputError, match="already exists"):
        partition_labels(csv, tmp_path / "d", 2)
    bad = tmp_path / "bad.csv"
    bad.write_text("item,worker,label\n", encoding="utf-8")
    with pytest.raises(EmcrowdError):
        partition_labels(bad, tmp_path / "e", 2)
    assert not (tmp_path / "e").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    with pytest.raises(EmcrowdError, match="partitions"):
        partition_labels(csv, tmp_path / "f", 0)


def test_damaged_data_sets_are_one_error(data, tmp_path):
    path = _written(data, tmp_path / "d", 3)
    manifest = json.loads((path / "manifest.json").read_text())
    part = path / manifest["partitions"][1]["labels"]
    part.write_bytes(part.read_bytes()[:-20])
    with pytest.raises(InputError, match="not a readable Parquet file"):
        open_dataset(path)
    part.unlink()
    with pytest.raises(InputError, match="is missing"):
        open_dataset(path)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        open_dataset(path)
    with pytest.raises(InputError, match="not a partitioned data set"):
        open_dataset(tmp_path)


def test_cli_does_not_import_dask():
    code = "import sys, emcrowd.cli; assert 'dask' not in sys.modules and 'distributed' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_gathered_outputs_are_todays_tables(client, data, datasets):
    from emcrowd.analysis.aggregate import aggregate
    from emcrowd.distributed.engine import gathered_aggregation
    from emcrowd.tables import item_table, worker_table

    ds = datasets[3]
    model, mv = fit_dataset(ds, "glad", client=client)
    labels, agg = gathered_aggregation(ds, "glad", model, mv)
    ref = aggregate(data, "glad", engine="numba")
    for table in (item_table, worker_table):
        got, want = table(labels, agg), table(data, ref)
        assert list(got) == list(want)
        for key in want:
            if np.asarray(want[key]).dtype.kind == "f":
                np.testing.assert_allclose(
                    np.asarray(got[key], float), np.asarray(want[key], float), rtol=1e-6
                )
            else:
                assert np.array_equal(np.asarray(got[key]), np.asarray(want[key])), key


def _emcrowd(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "emcrowd", *map(str, args)], cwd=cwd, capture_output=True, text=True
    )


def test_cli_partition_and_fit(tmp_path):
    """`emcrowd partition` then `emcrowd fit DATASET_DIR --engine dask`: today's files, the in-memory
    fit's labels; an unreachable scheduler is one line and exit 2."""
    import csv

    sample = ROOT / "sample_data" / "L.npy"
    done = _emcrowd("partition", sample, "parts", "--partitions", 3, "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = _emcrowd("fit", "parts", "--engine", "dask", "--local-workers", 1, "-o", "out", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ref = _emcrowd("fit", sample, "-o", "ref", "-q", cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in (tmp_path / "ref").iterdir()
    )
    for name in ("items.csv", "workers.csv"):
        with open(tmp_path / "out" / name) as a, open(tmp_path / "ref" / name) as b:
            got, want = list(csv.DictReader(a)), list(csv.DictReader(b))
        assert [r.get("label", r.get("worker")) for r in got] == [
            r.get("label", r.get("worker")) for r in want
        ]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["engine"]["name"] == "dask" and summary["engine"]["partitions"] == 3
    bad = _emcrowd("fit", "parts", "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9", "-q", cwd=tmp_path)
    assert (
        bad.returncode == 2
        and bad.stderr.count("\n") == 1
        and "cannot reach the Dask scheduler" in bad.stderr
    )
    again = _emcrowd("partition", sample, "parts", "-q", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_rows_in_any_order(client, data, tmp_path):
    """Labels not grouped by item (as in most files): each partition groups them, keeping each item's
    labels in file order, and the fit is still the in-memory one."""
    from emcrowd.data import Labels

    order = np.random.default_rng(0).permutation(data.n_labels)
    shuffled = Labels(
        data.item[order], data.worker[order], data.label[order], data.item_names, data.worker_names,
        data.class_names,
    )  # fmt: skip
    ds = open_dataset(_written(shuffled, tmp_path / "d", 3))
    for method in ("glad", "dawid_skene"):
        memory, dask_model = MODELS[method]
        _same_fit(memory(engine="numba").fit(shuffled), dask_model().fit_cluster(Cluster(client, ds)))
