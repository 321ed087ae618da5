"""Cost of ``fit --method auto`` against the single fits it chooses among (``make bench``).

For each workload (simulated by ``emcrowd simulate`` from GLAD with a fixed seed), every candidate of
``auto`` and ``auto`` itself are run as whole ``emcrowd fit`` processes, side by side in one run, and
each row gives its ``fit_seconds`` (from ``summary.json``: the choice and the chosen fit, not reading
and writing) with two ratios, the targets of issue 23:

* ``auto / slowest``: auto's fit over the slowest single candidate's fit on the same data (at most 6
  at any size);
* ``auto / DS``: auto's fit over Dawid-Skene's (at most 6 on 10M labels).

Absolute seconds depend on the machine and its load; the ratios, measured in one run, much less.
Nothing is asserted: the table is the result. ``--quick`` runs the 100k-label workload only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EMCROWD = [sys.executable, "-m", "emcrowd"]
# name: (items, annotators, labels per item); two classes, labels.npz
WORKLOADS = {
    "100k labels": (20_000, 1_000, 5),
    "10M labels": (2_000_000, 20_000, 5),
}
#: The single fits auto's ratio is taken against: its candidates (EBCC is no candidate above a million
#: labels, see emcrowd.analysis.selection.SLOW_CANDIDATES). Majority vote is too fast to matter.
CANDIDATES = ("one-coin", "glad", "mace", "bayesian-ds", "dawid-skene", "ebcc")
LARGE_EXCLUDED = ("ebcc",)
TARGET = 6.0


def simulated(name: str, tmp: Path) -> Path:
    items, workers, per_item = WORKLOADS[name]
    out = tmp / name.replace(" ", "")
    subprocess.run(
        [*EMCROWD, "simulate", "--items", str(items), "--workers", str(workers), "--labels-per-item",
         str(per_item), "--seed", "0", "--format", "npz", "--out", str(out), "-q"],
        check=True,
    )  # fmt: skip
    return out


def fit(data: Path, method: str) -> dict:
    out = data / f"fit-{method}"
    start = time.perf_counter()
    subprocess.run(
        [*EMCROWD, "fit", str(data / "labels.npz"), "--method", method, "--out", str(out), "--quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text())
    chosen = (summary.get("selection") or {}).get("chosen", "")
    return {"fit": summary["fit_seconds"], "wall": wall, "labels": summary["n_labels"], "chosen": chosen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 100k-label workload only")
    args = parser.parse_args()
    names = ["100k labels"] if args.quick else list(WORKLOADS)
    header = f"{'workload':<12} {'method':<12} {'labels':>11} {'fit s':>8} {'wall s':>8}  ratios"
    print(header)
    print("-" * (len(header) + 40))
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            data = simulated(name, Path(tmp))
            large = WORKLOADS[name][0] * WORKLOADS[name][2] > 1_000_000
            singles = {}
            for method in CANDIDATES:
                if large and method in LARGE_EXCLUDED:
                    continue
                r = singles[method] = fit(data, method)
                row = f"{name:<12} {method:<12} {r['labels']:>11,} {r['fit']:>8.2f} {r['wall']:>8.2f}"
                print(row, flush=True)
            r = fit(data, "auto")
            slowest = max(singles, key=lambda m: singles[m]["fit"])
            ratio_slowest = r["fit"] / singles[slowest]["fit"]
            ratio_ds = r["fit"] / singles["dawid-skene"]["fit"]
            met = ratio_slowest <= TARGET and (r["labels"] < 5_000_000 or ratio_ds <= TARGET)
            print(
                f"{name:<12} {'auto':<12} {r['labels']:>11,} {r['fit']:>8.2f} {r['wall']:>8.2f}  "
                f"{ratio_slowest:.1f} x {slowest}, {ratio_ds:.1f} x DS (chose {r['chosen']}; target <= "
                f"{TARGET:g} x the slowest{', <= 6 x DS' if r['labels'] >= 5_000_000 else ''}: "
                f"{'yes' if met else 'NO'})",
                flush=True,
            )


if __name__ == "__main__":
    main()
