"""HDR histograms of a worker's latencies, one per intended second, in HdrHistogram's log format.

Each Locust worker records every completed request's service time (`latency`) and
corrected latency (`corrected`) in microseconds into the HDR histogram of its *intended*
second since t0 (the second the windows group it by). Once a second (`flush`) it ships
the histograms of every second that got values since the last flush to its master, which
appends them to `latency-w<i>.hlog` (`harness.load.transport`), and forgets them: a second can appear in several lines (requests
complete late) and in several workers' files; HDR histograms add up exactly, so the
analysis sums them all (`harness.analysis.hdr`).

A line is HdrHistogram's interval log line (format 1.3) with a tag:
`Tag=<latency|corrected>,<second>.000,1.000,<interval max in ms>,<base64 compressed>`.
Precision: `SIGNIFICANT_DIGITS` decimal digits over 1 us .. 1 h (a larger value is
recorded as 1 h), so any recorded value is known within a relative error of
`RELATIVE_ERROR`; values are rounded to whole microseconds first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from hdrh.histogram import HdrHistogram

SIGNIFICANT_DIGITS = 3
LOWEST_US = 1
HIGHEST_US = 3_600_000_000
RELATIVE_ERROR = 10.0**-SIGNIFICANT_DIGITS
TAGS = ("latency", "corrected")
HEADER = (
    "#[Histogram log format version 1.3]\n"
    "#[meshproof: one histogram per tag and intended second since t0, values in us]\n"
    '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n'
)


def histogram_file(work_dir: Path, worker: int) -> Path:
    return work_dir / f"latency-w{worker}.hlog"


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def to_us(ms: float) -> int:
    """A latency in ms as whole microseconds within the histogram's range."""
    return min(HIGHEST_US, max(0, int(ms * 1000.0 + 0.5)))


def log_line(tag: str, second: int, histogram: HdrHistogram) -> str:
    payload = histogram.encode().decode("ascii")
    top_ms = histogram.get_max_value() / 1000.0
    return f"Tag={tag},{second}.000,1.000,{top_ms:.3f},{payload}\n"


class SecondHistograms:
    """A worker's open histograms, by intended second; `flush` writes and drops them."""

    def __init__(self) -> None:
        self._open: dict[int, tuple[HdrHistogram, HdrHistogram]] = {}

    def record(self, intended_s: float, latency_ms: float, corrected_ms: float) -> None:
        second = math.floor(intended_s)
        pair = self._open.get(second)
        if pair is None:
            pair = self._open[second] = (new_histogram(), new_histogram())
        pair[0].record_value(to_us(latency_ms))
        pair[1].record_value(to_us(corrected_ms))

    def flush(self, write: Callable[[str], object]) -> int:
        """Write every open second's histograms (oldest first); the number of seconds."""
        seconds = sorted(self._open)
        for second in seconds:
            for tag, histogram in zip(TAGS, self._open.pop(second), strict=True):
                write(log_line(tag, second, histogram))
        return len(seconds)
