"""The pieces of ``emcrowd update``'s incremental path (issue 27): ids looked up by hash, kept table rows
merged from their buffers, and Dawid-Skene's EM iterations over the kept label codes."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from emcrowd.cli import app
from emcrowd.io import state
from emcrowd.io.kept_tables import merge_rows, rows_of
from emcrowd.io.npz import labels_npz
from emcrowd.io.state import NameIndex, _names_arrays, name_hashes
from emcrowd.models import MODELS
from emcrowd.models._incremental import confusion_counts, ds_sweeps
from emcrowd.models.simulate import simulate_dawid_skene
from tests.test_incremental import part

runner = CliRunner()

IDS = ("a", "b,c", "é-ü", "", "x\ny", "item-1", "item-10", "item-100", "ÿ" * 40)


def _index(*parts: tuple[str, ...]) -> NameIndex:
    index = NameIndex()
    for names in parts:
        index.add({f"item_{k}": v for k, v in _names_arrays(names, hashed=True).items()}, len(names))
    return index


@pytest.mark.parametrize("collide", [False, True])
def test_ids_are_found_by_hash_and_checked_byte_for_byte(collide, monkeypatch):
    if collide:  # every id with the same hash: the bytes alone tell them apart
        monkeypatch.setattr(state, "name_hashes", lambda data, starts, ends: np.zeros(starts.size, np.uint64))
    more = ("new", "item-2", "zz\nzz")
    index = _index(IDS, more)
    assert len(index) == len(IDS) + len(more)
    asked = ("item-2", "nope", "", "x\ny", "ÿ" * 40, "item-1", "item-1 ", "zz\nzz", "b,c")
    want = [len(IDS) + 1, -1, 3, 4, 8, 5, -1, len(IDS) + 2, 1]
    np.testing.assert_array_equal(index.positions(asked), want)
    assert index.names_of(np.array([8, 0, len(IDS) + 2, 4])) == ("ÿ" * 40, "a", "zz\nzz", "x\ny")


def test_name_hashes_are_those_of_each_id_alone():
    names = tuple(f"id-{i}" for i in range(5000)) + IDS
    arrays = _names_arrays(names, hashed=True)
    alone = [
        int(
            name_hashes(
                np.frombuffer(n.encode(), dtype=np.uint8), np.array([0]), np.array([len(n.encode())])
            )[0]
        )
        for n in names
    ]
    order = arrays["name_hash_code"]
    assert arrays["name_hash"].tolist() == [alone[i] for i in order.tolist()]
    assert len(set(alone)) == len(names)  # distinct ids, distinct hashes (here)


def _table(n: int, chunks: int) -> pa.Table:
    rng = np.random.default_rng(0)
    full = pa.table({
        "item": [f"it-{i}" * (1 + i % 3) for i in range(n)],
        "label": [("cat", "dog", "é")[i % 3] for i in range(n)],
        "confidence": rng.random(n),
        "n_labels": rng.integers(0, 9, n),
        "majority_tie": rng.random(n) < 0.3,
    })  # fmt: skip
    cuts = np.linspace(0, n, chunks + 1).astype(int)
    return pa.Table.from_batches([b for a, z in pairwise(cuts) for b in full.slice(a, z - a).to_batches()])


@pytest.mark.parametrize("chunks", [1, 3])
def test_rows_merged_from_buffers_equal_arrow_take(chunks):
    prev = _table(500, chunks)
    codes = np.array([3, 4, 5, 100, 499, 500, 501, 502])  # replaced rows (one run of three), new rows
    rows = {
        "item": tuple(f"r{c}" for c in codes),
        "label": ("dog",) * codes.size,
        "confidence": np.linspace(0, 1, codes.size),
        "n_labels": np.arange(codes.size),
        "majority_tie": np.arange(codes.size) % 2 == 0,
    }
    got = merge_rows(prev, codes, rows, "parquet")
    order = np.arange(503)
    order[codes] = 500 + np.arange(codes.size)
    added = pa.table({k: pa.array(list(v)) for k, v in rows.items()}).cast(prev.schema)
    want = pa.concat_tables([prev, added]).take(pa.array(order))
    for name in prev.column_names:
        assert got[name].type == prev[name].type
        assert got[name].to_pylist() == want[name].to_pylist(), name
    picked = np.array([499, 0, 250, 4])
    for name in prev.column_names:
        assert rows_of(prev, name, picked) == [prev[name][int(i)].as_py() for i in picked]


@pytest.mark.filterwarnings("ignore:dawid_skene did not converge")  # (three iterations on purpose)
def test_dawid_skene_iterations_match_the_numpy_and_compiled_engines():
    data = simulate_dawid_skene(3000, 25, labels_per_item=5, n_classes=3, seed=4)[0]
    fitted = MODELS["dawid_skene"](max_iter=3).fit(data)
    results = []
    for engine in ("numpy", "numba"):
        model = MODELS["dawid_skene"](engine=engine)
        args = (data.item, data.worker, data.label, data.n_items, fitted.confusion_, fitted.class_prior_)
        results.append(ds_sweeps(model, *args, max_sweeps=50))
    a, b = results
    assert a.converged and b.converged and a.n_iter == b.n_iter > 1
    np.testing.assert_allclose(a.q, b.q, atol=1e-9)
    np.testing.assert_allclose(a.confusion, b.confusion, atol=1e-9)
    assert all(y >= x - 1e-9 * abs(x) for x, y in zip(a.history, a.history[1:], strict=False))
    # the counts kept are those of the final posteriors
    np.testing.assert_allclose(
        a.confusion_counts, confusion_counts(data.item, data.worker, data.label, a.q, 25)
    )


def _invoke(*args: object):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.stderr
    return res


def test_dawid_skene_update_agrees_with_a_refit_of_all_the_labels(tmp_path: Path):
    """1% new labels (new items, known annotators): the update's labels are a refit's on >= 99.9%."""
    data = simulate_dawid_skene(20_200, 200, labels_per_item=5, seed=3)[0]
    n_old = 20_000
    old, new = data.item < n_old, data.item >= n_old
    files = {}
    for name, labels in (
        ("old", part(data, old, n_old)),
        ("new", part(data, new)),
        ("all", data),
    ):
        files[name] = tmp_path / f"{name}.npz"
        np.savez(files[name], **labels_npz(labels))
    common = ("-m", "dawid-skene", "--out-format", "parquet", "-q")
    _invoke("fit", files["old"], *common, "--keep-state", "-o", tmp_path / "prev")
    res = _invoke("update", tmp_path / "prev", files["new"], "-o", tmp_path / "upd", "-q", "--json")
    assert json.loads(res.stdout)["update"]["incremental"]
    _invoke("fit", files["all"], *common, "-o", tmp_path / "full")

    def labels(d: str) -> dict[str, str]:
        t = pq.read_table(tmp_path / d / "items.parquet", columns=["item", "label"]).to_pydict()
        return dict(zip(t["item"], t["label"], strict=True))

    got, want = labels("upd"), labels("full")
    assert got.keys() == want.keys()
    assert np.mean([got[k] == want[k] for k in want]) >= 0.999


def test_a_state_without_id_hashes_updates_the_same(tmp_path: Path):
    """A state whose labels file keeps no hashes of the ids (written before them) is read by decoding
    the ids: the same update."""
    data = simulate_dawid_skene(3000, 30, labels_per_item=5, seed=5)[0]
    rows = np.arange(data.n_labels)
    late = (data.item < 2800) & (rows % 97 == 0)  # labels on known items too
    first, second = (data.item < 2800) & ~late, (data.item >= 2800) | late
    files = []
    for name, labels in (("first", part(data, first, 2800)), ("second", part(data, second))):
        files.append(tmp_path / f"{name}.npz")
        np.savez(files[-1], **labels_npz(labels))
    for d in ("hashed", "plain"):
        _invoke("fit", files[0], "-m", "ds", "--keep-state", "-o", tmp_path / d, "-q")
    labels_file = tmp_path / "plain" / "state-labels.npz"
    with np.load(labels_file) as npz:
        arrays = {k: npz[k] for k in npz.files if not k.startswith("item_name_hash")}
    np.savez(labels_file, **arrays)
    outputs = {}
    for d in ("hashed", "plain"):
        res = _invoke("update", tmp_path / d, files[1], "-q", "--json")
        record = json.loads(res.stdout)["update"]
        assert record["incremental"] and record["new_items"] == 200
        outputs[d] = (tmp_path / d / "items.csv").read_text()
    assert outputs["hashed"] == outputs["plain"]
