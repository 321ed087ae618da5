"""The binary .npz input (code arrays): same answers as the text formats, safe to load, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from emcrowd import GLAD
from emcrowd.cli import app
from emcrowd.errors import InputError
from emcrowd.io import labels_npz, load_labels
from emcrowd.simulate import simulate_glad

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
    with pytest.raises(InputError, match="unpickling"):
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
