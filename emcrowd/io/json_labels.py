"""JSON and JSON Lines records (one object per label), and Label Studio's JSON export: tasks (an
array, or one task object) with their annotations, each annotation's answer in a class-like control
(``choices``, ``taxonomy``, ``rating``, ``number``, short ``textarea``).
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


#: Label Studio result types whose value is one answer per task (a class): the key of the answer in
#: the result's ``value``. Span and region types (``labels``, ``rectanglelabels``, ...) are not read.
ANSWER_KEYS = {"choices": "choices", "taxonomy": "taxonomy", "rating": "rating", "number": "number",
               "textarea": "text"}  # fmt: skip
#: A ``textarea`` answer longer than this (or spanning lines) is free text, not a class.
SHORT_TEXT = 64


def _tasks_of(document: Any) -> list[Any] | None:
    """The tasks of a Label Studio export (an array of tasks, or one task object), or None."""
    if isinstance(document, dict) and "data" in document and _annotations_key(document):
        return [document]
    if (
        isinstance(document, list)
        and document
        and all(isinstance(t, dict) and "data" in t and _annotations_key(t) for t in document[:100])
    ):
        return document
    return None


def _annotations_key(task: dict[str, Any]) -> str | None:
    """``annotations`` (``completions`` in exports of Label Studio before 1.0)."""
    return next((key for key in ("annotations", "completions") if key in task), None)


def _is_label_studio(document: Any) -> bool:
    """A Label Studio JSON export: an array of tasks (or one task), each with ``data`` and
    ``annotations``."""
    return _tasks_of(document) is not None


def _annotator(annotation: dict[str, Any]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return "" if who is None else str(who)


def _where(k: int, j: int | None = None) -> str:
    return f"task {k + 1}" + ("" if j is None else f", annotation {j + 1}")


def _annotations(name: str, tasks: list[Any]):
    """(task index, annotation index, task, annotation) of every annotation, types checked."""
    for k, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise InputError(name, f"{_where(k)} is a {_json_type(task)}, not an object")
        key = _annotations_key(task)
        annotations = task.get(key) if key else None
        if annotations is None:
            continue
        if not isinstance(annotations, list):
            raise InputError(name, f"{_where(k)}: {key!r} is a {_json_type(annotations)}, not an array")
        for j, annotation in enumerate(annotations):
            if not isinstance(annotation, dict):
                raise InputError(name, f"{_where(k, j)} is a {_json_type(annotation)}, not an object")
            yield k, j, task, annotation


def _results(name: str, k: int, j: int, annotation: dict[str, Any]):
    """The results of an annotation that carry a class-like answer: (control name, type, value)."""
    results = annotation.get("result")
    if results is None:
        return
    if not isinstance(results, list):
        raise InputError(name, f"{_where(k, j)}: 'result' is a {_json_type(results)}, not an array")
    for result in results:
        if not isinstance(result, dict):
            raise InputError(name, f"{_where(k, j)}: a result is a {_json_type(result)}, not an object")
        kind = result.get("type")
        if kind not in ANSWER_KEYS:
            continue
        value = result.get("value")
        if not isinstance(value, dict):
            raise InputError(name, f"{_where(k, j)}: the {kind} result's 'value' is a {_json_type(value)}, "
                                   "not an object")  # fmt: skip
        yield str(result.get("from_name")), kind, value


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def answer_text(value: Any, kind: str, where: str, name: str) -> str | None:
    """The answer of one result as the text of a class: several choices (sorted) joined by ``|``, a
    taxonomy path by ``/``; a rating or number as written. A value of another shape is an error
    (never its characters joined, never a dict's text)."""
    key = ANSWER_KEYS[kind]
    answer = value.get(key) if isinstance(value, dict) else value
    if answer is None:
        return None

    def bad(what: Any) -> InputError:
        return InputError(name, f"{where}: the {kind} value is a {_json_type(what)}, not {_expected(kind)}")

    if kind in ("rating", "number"):
        if isinstance(answer, bool) or not isinstance(answer, (int, float, str)):
            raise bad(answer)
        return str(int(answer)) if isinstance(answer, float) and answer.is_integer() else str(answer)
    if isinstance(answer, str):  # one choice (or one text) given as a string, not in an array
        answer = [answer]
    if not isinstance(answer, list):
        raise bad(answer)
    if kind == "taxonomy":
        paths = []
        for path in answer:
            path = [path] if isinstance(path, str) else path
            if not isinstance(path, list) or not all(isinstance(p, (str, int)) for p in path):
                raise bad(path)
            paths.append("/".join(str(p) for p in path))
        answer = paths
    elif not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in answer):
        raise bad(next(a for a in answer if not isinstance(a, (str, int)) or isinstance(a, bool)))
    texts = sorted({str(a) for a in answer})
    return "|".join(texts) or None


