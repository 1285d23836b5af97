"""Cost curves printed as tables: a row per size of the work, a line per target (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.report.text import plain_table


@dataclass(frozen=True)
class CurveColumn:
    """A column of a curve: the row's key, its header, how a value is written."""

    key: str
    header: str
    spec: str = "{}"
    """A `str.format` text for one value ('{:.1f}'); a missing value is '-'."""

    def cell(self, row: Mapping[str, object]) -> str:
        value = row.get(self.key)
        return "-" if value is None else self.spec.format(value)


def curve_lines(
    title: str, columns: Sequence[CurveColumn], rows: Sequence[Mapping[str, object]]
) -> list[str]:
    """The curve as aligned plain-text lines: title, header, a line per row; every column
    but the first right-aligned (they hold numbers)."""
    headers = [column.header for column in columns]
    cells = [[column.cell(row) for column in columns] for row in rows]
    return plain_table(title, headers, cells, right=headers[1:])


def target_line(what: str, value: float | None, limit: float, unit: str) -> str:
    """'<what>: 43.2 s (target <= 60 s): met' (or 'missed', or 'no value')."""
    if value is None:
        return f"{what}: no value (target <= {limit:g} {unit})"
    verdict = "met" if value <= limit else "missed"
    return f"{what}: {value:.1f} {unit} (target <= {limit:g} {unit}): {verdict}"
