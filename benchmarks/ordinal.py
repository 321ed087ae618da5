"""Ordered grades: the ordinal model's quality on simulations, and its speed and memory beside
Dawid-Skene's (``make bench``; ``--quick`` for 1M labels instead of 10M, ``--no-speed`` or
``--no-quality`` for one half).

Quality (in this process): graded labels simulated three ways (:mod:`emcrowd.models.ordinal.simulate`):
``gaussian``, the ordinal model's own (annotators with a bias and a spread), ``confusion``,
unordered Dawid-Skene confusion matrices with ordered noise (Dirichlet rows with more mass near the
diagonal, lopsided and asymmetric), and ``lean``, ``gaussian`` annotators of whom 30% answer the
lowest grade on 50-95% of their items whatever the truth. For each (``--kinds`` for some), three
sizes and three seeds: accuracy, mean absolute error in grades (MAE) and the share within one grade,
of the plurality vote, the median vote (``--ordinal``'s majority vote), GLAD, Dawid-Skene, Bayesian
DS and ordinal DS.

Speed (whole ``emcrowd`` processes, as a user runs them, on one ``labels.npz`` written first by
``emcrowd simulate --ordinal``): ``emcrowd fit --ordinal`` with Dawid-Skene and with ordinal DS side
by side, the fit seconds from ``summary.json`` and the peak resident memory (``wait4``). The ratio is
the result (the issue's bound: at most 2); the machine's load makes the absolute seconds unreliable.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EMCROWD = [sys.executable, "-m", "emcrowd"]

# (items, annotators, labels per item)
QUALITY_SIZES = ((300, 30, 5), (2_000, 100, 5), (10_000, 1_000, 3))
SEEDS = (0, 1, 2)
N_CLASSES = 5
METHODS = ("plurality", "median", "glad", "dawid_skene", "bayesian_ds", "ordinal_ds")


KINDS = ("gaussian", "confusion", "lean")


def quality(kinds: tuple[str, ...] = KINDS) -> None:
    import warnings

    import numpy as np

    from emcrowd.analysis.aggregate import aggregate
    from emcrowd.errors import ConvergenceWarning
    from emcrowd.models.ordinal.simulate import simulate_ordinal

    warnings.simplefilter("ignore", ConvergenceWarning)
    print(
        f"Quality on simulated grades ({N_CLASSES} grades; mean of seeds {SEEDS}): "
        "accuracy / MAE / within one"
    )
    print(f"{'kind':<10} {'items x annotators x r':<24}" + "".join(f"{m:>22}" for m in METHODS))
    for kind in kinds:
        for n_items, n_workers, r in QUALITY_SIZES:
            scores = {m: [] for m in METHODS}
            for seed in SEEDS:
                sim = simulate_ordinal(n_items, n_workers, N_CLASSES, r, kind=kind, random_state=seed)
                for method in METHODS:
                    if method == "plurality":
                        import dataclasses

                        plain = dataclasses.replace(sim.labels, ordered=False)
                        labels = aggregate(plain, "majority").labels
                    elif method == "median":
                        labels = aggregate(sim.labels, "majority").labels
                    else:
                        labels = aggregate(sim.labels, method, random_state=seed).labels
                    gap = np.abs(labels - sim.truth)
                    scores[method].append(((gap == 0).mean(), gap.mean(), (gap <= 1).mean()))
            cells = []
            for method in METHODS:
                acc, mae, one = np.mean(scores[method], axis=0)
                cells.append(f"{acc:.3f}/{mae:.3f}/{one:.3f}")
            print(
                f"{kind:<10} {f'{n_items:,} x {n_workers:,} x {r}':<24}" + "".join(f"{c:>22}" for c in cells)
            )


def run(args: list[str]) -> tuple[float, float]:
    """Run ``emcrowd args``; (wall seconds, peak MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen([*EMCROWD, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"emcrowd {' '.join(args)} failed:\n{proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024


def speed(n_labels: int) -> None:
    r = 5
    items = n_labels // r
    workers = max(100, items // 200)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run(["simulate", "--ordinal", "--classes", "5", "--items", str(items), "--workers", str(workers),
             "-r", str(r), "--format", "npz", "--seed", "0", "-o", str(root / "data"), "-q"])  # fmt: skip
        print(f"\nSpeed at {n_labels:,} labels ({items:,} items x {workers:,} annotators x {r}, 5 grades)")
        print(f"{'method':<14}{'wall s':>9}{'fit s':>9}{'iter':>6}{'s/iter':>9}{'peak MB':>9}")
        fits = {}
        for method in ("dawid-skene", "ordinal-ds"):
            out = root / method
            wall, peak = run(["fit", str(root / "data" / "labels.npz"), "--ordinal", "--method", method,
                              "-o", str(out), "-q"])  # fmt: skip
            summary = json.loads((out / "summary.json").read_text())
            fit, n_iter = summary["fit_seconds"], summary["n_iter"]
            fits[method] = (fit, peak)
            print(f"{method:<14}{wall:>9.1f}{fit:>9.1f}{n_iter:>6}{fit / n_iter:>9.2f}{peak:>9.0f}")
        (ds_fit, ds_peak), (od_fit, od_peak) = fits["dawid-skene"], fits["ordinal-ds"]
        met = "met" if od_fit <= 2 * ds_fit else "NOT met"
        print(f"ordinal DS / Dawid-Skene: fit time x{od_fit / ds_fit:.2f} (bound x2: {met}), "
              f"peak memory x{od_peak / ds_peak:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M labels for the speed rows, not 10M")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--kinds", default=",".join(KINDS), help="simulators of the quality rows")
    args = parser.parse_args()
    if not args.no_quality:
        quality(tuple(k.strip() for k in args.kinds.split(",") if k.strip()))
    if not args.no_speed:
        speed(1_000_000 if args.quick else 10_000_000)


if __name__ == "__main__":
    main()
