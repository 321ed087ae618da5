"""Speed and memory of emcrowd on simulated data (``make bench``; ``--quick`` for the small rows).

Every row is a whole ``emcrowd`` process, run the way a user runs it, on data written first by
``emcrowd simulate`` with a fixed seed (a dense ``L.npy`` where that is small, else ``labels.npz``):

* wall: the whole process (start-up, reading, fitting, writing the outputs);
* read / fit: ``load_seconds`` and ``fit_seconds`` from ``summary.json``;
* peak MB: the process's maximum resident memory (``wait4``);
* accuracy: the fitted method and majority vote against the simulated truth.

Each row of ``ROWS`` is one method on one workload (simulated once, shared by its rows); a new
method's row is one more line there.

A child's peak memory as the kernel reports it includes what its parent held when it was started,
so this script stays small: results are read and test files written by separate processes.

The targets are those of the speed issue; the last column says whether this machine met them. Nothing
is asserted: the table is the result.
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

# name: (items, annotators, labels per item, classes, input format)
WORKLOADS = {
    "10k x 200 x 5": (10_000, 200, 5, 2, "npy"),
    "100k x 1k x 5": (100_000, 1_000, 5, 2, "npz"),
    "1M x 10k x 5": (1_000_000, 10_000, 5, 2, "npz"),
    "2M x 20k x 5": (2_000_000, 20_000, 5, 2, "npz"),
    "2M x 20k x 5, K=5": (2_000_000, 20_000, 5, 5, "npz"),
}
# (workload, method, target seconds or None, what the target bounds: "wall" or "fit"), in table order
ROWS = [
    ("10k x 200 x 5", "glad", 1.0, "wall"),
    ("100k x 1k x 5", "glad", None, "fit"),
    ("1M x 10k x 5", "glad", 8.0, "fit"),
    ("2M x 20k x 5", "glad", 15.0, "fit"),
    ("2M x 20k x 5, K=5", "glad", 40.0, "fit"),
    ("2M x 20k x 5", "dawid-skene", 5.0, "fit"),
    ("2M x 20k x 5", "one-coin", 5.0, "fit"),
]
QUICK = ("10k x 200 x 5", "100k x 1k x 5")  # the workloads of --quick
PEAK_TARGET_MB = {("2M x 20k x 5", "glad"): 1024}


def run(cmd: list[str], *, quiet: bool = False) -> tuple[float, float]:
    """Run a command (stdout discarded, and stderr too with ``quiet``); its wall time in seconds and
    its peak resident memory in MB."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if quiet else None)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024


# Run in a separate process (see the module docstring): accuracy of items.csv against y.npy.
_ACCURACY = """
import csv, json, sys
import numpy as np
truth = np.load(sys.argv[2], allow_pickle=False)
with open(sys.argv[1], newline="") as fh:
    rows = list(csv.DictReader(fh))
fitted = np.array([int(r["label"]) for r in rows])
majority = np.array([int(r["majority"]) for r in rows])
print(json.dumps({"fitted": float(np.mean(fitted == truth)), "majority": float(np.mean(majority == truth))}))
"""

# Run in a separate process: a long CSV of sys.argv[2] labels (items of 5 labels, 20k annotators).
_LONG_CSV = """
import sys
import numpy as np
n_labels, rng = int(sys.argv[2]), np.random.default_rng(0)
with open(sys.argv[1], "w") as fh:
    fh.write("item,worker,label\\n")
    for start in range(0, n_labels, 1_000_000):
        n = min(1_000_000, n_labels - start)
        item = np.arange(start, start + n) // 5
        worker = rng.integers(0, 20_000, n)
        label = rng.integers(0, 2, n)
        rows = zip(item.tolist(), worker.tolist(), label.tolist())
        fh.writelines(f"t{i},w{w},{v}\\n" for i, w, v in rows)
"""


