"""Everything meant for people: rich tables and messages, always on stderr so stdout stays clean.

The functions here only present results computed elsewhere; they compute nothing of substance.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape as _markup_escape
from rich.table import Table
from rich.text import Text

from emcrowd._terminal import escape as visible  # control characters shown escaped


def escape(text: str) -> str:
    """Untrusted text for a rich cell or line: control characters shown as ``\\xNN``, markup escaped."""
    return _markup_escape(visible(text))


if TYPE_CHECKING:
    from emcrowd.analysis.aggregate import Aggregation
    from emcrowd.data import Labels
    from emcrowd.io import Loaded

#: More distinct labels than this suggests the wrong file (ids read as labels, say).
MANY_CLASSES = 20
METHOD_TITLES = {
    "majority": "majority vote",
    "glad": "GLAD",
    "dawid_skene": "Dawid-Skene",
    "one_coin": "one-coin",
    "mace": "MACE",
    "bayesian_ds": "Bayesian DS",
    "ebcc": "EBCC",
    "ordinal_ds": "ordinal DS",
    "auto": "auto",
}


def selection_summary(selection: dict[str, Any], aside: str = "") -> str:
    """What ``auto`` chose and why, and every candidate's held-out score, in two lines."""
    scores = ", ".join(
        f"{METHOD_TITLES.get(m, m)} {c['score']:.4f}" + (f" (SE {c['se']:.4f})" if c["se"] else "")
        for m, c in selection["scores"].items()
        if c["score"] is not None
    )
    chosen = METHOD_TITLES.get(selection["chosen"], selection["chosen"])
    first = f"auto {aside}chose {chosen}: {selection['reason']}."
    if not scores:
        return first
    folds, scored = selection["n_folds"], selection.get("n_folds_scored", selection["n_folds"])
    held = f"{folds} folds" if scored == folds else f"{scored} of {folds} folds held out"
    where = f"{held}, {selection['n_labels']:,} labels of {selection['n_items']:,} items"
    return f"{first}\nHeld-out log-likelihood per label ({where}): {scores}"


def objective_name(model: Any) -> str:
    """What a model's objective is: the log posterior (MAP-EM) or the evidence lower bound (VB)."""
    from emcrowd.models.classification.bayesian import VariationalAggregator

    return "evidence lower bound" if isinstance(model, VariationalAggregator) else "log posterior"


def method_title(name: str, chosen: str | None = None) -> str:
    """How a method is named in tables; ``auto`` with the method it chose."""
    title = METHOD_TITLES.get(name, name)
    if chosen is not None:
        title += f" → {METHOD_TITLES.get(chosen, chosen)}"
    return title


@lru_cache(maxsize=1)
def console() -> Console:
    """The stderr console (created on first use, so that tests can capture stderr)."""
    # Not a terminal (a log, a pipe): wide enough that the tables' numbers are never cut to "…".
    probe = Console(stderr=True)
    return Console(stderr=True, highlight=False, width=None if probe.is_terminal else 160)


def _soft_wrap() -> bool:
    """Prose on a terminal is wrapped at word boundaries to its width; in a log (not a terminal) each
    message stays one line."""
    return not console().is_terminal


def error(message: str) -> None:
    """One message, for a user error (one line in a log); the caller exits with status 2."""
    console().print(Text(f"emcrowd: error: {visible(message)}", style="bold red"), soft_wrap=_soft_wrap())


def warning(message: str) -> None:
    console().print(Text(f"emcrowd: warning: {visible(message)}", style="yellow"), soft_wrap=_soft_wrap())


def note(message: str) -> None:
    console().print(Text(visible(message, keep_newlines=True)), soft_wrap=_soft_wrap())


def print_fitting(layouts: Sequence[Callable[[], Any]], fallback: Callable[[], Sequence[str]]) -> None:
    """Print the first of ``layouts`` (functions making a table, widest first) whose natural width fits
    the console, so that no cell is ever cut; when none fits, the ``fallback`` lines (prose, wrapped at
    word boundaries)."""
    out = console()
    unlimited = out.options.update_width(1_000_000)  # a table's natural width, not clamped to the console
    for make in layouts:
        table = make()
        if out.measure(table, options=unlimited).maximum <= out.width:
            out.print(table)
            return
    for line in fallback():
        note(line)


