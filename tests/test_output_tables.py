"""items.csv, workers.csv and confusion.csv: the columns of issue 15, the same for every method, and
unique column names whatever the class names."""

from __future__ import annotations

import csv
import io as stdio

import numpy as np
import pytest

from emcrowd import io
from emcrowd.analysis.aggregate import METHODS, aggregate
from emcrowd.data import Labels
from emcrowd.models.simulate import simulate_dawid_skene
from emcrowd.tables import confusion_table, item_table, posterior_table, worker_table

FIT_METHODS = [m for m in METHODS if m != "auto"]


def small() -> Labels:
    # item a: x, x, y; item b: y; item c: no labels
    return Labels(
        item=[0, 0, 0, 1],
        worker=[0, 1, 2, 0],
        label=[0, 0, 1, 1],
        item_names=("a", "b", "c"),
        worker_names=("u", "v", "w"),
        class_names=("x", "y"),
    )


def read_csv(table: dict) -> list[list[str]]:
    """The rows (header first) of ``table`` as written to a CSV file by the CLI's writer."""
    buffer = stdio.BytesIO()
    io.TableFile(table, "csv").write(buffer)
    return list(csv.reader(stdio.StringIO(buffer.getvalue().decode("utf-8"), newline="")))


@pytest.mark.filterwarnings("ignore::emcrowd.errors.ConvergenceWarning")
def test_item_columns_by_hand():
    data = small()
    table = item_table(data, aggregate(data, "majority"))
    assert list(table["votes"]) == ["x:2;y:1", "y:1", ""]
    assert list(table["vote_margin"]) == [1, 1, 0]
    np.testing.assert_allclose(table["agreement"], [1 / 3, np.nan, np.nan])  # 2 of 6 ordered pairs agree
    rows = read_csv(table)
    header = rows[0]
    assert rows[1][header.index("votes")] == "x:2;y:1"
    assert rows[2][header.index("agreement")] == "nan"  # not pairable, written as every NaN is


@pytest.mark.filterwarnings("ignore::emcrowd.errors.ConvergenceWarning")
@pytest.mark.parametrize("method", FIT_METHODS)
def test_every_method_gets_the_same_annotator_columns(method):
    data, truth, _ = simulate_dawid_skene(300, 8, labels_per_item=4, n_classes=3, seed=7)
    gold = np.where(np.arange(data.n_items) % 3 == 0, truth, -1)
    result = aggregate(data, method)
    table = worker_table(data, result, gold)
    expected = ["worker", "n_labels", "accuracy", "accuracy_low", "accuracy_high", "gold_accuracy", "n_gold"]
    expected += ["spammer_score", "agreement", "flags"] + (["alpha"] if method == "glad" else [])
    expected += ["competence", "spam_0", "spam_1", "spam_2"] if method == "mace" else []
    expected += ["bias", "spread", "exact_bonus"] if method == "ordinal_ds" else []
    assert list(table) == expected
    assert np.all((table["accuracy"] >= 0) & (table["accuracy"] <= 1))
    assert np.all(table["accuracy_low"] <= table["accuracy"]) and np.all(
        table["accuracy"] <= table["accuracy_high"]
    )
    assert np.all((table["spammer_score"] >= 0) & (table["spammer_score"] <= 1))
    # simulated annotators are good: the estimates say so whatever the model
    assert np.median(table["accuracy"]) > 0.6
    worker0 = data.worker == 0
    n_gold = np.unique(data.item[worker0 & (gold[data.item] >= 0)]).size
    assert table["n_gold"][0] == n_gold
    right = data.label[worker0] == gold[data.item[worker0]]
    assert table["gold_accuracy"][0] == pytest.approx(right.sum() / (gold[data.item[worker0]] >= 0).sum())
    assert "gold_accuracy" not in worker_table(data, result)
    long = confusion_table(data, result)
    assert len(long["worker"]) == data.n_workers * 9
    p = np.asarray(long["probability"]).reshape(data.n_workers, 3, 3)
    np.testing.assert_allclose(p.sum(axis=2), 1.0)
    if result.model is not None and getattr(result.model, "confusion_", None) is not None:
        np.testing.assert_allclose(p, result.model.confusion_)


def test_flags_in_workers_csv():
    data, _, _ = simulate_dawid_skene(400, 10, labels_per_item=5, n_classes=2, seed=8)
    # annotator "const" says class 0 on 60 items; "few" gives two labels
    items = np.arange(60)
    data = Labels(
        item=np.concatenate([data.item, items, [0, 1]]),
        worker=np.concatenate([data.worker, np.full(60, 10), [11, 11]]),
        label=np.concatenate([data.label, np.zeros(60, dtype=int), [0, 1]]),
        item_names=data.item_names,
        worker_names=(*data.worker_names, "const", "few"),
        class_names=data.class_names,
    )
    table = worker_table(data, aggregate(data, "dawid_skene"))
    flags = dict(zip(table["worker"], table["flags"], strict=True))
    assert "constant" in flags["const"].split(";") and "spammer" in flags["const"].split(";")
    assert flags["few"] == "sparse"


ADVERSARIAL = ("a_given_b", "a", "b_given_a", "b", 'q"uote', "com,ma", "new\nline", " ", "", "x:1;y", "%3A")


