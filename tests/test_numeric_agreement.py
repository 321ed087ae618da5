"""Krippendorff's interval alpha of numeric answers (info --numeric) against the krippendorff package."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from emcrowd.analysis.numeric import interval_alpha
from emcrowd.cli import app
from emcrowd.models.numeric.simulate import simulate_numeric
from emcrowd.numeric_data import NumericLabels

runner = CliRunner()


def reference(matrix: np.ndarray) -> float:
    """The krippendorff package's interval alpha of an items x annotators matrix (NaN: no answer)."""
    krippendorff = pytest.importorskip("krippendorff")
    return float(krippendorff.alpha(reliability_data=matrix.T, level_of_measurement="interval"))


def matrix_of(data: NumericLabels) -> np.ndarray:
    out = np.full((data.n_items, data.n_workers), np.nan)
    out[data.item, data.worker] = data.value
    return out


@pytest.mark.parametrize(
    ("sizes", "seed", "rounding"),
    [((40, 6, 3), 0, 0), ((120, 15, 4), 1, 1), ((60, 30, 2), 2, 0), ((200, 10, 5), 3, 2)],
)
def test_interval_alpha_equals_the_krippendorff_package(sizes, seed, rounding):
    sim = simulate_numeric(*sizes, random_workers=0.2, seed=seed)
    matrix = np.round(
        matrix_of(sim.labels), rounding
    )  # few distinct values: the package is quadratic in them
    rng = np.random.default_rng(seed)
    matrix[rng.random(matrix.shape) < 0.15] = np.nan  # missing answers, some items left with one or none
    matrix[0, :] = np.nan
    matrix[1, :] = np.nan
    matrix[1, 0] = 3.0  # an item with one answer: not pairable
    data = NumericLabels.from_matrix(matrix)
    assert interval_alpha(data) == pytest.approx(reference(matrix), abs=1e-9)


def test_interval_alpha_of_perfect_agreement_and_of_noise():
    values = np.arange(50, dtype=float)
    agree = NumericLabels.from_matrix(np.stack([values, values, values], axis=1))
    assert interval_alpha(agree) == pytest.approx(1.0, abs=1e-12)
    noise = NumericLabels.from_matrix(np.random.default_rng(0).normal(size=(4000, 3)))
    assert abs(interval_alpha(noise)) < 0.05
    # shifting or scaling every answer leaves alpha alone
    shifted = NumericLabels.from_matrix(1e6 + 3.0 * matrix_of(simulate_numeric(80, 5, 4, seed=4).labels))
    base = NumericLabels.from_matrix(matrix_of(simulate_numeric(80, 5, 4, seed=4).labels))
    assert interval_alpha(shifted) == pytest.approx(interval_alpha(base), abs=1e-9)


def test_interval_alpha_is_nan_without_pairable_or_varying_answers():
    single = NumericLabels.from_matrix(np.array([[1.0, np.nan], [np.nan, 2.0]]))
    assert math.isnan(interval_alpha(single))
    same = NumericLabels.from_matrix(np.full((3, 2), 5.0))
    assert math.isnan(interval_alpha(same))


def test_info_numeric_shows_the_interval_alpha(tmp_path):
    sim = simulate_numeric(80, 8, 4, random_workers=0.1, seed=5)
    data = sim.labels
    path = tmp_path / "answers.csv"
    path.write_text(
        "item,worker,value\n"
        + "".join(
            f"{data.item_names[j]},{data.worker_names[w]},{v!r}\n"
            for j, w, v in zip(data.item.tolist(), data.worker.tolist(), data.value.tolist(), strict=True)
        )
    )
    expected = reference(matrix_of(data))
    res = runner.invoke(app, ["info", str(path), "--numeric", "--json"])
    assert res.exit_code == 0, res.stderr
    assert f"Krippendorff's alpha interval {expected:.3f}" in res.stderr
    record = json.loads(res.stdout)
    assert record["agreement"]["krippendorff_alpha_interval"] == pytest.approx(expected, abs=1e-9)
    one = tmp_path / "one.csv"
    one.write_text("item,worker,value\n1,a,2.5\n2,b,3.5\n")
    res = runner.invoke(app, ["info", str(one), "--numeric", "--json"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["agreement"]["krippendorff_alpha_interval"] is None
    assert "alpha interval n/a" in res.stderr
