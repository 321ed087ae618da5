"""Reading machine predictions (a model's probabilities, an LLM's answers) into
:class:`emcrowd.predictions.Predictions`.

A predictions table has one row per item (per item and model with a ``model`` column):

* an item column (``item``, ``task``, ``id``, ... as in the labels readers);
* either one column per class, named by the class, holding the probability of that class (rows sum
  to 1; a class of the labels without a column has probability 0);
* or a hard answer (``label``, ``prediction``, ``answer``, ...) and optionally a ``confidence``
  column in [0, 1];
* optionally a ``model`` (or ``machine``) column: several models in one table, each one machine; or
  several models' probabilities side by side, in columns named ``MODEL:CLASS``.

Files: CSV/TSV (``.gz`` and the like too), Parquet, JSON (an array of records) or JSON Lines. Without
a ``model`` column the machine is named after the file's stem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emcrowd.errors import EmcrowdError, InputError
from emcrowd.predictions import Predictions

ITEM_COLUMNS = ("item", "task", "id", "item_id", "task_id", "question", "example", "object", "question_id")
LABEL_COLUMNS = ("label", "prediction", "predicted", "pred", "answer", "class", "predicted_label")
CONFIDENCE_COLUMNS = ("confidence", "score", "probability", "prob", "conf")
MODEL_COLUMNS = ("model", "machine", "annotator", "worker", "source")


def read_predictions(path: Any, *, name: str | None = None) -> list[Predictions]:
    """The machines of a predictions file (one, or one per value of its ``model`` column)."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise InputError(where, "no such predictions file")
    return predictions_from_table(_read_table(path), source=where, name=name or _stem(path))


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (
        ".gz",
        ".bz2",
        ".xz",
        ".zst",
        ".csv",
        ".tsv",
        ".txt",
        ".parquet",
        ".pq",
        ".jsonl",
        ".ndjson",
        ".json",
    ):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or path.name


def _read_table(path: Path) -> Any:
    import pyarrow as pa

    lower = path.name.lower()
    where = str(path)
    try:
        if lower.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if lower.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")) or lower.endswith(".json"):
            return _json_table(path)
        import pyarrow.csv as pacsv

        with pa.input_stream(path, compression="detect") as stream:
            first = stream.read(1 << 16).decode("utf-8-sig", errors="replace").split("\n", 1)[0].rstrip("\r")
        delimiter = (
            "\t" if (lower.endswith((".tsv", ".tsv.gz")) or first.count("\t") > first.count(",")) else ","
        )
        names = [c.strip() for c in next(iter(__import__("csv").reader([first], delimiter=delimiter)), [])]
        if not names:
            raise InputError(where, "empty predictions file")
        return pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    except InputError:
        raise
    except (OSError, ValueError, pa.ArrowException) as exc:
        text = str(exc).strip().splitlines()
        raise InputError(
            where, f"cannot read predictions: {text[0] if text else type(exc).__name__}"
        ) from None


def _json_table(path: Path) -> Any:
    import pyarrow as pa

    with pa.input_stream(path, compression="detect") as stream:
        text = stream.read().decode("utf-8-sig")
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            records = json.loads(text)
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not JSON: {exc}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InputError(path, "predictions JSON must be an array of objects or one object per line")
    names = list(dict.fromkeys(k for r in records for k in r))
    columns = {n: [_json_value(r.get(n)) for r in records] for n in names}
    return pa.table({n: pa.array(v, type=pa.string()) for n, v in columns.items()})