@contextmanager
def fit_progress(enabled: bool, label: str = "EM") -> Iterator[Callable[[int, float], None] | None]:
    """An iteration callback that shows iteration, objective and its change on stderr, for fits that
    run longer than a second, and only when stderr is a terminal; None (no display) otherwise. Its
    ``method(name)`` attribute names the method whose iterations follow ("GLAD: iteration 7")."""
    if not enabled or not console().is_terminal:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn

    start = time.perf_counter()
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console(), transient=True)
    state: dict[str, Any] = {"task": None, "previous": None, "label": label}

    def method(name: str) -> None:
        """The next iterations are method ``name``'s (compare runs several)."""
        state["label"], state["previous"] = METHOD_TITLES.get(name, name), None
        if state["task"] is not None:
            progress.update(state["task"], description=f"{state['label']}: starting")

    def callback(n_iter: int, objective: float) -> None:
        previous, state["previous"] = state["previous"], objective
        if state["task"] is None:
            if time.perf_counter() - start < 1.0:
                return
            progress.start()
            state["task"] = progress.add_task("")
        change = "" if previous is None else f", change {abs(objective - previous) / abs(previous):.1e}"
        description = f"{state['label']}: iteration {n_iter}, objective {objective:,.2f}{change}"
        if len(description) > console().width - 3:  # the spinner and a space: never cut the line
            description = f"{state['label']}: iteration {n_iter}"
        progress.update(state["task"], description=description)

    callback.method = method  # type: ignore[attr-defined]
    try:
        yield callback
    finally:
        if state["task"] is not None:
            progress.stop()


class _Ticker:
    """A progress line for long reads and writes (bytes or rows), on stderr: shown only on a terminal
    and only once the work has taken a second; it goes away when the work is done."""

    def __init__(self, description: str, unit: str, total: int | None = None) -> None:
        self.description, self.unit, self.total = description, unit, total
        self.start = time.perf_counter()
        self.progress: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int | None = None) -> None:
        total = total if total is not None else self.total
        if self.progress is None:
            if time.perf_counter() - self.start < 1.0 or (total is not None and done >= total):
                return
            from rich.progress import BarColumn, Progress, TextColumn

            columns = [TextColumn("{task.description}")]
            if total:
                columns.append(BarColumn())
            columns.append(TextColumn("{task.fields[amount]}"))
            self.progress = Progress(*columns, console=console(), transient=True)
            self.progress.start()
            self.task = self.progress.add_task(self.description, total=total, amount="")
        amount = _amount(done, self.unit) + ("" if not total else f" of {_amount(total, self.unit)}")
        self.progress.update(self.task, completed=done, total=total, amount=amount)
        if total is not None and done >= total:
            self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _amount(n: int, unit: str) -> str:
    if unit == "bytes":
        return f"{n / 2**20:,.0f} MB"
    return f"{n:,} {unit}"


@contextmanager
def read_progress(enabled: bool, source: Any) -> Iterator[Callable[[int, int | None], None] | None]:
    """A callback for the readers (bytes read so far, total bytes), or None when not on a terminal."""
    if not enabled or not console().is_terminal:
        yield None
        return
    ticker = _Ticker(f"Reading {source}", "bytes")
    try:
        yield ticker
    finally:
        ticker.close()


def write_progress(name: str, table: Any, enabled: bool) -> Callable[[int], None] | None:
    """A callback for writing the output table ``name`` (rows written so far), or None when not on a
    terminal."""
    if not enabled or not console().is_terminal:
        return None
    n_rows = len(next(iter(table.values()))) if table else 0
    return _Ticker(f"Writing {name}", "rows", n_rows)


