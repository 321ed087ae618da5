"""The binary .npz input (code arrays): same answers as the text formats, safe to load, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from emcrowd import GLAD
from emcrowd.cli import app
from emcrowd.errors import InputError
from emcrowd.io import labels_npz, load_labels
from emcrowd.models.simulate import simulate_glad

runner = CliRunner()


def test_npz_round_trip_gives_the_same_fit(tmp_path):
    (tmp_path / "x.csv").write_text(
        "item,worker,label\nq1,ann,cat\nq1,bob,dog\nq2,ann,dog\nq2,bob,dog\nq3,ann,cat\n"
    )
    res = runner.invoke(app, ["convert", str(tmp_path / "x.csv"), str(tmp_path / "x.npz")])
    assert res.exit_code == 0, res.stderr
    a = load_labels(tmp_path / "x.csv").labels
    b = load_labels(tmp_path / "x.npz").labels
    assert (a.item_names, a.worker_names, a.class_names) == (b.item_names, b.worker_names, b.class_names)
    np.testing.assert_allclose(GLAD().fit(a).posteriors_, GLAD().fit(b).posteriors_)


def test_npz_without_names_and_with_missing_labels(tmp_path):
    sim = simulate_glad(50, 6, labels_per_item=3, seed=1).labels
    label = sim.label.astype(np.int64).copy()
    label[:5] = -1  # negative = missing
    np.savez(tmp_path / "c.npz", item=sim.item, worker=sim.worker, label=label)
    loaded = load_labels(tmp_path / "c.npz")
    assert loaded.report.n_missing == 5 and loaded.labels.n_labels == sim.n_labels - 5
    assert loaded.labels.n_items == 50  # an item whose labels are all missing is still an item
    assert loaded.labels.class_names == ("0", "1") and loaded.labels.item_names[:3] == ("0", "1", "2")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"item": np.array([0]), "worker": np.array([0])}, "lacks"),
        ({"item": np.array([0.5]), "worker": np.array([0]), "label": np.array([0])}, "integer"),
        ({"item": np.array([0, 1]), "worker": np.array([0]), "label": np.array([0])}, "length"),
        (
            {
                "item": np.array([0]),
                "worker": np.array([0]),
                "label": np.array([3]),
                "class_names": np.array(["a", "b"]),
            },
            "outside",
        ),
    ],
)
def test_bad_npz_archives_are_input_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=message) as info:
        load_labels(tmp_path / "bad.npz")
    assert str(tmp_path / "bad.npz") in str(info.value)


def test_npz_with_object_arrays_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    arrays = labels_npz(simulate_glad(10, 3, seed=0).labels)
    arrays["class_names"] = np.array([Evil(), Evil()], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    with pytest.raises(InputError, match="unpickl"):
        load_labels(tmp_path / "evil.npz")
    assert not marker.exists()


def test_simulate_npz_needs_no_dense_matrix(tmp_path):
    res = runner.invoke(
        app, ["simulate", "--items", "50000", "--workers", "20000", "-r", "3", "--format", "npz", "--out",
              str(tmp_path / "s"), "-q"],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    loaded = load_labels(tmp_path / "s" / "labels.npz")
    assert loaded.labels.n_labels == 150_000 and loaded.labels.n_workers == 20_000
    assert not (tmp_path / "s" / "L.npy").exists()


def test_npz_ids_may_be_any_integers_and_classes_map_by_name(tmp_path):
    np.savez(
        tmp_path / "ids.npz",
        item=np.array([10**12, 10**12, 7, 7]),
        worker=np.array([20_000_000, 5, 20_000_000, 5]),
        label=np.array([0, 0, 1, 1]),
        class_names=np.array(["cat", "dog"]),
    )
    data = load_labels(tmp_path / "ids.npz").labels
    assert data.item_names == ("7", str(10**12)) and data.worker_names == ("5", "20000000")
    swapped = load_labels(tmp_path / "ids.npz", classes=("dog", "cat")).labels
    assert swapped.class_names == ("dog", "cat")
    np.testing.assert_array_equal(swapped.label, 1 - data.label)  # same labels, reordered classes
    with pytest.raises(InputError, match="not among --classes"):
        load_labels(tmp_path / "ids.npz", classes=("dog", "owl"))


def test_npz_header_claiming_more_than_it_holds_is_refused(tmp_path):
    import zipfile

    good = tmp_path / "g.npz"
    np.savez(
        good,
        item=np.zeros(3, dtype=np.int64),
        worker=np.zeros(3, dtype=np.int64),
        label=np.zeros(3, dtype=np.int64),
    )
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "item.npy":
                data = data.replace(b"(3,)", b"(9999999,)")  # a header that overstates the array
            dst.writestr(info.filename, data)
    with pytest.raises(InputError) as info:
        load_labels(bad)
    assert str(bad) in str(info.value)


def test_names_survive_packing_whatever_their_length(tmp_path):
    from emcrowd import Labels

    names = ("a", "x" * 5000, 'ünï, "quoted"\nline')
    data = Labels([0, 1, 2], [0, 0, 0], [0, 1, 0], names, ("w",), ("no", "yes"))
    np.savez(tmp_path / "n.npz", **labels_npz(data))
    assert (tmp_path / "n.npz").stat().st_size < 20_000
    assert load_labels(tmp_path / "n.npz").labels.item_names == names


def test_npz_is_written_sorted_and_any_order_reads_the_same(tmp_path):
    data = simulate_glad(200, 10, labels_per_item=3, seed=3).labels
    order = np.random.default_rng(0).permutation(data.n_labels)
    arrays = labels_npz(data)
    shuffled = {**arrays, **{k: arrays[k][order] for k in ("item", "worker", "label")}}
    np.savez(tmp_path / "shuffled.npz", **shuffled)
    a = load_labels(tmp_path / "shuffled.npz").labels
    resaved = labels_npz(a)  # what convert writes: sorted by item, then annotator
    key = resaved["item"].astype(np.int64) * a.n_workers + resaved["worker"]
    assert np.all(np.diff(key) > 0)
    np.savez(tmp_path / "sorted.npz", **resaved)
    b = load_labels(tmp_path / "sorted.npz").labels
    for engine in ("numpy", "numba"):
        np.testing.assert_allclose(
            GLAD(engine=engine).fit(a).posteriors_, GLAD(engine=engine).fit(b).posteriors_, atol=1e-12
        )


def test_repeated_pairs_are_found_in_any_order(tmp_path):
    item = np.array([0, 1, 0, 1, 2, 0], dtype=np.int32)
    worker = np.array([0, 0, 1, 0, 1, 0], dtype=np.int32)  # (1, 0) twice, (0, 0) twice
    label = np.array([1, 0, 1, 1, 0, 1], dtype=np.int32)
    np.savez(tmp_path / "d.npz", item=item, worker=worker, label=label)
    report = load_labels(tmp_path / "d.npz").report
    assert (report.n_duplicate_pairs, report.n_duplicate_rows, report.n_conflicting_pairs) == (2, 2, 1)
    first = load_labels(tmp_path / "d.npz", duplicates="first").labels
    assert first.n_labels == 4