def _expected(kind: str) -> str:
    return {
        "rating": "a number",
        "number": "a number",
        "taxonomy": "an array of paths (arrays of strings)",
        "textarea": "an array of strings",
    }.get(kind, "an array of strings")


def label_studio_rows(
    name: str, document: Any, control: str | None
) -> tuple[list[str], list[str], list[str | None], list[bool], int, str]:
    """(items, annotators, answers, ground-truth flags, cancelled annotations skipped, control name)
    of a Label Studio export: one row per annotation; the answer is the annotation's answer in the
    control named ``control`` (or the only class-like one: ``choices``, single or multiple, joined by
    ``|``; ``taxonomy``, a path joined by ``/``; ``rating``; ``number``; a short ``textarea``).

    Tasks without ``id`` are numbered by their position (1, 2, ...), when no task has one.
    """
    tasks = _tasks_of(document)
    if tasks is None:
        raise InputError(name, "is not a Label Studio JSON export (an array of tasks with annotations)")
    controls: dict[str, str] = {}
    long_text: set[str] = set()
    for k, j, _, annotation in _annotations(name, tasks):
        for from_name, kind, value in _results(name, k, j, annotation):
            controls.setdefault(from_name, kind)
            if kind == "textarea":
                text = answer_text(value, kind, _where(k, j), name) or ""
                if len(text) > SHORT_TEXT or "\n" in text:
                    long_text.add(from_name)
    usable = {c: kind for c, kind in controls.items() if c not in long_text}
    shown = ", ".join(controls) or "none"
    if control is None:
        if len(usable) > 1:
            raise InputError(name, f"several answer controls ({shown}); choose one with --label-col")
        if not usable and long_text:
            raise InputError(name, f"its textarea answers are free text (over {SHORT_TEXT} characters), "
                                   "not classes")  # fmt: skip
        control = next(iter(usable), None)
    elif control not in controls:
        raise InputError(name, f"no answer control named {control!r} (controls: {shown})")
    with_id = sum(1 for t in tasks if isinstance(t, dict) and "id" in t)
    if 0 < with_id < len(tasks):
        k = next(k for k, t in enumerate(tasks) if isinstance(t, dict) and "id" not in t)
        raise InputError(name, f"{_where(k)} has no id (other tasks have one)")
    items: list[str] = []
    workers: list[str] = []
    answers: list[str | None] = []
    gold: list[bool] = []
    cancelled = 0
    for k, j, task, annotation in _annotations(name, tasks):
        if annotation.get("was_cancelled"):
            cancelled += 1
            continue
        chosen = None
        for from_name, kind, value in _results(name, k, j, annotation):
            if from_name == control:
                chosen = answer_text(value, kind, _where(k, j), name)
        task_id = task.get("id", k + 1) if with_id else k + 1
        if isinstance(task_id, (dict, list)) or task_id is None:
            raise InputError(name, f"{_where(k)}: its id is a {_json_type(task_id)}")
        items.append(str(task_id))
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