@pytest.mark.filterwarnings("ignore::emcrowd.errors.ConvergenceWarning")
def test_adversarial_class_names_lose_nothing():
    k = len(ADVERSARIAL)
    rng = np.random.default_rng(9)
    n_items, n_workers = 120, 6
    item = np.repeat(np.arange(n_items), 4)
    worker = np.concatenate([rng.choice(n_workers, 4, replace=False) for _ in range(n_items)])
    data = Labels(
        item=item,
        worker=worker,
        label=rng.integers(0, k, item.size),
        item_names=tuple(f"i{j}" for j in range(n_items)),
        worker_names=("w,1", 'w"2', "w\n3", "p_a_given_b", "", "w6"),
        class_names=ADVERSARIAL,
    )
    result = aggregate(data, "dawid_skene", max_iter=5)
    for table in (posterior_table(data, result), item_table(data, result), worker_table(data, result)):
        rows = read_csv(table)
        assert rows[0] == [str(name) for name in table]  # the header reads back exactly ...
        assert len(set(rows[0])) == len(rows[0]) == len(table)  # ... with no column lost
        assert all(len(row) == len(rows[0]) for row in rows)
    posteriors = read_csv(posterior_table(data, result))
    assert posteriors[0][1:] == [f"p_{name}" for name in ADVERSARIAL]
    # confusion matrices in long form: class names are values, every cell is there once
    rows = read_csv(confusion_table(data, result))
    assert rows[0] == ["worker", "true", "said", "probability"]
    cells = {(w, t, s): float(p) for w, t, s, p in rows[1:]}
    assert len(cells) == n_workers * k * k == len(rows) - 1
    for i, w in enumerate(data.worker_names):
        for t, true in enumerate(ADVERSARIAL):
            for s, said in enumerate(ADVERSARIAL):
                assert cells[(w, true, said)] == result.model.confusion_[i, t, s]
    # the vote split always splits back into (name, count) pairs
    votes = list(item_table(data, result)["votes"])
    decoded = {name.replace("%3A", ":").replace("%3B", ";").replace("%25", "%") for name in ADVERSARIAL}
    for text, j in zip(votes, range(n_items), strict=False):
        pairs = [part.rsplit(":", 1) for part in text.split(";")]
        names = [n.replace("%3B", ";").replace("%3A", ":").replace("%25", "%") for n, _ in pairs]
        assert sum(int(c) for _, c in pairs) == 4
        assert set(names) <= set(ADVERSARIAL) | decoded
        labels = data.label[data.item == j]
        assert sorted(names) == sorted({ADVERSARIAL[c] for c in labels})


@pytest.mark.filterwarnings("ignore::emcrowd.errors.ConvergenceWarning")
def test_worker_table_is_the_same_without_the_joint_counts(monkeypatch):
    import emcrowd.analysis.quality

    data, _, _ = simulate_dawid_skene(300, 8, labels_per_item=4, n_classes=3, seed=12)
    data = Labels(  # annotator 8: constant
        item=np.concatenate([data.item, np.arange(40)]),
        worker=np.concatenate([data.worker, np.full(40, 8)]),
        label=np.concatenate([data.label, np.full(40, 2)]),
        item_names=data.item_names,
        worker_names=(*data.worker_names, "c"),
        class_names=data.class_names,
    )
    result = aggregate(data, "dawid_skene")
    fast = worker_table(data, result)
    monkeypatch.setattr(emcrowd.analysis.quality, "MAX_ANSWER_CELLS", 0)
    assert emcrowd.analysis.quality.answer_counts(data, result.labels) is None
    slow = worker_table(data, result)
    assert list(fast) == list(slow) and "constant" in fast["flags"][8]
    for name in fast:
        np.testing.assert_array_equal(np.asarray(fast[name]), np.asarray(slow[name]))


def test_named_codes_read_as_text_and_write_like_strings(tmp_path):
    names = ("a,b", 'say "hi"', "plain")
    column = io.NamedCodes(np.array([0, 2, -1, 1, 2]), names)
    assert list(column) == ["a,b", "plain", "", 'say "hi"', "plain"]
    assert list(column[1:3]) == ["plain", ""] and column[3] == 'say "hi"'
    assert np.asarray(column).tolist() == list(column)
    table = {"id": ("x", "y", "z", "w", "v"), "name": column}
    rows = read_csv(table)  # names that need quotes: quoted, as the csv module reads them back
    assert [row[1] for row in rows[1:]] == list(column)
    assert list(csv.reader(stdio.StringIO(io.csv_text(table), newline=""))) == rows
    out = tmp_path / "t.parquet"
    with open(out, "wb") as fh:
        io.TableFile(table, "parquet").write(fh)
    import pyarrow.parquet as pq

    written = pq.read_table(out)
    assert str(written.schema.field("name").type) == "string"  # plain text, not a dictionary
    assert written.column("name").to_pylist() == list(column)


def test_long_named_codes_columns_match_the_text_writer():
    rng = np.random.default_rng(0)
    n = io.outputs.WRITE_ROWS + 5  # past the row count where the codes are expanded by a take
    column = io.NamedCodes(rng.integers(-1, 3, n), ("0", "1", "x"))
    table = {"label": column, "p": rng.random(n)}
    arrow_rows = read_csv(table)
    text_rows = list(csv.reader(stdio.StringIO(io.csv_text(table), newline="")))
    assert [r[0] for r in arrow_rows] == [r[0] for r in text_rows] == ["label", *column]
    assert [float(r[1]) for r in arrow_rows[1:]] == table["p"].tolist()  # (Arrow spells 1e-05 0.00001)


def test_writing_a_long_table_holds_a_few_slices_of_text_at_a_time():
    import pyarrow as pa

    rows = 16 * io.outputs.WRITE_ROWS
    table = {"p": np.random.default_rng(1).random(rows)}  # about 19 bytes of text per row
    pool = pa.proxy_memory_pool(pa.system_memory_pool())
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        io.TableFile(table, "csv").write(stdio.BytesIO())
    finally:
        pa.set_memory_pool(previous)
    slice_text = 19 * io.outputs.WRITE_ROWS
    assert pool.max_memory() < 3 * (io.outputs.WRITE_THREADS + 1) * slice_text  # not the whole text
