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
    "20k x 400 x 5": (20_000, 400, 5, 2, "npz"),
    "100k x 1k x 5": (100_000, 1_000, 5, 2, "npz"),
    "200k x 2k x 5": (200_000, 2_000, 5, 2, "npz"),
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
    # MACE (a competence and a spam distribution per annotator): "x DS" is its fit time over
    # Dawid-Skene's on the same 10M labels
    ("2M x 20k x 5", "mace", None, "fit"),
    ("2M x 20k x 5", "bayesian-ds", 5.0, "fit"),
    # EBCC (10 latent rows per class, 10 restarts; above a million labels the restarts run on a
    # subsample and the best continues): the "x DS" column is its fit time over Dawid-Skene's, with
    # a Dawid-Skene row of 1M labels beside EBCC's (there its 10 restarts are whole fits)
    ("100k x 1k x 5", "ebcc", None, "fit"),
    ("200k x 2k x 5", "dawid-skene", None, "fit"),
    ("200k x 2k x 5", "ebcc", None, "fit"),
    ("2M x 20k x 5", "ebcc", 5.0, "fit"),
    # auto (issue 23): at most 6 times the slowest candidate's single fit of the same data at any size,
    # and at most 6 Dawid-Skene fits at 10M labels; each candidate's row beside it, in the same run
    ("20k x 400 x 5", "one-coin", None, "fit"),
    ("20k x 400 x 5", "glad", None, "fit"),
    ("20k x 400 x 5", "dawid-skene", None, "fit"),
    ("20k x 400 x 5", "bayesian-ds", None, "fit"),
    ("20k x 400 x 5", "ebcc", None, "fit"),
    ("20k x 400 x 5", "auto", None, "fit"),
    ("2M x 20k x 5", "auto", None, "fit"),
]
#: The candidates of auto whose single fits its "x slowest" ratio is taken against (EBCC is left
#: out above a million labels: see emcrowd.analysis.selection.SLOW_CANDIDATES).
AUTO_CANDIDATES = ("one-coin", "mace", "glad", "dawid-skene", "bayesian-ds", "ebcc")
AUTO_RATIO = 6.0
QUICK = ("10k x 200 x 5", "20k x 400 x 5", "100k x 1k x 5")  # the workloads of --quick
# Small-data latency (issue 28): every method's fit on 100k labels (at most 1 s each) and `compare` of
# every method, auto included (at most 10 s), side by side in one run, with ratios to Dawid-Skene
LATENCY_WORKLOADS = {
    "20k x 1k x 5": (20_000, 1_000, 5, 2, "npz"),
    "20k x 1k x 5, K=4": (20_000, 1_000, 5, 4, "npz"),
}
WORKLOADS |= LATENCY_WORKLOADS
LATENCY_METHODS = ("majority", "glad", "dawid-skene", "one-coin", "mace", "bayesian-ds", "ebcc", "auto")
LATENCY_FIT_TARGET, LATENCY_COMPARE_TARGET = 1.0, 10.0
PEAK_TARGET_MB = {("2M x 20k x 5", "glad"): 1024}


def run(cmd: list[str], *, quiet: bool = False) -> tuple[float, float]:
    """Run a command (stdout discarded, and stderr too with ``quiet``); its wall time in seconds and
    its peak resident memory in MB."""
    wall, peak, _ = run_timed(cmd, quiet=quiet)
    return wall, peak


def run_timed(cmd: list[str], *, quiet: bool = False) -> tuple[float, float, float]:
    """:func:`run`, and the CPU time (user and system, all threads) the process took: on a loaded
    machine the wall time grows with the load, its CPU time much less."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if quiet else None)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


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


# --------------------------------------------------------------------------------------------------
# Reading and writing (issue 12): the same 10M labels as CSV, gzip CSV, Parquet and .npz
# --------------------------------------------------------------------------------------------------
# Run in a separate process: labels.npz (from `emcrowd simulate`) written as a long CSV (ids as text,
# in the simulator's order: by item), the same CSV gzipped, and Parquet.
_WRITE_FORMATS = """
import gzip, shutil, sys
import pyarrow as pa, pyarrow.csv as pcsv, pyarrow.parquet as pq
from emcrowd.io import load_labels
folder = sys.argv[1]
d = load_labels(folder + "/labels.npz").labels
def ids(codes, names):
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names)).cast(pa.string())
table = pa.table({"item": ids(d.item, ["t" + n for n in d.item_names]),
                  "worker": ids(d.worker, ["w" + n for n in d.worker_names]),
                  "label": pa.array(d.label)})
