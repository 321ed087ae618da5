"""The multi-select side of ``fit``, ``compare``, ``info`` and ``relabel`` (``--multi-label``,
``--label-sep``, or answers recognised as JSON arrays): reading the answers into single classes,
fitting per class, writing and printing the results. Each command hands over here at its start (or
right after reading, when the answers are recognised)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emcrowd.cli.options import InputOptions, ModelOptions, MultiLabelOptions
from emcrowd.errors import EmcrowdError

#: --method values that mean the per-class Dawid-Skene model, and per-class majority vote.
_MODEL_NAMES = {None, "dawid-skene", "dawid_skene", "ds", "per-class-ds", "per_class_ds"}
_MAJORITY_NAMES = {"majority", "mv", "majority-vote", "majority_vote"}


def method_of(name: str | None) -> str:
    key = None if name is None else name.strip().lower()
    if key in _MODEL_NAMES:
        return "per_class_ds"
    if key in _MAJORITY_NAMES:
        return "majority"
    raise EmcrowdError(
        f"--method {name} does not take multi-select answers; "
        "use dawid-skene (per class, the default) or majority"
    )


def refuse(unsupported: dict[str, bool]) -> None:
    """Options of single-class fits given with multi-select answers: one line, before any work."""
    given = [name for name, on in unsupported.items() if on]
    if given:
        raise EmcrowdError(
            f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to multi-select answers"
        )


def check(multi: MultiLabelOptions) -> None:
    if multi.empty_answer not in ("none", "missing"):
        raise EmcrowdError(f"--empty-answer is none or missing, got {multi.empty_answer!r}")
    if not 0 < multi.threshold < 1:
        raise EmcrowdError(f"--threshold must be between 0 and 1 (exclusive), got {multi.threshold!r}")


def load(path: Path, inputs: InputOptions, multi: MultiLabelOptions, quiet: bool, loaded: Any = None) -> Any:
    """The answers as :class:`~emcrowd.io.multilabel.LoadedMulti` (from ``loaded``, a single-class
    reading already made, when given), described on stderr unless quiet."""
    from emcrowd import console as report
    from emcrowd.io import multilabel as mio

    check(multi)
    if loaded is None:
        with report.read_progress(not quiet, path) as progress:
            result = mio.load_multilabels(
                path, label_sep=multi.label_sep, classes=inputs.classes, empty=multi.empty_answer,
                format="long", item_col=inputs.item_col, worker_col=inputs.worker_col,
                label_col=inputs.label_col, missing=inputs.missing, duplicates=inputs.duplicates.value,
                preset=None if inputs.preset is None else inputs.preset.value,
                keep_rejected=inputs.keep_rejected, progress=progress, none_label=multi.none_label,
            )  # fmt: skip
    else:
        result = mio.multilabels_from_loaded(
            loaded,
            label_sep=mio.separator(multi.label_sep),
            classes=inputs.classes,
            empty=multi.empty_answer,
            none_label=multi.none_label,
        )
    for warning in result.report.warnings:
        report.warning(warning)
    if not quiet:
        data = result.labels
        counts = data.ticks.sum(axis=0)
        shown = ", ".join(f"{c} ({int(n):,})" for c, n in zip(data.class_names, counts, strict=True))
        report.note(
            f"Read {data.n_answers:,} multi-select answers from {result.report.source}: "
            f"{data.n_items:,} items, "
            f"{data.n_workers:,} annotators, {data.n_classes} classes ticked {shown}."
        )
        for line in result.report.notes:
            report.note(f"  {line}")
    return result


def gold_sets(path: Path | None, result: Any, multi: MultiLabelOptions, item_col: Any, label_col: Any) -> Any:
    from emcrowd.io.multilabel import load_truth_sets

    if path is None:
        return None
    return load_truth_sets(
        path, result.labels, label_sep=multi.label_sep, item_col=item_col, label_col=label_col,
        columns_of_answers=result.report.columns,
    )  # fmt: skip


def fit_options(model: ModelOptions, multi: MultiLabelOptions) -> dict[str, Any]:
    options: dict[str, Any] = {
        "tol": model.tol, "max_iter": model.max_iter, "random_state": model.seed, "threshold": multi.threshold
    }  # fmt: skip
    if model.n_init is not None:
        options["n_init"] = model.n_init
    return options


def fitted(data: Any, method: str, gold: Any, options: dict[str, Any], quiet: bool) -> Any:
    from emcrowd import console as report
    from emcrowd.analysis.multilabel import fit_multilabel

    title = "per-class Dawid-Skene" if method == "per_class_ds" else "per-class majority vote"
    with report.fit_progress(not quiet and method != "majority", title) as progress:
        return fit_multilabel(data, method, gold=gold, callback=progress, **options)


def fit(
    labels: Path, *, loaded: Any, inputs: InputOptions, multi: MultiLabelOptions, model: ModelOptions,
    method: str | None, out: Path | None, out_format: str, quiet: bool, csv_safe: bool,
    unsupported: dict[str, bool],
) -> None:  # fmt: skip
    """``fit`` on multi-select answers."""
    refuse(unsupported)
    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.cli import _output
    from emcrowd.multilabel_tables import fit_tables, item_table, summary_record

    method = method_of(method)
    check(multi)
    to_stdout = out is not None and str(out) == "-"
    out_dir = out if out is not None else _output.default_out(labels)
    sources = [p for p in (labels, model.gold) if p is not None and str(p) != "-"]
    if not to_stdout:
        names = [f"{stem}.{out_format}" for stem in ("posteriors", "items", "workers")]
        _output.check_out_dir(out_dir, [*names, "summary.json"], sources)
    result = load(labels, inputs, multi, quiet, loaded)
    data = result.labels
    gold = gold_sets(model.gold, result, multi, model.gold_item_col, model.gold_label_col)
    fitted_model = fitted(data, method, gold, fit_options(model, multi), quiet)
    if to_stdout:
        table = item_table(data, fitted_model)
        table = {k: table[k] for k in ("item", "classes", "uncertainty")}
        _output.write_stdout(io.csv_chunks(_output.safe(table, csv_safe)))
        return
    record = summary_record(data, fitted_model, method, result.report.to_dict())
    # how the answers were split, for reading them again (`emcrowd report`'s who ticked what)
    record["reading"] = {
        "label_sep": multi.label_sep,
        "none_label": multi.none_label,
        "empty": multi.empty_answer,
    }
    outputs = {
        **_output.table_files(fit_tables(data, fitted_model, gold), out_format, quiet, csv_safe),
        "summary.json": io.json_text(record),
    }
    files = io.write_outputs(out_dir, outputs, inputs=sources)
    if not quiet:
        per_class = ", ".join(f"{c} {n:,}" for c, n in record["items_per_class"].items())
        how = ""
        if method == "per_class_ds":
            how = f" in {fitted_model.n_iter_} iterations" + (
                "" if fitted_model.converged_ else " (not converged)"
            )
        report.note(
            f"Fitted {method.replace('_', '-')}{how}; items per class at {multi.threshold:g}: {per_class}."
        )
        report.note(f"Wrote {', '.join(p.name for p in files)} to {out_dir}")


def compare(
    labels: Path, *, loaded: Any, truth: Path, truth_item_col: Any, truth_label_col: Any, as_json: bool,
    inputs: InputOptions, multi: MultiLabelOptions, methods: str, default_methods: str, model: ModelOptions,
    quiet: bool, unsupported: dict[str, bool],
) -> None:  # fmt: skip
    """``compare`` on multi-select answers: per-class F1, micro and macro F1, exact-set accuracy and
    Hamming loss of each method against gold sets, with the gain over per-class majority vote."""
    from emcrowd import _stdout
    from emcrowd import console as report
    from emcrowd.analysis.multilabel import compare_multilabel

    refuse(unsupported)
    if methods == default_methods:
        chosen = ("majority", "per_class_ds")
    else:
        chosen = tuple(dict.fromkeys(method_of(m) for m in methods.split(",") if m.strip()))
    result = load(labels, inputs, multi, quiet, loaded)
    data = result.labels
    truth_sets = gold_sets(truth, result, multi, truth_item_col, truth_label_col)
    if not (truth_sets >= 0).all(axis=1).any():
        raise EmcrowdError(f"{truth}: no gold set is for an answered item")
    scores = compare_multilabel(data, truth_sets, chosen, **fit_options(model, multi))
    if as_json:
        _stdout.write(json.dumps({"task": "multi-label", "methods": scores}, indent=2) + "\n")
        if quiet:
            return
    n = next(iter(scores.values()))["n_items"]
    header = f"  {'method':<24}{'micro-F1':>9}{'macro-F1':>9}{'exact':>8}{'Hamming':>9}{'micro-F1 gain':>15}"
    lines = [f"Scored on {n:,} items with a gold set ({data.n_classes} classes):", header]
    for name, s in scores.items():
        gain = s["gain_over_majority"]["micro_f1"]
        lines.append(
            f"  {name.replace('_', '-'):<24}{s['micro_f1']:>9.4f}{s['macro_f1']:>9.4f}"
            f"{s['exact_set_accuracy']:>8.3f}{s['hamming_loss']:>9.4f}{gain:>+15.4f}"
        )
    lines.append("  F1 per class: " + "; ".join(
        f"{name.replace('_', '-')}: " + ", ".join(f"{c} {v:.3f}" for c, v in s["f1_per_class"].items())
        for name, s in scores.items()
    ))  # fmt: skip
    report.note("\n".join(lines))


def info(
    labels: Path, *, loaded: Any, inputs: InputOptions, multi: MultiLabelOptions, as_json: bool, quiet: bool
) -> None:
    """``info`` on multi-select answers: sizes, how often each class is ticked, agreement per class."""
    from emcrowd import _stdout
    from emcrowd import console as report
    from emcrowd.analysis.multilabel import class_agreement

    result = load(labels, inputs, multi, quiet, loaded)
    data = result.labels
    agreement = class_agreement(data)
    if not quiet:
        lines = ["Agreement per class (items with 2+ answers): " + "; ".join(
            f"{c}: {a['agreement']:.1%} agree, alpha {a['alpha']:.3f}" for c, a in agreement.items()
        )]  # fmt: skip
        report.note("\n".join(lines))
    if as_json:
        record = {"source": result.report.to_dict(), **data.describe(), "agreement_per_class": agreement}
        _stdout.write(json.dumps(record, indent=2) + "\n")


def relabel(
    labels: Path, *, loaded: Any, inputs: InputOptions, multi: MultiLabelOptions, model: ModelOptions,
    method: str | None, budget: int, out: Path, quiet: bool, csv_safe: bool,
) -> None:  # fmt: skip
    """``relabel`` on multi-select answers: the items whose set is least certain."""
    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.cli import _output
    from emcrowd.multilabel_tables import relabel_table

    method = method_of(method)
    result = load(labels, inputs, multi, quiet, loaded)
    data = result.labels
    gold = gold_sets(model.gold, result, multi, model.gold_item_col, model.gold_label_col)
    fitted_model = fitted(data, method, gold, fit_options(model, multi), quiet)
    table = _output.safe(relabel_table(data, fitted_model, budget), csv_safe)
    if str(out) == "-":
        _output.write_stdout(io.csv_chunks(table))
    else:
        written = [p for p in (labels, model.gold) if p is not None and str(p) != "-"]
        io.write_outputs(out.parent, {out.name: io.TableFile(table)}, inputs=written)
    if not quiet:
        where = "stdout" if str(out) == "-" else str(out)
        report.note(
            f"Wrote the {len(table['item']):,} items whose sets are least certain (expected classes "
            f"decided wrongly, largest first) to {where}."
        )


def simulate(
    out: Path,
    *,
    items: int,
    workers: int,
    classes: int,
    per_item: int,
    correlation: float,
    seed: int,
    quiet: bool,
) -> None:
    """``simulate --multi-label``: labels.csv (item, worker, label as a JSON array), truth.csv (item,
    label) and workers.csv (each annotator's kind and per-class sensitivity and specificity)."""
    import numpy as np

    from emcrowd import console as report
    from emcrowd import io
    from emcrowd.models.multilabel import per_class_vote
    from emcrowd.models.multilabel.simulate import simulate_multilabel
    from emcrowd.multilabel_tables import set_text

    if not correlation < 1:
        raise EmcrowdError(f"--correlation must be below 1, got {correlation!r}")
    data, truth, params = simulate_multilabel(
        items, workers, classes, per_item, correlation=correlation, random_state=seed
    )
    names = np.asarray(data.class_names, dtype=object)
    labels = {
        "item": [data.item_names[j] for j in data.item],
        "worker": [data.worker_names[a] for a in data.worker],
        "label": [set_text(row.astype(bool), names) for row in data.ticks],
    }
    truth_table = {"item": list(data.item_names), "label": [set_text(row, names) for row in truth]}
    worker_table: dict[str, object] = {
        "worker": list(data.worker_names),
        "kind": [str(k) for k in params["kind"]],
    }
    for k, name in enumerate(data.class_names):
        worker_table[f"sensitivity[{name}]"] = params["sensitivity"][:, k]
        worker_table[f"specificity[{name}]"] = params["specificity"][:, k]
    files = io.write_outputs(
        out,
        {
            "labels.csv": io.TableFile(labels),
            "truth.csv": io.TableFile(truth_table),
            "workers.csv": io.TableFile(worker_table),
        },
    )
    if not quiet:
        vote = per_class_vote(data)
        hamming = float((vote != truth).mean())
        report.note(
            f"Simulated {data.n_answers:,} multi-select answers ({items:,} items x {per_item} annotators, "
            f"{classes} classes, correlation {correlation:g}); per-class majority vote's Hamming loss "
            f"{hamming:.4f}. Wrote {', '.join(p.name for p in files)} to {out}"
        )
