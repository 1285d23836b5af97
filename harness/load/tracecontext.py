"""W3C trace context for the requests the driver sends.

Each request gets a fresh `traceparent`, `00-<32 hex trace id>-<16 hex span id>-01`
(version 00, sampled), so its trace can be found in the spans afterwards by its trace id.
"""

from __future__ import annotations

import os
import random
import re

TRACEPARENT = re.compile(r"^00-(?P<trace_id>[0-9a-f]{32})-(?P<span_id>[0-9a-f]{16})-01$")


class TraceIds:
    """Makes random trace and span ids; `rng` is seeded from the OS unless given."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng if rng is not None else random.Random(os.urandom(16))

    def traceparent(self) -> tuple[str, str]:
        """A new `(traceparent header, trace id)`; ids are never all zeros (W3C forbids it)."""
        trace = self._rng.getrandbits(128) or 1
        span = self._rng.getrandbits(64) or 1
        trace_id = f"{trace:032x}"
        return f"00-{trace_id}-{span:016x}-01", trace_id


def parse_traceparent(header: str) -> tuple[str, str] | None:
    """`(trace id, span id)` of a version-00 sampled `traceparent`, or None if malformed."""
    match = TRACEPARENT.match(header)
    if match is None:
        return None
    trace_id, span_id = match.group("trace_id"), match.group("span_id")
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id