pcsv.write_csv(table, folder + "/labels.csv", write_options=pcsv.WriteOptions(quoting_style="none"))
with open(folder + "/labels.csv", "rb") as src, gzip.open(folder + "/labels.csv.gz", "wb", 1) as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
pq.write_table(table, folder + "/labels.parquet")
"""
IO_WORKLOAD = (2_000_000, 20_000, 5)  # items, annotators, labels per item: 10M labels
IO_PEAK_TARGET_MB = 1200
IO_RUNS = 3  # the fits from each format, run this many times in a row


def io_rows(tmp: Path) -> None:
    """Reading 10M labels from each format (``emcrowd info``), and the whole ``fit`` from CSV, Parquet
    and ``.npz`` with the time of each phase, ``IO_RUNS`` times in a row; the targets are ratios within
    each run."""
    items, workers, per_item = IO_WORKLOAD
    data = tmp / "io"
    subprocess.run(
        [*EMCROWD, "simulate", "--items", str(items), "--workers", str(workers), "--labels-per-item",
         str(per_item), "--seed", "0", "--format", "npz", "--out", str(data), "-q"],
        check=True,
    )  # fmt: skip
    subprocess.run([sys.executable, "-c", _WRITE_FORMATS, str(data)], check=True)
    files = {
        "CSV": data / "labels.csv",
        "gzip CSV": data / "labels.csv.gz",
        "Parquet": data / "labels.parquet",
        ".npz": data / "labels.npz",
    }
    print(f"\nreading and writing {items * per_item:,} labels ({items:,} items x {workers:,} annotators)")
    header = f"{'input':<10} {'MB':>6} {'read (info) wall s':>19} {'read s':>7} {'peak MB':>8}"
    print(header)
    print("-" * len(header))
    for name, path in files.items():
        start = time.perf_counter()
        proc = subprocess.run([*EMCROWD, "info", str(path), "--json"], capture_output=True, check=True)
        wall = time.perf_counter() - start
        record = json.loads(proc.stdout)
        _, peak = run([*EMCROWD, "info", str(path), "--json"], quiet=True)
        print(
            f"{name:<10} {path.stat().st_size / 2**20:>6.0f} {wall:>19.2f} "
            f"{record['source']['seconds']:>7.2f} {peak:>8.0f}",
            flush=True,
        )
    # the whole fit from each format, IO_RUNS times in a row (the target holds in every run), with the
    # phases of the reading (text: reading, parsing, coding ids, labels) from summary.json
    header = (
        f"{'run':>3} {'fit from':<8} {'wall s':>7} {'read s':>7} {'reading':>8} {'parsing':>8} "
        f"{'ids':>6} {'labels':>7} {'fit s':>7} {'rest s':>7} {'peak MB':>8} {'cpu s':>6}"
    )
    print("\n" + header + "  (rest: start-up and writing the four outputs; ids overlaps parsing)")
    print("-" * len(header))
    ratios, cpu_ratios, same_fit, shares, peaks = [], [], [], [], []
    for n_run in range(1, IO_RUNS + 1):
        walls = {}
        for name in ("CSV", "Parquet", ".npz"):
            out = data / f"fit-{name.strip('.')}-{n_run}"
            wall, peak, cpu = run_timed([*EMCROWD, "fit", str(files[name]), "--out", str(out), "--quiet"])
            summary = json.loads((out / "summary.json").read_text())
            read, fit = summary["load_seconds"], summary["fit_seconds"]
            phases = summary["input"].get("phases") or {}
            cells = " ".join(
                f"{phases[p]:>{w}.2f}" if p in phases else f"{'':>{w}}"
                for p, w in (("reading", 8), ("parsing", 8), ("coding ids", 6), ("labels", 7))
            )
            walls[name] = (wall, fit, cpu)
            peaks.append(peak)
            print(
                f"{n_run:>3} {name:<8} {wall:>7.2f} {read:>7.2f} {cells} {fit:>7.2f} "
                f"{wall - read - fit:>7.2f} {peak:>8.0f} {cpu:>6.2f}",
                flush=True,
            )
        cpu_ratios.append(walls["CSV"][2] / walls[".npz"][2])
        # the same fit on the same codes: its time differs between the two only by the machine's load
        same_fit.append((walls["CSV"][0] - walls["CSV"][1] + walls[".npz"][1]) / walls[".npz"][0])
        ratios.append(walls["CSV"][0] / walls[".npz"][0])
        shares.append((walls[".npz"][0] - walls[".npz"][1]) / walls[".npz"][0])
    met = "yes" if max(ratios) <= 1.4 else "NO"
    print(
        f"fit from CSV / fit from .npz: {', '.join(f'{r:.2f}x' for r in ratios)} "
        f"(target <= 1.4x in every run: {met}); in CPU time {', '.join(f'{r:.2f}x' for r in cpu_ratios)}; "
        f"with the .npz run's fit time in both {', '.join(f'{r:.2f}x' for r in same_fit)}; "
        f"not fitting in the .npz runs: "
        f"{', '.join(f'{x:.0%}' for x in shares)} (target <= 25%); largest peak {max(peaks):.0f} MB "
        f"(target <= {IO_PEAK_TARGET_MB} MB); load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )


def latency_rows(tmp: Path) -> None:
    """Every method's fit time on 100k labels and the wall time of ``compare`` with all of them, per
    latency workload, with each fit's ratio to Dawid-Skene's (the machine's load average printed, since
    the targets are absolute times)."""
    print(f"\nSmall-data latency (load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})")
    header = (
        f"{'workload':<19} {'method':<11} {'labels':>9} {'wall s':>7} {'cpu s':>6} {'fit s':>7} {'x DS':>6} "
        f"{'iter':>4}"
    )
    header += "  met"
    print(header)
    print("-" * len(header))
    for name in LATENCY_WORKLOADS:
        data = simulated(name, tmp)
        labels = data / "labels.npz"
        fits = {}
        for method in LATENCY_METHODS:
            out = data / f"fit-{method}"
            wall, _, cpu = run_timed(
                [*EMCROWD, "fit", str(labels), "--method", method, "--out", str(out), "--quiet"]
            )
            summary = json.loads((out / "summary.json").read_text())
            fits[method] = (
                wall,
                summary["fit_seconds"],
                summary.get("n_iter") or "",
                summary["n_labels"],
                cpu,
            )
        ds = fits["dawid-skene"][1]
        for method, (wall, fit, n_iter, n_labels, cpu) in fits.items():
            met = "yes" if fit <= LATENCY_FIT_TARGET else "NO"
            print(
                f"{name:<19} {method:<11} {n_labels:>9,} {wall:>7.2f} {cpu:>6.2f} {fit:>7.2f} "
                f"{fit / ds:>6.1f} {n_iter:>4}  fit <= {LATENCY_FIT_TARGET:g} s: {met}",
                flush=True,
            )
        wall, _, cpu = run_timed(
            [*EMCROWD, "compare", str(labels), "--truth", str(data / "y.npy"), "--methods",
             ",".join(m for m in LATENCY_METHODS if m != "majority"), "--json", "-q"],
            quiet=True,
        )  # fmt: skip
        met = "yes" if wall <= LATENCY_COMPARE_TARGET else "NO"
        print(
            f"{name:<19} {'compare all':<11} {fits['dawid-skene'][3]:>9,} {wall:>7.2f} {cpu:>6.2f} {'':>7} "
            f"{wall / ds:>6.1f} {'':>4}  wall <= {LATENCY_COMPARE_TARGET:g} s: {met}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the small workloads")
    parser.add_argument("--io", action="store_true", help="only the reading and writing rows")
    parser.add_argument("--methods", help="only the rows of these methods (comma-separated), no I/O rows")
    parser.add_argument("--latency", action="store_true", help="only the small-data latency rows")
    args = parser.parse_args()
    if args.io or args.latency:
        with tempfile.TemporaryDirectory() as tmp:
            (io_rows if args.io else latency_rows)(Path(tmp))
        return
    rows = [row for row in ROWS if row[0] in QUICK] if args.quick else ROWS
    if args.methods:
        rows = [row for row in rows if row[1] in args.methods.split(",")]
    header = (
        f"{'workload':<19} {'method':<11} {'labels':>11} {'wall s':>7} {'read s':>7} {'fit s':>7} "
        f"{'iter':>4} {'engine':<6} {'peak MB':>8} {'acc':>7} {'MV acc':>7}  {'target':<26} met"
    )
    print(header)
    print("-" * len(header))
    done: dict[tuple[str, str], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, method, target, bound in rows:
            r = done[name, method] = fit_row(name, method, target, bound, Path(tmp))
            if method == "auto":
                singles = {m: done[name, m]["fit"] for m in AUTO_CANDIDATES if (name, m) in done}
                parts, met = [], []
                if singles:
                    slowest = max(singles, key=singles.get)
                    ratio = r["fit"] / singles[slowest]
                    parts.append(f"{ratio:.1f} x {slowest}")
                    met.append(ratio <= AUTO_RATIO)
                if r["labels"] >= 5_000_000 and (name, "dawid-skene") in done:
                    ratio = r["fit"] / done[name, "dawid-skene"]["fit"]
                    parts.append(f"{ratio:.1f} x DS")
                    met.append(ratio <= AUTO_RATIO)
                r["target"] = f"<= {AUTO_RATIO:g} x ({', '.join(parts)})" if parts else ""
                r["met"] = ("yes" if all(met) else "NO") if met else ""
            elif method in ("ebcc", "mace") and (name, "dawid-skene") in done:
                ratio = f"{r['fit'] / done[name, 'dawid-skene']['fit']:.1f} x DS"
                r["target"] = f"{r['target']} ({ratio})" if r["target"] else ratio
            print(
                f"{name:<19} {method:<11} {r['labels']:>11,} {r['wall']:>7.2f} {r['read']:>7.2f} "
                f"{r['fit']:>7.2f} {r['iterations']:>4} {r['engine']:<6} {r['peak']:>8.0f} "
                f"{r['fitted']:>7.4f} {r['majority']:>7.4f}  {r['target']:<26} {r['met']}",
                flush=True,
            )
        walls = sorted(run([*EMCROWD, "--help"])[0] for _ in range(11))
        print(f"\nemcrowd --help: {walls[0]:.2f} s best of 11, {walls[5]:.2f} s median (target <= 0.25 s)")
        if not args.methods:
            latency_rows(Path(tmp))
        if not (args.quick or args.methods):
            io_rows(Path(tmp))


if __name__ == "__main__":
    main()
