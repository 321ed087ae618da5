"""Memory budgets: what a load or a fit will need, estimated from declared sizes and checked against a
limit *before* anything is allocated, so that a small file cannot take all the memory.

The limit is ``--max-memory`` (:func:`set_limit`), else the environment variable ``EMCROWD_MAX_MEMORY``,
else the memory this process can still get: the machine's available memory (``MemAvailable``), the
address-space and data limits (``ulimit -v``) less what the process already holds, and a cgroup's
limit. Without an explicit limit a fit may also use at most :data:`FIT_FLOOR` plus
:data:`FIT_PER_LABEL` bytes per label: a model whose state dwarfs its data (Dawid-Skene with 500
classes on 500 labels: 500 x 500^2 confusion cells, 8 GB) is refused rather than left to run for
minutes. Standard library only.
"""

from __future__ import annotations

import os
import re

from emcrowd.errors import EmcrowdError

ENV = "EMCROWD_MAX_MEMORY"
#: A fit's default limit is at most this, plus :data:`FIT_PER_LABEL` bytes per label.
FIT_FLOOR = 2 << 30
FIT_PER_LABEL = 100_000
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_explicit: dict[str, int | None] = {"limit": None}


class BudgetError(EmcrowdError):
    """Something would need more memory than the limit (exit status 2, like every user error)."""


def parse_size(text: str, what: str = "--max-memory") -> int:
    """Bytes from ``4G``, ``500M``, ``1.5GiB``, ``2048`` (binary units: K = 1024)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
    if match is None or float(match.group(1)) <= 0:
        raise BudgetError(f"{what} expects a positive size such as 4G or 500M, got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def format_size(n: float) -> str:
    """``8.0 GiB``, ``500.0 MiB``, ``12 B``."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{int(n)} B"


def set_limit(value: int | str | None) -> None:
    """Set (or, with None, clear) the explicit limit, as ``--max-memory`` does."""
    _explicit["limit"] = None if value is None else value if isinstance(value, int) else parse_size(value)


def explicit_limit() -> int | None:
    """The limit set by :func:`set_limit` or ``EMCROWD_MAX_MEMORY``, or None."""
    if _explicit["limit"] is not None:
        return _explicit["limit"]
    text = os.environ.get(ENV, "").strip()
    return parse_size(text, ENV) if text else None


def _proc_kb(path: str, key: str) -> int | None:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_int(path: str) -> int | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
        return int(text)
    except (OSError, ValueError):
        return None


def available_memory() -> int:
    """Bytes this process can still allocate, as far as the system says (see the module's text)."""
    candidates = []
    available = _proc_kb("/proc/meminfo", "MemAvailable")
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = None
    if available is not None:
        candidates.append(available)
    try:
        import resource

        for rlimit, held in ((resource.RLIMIT_AS, "VmSize"), (resource.RLIMIT_DATA, "VmData")):
            soft = resource.getrlimit(rlimit)[0]
            if soft != resource.RLIM_INFINITY and soft > 0:
                candidates.append(max(0, soft - (_proc_kb("/proc/self/status", held) or 0)))
    except ImportError:  # not on Windows
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        value = _read_int(path)
        if value is not None and value < (1 << 60):
            candidates.append(value)
    return min(candidates) if candidates else 1 << 62


def limit(n_labels: int | None = None) -> int:
    """The memory limit in bytes; for a fit on ``n_labels`` labels, see the module's text."""
    explicit = explicit_limit()
    if explicit is not None:
        return explicit
    free = available_memory()
    if n_labels is not None:
        free = min(free, FIT_FLOOR + FIT_PER_LABEL * n_labels)
    return free


def check(need: int, what: str, n_labels: int | None = None) -> None:
    """Raise :class:`BudgetError` when ``need`` bytes exceed the limit; ``what`` starts the message
    (for instance ``"x.npz: array 'item'"``)."""
    cap = limit(n_labels)
    if need > cap:
        if explicit_limit() is not None:
            why = "the limit set by --max-memory / EMCROWD_MAX_MEMORY"
        elif n_labels is not None and cap < available_memory():
            why = f"the limit for {n_labels:,} labels (raise it with --max-memory)"
        else:
            why = "the memory available (--max-memory sets the limit)"
        raise BudgetError(f"{what} needs {format_size(need)}, more than {format_size(cap)}, {why}")


#: Working copies of each kind of array a fit keeps at once (measured: GLAD ~7 of items x classes,
#: Dawid-Skene ~4-8 of its confusion matrices, Bayesian DS ~16).
_POSTERIOR_COPIES = 8
_CONFUSION_COPIES = {"dawid_skene": 8, "bayesian_ds": 16, "ebcc": 16, "mace": 2, "ordinal_ds": 8}


def fit_bytes(
    method: str, n_items: int, n_workers: int, n_classes: int, n_labels: int, n_subtypes: int = 10
) -> int:
    """Estimated peak bytes of one fit (Python ints: no overflow, whatever the sizes)."""
    rows = n_classes * n_subtypes if method == "ebcc" else n_classes
    need = 64 * n_labels + 3 * 8 * n_items * n_classes  # the labels, their groups; majority vote
    if method != "majority":
        need += _POSTERIOR_COPIES * 8 * n_items * rows
        need += _CONFUSION_COPIES.get(method, 0) * 8 * n_workers * n_classes * rows
    return need


def check_fit(data, methods, options: dict | None = None) -> None:
    """Refuse, before fitting, a method on ``data`` (a :class:`~emcrowd.data.Labels`) whose estimated
    memory exceeds the limit; ``auto`` counts as its most demanding candidate."""
    options = options or {}
    for method in methods:
        names = ("glad", "dawid_skene", "one_coin", "mace", "bayesian_ds") if method == "auto" else (method,)
        for name in names:
            need = fit_bytes(
                name, data.n_items, data.n_workers, data.n_classes, data.n_labels,
                int(options.get("n_subtypes", 10)),
            )  # fmt: skip
            shape = f"{data.n_items:,} items, {data.n_workers:,} annotators, {data.n_classes:,} classes"
            check(need, f"{name.replace('_', '-')} on {shape}", data.n_labels)


#: Bytes per row of ``confusion.csv`` while it is made and written: the annotators' K x K matrices and
#: their working copies, and the table's four columns (codes and probabilities, 8 bytes each).
CONFUSION_ROW_BYTES = 64
#: Bytes per (item, class) cell of the posteriors and items tables while they are made and written.
POSTERIOR_CELL_BYTES = 32


def output_bytes(n_items: int, n_workers: int, n_classes: int) -> int:
    """Estimated peak bytes of a fit's output tables: ``confusion.csv`` has annotators x classes^2 rows
    whatever the method (majority vote's too), ``posteriors.csv`` items x classes cells."""
    return CONFUSION_ROW_BYTES * n_workers * n_classes**2 + POSTERIOR_CELL_BYTES * n_items * n_classes


def check_outputs(data) -> None:
    """Refuse, before fitting, a fit whose output tables would not fit in the memory limit (a
    :class:`~emcrowd.data.Labels`: 500 labels of 500 annotators in 500 classes make 125 million rows of
    ``confusion.csv``)."""
    need = output_bytes(data.n_items, data.n_workers, data.n_classes)
    rows = data.n_workers * data.n_classes**2
    check(need, f"writing confusion.csv ({rows:,} rows: {data.n_workers:,} annotators x "
                f"{data.n_classes:,}^2 classes)", data.n_labels)  # fmt: skip
