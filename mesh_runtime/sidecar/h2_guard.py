"""Flood limits of one HTTP/2 server connection, pure: fed events and a clock.

The h2 library already refuses oversized frames (FRAME_SIZE_ERROR), a header list over
SETTINGS_MAX_HEADER_LIST_SIZE as the HPACK decoder expands it (an HPACK bomb), more than
64 CONTINUATION frames in one header block, stream-ID reuse and a bad preface. What it
lets through is volume: a client may reset every stream it opens (rapid reset,
CVE-2023-44487), or send SETTINGS or PING frames without end, each costing the server an
answer. `FloodGuard` counts those per connection in a one-second window; past a limit the
connection is told GOAWAY ENHANCE_YOUR_CALM and closed (grpc-go's answer to too many
pings; nginx and Envoy close a flooding connection too).

A PING that follows an answer (the server sent HEADERS or DATA since the PING before it)
is not counted: a gRPC client (grpc-go's BDP estimation) sends one after the data it
receives, as often as answers come, and grpc-go's own server lets those through the same
way (every HEADERS or DATA frame it sends resets its ping strikes). Counted as a flood:
PINGs that come one after another with nothing answered between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Flood = Literal["reset", "settings", "ping"]


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """Events of each kind one connection may send per second."""

    resets_per_s: int = 200
    settings_per_s: int = 50
    pings_per_s: int = 50


@dataclass(slots=True)
class _Window:
    start: float = 0.0
    count: int = 0


@dataclass(slots=True)
class FloodGuard:
    """Per-connection counts of resets, SETTINGS and PINGs in the current second."""

    limits: FloodLimits = field(default_factory=FloodLimits)
    _windows: dict[Flood, _Window] = field(default_factory=dict)
    _answered: bool = False

    def answered(self) -> None:
        """The server sent a stream's HEADERS or DATA: the next PING is free."""
        self._answered = True

    def record(self, kind: Flood, now: float) -> str | None:
        """Count one event at `now` (seconds); the reason to refuse the connection, or None."""
        if kind == "ping" and self._answered:
            self._answered = False
            return None
        window = self._windows.get(kind)
        if window is None:
            window = self._windows[kind] = _Window(now)
        if now - window.start >= 1.0:
            window.start, window.count = now, 0
        window.count += 1
        limit = self._limit(kind)
        if window.count > limit:
            return f"more than {limit} {kind} frames in one second"
        return None

    def _limit(self, kind: Flood) -> int:
        limits = self.limits
        if kind == "reset":
            return limits.resets_per_s
        if kind == "settings":
            return limits.settings_per_s
        return limits.pings_per_s
