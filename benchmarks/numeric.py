"""Numeric answers at scale: the bias-and-noise fits beside a Dawid-Skene fit of the same number of labels.

The target (issue 25): each numeric model fits 10M labels in at most twice the time of a Dawid-Skene fit
of the same labels. Both data sets are simulated in memory (1M items x 10 answers from 1,000 annotators;
Dawid-Skene: two classes), every fit runs in this process one after the other, and the table gives each
fit's seconds, iterations and its ratio to Dawid-Skene's time measured in the same run (absolute times
on a loaded machine vary; the ratio is what is checked). A quality row on a smaller simulation with
random answerers shows what the models buy: MAE and RMSE against the true values, beside the mean's and
the median's.

    python benchmarks/numeric.py [--labels 10M] [--repeat 1]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from emcrowd.models.classification.dawid_skene import DawidSkene
from emcrowd.models.numeric import BiasNoise, MeanAggregator, MedianAggregator, RobustBiasNoise
from emcrowd.models.numeric.simulate import simulate_numeric
from emcrowd.models.simulate import simulate_dawid_skene

TARGET_RATIO = 2.0
PER_ITEM = 10
WORKERS = 1000


def size(text: str) -> int:
    text = text.strip().upper()
    factor = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * factor)


def timed(fit) -> tuple[float, object]:
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit()
    return time.perf_counter() - started, model


def speed(n_labels: int, repeat: int) -> None:
    n_items = n_labels // PER_ITEM
    classes, _, _ = simulate_dawid_skene(n_items, WORKERS, labels_per_item=PER_ITEM, n_classes=2, seed=0)
    numeric = simulate_numeric(n_items, WORKERS, PER_ITEM, random_workers=0.05, seed=0).labels
    # every model's compiled kernels loaded before the clock runs (a first fit in a process loads
    # them from numba's cache, a second or more on a loaded machine, which would flatter the others)
    small = simulate_numeric(200, 20, 5, seed=1).labels
    DawidSkene().fit(simulate_dawid_skene(200, 20, labels_per_item=5, n_classes=2, seed=1)[0])
    for warm in (MeanAggregator(), MedianAggregator(), BiasNoise(), RobustBiasNoise(fit_scale=True)):
        timed(lambda m=warm: m.fit(small))
    rows = []
    for _ in range(repeat):  # interleaved, so that a slow spell of the machine hits every fit alike
        ds_seconds, ds = timed(lambda: DawidSkene().fit(classes))
        rows.append(("dawid-skene (2 classes)", ds_seconds, ds.n_iter_, ds.n_iter_, ds_seconds))
        for name, model in (
            ("mean", MeanAggregator()),
            ("median", MedianAggregator()),
            ("bias-noise", BiasNoise()),
            ("robust", RobustBiasNoise()),
            ("robust, scale", RobustBiasNoise(fit_scale=True)),
        ):
            seconds, fitted = timed(lambda m=model: m.fit(numeric))
            iters = getattr(fitted, "n_iter_", None)
            rows.append((name, seconds, iters, getattr(fitted, "n_passes_", iters), ds_seconds))
    print(f"\n{n_labels:,} labels ({n_items:,} items x {PER_ITEM}, {WORKERS:,} annotators)")
    print(f"{'fit':<26}{'seconds':>9}{'iters':>7}{'passes':>8}{'x DS':>7}  target <= {TARGET_RATIO:g} x DS")
    ratios: dict[str, list[float]] = {}
    for name, seconds, iters, passes, ds_seconds in rows:
        ratio = seconds / ds_seconds
        ratios.setdefault(name, []).append(ratio)
        mark = "" if name.startswith("dawid") else ("  ok" if ratio <= TARGET_RATIO else "  OVER")
        shown = ("", "") if iters is None else (iters, passes)
        print(f"{name:<26}{seconds:>9.2f}{shown[0]:>7}{shown[1]:>8}{ratio:>7.2f}{mark}")
    if repeat > 1:
        print(f"\nratio to Dawid-Skene over the {repeat} rounds (lowest - highest)")
        for name, got in ratios.items():
            if not name.startswith("dawid"):
                print(f"{name:<26}{min(got):>6.2f} - {max(got):.2f}")


def quality() -> None:
    print(
        "\nQuality: 2,000 items x 5 answers, 40 annotators, 20% answering at random half the time (3 seeds)"
    )
    print(f"{'method':<16}{'MAE':>8}{'RMSE':>8}")
    models = {
        "mean": MeanAggregator,
        "median": MedianAggregator,
        "bias-noise": BiasNoise,
        "robust": RobustBiasNoise,
    }
    scores = {name: [] for name in models}
    for seed in range(3):
        sim = simulate_numeric(2000, 40, 5, random_workers=0.2, random_share=0.5, seed=seed)
        for name, model in models.items():
            err = model().fit(sim.labels).estimate_ - sim.values
            scores[name].append((np.abs(err).mean(), np.sqrt((err**2).mean())))
    for name, got in scores.items():
        mae, rmse = np.mean(got, axis=0)
        print(f"{name:<16}{mae:>8.3f}{rmse:>8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", default="10M", help="labels in the speed rows (default 10M)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the speed rows")
    parser.add_argument("--no-quality", action="store_true")
    args = parser.parse_args()
    speed(size(args.labels), args.repeat)
    if not args.no_quality:
        quality()


if __name__ == "__main__":
    main()
