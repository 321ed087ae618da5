"""emcrowd against crowd-kit, the best-known Python library, on the same simulated data.

Run by ``make bench-peers``.

crowd-kit lives in its own environment (``.venv-peers``, created on first use and reused; delete it to
start over), never in the project's. For each workload the data are drawn once by ``emcrowd simulate``
(fixed seed); each library fits GLAD and Dawid-Skene on the same labels; the table gives accuracy
against the simulated truth, fit seconds, and the speed ratio. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / ".venv-peers"
PEER_PYTHON = PEER_VENV / "bin" / "python"
WORKLOADS = {"1k x 50 x 5": (1_000, 50, 5), "10k x 200 x 5": (10_000, 200, 5)}

# Runs inside the crowd-kit environment: fit one method on a long CSV, print labels and seconds.
PEER_SCRIPT = r"""
import json, sys, time
import pandas as pd
from crowdkit.aggregation import GLAD, DawidSkene
method, path = sys.argv[1], sys.argv[2]
df = pd.read_csv(path, dtype={"task": str, "worker": str})
model = GLAD() if method == "glad" else DawidSkene(n_iter=100)
start = time.perf_counter()
labels = model.fit_predict(df)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "labels": {str(k): int(v) for k, v in labels.items()}}))
"""


def ensure_peer_env() -> None:
    if PEER_PYTHON.exists():
        return
    print(f"creating {PEER_VENV} with crowd-kit (once; a few minutes)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(PEER_PYTHON), "-m", "pip", "install", "--quiet", "crowd-kit"], check=True)


def emcrowd_fit(labels: Path, out: Path, method: str) -> tuple[np.ndarray, float]:
    subprocess.run(
        [sys.executable, "-m", "emcrowd", "fit", str(labels), "--out", str(out), "--method", method, "-q"],
        check=True,
    )
    summary = json.loads((out / "summary.json").read_text())
    items = np.genfromtxt(out / "items.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
    return np.asarray(items["label"], dtype=int), summary["fit_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the small workload")
    args = parser.parse_args()
    ensure_peer_env()
    names = ("1k x 50 x 5",) if args.quick else tuple(WORKLOADS)
    header = (
        f"{'workload':<15} {'method':<12} {'emcrowd acc':>11} {'crowd-kit acc':>13} {'emcrowd s':>9} "
        f"{'crowd-kit s':>11} {'speed-up':>9}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            items, workers, per_item = WORKLOADS[name]
            data = Path(tmp) / name.replace(" ", "")
            sizes = ["--items", str(items), "--workers", str(workers), "--labels-per-item", str(per_item)]
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "emcrowd",
                    "simulate",
                    *sizes,
                    "--seed",
                    "0",
                    "--out",
                    str(data),
                    "-q",
                ],
                check=True,
            )
            truth = np.load(data / "y.npy", allow_pickle=False).astype(int)
            L = np.load(data / "L.npy", allow_pickle=False)
            rows, cols = np.nonzero(~np.isnan(L))
            long_csv = data / "long.csv"
            with open(long_csv, "w") as fh:
                fh.write("task,worker,label\n")
                fh.writelines(
                    f"{j},{i},{int(L[j, i])}\n" for j, i in zip(rows.tolist(), cols.tolist(), strict=True)
                )
            for method, ours in (("glad", "glad"), ("dawid-skene", "dawid-skene")):
                mine, my_seconds = emcrowd_fit(data / "L.npy", data / f"out-{method}", ours)
                peer = subprocess.run(
                    [str(PEER_PYTHON), "-c", PEER_SCRIPT, method, str(long_csv)],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                result = json.loads(peer.stdout.strip().splitlines()[-1])
                peer_labels = np.array([result["labels"].get(str(j), -1) for j in range(items)])
                ours_acc, peer_acc = np.mean(mine == truth), np.mean(peer_labels == truth)
                print(
                    f"{name:<15} {method:<12} {ours_acc:>11.4f} {peer_acc:>13.4f} {my_seconds:>9.3f} "
                    f"{result['seconds']:>11.2f} {result['seconds'] / my_seconds:>8.0f}x",
                    flush=True,
                )
    print("\nFit seconds only (both libraries, excluding start-up and reading); accuracy against the truth.")


if __name__ == "__main__":
    main()
