"""Durations and percentages as plain functions (no pydantic: the sidecar process uses them).

`mesh_runtime.units` wraps them into the pydantic value types of every file format.
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

MAX_DURATION_S = 365 * 24 * 3600.0
"""The longest duration any file or option takes (a year): longer ones are typing slips,
and past it clocks and timers overflow (a loop's timer, a date in a report)."""


def parse_duration(value: Any) -> float:
    """Seconds from '250ms', '30s', '2m', '1h' or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like '30s'")
    if isinstance(value, int | float):
        if not math.isfinite(value):  # YAML's .inf and .nan are floats
            raise ValueError(f"expected a finite duration, got {value}")
        if value < 0:
            raise ValueError("expected a non-negative duration")
        return _at_most_a_year(float(value), value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return _at_most_a_year(float(match.group(1)) * _UNIT_SECONDS[match.group(2)], value)
    raise ValueError(f"expected a duration like '30s', '250ms' or '2m', got {value!r}")


def _at_most_a_year(seconds: float, given: Any) -> float:
    if seconds > MAX_DURATION_S:
        raise ValueError(f"expected a duration of at most a year (8760h), got {given!r}")
    return seconds


def positive_seconds(text: str) -> float:
    """A command-line option's seconds: a finite number above 0 (an argparse type; 0,
    negatives, nan and inf are usage errors, not timers that never or always fire)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:  # also false for nan
        raise argparse.ArgumentTypeError(
            f"expected a finite number of seconds above 0, got {text!r}"
        )
    return value


def significant(value: float, digits: int = 3, sign: bool = False) -> str:
    """`value` to `digits` significant digits as people read them, never in exponent form
    for a large one: '12.3', '0.0421', '1425' (not '1.42e+03'); `sign`: '+12.3'."""
    plus = "+" if sign else ""
    text = f"{value:{plus}.{digits}g}"
    return f"{value:{plus}.0f}" if "e+" in text else text


def format_duration(seconds: float) -> str:
    """The shortest exact text for a duration: 0.25 -> '250ms', 30 -> '30s', 0 -> '0s'."""
    if seconds == 0:
        return "0s"
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    millis = seconds * 1000
    if float(round(millis, 6)).is_integer():
        return f"{round(millis)}ms"
    return f"{seconds}s"


def parse_percentage(value: Any) -> float:
    """A percentage 0-100 from a number or '12.5%' / {'value': 12.5} (Istio's Percent)."""
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    if isinstance(value, str) and value.strip().endswith("%"):
        value = value.strip()[:-1]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a percentage between 0 and 100, got {value!r}") from None
    if not 0.0 <= number <= 100.0:
        raise ValueError(f"expected a percentage between 0 and 100, got {number}")
    return number
