"""JSON and JSON Lines records (one object per label), and Label Studio's JSON export: tasks with
their annotations, each annotation's choices.
"""

from __future__ import annotations

from typing import Any

from emcrowd.errors import InputError
from emcrowd.io import presets
from emcrowd.io._common import Loaded, _LongOptions, _Problem
from emcrowd.io._tables import (
    Source,
    read_json_document,
    read_json_lines,
    records_table,
)
from emcrowd.io.long import _long_from_columns, _long_table
from emcrowd.io.roles import _preset_for, _roles


def _read_json(source: Source, options: _LongOptions) -> Loaded:
    name = source.name
    if source.kind == "jsonl":
        table = read_json_lines(source)
        unit = "line"
    else:
        document = read_json_document(source)
        if options.preset == "label-studio" or (options.preset is None and _is_label_studio(document)):
            return _read_label_studio(name, document, options)
        table = records_table(name, document)
        unit = "record"
    names = list(table.column_names)
    preset = _preset_for(name, names, options)
    idx = _roles(name, names, options, preset)
    wanted = {role: names[i] for role, i in idx.items()}
    status = preset.status if preset is not None and preset.status and not options.keep_rejected else None
    return _long_table(name, table, wanted, status, options, preset, unit)


def _is_label_studio(document: Any) -> bool:
    """A Label Studio export: an array of tasks, each with ``data`` and ``annotations``."""
    return (
        isinstance(document, list)
        and bool(document)
        and all(isinstance(t, dict) and "annotations" in t and "data" in t for t in document[:100])
    )


def _annotator(annotation: dict[str, Any]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return "" if who is None else str(who)


def label_studio_rows(
    name: str, document: Any, control: str | None
) -> tuple[list[str], list[str], list[str | None], list[bool], int, str]:
    """(items, annotators, answers, ground-truth flags, cancelled annotations skipped, control name)
    of a Label Studio export: one row per annotation; the answer is the annotation's choice(s) in the
    ``choices`` control named ``control`` (or the only one), several choices joined by ``|``."""
    if not _is_label_studio(document):
        raise InputError(name, "is not a Label Studio JSON export (an array of tasks with annotations)")
    controls: dict[str, None] = {}
    for task in document:
        for annotation in task.get("annotations") or []:
            for result in annotation.get("result") or []:
                if isinstance(result, dict) and result.get("type") == "choices":
                    controls[str(result.get("from_name"))] = None
    if control is None:
        if len(controls) > 1:
            raise InputError(
                name, f"several choice controls ({', '.join(controls)}); choose one with --label-col"
            )
        control = next(iter(controls), None)
    elif control not in controls:
        shown = ", ".join(controls) or "none"
        raise InputError(name, f"no choice control named {control!r} (controls: {shown})")
    items: list[str] = []
    workers: list[str] = []
    answers: list[str | None] = []
    gold: list[bool] = []
    cancelled = 0
    for k, task in enumerate(document):
        if "id" not in task:
            raise InputError(name, f"task {k + 1} has no id")
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                cancelled += 1
                continue
            chosen = None
            for result in annotation.get("result") or []:
                if isinstance(result, dict) and result.get("from_name") == control:
                    choices = (result.get("value") or {}).get("choices") or []
                    chosen = "|".join(str(c) for c in choices) or None
            items.append(str(task["id"]))
            workers.append(_annotator(annotation))
            answers.append(chosen)
            gold.append(bool(annotation.get("ground_truth")))
    if not items:
        raise InputError(name, "holds no annotations")
    return items, workers, answers, gold, cancelled, str(control)


def _read_label_studio(name: str, document: Any, options: _LongOptions) -> Loaded:
    import pyarrow as pa

    if options.given["item"] or options.given["worker"]:
        raise InputError(name, "a Label Studio export names its items and annotators; use --label-col only")
    items, workers, answers, _, cancelled, control = label_studio_rows(name, document, options.given["label"])
    columns = {
        "item": pa.array(items, type=pa.string()),
        "worker": pa.array(workers, type=pa.string()),
        "label": pa.array(answers, type=pa.string()),
    }
    preset = presets.Preset("label-studio", {"item": "id", "worker": "completed_by", "label": control})
    try:
        loaded = _long_from_columns(name, columns, None, options, preset, preset.columns)
    except _Problem as problem:
        raise InputError(name, f"annotation {problem.row + 1}: {problem.message}") from None
    loaded.report.notes[-1] += f"; {cancelled:,} cancelled annotations skipped"
    return loaded
