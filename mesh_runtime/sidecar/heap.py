"""Giving the heap a burst of connections leaves behind back to the system (glibc).

An mTLS connection costs the sidecar about 60 KB of resident memory (OpenSSL's state and
buffers, uvloop's transport). When a burst of them closes, glibc keeps what they freed in
its heap, scattered between live blocks, so the RSS stays at the burst's peak: 300 mTLS
connections opened and closed in a uvloop process left +16.7 MB, and `malloc_trim(0)`
brought that to +3.4 MB (every round alike). `HeapTrimmer` decides when (pure): once the
open connections have fallen to half their peak since the last trim, and by at least
`TRIM_DROP`; the sidecar's sweep feeds it every second.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

TRIM_DROP = 64
"""Connections that must have closed since the peak before a trim is worth its walk of
the heap (a few milliseconds of the loop)."""


class HeapTrimmer:
    """When to give freed heap back: after the connection count fell from a peak."""

    def __init__(self, min_drop: int = TRIM_DROP) -> None:
        self._min_drop = min_drop
        self._peak = 0
        self.trims = 0

    def should_trim(self, connections: int) -> bool:
        """Whether to trim now, with `connections` open (the peak restarts from here)."""
        self._peak = max(self._peak, connections)
        if self._peak - connections < self._min_drop or connections * 2 > self._peak:
            return False
        self._peak = connections
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
