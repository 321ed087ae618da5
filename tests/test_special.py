"""emcrowd's own digamma and gammaln (so that SciPy is not a runtime dependency) against SciPy's."""

from __future__ import annotations

import numpy as np
import pytest

from emcrowd.models._special import digamma, gammaln

special = pytest.importorskip("scipy.special")

ARGS = np.concatenate(
    [np.logspace(-300, -8, 200), np.logspace(-8, 8, 20001), np.linspace(0.01, 30, 10001), [1e300]]
)


@pytest.mark.parametrize(("ours", "theirs"), [(digamma, "digamma"), (gammaln, "gammaln")])
def test_matches_scipy_to_1e_13(ours, theirs):
    expected = getattr(special, theirs)(ARGS)
    np.testing.assert_allclose(ours(ARGS), expected, rtol=1e-13, atol=1e-13)


def test_shapes_and_edge_values():
    x = np.full((3, 2, 2), 2.0)
    assert digamma(x).shape == (3, 2, 2) and gammaln(x).shape == (3, 2, 2)
    assert digamma(1.0) == pytest.approx(-np.euler_gamma, abs=1e-14)
    assert gammaln(0.5) == pytest.approx(0.5 * np.log(np.pi), abs=1e-14)
    assert np.all(np.isnan(digamma(np.array([0.0, -1.0, np.nan]))))
    assert np.all(np.isnan(gammaln(np.array([0.0, -1.0, np.nan]))))
    assert digamma(np.inf) == np.inf and gammaln(np.inf) == np.inf


def test_no_module_needs_scipy_at_run_time():
    """SciPy is a development dependency only: every method runs with it blocked."""
    import subprocess
    import sys

    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "scipy" or name.startswith("scipy."):
            raise ImportError("scipy is blocked")
sys.meta_path.insert(0, Block())
import warnings
warnings.simplefilter("ignore")
from emcrowd.analysis.aggregate import METHODS, aggregate
from emcrowd.models.simulate import simulate_dawid_skene
import emcrowd.analysis.agreement, emcrowd.analysis.quality
import emcrowd.analysis.relabel, emcrowd.analysis.selection
data, _, _ = simulate_dawid_skene(60, 5, labels_per_item=3, n_classes=3, seed=0)
for method in METHODS:
    aggregate(data, method)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
