"""Shared test helpers: where the real datasets live (beside the project, never copied into it), and
the monotonicity check every EM test uses."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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


CHROMIUM = "/usr/bin/chromium"
_CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@contextmanager
def headless_page(width: int = 1280, height: int = 900) -> Iterator[tuple[object, list[str]]]:
    """A page of Playwright's Chromium driver on the system's Chromium (never a downloaded browser)
    and the list its page errors go to; the test is skipped when either is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no {CHROMIUM} (apt-get install chromium): the page is not checked in a browser")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (the dev extra): no browser check"
    )
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=_CHROMIUM_ARGS,
            headless=True,
            viewport={"width": width, "height": height},
        )
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page, errors
        finally:
            context.close()
