"""The lines that say how two objects differ, and what a merge patch makes of one. Pure.

    differences({"spec": {"timeout": "1s"}}, {"spec": {"timeout": "5s"}})
        == ["spec.timeout: '1s' -> '5s'"]

`merge` is RFC 7386's JSON merge patch (the control plane's own): lists replaced whole, a
key given `null` deleted. That is how the API server applies `application/merge-patch+json`,
so `merge(snapshot, patch)` is what the object looks like after a fault's patch landed
(before any defaulting by the server).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mesh_runtime.control.store import merge_patch as merge

MAX_SHOWN = 6
_MAX_VALUE = 80


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """One line per leaf where `actual` differs from `expected`: `path: old -> new`,
    `path: added new`, `path: removed (was old)`. Lists of equal length compare item by item."""
    if expected == actual:
        return []
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        lines: list[str] = []
        for key in sorted(set(expected) | set(actual), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                lines.append(f"{sub}: removed (was {_short(expected[key])})")
            elif key not in expected:
                lines.append(f"{sub}: added {_short(actual[key])}")
            else:
                lines.extend(differences(expected[key], actual[key], sub))
        return lines
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        lines = []
        for index, (old, new) in enumerate(zip(expected, actual, strict=True)):
            lines.extend(differences(old, new, f"{path}[{index}]"))
        return lines
    return [f"{path or '(the object)'}: {_short(expected)} -> {_short(actual)}"]


def describe(lines: list[str], limit: int = MAX_SHOWN) -> str:
    """The difference lines on one line, at most `limit` of them and a count of the rest."""
    shown = "; ".join(lines[:limit])
    more = len(lines) - limit
    return shown + (f"; and {more} more" if more > 0 else "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


__all__ = ["describe", "differences", "merge"]
