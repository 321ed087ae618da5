"""Does relabelling the items :mod:`emcrowd.analysis.relabel` ranks first pay? A simulation benchmark.

For each setting (a GLAD crowd fitted with GLAD, a Dawid-Skene crowd fitted with Dawid-Skene) and
seed: simulate the labels, fit, and spend a budget of extra labels (5% and 20% of the items, one label
per item) either on the items the relabel ranking puts first or on items drawn at random. Each extra
label comes from an annotator drawn uniformly among those who have not labelled the item yet, and is
drawn from the *true* simulation parameters. The model is then fitted again on all the labels and the
accuracy gain against the true classes is recorded. The table gives both mean gains (over the seeds)
and their ratio; the aim is a ratio of at least 2. Crowds of 50 annotators give 3 or 5 labels per item
(GLAD: two classes, the simulator's default abilities, some adversarial; Dawid-Skene: three classes).

A single seed's ratio is noisy (the random strategy's gain is a few items out of thousands, and can
even be negative after the refit), hence the mean over seeds.

    python benchmarks/relabel.py [--items 5000] [--seeds 8] [--labels-per-item 3 5]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emcrowd.analysis.relabel import relabel_table
from emcrowd.data import Labels
from emcrowd.errors import ConvergenceWarning
from emcrowd.models._base import EMAggregator
from emcrowd.models.classification.dawid_skene import DawidSkene
from emcrowd.models.classification.glad import GLAD
from emcrowd.models.simulate import simulate_dawid_skene, simulate_glad

BUDGETS = (0.05, 0.20)


@dataclass
class Crowd:
    """Simulated labels, the truth, and how the true crowd would label an (item, annotator) pair."""

    labels: Labels
    truth: np.ndarray
    draw: Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]
    model: type[EMAggregator]


def glad_crowd(n_items: int, per_item: int, seed: int) -> Crowd:
    sim = simulate_glad(n_items, 50, labels_per_item=per_item, n_classes=2, seed=seed)
    k = sim.labels.n_classes

    def draw(item: np.ndarray, worker: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        right = 1.0 / (1.0 + np.exp(-sim.alpha[worker] * sim.beta[item]))
        wrong = (sim.truth[item] + rng.integers(1, k, size=item.size)) % k
        return np.where(rng.random(item.size) < right, sim.truth[item], wrong)

    return Crowd(sim.labels, sim.truth, draw, GLAD)


def dawid_skene_crowd(n_items: int, per_item: int, seed: int) -> Crowd:
    labels, truth, confusion = simulate_dawid_skene(
        n_items, 50, labels_per_item=per_item, n_classes=3, seed=seed
    )

    def draw(item: np.ndarray, worker: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rows = confusion[worker, truth[item]]  # (n, K)
        u = rng.random((item.size, 1))
        return np.minimum((np.cumsum(rows, axis=1) < u).sum(axis=1), rows.shape[1] - 1)

    return Crowd(labels, truth, draw, DawidSkene)


SETTINGS = {"GLAD crowd, GLAD fit": glad_crowd, "Dawid-Skene crowd (K=3), DS fit": dawid_skene_crowd}


def new_annotators(data: Labels, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each item, an annotator drawn uniformly among those who have not labelled it."""
    seen = np.zeros((data.n_items, data.n_workers), dtype=bool)
    seen[data.item, data.worker] = True
    out = np.empty(items.size, dtype=np.intp)
    for n, j in enumerate(items):
        out[n] = rng.choice(np.flatnonzero(~seen[j]))
    return out


def with_labels(data: Labels, item: np.ndarray, worker: np.ndarray, label: np.ndarray) -> Labels:
    return Labels(
        item=np.concatenate([data.item, item]),
        worker=np.concatenate([data.worker, worker]),
        label=np.concatenate([data.label, label]),
        item_names=data.item_names,
        worker_names=data.worker_names,
        class_names=data.class_names,
    )


def accuracy(model: EMAggregator, truth: np.ndarray) -> float:
    return float(np.mean(model.labels_ == truth))


def gains(crowd: Crowd, budget: float, seed: int) -> tuple[float, float]:
    """Accuracy gain from ``budget * n_items`` extra labels on the top-ranked and on random items."""
    data = crowd.labels
    fitted = crowd.model().fit(data)
    before = accuracy(fitted, crowd.truth)
    n_extra = max(1, round(budget * data.n_items))
    ranked = np.asarray(relabel_table(data, fitted, limit=n_extra)["item"]).astype(np.intp)
    rng = np.random.default_rng(seed + 1_000)
    random_items = rng.choice(data.n_items, n_extra, replace=False)
    out = []
    for items in (ranked, random_items):
        draw_rng = np.random.default_rng(seed + 2_000)
        workers = new_annotators(data, items, draw_rng)
        more = with_labels(data, items, workers, crowd.draw(items, workers, draw_rng))
        out.append(accuracy(crowd.model().fit(more), crowd.truth) - before)
    return out[0], out[1]


def mean_gains(setting: str, n_items: int, per_item: int, budget: float, seeds: range) -> tuple[float, float]:
    """Mean gains (ranked, random) over ``seeds`` for one setting and budget."""
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in seeds:
            results.append(gains(SETTINGS[setting](n_items, per_item, seed), budget, seed))
    ranked, random = np.mean(results, axis=0)
    return float(ranked), float(random)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=5000, help="items per simulated crowd")
    parser.add_argument("--seeds", type=int, default=8, help="simulations per row (mean shown)")
    parser.add_argument("--labels-per-item", type=int, nargs="+", default=[3, 5], metavar="R")
    args = parser.parse_args()
    header = (
        f"{'setting':32} {'labels/item':>11} {'budget':>6} {'gain ranked':>11} {'gain random':>11} "
        f"{'ratio':>6}  aim"
    )
    print(f"{args.items} items, 50 annotators; accuracy gains, mean over {args.seeds} seeds")
    print(header)
    print("-" * len(header))
    start = time.perf_counter()
    for setting in SETTINGS:
        for per_item in args.labels_per_item:
            for budget in BUDGETS:
                ranked, random = mean_gains(setting, args.items, per_item, budget, range(args.seeds))
                ratio = ranked / random if random > 0 else float("inf")
                verdict = "met" if ratio >= 2 else "NOT MET"
                print(
                    f"{setting:32} {per_item:>11} {budget:>6.0%} {ranked:>11.4f} {random:>11.4f} "
                    f"{ratio:>6.2f}  >= 2 {verdict}"
                )
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