def data_summary(loaded: Loaded) -> None:
    """What was read: a short table of sizes, classes, labels per item and worker, and what was skipped."""
    data, src = loaded.labels, loaded.report
    d = data.describe()
    out = console()
    columns = ""
    if src.format == "long":
        columns = " (columns " + ", ".join(f"{role}={escape(col)}" for role, col in src.columns.items()) + ")"
    out.print(
        f"Read {escape(src.source)}: {src.format} format{columns} [{src.seconds:.2f}s]",
        soft_wrap=_soft_wrap(),
    )
    for text in getattr(src, "notes", ()):  # what the reader recognised (a platform's export, an id column)
        out.print(f"  {escape(text)}", soft_wrap=_soft_wrap())
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("items", f"{d['n_items']:,}")
    table.add_row("annotators", f"{d['n_workers']:,}")
    table.add_row("labels", f"{d['n_labels']:,} ({d['density']:.2%} of items x annotators)")
    shown = list(d["classes"].items())[:12]
    more = f", … ({d['n_classes']} classes)" if d["n_classes"] > len(shown) else ""
    table.add_row("classes", escape(", ".join(f"{name} ({n:,})" for name, n in shown) + more))
    for who in ("item", "worker"):
        spread = d[f"labels_per_{who}"]
        table.add_row(
            f"labels per {'annotator' if who == 'worker' else who}",
            f"min {spread['min']:,}, median {spread['median']:g}, max {spread['max']:,}",
        )
    table.add_row("items with one label", f"{d['items_with_one_label']:,}")
    table.add_row("annotators with one label", f"{d['workers_with_one_label']:,}")
    if d["items_without_labels"]:
        table.add_row("items without labels", f"{d['items_without_labels']:,}")
    if src.format == "long":
        table.add_row("missing answers (skipped)", f"{src.n_missing:,}")
        dup = f"{src.n_duplicate_pairs:,} pairs ({src.n_duplicate_rows:,} extra labels"
        dup += f", {src.n_conflicting_pairs:,} conflicting); policy: {src.duplicates}"
        if src.n_dropped:
            dup += f", {src.n_dropped:,} labels dropped"
        table.add_row("repeated item-annotator pairs", dup)
    out.print(table)
    load_warnings(loaded)


def load_warnings(loaded: Loaded) -> None:
    """Warnings about the input that are worth seeing even with --quiet."""
    data, src = loaded.labels, loaded.report
    if data.n_classes > MANY_CLASSES:
        warning(
            f"{src.source} has {data.n_classes} distinct label values; a label matrix usually has a few "
            "classes. Is this the right file (or the right --label-col)?"
        )
        from emcrowd.io._numeric import numeric_hint

        hint = numeric_hint(data)
        if hint is not None:
            warning(f"{src.source}: {hint}")
    for text in getattr(src, "warnings", ()):
        warning(f"{src.source}: {text}")


def fit_summary(
    data: Labels,
    result: Aggregation,
    out_dir: Path | None,
    files: Sequence[Path],
    *,
    replaced: bool = False,
    quiet: bool = False,
    ties: str = "lowest",
    phases: dict[str, float] | None = None,
) -> None:
    """Iterations, convergence, the most and least reliable annotators, and where the files went
    (``out_dir`` None: the results went to stdout). With ``quiet``, only the warnings."""
    out = console()
    for message in result.warnings:
        warning(message)
    if quiet:
        return
    if result.selection is not None:
        note(selection_summary(result.selection.to_dict()))
    if result.model is not None:
        status = "[green]converged[/]" if result.converged else "[yellow]did not converge[/]"
        title = METHOD_TITLES.get(result.fitted_method, result.fitted_method)
        out.print(
            f"{title}: {result.n_iter} iterations, {status}, "
            f"{objective_name(result.model)} {result.history[-1]:,.4f} ({result.fit_seconds:.2f}s)"
        )
        model = result.model
        extras = []
        if model.n_gold_:
            extras.append(f"{model.n_gold_:,} gold items clamped")
        if len(model.init_objectives_) > 1:
            spread = max(model.init_objectives_) - min(model.init_objectives_)
            extras.append(
                f"best of {len(model.init_objectives_)} starts (start {model.best_init_}; "
                f"objectives differ by up to {spread:.3g})"
            )
        if model.learn_class_prior:
            prior = ", ".join(
                f"{n} {p:.3f}" for n, p in zip(data.class_names, model.class_prior_, strict=True)
            )
            extras.append(f"learned class prior: {prior}")
        if extras:
            note("; ".join(extras))
        _reliability(data, result)
        histogram = accuracy_histogram(data, result.model)
        if histogram:
            note(histogram)
    changed = int((result.labels != result.majority.labels).sum())
    n_ties = result.majority.n_ties - result.majority.n_unlabeled  # items without labels: said below
    broken = "towards the lowest class" if ties == "lowest" else "at random (seeded)"
    if data.ordered:  # the median grade: a tie is an even count whose two middle labels differ
        broken = "to the lower middle grade" if ties == "lowest" else "to a middle grade at random"
    tied = f" ({n_ties:,} majority tie{'s' if n_ties != 1 else ''}, broken {broken})" if n_ties > 0 else ""
    note(f"{changed:,} of {data.n_items:,} items differ from majority vote{tied}.")
    if result.majority.n_unlabeled:
        n = result.majority.n_unlabeled
        warning(f"{n:,} item{'s have' if n != 1 else ' has'} no labels; the posterior is the class prior")
    took = ""
    if phases:
        took = " (" + ", ".join(f"{phase} {seconds:.2f}s" for phase, seconds in phases.items()) + ")"
    if out_dir is not None:
        again = " (replacing the earlier results there)" if replaced else ""
        note(f"Wrote {', '.join(f.name for f in files)} to {out_dir}{again}{took}")
    elif took:
        note(f"Wrote the labels to standard output{took}")


