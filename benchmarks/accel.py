"""EM passes per fit with and without acceleration (``make bench``; ``--quick``: the small rows only).

Every EM model is fitted twice on the same data in this process, side by side: plain EM
(``accelerate=False``) and EM with squared extrapolation (:mod:`emcrowd.models._squarem`, the
default). Per row: the passes over the labels of each (``n_passes_``: EM iterations plus the
extrapolated points evaluated), their ratio, the fit times and their ratio, the relative difference of
the final objectives (positive: the accelerated fit ended higher) and the share of items whose label
differs. Data: a simulation from each simulator at two sizes, and the shared real sets when present.

The models run with their defaults (``tol=1e-6``), and then once more with a tight tolerance
(``--tight``, default 1e-9), where plain EM's slow final approach is what the acceleration removes.
Nothing is asserted: the table is the result.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

from emcrowd.errors import ConvergenceWarning
from emcrowd.io.labels import read_labels
from emcrowd.models import MODELS
from emcrowd.models.simulate import simulate_dawid_skene, simulate_glad, simulate_mace

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
METHODS = ("dawid_skene", "one_coin", "mace", "glad", "bayesian_ds", "ebcc")
#: labels of the small and the large simulations (items = labels / 5)
SIZES = {"small": 20_000, "large": 1_000_000}


def simulations(n_labels: int) -> dict:
    n_items, n_workers = n_labels // 5, max(20, n_labels // 1000)
    return {
        f"sim DS K=3 {n_labels:,}": simulate_dawid_skene(
            n_items, n_workers, labels_per_item=5, n_classes=3, seed=1
        )[0],
        f"sim GLAD {n_labels:,}": simulate_glad(n_items, n_workers, labels_per_item=5, seed=2).labels,
        f"sim MACE K=4 {n_labels:,}": simulate_mace(
            n_items, n_workers, labels_per_item=5, n_classes=4, seed=3
        ).labels,
    }


def fit(method: str, data, accelerate: bool, tol: float):
    model = MODELS[method](accelerate=accelerate, tol=tol, max_iter=10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(data)
    return model, time.perf_counter() - start


def row(name: str, method: str, data, tol: float) -> tuple[int, int]:
    plain, t_plain = fit(method, data, False, tol)
    fast, t_fast = fit(method, data, True, tol)
    gain = (fast.lower_bound_ - plain.lower_bound_) / abs(plain.lower_bound_)
    differ = float(np.mean(fast.labels_ != plain.labels_))
    print(
        f"{name:<22} {method:<12} {tol:>6.0e} {plain.n_passes_:>6} {fast.n_passes_:>6} "
        f"{fast.n_passes_ / plain.n_passes_:>6.2f} {t_plain:>8.2f} {t_fast:>8.2f} {t_fast / t_plain:>6.2f} "
        f"{gain:>+10.1e} {differ:>8.4f}",
        flush=True,
    )
    return plain.n_passes_, fast.n_passes_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the small simulations and the real sets")
    parser.add_argument("--tight", type=float, default=1e-9, help="the tight tolerance of the second table")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    args = parser.parse_args()
    sets = {}
    for size, n in SIZES.items():
        if size == "small" or not args.quick:
            sets.update(simulations(n))
    for name in ("rte", "dog", "temp", "bluebirds", "adult2"):
        if (DATASETS / name / "L.npy").is_file():
            sets[name] = read_labels(DATASETS / name / "L.npy")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"EM passes per fit, plain (accelerate=False) and accelerated, side by side (load average {load})")
    header = (
        f"{'data':<22} {'method':<12} {'tol':>6} {'plain':>6} {'accel':>6} {'ratio':>6} "
        f"{'plain s':>8} {'accel s':>8} {'ratio':>6} {'obj gain':>10} {'differ':>8}"
    )
    for tol in (1e-6, args.tight):
        print()
        print(header)
        print("-" * len(header))
        totals = [0, 0]
        for name, data in sets.items():
            for method in args.methods.split(","):
                plain, fast = row(name, method, data, tol)
                totals[0] += plain
                totals[1] += fast
        print(
            f"all rows at tol={tol:g}: {totals[0]} passes plain, {totals[1]} accelerated "
            f"({totals[1] / totals[0]:.2f})"
        )


if __name__ == "__main__":
    main()
