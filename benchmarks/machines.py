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
side in one run (the compiled kernels warmed up first; ``--repeat`` rounds of one fit of each,
alternated), the ratio of each round, its range, and the fastest fit against the fastest (the aim: at
most 2); the same ratios in CPU time, which the load of a shared machine moves less; then, in CPU
time, one E-step pass of each fit and each fit's set-up with one pass (``max_iter=1``).

    python benchmarks/machines.py [--items 2000] [--seeds 5] [--labels 10M] [--repeat 3]
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
    walls: dict[str, list[float]] = {"ds": [], "both": []}
    cpus: dict[str, list[float]] = {"ds": [], "both": []}
    for _ in range(repeat):  # alternated: the machine is shared and its load moves
        for name in ("ds", "both"):
            wall, cpu = time.perf_counter(), time.process_time()
            if name == "ds":
                ds = DawidSkene().fit(labels)
            else:
                both = CrowdMachine().fit_machine_data(attach(labels, [machine]))
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(time.process_time() - cpu)
    print("| fit | engine | iterations | seconds (fastest) | seconds per iteration | CPU seconds (least) |")
    print("|---|---|---:|---:|---:|---:|")
    fits = (("ds", "Dawid-Skene", ds), ("both", "crowd + machine (matching included)", both))
    for name, label, fit in fits:
        fastest = min(walls[name])
        print(f"| {label} | {fit.engine_} | {fit.n_iter_} | {fastest:.2f} | {fastest / fit.n_iter_:.3f} | "
              f"{min(cpus[name]):.2f} |")  # fmt: skip
    rounds = [b / d for b, d in zip(walls["both"], walls["ds"], strict=True)]
    cpu_rounds = [b / d for b, d in zip(cpus["both"], cpus["ds"], strict=True)]
    print(f"ratio crowd + machine / Dawid-Skene per round (wall): "
          f"{', '.join(f'{r:.2f}' for r in rounds)}; range {min(rounds):.2f}-{max(rounds):.2f}; "
          f"fastest/fastest {min(walls['both']) / min(walls['ds']):.2f} (aim: at most 2)")  # fmt: skip
    print(f"ratio in CPU time per round: {', '.join(f'{r:.2f}' for r in cpu_rounds)}")
    parts(labels, machine, ds, both, repeat)


def parts(labels: object, machine: object, ds: DawidSkene, both: CrowdMachine, repeat: int) -> None:
    """Where the difference goes, in CPU time (least of the runs, alternated): one E-step pass of each
    fit at its fitted parameters (10 of each), and the set-up with one pass and the first M-step
    (``max_iter=1``, ``repeat`` of each)."""
    from emcrowd.models.classification._observations import confusion_e_step

    log_theta, log_pi = np.log(ds.confusion_), np.log(ds.class_prior_)
    params = (np.log(both.confusion_), both._machine_log_)
    passes: dict[str, list[float]] = {"ds": [], "both": []}
    for _ in range(10):
        for name in passes:
            cpu = time.process_time()
            if name == "ds":
                confusion_e_step(ds._obs, log_theta, log_pi, None)
            else:
                both._e_step(both._em, params, log_pi, None)
            passes[name].append(time.process_time() - cpu)
    setup: dict[str, list[float]] = {"ds": [], "both": []}
    for _ in range(repeat):
        for name in setup:
            cpu = time.process_time()
            if name == "ds":
                DawidSkene(max_iter=1).fit(labels)
            else:
                CrowdMachine(max_iter=1).fit_machine_data(attach(labels, [machine]))
            setup[name].append(time.process_time() - cpu)
    print(f"CPU seconds of one E-step pass (least of 10): Dawid-Skene {min(passes['ds']):.3f}, "
          f"crowd + machine {min(passes['both']):.3f}")  # fmt: skip
    print(f"set-up, one pass and the first M-step (max_iter=1, least of {repeat}), CPU seconds: "
          f"Dawid-Skene {min(setup['ds']):.2f}, crowd + machine {min(setup['both']):.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000, help="items per grid simulation")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per grid setting")
    parser.add_argument("--labels", default="10M", help="crowd labels of the scale row (10M, 500K, ...)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of timed fits, each fit alternated")
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