#: Eighths of a block, for one-line histograms.
_BARS = " ▁▂▃▄▅▆▇█"


def accuracy_histogram(data: Labels, model: Any, n_bins: int = 10) -> str | None:
    """One line: how the annotators' estimated accuracies (:func:`~.quality.estimated_accuracy`)
    spread over 0-1, as a bar per tenth; None when the model has no annotator parameters."""
    import numpy as np

    from emcrowd.analysis.quality import estimated_accuracy
    from emcrowd.errors import EmcrowdError

    try:
        accuracy = estimated_accuracy(data, model)
    except EmcrowdError:
        return None
    accuracy = accuracy[data.labels_per_worker() > 0]
    if accuracy.size == 0:
        return None
    counts = np.histogram(np.clip(accuracy, 0.0, 1.0), bins=n_bins, range=(0.0, 1.0))[0]
    bars = "".join(_BARS[0 if c == 0 else max(1, round(8 * c / counts.max()))] for c in counts)
    below = int((accuracy < 1.0 / data.n_classes).sum())
    return (
        f"Annotators' estimated accuracy: 0 |{bars}| 1 ({accuracy.size:,} annotators, median "
        f"{np.median(accuracy):.2f}, {below:,} below chance)"
    )


def _reliability(data: Labels, result: Aggregation, n: int = 3) -> None:
    """The most and least reliable annotators: a table, or lines when their ids are too long for it."""
    import numpy as np

    from emcrowd.models.classification.glad import GLAD

    model = result.model
    name, score = ("alpha", model.alpha_) if isinstance(model, GLAD) else ("accuracy", model.accuracy_)
    chance = 0.0 if isinstance(model, GLAD) else 1.0 / data.n_classes
    if getattr(model, "competence_", None) is not None:  # MACE: the probability of not spamming
        name, score, chance = "competence", model.competence_, 0.0
    counts = data.labels_per_worker()
    order = np.argsort(-score, kind="stable")
    order = order[counts[order] > 0]  # an annotator without labels keeps the prior: not news
    shown = list(order[:n]) + [i for i in order[-n:] if i not in order[:n]]
    gap = len(order) > 2 * n
    rows = [
        (data.worker_names[i], f"{score[i]:+.3f}" if name == "alpha" else f"{score[i]:.3f}", f"{counts[i]:,}")
        for i in shown
    ]
    low = [score[i] < chance for i in shown]

    def table() -> Table:
        table = Table(title=f"Annotators by {name}", title_justify="left")
        table.add_column("annotator", no_wrap=True)
        table.add_column(name, justify="right", no_wrap=True)
        table.add_column("labels", justify="right", no_wrap=True)
        for rank, (row, bad) in enumerate(zip(rows, low, strict=True)):
            if rank == n and gap:
                table.add_row("…", "", "")
            table.add_row(escape(row[0]), *row[1:], style="red" if bad else None)
        return table

    def lines() -> list[str]:
        out = [f"Annotators by {name}:"]
        for rank, row in enumerate(rows):
            if rank == n and gap:
                out.append("  …")
            out.append(f"  {row[0]}: {name} {row[1]}, {row[2]} labels")
        return out

    print_fitting([table], lines)


#: compare's columns, most important first: narrower terminals drop them from the end of this list.
_COMPARE_COLUMNS = (
    "method",
    "accuracy",
    "correct",
    "95% CI",
    "macro-F1",
    "Brier",
    "log-loss",
    "iter",
    "seconds",
)
#: ... in the order the full table shows them.
_COMPARE_ORDER = (
    "method",
    "accuracy",
    "95% CI",
    "macro-F1",
    "Brier",
    "log-loss",
    "correct",
    "iter",
    "seconds",
)


