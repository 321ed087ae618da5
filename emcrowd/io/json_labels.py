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
    Header,
    Source,
    read_json_document,
    read_json_lines,
    records_table,
)
from emcrowd.io._text import Rows, is_blank
from emcrowd.io.long import _long_from_columns, _long_table
from emcrowd.io.roles import _preset_for, _roles


def _read_json(source: Source, options: _LongOptions) -> Loaded:
    name = source.name
    if source.kind == "jsonl":
        table = read_json_lines(source)
        unit = "line"
    else:
        document = read_json_document(source)
        if options.preset in (None, "label-studio") and is_label_studio_min(document):
            return _read_label_studio_min(name, document, options)
        if options.preset == "label-studio" or (options.preset is None and _is_label_studio(document)):
            return _read_label_studio(name, document, options)
        if options.preset == "peerannot" or (options.preset is None and is_peerannot(document)):
            return _read_peerannot(name, document, options)
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
        who = _annotator(annotation)
        if not who.strip():
            raise InputError(name, f"{_where(k, j)} has no annotator (completed_by)")
        items.append(str(task_id))
        workers.append(who)
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


def _loaded_from_lists(
    name: str, items: list[str], workers: list[str], answers: list[str | None], options: _LongOptions,
    preset: presets.Preset, unit: str,
) -> Loaded:  # fmt: skip
    import pyarrow as pa

    columns = {
        "item": pa.array(items, type=pa.string()),
        "worker": pa.array(workers, type=pa.string()),
        "label": pa.array(answers, type=pa.string()),
    }
    try:
        return _long_from_columns(name, columns, None, options, preset, preset.columns)
    except _Problem as problem:
        raise InputError(name, f"{unit} {problem.row + 1}: {problem.message}") from None


# -- Label Studio's JSON-MIN and CSV/TSV exports: one flat record per annotation --------------------------
#: Columns of Label Studio's flat exports that are not a control's answer (its own bookkeeping).
LABEL_STUDIO_META = frozenset(
    {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "drafts", "predictions",
     "meta", "project", "inner_id", "total_annotations", "cancelled_annotations", "total_predictions",
     "file_upload", "agreement", "completed_by", "was_cancelled", "ground_truth", "updated_by",
     "comment_count", "unresolved_comment_count", "last_comment_updated_at", "comment_authors",
     "storage_filename", "annotations_ids", "annotations_results", "predictions_score",
     "predictions_model_versions", "predictions_results", "data"}
)  # fmt: skip


def is_label_studio_table(names: list[str] | Any) -> bool:
    """Column names of Label Studio's JSON-MIN or CSV/TSV export (``id``, ``annotator`` and
    ``annotation_id`` or ``lead_time``)."""
    lowered = {str(n).strip().lower() for n in names}
    return {"id", "annotator"} <= lowered and bool({"annotation_id", "lead_time"} & lowered)


def is_label_studio_min(document: Any) -> bool:
    """A JSON-MIN export: an array of flat records, each with Label Studio's own columns."""
    return (
        isinstance(document, list)
        and bool(document)
        and all(isinstance(r, dict) for r in document[:100])
        and all(is_label_studio_table(r) for r in document[:100])
    )


