"""Numeric answers (--numeric): the bias-and-noise models, the readers, the commands and the Python API."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emcrowd import io
from emcrowd.cli import app
from emcrowd.errors import EmcrowdError
from emcrowd.models.numeric import BiasNoise, MeanAggregator, MedianAggregator, RobustBiasNoise
from emcrowd.models.numeric.simulate import simulate_numeric
from emcrowd.numeric_data import NumericLabels
from tests.helpers import assert_non_decreasing

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def user_error(res) -> str:
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    assert res.stdout == ""
    message = res.stderr.strip()
    assert "\n" not in message, message
    assert message.startswith("emcrowd: error:")
    return message


def rmse(estimate: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((estimate - truth) ** 2)))


# -- the models ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "sizes", "seed"),
    [
        (BiasNoise(), (200, 10, 3), 0),
        (BiasNoise(fit_scale=True), (300, 15, 5), 1),
        (RobustBiasNoise(), (200, 10, 3), 2),
        (RobustBiasNoise(fit_scale=True), (500, 25, 7), 3),
        (RobustBiasNoise(), (50, 40, 2), 4),  # sparse: few labels per annotator
    ],
)
def test_objective_never_decreases(model, sizes, seed):
    sim = simulate_numeric(*sizes, random_workers=0.2, seed=seed)
    gold = np.full(sim.labels.n_items, np.nan)
    gold[::7] = sim.values[::7]
    for g in (None, gold):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(sim.labels, gold=g)
        assert_non_decreasing(model.history_)


@pytest.mark.parametrize("seed", [0, 1])
def test_bias_and_noise_are_recovered(seed):
    sim = simulate_numeric(2000, 20, 6, bias_sd=6.0, noise_range=(2.0, 12.0), random_workers=0.0, seed=seed)
    model = BiasNoise().fit(sim.labels)
    # biases are identified up to a common shift (the crowd's mean bias); compare centred
    got_bias = model.bias_ - model.bias_.mean()
    want_bias = sim.bias - sim.bias.mean()
    standard_error = sim.noise / np.sqrt(sim.labels.labels_per_worker())
    assert np.all(np.abs(got_bias - want_bias) < 4 * standard_error + 0.1)
    assert np.max(np.abs(model.noise_ - sim.noise) / sim.noise) < 0.15
    assert model.converged_
    assert not model.flagged_.any()
    # the 95% intervals hold about 95% of the true values, on the crowd's scale: without gold the level
    # of the values is the annotators' average (their mean bias is not identified), so shift it out
    shift = np.mean(model.estimate_ - sim.values)
    assert abs(shift) < 2 * sim.bias.std()
    values = sim.values + shift
    inside = (model.interval_[:, 0] <= values) & (values <= model.interval_[:, 1])
    assert 0.92 <= inside.mean() <= 0.98


def test_scale_is_recovered():
    sim = simulate_numeric(3000, 12, 6, scale_sd=0.3, bias_sd=3.0, random_workers=0.0, seed=5)
    model = BiasNoise(fit_scale=True).fit(sim.labels)
    ratio = model.scale_ / sim.scale  # the scales are identified up to a common factor
    assert np.std(ratio) / np.mean(ratio) < 0.05
    # the values are on the crowd's average scale and level (neither is identified without gold): what
    # the scales buy is a closer linear fit to the true values
    plain = BiasNoise().fit(sim.labels)
    fitted = np.corrcoef(model.estimate_, sim.values)[0, 1]
    assert fitted > np.corrcoef(plain.estimate_, sim.values)[0, 1]


@pytest.mark.parametrize("model_class", [BiasNoise, RobustBiasNoise])
def test_random_answerers_are_flagged(model_class):
    sim = simulate_numeric(600, 20, 6, random_workers=0.15, seed=3)
    model = model_class().fit(sim.labels)
    assert sim.random.sum() == 3
    np.testing.assert_array_equal(model.flagged_, sim.random)
    if model_class is RobustBiasNoise:
        # a wholly random annotator is explained by random answers or by a noise as wide as the values;
        # either way their random rate is above every careful annotator's
        assert model.random_rate_[sim.random].min() > 2 * model.random_rate_[~sim.random].max()


def test_gold_values_are_clamped_and_help():
    sim = simulate_numeric(300, 10, 3, bias_sd=10.0, random_workers=0.0, seed=8)
    gold = np.full(sim.labels.n_items, np.nan)
    gold[:100] = sim.values[:100]
    model = RobustBiasNoise().fit(sim.labels, gold=gold)
    np.testing.assert_array_equal(model.estimate_[:100], sim.values[:100])
    np.testing.assert_array_equal(model.sd_[:100], 0.0)
    # with gold the common bias is pinned to the truth: the others' estimates are unbiased
    without = RobustBiasNoise().fit(sim.labels)
    rest = slice(100, None)
    assert (
        abs(np.mean(model.estimate_[rest] - sim.values[rest]))
        < abs(np.mean(without.estimate_[rest] - sim.values[rest])) + 0.5
    )
    assert (
        rmse(model.estimate_[rest], sim.values[rest]) <= rmse(without.estimate_[rest], sim.values[rest]) + 0.1
    )


@pytest.mark.parametrize(("per_item", "share"), [(5, 0.3), (7, 0.5)])
def test_robust_beats_mean_and_plain_with_random_answerers(per_item, share):
    # 30% of the annotators answer at random part of the time: the plain model can only give all their
    # answers a wider noise, the robust one discounts the random answers alone
    for seed in range(3):
        sim = simulate_numeric(400, 20, per_item, random_workers=0.3, random_share=share, seed=seed)
        errors = {
            name: model.fit(sim.labels).estimate_ - sim.values
            for name, model in (
                ("mean", MeanAggregator()),
                ("median", MedianAggregator()),
                ("plain", BiasNoise()),
                ("robust", RobustBiasNoise()),
            )
        }
        for metric in (lambda e: np.abs(e).mean(), lambda e: np.sqrt(np.mean(e * e))):
            robust = metric(errors["robust"])
            assert robust < metric(errors["plain"]), seed
            assert robust < metric(errors["mean"]) and robust < metric(errors["median"]), seed


def test_baselines():
    data = NumericLabels(
        item=[0, 0, 0, 1, 1], worker=[0, 1, 2, 0, 1], value=[1.0, 2.0, 10.0, -4.0, -2.0],
        item_names=("a", "b"), worker_names=("x", "y", "z"),
    )  # fmt: skip
    np.testing.assert_allclose(MeanAggregator().fit(data).estimate_, [13 / 3, -3.0])
    np.testing.assert_allclose(MedianAggregator().fit(data).estimate_, [2.0, -3.0])


def test_numeric_labels_are_checked():
    with pytest.raises(EmcrowdError, match="finite"):
        NumericLabels(item=[0], worker=[0], value=[np.inf], item_names=("a",), worker_names=("x",))
    with pytest.raises(EmcrowdError, match="codes outside"):
        NumericLabels(item=[1], worker=[0], value=[1.0], item_names=("a",), worker_names=("x",))


# -- reading: every format ----------------------------------------------------------------------------
ROWS = [("i1", "w1", "3.5"), ("i1", "w2", "-2"), ("i2", "w1", "10"), ("i2", "w3", "0.25"), ("i3", "w2", "7")]


def triples(labels: NumericLabels) -> set[tuple[str, str, float]]:
    return {
        (labels.item_names[j], labels.worker_names[w], float(v))
        for j, w, v in zip(labels.item.tolist(), labels.worker.tolist(), labels.value.tolist(), strict=True)
    }


WANT = {(i, w, float(v)) for i, w, v in ROWS}


def write_formats(tmp: Path) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = {}
    files["csv"] = tmp / "l.csv"
    files["csv"].write_text("item,worker,value\n" + "".join(f"{i},{w},{v}\n" for i, w, v in ROWS))
    files["tsv"] = tmp / "l.tsv"
    files["tsv"].write_text("task\tannotator\tanswer\n" + "".join(f"{i}\t{w}\t{v}\n" for i, w, v in ROWS))
    files["jsonl"] = tmp / "l.jsonl"
    files["jsonl"].write_text(
        "".join(json.dumps({"item": i, "worker": w, "label": float(v)}) + "\n" for i, w, v in ROWS)
    )
    files["json"] = tmp / "l.json"
    files["json"].write_text(json.dumps([{"item": i, "worker": w, "label": float(v)} for i, w, v in ROWS]))
    files["parquet"] = tmp / "l.parquet"
    table = pa.table(
        {"item": [r[0] for r in ROWS], "worker": [r[1] for r in ROWS], "label": [float(r[2]) for r in ROWS]}
    )
    pq.write_table(table, files["parquet"])
    files["toloka"] = tmp / "toloka.tsv"
    files["toloka"].write_text(
        "INPUT:text\tOUTPUT:score\tASSIGNMENT:worker_id\tASSIGNMENT:task_id\n"
        + "".join(f"t\t{v}\t{w}\t{i}\n" for i, w, v in ROWS)
    )
    files["mturk"] = tmp / "batch.csv"
    files["mturk"].write_text(
        "HITId,WorkerId,AssignmentStatus,Answer.score\n"
        + "".join(f"{i},{w},Approved,{v}\n" for i, w, v in ROWS)
    )
    return files


def test_every_long_format_reads_numbers(tmp_path):
    for kind, path in write_formats(tmp_path).items():
        loaded = io.load_labels(path, numeric=True)
        assert isinstance(loaded.labels, NumericLabels), kind
        assert triples(loaded.labels) == WANT, kind


def test_matrices_read_numbers_with_negative_answers(tmp_path):
    matrix = np.array([[3.5, -2.0, np.nan], [10.0, np.nan, 0.25], [np.nan, 7.0, np.nan]])
    np.save(tmp_path / "m.npy", matrix)
    (tmp_path / "m.csv").write_text("w1,w2,w3\n3.5,-2,\n10,,0.25\n,7,\n")
    (tmp_path / "ids.csv").write_text("item,w1,w2,w3\ni1,3.5,-2,\ni2,10,,0.25\ni3,,7,\n")
    for name in ("m.npy", "m.csv", "ids.csv"):
        labels = io.load_labels(tmp_path / name, numeric=True).labels
        np.testing.assert_array_equal(labels.to_matrix(), matrix)
    assert triples(io.load_labels(tmp_path / "ids.csv", numeric=True).labels) == WANT


def test_cli_fits_every_format(tmp_path):
    files = write_formats(tmp_path)
    np.save(tmp_path / "m.npy", np.array([[3.5, -2.0], [10.0, np.nan]]))
    files["npy"] = tmp_path / "m.npy"
    for kind, path in files.items():
        out = tmp_path / f"out-{kind}"
        res = invoke("fit", path, "--numeric", "--out", out, "-q")
        assert res.exit_code == 0, (kind, res.stderr)
        header = (out / "items.csv").read_text().splitlines()[0]
        assert header.startswith("item,estimate,sd,lower,upper,n_labels"), kind
        assert (out / "workers.csv").read_text().startswith("worker,n_labels,bias,noise_sd"), kind


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("item,worker,value\na,x,1\na,y,abc\nb,x,2\n", "'abc' (1 label) is not a number"),
        ("item,worker,value\na,x,1\na,y,inf\nb,x,2\n", "'inf' (1 label) is not a finite number"),
        ("item,worker,value\na,x,1\na,y,-Infinity\n", "is not a finite number"),
    ],
)
def test_bad_numbers_are_refused_in_one_line(tmp_path, text, problem):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    out = tmp_path / "out"
    message = user_error(invoke("fit", path, "--numeric", "--out", out))
    assert problem in message and str(path) in message
    assert not out.exists()


def test_inf_in_a_numeric_matrix_is_refused(tmp_path):
    np.save(tmp_path / "m.npy", np.array([[1.0, np.inf], [2.0, 3.0]]))
    out = tmp_path / "out"
    message = user_error(invoke("fit", tmp_path / "m.npy", "--numeric", "--out", out))
    assert "inf" in message
    assert not out.exists()


def test_classes_and_numeric_do_not_mix(tmp_path):
    path = write_formats(tmp_path)["csv"]
    assert "--classes" in user_error(invoke("info", path, "--numeric", "--classes", "1,2"))


def test_many_numbers_read_as_classes_get_a_hint(tmp_path):
    sim = simulate_numeric(60, 8, 4, seed=0)
    path = tmp_path / "s.csv"
    data = sim.labels
    path.write_text(
        "item,worker,value\n"
        + "".join(
            f"{data.item_names[j]},{data.worker_names[w]},{v}\n"
            for j, w, v in zip(data.item.tolist(), data.worker.tolist(), data.value.tolist(), strict=True)
        )
    )
    res = invoke("info", path, "-q")
    assert "--numeric" in res.stderr
    res = invoke("info", path, "--numeric", "--json", "-q")
    assert res.exit_code == 0
    record = json.loads(res.stdout)
    assert record["kind"] == "numeric" and record["n_labels"] == 240


# -- the commands -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("numeric") / "sim"
    res = invoke("simulate", "--numeric", "--items", 300, "--workers", 15, "--seed", 2, "--out", out, "-q")
    assert res.exit_code == 0, res.stderr
    return out


def test_simulate_writes_labels_truth_and_workers(simulated):
    assert (simulated / "labels.csv").read_text().startswith("item,worker,value\n")
    assert (simulated / "truth.csv").read_text().startswith("item,value\n")
    rows = (simulated / "workers.csv").read_text().splitlines()
    assert rows[0] == "worker,bias,noise_sd,random" and len(rows) == 16


def test_fit_outputs_and_stdout(simulated, tmp_path):
    out = tmp_path / "fit"
    res = invoke("fit", simulated / "labels.csv", "--numeric", "--out", out, "-q")
    assert res.exit_code == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "numeric" and summary["method"] == "bias_noise" and summary["converged"]
    assert_non_decreasing(summary["objective"])
    truth = {r.split(",")[0]: r for r in (simulated / "workers.csv").read_text().splitlines()[1:]}
    flagged_truth = sorted(w for w, r in truth.items() if r.endswith("true"))
    assert sorted(summary["flagged"]) == flagged_truth
    res = invoke("fit", simulated / "labels.csv", "--numeric", "--method", "mean", "--out", "-", "-q")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0] == "item,estimate,lower,upper" and len(lines) == 301


def test_compare_reports_mae_rmse_and_gain(simulated):
    res = invoke(
        "compare", simulated / "labels.csv", "--numeric", "--truth", simulated / "truth.csv", "--json", "-q"
    )
    assert res.exit_code == 0, res.stderr
    metrics = json.loads(res.stdout)
    assert metrics["n_scored"] == 300
    methods = metrics["methods"]
    assert set(methods) == {"mean", "median", "bias_noise", "robust"}
    for entry in methods.values():
        lo, hi = entry["mae_ci"]
        assert lo <= entry["mae"] <= hi
        lo, hi = entry["rmse_ci"]
        assert lo <= entry["rmse"] <= hi
    gain = methods["robust"]["mae_gain_vs_mean"]
    assert gain == pytest.approx(methods["mean"]["mae"] - methods["robust"]["mae"])
    assert methods["robust"]["mae_gain_vs_mean_ci"][0] > 0  # significantly better than the mean


def test_gold_by_id_from_the_cli(simulated, tmp_path):
    truth = (simulated / "truth.csv").read_text().splitlines()
    gold = tmp_path / "gold.csv"
    gold.write_text("\n".join(truth[:51]) + "\n")
    out = tmp_path / "fit"
    res = invoke("fit", simulated / "labels.csv", "--numeric", "--gold", gold, "--out", out, "-q")
    assert res.exit_code == 0, res.stderr
    rows = [r.split(",") for r in (out / "items.csv").read_text().splitlines()]
    header, body = rows[0], {r[0]: r for r in rows[1:]}
    for line in truth[1:51]:
        item, value = line.split(",")
        assert float(body[item][header.index("estimate")]) == float(value)
        assert float(body[item][header.index("gold")]) == float(value)
    bad = tmp_path / "badgold.csv"
    bad.write_text("item,value\ni1,abc\n")
    assert "not a finite number" in user_error(
        invoke("fit", simulated / "labels.csv", "--numeric", "--gold", bad, "--out", tmp_path / "x")
    )


def test_relabel_ranks_least_certain_first(simulated, tmp_path):
    res = invoke("relabel", simulated / "labels.csv", "--numeric", "-b", 10, "-o", "-", "-q")
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "item,estimate,sd,lower,upper,n_labels,sd_after"
    sds = [float(line.split(",")[2]) for line in lines[1:]]
    assert len(sds) == 10 and sds == sorted(sds, reverse=True)


def test_numeric_methods_need_numeric(simulated):
    message = user_error(invoke("fit", simulated / "labels.csv", "--method", "robust", "--out", "-"))
    assert "--numeric" in message


# -- the Python API -----------------------------------------------------------------------------------
def test_pandas_in_pandas_out():
    pd = pytest.importorskip("pandas")
    sim = simulate_numeric(100, 8, 4, random_workers=0.0, seed=1)
    data = sim.labels
    frame = pd.DataFrame(
        {
            "task": [data.item_names[j] for j in data.item.tolist()],
            "worker": [data.worker_names[w] for w in data.worker.tolist()],
            "label": data.value,
        }
    )
    model = RobustBiasNoise()
    estimates = model.fit_predict(frame)
    assert isinstance(estimates, pd.Series) and estimates.index.name == "task"
    np.testing.assert_allclose(estimates.loc[list(data.item_names)].to_numpy(), model.fit(data).estimate_)
    intervals = model.fit(frame).predict_interval()
    assert list(intervals.columns) == ["estimate", "sd", "lower", "upper"]
    assert isinstance(model.annotator_bias(), pd.Series)
    gold = pd.Series({"i0": 12.5, "i1": -3.0})
    clamped = RobustBiasNoise().fit_predict(frame, gold=gold)
    assert clamped["i0"] == 12.5 and clamped["i1"] == -3.0
    # a matrix DataFrame (annotators as columns, NaN = no answer) with negative answers
    wide = pd.DataFrame({"a": [1.5, -2.0, np.nan], "b": [2.0, np.nan, 4.0]}, index=["x", "y", "z"])
    out = MeanAggregator().fit_predict(wide)
    assert out.to_dict() == {"x": 1.75, "y": -2.0, "z": 4.0}


def test_moments_give_the_residual_sums_of_a_pass():
    from emcrowd.models.numeric import _kernels

    sim = simulate_numeric(300, 12, 4, random_workers=0.2, seed=4)
    d = sim.labels
    rng = np.random.default_rng(0)
    m, v = rng.normal(50, 20, d.n_items), rng.uniform(0.5, 2, d.n_items)
    a, b = rng.normal(0, 3, d.n_workers), rng.uniform(0.8, 1.2, d.n_workers)
    r = rng.uniform(0, 1, d.n_labels)
    known = np.zeros(d.n_items, dtype=bool)
    known[::5] = True
    center = float(d.value.mean())
    sums = np.zeros((d.n_workers, 10))
    s2, eps = np.full(d.n_workers, 4.0), np.full(d.n_workers, 0.1)
    _kernels.answers_pass(
        d.item, d.worker, d.value, m, v, a, b, s2, eps, 0.0, False, known, center, r, sums, 3
    )
    n, syc, smc, smmc, smyc, _, syyc, n_g, syc_g, smc_g = sums.T
    a_c = a + (b - 1) * center
    sq = syyc - 2 * a_c * syc - 2 * b * smyc + a_c * a_c * n + 2 * a_c * b * smc + b * b * smmc
    resid_gold = syc_g - a_c * n_g - b * smc_g
    cross = (b - 1) * (syc - a_c * n - b * smc - resid_gold) - resid_gold
    direct = np.zeros((d.n_workers, 3))
    _kernels.residuals_pass(d.item, d.worker, d.value, m, v, a, b, r, False, known, direct)
    np.testing.assert_allclose(sq, direct[:, 0], rtol=1e-9)
    np.testing.assert_allclose(cross, direct[:, 1], rtol=1e-9, atol=1e-9)


def test_chunked_passes_match_one_pass():
    from emcrowd.models.numeric import _kernels

    d = simulate_numeric(20_000, 50, 4, seed=6).labels
    assert _kernels.n_chunks(d.n_labels) > 1
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 3, d.n_workers), rng.uniform(0.8, 1.2, d.n_workers)
    s2, eps = rng.uniform(2, 9, d.n_workers), rng.uniform(0.01, 0.3, d.n_workers)
    known = np.zeros(d.n_items, dtype=bool)
    known[::9] = True
    gold = np.where(known, 3.0, 0.0)
    got = {}
    for chunks in (1, 4):
        m, v = np.zeros(d.n_items), np.zeros(d.n_items)
        r = np.ones(d.n_labels)
        _kernels.items_pass(
            d.item, d.worker, d.value, r, False, a, b, s2, 50.0, 400.0, known, gold, m, v, chunks
        )
        sums = np.zeros((d.n_workers, 10))
        _kernels.answers_pass(
            d.item, d.worker, d.value, m, v, a, b, s2, eps, -4.0, True, known, 50.0, r, sums, chunks
        )
        got[chunks] = (m, v, r, sums)
    for one, many in zip(got[1], got[4], strict=True):
        np.testing.assert_allclose(one, many, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("robust", [False, True])
def test_fused_pass_equals_its_steps_in_numpy(robust):
    from emcrowd.models.numeric import _kernels

    d = simulate_numeric(20_000, 50, 4, random_workers=0.1, seed=7).labels
    rng = np.random.default_rng(2)
    shuffle = rng.permutation(d.n_labels)  # answers not grouped by item: the grouping copies them
    item, worker, y = d.item[shuffle], d.worker[shuffle], d.value[shuffle]
    known = np.zeros(d.n_items, dtype=bool)
    known[::9] = True
    gold = np.where(known, 3.0, 0.0)
    a, b = rng.normal(0, 3, d.n_workers), rng.uniform(0.8, 1.2, d.n_workers)
    s2, eps = rng.uniform(2, 9, d.n_workers), rng.uniform(0.01, 0.3, d.n_workers)
    m0, v0 = rng.normal(50, 20, d.n_items), rng.uniform(0.5, 2, d.n_items)
    m0[known], v0[known] = 3.0, 0.0
    mu, tau2, log_u, center = 50.0, 400.0, -4.0, 50.0
    # the steps one at a time, in file order: the responsibilities under the current posterior ...
    r = np.ones(d.n_labels)
    entropy = np.zeros(d.n_labels)
    if robust:
        log_odds = np.log1p(-eps) - 0.5 * np.log(2 * np.pi * s2) - np.log(eps) - log_u
        resid = y - a[worker] - b[worker] * m0[item]
        dd = log_odds[worker] - (resid**2 + b[worker] ** 2 * v0[item]) / (2 * s2[worker])
        r = np.exp(-np.logaddexp(0, -dd))  # logistic(d)
        entropy = np.logaddexp(0, dd) - r * dd  # of r: -r log r - (1 - r) log(1 - r)
    # ... the items' posteriors given them (as the plain items pass makes them) ...
    m, v = m0.copy(), v0.copy()
    _kernels.items_pass(item, worker, y, r, robust, a, b, s2, mu, tau2, known, gold, m, v, 1)
    # ... and the annotators' sums under both
    yc, mc = y - center, m[item] - center
    g = known[item]
    columns = [r, r * yc, r * mc, r * (mc**2 + v[item]), r * mc * yc, entropy, r * yc**2]
    columns += [r * g, r * yc * g, r * mc * g]
    expected = np.column_stack([np.bincount(worker, c, d.n_workers) for c in columns])
    # the fused pass, over the answers grouped by item, in one chunk and in four
    indptr, g_worker, g_y = _kernels.group_by_item(item, worker, y, d.n_items)
    order = np.argsort(item, kind="stable")
    np.testing.assert_array_equal(g_worker, worker[order])
    np.testing.assert_array_equal(g_y, y[order])
    assert _kernels.n_chunks(d.n_labels) == 4
    for chunks in (1, 4):
        bounds = _kernels.item_bounds(indptr, chunks)
        assert bounds[0] == 0 and bounds[-1] == d.n_items and np.all(np.diff(bounds) > 0)
        fm, fv = m0.copy(), v0.copy()
        fused = np.zeros((d.n_workers, 10))
        _kernels.fused_pass(
            indptr, g_worker, g_y, robust, True, a, b, s2, mu, tau2, known, gold, fm, fv, eps,
            log_u, center, fused, bounds,
        )  # fmt: skip
        np.testing.assert_allclose(fm, m, rtol=1e-12)
        np.testing.assert_allclose(fv, v, rtol=1e-12)
        np.testing.assert_allclose(fused, expected, rtol=1e-9, atol=1e-7)


def test_fit_is_the_same_whatever_the_order_of_the_answers():
    sim = simulate_numeric(300, 15, 5, random_workers=0.2, seed=8)
    d = sim.labels
    shuffle = np.random.default_rng(3).permutation(d.n_labels)
    mixed = NumericLabels(
        item=d.item[shuffle], worker=d.worker[shuffle], value=d.value[shuffle],
        item_names=d.item_names, worker_names=d.worker_names,
    )  # fmt: skip
    for model in (BiasNoise, RobustBiasNoise):
        one, two = model().fit(d), model().fit(mixed)
        np.testing.assert_allclose(one.estimate_, two.estimate_, rtol=1e-9)
        np.testing.assert_allclose(one.bias_, two.bias_, rtol=1e-7, atol=1e-9)
        assert one.n_iter_ == two.n_iter_


def test_grouped_starts_equal_the_medians_and_the_pooled_variance():
    from emcrowd.models.numeric import _kernels
    from emcrowd.models.numeric._api import item_medians, pooled_within_variance

    d = simulate_numeric(3_000, 40, 3, seed=9).labels
    keep = np.random.default_rng(4).uniform(size=d.n_labels) < 0.7  # items with 0 to 3 answers
    d = NumericLabels(
        item=d.item[keep], worker=d.worker[keep], value=d.value[keep],
        item_names=d.item_names, worker_names=d.worker_names,
    )  # fmt: skip
    indptr, _, g_y = _kernels.group_by_item(d.item, d.worker, d.value, d.n_items)
    medians, within = _kernels.grouped_starts(indptr, g_y)
    assert np.isnan(medians).any()
    np.testing.assert_array_equal(medians, item_medians(d))
    np.testing.assert_allclose(within, pooled_within_variance(d), rtol=1e-12)
