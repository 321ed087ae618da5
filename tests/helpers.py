"""Shared test helpers: where the real datasets live (beside the project, never copied into it), and
the monotonicity check every EM test uses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"

needs_datasets = pytest.mark.skipif(
    not (DATASETS / "rte" / "L.npy").is_file(), reason=f"real datasets not found at {DATASETS}"
)


def assert_non_decreasing(history: Sequence[float]) -> None:
    """EM's objective never decreases; only float rounding of the sums (~1e-12 relative) is allowed."""
    h = np.asarray(history, dtype=float)
    assert h.size >= 2, "need at least two iterations to check"
    steps = np.diff(h)
    assert np.all(steps >= -1e-10 * np.abs(h[1:])), f"objective decreased by {-steps.min():g}"


def write_object_npy(path: Path, array: np.ndarray) -> Path:
    """A crafted .npy holding a pickled object array, as an attacker would write it: the header of an
    object array, then the pickle. Used only to check that emcrowd refuses to load such files."""
    import pickle

    from numpy.lib import format as npformat

    with open(path, "wb") as fh:
        npformat.write_array_header_1_0(fh, npformat.header_data_from_array_1_0(array))
        pickle.dump(array, fh, protocol=3)
    return path
