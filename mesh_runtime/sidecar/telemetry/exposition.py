"""Prometheus text exposition format 0.0.4: families, label sets, numbers; the registry's
plain records (a request's label values, a histogram's bucket counts)."""

from __future__ import annotations

import math

RequestKey = tuple[str, str, str, str, str, str, str, int, str, str, str, str]
"""The values of `metrics.REQUEST_LABELS`, in order."""


class Histogram:
    """Counts per bucket (not cumulative; the last slot is above every bound), sum, count."""

    __slots__ = ("counts", "total")

    def __init__(self, size: int) -> None:
        self.counts = [0] * (size + 1)
        self.total = 0.0


def histogram_lines(
    lines: list[str], name: str, base: str, histogram: Histogram, bounds: list[str]
) -> None:
    """`<name>_bucket` (cumulative, one per bound), `_sum` and `_count` of one series;
    `base` is its label set without braces, `bounds` the `le` values ending in '+Inf'."""
    cumulative = 0
    for bound, count in zip(bounds, histogram.counts, strict=True):
        cumulative += count
        lines.append(f'{name}_bucket{{{base},le="{bound}"}} {cumulative}')
    lines.append(f"{name}_sum{{{base}}} {number(histogram.total)}")
    lines.append(f"{name}_count{{{base}}} {cumulative}")


def family(lines: list[str], name: str, kind: str, help_text: str) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")


def labels_text(*pairs: tuple[str, str]) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in pairs) + "}"


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def number(value: float) -> str:
    """Integers without a fraction ('250'), others as Python's shortest repr."""
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
