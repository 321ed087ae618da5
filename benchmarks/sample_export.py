"""Write sample_data/export.csv: a small synthetic crowd export in the shape platforms produce.

``make sample-data`` runs it (``python benchmarks/sample_export.py --out sample_data --seed 0``); the
same seed gives byte-identical files. What it writes:

* ``export.csv`` -- one row per answer: ``task_id`` (string ids such as ``img-5f3a9c``),
  ``annotator_id`` (``ann-0f7e``), ``answer`` (``bird``, ``cat`` or ``dog``; a few left empty, as
  skipped questions are) and ``submitted_at``, rows in submission order (not grouped by item);
* ``export_truth.csv`` -- ``task_id,truth``: the true class of every task, for ``emcrowd compare``;
* the answers on the first 12 tasks as three platforms export them, for the presets' examples:
  ``toloka.tsv`` (Toloka's TSV, two tasks with control answers, one assignment rejected),
  ``mturk.csv`` (Mechanical Turk batch results, one assignment rejected) and ``label_studio.json``
  (Label Studio's JSON export, one annotation marked as ground truth).

The crowd is drawn from the Dawid-Skene model (a confusion matrix per annotator, some of them biased
towards one class), with two spammers added (one always answers ``cat``, one answers at random), and
3 to 5 answers per task.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np

from emcrowd.models.simulate import simulate_dawid_skene

CLASSES = ("bird", "cat", "dog")


def _ids(rng: np.random.Generator, prefix: str, n: int, digits: int) -> list[str]:
    """``n`` distinct ids ``prefix-<hex>``, in random order."""
    codes = rng.choice(16**digits, size=n, replace=False)
    return [f"{prefix}-{int(code):0{digits}x}" for code in codes]


def make_export(n_items: int, n_workers: int, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    """The export's rows and the truth's rows (both without their header)."""
    labels, truth, _ = simulate_dawid_skene(
        n_items, n_workers, labels_per_item=5, n_classes=len(CLASSES), concentration=3.0, seed=seed
    )
    rng = np.random.default_rng(seed + 1)
    item, worker, label = labels.item.copy(), labels.worker.copy(), labels.label.copy()
    constant, random_answers = n_workers - 2, n_workers - 1  # two spammers
    label[worker == constant] = CLASSES.index("cat")
    noisy = worker == random_answers
    label[noisy] = rng.integers(0, len(CLASSES), size=int(noisy.sum()))
    # not every assignment is completed: drop answers so that a task has 3 to 5 of them
    keep = np.ones(len(item), dtype=bool)
    for j in range(n_items):
        rows = np.flatnonzero(item == j)
        keep[rng.choice(rows, size=rng.integers(0, 3), replace=False)] = False
    item, worker, label = item[keep], worker[keep], label[keep]
    answers = [CLASSES[k] for k in label]
    for row in rng.choice(len(answers), size=max(1, len(answers) // 100), replace=False):
        answers[row] = ""  # skipped
    item_ids = _ids(rng, "img", n_items, 6)
    worker_ids = _ids(rng, "ann", n_workers, 4)
    order = rng.permutation(len(item))
    start = dt.datetime(2026, 3, 2, 9, 0, 0)
    seconds = np.cumsum(rng.integers(1, 30, size=len(order)))
    rows = [
        [
            item_ids[item[r]],
            worker_ids[worker[r]],
            answers[r],
            (start + dt.timedelta(seconds=int(s))).isoformat(),
        ]
        for r, s in zip(order, seconds, strict=True)
    ]
    truth_rows = [[item_ids[j], CLASSES[truth[j]]] for j in range(n_items)]
    return rows, truth_rows


def platform_exports(rows: list[list[str]], truth_rows: list[list[str]], n_tasks: int = 12) -> dict[str, str]:
    """The answers on the first ``n_tasks`` tasks of the truth as Toloka, Mechanical Turk and Label
    Studio export them (file name: text)."""
    tasks = [task for task, _ in truth_rows[:n_tasks]]
    truth = dict(truth_rows[:n_tasks])
    picked = [r for r in rows if r[0] in truth and r[2]]
    picked.sort(key=lambda r: (tasks.index(r[0]), r[3]))
    image = {task: f"https://example.com/images/{task}.jpg" for task in tasks}
    control = set(tasks[:2])

    toloka = [["INPUT:image", "OUTPUT:result", "GOLDEN:result", "ASSIGNMENT:task_id", "ASSIGNMENT:worker_id",
               "ASSIGNMENT:status"]]  # fmt: skip
    mturk = [["HITId", "WorkerId", "AssignmentStatus", "Input.image_url", "Answer.category"]]
    for k, (task, worker, answer, _) in enumerate(picked):
        status = "REJECTED" if k == 5 else "APPROVED"
        golden = truth[task] if task in control else ""
        toloka.append([image[task], answer, golden, task, worker, status])
        mturk.append([task, worker, "Rejected" if k == 5 else "Approved", image[task], answer])
    studio = []
    for n, task in enumerate(tasks, start=1):
        annotations = [
            {
                "id": 100 * n + a,
                "completed_by": int(worker.split("-")[1], 16),
                "result": [{"from_name": "animal", "to_name": "image", "type": "choices",
                            "value": {"choices": [answer]}}],
                "was_cancelled": False,
                "ground_truth": n == 1 and a == 0,
            }
            for a, (_, worker, answer, _) in enumerate(r for r in picked if r[0] == task)
        ]  # fmt: skip
        if n == 1:  # the ground-truth annotation says the true class
            annotations[0]["result"][0]["value"]["choices"] = [truth[task]]
        studio.append({"id": n, "data": {"image": image[task]}, "annotations": annotations})

    def table(body: list[list[str]], delimiter: str) -> str:
        return "".join(delimiter.join(row) + "\n" for row in body)

    return {
        "toloka.tsv": table(toloka, "\t"),
        "mturk.csv": table(mturk, ","),
        "label_studio.json": "[\n" + ",\n".join(json.dumps(task) for task in studio) + "\n]\n",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("sample_data"))
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--workers", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows, truth_rows = make_export(args.items, args.workers, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, header, body in (
        ("export.csv", ["task_id", "annotator_id", "answer", "submitted_at"], rows),
        ("export_truth.csv", ["task_id", "truth"], truth_rows),
    ):
        with open(args.out / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(body)
        print(f"wrote {args.out / name} ({len(body):,} rows)")
    for name, text in platform_exports(rows, truth_rows).items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