def _compare_cells(name: str, entry: dict[str, Any]) -> dict[str, str]:
    iters = entry.get("n_iter")
    if iters is not None and not entry.get("converged", True):
        iters = f"{iters}*"
    lo, hi = entry["accuracy_ci"]
    return {
        "method": method_title(name, entry.get("chosen")),
        "accuracy": f"{entry['accuracy']:.4f}",
        "95% CI": f"{lo:.3f}–{hi:.3f}",
        "macro-F1": f"{entry['macro_f1']:.4f}",
        "Brier": f"{entry['brier']:.4f}",
        "log-loss": f"{entry['log_loss']:.3f}",
        "correct": f"{entry['correct']:,}/{entry['total']:,}",
        "iter": "" if iters is None else str(iters),
        "seconds": f"{entry['fit_seconds']:.3f}",
    }


def best_methods(report: dict[str, Any]) -> list[str]:
    """Every method with the best accuracy (several when tied)."""
    top = max(entry["accuracy"] for entry in report["methods"].values())
    return [name for name, entry in report["methods"].items() if entry["accuracy"] == top]


def _compare_layouts(report: dict[str, Any], title: str) -> tuple[list[Callable[[], Table]], Callable]:
    cells = {name: _compare_cells(name, entry) for name, entry in report["methods"].items()}
    best = set(best_methods(report))

    def layout(n_columns: int) -> Callable[[], Table]:
        kept = set(_COMPARE_COLUMNS[:n_columns])

        def make() -> Table:
            table = Table(title=escape(title), title_justify="left")
            columns = [c for c in _COMPARE_ORDER if c in kept]
            for column in columns:
                table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
            for name, row in cells.items():
                table.add_row(
                    *(escape(row[c]) for c in columns), style="bold green" if name in best else None
                )
            return table

        return make

    def blocks() -> list[str]:
        out = [title]
        for name, row in cells.items():
            mark = " (best)" if name in best else ""
            iters = f", {row['iter']} iterations" if row["iter"] else ""
            out.append(
                f"{row['method']}{mark}: accuracy {row['accuracy']} (95% CI {row['95% CI']}), "
                f"{row['correct']} correct, macro-F1 {row['macro-F1']}, Brier {row['Brier']}, "
                f"log-loss {row['log-loss']}{iters}, {row['seconds']} s"
            )
        return out

    return [layout(n) for n in range(len(_COMPARE_COLUMNS), 2, -1)], blocks


def compare_table(
    report: dict[str, Any], truth_path: Path | str, *, confusion: bool = False, quiet: bool = False
) -> None:
    """The side-by-side table, the verdict on the best EM method against majority vote, and notes
    (with ``quiet``, the tables and warnings only)."""
    out = console()
    title = f"Accuracy on {report['n_gold']:,} gold items ({truth_path})"
    layouts, blocks = _compare_layouts(report, title)
    print_fitting(layouts, blocks)
    compare_warnings(report)
    if not quiet:
        _compare_notes(report)
    if confusion:
        for name, entry in report["methods"].items():
            out.print(_confusion_table(METHOD_TITLES.get(name, name), report["classes"], entry["confusion"]))
    if report.get("disagreements"):
        _disagreements(report["disagreements"])
    if report.get("n_gold_given"):
        note(
            f"Note: {report['n_gold_given']:,} items given with --gold were clamped for the EM methods and "
            "are not scored; the accuracies above are on the other items only."
        )
    unscored = report["n_gold_unlabeled"] + report.get("n_gold_unknown_items", 0)
    if unscored:
        note(f"Note: {unscored:,} gold items have no crowd labels and were not scored.")


def grade_errors_line(report: dict[str, Any]) -> str:
    """compare's line for ordered grades: each method's mean absolute error and within-one accuracy."""
    parts = [
        f"{METHOD_TITLES.get(name, name)} {entry['mae']:.3f} ({entry['within_one']:.3f})"
        for name, entry in report["methods"].items()
        if "mae" in entry
    ]
    return "Mean absolute error in grades (share within one grade): " + ", ".join(parts) + "."


