"""Machine annotators: what a model's probabilities add to a crowd, and what fitting them costs.

**Grid.** For every setting (classes, the model's signal, its miscalibration) and seed: simulate a
crowd giving 1 to 5 labels per item and a model's probabilities on every item
(:func:`emcrowd.models.simulate_machines.simulate_crowd_machine`), then score against the truth the
crowd alone (Dawid-Skene), the machine alone (its own probabilities) and both
(:class:`emcrowd.models.classification.machine.CrowdMachine`), in accuracy and log-loss. The grid
passes when crowd + machine beats both on both metrics on every seed. A useless machine (random
probabilities) is scored against the crowd alone: the largest loss over the seeds is reported (the
aim: at most 0.002 in accuracy).

**Scale.** ``--labels`` crowd labels (3 per item on average, 1000 annotators, 2 classes) with a model's
probabilities on every item: a Dawid-Skene fit and a crowd + machine fit of the same data, side by
side in one run (the compiled kernels warmed up first; ``--repeat`` fits of each, alternated, the
fastest kept), and their ratio (the aim: at most 2).

    python benchmarks/machines.py [--items 2000] [--seeds 5] [--labels 10M] [--repeat 2]
                                  [--no-grid] [--no-scale]
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np

from emcrowd.errors import ConvergenceWarning
from emcrowd.models.classification.dawid_skene import DawidSkene
from emcrowd.models.classification.machine import CrowdMachine
from emcrowd.models.simulate_machines import simulate_crowd_machine
from emcrowd.predictions import attach

CLASSES = (2, 3, 5)
SIGNALS = (1.0, 2.0)
SHARPNESS = (0.5, 3.0)  # under- and overconfident


def accuracy(p: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.argmax(p, axis=1) == truth))


def log_loss(p: np.ndarray, truth: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(truth.size), truth], 1e-15, 1.0))))


def grid(n_items: int, seeds: int) -> None:
    crowd = "1-5 labels per item from 50 annotators (accuracy 0.55-0.9)"
    print(f"Grid: {n_items:,} items, {crowd}, seeds 0-{seeds - 1}")
    print("mean over seeds; 'wins' = seeds where crowd + machine beats both in accuracy and in log-loss")
    print()
    columns = ("classes", "signal", "sharpness", "crowd acc", "machine acc", "both acc", "crowd LL")
    print("| " + " | ".join((*columns, "machine LL", "both LL", "wins")) + " |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    total = wins_total = 0
    for k, signal, sharpness in itertools.product(CLASSES, SIGNALS, SHARPNESS):
        rows, wins = [], 0
        for seed in range(seeds):
            labels, truth, machine = simulate_crowd_machine(
                n_items, n_classes=k, signal=signal, sharpness=sharpness, random_state=seed
            )
            crowd = DawidSkene().fit(labels).posteriors_
            both = CrowdMachine().fit(labels, predictions=machine).posteriors_
            row = [f(p, truth) for f in (accuracy, log_loss) for p in (crowd, machine.proba, both)]
            rows.append(row)
            wins += row[2] > max(row[0], row[1]) and row[5] < min(row[3], row[4])
        mean = np.mean(rows, axis=0)
        total += seeds
        wins_total += wins
        print(
            f"| {k} | {signal:g} | {sharpness:g} | "
            + " | ".join(f"{v:.4f}" for v in mean)
            + f" | {wins}/{seeds} |"
        )
    print(f"\ncrowd + machine beats both on {wins_total} of {total} runs")
    worst_acc = worst_ll = -np.inf
    for k, seed in itertools.product(CLASSES, range(seeds)):
        labels, truth, machine = simulate_crowd_machine(n_items, n_classes=k, signal=0.0, random_state=seed)
        crowd = DawidSkene().fit(labels).posteriors_
        both = CrowdMachine().fit(labels, predictions=machine).posteriors_
        worst_acc = max(worst_acc, accuracy(crowd, truth) - accuracy(both, truth))
        worst_ll = max(worst_ll, log_loss(both, truth) - log_loss(crowd, truth))
    print(
        f"useless machine (random probabilities), {len(CLASSES) * seeds} runs: largest accuracy loss against "
        f"the crowd alone {worst_acc:+.4f}, largest log-loss increase {worst_ll:+.4f}"
    )


def parse_count(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def scale(n_labels: int, repeat: int) -> None:
    n_items = n_labels // 3
    started = time.perf_counter()
    labels, _, machine = simulate_crowd_machine(
        n_items, n_workers=1000, labels_per_item=(1, 5), random_state=0
    )
    made = time.perf_counter() - started
    print(f"\nScale: {labels.n_labels:,} labels on {labels.n_items:,} items, a model's probabilities on "
          f"every item (simulated in {made:.1f} s)")  # fmt: skip
    small, _, small_machine = simulate_crowd_machine(2000, random_state=0)
    DawidSkene(engine="numba").fit(small)  # compile (or load) the kernels before timing
    CrowdMachine(engine="numba").fit(small, predictions=small_machine)
    ds_seconds = both_seconds = np.inf
    for _ in range(repeat):  # alternated, the fastest of each kept: the machine is shared and loaded
        started = time.perf_counter()
        ds = DawidSkene().fit(labels)
        ds_seconds = min(ds_seconds, time.perf_counter() - started)
        started = time.perf_counter()
        both = CrowdMachine().fit_machine_data(attach(labels, [machine]))
        both_seconds = min(both_seconds, time.perf_counter() - started)
    print("| fit | engine | iterations | seconds | seconds per iteration |")
    print("|---|---|---:|---:|---:|")
    print(f"| Dawid-Skene | {ds.engine_} | {ds.n_iter_} | {ds_seconds:.1f} | {ds_seconds / ds.n_iter_:.2f} |")
    print(f"| crowd + machine (matching included) | {both.engine_} | {both.n_iter_} | {both_seconds:.1f} | "
          f"{both_seconds / both.n_iter_:.2f} |")  # fmt: skip
    print(f"ratio crowd + machine / Dawid-Skene: {both_seconds / ds_seconds:.2f} (aim: at most 2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000, help="items per grid simulation")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per grid setting")
    parser.add_argument("--labels", default="10M", help="crowd labels of the scale row (10M, 500K, ...)")
    parser.add_argument("--repeat", type=int, default=2, help="timed fits of each, alternated (fastest kept)")
    parser.add_argument("--no-grid", action="store_true", help="skip the grid")
    parser.add_argument("--no-scale", action="store_true", help="skip the scale row")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    if not args.no_grid:
        grid(args.items, args.seeds)
    if not args.no_scale:
        scale(parse_count(args.labels), args.repeat)


if __name__ == "__main__":
    main()
