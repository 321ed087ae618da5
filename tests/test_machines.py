"""Machine annotators: predictions read and matched to the crowd, CrowdMachine's EM conventions, what a
machine adds (and what a useless or little-known one must not take away), the CLI's --predictions."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io.predictions import read_predictions
from emcrowd.models.classification.dawid_skene import DawidSkene
from emcrowd.models.classification.machine import CrowdMachine
from emcrowd.models.simulate_machines import simulate_crowd_machine
from emcrowd.predictions import Predictions, attach, split_machines


def accuracy(p: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.argmax(p, axis=1) == truth))


def log_loss(p: np.ndarray, truth: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(truth.size), truth], 1e-15, 1))))


# -- the EM conventions ----------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 4])
def test_objective_never_decreases_and_restarts_keep_the_best(n_classes: int) -> None:
    labels, _, machine = simulate_crowd_machine(600, n_classes=n_classes, crowd_items=0.8, random_state=3)
    model = CrowdMachine(engine="numpy", n_init=3, random_state=1).fit(labels, predictions=machine)
    assert np.all(np.diff(model.history_) >= -1e-9 * np.abs(model.history_[:-1]))
    assert len(model.init_objectives_) == 3
    assert model.lower_bound_ == max(model.init_objectives_) == model.history_[-1]
    assert model.init_objectives_[model.best_init_] == model.lower_bound_
    assert model.posteriors_.shape == (600, n_classes)
    np.testing.assert_allclose(model.posteriors_.sum(axis=1), 1.0)


def test_gold_is_clamped_on_crowd_and_machine_only_items() -> None:
    labels, truth, machine = simulate_crowd_machine(400, n_classes=3, crowd_items=0.75, random_state=2)
    md = attach(labels, [machine])
    gold = np.full(md.labels.n_items, -1)
    chosen = np.array([0, 5, 17, 350, 399])  # the last two only the machine saw
    gold[chosen] = (truth[chosen] + 1) % 3  # against the evidence: clamping must still win
    model = CrowdMachine(engine="numpy").fit_machine_data(md, gold)
    np.testing.assert_array_equal(model.labels_[chosen], gold[chosen])
    np.testing.assert_array_equal(model.posteriors_[chosen], np.eye(3)[gold[chosen]])
    assert model.n_gold_ == chosen.size


def test_combined_beats_crowd_and_machine_and_a_useless_machine_costs_nothing() -> None:
    labels, truth, machine = simulate_crowd_machine(
        1500, n_classes=3, signal=1.5, sharpness=3.0, random_state=5
    )
    crowd = DawidSkene().fit(labels).posteriors_
    both = CrowdMachine().fit(labels, predictions=machine).posteriors_
    assert accuracy(both, truth) > max(accuracy(crowd, truth), accuracy(machine.proba, truth))
    assert log_loss(both, truth) < min(log_loss(crowd, truth), log_loss(machine.proba, truth))

    labels, truth, useless = simulate_crowd_machine(1500, n_classes=3, signal=0.0, random_state=5)
    crowd = DawidSkene().fit(labels).posteriors_
    model = CrowdMachine().fit(labels, predictions=useless)
    assert not model.machine_used_[0]
    assert accuracy(model.posteriors_, truth) >= accuracy(crowd, truth) - 0.002
    assert log_loss(model.posteriors_, truth) <= log_loss(crowd, truth) + 0.002
    assert abs(model.accuracy_[-1] - 1 / 3) < 0.05  # its estimated accuracy is reported anyway


def _three_machines(n_classes: int, seed: int):
    """Crowd labels on 80% of 900 items but items 100-149 (listed without labels), a model's
    probabilities on every item, an LLM's answers with a confidence on 60% and another's without on
    300, gold on every 37th item: the items the EM runs on are not the first ones."""
    labels, truth, model = simulate_crowd_machine(
        900, n_classes=n_classes, crowd_items=0.8, random_state=seed
    )
    keep = (labels.item < 100) | (labels.item >= 150)
    labels = dataclasses.replace(
        labels, item=labels.item[keep], worker=labels.worker[keep], label=labels.label[keep]
    )
    rng = np.random.default_rng(seed)
    seen = np.sort(rng.choice(900, 540, replace=False))
    names = [model.item_names[j] for j in seen]
    right = rng.random(seen.size) < 0.7
    answer = np.where(right, truth[seen], (truth[seen] + 1) % n_classes).astype(np.int32)
    llm = Predictions("llm", tuple(names), labels.class_names, label=answer, confidence=rng.random(seen.size))
    plain = Predictions(
        "llm2", model.item_names[-300:], labels.class_names, label=truth[-300:].astype(np.int32)
    )
    md = attach(labels, [model, llm, plain])
    assert md.labels.item_names == model.item_names  # the crowd's items, then the model's others
    gold = np.full(md.labels.n_items, -1)
    gold[::37] = truth[::37]
    return md, gold


def _few_shared(n_shared: int, seed: int = 0) -> tuple[CrowdMachine, np.ndarray, int]:
    """A machine stating 0.99 on every item, right on 80% of them, sharing ``n_shared`` items with a
    reliable crowd; 300 more items only it saw."""
    labels, truth, _ = simulate_crowd_machine(
        n_shared + 300, crowd_items=n_shared / (n_shared + 300), worker_accuracy=(0.9, 0.95),
        labels_per_item=(3, 5), random_state=seed,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    answer = np.where(rng.random(truth.size) < 0.8, truth, 1 - truth)
    proba = np.full((truth.size, 2), 0.01)
    proba[np.arange(truth.size), answer] = 0.99
    names = tuple(f"i{j:06d}" for j in range(truth.size))
    machine = Predictions("model", names, labels.class_names, proba=proba)
    model = CrowdMachine().fit(labels, predictions=machine)
    return model, truth, labels.n_items


def test_a_machine_with_few_shared_items_is_not_trusted_more_than_they_support() -> None:
    for n_shared in (1, 3, 10):
        model, _, n_crowd = _few_shared(n_shared)
        # the machine's weight: how much its answer moves the odds of a machine-only item, at most the
        # Beta posterior mean of n_shared answers all right under a one-item-a-side prior
        bound = (n_shared + 1) / (n_shared + 2)
        assert model.accuracy_[-1] <= bound + 1e-9
        alone = model.posteriors_[n_crowd:]
        answer = alone.argmax(axis=1)
        odds = alone.max(axis=1) / alone.min(axis=1)
        prior = model.class_prior_[answer] / model.class_prior_[1 - answer]
        assert np.all(odds / prior <= bound / (1 - bound) + 1e-9), n_shared
        assert alone.max() < 0.99
    # with many shared items its trust is what the data shows: about 0.8, not the 0.99 it states
    model, _, n_crowd = _few_shared(2000)
    alone = model.posteriors_[n_crowd:]
    assert 0.72 < alone.max(axis=1).mean() < 0.88
    assert abs(model.accuracy_[-1] - 0.8) < 0.04


def test_options_are_checked() -> None:
    labels, _, machine = simulate_crowd_machine(50, random_state=0)
    with pytest.raises(EmcrowdError, match="n_bins"):
        CrowdMachine(n_bins=0).fit(labels, predictions=machine)
    with pytest.raises(EmcrowdError, match="predictions="):
        CrowdMachine().fit(labels)
    none = np.array([], dtype=int)
    people = Labels(none, none, none, ("a",), ("w",), ("x", "y"))  # an item, no label
    elsewhere = Predictions("m", ("b", "c"), ("x", "y"), proba=np.array([[0.5, 0.5], [0.1, 0.9]]))
    with pytest.raises(EmcrowdError, match="no item has a human label"):
        CrowdMachine().fit(people, predictions=elsewhere, gold=np.array([-1, -1, -1]))
    with pytest.raises(EmcrowdError, match="unknown_items"):
        CrowdMachine(unknown_items="keep").fit(labels, predictions=machine)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_the_compiled_engine_gives_the_numpy_fit(n_classes: int) -> None:
    pytest.importorskip("numba")
    md, gold = _three_machines(n_classes, seed=n_classes)
    fits = [CrowdMachine(engine=e, n_init=2).fit_machine_data(md, gold) for e in ("numpy", "numba")]
    numpy_fit, numba_fit = fits
    assert numba_fit.engine_ == "numba" and numpy_fit.engine_ == "numpy"
    np.testing.assert_allclose(numba_fit.posteriors_, numpy_fit.posteriors_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(numba_fit.history_, numpy_fit.history_, rtol=1e-12)
    np.testing.assert_allclose(numba_fit.accuracy_, numpy_fit.accuracy_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(numba_fit.machine_evidence_, numpy_fit.machine_evidence_, rtol=1e-9)
    for a, b in zip(numba_fit.machine_calibration_, numpy_fit.machine_calibration_, strict=True):
        assert a["edges"] == b["edges"] and a["bin_items"] == b["bin_items"]
        np.testing.assert_allclose(a["accuracy"], b["accuracy"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_posteriors_follow_the_model_written_out(engine: str) -> None:
    """Every item's posterior is the class prior times the people's confusion entries times, for each
    machine, ``f_b * c_b`` (answer right) or ``f_b * (1 - c_b) / (K - 1)`` (wrong), normalized."""
    if engine == "numba":
        pytest.importorskip("numba")
    md, gold = _three_machines(3, seed=7)
    model = CrowdMachine(engine=engine).fit_machine_data(md, gold)
    data, k = md.labels, 3
    shared = np.zeros(data.n_items, bool)
    shared[data.item] = True
    assert not shared[100:150].any() and model.n_shared_ == (shared | (gold >= 0)).sum() == 677
    log_joint = np.tile(np.log(model.class_prior_), (data.n_items, 1))
    np.add.at(log_joint, data.item, np.log(model.confusion_[data.worker, :, data.label]))
    for m, machine in enumerate(md.machines):
        if not model.machine_used_[m]:
            continue
        cal = model.machine_calibration_[m]
        answer, confidence = machine.answers()
        edges = cal["edges"]
        b = np.zeros(answer.size, int) if edges is None else np.searchsorted(edges[1:-1], confidence)
        share = np.array(cal["bin_items"]) / cal["shared_items"]
        coin = np.array(cal["accuracy"])[b]
        term = np.where(np.arange(k) == answer[:, None], coin[:, None], ((1 - coin) / (k - 1))[:, None])
        log_joint[md.item_codes[m]] += np.log(share[b])[:, None] + np.log(term)
    expected = np.exp(log_joint - log_joint.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    free = gold < 0
    np.testing.assert_allclose(model.posteriors_[free], expected[free], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(model.posteriors_[~free], np.eye(k)[gold[~free]])


# -- predictions: matching, files, the Python API ---------------------------------------------------
def _crowd() -> Labels:
    # items a, b, c; classes cat, dog
    return Labels(
        np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 0]), np.array([0, 0, 1, 1, 0]),
        ("a", "b", "c"), ("w1", "w2"), ("cat", "dog"),
    )  # fmt: skip


def test_attach_matches_items_and_applies_the_unknown_item_policy() -> None:
    crowd = _crowd()
    p = Predictions(
        "m", ("c", "a", "z"), ("dog", "cat"), proba=np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    )
    md = attach(crowd, [p])
    assert md.labels.item_names == ("a", "b", "c", "z") and md.n_crowd_items == 3
    np.testing.assert_array_equal(md.item_codes[0], [2, 0, 3])
    np.testing.assert_allclose(md.machines[0].proba[0], [0.1, 0.9])  # columns in the crowd's order
    dropped = attach(crowd, [p], "drop")
    assert dropped.labels.item_names == ("a", "b", "c") and dropped.machines[0].item_names == ("c", "a")
    with pytest.raises(InputError, match="'z' has no crowd label"):
        attach(crowd, [p], "error")
    with pytest.raises(InputError, match="class 'bird'"):
        attach(crowd, [Predictions("m", ("a",), ("cat", "bird"), proba=np.array([[0.5, 0.5]]))])
    with pytest.raises(InputError, match="already an annotator"):
        attach(crowd, [Predictions("w1", ("a",), ("cat",), label=np.array([0]))])


@pytest.mark.parametrize(
    "proba, problem",
    [([[0.5, 0.6]], "sum to 1.1"), ([[-0.1, 1.1]], "negative"), ([[np.nan, 1.0]], "missing")],
)
def test_bad_probabilities_are_refused(proba: list, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        Predictions("m", ("a",), ("cat", "dog"), proba=np.array(proba))


def _write(tmp_path, fmt: str):
    rows = [
        {"item": "a", "cat": 0.9, "dog": 0.1},
        {"item": "c", "cat": 0.3, "dog": 0.7},
        {"item": "z", "cat": 0.6, "dog": 0.4},
    ]
    path = tmp_path / f"clf.{fmt}"
    if fmt == "csv":
        path.write_text("item,cat,dog\n" + "".join(f"{r['item']},{r['cat']},{r['dog']}\n" for r in rows))
    elif fmt == "json":
        path.write_text(json.dumps(rows))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "parquet"])
def test_prediction_files_in_each_format(tmp_path, fmt: str) -> None:
    (p,) = read_predictions(_write(tmp_path, fmt))
    assert p.name == "clf" and p.item_names == ("a", "c", "z") and p.class_names == ("cat", "dog")
    np.testing.assert_allclose(p.proba, [[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])


def test_hard_labels_with_confidence_and_several_models_in_one_file(tmp_path) -> None:
    path = tmp_path / "llms.csv"
    path.write_text("item,model,label,confidence\na,gpt,cat,0.9\nb,gpt,dog,0.6\na,llama,dog,\nb,llama,dog,\n")
    gpt, llama = read_predictions(path)
    assert (gpt.name, llama.name) == ("gpt", "llama")
    assert gpt.class_names == ("cat", "dog") and gpt.label.tolist() == [0, 1]
    np.testing.assert_allclose(gpt.confidence, [0.9, 0.6])
    assert llama.class_names == ("dog",)


def test_several_models_as_columns_of_one_file(tmp_path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("item,resnet:cat,resnet:dog,vit:cat,vit:dog\na,0.9,0.1,0.4,0.6\nb,0.2,0.8,0.3,0.7\n")
    resnet, vit = read_predictions(path)
    assert (resnet.name, vit.name) == ("resnet", "vit") and vit.class_names == ("cat", "dog")
    np.testing.assert_allclose(vit.proba, [[0.4, 0.6], [0.3, 0.7]])


@pytest.mark.parametrize(
    "text, problem",
    [
        ("item,cat,dog\na,0.5,0.6\n", "sum to 1.1"),
        ("item,cat,dog\na,-0.5,1.5\n", "negative"),
        ("item,cat,dog\na,x,1\n", "not a number"),
        ("thing,cat,dog\na,0.5,0.5\n", "no item column"),
        ("item,label,confidence\na,cat,1.5\n", r"not in \[0, 1\]"),
    ],
)
def test_bad_prediction_files_are_refused(tmp_path, text: str, problem: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=problem):
        read_predictions(path)


def test_pandas_in_and_out_with_added_items() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {"task": list("aabbc"), "worker": ["w1", "w2"] * 2 + ["w1"], "label": ["cat"] * 2 + ["dog"] * 3}
    )
    pred = pd.DataFrame({"item": ["a", "c", "z"], "cat": [0.9, 0.3, 0.8], "dog": [0.1, 0.7, 0.2]})
    model = CrowdMachine().fit(df, predictions=pred)
    labels = model.predict()
    assert list(labels.index) == ["a", "b", "c", "z"] and labels["a"] == "cat"
    proba = model.predict_proba()
    assert list(proba.columns) == ["cat", "dog"] and proba.shape == (4, 2)
    acc = model.annotator_accuracy()
    assert list(acc.index) == ["w1", "w2", "model"]


def test_split_machines_takes_named_annotators_out_of_the_crowd() -> None:
    crowd, machines = split_machines(_crowd(), ["w2"])
    assert crowd.worker_names == ("w1",) and crowd.n_labels == 3
    (llm,) = machines
    assert llm.name == "w2" and llm.item_names == ("a", "b") and llm.label.tolist() == [0, 1]
    with pytest.raises(InputError, match="not an annotator"):
        split_machines(_crowd(), ["gpt"])


# -- the CLI ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim_files(tmp_path_factory):
    from typer.testing import CliRunner

    from emcrowd.cli import app

    out = tmp_path_factory.mktemp("sim")
    res = CliRunner().invoke(
        app, ["simulate", "--with-machine", "--items", "600", "--workers", "20", "--classes", "3",
              "--crowd-share", "0.8", "--seed", "1", "--out", str(out), "-q"],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    return out


def invoke(*args: object):
    from typer.testing import CliRunner

    from emcrowd.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_fit_lists_the_machine_beside_the_people(sim_files, tmp_path) -> None:
    import csv

    res = invoke(
        "fit", sim_files / "labels.csv", "--predictions", sim_files / "model.csv", "-o", tmp_path / "o"
    )
    assert res.exit_code == 0, res.stderr
    with open(tmp_path / "o" / "workers.csv", newline="") as fh:
        workers = list(csv.DictReader(fh))
    assert [w["kind"] for w in workers].count("machine") == 1 and workers[-1]["worker"] == "model"
    assert 0.6 < float(workers[-1]["accuracy"]) < 0.95 and workers[-1]["used"] == "yes"
    with open(tmp_path / "o" / "items.csv", newline="") as fh:
        items = list(csv.DictReader(fh))
    assert len(items) == 600  # the 120 items only the model saw are added
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["method"] == "crowd_machine" and summary["machines"][0]["shared_items"] == 480


def test_cli_compare_scores_crowd_machine_and_both(sim_files) -> None:
    res = invoke(
        "compare", sim_files / "labels.csv", "--truth", sim_files / "truth.csv",
        "--predictions", sim_files / "model.csv", "--json", "-q",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    methods = json.loads(res.stdout)["methods"]
    assert list(methods) == ["crowd (Dawid-Skene)", "machine model", "crowd + machine"]
    both = methods["crowd + machine"]
    assert both["accuracy"] > max(m["accuracy"] for n, m in methods.items() if n != "crowd + machine")
    assert methods["crowd (Dawid-Skene)"]["coverage"] == pytest.approx(0.8)


def test_cli_relabel_and_machine_annotators_in_the_labels_file(sim_files, tmp_path) -> None:
    res = invoke(
        "relabel",
        sim_files / "labels.csv",
        "--predictions",
        sim_files / "model.csv",
        "-b",
        "7",
        "-o",
        "-",
        "-q",
    )
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "item,label,confidence,n_labels,expected_gain" and len(lines) == 8
    gains = [float(line.rsplit(",", 1)[1]) for line in lines[1:]]
    assert gains == sorted(gains, reverse=True) and gains[0] > 0
    # an LLM answering in the labels file, marked as a machine
    labels = (sim_files / "labels.csv").read_text().splitlines()
    rows = [line.split(",") for line in labels[1:]]
    llm = {r[0]: r[2] for r in rows}  # one answer per item: the last crowd label, say
    path = tmp_path / "with_llm.csv"
    path.write_text("\n".join([labels[0], *labels[1:], *(f"{i},gpt,{a}" for i, a in llm.items())]) + "\n")
    res = invoke("fit", path, "--machine", "gpt", "-o", tmp_path / "m", "-q")
    assert res.exit_code == 0, res.stderr
    workers = (tmp_path / "m" / "workers.csv").read_text().splitlines()
    assert workers[-1].startswith("gpt,machine,")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("item,c0,c1,c2\ni000001,0.5,0.6,0.1\n", "sum to 1.2"),
        ("item,c0,c1,c9\ni000001,0.5,0.4,0.1\n", "class 'c9'"),
        ("item,c0,c1,c2\ni000001,-0.5,1.4,0.1\n", "negative"),
        ("item,c0,c1,c2\nnot-an-item,0.5,0.4,0.1\n", "no crowd label"),
    ],
)
def test_cli_refuses_bad_prediction_files(sim_files, tmp_path, text: str, problem: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    out = tmp_path / "out"
    res = invoke(
        "fit", sim_files / "labels.csv", "--predictions", bad, "--unknown-items", "error", "-o", out, "-q"
    )
    assert res.exit_code == 2, res.stderr
    assert problem in res.stderr and str(bad) in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert not out.exists()


def test_hard_answers_with_and_without_confidence() -> None:
    labels, truth, machine = simulate_crowd_machine(1200, n_classes=3, signal=1.5, random_state=4)
    answer, confidence = machine.answers()
    with_conf = Predictions(
        "llm", machine.item_names, labels.class_names, label=answer, confidence=confidence
    )
    bare = Predictions("bare", machine.item_names, labels.class_names, label=answer)
    # (two copies of one machine in one fit would be counted as two independent witnesses: fit apart)
    binned = CrowdMachine().fit(labels, predictions=with_conf)
    single = CrowdMachine().fit(labels, predictions=bare)
    curve = binned.machine_calibration_[0]["accuracy"]
    assert len(curve) == 10 and len(single.machine_calibration_[0]["accuracy"]) == 1
    assert curve[-1] > curve[0] + 0.2  # the confident answers are the more often right
    right = float(np.mean(answer == truth))
    assert abs(binned.accuracy_[-1] - right) < 0.05 and abs(single.accuracy_[-1] - right) < 0.05
    # the confidence bins are worth something: the binned machine gives the better log-loss
    assert log_loss(binned.posteriors_, truth) < log_loss(single.posteriors_, truth)
