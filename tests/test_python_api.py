"""The Python API as a pandas, polars or crowd-kit user meets it.

* Every model's ``fit``/``fit_predict``/``predict``/``predict_proba`` takes a long DataFrame (pandas,
  polars, pyarrow), finds the columns as the CLI does, and answers in the input's library, keyed by the
  user's item ids and in the user's class values; on a shared dataset the labels equal the CLI's.
* Gold and truth given by id (a Series, a mapping, a table) are matched by item id: shuffled, they give
  the same answer; unknown ids and classes are named.
* The calls of issue 22 that failed work, or fail naming the right call.
* Every ``python`` block of docs/python.md runs.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import emcrowd
from emcrowd import (
    EBCC,
    GLAD,
    BayesianDawidSkene,
    DawidSkene,
    EmcrowdError,
    Labels,
    MajorityVote,
    OneCoin,
    aggregate,
    compare,
    labels_from_frame,
    load_truth,
    majority_vote,
    read_truth,
)
from emcrowd.models.simulate import simulate_dawid_skene
from tests.helpers import DATASETS, ROOT

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")

SHARED = ["bluebirds", "rte", "temp", "dog", "adult2"]
CLASSES = ("bird", "cat", "dog")
MODELS = [GLAD, DawidSkene, OneCoin, BayesianDawidSkene, EBCC, MajorityVote]


def crowd_frame(n_items: int = 60, n_workers: int = 12, seed: int = 3):
    """A crowd-kit layout DataFrame (task, worker, label) with string ids and class names, rows
    shuffled, and its truth as a Series indexed by task."""
    data, true_class, _ = simulate_dawid_skene(n_items, n_workers, labels_per_item=5, n_classes=3, seed=seed)
    rows = np.random.default_rng(seed).permutation(data.n_labels)
    frame = pd.DataFrame(
        {
            "task": [f"img-{j:03d}" for j in data.item[rows]],
            "worker": [f"ann-{i}" for i in data.worker[rows]],
            "label": [CLASSES[k] for k in data.label[rows]],
        }
    )
    truth = pd.Series(
        [CLASSES[k] for k in true_class], index=[f"img-{j:03d}" for j in range(n_items)], name="label"
    )
    return frame, truth


def as_library(frame, library: str):
    if library == "polars":
        return pl.from_pandas(frame)
    if library == "pyarrow":
        return pa.Table.from_pandas(frame, preserve_index=False)
    return frame


def mapping_of(result, library: str, key: str, value: str) -> dict:
    """``{key: value}`` from a pandas Series, or a polars DataFrame / pyarrow Table of two columns."""
    if library == "pandas":
        assert result.index.name == key and result.name == value
        return dict(zip(result.index.tolist(), result.tolist(), strict=True))
    table = result.to_arrow() if library == "polars" else result
    assert table.column_names == [key, value]
    return dict(zip(table.column(key).to_pylist(), table.column(value).to_pylist(), strict=True))


# --------------------------------------------------------------------------------------------------
# a shared dataset in crowd-kit's layout: the same labels as the CLI
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_labels(tmp_path_factory):
    """``emcrowd fit labels.csv --method dawid-skene``'s items.csv as {item: label}, per dataset."""
    done = {}

    def get(name: str) -> dict[str, str]:
        if name not in done:
            out = tmp_path_factory.mktemp(name) / "out"
            run = subprocess.run(
                [sys.executable, "-m", "emcrowd", "fit", str(DATASETS / name / "labels.csv"),
                 "--method", "dawid-skene", "--out", str(out)],
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert run.returncode == 0, run.stderr
            with open(out / "items.csv", newline="", encoding="utf-8") as fh:
                done[name] = {row["item"]: row["label"] for row in csv.DictReader(fh)}
        return done[name]

    return get


def shared_frame(name: str):
    path = DATASETS / name / "labels.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return pd.read_csv(path).rename(columns={"item": "task"})  # crowd-kit's names


@pytest.mark.parametrize("name", SHARED)
def test_dawid_skene_fit_predict_on_a_pandas_frame_equals_the_cli(name, cli_labels):
    df = shared_frame(name)
    labels = DawidSkene().fit_predict(df)
    assert isinstance(labels, pd.Series)
    assert labels.index.name == "task" and labels.index.dtype == df["task"].dtype  # the user's ids
    assert labels.dtype == df["label"].dtype  # the user's label values
    assert set(labels.index) == set(df["task"]) and labels.index.is_unique
    want = cli_labels(name)
    assert {str(k): str(v) for k, v in labels.items()} == want


@pytest.mark.parametrize("library", ["polars", "pyarrow"])
@pytest.mark.parametrize("name", ["dog", "adult2"])
def test_dawid_skene_fit_predict_on_polars_and_arrow_equals_the_cli(name, library, cli_labels):
    frame = as_library(shared_frame(name), library)
    result = DawidSkene().fit_predict(frame)
    assert isinstance(result, pl.DataFrame if library == "polars" else pa.Table)
    got = mapping_of(result, library, "task", "label")
    assert {str(k): str(v) for k, v in got.items()} == cli_labels(name)


@pytest.mark.parametrize("name", ["rte", "dog"])
def test_a_shuffled_truth_series_scores_the_same(name):
    df = shared_frame(name)
    truth = pd.read_csv(DATASETS / name / "truth.csv").set_index("item")["label"]
    shuffled = truth.sample(frac=1.0, random_state=0)
    assert not shuffled.index.equals(truth.index)
    straight = compare(df, truth, methods=["dawid_skene"])
    mixed = compare(df, shuffled, methods=["dawid_skene"])
    for method in ("majority", "dawid_skene"):
        assert mixed["methods"][method]["accuracy"] == straight["methods"][method]["accuracy"]
    labels = DawidSkene().fit_predict(df)
    by_hand = (labels == truth.reindex(labels.index)).mean()
    assert straight["methods"]["dawid_skene"]["accuracy"] == pytest.approx(by_hand)
    assert by_hand > 0.8  # (by position, a shuffled truth scores near chance)

    # as gold: half of the items clamped, scored on the other half
    half = truth.iloc[::2]
    rest = truth.drop(half.index)
    fits = [DawidSkene().fit_predict(df, gold=g) for g in (half, half.sample(frac=1.0, random_state=1))]
    assert fits[0].equals(fits[1])
    assert (fits[0].reindex(half.index) == half).all()  # clamped by id
    assert (fits[0].reindex(rest.index) == rest).mean() >= (labels.reindex(rest.index) == rest).mean() - 0.01
    by_mapping = DawidSkene().fit_predict(df, gold=dict(zip(half.index, half, strict=True)))
    by_table = DawidSkene().fit_predict(df, gold=half.reset_index())
    assert by_mapping.equals(fits[0]) and by_table.equals(fits[0])
    scored = compare(df, shuffled, methods=["dawid_skene"], gold=half.sample(frac=1.0, random_state=2))
    assert scored["n_gold_given"] == len(half) and scored["n_gold"] == len(rest)
    assert scored["methods"]["dawid_skene"]["accuracy"] == pytest.approx(
        (fits[0].reindex(rest.index) == rest).mean()
    )


# --------------------------------------------------------------------------------------------------
# every model, every library
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_model_takes_a_frame_and_answers_in_pandas(model):
    df, _ = crowd_frame()
    fitted = model().fit(df)
    reference = model().fit(labels_from_frame(df))
    assert np.array_equal(fitted.labels_, reference.labels_)  # fitted attributes: codes, as ever
    assert np.allclose(fitted.posteriors_, reference.posteriors_)
    data = labels_from_frame(df)
    labels = fitted.predict()
    assert labels.index.tolist() == list(data.item_names)
    assert labels.tolist() == [data.class_names[k] for k in reference.labels_]
    proba = fitted.predict_proba()
    assert list(proba.columns) == list(data.class_names) and proba.index.name == "task"
    assert np.allclose(proba.to_numpy(), reference.posteriors_)
    assert model().fit_predict(df).equals(labels)
    assert np.allclose(model().fit_predict_proba(df).to_numpy(), reference.posteriors_)
    skills = fitted.annotator_accuracy()
    assert skills.index.name == "worker" and skills.index.tolist() == list(data.worker_names)
    assert np.allclose(skills.to_numpy(), fitted.accuracy_)


@pytest.mark.parametrize("library", ["polars", "pyarrow"])
def test_polars_and_arrow_get_their_own_objects(library):
    df, _ = crowd_frame()
    frame = as_library(df, library)
    kind = pl.DataFrame if library == "polars" else pa.Table
    model = GLAD().fit(frame)
    expected = GLAD().fit(df).predict()
    assert mapping_of(model.predict(), library, "task", "label") == expected.to_dict()
    proba = model.predict_proba()
    assert isinstance(proba, kind) and list(proba.columns if library == "polars" else proba.column_names) == [
        "task",
        *CLASSES,
    ]
    skills = model.annotator_accuracy()
    assert isinstance(skills, kind)
    assert mapping_of(skills, library, "worker", "accuracy").keys() == set(df["worker"])


def test_labels_and_arrays_still_give_numpy():
    df, _ = crowd_frame()
    data = labels_from_frame(df)
    model = DawidSkene()
    assert isinstance(model.fit_predict(data), np.ndarray)
    assert model.predict_proba().shape == (data.n_items, 3)
    matrix = np.array([[1, 1, 0], [0, 0, 1], [1, np.nan, np.nan]])
    assert MajorityVote().fit_predict(matrix).tolist() == [1, 0, 1]
    assert isinstance(GLAD().fit(matrix).annotator_accuracy(), np.ndarray)
    assert GLAD().predict(matrix).tolist() == GLAD().fit(Labels.from_matrix(matrix)).labels_.tolist()


def test_column_names_given_and_a_named_index():
    df, _ = crowd_frame()
    odd = df.rename(columns={"task": "q", "worker": "who", "label": "y"})
    with pytest.raises(EmcrowdError, match=r"item="):
        DawidSkene().fit(odd)  # read as long (a column of text), but which column is which?
    got = DawidSkene().fit_predict(odd, item="q", worker="who", label="y")
    assert got.index.name == "q" and got.name == "y"
    assert got.rename_axis("task").rename("label").equals(DawidSkene().fit_predict(df))
    assert DawidSkene().fit_predict(df.set_index("task")).equals(DawidSkene().fit_predict(df))
    with pytest.raises(EmcrowdError, match=r"item=.*name columns of a DataFrame"):
        DawidSkene().fit(labels_from_frame(df), item="task")


def test_a_numeric_frame_is_a_matrix_keyed_by_its_index():
    matrix = pd.DataFrame(
        {"ann": [1.0, 0.0, 1.0], "bob": [1.0, 0.0, np.nan], "cy": [0.0, 1.0, 1.0]}, index=["x", "y", "z"]
    )
    model = GLAD()
    labels = model.fit_predict(matrix)
    assert labels.index.tolist() == ["x", "y", "z"] and labels.tolist() == [1, 0, 1]
    assert model.annotator_accuracy().index.tolist() == ["ann", "bob", "cy"]
    assert GLAD().fit_predict(matrix, gold=pd.Series({"y": 1})).loc["y"] == 1  # gold by the index
    assert np.array_equal(model.posteriors_, GLAD().fit(matrix.to_numpy()).posteriors_)


def test_numbers_as_ids_and_labels_keep_their_type():
    frame = pd.DataFrame(
        {"item": [7, 7, 7, 8, 8, 8], "worker": [1, 2, 3, 1, 2, 3], "label": [5, 5, 3, 3, 3, 5]}
    )
    labels = MajorityVote().fit_predict(frame)
    assert labels.to_dict() == {7: 5, 8: 3} and labels.dtype == frame["label"].dtype
    proba = MajorityVote().fit(frame).predict_proba()
    assert list(proba.columns) == [3, 5]  # class values, in numeric order
    truth = pd.Series([3.0, 5.0], index=[7.0, 8.0])  # floats match whole numbers: 7.0 is item 7
    assert read_truth(truth, labels_from_frame(frame)).tolist() == [0, 1]


# --------------------------------------------------------------------------------------------------
# gold and truth by id: forms, and what is refused
# --------------------------------------------------------------------------------------------------
def test_truth_in_every_form_is_matched_by_id():
    df, truth = crowd_frame()
    data = labels_from_frame(df)
    want = np.array([CLASSES.index(truth[name]) for name in data.item_names])
    shuffled = truth.sample(frac=1.0, random_state=5)
    forms = [
        shuffled,
        dict(shuffled.items()),
        shuffled.rename_axis("task").reset_index(),  # two columns: task, label
        pl.from_pandas(shuffled.rename_axis("item").reset_index()),
        pa.table({"gold": list(shuffled), "item": list(shuffled.index)}),
        shuffled.to_frame(),  # one column, indexed by item
        np.array([truth[name] for name in data.item_names], dtype=object),  # in the items' order
        want,  # codes in the items' order
    ]
    for form in forms:
        assert read_truth(form, data).tolist() == want.tolist(), type(form)
    assert load_truth(shuffled, df).codes.tolist() == want.tolist()  # the labels as the frame itself
    assert aggregate(df, "majority").labels.tolist() == majority_vote(data).labels.tolist()
    partial = {truth.index[0]: truth.iloc[0], truth.index[1]: None, truth.index[2]: float("nan")}
    got = read_truth(partial, data)
    assert (got >= 0).sum() == 1


def test_bad_truth_is_named():
    df, truth = crowd_frame()
    data = labels_from_frame(df)
    positional = pd.Series(truth.to_numpy())  # a RangeIndex: ids 0, 1, ... are not items
    with pytest.raises(
        EmcrowdError,
        match=r"60 item ids are not among the labels' items: '0', '1', '2', '3', '4' and 55 more",
    ):
        read_truth(positional, data)
    with pytest.raises(EmcrowdError, match=r"gold: label 'fish' is not among the classes bird, cat, dog"):
        DawidSkene().fit(df, gold={"img-001": "fish"})
    with pytest.raises(EmcrowdError, match=r"'img-999'"):
        compare(df, {"img-999": "cat"}, methods=["majority"])
    with pytest.raises(EmcrowdError, match=r"item 'img-001' has two different gold labels"):
        read_truth(pd.DataFrame({"item": ["img-001", "img-001"], "label": ["cat", "dog"]}), data)
    with pytest.raises(EmcrowdError, match=r"the order of the labels' items"):
        DawidSkene().fit(df, gold=np.array([0, 1, 2]))
    with pytest.raises(EmcrowdError, match=r"class codes, -1..2"):
        read_truth(np.full(data.n_items, 3), data)
    with pytest.raises(EmcrowdError, match=r"by item id"):
        load_truth(truth.to_numpy(), data, allow_aligned=False)


# --------------------------------------------------------------------------------------------------
# the calls issue 22 lists, and other names a crowd-kit user tries
# --------------------------------------------------------------------------------------------------
def test_the_calls_that_failed():
    df, truth = crowd_frame()
    with pytest.raises(EmcrowdError, match=r"'n_iter'; use max_iter=\.\.\. instead"):
        DawidSkene(n_iter=100)
    with pytest.raises(TypeError, match=r"max_iter"):  # also a TypeError, as Python's own
        GLAD(n_iter=100)
    with pytest.raises(EmcrowdError, match=r"alpha_prior=\(mean, sd\)"):
        GLAD(alphas_priors_mean=1.0)
    with pytest.raises(
        EmcrowdError, match=r"did you mean smoothing=\.\.\.\? DawidSkene takes smoothing, engine"
    ):
        DawidSkene(smoothin=0.1)
    with pytest.raises(EmcrowdError, match=r"keyword arguments only"):
        DawidSkene(100)
    with pytest.raises(EmcrowdError, match=r"max_iter"):
        aggregate(df, "glad", n_iter=5)
    with pytest.raises(AttributeError, match=r"use posteriors_"):
        _ = DawidSkene().fit(df).probas_
    with pytest.raises(AttributeError, match=r"annotator_accuracy\(\)"):
        _ = DawidSkene().fit(df).skills_

    model = MajorityVote()  # a model, as in crowd-kit
    votes = model.fit_predict(df)
    data = labels_from_frame(df)
    assert votes.tolist() == [data.class_names[k] for k in majority_vote(data).labels]
    assert np.allclose(model.predict_proba().to_numpy(), majority_vote(data).posteriors)
    assert "MajorityVote" in emcrowd.__all__ and "VoteResult" not in emcrowd.__all__

    assert read_truth(truth.rename_axis("task").reset_index(), data).min() >= 0  # a DataFrame
    result = aggregate(df, "dawid_skene")  # a DataFrame, and gold as a Series
    assert np.array_equal(result.labels, DawidSkene().fit(df).labels_)
    assert aggregate(df, "dawid_skene", gold=truth).labels.tolist() == [
        CLASSES.index(truth[name]) for name in data.item_names
    ]
    assert aggregate(df, "auto", gold=truth.iloc[:10]).selection is not None


def test_public_names_are_models_or_functions():
    for name in emcrowd.__all__:
        if name == "__version__":
            continue
        obj = getattr(emcrowd, name)
        model = isinstance(obj, type) and hasattr(obj, "fit_predict")
        error = isinstance(obj, type) and issubclass(obj, Exception | Warning)
        data_type = obj in (Labels, emcrowd.MultiLabels)  # the observed answers, of each task kind
        assert model or error or (callable(obj) and not isinstance(obj, type)) or data_type, name


def test_emcrowd_needs_neither_pandas_nor_polars():
    code = textwrap.dedent(
        """
        import sys

        class Missing:  # as if neither were installed
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("pandas", "polars"):
                    raise ModuleNotFoundError(f"No module named {name!r}")

        sys.meta_path.insert(0, Missing())
        import pyarrow as pa
        from emcrowd import DawidSkene, MajorityVote
        table = pa.table({"task": ["a", "a", "b", "b", "b"], "worker": ["u", "v", "u", "v", "w"],
                          "label": ["x", "x", "y", "y", "x"]})
        out = DawidSkene().fit_predict(table)
        assert out.column("task").to_pylist() == ["a", "b"], out
        assert out.column("label").to_pylist() == ["x", "y"], out
        proba = MajorityVote().fit(table, gold={"b": "y"}).predict_proba()
        assert proba.column_names == ["task", "x", "y"], proba
        assert "pandas" not in sys.modules and "polars" not in sys.modules
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


# --------------------------------------------------------------------------------------------------
# docs/python.md: every python block runs, in order, in one namespace
# --------------------------------------------------------------------------------------------------
def python_blocks(page: Path) -> list[tuple[int, str]]:
    text = page.read_text(encoding="utf-8")
    return [
        (text[: m.start()].count("\n") + 1, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    ]


def test_every_python_block_of_the_guide_runs(tmp_path, monkeypatch):
    page = ROOT / "docs" / "python.md"
    blocks = python_blocks(page)
    assert len(blocks) >= 8
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for line, code in blocks:
        try:
            exec(compile(code, f"{page}:{line}", "exec"), namespace)
        except Exception as exc:  # name the block that failed
            raise AssertionError(f"docs/python.md, the block at line {line}: {exc!r}") from exc
