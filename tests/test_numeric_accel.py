"""The numeric models' squared extrapolation (accelerate): the same optimum as plain EM, a history
that never decreases, and the passes it costs counted."""

from __future__ import annotations

import numpy as np
import pytest

from emcrowd.models.numeric import BiasNoise, RobustBiasNoise
from emcrowd.models.numeric.simulate import simulate_numeric
from tests.helpers import assert_non_decreasing


@pytest.mark.parametrize(
    ("make", "sizes", "seed", "with_gold"),
    [
        (lambda acc: BiasNoise(accelerate=acc, tol=1e-9), (400, 20, 4), 0, False),
        (lambda acc: BiasNoise(fit_scale=True, accelerate=acc, tol=1e-9), (400, 20, 4), 1, True),
        (lambda acc: RobustBiasNoise(accelerate=acc, tol=1e-9), (600, 30, 5), 2, False),
        (lambda acc: RobustBiasNoise(fit_scale=True, accelerate=acc, tol=1e-9), (600, 30, 5), 3, True),
    ],
)
def test_extrapolation_reaches_plain_em_optimum(make, sizes, seed, with_gold):
    sim = simulate_numeric(*sizes, random_workers=0.2, seed=seed)
    gold = None
    if with_gold:
        gold = np.full(sim.labels.n_items, np.nan)
        gold[::9] = sim.values[::9]
    plain = make(False).fit(sim.labels, gold=gold)
    fast = make(True).fit(sim.labels, gold=gold)
    for model in (plain, fast):
        assert model.converged_
        assert_non_decreasing(model.history_)
    assert plain.n_passes_ == plain.n_iter_
    assert fast.n_passes_ >= fast.n_iter_
    assert fast.history_[-1] == pytest.approx(plain.history_[-1], rel=1e-7, abs=1e-3)
    spread = float(np.std(sim.values))
    assert np.max(np.abs(fast.estimate_ - plain.estimate_)) < 1e-3 * spread
    if gold is not None:
        known = np.isfinite(gold)
        assert np.array_equal(fast.estimate_[known], gold[known])


def test_extrapolation_is_taken_where_em_is_slow():
    # many random answerers and few answers per item: EM crawls, and the extrapolation saves passes
    sim = simulate_numeric(2000, 40, 3, random_workers=0.3, random_share=0.6, seed=4)
    plain = RobustBiasNoise(accelerate=False, tol=1e-8, max_iter=2000).fit(sim.labels)
    fast = RobustBiasNoise(accelerate=True, tol=1e-8, max_iter=2000).fit(sim.labels)
    assert plain.converged_ and fast.converged_
    assert fast.n_passes_ < plain.n_passes_
    assert fast.history_[-1] >= plain.history_[-1] - 1e-6 * abs(plain.history_[-1])


def test_accelerate_off_on_the_command_line(tmp_path):
    import json

    from typer.testing import CliRunner

    from emcrowd.cli import app

    runner = CliRunner()
    out = tmp_path / "sim"
    res = runner.invoke(app, ["simulate", "--numeric", "--items", "200", "--workers", "12", "--seed", "0",
                              "--out", str(out), "-q"])  # fmt: skip
    assert res.exit_code == 0, res.stderr
    runs = {}
    for switch in ("on", "off"):
        fit = tmp_path / f"fit-{switch}"
        res = runner.invoke(app, ["fit", str(out / "labels.csv"), "--numeric", "--method", "robust",
                                  "--accelerate", switch, "--out", str(fit), "-q"])  # fmt: skip
        assert res.exit_code == 0, res.stderr
        runs[switch] = json.loads((fit / "summary.json").read_text())
    assert runs["on"]["converged"] and runs["off"]["converged"]
    assert runs["on"]["n_iter"] < runs["off"]["n_iter"]
    assert runs["on"]["objective"][-1] == pytest.approx(runs["off"]["objective"][-1], rel=1e-5)
