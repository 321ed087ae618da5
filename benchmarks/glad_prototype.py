"""emcrowd's GLAD against a plain fused GLAD EM written here, on the same simulated labels (``make bench``).

The prototype is the simplest fast GLAD one would write by hand, with no emcrowd code: the labels
grouped by item, and per EM iteration ONE compiled (numba) pass over them that, item by item,

1. evaluates every label at the current ``alpha_i * exp(b_j)`` (one ``exp`` and one ``log`` each),
2. makes the item's exact E-step (its posterior over the classes; the log evidence on the way),
3. accumulates, with those posteriors, the gradient and the Fisher curvature of the expected
   complete-data log posterior in ``alpha`` (per annotator, per chunk of items) and in ``b_j``,

followed by one step per parameter: ``theta += g / h``, each gradient scaled by its own curvature
(a diagonal Fisher step), priors N(1, 1) on ``alpha`` and on ``b`` as emcrowd's defaults. It stops
when the log posterior changes by at most ``tol`` (1e-6) relative, as emcrowd does, and starts from
the same place (each annotator's agreement with the other labels of its items). It has no
monotone safeguard, no gold labels, no difficulty integration: what emcrowd does beyond it is
counted in emcrowd's time. Threads run over fixed chunks of items whose sums are added in order.

Each run is a separate process: ``emcrowd fit LABELS --method glad`` (its ``fit_seconds`` from
summary.json, which includes the difficulty integration of the reported posteriors) and this file's
``--run`` (its EM loop, after the labels are read and grouped; the kernels are compiled in a first
warm-up process). The two alternate, ``--repeats`` times; the table shows each pair side by side,
the accuracies against the simulated truth, and the ratio emcrowd / prototype (goal <= 0.5).

    python benchmarks/glad_prototype.py                 # 5M labels (1M items x 10k annotators x 5)
    python benchmarks/glad_prototype.py --items 2000000 --workers 20000
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EMCROWD = [sys.executable, "-m", "emcrowd"]
CHUNKS = 16


def _kernels():  # numba is imported only by the process that runs the prototype
    from numba import njit, prange

    @njit(cache=True)
    def group(item, worker, label, n_items):
        indptr = np.zeros(n_items + 1, dtype=np.int64)
        for o in range(item.size):
            indptr[item[o] + 1] += 1
        for j in range(n_items):
            indptr[j + 1] += indptr[j]
        fill = indptr[:-1].copy()
        w_out = np.empty_like(worker)
        l_out = np.empty_like(label)
        for o in range(item.size):
            j = item[o]
            w_out[fill[j]] = worker[o]
            l_out[fill[j]] = label[o]
            fill[j] += 1
        return indptr, w_out, l_out

    @njit(cache=True)
    def agreement_start(indptr, worker, label, n_workers, n_classes, b_mean):
        """logit((agree + 1) / (n + 2)) / exp(b_mean): agree sums the share of an item's other labels
        that name the same class, n counts the labels on items with other labels."""
        agree = np.zeros(n_workers)
        n = np.zeros(n_workers)
        counts = np.zeros(n_classes)
        for j in range(indptr.size - 1):
            lo, hi = indptr[j], indptr[j + 1]
            counts[:] = 0.0
            for o in range(lo, hi):
                counts[label[o]] += 1.0
            if hi - lo > 1:
                for o in range(lo, hi):
                    agree[worker[o]] += (counts[label[o]] - 1.0) / (hi - lo - 1)
                    n[worker[o]] += 1.0
        p = (agree + 1.0) / (n + 2.0)
        return np.log(p / (1.0 - p)) / math.exp(b_mean)

    @njit(cache=True, parallel=True)
    def em_pass(indptr, worker, label, alpha, b, n_classes, b_mean, b_sd, b_new, acc):
        """One pass: E-step, log evidence, alpha's gradient and curvature sums (in ``acc``), b's step."""
        n_items = indptr.size - 1
        chunks = acc.shape[0]
        evidence = np.zeros(chunks)
        c = math.log(n_classes - 1) if n_classes > 1 else 0.0
        for chunk in prange(chunks):
            lo_item, hi_item = (n_items * chunk) // chunks, (n_items * (chunk + 1)) // chunks
            ll = np.empty(n_classes)
            q = np.empty(n_classes)
            sig = np.empty(64)
            for j in range(lo_item, hi_item):
                lo, hi = indptr[j], indptr[j + 1]
                if hi - lo > sig.size:
                    sig = np.empty(2 * (hi - lo))
                beta = math.exp(b[j])
                ll[:] = 0.0
                for o in range(lo, hi):
                    x = alpha[worker[o]] * beta
                    e = math.exp(-abs(x))
                    log_right = min(x, 0.0) - math.log1p(e)  # log sigmoid(x)
                    log_wrong = log_right - x - c  # log sigmoid(-x) - log(K - 1)
                    for k in range(n_classes):
                        ll[k] += log_right if k == label[o] else log_wrong
                    sig[o - lo] = 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)  # sigmoid(x)
                top = ll.max()
                total = 0.0
                for k in range(n_classes):
                    q[k] = math.exp(ll[k] - top)
                    total += q[k]
                q /= total
                evidence[chunk] += top + math.log(total)
                gb, hb = 0.0, 0.0
                for o in range(lo, hi):
                    i = worker[o]
                    s = sig[o - lo]
                    d = q[label[o]] - s  # d/dx of the expected log-likelihood of label o
                    ss = s * (1.0 - s)
                    x = alpha[i] * beta
                    acc[chunk, i, 0] += d * beta
                    acc[chunk, i, 1] += ss * beta * beta
                    gb += d * x
                    hb += ss * x * x
                inv = 1.0 / (b_sd * b_sd)
                b_new[j] = b[j] + (gb - (b[j] - b_mean) * inv) / (hb + inv)
        total_evidence = 0.0
        for chunk in range(chunks):
            total_evidence += evidence[chunk]
        return total_evidence

    return group, agreement_start, em_pass


def log_normal(x: np.ndarray, mean: float, sd: float) -> float:
    z = (x - mean) / sd
    return float(np.sum(-0.5 * z * z - math.log(sd) - 0.5 * math.log(2 * math.pi)))


def prototype(labels: Path, tol: float = 1e-6, max_iter: int = 500) -> dict:
    group, agreement_start, em_pass = _kernels()
    z = np.load(labels, allow_pickle=False)
    item, worker, label = z["item"], z["worker"], z["label"]
    n_items, n_workers = int(item.max()) + 1, int(worker.max()) + 1
    n_classes = int(z["class_names_ends"].size)
    indptr, worker, label = group(item, worker, label, n_items)
    a_mean = a_sd = b_mean = b_sd = 1.0
    start, cpu = time.perf_counter(), time.process_time()
    alpha = agreement_start(indptr, worker, label, n_workers, n_classes, b_mean)
    b = np.full(n_items, b_mean)
    history: list[float] = []
    acc = np.zeros((CHUNKS, n_workers, 2))
    b_new = np.empty_like(b)
    for _ in range(max_iter):
        acc[:] = 0.0
        evidence = em_pass(indptr, worker, label, alpha, b, n_classes, b_mean, b_sd, b_new, acc)
        history.append(evidence - n_items * math.log(n_classes) + log_normal(alpha, a_mean, a_sd)
                       + log_normal(b, b_mean, b_sd))  # fmt: skip
        if len(history) > 1 and abs(history[-1] - history[-2]) <= tol * abs(history[-2]):
            break  # the posteriors of this pass are at the current (alpha, b)
        g, h = acc.sum(axis=0).T
        alpha = alpha + (g - (alpha - a_mean) / a_sd**2) / (h + 1.0 / a_sd**2)
        b, b_new = b_new, b
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    labels_ = _labels(indptr, worker, label, alpha, b, n_classes)
    return {
        "seconds": seconds, "cpu": cpu, "iterations": len(history), "objective": history[-1],
        "labels": labels_,
    }  # fmt: skip


def _labels(indptr, worker, label, alpha, b, n_classes) -> np.ndarray:
    """The most probable class of each item at (alpha, b) (outside the timed loop; NumPy)."""
    item = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    x = alpha[worker] * np.exp(b)[item]
    log_right = np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))
    log_wrong = log_right - x - (math.log(n_classes - 1) if n_classes > 1 else 0.0)
    ll = np.zeros((indptr.size - 1, n_classes))
    for k in range(n_classes):
        terms = np.where(label == k, log_right, log_wrong)
        ll[:, k] = np.bincount(item, weights=terms, minlength=ll.shape[0])
    return ll.argmax(axis=1)


def run_emcrowd(labels: Path, out: Path) -> dict:
    cpu = _child([*EMCROWD, "fit", str(labels), "--method", "glad", "--out", str(out), "--quiet"])[1]
    summary = json.loads((out / "summary.json").read_text())
    with open(out / "items.csv", newline="") as fh:
        fitted = np.array([int(r["label"]) for r in csv.DictReader(fh)])
    return {
        "seconds": summary["fit_seconds"], "iterations": summary["n_iter"], "labels": fitted, "process": cpu,
    }  # fmt: skip


def run_prototype(labels: Path, out: Path) -> dict:
    stdout, cpu = _child([sys.executable, __file__, "--run", str(labels), str(out)])
    result = json.loads(stdout)
    result["labels"] = np.load(out)
    result["process"] = cpu
    return result


def _child(cmd: list[str]) -> tuple[bytes, float]:
    """Run ``cmd``; its stdout and the CPU seconds of the whole process (user and system, all threads)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    stdout = proc.stdout.read() if proc.stdout is not None else b""
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return stdout, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--labels-per-item", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, help="a folder of `emcrowd simulate --format npz` to use")
    parser.add_argument("--run", type=Path, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run is not None:  # the child process: one prototype fit (LABELS OUT), as JSON on stdout
        result = prototype(args.run[0])
        np.save(args.run[1], result.pop("labels"))
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp) / "data"
        if not (data / "labels.npz").exists():
            subprocess.run(
                [*EMCROWD, "simulate", "--items", str(args.items), "--workers", str(args.workers),
                 "--labels-per-item", str(args.labels_per_item), "--seed", "0", "--format", "npz",
                 "--out", str(data), "-q"],
                check=True,
            )  # fmt: skip
        labels = data / "labels.npz"
        truth = np.load(data / "y.npy")
        n_labels = np.load(labels)["item"].size
        print(f"GLAD on {n_labels:,} labels: emcrowd's fit_seconds against the fused prototype's EM loop")
        proto_out = Path(tmp) / "prototype-labels.npy"
        run_prototype(labels, proto_out)  # compiles (or loads) the prototype's kernels; not timed
        print(
            "emcrowd: fit_seconds of summary.json and the CPU seconds of the whole `emcrowd fit` process; "
            "prototype: its EM loop's wall and CPU seconds and its whole process's CPU seconds"
        )
        print(
            f"{'run':>3} {'emcrowd s':>10} {'cpu':>6} {'iters':>6} {'accuracy':>9} {'prototype s':>12} "
            f"{'loop cpu':>9} {'cpu':>6} {'iters':>6} {'accuracy':>9} {'ratio':>6}"
        )
        ratios = []
        for r in range(args.repeats):
            ours = run_emcrowd(labels, Path(tmp) / "fit")
            proto = run_prototype(labels, proto_out)
            ratio = ours["seconds"] / proto["seconds"]
            ratios.append(ratio)
            print(
                f"{r + 1:>3} {ours['seconds']:>10.2f} {ours['process']:>6.1f} {ours['iterations']:>6} "
                f"{np.mean(ours['labels'] == truth):>9.4f} {proto['seconds']:>12.2f} {proto['cpu']:>9.2f} "
                f"{proto['process']:>6.1f} {proto['iterations']:>6} "
                f"{np.mean(proto['labels'] == truth):>9.4f} {ratio:>6.2f}",
                flush=True,
            )
        print(f"emcrowd / prototype (fit seconds): median {np.median(ratios):.2f} (goal <= 0.5)")


if __name__ == "__main__":
    main()