def simulated(name: str, tmp: Path) -> Path:
    """The directory of workload ``name``'s simulated data, written on first use."""
    items, workers, per_item, classes, fmt = WORKLOADS[name]
    data = tmp / name.replace(" ", "").replace(",", "_")
    if not data.is_dir():
        subprocess.run(
            [*EMCROWD, "simulate", "--items", str(items), "--workers", str(workers), "--labels-per-item",
             str(per_item), "--classes", str(classes), "--seed", "0", "--format", fmt, "--out", str(data),
             "-q"],
            check=True,
        )  # fmt: skip
    return data


def fit_row(name: str, method: str, target: float | None, bound: str, tmp: Path) -> dict:
    data = simulated(name, tmp)
    labels = data / ("L.npy" if WORKLOADS[name][4] == "npy" else "labels.npz")
    out = data / f"fit-{method}"
    wall, peak = run([*EMCROWD, "fit", str(labels), "--method", method, "--out", str(out), "--quiet"])
    summary = json.loads((out / "summary.json").read_text())
    accuracy = json.loads(
        subprocess.run(
            [sys.executable, "-c", _ACCURACY, str(out / "items.csv"), str(data / "y.npy")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    measured = wall if bound == "wall" else summary["fit_seconds"]
    met = "" if target is None else ("yes" if measured <= target else "NO")
    peak_target = PEAK_TARGET_MB.get((name, method))
    if peak_target is not None and peak > peak_target:
        met = "NO (memory)"
    return {
        "name": name,
        "method": method,
        "labels": summary["n_labels"],
        "wall": wall,
        "read": summary["load_seconds"],
        "fit": summary["fit_seconds"],
        "iterations": summary["n_iter"],
        "engine": summary.get("engine") or "",
        "peak": peak,
        "fitted": accuracy["fitted"],
        "majority": accuracy["majority"],
        "target": ""
        if target is None
        else f"{bound} <= {target:g} s" + (f", <= {peak_target} MB" if peak_target is not None else ""),
        "met": met,
    }


def csv_read_row(tmp: Path, n_labels: int) -> str:
    """Time reading a long CSV of ``n_labels`` rows (``emcrowd convert``, which only reads and saves)."""
    path = tmp / "long.csv"
    subprocess.run([sys.executable, "-c", _LONG_CSV, str(path), str(n_labels)], check=True)
    wall, peak = run([*EMCROWD, "convert", str(path), str(tmp / "long.npz"), "--quiet"])
    npz_wall, npz_peak = run([*EMCROWD, "info", str(tmp / "long.npz"), "--json"], quiet=True)
    return (
        f"read a {n_labels:,}-row long CSV (convert): {wall:.1f} s wall, {peak:.0f} MB peak "
        f"(target <= 10 s)\nread the same labels as .npz (info): {npz_wall:.1f} s wall, "
        f"{npz_peak:.0f} MB peak"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the small workloads")
    args = parser.parse_args()
    rows = [row for row in ROWS if row[0] in QUICK] if args.quick else ROWS
    header = (
        f"{'workload':<19} {'method':<11} {'labels':>11} {'wall s':>7} {'read s':>7} {'fit s':>7} "
        f"{'iter':>4} {'engine':<6} {'peak MB':>8} {'acc':>7} {'MV acc':>7}  {'target':<26} met"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for name, method, target, bound in rows:
            r = fit_row(name, method, target, bound, Path(tmp))
            print(
                f"{name:<19} {method:<11} {r['labels']:>11,} {r['wall']:>7.2f} {r['read']:>7.2f} "
                f"{r['fit']:>7.2f} {r['iterations']:>4} {r['engine']:<6} {r['peak']:>8.0f} "
                f"{r['fitted']:>7.4f} {r['majority']:>7.4f}  {r['target']:<26} {r['met']}",
                flush=True,
            )
        walls = sorted(run([*EMCROWD, "--help"])[0] for _ in range(11))
        print(f"\nemcrowd --help: {walls[0]:.2f} s best of 11, {walls[5]:.2f} s median (target <= 0.25 s)")
        if not args.quick:
            print(csv_read_row(Path(tmp), 10_000_000), flush=True)


if __name__ == "__main__":
    main()
