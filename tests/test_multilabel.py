"""Multi-select answers: the readers (every export shape read into single classes), the per-class
Dawid-Skene model (monotone, recovers its own parameters, gold clamped, restarts, beats per-class
majority vote) and the commands (fit, compare, info, relabel, simulate; bad input refused)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from emcrowd.analysis.multilabel import class_agreement, compare_multilabel, set_metrics
from emcrowd.cli import app
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io.multilabel import load_multilabels, load_truth_sets, multilabels_from_frame
from emcrowd.models.multilabel import PerClassDawidSkene, per_class_vote
from emcrowd.models.multilabel.simulate import simulate_multilabel
from emcrowd.multilabels import MultiLabels

runner = CliRunner()


def micro_f1(pred: np.ndarray, truth: np.ndarray) -> float:
    return set_metrics(pred, truth.astype(int), tuple(str(k) for k in range(truth.shape[1])))["micro_f1"]


# -- the model --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n_items", "n_classes", "per_item", "seed"), [(60, 2, 3, 0), (400, 5, 5, 1), (1500, 8, 4, 2)]
)
def test_objective_never_decreases(n_items, n_classes, per_item, seed):
    data, _, _ = simulate_multilabel(n_items, 15, n_classes, per_item, random_state=seed)
    model = PerClassDawidSkene(n_init=3, tol=1e-9, max_iter=300, random_state=seed).fit(data)
    history = np.array(model.history_)
    assert len(history) > 3
    assert np.all(np.diff(history) >= -1e-9 * np.abs(history[1:]))


def test_parameters_recovered_on_its_own_simulations():
    rng = np.random.default_rng(5)
    n_items, n_workers, n_classes, per_item = 4000, 12, 4, 8
    se = rng.uniform(0.6, 0.95, (n_workers, n_classes))
    sp = rng.uniform(0.75, 0.98, (n_workers, n_classes))
    prevalence = np.array([0.15, 0.3, 0.45, 0.25])
    truth = rng.random((n_items, n_classes)) < prevalence
    workers = np.argsort(rng.random((n_items, n_workers)), axis=1)[:, :per_item]
    item = np.repeat(np.arange(n_items), per_item)
    worker = workers.ravel()
    p = np.where(truth[item], se[worker], 1 - sp[worker])
    ticks = (rng.random(p.shape) < p).astype(np.uint8)
    data = MultiLabels(
        item,
        worker,
        ticks,
        tuple(map(str, range(n_items))),
        tuple(map(str, range(n_workers))),
        ("a", "b", "c", "d"),
    )
    model = PerClassDawidSkene().fit(data)
    assert np.abs(model.sensitivity_ - se).mean() < 0.04
    assert np.abs(model.specificity_ - sp).mean() < 0.03
    assert np.abs(model.prevalence_ - prevalence).max() < 0.03
    assert (model.sets_ == truth).mean() > 0.97


def test_an_annotator_with_few_answers_on_a_class_is_shrunk_to_its_own_mean():
    data, _, _ = simulate_multilabel(800, 20, 5, 5, random_state=3)
    model = PerClassDawidSkene().fit(data)
    counts = np.bincount(data.worker, minlength=data.n_workers)
    few = int(np.argmin(counts))
    many = int(np.argmax(counts))
    spread_few = np.abs(model.sensitivity_[few] - model.mean_sensitivity_[few]).mean()
    spread_many = np.abs(model.sensitivity_[many] - model.mean_sensitivity_[many]).mean()
    assert counts[few] < counts[many] / 4
    assert spread_few < spread_many


def test_gold_is_clamped_and_helps():
    gains, better_rates = [], []
    for seed in range(4):
        data, truth, params = simulate_multilabel(500, 20, 4, 3, random_state=seed)
        gold = np.full(truth.shape, -1)
        gold[:100] = truth[:100]
        model = PerClassDawidSkene().fit(data, gold=gold)
        assert np.array_equal(model.posteriors_[:100], truth[:100].astype(float))
        assert model.n_gold_ == 100 * data.n_classes
        plain = PerClassDawidSkene().fit(data)
        gains.append(micro_f1(model.sets_[100:], truth[100:]) - micro_f1(plain.sets_[100:], truth[100:]))
        error = np.abs(model.sensitivity_ - params["sensitivity"]).mean()
        better_rates.append(error < np.abs(plain.sensitivity_ - params["sensitivity"]).mean())
    assert np.mean(gains) > 0 and sum(better_rates) >= 3
    by_id = PerClassDawidSkene().fit(
        data, gold={"i0": [data.class_names[k] for k in np.flatnonzero(truth[0])]}
    )
    assert np.array_equal(by_id.posteriors_[0], truth[0].astype(float))


def test_restarts_keep_the_best_and_are_seeded():
    data, _, _ = simulate_multilabel(300, 15, 4, 3, random_state=6)
    one = PerClassDawidSkene(n_init=4, random_state=1).fit(data)
    two = PerClassDawidSkene(n_init=4, random_state=1).fit(data)
    assert len(one.init_objectives_) == 4
    assert one.lower_bound_ == max(one.init_objectives_)
    assert one.init_objectives_ == two.init_objectives_
    assert np.array_equal(one.posteriors_, two.posteriors_)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beats_per_class_majority_vote_with_correlated_classes_and_biased_annotators(seed):
    data, truth, _ = simulate_multilabel(1500, 40, 6, 5, correlation=0.5, random_state=seed)
    model = PerClassDawidSkene().fit(data)
    assert micro_f1(model.sets_, truth) > micro_f1(per_class_vote(data), truth) + 0.04


def test_threshold_sets_the_set():
    data, _, _ = simulate_multilabel(200, 10, 3, 3, random_state=0)
    strict = PerClassDawidSkene(threshold=0.9).fit(data)
    loose = PerClassDawidSkene(threshold=0.1).fit(data)
    assert strict.sets_.sum() < loose.sets_.sum()
    assert np.array_equal(strict.sets_, strict.posteriors_ >= 0.9)


def test_compare_reports_every_metric_and_the_gain():
    data, truth, _ = simulate_multilabel(400, 20, 4, 5, random_state=8)
    scores = compare_multilabel(data, truth.astype(int))
    assert set(scores) == {"majority", "per_class_ds"}
    for s in scores.values():
        assert {"micro_f1", "macro_f1", "exact_set_accuracy", "hamming_loss", "f1_per_class"} <= set(s)
    assert scores["majority"]["gain_over_majority"]["micro_f1"] == 0
    gain = scores["per_class_ds"]["micro_f1"] - scores["majority"]["micro_f1"]
    assert scores["per_class_ds"]["gain_over_majority"]["micro_f1"] == pytest.approx(gain)


def test_set_metrics_by_hand():
    pred = np.array([[1, 0, 1], [0, 1, 0]], dtype=bool)
    truth = np.array([[1, 0, 0], [0, 1, 0]])
    s = set_metrics(pred, truth, ("a", "b", "c"))
    assert s["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1))
    assert s["f1_per_class"] == {"a": 1.0, "b": 1.0, "c": 0.0}
    assert s["exact_set_accuracy"] == 0.5
    assert s["hamming_loss"] == pytest.approx(1 / 6)


def test_agreement_per_class_is_krippendorffs_alpha():
    krippendorff = pytest.importorskip("krippendorff")
    data, _, _ = simulate_multilabel(200, 10, 3, 4, random_state=2)
    ours = class_agreement(data)
    for c, name in enumerate(data.class_names):
        matrix = np.full((data.n_workers, data.n_items), np.nan)
        matrix[data.worker, data.item] = data.ticks[:, c]
        theirs = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
        assert ours[name]["alpha"] == pytest.approx(theirs, abs=1e-9)


# -- the readers ---------------------------------------------------------------------------------------------
def classes_and_ticks(loaded):
    data = loaded.labels
    sets = {}
    for o in range(data.n_answers):
        key = (data.item_names[data.item[o]], data.worker_names[data.worker[o]])
        sets[key] = {c for c, t in zip(data.class_names, data.ticks[o], strict=True) if t}
    return data.class_names, sets


def write_csv(path, rows, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)


@pytest.mark.parametrize(("sep", "given"), [("\n", "newline"), ("|", "|"), (",", "comma"), ("; ", ";")])
def test_separated_answers_are_read_into_single_classes(tmp_path, sep, given):
    path = tmp_path / "export.csv"
    write_csv(path, [["_unit_id", "_worker_id", "tags"], ["u1", "w1", sep.join(["spam", "ads"])],
                     ["u1", "w2", "ads"], ["u2", "w1", sep.join(["ads", "spam", "nsfw"])]])  # fmt: skip
    loaded = load_multilabels(
        path, label_sep=given, item_col="_unit_id", worker_col="_worker_id", label_col="tags"
    )
    names, sets = classes_and_ticks(loaded)
    assert names == ("ads", "nsfw", "spam")
    assert sets[("u1", "w1")] == {"spam", "ads"} and sets[("u2", "w1")] == {"ads", "spam", "nsfw"}


def test_json_arrays_in_csv_cells_json_and_json_lines(tmp_path):
    rows = [("i1", "w1", ["a", "b"]), ("i1", "w2", ["b"]), ("i2", "w1", []), ("i2", "w2", ["c", "a"])]
    write_csv(tmp_path / "a.csv", [["item", "worker", "label"], *[(i, w, json.dumps(s)) for i, w, s in rows]])
    (tmp_path / "a.json").write_text(json.dumps([{"item": i, "worker": w, "label": s} for i, w, s in rows]))
    (tmp_path / "a.jsonl").write_text(
        "".join(json.dumps({"task": i, "annotator": w, "answer": s}) + "\n" for i, w, s in rows)
    )
    for name in ("a.csv", "a.json", "a.jsonl"):
        names, sets = classes_and_ticks(load_multilabels(tmp_path / name))
        assert names == ("a", "b", "c"), name
        assert sets == {(i, w): set(s) for i, w, s in rows}, name


def test_label_studio_multi_choice_export(tmp_path):
    def task(k, annotations):
        return {"id": k, "data": {"text": f"t{k}"}, "annotations": [
            {"completed_by": who, "result": [{"from_name": "tags", "to_name": "text", "type": "choices",
                                               "value": {"choices": choices}}]}
            for who, choices in annotations]}  # fmt: skip

    tasks = [
        task(1, [(1, ["Sports", "Politics"]), (2, ["Politics"])]),
        task(2, [(1, ["Tech"]), (3, ["Tech", "Sports"])]),
    ]
    path = tmp_path / "project.json"
    path.write_text(json.dumps(tasks))
    names, sets = classes_and_ticks(load_multilabels(path))
    assert names == ("Politics", "Sports", "Tech")
    assert sets[("1", "1")] == {"Sports", "Politics"}
    # recognised by the commands without --multi-label
    result = runner.invoke(app, ["info", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_classes"] == 3


def test_toloka_array_outputs(tmp_path):
    path = tmp_path / "assignments.tsv"
    header = [
        "INPUT:image",
        "OUTPUT:result",
        "ASSIGNMENT:task_id",
        "ASSIGNMENT:worker_id",
        "ASSIGNMENT:status",
    ]
    rows = [
        ["x.png", '["cat","dog"]', "t1", "w1", "APPROVED"],
        ["x.png", '["cat"]', "t1", "w2", "APPROVED"],
        ["y.png", '["bird"]', "t2", "w1", "REJECTED"],
        ["y.png", "[]", "t2", "w2", "APPROVED"],
    ]
    write_csv(path, [header, *rows], delimiter="\t")
    loaded = load_multilabels(path)
    names, sets = classes_and_ticks(loaded)
    assert names == ("cat", "dog")  # the rejected assignment's bird is left out
    assert sets[("t1", "w1")] == {"cat", "dog"} and sets[("t2", "w2")] == set()


def test_the_empty_answer_rule(tmp_path):
    path = tmp_path / "a.csv"
    write_csv(path, [["item", "worker", "label"], ["i1", "w1", "[]"], ["i1", "w2", '["a"]'], ["i2", "w1", ""],
                     ["i2", "w2", '["b"]']])  # fmt: skip
    kept = load_multilabels(path).labels
    assert kept.n_answers == 3 and kept.n_empty == 1  # the empty cell is a missing answer
    dropped = load_multilabels(path, empty="missing").labels
    assert dropped.n_answers == 2 and dropped.n_empty == 0


def test_declared_classes_and_bad_answers_are_refused(tmp_path):
    path = tmp_path / "a.csv"
    write_csv(path, [["item", "worker", "label"], ["i1", "w1", '["a","x"]'], ["i1", "w2", '["a"]']])
    with pytest.raises(InputError, match="'x'"):
        load_multilabels(path, classes="a,b")
    assert load_multilabels(path, classes=["a", "b", "x"]).labels.class_names == ("a", "b", "x")
    bad = tmp_path / "bad.csv"
    write_csv(bad, [["item", "worker", "label"], ["i1", "w1", '["a", "b"'], ["i1", "w2", '["a"]']])
    with pytest.raises(InputError, match="not a valid JSON array"):
        load_multilabels(bad, label_sep="|")
    nested = tmp_path / "nested.csv"
    write_csv(nested, [["item", "worker", "label"], ["i1", "w1", '[["a"]]'], ["i1", "w2", '["a"]']])
    with pytest.raises(InputError, match="not a class name"):
        load_multilabels(nested, label_sep="|")


def test_truth_sets(tmp_path):
    data = MultiLabels([0, 1], [0, 0], [[1, 0], [0, 1]], ("i1", "i2"), ("w",), ("a", "b"))
    path = tmp_path / "truth.csv"
    write_csv(path, [["item", "label"], ["i1", "a|b"], ["i9", "a"]])
    assert load_truth_sets(path, data, label_sep="|").tolist() == [[1, 1], [-1, -1]]
    write_csv(path, [["item", "label"], ["i1", '["c"]']])
    with pytest.raises(InputError, match="'c'"):
        load_truth_sets(path, data)


def test_python_api_pandas_in_and_out():
    pd = pytest.importorskip("pandas")
    data, _, _ = simulate_multilabel(150, 10, 3, 3, random_state=1)
    names = np.asarray(data.class_names)
    frame = pd.DataFrame({
        "task": [data.item_names[j] for j in data.item],
        "worker": [data.worker_names[a] for a in data.worker],
        "labels": [list(names[row.astype(bool)]) for row in data.ticks],
    })  # fmt: skip
    model = PerClassDawidSkene()
    sets = model.fit_predict(frame)
    assert isinstance(sets, pd.Series) and sets.index.name == "item"
    proba = model.predict_proba()
    assert list(proba.columns) == list(data.class_names)
    assert np.allclose(proba.to_numpy(), PerClassDawidSkene().fit(data).posteriors_)
    assert all(set(s) == set(names[proba.loc[item].to_numpy() >= 0.5]) for item, s in sets.items())
    joined = frame.assign(labels=["|".join(s) for s in frame["labels"]])
    again = multilabels_from_frame(joined, label_sep="|")
    assert again.n_answers == data.n_answers - int((data.ticks.sum(axis=1) == 0).sum())
    with pytest.raises(EmcrowdError, match="not among"):
        multilabels_from_frame(frame, classes=["c0"])


# -- the commands --------------------------------------------------------------------------------------------
@pytest.fixture
def simulated(tmp_path):
    out = tmp_path / "sim"
    options = ["--items", "300", "--workers", "15", "--classes", "4", "--seed", "2", "--out", str(out), "-q"]
    result = runner.invoke(app, ["simulate", "--multi-label", *options])
    assert result.exit_code == 0, result.output
    return out


def test_simulate_fit_compare_info_relabel(simulated, tmp_path):
    labels, truth = simulated / "labels.csv", simulated / "truth.csv"
    out = tmp_path / "fit"
    result = runner.invoke(app, ["fit", str(labels), "--out", str(out), "--threshold", "0.6", "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "items.csv",
        "posteriors.csv",
        "summary.json",
        "workers.csv",
    ]
    with open(out / "workers.csv", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert {"sensitivity", "specificity", "sensitivity[c0]", "specificity[c3]"} <= set(header)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "multi-label" and summary["threshold"] == 0.6 and summary["n_classes"] == 4

    result = runner.invoke(app, ["compare", str(labels), "--truth", str(truth), "--json", "-q"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)["methods"]
    assert scores["per_class_ds"]["micro_f1"] > scores["majority"]["micro_f1"]

    result = runner.invoke(app, ["info", str(labels), "--multi-label", "--json", "-q"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["agreement_per_class"]) == {"c0", "c1", "c2", "c3"}

    result = runner.invoke(app, ["relabel", str(labels), "--budget", "5", "--out", "-", "-q"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert len(rows) == 5
    assert [float(r["uncertainty"]) for r in rows] == sorted(
        (float(r["uncertainty"]) for r in rows), reverse=True
    )


def test_fit_with_gold_sets_writes_them(simulated, tmp_path):
    out = tmp_path / "fit"
    result = runner.invoke(app, ["fit", str(simulated / "labels.csv"), "--gold", str(simulated / "truth.csv"),
                                 "--out", str(out), "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(out / "items.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert all(r["classes"] == r["gold"] for r in rows)


@pytest.mark.parametrize(
    ("cell", "options", "message"),
    [
        ('["a","x"]', ["--classes", "a,b"], "'x'"),
        ('["a", "b"', ["--multi-label"], "not a valid JSON array"),
        ('["a"]', ["--method", "glad"], "does not take multi-select answers"),
        ('["a"]', ["--label-sep", "|", "--empty-answer", "maybe"], "--empty-answer"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, cell, options, message):
    path = tmp_path / "a.csv"
    write_csv(
        path, [["item", "worker", "label"], ["i1", "w1", cell], ["i1", "w2", '["a"]'], ["i2", "w1", '["b"]']]
    )
    out = tmp_path / "out"
    result = runner.invoke(app, ["fit", str(path), "--out", str(out), "--multi-label", *options])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0]
    assert not out.exists()


def test_joined_answers_read_as_single_classes_get_a_hint(tmp_path):
    path = tmp_path / "a.csv"
    rows = [["item", "worker", "label"]]
    rows += [[f"i{k}", f"w{k % 3}", ["a|b", "a", "b", "b|c", "c"][k % 5]] for k in range(20)]
    write_csv(path, rows)
    result = runner.invoke(app, ["info", str(path), "-q"])
    assert result.exit_code == 0, result.output
    assert "--label-sep '|'" in result.stderr
    result = runner.invoke(app, ["info", str(path), "--label-sep", "|", "--json", "-q"])
    assert json.loads(result.stdout)["classes"] == {"a": 8, "b": 12, "c": 8}
