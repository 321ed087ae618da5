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

``--simulations N`` (several sizes: comma-separated) measures accuracy instead: on N labels (N / 5
items with 5 labels each, N / 500 annotators, at least 100) simulated from GLAD, Dawid-Skene (3
classes), one-coin and MACE, auto's accuracy against the generating model's (issue 23: at least the
generating model's minus 0.002), for each of ``--seeds``, with both fits' seconds. ``--tiny``: the
one-standard-error rule against the best score on 80 items.
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


def simulations(n_labels: int, seeds: list[int]) -> None:
    """auto against the generating model on simulated data, in this process (no timing here)."""
    import warnings

    import numpy as np

    from emcrowd.analysis.aggregate import aggregate
    from emcrowd.models.simulate import simulate_dawid_skene, simulate_glad, simulate_mace, simulate_one_coin

    n_items = n_labels // 5
    n_workers = max(100, n_items // 100)

    def draw(generator: str, seed: int):
        shape = {"labels_per_item": 5, "seed": seed}
        if generator == "glad":
            sim = simulate_glad(n_items, n_workers, **shape)
            return sim.labels, sim.truth
        if generator == "mace":
            sim = simulate_mace(n_items, n_workers, **shape)
            return sim.labels, sim.truth
        if generator == "dawid_skene":
            return simulate_dawid_skene(n_items, n_workers, n_classes=3, **shape)[:2]
        return simulate_one_coin(n_items, n_workers, **shape)[:2]

    print(
        f"{'generator':<12} {'seed':>4} {'labels':>11} {'own acc':>8} {'auto acc':>8} {'gap':>7} "
        f"{'own s':>7} {'auto s':>7}  chose"
    )
    for generator in ("glad", "dawid_skene", "one_coin", "mace"):
        for seed in seeds:
            data, truth = draw(generator, seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                auto = aggregate(data, "auto", random_state=seed)
                own = aggregate(data, generator, random_state=seed)
            seconds = f"{own.fit_seconds:>7.1f} {auto.fit_seconds:>7.1f}"
            a, o = float(np.mean(auto.labels == truth)), float(np.mean(own.labels == truth))
            print(
                f"{generator:<12} {seed:>4} {data.n_labels:>11,} {o:>8.4f} {a:>8.4f} {a - o:>+7.4f} "
                f"{seconds}  "
                f"{auto.fitted_method}{'' if a >= o - 0.002 else '  (below the bound)'}",
                flush=True,
            )


def tiny(n_items: int = 80, n_workers: int = 10, n_seeds: int = 10) -> None:
    """On tiny simulated data: the mean accuracy of auto's one-standard-error rule against taking the
    best held-out score without it, the vote and the generating model (ten seeds each)."""
    import warnings

    import numpy as np

    from emcrowd.analysis.selection import select_method
    from emcrowd.models.simulate import simulate_dawid_skene, simulate_glad, simulate_mace, simulate_one_coin

    header = f"{'generator':<12} {'vote':>7} {'one-SE':>7} {'best':>7} {'own':>7}"
    print(f"{header}  ({n_items} items, {n_workers} annotators, {n_seeds} seeds)")
    for generator in ("glad", "dawid_skene", "one_coin", "mace"):
        rows = []
        for seed in range(n_seeds):
            shape = {"labels_per_item": 5, "seed": seed}
            if generator == "glad":
                sim = simulate_glad(n_items, n_workers, **shape)
                data, truth = sim.labels, sim.truth
            elif generator == "mace":
                sim = simulate_mace(n_items, n_workers, **shape)
                data, truth = sim.labels, sim.truth
            elif generator == "dawid_skene":
                data, truth, _ = simulate_dawid_skene(n_items, n_workers, n_classes=3, **shape)
            else:
                data, truth, _ = simulate_one_coin(n_items, n_workers, **shape)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sel = select_method(data, random_state=seed)
            accuracy = {m: float(np.mean(f.labels == truth)) for m, f in sel.fits.items()}
            stable = [m for m in sel.scores if sel.scores[m].stable]
            top = max(stable, key=lambda m: sel.scores[m].score)
            rows.append((accuracy["majority"], accuracy[sel.chosen], accuracy[top], accuracy[generator]))
        means = np.mean(rows, axis=0)
        print(f"{generator:<12} " + " ".join(f"{x:>7.4f}" for x in means), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 100k-label workload only")
    parser.add_argument(
        "--simulations", metavar="N[,N...]", help="accuracy on N simulated labels instead (sizes: commas)"
    )
    parser.add_argument("--seeds", default="0", help="seeds of --simulations (comma-separated)")
    parser.add_argument("--tiny", action="store_true", help="the one-SE rule on tiny simulated data instead")
    args = parser.parse_args()
    if args.tiny:
        tiny()
        return
    if args.simulations:
        for n_labels in args.simulations.split(","):
            simulations(int(float(n_labels)), [int(s) for s in args.seeds.split(",")])
        return
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
