"""The run directory's Parquet tables, by name, and the columns of those read by more than one part.

The spans table is made by `harness.observe.traces` (from the trace sink's file) and read
by `harness.analysis.traces` and `harness.report`; its columns are fixed here, once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mesh_runtime.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

TABLES = ("requests", "windows", "metrics", "resources", "spans", "events")

SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "service",
    "instance",
    "start_ns",
    "end_ns",
    "status_code",
    "attributes",
)
"""spans.parquet; `attributes` is JSON text."""

READ_COLUMNS: dict[str, dict[str, str]] = {
    "requests": {
        "intended_s": "numbers",
        "latency_ms": "numbers",
        "corrected_ms": "numbers",
        "status": "numbers",
        "route": "text",
    },
    "metrics": {"t_s": "numbers", "metric": "text", "labels": "text", "value": "numbers"},
    "resources": {
        "t_s": "numbers",
        "role": "text",
        "name": "text",
        "cpu_cores": "numbers",
        "rss_mb": "numbers",
    },
    "spans": {
        "trace_id": "text",
        "span_id": "text",
        "start_ns": "numbers",
        "end_ns": "numbers",
    },
}
"""The columns every reader of a table takes for granted (compare, calibrate, the
report), and their kind; a table without one of them, or holding it as another kind,
is refused naming the column (`check_schema`), never read half-way."""


def check_schema(file: str | Path, schema: pa.Schema) -> None:
    """InvalidInput naming `file` and the column when the table it holds (its stem:
    requests.parquet is `requests`) lacks a column of READ_COLUMNS or holds it as another
    kind; the one check of `StoredRun.table` and the report's queries."""
    problem = schema_problem(Path(file).stem, schema)
    if problem is not None:
        raise InvalidInput(str(file), *problem)


def schema_problem(table: str, schema: pa.Schema) -> tuple[str, str] | None:
    """(column, problem) for the first column of READ_COLUMNS[table] that `schema` lacks
    or holds as another kind; None when the table can be read."""
    for column, kind in READ_COLUMNS.get(table, {}).items():
        index = schema.get_field_index(column)
        if index < 0:
            return column, "no such column in the table"
        found = _kind_of(schema.field(index).type)
        if found not in (kind, "missing"):  # all values missing: no data, not a problem
            return column, f"expected {kind}, got {found}"
    return None


def _kind_of(found: pa.DataType) -> str:
    """'numbers', 'text', 'missing' (every value null), else the Arrow type's name."""
    import pyarrow as pa

    if pa.types.is_dictionary(found):
        found = found.value_type
    if pa.types.is_null(found):
        return "missing"
    if pa.types.is_integer(found) or pa.types.is_floating(found):
        return "numbers"
    if pa.types.is_string(found) or pa.types.is_large_string(found):
        return "text"
    return str(found)
