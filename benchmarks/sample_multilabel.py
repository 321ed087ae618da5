"""Write sample_data/tags.csv: a small multi-select export in the shape of a CrowdFlower (Figure
Eight) full report -- the classes of one answer joined by newlines in one quoted cell, "none" where
the annotator ticked nothing -- and tags_truth.csv, the true sets.

The answers are drawn by :func:`emcrowd.models.multilabel.simulate.simulate_multilabel` (correlated
classes; careful annotators, under- and over-tickers, spammers) with a fixed seed, so the files are
the same on every run.

    python benchmarks/sample_multilabel.py --out sample_data --seed 0
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from emcrowd.models.multilabel.simulate import simulate_multilabel

CLASSES = ("spam", "ads", "insult", "off_topic", "personal_data")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("sample_data"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--items", type=int, default=300)
    args = parser.parse_args()
    data, truth, _ = simulate_multilabel(
        args.items, 25, len(CLASSES), 5, correlation=0.4, random_state=args.seed
    )
    names = np.asarray(CLASSES, dtype=object)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "tags.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["_unit_id", "_golden", "_worker_id", "_trust", "tags", "tags_gold"])
        for o in range(data.n_answers):
            ticked = names[data.ticks[o].astype(bool)]
            writer.writerow(
                [
                    f"c{1000 + data.item[o]}",
                    "false",
                    f"w{100 + data.worker[o]}",
                    "0.9",
                    "\n".join(ticked) or "none",
                    "",
                ]
            )
    with open(args.out / "tags_truth.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["_unit_id", "tags"])
        for j in range(data.n_items):
            writer.writerow([f"c{1000 + j}", json.dumps(list(names[truth[j]]))])


if __name__ == "__main__":
    main()
