"""Speed and memory of GLAD fits on simulated data (``make bench``; ``--quick`` for a small run).

Each workload runs in a fresh Python process so that its peak memory is its own. Two kinds of rows:

* ``cli``: the whole ``emcrowd fit L.npy`` process, input written first by ``emcrowd simulate``
  (a dense .npy matrix, so only for sizes whose matrix fits comfortably on disk);
* ``lib``: ``GLAD().fit`` in-process on labels drawn by :func:`emcrowd.simulate.simulate_glad`
  (no dense matrix at any point), timing the fit alone.

Accuracy is against the simulated truth. Nothing here is asserted: the table is the result.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMCROWD = [sys.executable, "-m", "emcrowd"]

# name: (items, annotators, labels per item, classes, kind)
WORKLOADS = {
    "1k x 50 x 5": (1_000, 50, 5, 2, "cli"),
    "10k x 200 x 5": (10_000, 200, 5, 2, "cli"),
    "100k x 1k x 5": (100_000, 1_000, 5, 2, "lib"),
    "1M x 10k x 5": (1_000_000, 10_000, 5, 2, "lib"),
    "2M x 20k x 5": (2_000_000, 20_000, 5, 2, "lib"),
    "2M x 20k x 5, K=5": (2_000_000, 20_000, 5, 5, "lib"),
}
QUICK = ("1k x 50 x 5", "10k x 200 x 5", "100k x 1k x 5")


def peak_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_lib(items: int, workers: int, per_item: int, classes: int) -> dict:
    import numpy as np

    from emcrowd import GLAD, majority_vote
    from emcrowd.simulate import simulate_glad

    sim = simulate_glad(items, workers, labels_per_item=per_item, n_classes=classes, seed=0)
    start = time.perf_counter()
    model = GLAD().fit(sim.labels)
    fit = time.perf_counter() - start
    return {
        "labels": sim.labels.n_labels,
        "wall": None,
        "fit": fit,
        "iterations": model.n_iter_,
        "converged": model.converged_,
        "peak_mb": peak_mb(),
        "glad_acc": float(np.mean(model.labels_ == sim.truth)),
        "mv_acc": float(np.mean(majority_vote(sim.labels).labels == sim.truth)),
    }


def run_cli(items: int, workers: int, per_item: int, classes: int) -> dict:
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run(
            [
                *EMCROWD,
                "simulate",
                "--items",
                str(items),
                "--workers",
                str(workers),
                "--labels-per-item",
                str(per_item),
                "--classes",
                str(classes),
                "--seed",
                "0",
                "--out",
                str(data),
                "--quiet",
            ],
            check=True,
        )
        out = Path(tmp) / "fit"
        start = time.perf_counter()
        proc = subprocess.Popen([*EMCROWD, "fit", str(data / "L.npy"), "--out", str(out), "--quiet"])
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"emcrowd fit failed with exit status {proc.returncode}")
        child_peak = usage.ru_maxrss / 1024
        summary = json.loads((out / "summary.json").read_text())
        truth = np.load(data / "y.npy", allow_pickle=False)
        items_csv = np.genfromtxt(out / "items.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
        return {
            "labels": summary["n_labels"],
            "wall": wall,
            "fit": summary["fit_seconds"],
            "iterations": summary["n_iter"],
            "converged": summary["converged"],
            "peak_mb": child_peak,
            "glad_acc": float(np.mean(items_csv["label"] == truth)),
            "mv_acc": float(np.mean(items_csv["majority"] == truth)),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the small workloads")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # internal: run one workload, print JSON
    args = parser.parse_args()

    if args.only:
        items, workers, per_item, classes, kind = WORKLOADS[args.only]
        runner = run_cli if kind == "cli" else run_lib
        print(json.dumps(runner(items, workers, per_item, classes)))
        return

    names = QUICK if args.quick else tuple(WORKLOADS)
    header = (
        f"{'workload':<20} {'kind':<4} {'labels':>11} {'wall s':>7} {'fit s':>7} {'iter':>5} "
        f"{'peak MB':>8} {'GLAD acc':>9} {'MV acc':>7}"
    )
    print(header)
    print("-" * len(header))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in names:
        proc = subprocess.run(
            [sys.executable, __file__, "--only", name], capture_output=True, text=True, env=env
        )
        if proc.returncode != 0:
            print(f"{name:<20} failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        wall = "" if r["wall"] is None else f"{r['wall']:.2f}"
        iters = f"{r['iterations']}" + ("" if r["converged"] else "*")
        print(
            f"{name:<20} {WORKLOADS[name][4]:<4} {r['labels']:>11,} {wall:>7} {r['fit']:>7.2f} {iters:>5} "
            f"{r['peak_mb']:>8.0f} {r['glad_acc']:>9.4f} {r['mv_acc']:>7.4f}",
            flush=True,
        )
    print(
        "\ncli: whole `emcrowd fit` process on a dense .npy; lib: GLAD().fit in-process. "
        "* = not converged. Peak MB: max resident set of the process."
    )


if __name__ == "__main__":
    main()