def _json_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def predictions_from_table(
    table: Any, *, source: str = "predictions", name: str = "model"
) -> list[Predictions]:
    """The machines of a table (pyarrow, pandas, polars; see the module's description)."""
    import pyarrow as pa

    table = _arrow(table)
    if table.num_rows == 0:
        raise InputError(source, "no predictions (no rows)")
    lower = {c.strip().lower(): c for c in table.column_names}
    item_col = next((lower[c] for c in ITEM_COLUMNS if c in lower), None)
    if item_col is None:
        raise InputError(source, f"no item column (one of {', '.join(ITEM_COLUMNS[:4])}, ...)")
    model_col = next((lower[c] for c in MODEL_COLUMNS if c in lower), None)
    label_col = next((lower[c] for c in LABEL_COLUMNS if c in lower), None)
    conf_col = next((lower[c] for c in CONFIDENCE_COLUMNS if c in lower), None) if label_col else None
    items = _text(table.column(item_col))
    if any(v is None or v == "" for v in items):
        raise InputError(source, "an item id is missing")
    groups: dict[str, list[int]] = {}
    if model_col is None:
        groups[name] = list(range(table.num_rows))
    else:
        for row, value in enumerate(_text(table.column(model_col))):
            if value is None or value == "":
                raise InputError(source, f"row {row + 1} has no model name")
            groups.setdefault(value, []).append(row)
    out = []
    for model, rows in groups.items():
        take = pa.array(rows, type=pa.int64())
        names = tuple(items[r] for r in rows)
        if label_col is not None:
            answers = _text(table.column(label_col).take(take))
            if any(a is None or a == "" for a in answers):
                raise InputError(source, f"a prediction of {model!r} has no label")
            classes = tuple(dict.fromkeys(sorted(answers)))  # type: ignore[arg-type]
            code = {c: k for k, c in enumerate(classes)}
            label = np.array([code[a] for a in answers], dtype=np.int64)
            conf = None
            if conf_col is not None:
                conf = _numbers(table.column(conf_col).take(take), source, conf_col, names)
                if np.isnan(conf).all():  # this model gives no confidence (another in the file does)
                    conf = None
                elif np.isnan(conf).any():
                    j = int(np.flatnonzero(np.isnan(conf))[0])
                    raise InputError(source, f"the confidence of {model!r} on item {names[j]!r} is missing")
            out.append(Predictions(model, names, classes, label=label, confidence=conf, source=source))
            continue
        used = {item_col, model_col}
        class_cols = [c for c in table.column_names if c not in used]
        if len(class_cols) < 2:
            raise InputError(
                source, "needs a probability column per class (named by the class) or a label column"
            )
        by_model = _model_columns(class_cols) if model_col is None else None
        for machine, columns in (by_model or {model: class_cols}).items():
            proba = np.column_stack([_numbers(table.column(c).take(take), source, c, names) for c in columns])
            classes = tuple(c.split(":", 1)[1].strip() if by_model else c.strip() for c in columns)
            out.append(Predictions(machine, names, classes, proba=proba, source=source))
    return out


def _model_columns(columns: list[str]) -> dict[str, list[str]] | None:
    """Columns ``MODEL:CLASS`` (several models' probabilities side by side), by model; None unless
    every column is named so and every model has at least two classes."""
    if not all(":" in c for c in columns):
        return None
    groups: dict[str, list[str]] = {}
    for c in columns:
        groups.setdefault(c.split(":", 1)[0].strip(), []).append(c)
    return groups if all(len(g) >= 2 for g in groups.values()) else None


def _arrow(table: Any) -> Any:
    import pyarrow as pa

    if isinstance(table, pa.Table):
        return table
    module = type(table).__module__.split(".")[0]
    if module == "pandas":
        frame = table
        if frame.index.name is not None or not isinstance(frame.index, __import__("pandas").RangeIndex):
            frame = frame.reset_index()
        return pa.Table.from_pandas(frame, preserve_index=False)
    if module == "polars":
        return table.to_arrow()
    raise EmcrowdError(f"predictions must be a table (pandas, polars, pyarrow), got {type(table).__name__}")


def _text(column: Any) -> list[str | None]:
    import pyarrow as pa

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_floating(column.type):  # 3.0 -> "3", as the labels readers name a number
        values = column.to_pylist()
        return [None if v is None else (str(int(v)) if float(v).is_integer() else str(v)) for v in values]
    return [None if v is None else str(v).strip() for v in column.cast(pa.string()).to_pylist()]


def _numbers(column: Any, source: str, name: str, items: tuple[str, ...]) -> np.ndarray:
    import pyarrow as pa

    values = []
    for row, v in enumerate(_text(column) if not pa.types.is_floating(column.type) else column.to_pylist()):
        try:
            values.append(float(v) if v not in (None, "") else float("nan"))
        except (TypeError, ValueError):
            raise InputError(
                source, f"column {name!r} of item {items[row]!r} is not a number: {v!r}"
            ) from None
    return np.array(values, dtype=float)


def as_predictions(obj: Any, class_names: tuple[str, ...] | None = None) -> list[Predictions]:
    """Predictions from what the Python API accepts: :class:`Predictions`, a table, a file path, a
    mapping ``{name: table}``, or a list of those."""
    if isinstance(obj, Predictions):
        return [obj]
    if isinstance(obj, (str, Path)):
        return read_predictions(obj)
    if isinstance(obj, dict):
        return [p for name, table in obj.items() for p in predictions_from_table(table, name=str(name))]
    if isinstance(obj, (list, tuple)):
        out: list[Predictions] = []
        for i, one in enumerate(obj):
            if isinstance(one, (Predictions, str, Path)):
                out += as_predictions(one, class_names)
            else:
                out += predictions_from_table(one, name=f"model{i + 1}" if len(obj) > 1 else "model")
        return out
    return predictions_from_table(obj, name="model")
