"""One self-contained HTML page about a fit, to look at and to share: ``emcrowd report DIR``.

:func:`build_report` reads a fit's output directory (``summary.json``, ``items``, ``workers`` and
``confusion`` tables, as CSV or Parquet) and, optionally, a ``compare --json`` report, and returns the
page as text; :func:`write_report` writes it, all or nothing. The figures are drawn with matplotlib (the
optional extra ``report``: ``pip install 'emcrowd[report]'``; imported only here, with the Agg backend)
and embedded as base64 PNG, so the file works offline and can be mailed. Every figure is a
``<figure id="fig-...">`` (see :data:`FIGURES` and :data:`COMPARE_FIGURES`); the numbers shown beside
them are in elements with ids (``n-items``, ``n-flagged``, ``accuracy-<method>``...), read from the
same files.

Figures
-------
* ``fig-accuracy-vs-labels``: each annotator's estimated accuracy against its number of labels (log
  scale), flagged annotators (spammer, constant, below chance) in red: spammers stand out as a band
  near chance; the dashed line is chance, ``1 / K``.
* ``fig-confidence``: histogram of the confidence of each item's chosen label.
* ``fig-convergence``: the EM objective (ELBO for VB) at every iteration, from ``summary.json``.
* ``fig-confusions``: confusion matrices ``P(said | true)`` of the least reliable annotators (lowest
  estimated accuracy among those with enough labels to judge), from ``confusion.csv``.
* with a compare report, ``fig-calibration``: reliability diagram of each method on the gold items
  (mean confidence against accuracy per confidence bin); ``fig-method-accuracy``: each method's
  accuracy with its bootstrap interval.
"""

from __future__ import annotations

import base64
import html
import io as stdio
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from emcrowd.errors import EmcrowdError, InputError

FIGURES = ("fig-accuracy-vs-labels", "fig-confidence", "fig-convergence", "fig-confusions")
COMPARE_FIGURES = ("fig-calibration", "fig-method-accuracy")
#: How many of the least reliable annotators' confusion matrices are drawn.
N_CONFUSIONS = 6
#: Flagged annotators listed in the page's table.
N_LISTED = 20
_REVIEW = ("constant", "below_chance", "spammer")


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise EmcrowdError(
            "the HTML report needs matplotlib, which is not installed: pip install 'emcrowd[report]'"
        ) from None
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure


def _table_path(directory: Path, stem: str, required: bool = True) -> Path | None:
    for ext in ("csv", "parquet"):
        path = directory / f"{stem}.{ext}"
        if path.is_file():
            return path
    if required:
        raise InputError(
            directory, f"no {stem}.csv or {stem}.parquet: is this an `emcrowd fit` output directory?"
        )
    return None