def _compare_notes(report: dict[str, Any]) -> None:
    """compare's prose: majority vote's ties, the best EM method against majority vote, auto's choice."""
    majority = report["methods"].get("majority")
    if majority is not None and majority["n_ties"]:
        rule = majority.get("options", {}).get("ties", "lowest")
        broken = "towards the lowest class" if rule == "lowest" else "at random (seeded)"
        if report.get("ordered"):  # the median grade: a tie is two different middle labels
            broken = "to the lower middle grade" if rule == "lowest" else "to a middle grade at random"
        note(
            f"Majority vote had {majority['n_ties']:,} tied items ({majority['n_ties_gold']:,} of them "
            f"scored), broken {broken}."
        )
    if report.get("ordered"):
        note(grade_errors_line(report))
    best = report.get("best_em")
    if best is not None:
        diff = report["vs_majority"][best]
        gain, (lo, hi) = diff["accuracy_gain"] * 100, (v * 100 for v in diff["gain_ci"])
        title = METHOD_TITLES.get(best, best)
        split = (
            f"It gets {diff['fixed']:,} items right that majority vote gets wrong, and {diff['broken']:,} "
            "the other way round."
        )
        if diff["significant"] is None:
            note(
                f"Only {report['n_gold']:,} gold items: too few to tell the methods apart (no claim below "
                f"{report.get('min_gold_items', 30)}). {title} against majority vote: {gain:+.2f} points. "
                f"{split}"
            )
        else:
            verdict = (
                "the interval excludes zero"
                if diff["significant"]
                else "the interval includes zero: no clear difference"
            )
            exact = (
                f", exact McNemar p = {diff['p_value']:.3g}" if diff.get("test") == "exact McNemar" else ""
            )
            note(
                f"Best EM method: {title}, {gain:+.2f} points against majority vote "
                f"(95% CI {lo:+.2f} to {hi:+.2f}{exact}; {verdict}). {split}"
            )
    auto = report["methods"].get("auto")
    if auto is not None and "selection" in auto:
        note(selection_summary(auto["selection"], "(chosen without the truth) "))


def _confusion_table(title: str, classes: Sequence[str], counts: Sequence[Sequence[int]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("truth \\ answer")
    for name in classes:
        table.add_column(escape(name), justify="right")
    for name, row in zip(classes, counts, strict=True):
        table.add_row(escape(name), *(f"{v:,}" for v in row))
    return table


def _disagreements(rows: Sequence[dict[str, Any]]) -> None:
    """Gold items where the EM method and majority vote disagree: a table whose item ids are never cut,
    or one line per item when the table does not fit."""
    em = next(k for k in rows[0] if k not in ("item", "truth", "majority", "majority_tie", "right"))
    title = f"Gold items where {METHOD_TITLES.get(em, em)} and majority vote disagree"
    cells = [
        (
            row["item"],
            row["truth"],
            row[em],
            row["majority"] + (" (tie)" if row["majority_tie"] else ""),
            METHOD_TITLES.get(row["right"], row["right"]),
        )
        for row in rows
    ]
    header = ("item", "truth", METHOD_TITLES.get(em, em), "majority vote", "right")

    def table() -> Table:
        table = Table(title=escape(title), title_justify="left")
        for column in header:
            table.add_column(column, no_wrap=True)
        for row in cells:
            table.add_row(*(escape(c) for c in row))
        return table

    def lines() -> list[str]:
        return [f"{title}:"] + [
            f"  item {c[0]}: truth {c[1]}, {header[2]} {c[2]}, majority vote {c[3]}; right: {c[4]}"
            for c in cells
        ]

    print_fitting([table], lines)


def compare_warnings(report: dict[str, Any]) -> None:
    """The methods' warnings (non-convergence, a likely sign flip), each naming its method."""
    for name, entry in report["methods"].items():
        for message in entry.get("warnings", []):
            warning(f"{METHOD_TITLES.get(name, name)}: {message}")


def simulate_summary(out_dir: Path, files: Sequence[Path], data: Labels, mv_accuracy: float) -> None:
    note(
        f"Simulated {data.n_items:,} items x {data.n_workers:,} annotators, {data.n_labels:,} labels "
        f"(majority vote accuracy {mv_accuracy:.4f}); wrote {', '.join(f.name for f in files)} "
        f"to {out_dir}"
    )
