"""Small-data latency (issue 28): what ``emcrowd --help`` imports, and EBCC's cheaper restarts."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from emcrowd.errors import ConvergenceWarning, EmcrowdError
from emcrowd.models.classification.ebcc import EBCC
from tests.helpers import assert_non_decreasing

HEAVY = ("numpy", "pyarrow", "numba", "emcrowd.models", "emcrowd.io")


def test_help_imports_no_numerical_library():
    """``emcrowd --help`` (and every command's ``--help``) imports neither NumPy nor pyarrow nor numba:
    those imports cost more than the rest of the help together."""
    code = (
        "import sys\n"
        "sys.argv = ['emcrowd'] + sys.argv[1:]\n"
        "try:\n"
        "    from emcrowd.cli import _run\n"
        "    _run()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('imported:', ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    for args in (["--help"], ["fit", "--help"], ["compare", "--help"], ["simulate", "--help"]):
        done = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, check=True
        )
        assert done.stdout.splitlines()[-1] == "imported: ", args


def _ebcc_data():
    from emcrowd.models.simulate import simulate_dawid_skene

    labels, _, _ = simulate_dawid_skene(400, 12, labels_per_item=4, n_classes=3, concentration=3, seed=31)
    return labels


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_ebcc_screened_restarts_that_all_go_on_are_the_whole_restarts(engine):
    """With every screened restart kept (``screen_keep = n_init``) and plain EM, each goes on exactly as
    it would have run alone: the same ELBOs, the same kept restart, the same history."""
    data = _ebcc_data()
    options = {"n_init": 4, "accelerate": False, "engine": engine}
    screened = EBCC(screen_iter=3, screen_keep=4, **options).fit(data)
    whole = EBCC(screen_iter=None, **options).fit(data)
    np.testing.assert_allclose(screened.init_objectives_, whole.init_objectives_, rtol=1e-10)
    assert screened.best_init_ == whole.best_init_
    np.testing.assert_allclose(screened.history_, whole.history_, rtol=1e-10)
    assert screened.n_iter_ == whole.n_iter_ == len(screened.history_)
    np.testing.assert_allclose(screened.posteriors_, whole.posteriors_, atol=1e-9)


def test_ebcc_only_the_best_screened_restarts_go_on():
    data = _ebcc_data()
    screened = EBCC(n_init=6, screen_iter=3, screen_keep=2).fit(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # the restarts where the screening stops them
        stopped = EBCC(n_init=6, max_iter=3, screen_iter=None).fit(data)
    at_screen = np.array(stopped.init_objectives_)
    kept = np.argsort(-at_screen, kind="stable")[:2]
    final = np.array(screened.init_objectives_)
    others = np.setdiff1d(np.arange(6), kept)
    np.testing.assert_allclose(final[others], at_screen[others], rtol=1e-12)  # stopped there
    assert np.all(final[kept] >= at_screen[kept])  # went on, and the ELBO never falls
    assert screened.best_init_ in kept and screened.lower_bound_ == final.max()
    assert screened.n_iter_ == len(screened.history_) > 3
    assert_non_decreasing(screened.history_)
    for bad in (0, 1.5):
        with pytest.raises(EmcrowdError, match="screen_keep"):
            EBCC(n_init=2, screen_keep=bad).fit(data)
