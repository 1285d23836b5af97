"""Giving the heap a burst of connections leaves behind back to the system (glibc).

An mTLS connection costs the sidecar about 60 KB of resident memory (OpenSSL's state and
buffers, uvloop's transport). When a burst of them closes, glibc keeps what they freed in
its heap, scattered between live blocks, so the RSS stays at the burst's peak: 300 mTLS
connections opened and closed in a uvloop process left +16.7 MB, and `malloc_trim(0)`
brought that to +3.4 MB (every round alike). Small bursts add up the same way: each slow
spell touches more of the heap's free space, and without a trim the RSS climbs to the
largest spell's footprint and stays (issue 17's soak: +7 MB in the first 10 minutes, most
of it heap that slow spells' connections had touched and freed). 40 connections opened and closed (80 mTLS ends, one
process) left +2.2 to +2.4 MB a round untrimmed, +1.1 to +1.3 MB trimmed; the trim took
0.6-5 ms (20 ms when it gave back 12 MB). `HeapTrimmer` decides when (pure): once the
open connections have fallen by `TRIM_DROP` from their peak since the last trim, at most
once every `TRIM_INTERVAL_S`; the sidecar's sweep feeds it every second.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

TRIM_DROP = 16
"""Connections that must have closed since the peak before a trim is worth its walk of
the heap (a few milliseconds of the loop)."""

TRIM_INTERVAL_S = 10.0
"""Seconds between two trims at least: a sidecar whose thousands of connections come and
go by tens walks its heap at most this often."""


class HeapTrimmer:
    """When to give freed heap back: after the connection count fell from a peak."""

    def __init__(self, min_drop: int = TRIM_DROP, interval_s: float = TRIM_INTERVAL_S) -> None:
        self._min_drop = min_drop
        self._interval_s = interval_s
        self._peak = 0
        self._last = float("-inf")
        self.trims = 0

    def should_trim(self, connections: int, now: float) -> bool:
        """Whether to trim at `now` (monotonic seconds), with `connections` open (the peak
        restarts from here)."""
        self._peak = max(self._peak, connections)
        if self._peak - connections < self._min_drop or now - self._last < self._interval_s:
            return False
        self._peak = connections
        self._last = now
        self.trims += 1
        return True


def malloc_trim() -> Callable[[], int] | None:
    """glibc's `malloc_trim(0)`, or None where there is none (musl, macOS)."""
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))
