"""Incremental aggregation (issue 27): ``emcrowd update`` against a full refit, side by side in one run.

For GLAD and Dawid-Skene: simulated labels of 2M items (20k annotators, 5 labels per item: 10M labels)
are fitted with ``--keep-state``; then 100k new labels (20k new items, known annotators) are added with
``emcrowd update``, and all 10.1M labels are fitted afresh (``emcrowd fit`` of one file of all the
labels in the same format as the update's: a whole process, reading and writing included). The update
and the refit run alternated, ``--repeat`` times (3), side by side. Reported: both wall times of each
pair and their ratio (target: at most 0.10), the update's phases (from its summary), the iterations,
and the share of items whose label the update and the refit agree on (target: at least 0.999); and,
for reference, ``update --refit`` (all the labels fitted again from the previous fit): its time and
its agreement with the refit.

With ``--datasets DIR`` (the shared real data sets, e.g. ``../shared/datasets``), instead: on each data
set, the labels split in five batches in file order and added one at a time with ``update``, against
one fit of all of them (accuracy on the gold items, GLAD and Dawid-Skene), beside ``emcrowd stream``
over the same labels in the same order (its accuracy after the last label, and its throughput); then
the stream's throughput on 1M simulated labels.

Usage: ``python benchmarks/incremental.py [--items 2000000] [--methods glad,dawid-skene] [--repeat 3]`` or
``python benchmarks/incremental.py --datasets ../shared/datasets``. The data sets go to a temporary
directory, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
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


def row(method: str, n_items: int, n_new: int, n_workers: int, tmp: Path, repeat: int) -> dict:
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
    pairs = []
    for _ in range(repeat):  # the update and the refit alternated, side by side in one run
        for path in (upd, full):
            shutil.rmtree(path, ignore_errors=True)
        update = timed(["update", str(prev), str(files["new"]), "--out", str(upd), "--quiet"])
        refit = timed(["fit", str(files["all"]), *common, "--out", str(full)])
        pairs.append((update, refit))
    exact = tmp / f"{method}-exact"  # the reference: all the labels fitted again from the previous fit
    exact_s = timed(["update", str(prev), str(files["new"]), "--refit", "--out", str(exact), "--quiet"])
    summary_u = json.loads((upd / "summary.json").read_text())
    summary_f = json.loads((full / "summary.json").read_text())
    a, b = labels_of(upd), labels_of(full)
    agree = float(np.mean([a[k] == v for k, v in b.items()]))
    c = labels_of(exact)
    agree_exact = float(np.mean([c[k] == v for k, v in b.items()]))
    ratios = [u / r for u, r in pairs]
    return {
        "method": method,
        "labels": summary_f["n_labels"],
        "first_fit_s": round(first, 2),
        "update_s": [round(u, 2) for u, _ in pairs],
        "refit_s": [round(r, 2) for _, r in pairs],
        "ratio": [round(x, 3) for x in ratios],
        "update_iter": summary_u["n_iter"],
        "refit_iter": summary_f["n_iter"],
        "update_phases": {k: round(v, 2) for k, v in summary_u["update"]["phases"].items()},
        "incremental": summary_u["update"].get("incremental", False),
        "active_items": summary_u["update"].get("active_items"),
        "agree": round(agree, 5),
        "update_refit_s": round(exact_s, 2),
        "update_refit_agree": round(agree_exact, 5),
        "met": "yes" if max(ratios) <= 0.10 and agree >= 0.999 else "NO",
    }


def accuracy(directory: Path, truth: dict[str, str], fmt: str = "csv") -> float:
    import csv

    with open(directory / f"items.{fmt}", newline="", encoding="utf-8") as fh:
        got = {r["item"]: r["label"] for r in csv.DictReader(fh)}
    return float(np.mean([got[k] == v for k, v in truth.items()]))


def dataset_rows(root: Path, tmp: Path) -> None:
    import csv

    for name in ("bluebirds", "rte", "temp", "dog", "adult2"):
        source = root / name / "labels.csv"
        if not source.is_file():
            continue
        lines = source.read_text(encoding="utf-8").splitlines()
        header, rows = lines[0], lines[1:]
        with open(root / name / "truth.csv", newline="", encoding="utf-8") as fh:
            truth = {r["item"]: r["label"] for r in csv.DictReader(fh)}
        classes = ",".join(sorted({r.rsplit(",", 1)[1] for r in rows}, key=int))
        cuts = np.linspace(0, len(rows), 6).astype(int)
        batches = []
        for i in range(5):
            path = tmp / f"{name}-batch{i}.csv"
            path.write_text("\n".join([header, *rows[cuts[i] : cuts[i + 1]]]) + "\n", encoding="utf-8")
            batches.append(path)
        out: dict = {"dataset": name, "labels": len(rows)}
        for method in ("glad", "dawid-skene"):
            inc, full = tmp / f"{name}-{method}-inc", tmp / f"{name}-{method}-full"
            common = ["--classes", classes, "--quiet", "--method", method]
            timed(["fit", str(batches[0]), *common, "--keep-state", "--out", str(inc)])
            for batch in batches[1:]:
                timed(["update", str(inc), str(batch), "--quiet"])
            timed(["fit", str(source), *common, "--out", str(full)])
            out[f"{method} one fit"] = round(accuracy(full, truth), 4)
            out[f"{method} 5 updates"] = round(accuracy(inc, truth), 4)
        live = tmp / f"{name}-stream"
        timed(["stream", str(source), "--classes", classes, "--out", str(live), "--quiet"])
        summary = json.loads((live / "summary.json").read_text())
        out["stream"] = round(accuracy(live, truth), 4)
        out["stream labels/s"] = round(summary["labels_per_second"])
        print(json.dumps(out), flush=True)
    # throughput on a long stream: 1M simulated labels (200k items, 2k annotators), shuffled arrival
    data = simulate_dawid_skene(200_000, 2_000, labels_per_item=5, seed=0)[0]
    order = np.random.default_rng(0).permutation(data.n_labels)
    path = tmp / "stream-1M.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("item,worker,label\n")
        items, workers, labels = (
            np.asarray(n, dtype=object) for n in (data.item_names, data.worker_names, data.class_names)
        )
        for start in range(0, order.size, 100_000):
            o = order[start : start + 100_000]
            fh.writelines(
                f"{i},{w},{c}\n"
                for i, w, c in zip(
                    items[data.item[o]], workers[data.worker[o]], labels[data.label[o]], strict=True
                )
            )
    live = tmp / "stream-1M"
    wall = timed(["stream", str(path), "--classes", "0,1", "--out", str(live), "--quiet"])
    summary = json.loads((live / "summary.json").read_text())
    print(
        json.dumps(
            {
                "stream": "1M simulated labels",
                "labels/s": round(summary["labels_per_second"]),
                "wall_s": round(wall, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2_000_000)
    parser.add_argument("--new-items", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=20_000)
    parser.add_argument("--methods", default="glad,dawid_skene")
    parser.add_argument("--repeat", type=int, default=3, help="update and refit pairs, alternated")
    parser.add_argument("--datasets", type=Path, default=None, help="the shared real data sets' directory")
    args = parser.parse_args()
    if args.datasets is not None:
        with tempfile.TemporaryDirectory(prefix="emcrowd-incremental-") as tmp:
            dataset_rows(args.datasets, Path(tmp))
        return
    print("Incremental update vs full refit (targets: ratio <= 0.10, agree >= 0.999)", flush=True)
    with tempfile.TemporaryDirectory(prefix="emcrowd-incremental-") as tmp:
        for method in args.methods.replace("-", "_").split(","):
            print(
                json.dumps(row(method, args.items, args.new_items, args.workers, Path(tmp), args.repeat)),
                flush=True,
            )


if __name__ == "__main__":
    main()
