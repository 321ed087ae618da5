"""The Dask engine at scale (``make bench-dask``): labels generated straight into an item-partitioned
data set, fitted on a local cluster of two worker processes.

1. **Overhead** (``--labels 10M``, the default): GLAD and Dawid-Skene on 10M binary labels (2M items
   x 20k annotators x 5), in memory (the compiled engine, all cores) and on a LocalCluster of two
   single-threaded workers (the same two cores), alternated for ``--repeat`` rounds (3) on one
   cluster whose partitions are loaded once; Dawid-Skene also with the Dask engine's plain loop (one
   round trip through the driver per iteration) beside its pipelined one. Targets: the Dask fit at
   most 1.5x the in-memory fit for GLAD, 1.3x for Dawid-Skene (issue 28).
2. **Scale** (``--labels 100M``): 100M binary labels (20M items x 200k annotators x 5) on two workers
   with a memory limit per worker (``--memory-limit``, 3 GB by default) well below what the in-memory
   engine needs for them (about 9 GB: 0.9 GB per 10M labels); wall time (the cluster's start, the
   partitions' load and the fit), each worker's peak memory and what Dask spilled to disk.

The generator writes one partition at a time (a block of consecutive item codes: ``hashing`` =
"block" in the manifest), so generating needs memory for one partition only. Nothing is asserted:
the printed table is the result.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def generate(
    out: Path, n_items: int, n_workers: int, per_item: int, n_partitions: int, seed: int = 0
) -> None:
    """GLAD-simulated binary labels written partition by partition (bounded memory)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from emcrowd.io.partition import write_dataset_parts

    rng = np.random.default_rng(seed)
    alpha = rng.normal(1.0, 1.0, n_workers)
    bounds = np.linspace(0, n_items, n_partitions + 1).astype(np.int64)

    def parts():
        for p in range(n_partitions):
            prng = np.random.default_rng([seed, p])
            items = np.arange(bounds[p], bounds[p + 1], dtype=np.int32)
            n = items.size
            truth = prng.integers(0, 2, n)
            beta = np.exp(prng.normal(0.0, 0.5, n))
            item = np.repeat(items, per_item)
            worker = prng.integers(0, n_workers, n * per_item).astype(np.int32)
            right = prng.random(n * per_item) < 1.0 / (
                1.0 + np.exp(-alpha[worker] * np.repeat(beta, per_item))
            )
            t = np.repeat(truth, per_item)
            label = np.where(right, t, 1 - t).astype(np.int32)
            yield items, item, worker, label

    def names(n: int, prefix: str):
        return pc.binary_join_element_wise(prefix, pc.cast(pa.array(np.arange(n)), pa.string()), "")

    write_dataset_parts(
        out, parts(), item_names=names(n_items, "i"), worker_names=names(n_workers, "w"),
        class_names=("0", "1"), n_items=n_items, n_workers=n_workers, n_partitions=n_partitions,
        hashing="block",
    )  # fmt: skip


def in_memory_labels(path: Path):
    """The data set as one :class:`Labels` (for the in-memory fit)."""
    from emcrowd.data import Labels
    from emcrowd.io.partition import open_dataset, read_partition

    ds = open_dataset(path)
    arrays = [read_partition(*f)[1:] for f in ds.partition_files()]
    item, worker, label = (np.concatenate([a[i] for a in arrays]) for i in range(3))
    blank = ""
    return Labels(item, worker, label, (blank,) * ds.n_items, (blank,) * ds.n_workers, ds.class_names)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_peak_mb() -> float:
    """This process's own peak resident memory (MiB): Linux's VmHWM, which starts afresh with the
    process's program. (``ru_maxrss`` does not: a worker spawned by a driver that has just fitted in
    memory would report the driver's peak.)"""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _peak_mb()


def _spilled_mb(dask_worker) -> float:
    """Megabytes this worker has written to its spill directory."""
    metrics = getattr(dask_worker.data, "cumulative_metrics", {})
    return metrics.get(("disk-write", "bytes"), 0.0) / 2**20


def _open_cluster(path: Path, n_workers: int, memory_limit: str | None):
    """A local cluster with the data set's partitions loaded: (cluster, client, Cluster, load s)."""
    import distributed

    from emcrowd.distributed import Cluster
    from emcrowd.distributed.engine import local_cluster
    from emcrowd.io.partition import open_dataset

    cluster = local_cluster(n_workers, memory_limit)
    client = distributed.Client(cluster)
    start = time.perf_counter()
    c = Cluster(client, open_dataset(path))
    return cluster, client, c, time.perf_counter() - start