def _flat_answer(value: Any, where: str, name: str) -> str | None:
    """One answer of a flat export: a string (one choice), a number (a rating), an array (several
    choices), or an object holding ``choices``, ``taxonomy``, ``rating``, ``number`` or ``text`` (as the
    JSON export's ``value``; in a CSV cell, as JSON text)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[") and text[-1:] in ("}", "]"):
            import json

            try:
                value = json.loads(text)
            except ValueError:
                return value
        else:
            return value
    if isinstance(value, bool):
        raise InputError(name, f"{where}: the answer is a boolean, not a class")
    if isinstance(value, (int, float)):
        return answer_text(value, "number", where, name)
    if isinstance(value, list):
        return answer_text(value, "choices", where, name)
    if isinstance(value, dict):
        for kind, key in ANSWER_KEYS.items():
            if key in value:
                return answer_text(value, kind, where, name)
        raise InputError(name, f"{where}: an answer object without choices, taxonomy, rating, number or text")
    raise InputError(name, f"{where}: the answer is a {_json_type(value)}")


def _answer_column(name: str, records: list[dict[str, Any]], given: str | None) -> str:
    """The control's column of a flat export: the one named, the only one that is not Label Studio's
    own, or among several the only one whose values differ between annotations of one task (a task's
    data, such as its text, is the same in each of its annotations)."""
    keys: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(record))
    candidates = [k for k in keys if str(k).strip().lower() not in LABEL_STUDIO_META]
    if given is not None:
        if given not in keys:
            raise InputError(name, f"no column named {given!r} (columns: {', '.join(map(str, keys))})")
        return given
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InputError(name, "a Label Studio export without an answer column")
    structured = [c for c in candidates if any(isinstance(r.get(c), (dict, list)) for r in records)]
    if len(structured) == 1:
        return structured[0]

    def varies(column: str) -> bool:
        seen: dict[str, str] = {}
        for record in records:
            task, value = str(record.get("id")), repr(record.get(column))
            if seen.setdefault(task, value) != value:
                return True
        return False

    varying = [c for c in candidates if varies(c)]
    if len(varying) == 1:
        return varying[0]
    raise InputError(
        name,
        f"several columns may hold the answers ({', '.join(map(str, candidates))}); "
        "choose one with --label-col",
    )


def label_studio_min_rows(
    name: str, records: list[dict[str, Any]], given: str | None, unit: str
) -> tuple[list[str], list[str], list[str | None], str]:
    """(items, annotators, answers, answer column) of a flat Label Studio export."""
    column = _answer_column(name, records, given)
    items, workers, answers = [], [], []
    for k, record in enumerate(records):
        where = f"{unit} {k + 1}"
        task = record.get("id")
        if task is None or isinstance(task, (dict, list)):
            raise InputError(name, f"{where}: no task id")
        items.append(str(task))
        who = record.get("annotator")
        workers.append("" if who is None else str(who))
        answers.append(_flat_answer(record.get(column), where, name))
    return items, workers, answers, column


def _read_label_studio_min(name: str, records: list[dict[str, Any]], options: _LongOptions) -> Loaded:
    if options.given["item"] or options.given["worker"]:
        raise InputError(name, "a Label Studio export names its items and annotators; use --label-col only")
    items, workers, answers, column = label_studio_min_rows(name, records, options.given["label"], "record")
    preset = presets.Preset("label-studio", {"item": "id", "worker": "annotator", "label": column})
    return _loaded_from_lists(name, items, workers, answers, options, preset, "record")


def table_records(source: Source, header: Header) -> list[dict[str, str]]:
    """The rows of a small text table as records (a Label Studio CSV/TSV export), with line numbers
    checked: every row as long as the header."""
    reader = Rows(source, header.delimiter)
    rows = iter(reader)
    names = [c.strip() for c in next(row for row in rows if not is_blank(row))]
    records = []
    for row in rows:
        if is_blank(row):
            continue
        if len(row) != len(names):
            raise InputError(
                source.name, f"line {reader.line}: {len(row)} fields where the header has {len(names)}"
            )
        records.append({k: (v if v.strip() else None) for k, v in zip(names, row, strict=True)})
    if not records:
        raise InputError(source.name, "has a header but no rows of labels")
    return records


def read_label_studio_table(source: Source, header: Header, options: _LongOptions) -> Loaded:
    """Label Studio's CSV or TSV export: one row per annotation (``id``, ``annotator``, the answer)."""
    name = source.name
    if options.given["item"] or options.given["worker"]:
        raise InputError(name, "a Label Studio export names its items and annotators; use --label-col only")
    records = table_records(source, header)
    items, workers, answers, column = label_studio_min_rows(name, records, options.given["label"], "row")
    preset = presets.Preset("label-studio", {"item": "id", "worker": "annotator", "label": column})
    return _loaded_from_lists(name, items, workers, answers, options, preset, "row")


# -- peerannot's answers.json: {task: {worker: label}} ------------------------------------------------------
def is_peerannot(document: Any) -> bool:
    """peerannot's ``answers.json``: an object of tasks, each an object of annotators' answers."""
    if not isinstance(document, dict) or not document:
        return False
    sample = list(document.values())[:100]
    return all(
        isinstance(v, dict)
        and all(isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in v.values())
        for v in sample
    )


def _read_peerannot(name: str, document: Any, options: _LongOptions) -> Loaded:
    if options.given["item"] or options.given["worker"] or options.given["label"]:
        raise InputError(name, "peerannot's answers.json has no columns to name")
    if not isinstance(document, dict):
        raise InputError(
            name, "is not peerannot's answers.json (an object of tasks, each of annotators' answers)"
        )
    items, workers, answers = [], [], []
    for task, votes in document.items():
        if not isinstance(votes, dict):
            raise InputError(name, f"task {task!r}: its answers are a {_json_type(votes)}, not an object")
        for worker, answer in votes.items():
            if isinstance(answer, bool) or not isinstance(answer, (str, int, float, type(None))):
                raise InputError(
                    name, f"task {task!r}, annotator {worker!r}: the answer is a {_json_type(answer)}"
                )
            items.append(str(task))
            workers.append(str(worker))
            answers.append(None if answer is None else answer_text(answer, "number", f"task {task!r}", name)
                           if not isinstance(answer, str) else answer)  # fmt: skip
    if not items:
        raise InputError(name, "holds no answers")
    preset = presets.Preset("peerannot", {"item": "task", "worker": "worker", "label": "answer"})
    return _loaded_from_lists(name, items, workers, answers, options, preset, "answer")
