"""Ordered grades (``--ordinal``): reading the order, the median vote, ordinal agreement, the ordinal
Dawid-Skene model, and every command with ``--ordinal``."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from emcrowd.analysis.agreement import (
    interval_metric,
    krippendorff_alpha,
    labels_agreement,
    ordinal_metric,
    weighted_kappa,
)
from emcrowd.analysis.evaluate import compare
from emcrowd.analysis.selection import available_candidates
from emcrowd.cli import app
from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError, InputError
from emcrowd.io import labels_npz, load_labels
from emcrowd.io.ordinal import as_ordinal, grade_values
from emcrowd.models import DawidSkene, OrdinalDawidSkene, method_name
from emcrowd.models.classification.majority import majority_vote, vote_counts
from emcrowd.models.ordinal.gaussian import fit_bias_spread, log_confusion, natural_params
from emcrowd.models.ordinal.simulate import simulate_ordinal
from tests.helpers import DATASETS, assert_non_decreasing, needs_datasets

runner = CliRunner()
DATASET_NAMES = ["bluebirds", "rte", "temp", "dog", "adult2"]
GRADES = ("bad", "fair", "good", "perfect")  # not in alphabetical order


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def labels_of(labels: list[int], items: list[int], workers: list[int], classes: tuple[str, ...]) -> Labels:
    return Labels(
        item=np.array(items),
        worker=np.array(workers),
        label=np.array(labels),
        item_names=tuple(str(j) for j in range(max(items) + 1)),
        worker_names=tuple(str(i) for i in range(max(workers) + 1)),
        class_names=classes,
    )


def reference_alpha(**kwargs) -> float:
    krippendorff = pytest.importorskip("krippendorff")
    return float(krippendorff.alpha(**kwargs))


# -- reading the order -----------------------------------------------------------------------------------
def test_numeric_classes_are_put_in_numeric_order():
    data = labels_of([0, 1, 2, 1], [0, 0, 1, 1], [0, 1, 0, 1], ("10", "2", "-1"))
    graded = as_ordinal(data)
    assert graded.ordered and graded.class_names == ("-1", "2", "10")
    names = [graded.class_names[c] for c in graded.label]
    assert names == [data.class_names[c] for c in data.label]  # the same labels, recoded
    assert np.array_equal(grade_values(graded), [-1.0, 2.0, 10.0])


def test_declared_order_is_kept_and_text_without_it_is_refused():
    data = labels_of([0, 3, 1], [0, 0, 1], [0, 1, 0], GRADES)
    assert as_ordinal(data, declared=True).class_names == GRADES
    assert np.array_equal(grade_values(as_ordinal(data, declared=True)), [0, 1, 2, 3])  # ranks
    with pytest.raises(InputError, match=r"f\.csv: --ordinal needs the order"):
        as_ordinal(data, source="f.csv")
    with pytest.raises(EmcrowdError, match="same number"):
        as_ordinal(labels_of([0, 1], [0, 1], [0, 0], ("1", "1.0")))


def test_median_vote_and_its_tie_rule():
    # items: 0 -> labels 0,0,3 (plurality 0, median 0); 1 -> 0,3,3 (median 3); 2 -> 0,1,2,3 (tie: 1 or 2);
    # 3 -> 0,0,3,3 (tie between 0 and 3; plurality ties to 0 too); 4 -> 1,3,3,0,0 (plurality 0, median 1)
    rows = [(0, [0, 0, 3]), (1, [0, 3, 3]), (2, [0, 1, 2, 3]), (3, [0, 0, 3, 3]), (4, [1, 3, 3, 0, 0])]
    items = [j for j, ls in rows for _ in ls]
    labels = [v for _, ls in rows for v in ls]
    workers = [w for _, ls in rows for w in range(len(ls))]
    data = as_ordinal(labels_of(labels, items, workers, ("0", "1", "2", "3")))
    vote = majority_vote(data)
    assert vote.labels.tolist() == [0, 3, 1, 0, 1]
    assert vote.tied.tolist() == [False, False, True, True, False]
    assert majority_vote(dataclasses.replace(data, ordered=False)).labels.tolist()[4] == 0  # plurality
    drawn = {tuple(majority_vote(data, ties="random", random_state=s).labels) for s in range(40)}
    assert {d[2] for d in drawn} == {1, 2} and {d[3] for d in drawn} == {0, 3}
    assert all(d[:2] == (0, 3) and d[4] == 1 for d in drawn)  # untied items never move


# -- agreement -------------------------------------------------------------------------------------------
@needs_datasets
@pytest.mark.parametrize("name", DATASET_NAMES)
def test_ordinal_and_interval_alpha_equal_the_package_on_the_shared_sets(name):
    data = load_labels(DATASETS / name / "labels.csv", ordinal=True).labels
    summary = labels_agreement(data)
    counts = vote_counts(data)
    for level in ("ordinal", "interval"):
        expected = reference_alpha(value_counts=counts, level_of_measurement=level)
        assert summary[f"krippendorff_alpha_{level}"] == pytest.approx(expected, abs=1e-9)


@needs_datasets
def test_alpha_of_text_grades_in_a_declared_order():
    numeric = load_labels(DATASETS / "adult2" / "labels.csv", ordinal=True).labels
    text = dataclasses.replace(numeric, class_names=("G", "P", "R", "X"), ordered=False)
    declared = as_ordinal(text, declared=True)
    assert labels_agreement(declared)["krippendorff_alpha_ordinal"] == pytest.approx(
        labels_agreement(numeric)["krippendorff_alpha_ordinal"], abs=1e-12
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alpha_equals_the_package_with_missing_labels_and_uneven_values(seed):
    sim = simulate_ordinal(200, 15, 5, 4, random_state=seed)
    keep = np.random.default_rng(seed).random(sim.labels.n_labels) > 0.4
    data = dataclasses.replace(
        sim.labels, item=sim.labels.item[keep], worker=sim.labels.worker[keep], label=sim.labels.label[keep]
    )
    per_item = data.labels_per_item()
    assert (per_item == 0).any() and (per_item == 1).any()
    values = np.array([-3.0, 0.0, 1.0, 5.0, 20.0])
    reliability = values[np.nan_to_num(data.to_matrix().T, nan=0).astype(int)]
    reliability[np.isnan(data.to_matrix().T)] = np.nan
    for level, metric in (("ordinal", ordinal_metric), ("interval", interval_metric(values))):
        expected = reference_alpha(
            reliability_data=reliability, value_domain=list(values), level_of_measurement=level
        )
        assert krippendorff_alpha(data, metric=metric) == pytest.approx(expected, abs=1e-9)


def test_weighted_kappa_by_hand_and_where_it_is_defined():
    # two annotators, four items: (0,0), (1,2), (2,2), (2,0)
    data = labels_of([0, 0, 1, 2, 2, 2, 2, 0], [0, 0, 1, 1, 2, 2, 3, 3], [0, 1] * 4, ("0", "1", "2"))
    observed = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 1]]) / 4
    expected = np.outer(observed.sum(1), observed.sum(0))
    w = np.subtract.outer(np.arange(3), np.arange(3)) ** 2
    by_hand = 1 - (w * observed).sum() / (w * expected).sum()
    assert weighted_kappa(data) == pytest.approx(by_hand)
    summary = labels_agreement(as_ordinal(data))
    assert summary["weighted_kappa"]["defined"] and summary["weighted_kappa"]["quadratic"] == pytest.approx(
        by_hand
    )
    three = labels_of([0, 1, 2], [0, 0, 0], [0, 1, 2], ("0", "1", "2"))
    with pytest.raises(EmcrowdError, match="exactly two annotators"):
        weighted_kappa(three)
    assert not labels_agreement(as_ordinal(three))["weighted_kappa"]["defined"]


# -- the ordinal model -----------------------------------------------------------------------------------
def test_the_bias_and_spread_step_never_lowers_its_objective():
    rng = np.random.default_rng(0)
    weights = rng.gamma(0.5, 3.0, size=(40, 5, 5))
    eta = np.column_stack([rng.normal(0, 2, 40), rng.uniform(0.01, 5, 40), rng.normal(0, 1, 40)])
    for scale in (0.0, 1.0):
        start = eta.copy()
        if scale == 0:
            start[:, 2] = 0.0
        before = np.einsum("ikl,ikl->i", weights, log_confusion(start, 5)) - (
            0.5 * (start[:, 2] / scale) ** 2 if scale else 0.0
        )
        after_eta = fit_bias_spread(weights, start, scale)
        after = np.einsum("ikl,ikl->i", weights, log_confusion(after_eta, 5)) - (
            0.5 * (after_eta[:, 2] / scale) ** 2 if scale else 0.0
        )
        assert np.all(after >= before - 1e-12)
        assert np.mean(after > before + 1e-6) > 0.9  # and it moves


@pytest.mark.parametrize("kind", ["gaussian", "confusion"])
@pytest.mark.parametrize("n_items", [200, 1500])
def test_objective_never_decreases(kind, n_items):
    sim = simulate_ordinal(n_items, 30, 4, 4, kind=kind, random_state=3)
    model = OrdinalDawidSkene(n_init=2).fit(sim.labels)
    assert_non_decreasing(model.history_)
    assert model.converged_


def test_bias_and_spread_are_recovered():
    sim = simulate_ordinal(3000, 40, 5, 5, bias_scale=0.6, spread_range=(0.4, 1.5), random_state=7)
    model = OrdinalDawidSkene(exact_scale=0.0).fit(sim.labels)
    assert np.all(model.exact_bonus_ == 0)
    assert np.corrcoef(model.bias_, sim.bias)[0, 1] > 0.95
    assert np.corrcoef(model.spread_, sim.spread)[0, 1] > 0.95
    assert np.median(np.abs(model.bias_ - sim.bias)) < 0.1
    assert np.median(np.abs(model.spread_ - sim.spread)) < 0.1
    truth_conf = np.exp(log_confusion(natural_params(sim.bias, sim.spread), 5))
    assert np.abs(model.confusion_ - truth_conf).mean() < 0.02


def test_ordinal_model_beats_the_unordered_ones_on_graded_data():
    for seed in (0, 1):
        sim = simulate_ordinal(600, 60, 5, 5, random_state=seed)
        truth = sim.truth
        ordinal = OrdinalDawidSkene().fit(sim.labels).labels_
        for other in (DawidSkene().fit(sim.labels).labels_, majority_vote(sim.labels).labels):
            assert (ordinal == truth).mean() > (other == truth).mean()
            assert np.abs(ordinal - truth).mean() < np.abs(other - truth).mean()


def test_gold_is_clamped_and_restarts_are_seeded():
    sim = simulate_ordinal(300, 20, 4, 3, random_state=5)
    gold = np.full(300, -1)
    gold[:40] = (sim.truth[:40] + 1) % 4  # deliberately wrong gold: clamped all the same
    model = OrdinalDawidSkene(n_init=3, random_state=11).fit(sim.labels, gold=gold)
    assert np.array_equal(model.labels_[:40], gold[:40])
    assert np.allclose(model.posteriors_[np.arange(40), gold[:40]], 1.0)
    assert model.n_gold_ == 40 and len(model.init_objectives_) == 3
    assert model.lower_bound_ == max(model.init_objectives_)
    again = OrdinalDawidSkene(n_init=3, random_state=11).fit(sim.labels, gold=gold)
    assert np.array_equal(again.posteriors_, model.posteriors_)
    assert again.init_objectives_ == model.init_objectives_


def test_the_model_takes_a_dataframe_and_declared_text_grades():
    pd = pytest.importorskip("pandas")
    from emcrowd import labels_from_frame

    sim = simulate_ordinal(200, 10, 4, 3, random_state=2)
    frame = pd.DataFrame(
        {
            "task": [sim.labels.item_names[j] for j in sim.labels.item],
            "worker": [sim.labels.worker_names[i] for i in sim.labels.worker],
            "label": [GRADES[c] for c in sim.labels.label],
        }
    )
    with pytest.raises(EmcrowdError, match="--ordinal needs the order"):
        labels_from_frame(frame, ordinal=True)
    graded = labels_from_frame(frame, ordinal=True, classes=GRADES)
    assert graded.ordered and graded.class_names == GRADES
    direct = OrdinalDawidSkene().fit(graded)
    series = OrdinalDawidSkene().fit_predict(frame.assign(label=sim.labels.label * 10))  # numbers: in order
    assert isinstance(series, pd.Series) and set(series.unique()) <= {0, 10, 20, 30}
    by_item = dict(zip(graded.item_names, direct.labels_ * 10, strict=True))
    assert all(series[item] == by_item[item] for item in series.index)


def test_auto_and_compare_see_the_order():
    assert "ordinal_ds" in available_candidates(True) and "ordinal_ds" not in available_candidates(False)
    assert method_name("ordinal") == "ordinal_ds"
    sim = simulate_ordinal(300, 20, 4, 4, random_state=4)
    report = compare(sim.labels, sim.truth, methods=["ordinal_ds"], seed=0)
    entry = report["methods"]["ordinal_ds"]
    pred_gap = entry["mae"]
    assert 0 <= pred_gap <= 3 and entry["mae_ci"][0] <= pred_gap <= entry["mae_ci"][1]
    assert entry["accuracy"] <= entry["within_one"] <= 1
    assert report["agreement"]["krippendorff_alpha_ordinal"] is not None
    plain = compare(dataclasses.replace(sim.labels, ordered=False), sim.truth, methods=[], seed=0)
    assert "mae" not in plain["methods"]["majority"]


# -- the commands ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graded_files(tmp_path_factory):
    """The same graded labels in every input kind: long CSV (text grades), matrix .npy, .npz, Parquet,
    JSON Lines, and a crowd-kit export."""
    root = tmp_path_factory.mktemp("graded")
    sim = simulate_ordinal(150, 12, 4, 4, random_state=9)
    data = sim.labels
    rows = [
        (data.item_names[j], data.worker_names[i], GRADES[c])
        for j, i, c in zip(data.item, data.worker, data.label, strict=True)
    ]
    files = {}
    files["csv"] = root / "labels.csv"
    files["csv"].write_text("item,worker,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    files["crowd-kit"] = root / "crowdkit.csv"
    files["crowd-kit"].write_text("task,worker,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    files["jsonl"] = root / "labels.jsonl"
    files["jsonl"].write_text(
        "".join(json.dumps({"item": a, "worker": b, "label": c}) + "\n" for a, b, c in rows)
    )
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    files["parquet"] = root / "labels.parquet"
    pq.write_table(
        pa.table(
            {"item": [r[0] for r in rows], "worker": [r[1] for r in rows], "label": [r[2] for r in rows]}
        ),
        files["parquet"],
    )
    files["npy"] = root / "L.npy"
    np.save(files["npy"], data.to_matrix())
    files["npz"] = root / "labels.npz"
    np.savez(files["npz"], **labels_npz(data))
    truth = root / "truth.csv"
    truth.write_text(
        "item,label\n"
        + "".join(f"{n},{GRADES[t]}\n" for n, t in zip(data.item_names, sim.truth, strict=True))
    )
    numeric_truth = root / "y.npy"
    np.save(numeric_truth, sim.truth.astype(float))
    return files, truth, numeric_truth


def classes_for(kind: str) -> list[str]:
    return [] if kind in ("npy", "npz") else ["--classes", ",".join(GRADES)]


@pytest.mark.parametrize("kind", ["csv", "crowd-kit", "jsonl", "parquet", "npy", "npz"])
def test_info_with_ordinal_on_every_input_kind(graded_files, kind):
    files, _, _ = graded_files
    res = invoke("info", files[kind], "--ordinal", *classes_for(kind), "--json", "-q")
    assert res.exit_code == 0, res.stderr
    agreement = json.loads(res.stdout)["agreement"]
    assert agreement["krippendorff_alpha_ordinal"] is not None
    assert agreement["krippendorff_alpha_interval"] is not None
    plain = json.loads(invoke("info", files[kind], "--json", "-q").stdout)["agreement"]
    assert plain["krippendorff_alpha_ordinal"] is None
    if kind != "npy":  # the same labels: the same alpha whatever the file
        npy = json.loads(invoke("info", files["npy"], "--ordinal", "--json", "-q").stdout)["agreement"]
        assert agreement["krippendorff_alpha_ordinal"] == pytest.approx(npy["krippendorff_alpha_ordinal"])


def test_fit_compare_relabel_with_ordinal(graded_files, tmp_path):
    files, truth, numeric_truth = graded_files
    grades = ",".join(GRADES)
    out = tmp_path / "fit"
    res = invoke(
        "fit", files["csv"], "--ordinal", "--classes", grades, "--method", "ordinal-ds", "-o", out, "-q"
    )
    assert res.exit_code == 0, res.stderr
    header = (out / "workers.csv").read_text().splitlines()[0].split(",")
    assert {"bias", "spread", "exact_bonus"} <= set(header)
    items = (out / "items.csv").read_text()
    assert any(g in items for g in GRADES)
    res = invoke(
        "fit", files["csv"], "--ordinal", "--classes", grades, "--method", "majority", "-o", tmp_path / "mv"
    )
    assert res.exit_code == 0 and "lower middle grade" in res.stderr
    res = invoke(
        "compare", files["csv"], "--ordinal", "--classes", grades, "-t", truth,
        "--methods", "majority,dawid-skene", "--json", "-q",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert set(report["methods"]) == {"majority", "dawid_skene"} and report["ordered"]
    assert all({"mae", "within_one", "mae_ci"} <= set(e) for e in report["methods"].values())
    res = invoke("compare", files["npy"], "--ordinal", "-t", numeric_truth, "--methods", "majority,ordinal")
    assert res.exit_code == 0, res.stderr
    assert "Mean absolute error in grades" in res.stderr and "ordinal DS" in res.stderr
    assert "Krippendorff's alpha ordinal" in res.stderr
    res = invoke(
        "relabel",
        files["csv"],
        "--ordinal",
        "--classes",
        grades,
        "--method",
        "ordinal-ds",
        "-b",
        5,
        "-o",
        tmp_path / "rl",
        "-q",
    )
    assert res.exit_code == 0, res.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--ordinal needs the order of the grades"),
        (["--classes", "bad,fair,good"], "not among the declared classes"),
    ],
)
def test_bad_orders_are_refused_with_one_line(graded_files, tmp_path, args, message):
    files, _, _ = graded_files
    for command in (["info"], ["fit", "-o", tmp_path / "out"], ["compare", "-t", graded_files[1]]):
        res = invoke(command[0], files["csv"], "--ordinal", *args, *command[1:])
        assert res.exit_code == 2, res.stderr
        assert message in res.stderr and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
        assert res.stdout == ""
    assert not (tmp_path / "out").exists()


def test_the_ordinal_model_needs_ordinal_on_the_command_line(graded_files, tmp_path):
    files, truth, _ = graded_files
    for command in (["fit", "-o", tmp_path / "out"], ["compare", "-t", truth, "--methods", "ordinal-ds"]):
        res = invoke(
            command[0],
            files["csv"],
            "--method" if command[0] == "fit" else "-q",
            *(["ordinal-ds"] if command[0] == "fit" else []),
            *command[1:],
        )
        assert res.exit_code == 2, res.stderr
        assert "ordinal-ds needs ordered grades: add --ordinal" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_simulate_ordinal(tmp_path):
    res = invoke(
        "simulate",
        "--ordinal",
        "--classes",
        5,
        "--items",
        300,
        "--workers",
        20,
        "-r",
        4,
        "-o",
        tmp_path,
        "-q",
    )
    assert res.exit_code == 0, res.stderr
    matrix = np.load(tmp_path / "L.npy")
    assert np.nanmax(matrix) <= 4 and np.isclose(np.isfinite(matrix).sum(), 1200)
    assert np.load(tmp_path / "bias.npy").shape == (20,) and np.load(tmp_path / "spread.npy").min() >= 0.3
    res = invoke("fit", tmp_path / "L.npy", "--ordinal", "--engine", "dask", "-o", tmp_path / "d")
    assert res.exit_code == 2 and "--engine dask" in res.stderr