def _read_table(path: Path, columns: dict[str, str], optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The named columns of an output table; ``columns`` maps a name to ``"str"`` or ``"float"``."""
    import pyarrow as pa

    types = {name: pa.string() if kind == "str" else pa.float64() for name, kind in columns.items()}
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            present = set(pq.read_schema(path).names)
            table = pq.read_table(path, columns=[c for c in columns if c in present])
        else:
            import pyarrow.csv as pcsv

            with pcsv.open_csv(path) as reader:  # the header (and the first block) only
                present = set(reader.schema.names)
            wanted = [c for c in columns if c in present]
            convert = pcsv.ConvertOptions(
                include_columns=wanted,
                column_types={c: types[c] for c in wanted},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            )
            table = pcsv.read_csv(path, convert_options=convert)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(path, f"cannot read the table ({str(exc).splitlines()[0]})") from None
    missing = [c for c in columns if c not in table.column_names and c not in optional]
    if missing:
        raise InputError(path, f"missing column {missing[0]!r}: written by another emcrowd version?")
    out = {}
    for name, kind in columns.items():
        if name not in table.column_names:
            continue
        column = table.column(name).cast(types[name])
        if kind == "float":
            out[name] = column.to_numpy(zero_copy_only=False).astype(float)
        else:
            out[name] = np.asarray(column.to_pylist(), dtype=object)
    return out


def load_fit(directory: str | os.PathLike) -> dict[str, Any]:
    """What the report shows of a fit's output directory, as plain arrays and the summary.

    Returns
    -------
    dict
        ``summary`` (summary.json), ``confidence`` (n_items,), ``workers`` (columns ``worker``,
        ``n_labels``, ``accuracy``, ``accuracy_low``, ``accuracy_high``, ``spammer_score``, ``flags``,
        and ``gold_accuracy``, ``n_gold`` when written), ``confusion`` (worker -> (K, K) array, or None
        without ``confusion.csv``).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(directory, "not a directory (give the output directory of `emcrowd fit`)")
    summary_path = directory / "summary.json"
    if not summary_path.exists():
        raise InputError(summary_path, "missing: is this an `emcrowd fit` output directory?")
    summary = _read_json_file(summary_path, "an emcrowd summary")
    _check_summary(summary_path, summary)
    items = _read_table(_table_path(directory, "items"), {"confidence": "float"})
    workers = _read_table(
        _table_path(directory, "workers"),
        {
            "worker": "str",
            "n_labels": "float",
            "accuracy": "float",
            "accuracy_low": "float",
            "accuracy_high": "float",
            "spammer_score": "float",
            "flags": "str",
            "gold_accuracy": "float",
            "n_gold": "float",
        },
        optional=("gold_accuracy", "n_gold", "accuracy_low", "accuracy_high"),
    )
    confusion = None
    path = _table_path(directory, "confusion", required=False)
    if path is not None:
        long = _read_table(path, {"worker": "str", "true": "str", "said": "str", "probability": "float"})
        k = len(summary["classes"])
        n = len(long["worker"])
        if n % (k * k):
            raise InputError(path, f"{n} rows is not a whole number of {k} x {k} matrices")
        cells = long["probability"].reshape(-1, k, k)
        confusion = dict(zip(long["worker"][:: k * k], cells, strict=True))
    return {"summary": summary, "confidence": items["confidence"], "workers": workers, "confusion": confusion}


def _is_number(value: Any, nullable: bool = False) -> bool:
    if value is None:
        return nullable
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_summary(path: Path, summary: Any) -> None:
    """The fields of ``summary.json`` the report reads, with their types (a hand-edited or truncated
    file is one line naming it, never an internal error)."""
    if not isinstance(summary, dict) or not isinstance(summary.get("classes"), list):
        raise InputError(path, "not an emcrowd summary (no list of classes)")
    classes = summary["classes"]
    if len(classes) < 1 or not all(isinstance(c, (str, int, float)) for c in classes):
        raise InputError(path, "'classes' must be a non-empty list of class names")
    objective = summary.get("objective")
    if objective is not None and (
        not isinstance(objective, list) or not all(_is_number(x, nullable=True) for x in objective)
    ):
        raise InputError(path, "'objective' must be a list of numbers (the objective at each iteration)")
    for key in ("method", "fitted_method"):
        if summary.get(key) is not None and not isinstance(summary[key], str):
            raise InputError(path, f"{key!r} must be a method name")
    for key in ("n_items", "n_workers", "n_labels", "n_iter"):
        if not _is_number(summary.get(key), nullable=True):
            raise InputError(path, f"{key!r} must be a number")


#: A ``compare --json`` report is a few kilobytes per method; anything much larger is not one.
COMPARE_MAX_BYTES = 64 << 20


def load_compare(path: str | os.PathLike) -> dict[str, Any]:
    """A ``compare --json`` report, checked for what the report draws."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    report = _read_json_file(path, "a `compare --json` report")
    methods = report.get("methods") if isinstance(report, dict) else None
    if not isinstance(methods, dict) or not methods:
        raise InputError(path, "not an `emcrowd compare --json` report (no methods)")
    for name, entry in methods.items():
        if not isinstance(entry, dict) or "accuracy" not in entry or "accuracy_ci" not in entry:
            raise InputError(path, f"method {name!r} has no accuracy and interval")
        ci = entry["accuracy_ci"]
        if not _is_number(entry["accuracy"]) or not (
            isinstance(ci, list) and len(ci) == 2 and all(_is_number(x, nullable=True) for x in ci)
        ):
            raise InputError(path, f"method {name!r}: accuracy must be a number and accuracy_ci two numbers")
        cal = entry.get("calibration")
        if cal is not None and not (
            isinstance(cal, dict)
            and isinstance(cal.get("confidence"), list)
            and isinstance(cal.get("accuracy"), list)
            and len(cal["confidence"]) == len(cal["accuracy"])
            and all(_is_number(x, nullable=True) for x in cal["confidence"] + cal["accuracy"])
            and _is_number(cal.get("ece"), nullable=True)
        ):
            raise InputError(path, f"method {name!r}: malformed calibration bins")
    if not isinstance(report.get("agreement"), (dict, type(None))):
        raise InputError(path, "'agreement' must be an object")
    return report


def _read_json_file(path: Path, what: str) -> Any:
    """A small JSON file (a summary, a comparison): a regular file of at most
    :data:`COMPARE_MAX_BYTES`, valid UTF-8 JSON; anything else is one line naming it."""
    try:
        if not path.is_file():
            raise InputError(path, f"is not a regular file (give {what})")
        with open(path, "rb") as fh:
            raw = fh.read(COMPARE_MAX_BYTES + 1)
        if len(raw) > COMPARE_MAX_BYTES:
            raise InputError(path, f"is larger than {COMPARE_MAX_BYTES >> 20} MB: not {what}")
        return json.loads(raw.decode("utf-8"))
    except InputError:
        raise
    except RecursionError:
        raise InputError(path, "cannot read it as JSON (nested too deeply)") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read it as JSON ({str(exc)[:200]})") from None


def _plain(text: Any) -> str:
    """Text for a figure, shown as written: matplotlib reads ``$...$`` as mathematics (and fails on
    what does not parse), so every dollar sign is escaped."""
    return str(text).replace("$", r"\$")


def _flag_mask(flags: np.ndarray) -> np.ndarray:
    return np.array([any(f in str(text).split(";") for f in _REVIEW) for text in flags], dtype=bool)


def _png(fig: Any) -> str:
    buffer = stdio.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _note(fig: Any, ax: Any, text: str) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, wrap=True, transform=ax.transAxes)


def _fig_accuracy(Figure: Any, workers: dict[str, np.ndarray], n_classes: int) -> Any:
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    n = np.maximum(workers["n_labels"], 1)
    bad = _flag_mask(workers["flags"])
    ax.scatter(n[~bad], workers["accuracy"][~bad], s=14, alpha=0.6, color="tab:blue", label="annotator")
    if bad.any():
        ax.scatter(n[bad], workers["accuracy"][bad], s=22, color="tab:red", marker="x", label="flagged")
    ax.axhline(1.0 / n_classes, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("labels given (log scale)")
    ax.set_ylabel("estimated accuracy")
    ax.set_title("Annotator accuracy against number of labels")
    ax.legend(loc="lower right")
    return fig


def _fig_confidence(Figure: Any, confidence: np.ndarray, n_classes: int) -> Any:
    fig = Figure(figsize=(8, 3.5), layout="constrained")
    ax = fig.add_subplot()
    ax.hist(
        confidence[np.isfinite(confidence)], bins=np.linspace(1.0 / n_classes, 1.0, 21), color="tab:green"
    )
    ax.set_xlabel("confidence of the chosen label (posterior)")
    ax.set_ylabel("items")
    ax.set_title("Confidence of the aggregated labels")
    return fig


def _fig_convergence(Figure: Any, summary: dict[str, Any]) -> Any:
    fig = Figure(figsize=(8, 3.5), layout="constrained")
    ax = fig.add_subplot()
    history = [x for x in (summary.get("objective") or []) if x is not None]
    if not history:
        _note(
            fig, ax, f"{_plain(summary.get('fitted_method', summary.get('method')))}: no iterations to show"
        )
        return fig
    ax.plot(
        np.arange(1, len(history) + 1),
        history,
        marker="o" if len(history) <= 50 else None,
        color="tab:purple",
    )
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective (log-likelihood / ELBO)")
    converged = summary.get("converged")
    ax.set_title(
        f"Convergence ({'converged' if converged else 'not converged'} after {len(history)} iterations)"
    )
    return fig


def _least_reliable(workers: dict[str, np.ndarray], confusion: dict[str, np.ndarray] | None) -> list[int]:
    """Rows of the annotators whose confusion matrices are drawn: lowest accuracy among the judged."""
    if not confusion:
        return []
    judged = np.array(["sparse" not in str(f).split(";") for f in workers["flags"]], dtype=bool)
    has = np.array([w in confusion for w in workers["worker"]], dtype=bool)
    pool = np.flatnonzero(judged & has)
    if pool.size == 0:
        pool = np.flatnonzero(has)
    order = np.argsort(workers["accuracy"][pool], kind="stable")
    return pool[order[:N_CONFUSIONS]].tolist()


def _fig_confusions(Figure: Any, fit: dict[str, Any], rows: list[int]) -> Any:
    classes = [str(c) for c in fit["summary"]["classes"]]
    k = len(classes)
    workers = fit["workers"]
    if not rows:
        fig = Figure(figsize=(8, 2.5), layout="constrained")
        _note(fig, fig.add_subplot(), "no confusion.csv in the directory: no confusion matrices to show")
        return fig
    cols = min(3, len(rows))
    lines = math.ceil(len(rows) / cols)
    fig = Figure(figsize=(4 * cols, 3.6 * lines), layout="constrained")
    ticks = [_plain(c if len(c) <= 10 else c[:9] + "…") for c in classes] if k <= 12 else None
    for i, row in enumerate(rows):
        ax = fig.add_subplot(lines, cols, i + 1)
        matrix = fit["confusion"][workers["worker"][row]]
        image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="Blues")
        if k <= 8:
            for t in range(k):
                for s in range(k):
                    colour = "white" if matrix[t, s] > 0.6 else "black"
                    ax.text(s, t, f"{matrix[t, s]:.2f}", ha="center", va="center", fontsize=8, color=colour)
        if ticks is not None:
            ax.set_xticks(range(k), ticks, rotation=45, ha="right", fontsize=7)
            ax.set_yticks(range(k), ticks, fontsize=7)
        name = str(workers["worker"][row])
        name = name if len(name) <= 24 else name[:23] + "…"
        ax.set_title(f"{_plain(name)}: accuracy {workers['accuracy'][row]:.2f}", fontsize=9)
        ax.set_xlabel("said", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
    fig.colorbar(image, ax=fig.axes, shrink=0.8, label="P(said | true)")
    fig.suptitle("Confusion matrices of the least reliable annotators")
    return fig


def _fig_calibration(Figure: Any, compare: dict[str, Any]) -> Any:
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    drawn = 0
    for name, entry in compare["methods"].items():
        cal = entry.get("calibration")
        if not cal:
            continue
        pairs = [(c, a) for c, a in zip(cal["confidence"], cal["accuracy"], strict=True) if c is not None]
        if pairs:
            x, y = zip(*pairs, strict=True)
            ece = "—" if cal.get("ece") is None else f"{cal['ece']:.3f}"
            ax.plot(x, y, marker="o", label=f"{_plain(name)} (ECE {ece})")
            drawn += 1
    if not drawn:
        _note(fig, ax, "the compare report has no calibration bins (made by an older emcrowd)")
        return fig
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean confidence in the bin")
    ax.set_ylabel("accuracy on the gold items in the bin")
    ax.set_title("Calibration (reliability diagram)")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _fig_method_accuracy(Figure: Any, compare: dict[str, Any]) -> Any:
    names = list(compare["methods"])
    acc = np.array([compare["methods"][m]["accuracy"] for m in names])
    ci = np.array([compare["methods"][m]["accuracy_ci"] for m in names], dtype=float)
    fig = Figure(figsize=(8, 0.6 * len(names) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(names))
    ax.errorbar(acc, y, xerr=[acc - ci[:, 0], ci[:, 1] - acc], fmt="o", capsize=4, color="tab:blue")
    ax.set_yticks(y, [_plain(n) for n in names])
    ax.invert_yaxis()
    ax.set_xlabel(f"accuracy on {_plain(compare.get('n_gold', '?'))} gold items (95% bootstrap interval)")
    ax.set_title("Accuracy per method")
    low = float(np.nanmin(ci[:, 0]))
    ax.set_xlim(max(0.0, low - 0.05), min(1.0, float(np.nanmax(ci[:, 1])) + 0.05) + 1e-9)
    return fig


def _number(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    return html.escape(str(value))


def _rows(pairs: list[tuple[str, str, Any]]) -> str:
    return "\n".join(
        f'<tr><th>{html.escape(label)}</th><td id="{key}">{_number(value)}</td></tr>'
        for key, label, value in pairs
    )


def _figure(fig_id: str, png: str, caption: str) -> str:
    return (
        f'<figure id="{fig_id}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{png}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222;
       background: #fff; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; } th, td { padding: 2px 10px; text-align: left; }
tbody tr:nth-child(even) { background: #f4f4f4; } td { font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; } .note { color: #555; }
"""


def build_report(fit_dir: str | os.PathLike, compare: str | os.PathLike | None = None) -> str:
    """The HTML page (text) for a fit's output directory and, optionally, a ``compare --json`` report.

    Raises
    ------
    InputError
        When a file is missing or unreadable (one line naming it).
    EmcrowdError
        When matplotlib is not installed.
    """
    Figure = _matplotlib()
    fit = load_fit(fit_dir)
    report = None if compare is None else load_compare(compare)
    summary, workers = fit["summary"], fit["workers"]
    n_classes = len(summary["classes"])
    bad = _flag_mask(workers["flags"])
    confidence = fit["confidence"]
    method = summary.get("fitted_method") or summary.get("method")
    history = summary.get("objective") or []
    overview = [
        ("method", "method", method),
        ("n-items", "items", summary.get("n_items")),
        ("n-workers", "annotators", summary.get("n_workers")),
        ("n-labels", "labels", summary.get("n_labels")),
        ("n-classes", "classes", n_classes),
        ("n-iter", "iterations", summary.get("n_iter")),
        ("converged", "converged", summary.get("converged")),
        ("final-objective", "final objective", history[-1] if history else None),
        ("mean-confidence", "mean confidence", float(np.nanmean(confidence)) if confidence.size else None),
        ("n-flagged", "annotators flagged (spammer, constant, below chance)", int(bad.sum())),
        (
            "n-sparse",
            "annotators too sparse to judge",
            int(sum("sparse" in str(f).split(";") for f in workers["flags"])),
        ),
    ]
    rows = _least_reliable(workers, fit["confusion"])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>emcrowd report: {html.escape(str(method))}</title><style>{_STYLE}</style></head><body>",
        f"<h1>emcrowd report: {html.escape(str(method))}</h1>",
        f'<p class="note">From <code>{html.escape(str(Path(fit_dir)))}</code>'
        f" (emcrowd {html.escape(str(summary.get('emcrowd_version', '?')))}).</p>",
        "<h2>Overview</h2>",
        f"<table><tbody>{_rows(overview)}</tbody></table>",
        "<h2>Annotators</h2>",
        _figure("fig-accuracy-vs-labels", _png(_fig_accuracy(Figure, workers, n_classes)),
                "Estimated accuracy of each annotator against its number of labels; flagged ones in red."),
    ]  # fmt: skip
    flagged_rows = np.flatnonzero(bad)
    flagged_rows = flagged_rows[np.argsort(workers["spammer_score"][flagged_rows], kind="stable")][:N_LISTED]
    if flagged_rows.size:
        body = "\n".join(
            f'<tr id="flagged-{i}"><td>{html.escape(str(workers["worker"][r]))}</td>'
            f"<td>{_number(int(workers['n_labels'][r]))}</td><td>{_number(workers['accuracy'][r])}</td>"
            f"<td>{_number(workers['spammer_score'][r])}</td><td>{html.escape(str(workers['flags'][r]))}</td></tr>"
            for i, r in enumerate(flagged_rows)
        )
        parts.append(
            f"<p>Annotators worth reviewing (up to {N_LISTED}, lowest spammer score first):</p>"
            "<table><thead><tr><th>annotator</th><th>labels</th><th>accuracy</th><th>spammer score</th>"
            f"<th>flags</th></tr></thead><tbody>{body}</tbody></table>"
        )
    else:
        parts.append('<p class="note">No annotator is flagged.</p>')
    parts += [
        _figure("fig-confusions", _png(_fig_confusions(Figure, fit, rows)),
                "Confusion matrices P(said | true) of the least reliable annotators."),
        "<h2>Items</h2>",
        _figure("fig-confidence", _png(_fig_confidence(Figure, confidence, n_classes)),
                "How confident the aggregated labels are."),
        "<h2>Fit</h2>",
        _figure("fig-convergence", _png(_fig_convergence(Figure, summary)),
                "The objective at every iteration."),
    ]  # fmt: skip
    if report is not None:
        methods = report["methods"]
        body = "\n".join(
            f"<tr><td>{html.escape(name)}</td>"
            f'<td id="accuracy-{html.escape(name)}">{_number(e["accuracy"])}</td>'
            f"<td>{_number(e['accuracy_ci'][0])} – {_number(e['accuracy_ci'][1])}</td>"
            f"<td>{_number((e.get('calibration') or {}).get('ece'))}</td></tr>"
            for name, e in methods.items()
        )
        parts += [
            f"<h2>Comparison on {_number(report.get('n_gold'))} gold items</h2>",
            "<table><thead><tr><th>method</th><th>accuracy</th><th>95% interval</th><th>calibration error"
            f"</th></tr></thead><tbody>{body}</tbody></table>",
            _figure("fig-method-accuracy", _png(_fig_method_accuracy(Figure, report)),
                    "Accuracy of each method on the gold items, with its bootstrap interval."),
            _figure("fig-calibration", _png(_fig_calibration(Figure, report)),
                    "Reliability diagram: accuracy against confidence, per method."),
        ]  # fmt: skip
        agreement = report.get("agreement")
        if isinstance(agreement, dict):
            stats = [
                ("krippendorff-alpha", "Krippendorff's alpha", agreement.get("krippendorff_alpha")),
                ("percent-agreement", "percent agreement", agreement.get("percent_agreement")),
                ("fleiss-kappa", "Fleiss' kappa", agreement.get("fleiss_kappa")),
                ("gwet-ac1", "Gwet's AC1", agreement.get("gwet_ac1")),
            ]
            parts += [
                "<h2>Agreement between annotators</h2>",
                f"<table><tbody>{_rows(stats)}</tbody></table>",
            ]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(
    fit_dir: str | os.PathLike, out: str | os.PathLike | None = None, compare: str | os.PathLike | None = None
) -> Path:
    """Write :func:`build_report` to ``out`` (``DIR/report.html`` by default), all or nothing (a
    temporary file renamed into place). Returns the path written."""
    from emcrowd.io import write_outputs

    text = build_report(fit_dir, compare)
    target = Path(fit_dir) / "report.html" if out is None else Path(out)
    directory = Path(fit_dir)
    read = [directory / "summary.json"]
    read += [
        directory / f"{stem}.{ext}"
        for stem in ("items", "workers", "confusion")
        for ext in ("csv", "parquet")
    ]
    inputs = [p for p in (compare, *read) if p is not None]
    write_outputs(target.parent, {target.name: text}, inputs=inputs)
    return target
