"""Multi-select fits at scale, side by side with Dawid-Skene on the same number of labels, and the
per-class model's micro-F1 against per-class majority vote across seeds.

Speed: ``--labels`` (item, annotator, class) answers -- 5 classes, so ``labels / 5`` answers from 5
annotators per item -- fitted by :class:`~emcrowd.models.multilabel.PerClassDawidSkene`, and a
two-class Dawid-Skene fit of as many labels (5 per item), in one run, after both models' compiled
passes are warmed up. The target: the multi-select fit takes at most twice the Dawid-Skene fit. Both
run to their own convergence (tol 1e-6), so the table also gives the time per EM iteration.

Quality: micro-F1 of the per-class model and of per-class majority vote on the simulator of
:mod:`emcrowd.models.multilabel.simulate` (correlated classes, careful annotators, under- and
over-tickers, spammers), one row per seed.

    python benchmarks/multilabel.py [--labels 10M] [--seeds 10]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from emcrowd.analysis.multilabel import set_metrics
from emcrowd.errors import ConvergenceWarning
from emcrowd.models.classification.dawid_skene import DawidSkene
from emcrowd.models.multilabel import PerClassDawidSkene, per_class_vote
from emcrowd.models.multilabel.simulate import simulate_multilabel
from emcrowd.models.simulate import simulate_dawid_skene

N_CLASSES = 5
PER_ITEM = 5


def count(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def timed(model, data):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data)
    return time.perf_counter() - start


def speed(n_labels: int, seed: int) -> None:
    n_items = n_labels // (N_CLASSES * PER_ITEM)
    multi, _, _ = simulate_multilabel(n_items, 500, N_CLASSES, PER_ITEM, random_state=seed)
    single, _, _ = simulate_dawid_skene(n_labels // PER_ITEM, 500, labels_per_item=PER_ITEM, seed=seed)
    small_multi, _, _ = simulate_multilabel(200, 20, N_CLASSES, PER_ITEM, random_state=seed)
    small_single, _, _ = simulate_dawid_skene(1000, 20, labels_per_item=PER_ITEM, seed=seed)
    timed(PerClassDawidSkene(), small_multi)  # compile and load the kernels before timing
    timed(DawidSkene(), small_single)
    ds = DawidSkene()
    ds_seconds = timed(ds, single)
    ml = PerClassDawidSkene()
    ml_seconds = timed(ml, multi)
    print(f"\n{n_labels:,} labels: multi-select {multi.n_answers:,} answers x {N_CLASSES} classes; "
          f"Dawid-Skene {single.n_labels:,} labels, 2 classes")  # fmt: skip
    print(f"{'model':<28}{'seconds':>9}{'iterations':>12}{'s/iteration':>13}{'ratio':>8}")
    for name, seconds, model in (("dawid-skene", ds_seconds, ds), ("per-class dawid-skene", ml_seconds, ml)):
        ratio = seconds / ds_seconds
        print(f"{name:<28}{seconds:>9.2f}{model.n_iter_:>12}{seconds / model.n_iter_:>13.4f}{ratio:>8.2f}")
    per_iter = (ml_seconds / ml.n_iter_) / (ds_seconds / ds.n_iter_)
    print(f"ratio per EM iteration: {per_iter:.2f}")


def quality(seeds: int, n_items: int) -> None:
    print(f"\nmicro-F1, {n_items:,} items, 40 annotators, 6 classes (correlation 0.5), 5 answers per item")
    print(f"{'seed':>5}{'majority':>10}{'per-class DS':>14}{'gain':>9}")
    gains = []
    for seed in range(seeds):
        data, truth, _ = simulate_multilabel(n_items, 40, 6, 5, correlation=0.5, random_state=seed)
        names = data.class_names
        mv = set_metrics(per_class_vote(data), truth.astype(int), names)["micro_f1"]
        em = set_metrics(PerClassDawidSkene().fit(data).sets_, truth.astype(int), names)["micro_f1"]
        gains.append(em - mv)
        print(f"{seed:>5}{mv:>10.4f}{em:>14.4f}{em - mv:>+9.4f}")
    print(f"gain: mean {np.mean(gains):+.4f}, min {np.min(gains):+.4f}, max {np.max(gains):+.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", default="10M", help="(item, annotator, class) answers for the speed rows")
    parser.add_argument("--seeds", type=int, default=10, help="seeds of the micro-F1 table")
    parser.add_argument("--items", type=int, default=2000, help="items per simulation of the micro-F1 table")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    speed(count(args.labels), args.seed)
    quality(args.seeds, args.items)


if __name__ == "__main__":
    main()
