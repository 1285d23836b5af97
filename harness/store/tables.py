"""The run directory's Parquet tables, by name, and the columns of those read by more than one part.

The spans table is made by `harness.observe.traces` (from the trace sink's file) and read
by `harness.analysis.traces` and `harness.report`; its columns are fixed here, once.
"""

from __future__ import annotations

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