#: The task whose runs are a Dawid-Skene iteration's passes (one per partition).
E_STEP = "confusion_e_step"


def _fit_on(c, method: str, pipeline: bool = True) -> dict:
    """One Dask fit on loaded partitions; ``pipeline=False``: the plain loop (one driver round trip
    per iteration), for the confusion-matrix models. For Dawid-Skene, ``gap`` is the median time in
    ms from the end of an iteration's last E-step to the start of the next one's first (the
    cluster's idle time between passes, from the scheduler's task stream)."""
    from distributed import get_task_stream

    from emcrowd.distributed import DASK_MODELS

    model = DASK_MODELS[method]()
    if not pipeline:
        model.pipeline = False
    watch = method == "dawid_skene"
    with get_task_stream(c.client) if watch else contextlib.nullcontext() as stream:
        start = time.perf_counter()
        model.fit_cluster(c)
        fit = time.perf_counter() - start
    gap = _iteration_gap(stream.data, c.dataset.n_partitions) if watch else None
    return {"fit": fit, "iters": model.n_iter_, "labels": model.labels_, "history": model.history_,
            "gap": gap}  # fmt: skip


def _iteration_gap(tasks: list[dict], n_partitions: int) -> float:
    """The median gap (ms) between consecutive iterations' E-steps (``n_partitions`` per iteration,
    in start order)."""
    spans = sorted(
        (min(s["start"] for s in t["startstops"] if s["action"] == "compute"),
         max(s["stop"] for s in t["startstops"] if s["action"] == "compute"))
        for t in tasks
        if str(t["key"]).startswith(E_STEP) and any(s["action"] == "compute" for s in t["startstops"])
    )  # fmt: skip
    its = [spans[i : i + n_partitions] for i in range(0, len(spans) - n_partitions + 1, n_partitions)]
    gaps = [min(s for s, _ in b) - max(e for _, e in a) for a, b in itertools.pairwise(its)]
    return float(np.median(gaps)) * 1000 if gaps else float("nan")


def dask_fit(path: Path, method: str, n_workers: int, memory_limit: str | None) -> dict:
    began = time.perf_counter()
    cluster, client, c, load = _open_cluster(path, n_workers, memory_limit)
    try:
        d = _fit_on(c, method)
        done = time.perf_counter()
        peaks = client.run(_worker_peak_mb)
        spilled = sum(client.run(_spilled_mb).values())
    finally:
        client.close()
        cluster.close()
    return {**d, "wall": done - began, "load": load, "peaks": sorted(peaks.values()), "spilled": spilled}


def memory_fit(path: Path, method: str, data=None, warm: bool = True) -> dict:
    from emcrowd.models.classification.dawid_skene import DawidSkene
    from emcrowd.models.classification.glad import GLAD

    data = in_memory_labels(path) if data is None else data
    model = {"glad": GLAD, "dawid_skene": DawidSkene}[method](engine="numba")
    if warm:
        model.fit(data)  # the first fit also compiles nothing (cached), but warms the caches
    start = time.perf_counter()
    model.fit(data)
    return {"fit": time.perf_counter() - start, "iters": model.n_iter_, "labels": model.labels_,
            "history": model.history_}  # fmt: skip


def _agreement(mem: dict, d: dict) -> tuple[str, str]:
    """(same labels, max relative difference of the objective's history)."""
    same = str(bool(np.array_equal(d["labels"], mem["labels"])))
    h1, h2 = np.asarray(mem["history"]), np.asarray(d["history"])
    n = min(h1.size, h2.size)
    return same, f"{np.max(np.abs(h1[:n] - h2[:n]) / np.abs(h1[:n])):.1e}"


