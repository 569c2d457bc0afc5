"""Rows -> text: an aligned table, CSV, JSON or Markdown (``newsflow query --format``).

NULL is ``NULL`` in the table and Markdown, an empty field in CSV and ``null`` in JSON. Times are
ISO 8601 (``2020-12-17 17:43:00+00:00``); lists and structs are JSON inside CSV, table and
Markdown cells. The table cuts cells at :data:`CELL_WIDTH` characters; the other formats never
cut.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Sequence
from typing import Any

from flows.text import aligned, csv_text, markdown_table

FORMATS = ("table", "csv", "json", "markdown")
CELL_WIDTH = 60


def render(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """The rows in format ``fmt`` (one of :data:`FORMATS`), ending with a newline."""
    if fmt == "table":
        return render_table(columns, rows)
    if fmt == "csv":
        return render_csv(columns, rows)
    if fmt == "json":
        return render_json(columns, rows)
    if fmt == "markdown":
        return render_markdown(columns, rows)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cut(cell_text(v, null="NULL").replace("\n", "\\n")) for v in row] for row in rows]
    right = {i for i in range(len(columns)) if _is_numeric_column(rows, i)}
    return "\n".join(aligned([list(columns), *cells], right, rule=True)) + "\n"


def render_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return csv_text(columns, ([cell_text(v, null="") for v in row] for row in rows))


def render_json(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    records = [dict(zip(columns, (json_value(v) for v in row), strict=True)) for row in rows]
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"


def render_markdown(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")

    right = {i for i in range(len(columns)) if _is_numeric_column(rows, i)}
    cells = [[cell(cell_text(v, null="NULL")) for v in row] for row in rows]
    return "\n".join(markdown_table([cell(c) for c in columns], cells, right)) + "\n"


def cell_text(value: Any, null: str) -> str:
    """One value as text for a table, Markdown or CSV cell."""
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(json_value(value), ensure_ascii=False)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def json_value(value: Any) -> Any:
    """One value as JSON: numbers stay numbers, times become ISO text, NaN/Infinity null."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def _is_numeric_column(rows: Sequence[Sequence[Any]], index: int) -> bool:
    values = [row[index] for row in rows if row[index] is not None]
    return bool(values) and all(
        isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool) for v in values
    )


def _cut(text: str) -> str:
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 3] + "..."
