"""Incremental aggregation (issue 27): ``emcrowd update`` against a full refit, side by side in one run.

For GLAD and Dawid-Skene: simulated labels of 2M items (20k annotators, 5 labels per item: 10M labels)
are fitted with ``--keep-state``; then 100k new labels (20k new items, known annotators) are added with
``emcrowd update``, and all 10.1M labels are fitted afresh. Reported: both wall times (the commands as
a user runs them, reading and writing included) and their ratio (target: at most 0.10), the update's
phases (from its summary), the iterations, and the share of items whose label the update and the
refit agree on (target: at least 0.999).

Usage: ``python benchmarks/incremental.py [--items 2000000] [--methods glad,dawid-skene]``. The data
sets go to a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from emcrowd.data import Labels
from emcrowd.io.npz import labels_npz
from emcrowd.models.simulate import simulate_dawid_skene, simulate_glad

EMCROWD = [sys.executable, "-m", "emcrowd"]


def simulate(method: str, n_items: int, n_new: int, n_workers: int) -> Labels:
    if method == "glad":
        return simulate_glad(n_items + n_new, n_workers, labels_per_item=5, seed=0).labels
    return simulate_dawid_skene(n_items + n_new, n_workers, labels_per_item=5, seed=0)[0]


def subset(data: Labels, keep: np.ndarray, items: slice) -> Labels:
    """The labels ``keep`` of ``data`` on the items ``items`` (codes renumbered from 0)."""
    start = items.start or 0
    return Labels(
        data.item[keep] - start, data.worker[keep], data.label[keep], data.item_names[items],
        data.worker_names, data.class_names,
    )  # fmt: skip


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([*EMCROWD, *args], check=True)
    return time.perf_counter() - start


def labels_of(directory: Path) -> dict[str, str]:
    table = pq.read_table(directory / "items.parquet", columns=["item", "label"]).to_pydict()
    return dict(zip(table["item"], table["label"], strict=True))


def row(method: str, n_items: int, n_new: int, n_workers: int, tmp: Path) -> dict:
    data = simulate(method, n_items, n_new, n_workers)
    old = data.item < n_items
    files = {}
    for name, part in (
        ("old", subset(data, old, slice(0, n_items))),
        ("new", subset(data, ~old, slice(n_items, n_items + n_new))),
        ("all", data),
    ):
        files[name] = tmp / f"{method}-{name}.npz"
        np.savez(files[name], **labels_npz(part))
    del data
    cli = method.replace("_", "-")
    prev, upd, full = (tmp / f"{method}-{d}" for d in ("prev", "update", "full"))
    common = ["--method", cli, "--out-format", "parquet", "--quiet"]
    first = timed(["fit", str(files["old"]), *common, "--keep-state", "--out", str(prev)])
    update = timed(["update", str(prev), str(files["new"]), "--out", str(upd), "--quiet"])
    refit = timed(["fit", str(files["all"]), *common, "--out", str(full)])
    summary_u = json.loads((upd / "summary.json").read_text())
    summary_f = json.loads((full / "summary.json").read_text())
    a, b = labels_of(upd), labels_of(full)
    agree = float(np.mean([a[k] == v for k, v in b.items()]))
    return {
        "method": method,
        "labels": summary_f["n_labels"],
        "first_fit_s": round(first, 2),
        "update_s": round(update, 2),
        "refit_s": round(refit, 2),
        "ratio": round(update / refit, 3),
        "update_iter": summary_u["n_iter"],
        "refit_iter": summary_f["n_iter"],
        "update_phases": {k: round(v, 2) for k, v in summary_u["update"]["phases"].items()},
        "agree": round(agree, 5),
        "met": "yes" if update <= 0.10 * refit and agree >= 0.999 else "NO",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2_000_000)
    parser.add_argument("--new-items", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=20_000)
    parser.add_argument("--methods", default="glad,dawid_skene")
    args = parser.parse_args()
    print("Incremental update vs full refit (targets: ratio <= 0.10, agree >= 0.999)", flush=True)
    with tempfile.TemporaryDirectory(prefix="emcrowd-incremental-") as tmp:
        for method in args.methods.replace("-", "_").split(","):
            print(json.dumps(row(method, args.items, args.new_items, args.workers, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
