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
_EXACT_BITS = (2 * 10**SIGNIFICANT_DIGITS - 1).bit_length()
"""Values below 2^_EXACT_BITS (2048 at 3 digits, from 1 us) are counted exactly."""
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


def bucket_floor(us: int) -> int:
    """The lowest value of `us`'s bucket in a histogram of `new_histogram()`'s precision:
    values below `_EXACT_BELOW` are counted exactly, above it the bucket is 2^shift wide
    (`HdrHistogram.get_lowest_equivalent_value`, without its method calls)."""
    shift = us.bit_length() - _EXACT_BITS
    return us >> shift << shift if shift > 0 else us


class SecondHistograms:
    """A worker's open histograms, by intended second; `flush` writes and drops them.

    A request only counts its two values into dicts by bucket (`bucket_floor`); `flush`
    puts each bucket's count into the histograms at once. The histograms are the same as
    if every value had been recorded into them (a bucket's values are indistinguishable
    there), for a fraction of the CPU: `HdrHistogram.record_value` is pure Python, about
    1.3 us a value, and a second of 15 000 requests has a few thousand buckets at most.
    """

    def __init__(self) -> None:
        self._open: dict[int, tuple[dict[int, int], dict[int, int]]] = {}

    def record(self, intended_s: float, latency_ms: float, corrected_ms: float) -> None:
        second = math.floor(intended_s)
        pair = self._open.get(second)
        if pair is None:
            pair = self._open[second] = ({}, {})
        latency, corrected = pair
        value = bucket_floor(to_us(latency_ms))
        latency[value] = latency.get(value, 0) + 1
        value = bucket_floor(to_us(corrected_ms))
        corrected[value] = corrected.get(value, 0) + 1

    def flush(self, write: Callable[[str], object]) -> int:
        """Write every open second's histograms (oldest first); the number of seconds."""
        seconds = sorted(self._open)
        for second in seconds:
            for tag, counts in zip(TAGS, self._open.pop(second), strict=True):
                histogram = new_histogram()
                for value, count in counts.items():
                    histogram.record_value(value, count)
                write(log_line(tag, second, histogram))
        return len(seconds)
