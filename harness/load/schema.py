"""The request record's columns, once: for the load driver that writes the records
(`harness.load.records`) and the analysis that reads them (`harness.analysis.records`).

Each worker writes one JSON object a request, these columns in this order; the reader
parses them with these types into the run directory's `requests` table (which adds
`phase`). A column added here is written by `Record.json_line` and read by
`read_requests`; `Record` must hold a field of the same name (a unit test checks).
Pure Python, so a Locust worker imports nothing heavy for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _quoted
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Literal["float64", "int64", "string"]
    """Its Arrow / pandas type; a missing int is 0 (status 0: no answer)."""
    decimals: int = 0
    """Digits written after the point, for a float (microseconds for `_s`)."""

    def placeholder(self) -> str:
        """This column's `"name":value` in the JSON line's %-format string (%-formatting
        a record is ~0.5 us faster than `str.format`)."""
        value = f"%.{self.decimals}f" if self.kind == "float64" else "%s"
        return f'"{self.name}":{value}'


REQUEST_RECORD = (
    Column("intended_s", "float64", 6),
    Column("sent_s", "float64", 6),
    Column("latency_ms", "float64", 3),
    Column("corrected_ms", "float64", 3),
    Column("status", "int64"),
    Column("bytes", "int64"),
    Column("route", "string"),
    Column("method", "string"),
    Column("trace_id", "string"),
    Column("error", "string"),
)
RECORD_COLUMNS = tuple(column.name for column in REQUEST_RECORD)
"""The columns of a record, as in the run directory's `requests` table (without `phase`)."""

_LINE = "{" + ",".join(column.placeholder() for column in REQUEST_RECORD) + "}\n"
_TEXT_AT = tuple(i for i, column in enumerate(REQUEST_RECORD) if column.kind == "string")


def json_line(values: Sequence[Any]) -> str:
    """One record (values in column order) as a JSON object and a newline; text escaped as
    `json.dumps` does (its own C encoder, called directly: this runs once per request)."""
    if len(values) != len(REQUEST_RECORD):
        raise ValueError(f"{len(values)} values for {len(REQUEST_RECORD)} columns")
    cells = list(values)
    for i in _TEXT_AT:
        cells[i] = _quoted(cells[i])
    return _LINE % tuple(cells)