def overhead(path: Path, methods: list[str], repeat: int) -> None:
    """The Dask engine's overhead: for each method, ``repeat`` rounds of an in-memory fit, a Dask fit
    (pipelined loop) and, for Dawid-Skene, a Dask fit with the plain loop, alternated, on one cluster
    whose partitions are loaded once (the in-memory fit runs while the workers wait)."""
    data = in_memory_labels(path)
    cluster, client, c, load = _open_cluster(path, 2, None)
    try:
        print(f"local cluster of 2 single-threaded workers; partitions loaded in {load:.2f} s; "
              f"in memory: the compiled engine on 2 threads; {repeat} rounds, alternated; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
        print(f"{'method':<12} {'round':>5} {'in-memory s':>11} {'dask s':>7} {'x in-memory':>11} "
              f"{'plain loop s':>12} {'x in-memory':>11} {'gap ms':>6} {'plain gap':>9} {'iters':>5} "
              f"{'same labels':>11} {'max rel diff':>12}")  # fmt: skip
        for method in methods:
            _fit_on(c, method)  # warm the workers (their kernels' first calls)
            ratios, plain_ratios, gaps = [], [], []
            for r in range(repeat):
                mem = memory_fit(path, method, data, warm=r == 0)
                d = _fit_on(c, method)
                p = _fit_on(c, method, pipeline=False) if method != "glad" else None
                ratios.append(d["fit"] / mem["fit"])
                same, diff = _agreement(mem, d)
                plain = ratio = gap = plain_gap = ""
                if p is not None:
                    plain_ratios.append(p["fit"] / mem["fit"])
                    plain, ratio = f"{p['fit']:.2f}", f"{plain_ratios[-1]:.2f}"
                    gap, plain_gap = f"{d['gap']:.0f}", f"{p['gap']:.0f}"
                    gaps.append((d["gap"], p["gap"]))
                print(f"{method:<12} {r + 1:>5} {mem['fit']:11.2f} {d['fit']:7.2f} {ratios[-1]:11.2f} "
                      f"{plain:>12} {ratio:>11} {gap:>6} {plain_gap:>9} {d['iters']:5d} {same:>11} "
                      f"{diff:>12}")  # fmt: skip
            line = f"{method:<12} {'median':>5} {'':>11} {'':>7} {np.median(ratios):11.2f}"
            if plain_ratios:
                g = np.median(np.array(gaps), axis=0)
                line += f" {'':>12} {np.median(plain_ratios):11.2f} {g[0]:6.0f} {g[1]:9.0f}"
            print(line + f"   (load average {os.getloadavg()[0]:.1f})")
    finally:
        client.close()
        cluster.close()


SIZES = {"10M": (2_000_000, 20_000, 5), "100M": (20_000_000, 200_000, 5), "1M": (200_000, 2_000, 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", choices=sorted(SIZES), default="10M")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--methods", default="glad,dawid_skene")
    parser.add_argument(
        "--memory-limit", default=None, help="per worker, e.g. 3GB (default: none at 10M, 3GB at 100M)"
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the in-memory fit (at 100M: too large)"
    )
    parser.add_argument(
        "--dir", default=None, help="where to write the data set (default: a temporary directory)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of in-memory and Dask fits, alternated (with the "
        "in-memory fit)",
    )  # fmt: skip
    args = parser.parse_args()
    n_items, n_workers, per_item = SIZES[args.labels]
    root = Path(tempfile.mkdtemp(prefix="emcrowd-dask-", dir=args.dir))
    limit = args.memory_limit or ("3GB" if args.labels == "100M" else None)
    try:
        path = root / "data"
        start = time.perf_counter()
        generate(path, n_items, n_workers, per_item, args.partitions)
        gen = time.perf_counter() - start
        print(f"{args.labels} labels ({n_items:,} items x {n_workers:,} annotators x {per_item}), "
              f"{args.partitions} partitions: generated and written in {gen:.1f} s "
              f"(generator peak {_peak_mb():.0f} MB)")  # fmt: skip
        if not args.no_memory:
            overhead(path, args.methods.split(","), args.repeat)
            return
        print(f"{'method':<12} {'engine':<22} {'wall s':>7} {'load s':>7} {'fit s':>7} {'iters':>5} "
              f"{'peak MB/worker':>16} {'spilled MB':>10}")  # fmt: skip
        for method in args.methods.split(","):
            d = dask_fit(path, method, 2, limit)
            peaks = "/".join(f"{p:.0f}" for p in d["peaks"])
            name = f"dask 2x1 {'limit ' + limit if limit else 'no limit'}"
            print(f"{method:<12} {name:<22} {d['wall']:7.2f} {d['load']:7.2f} {d['fit']:7.2f} "
                  f"{d['iters']:5d} {peaks:>16} {d['spilled']:10.0f}")  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
