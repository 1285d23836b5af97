"""Percentiles from the load workers' HDR histograms, beside the exact ones.

The workers write one HDR histogram per tag (`latency`: service time, `corrected`) and
intended second (`harness.load.hdr`). Here they are summed across workers (and across
the lines of one second) into one histogram per window, and the windows' histograms
across the whole seconds of each phase (those whose middle lies in the phase).

A percentile of a histogram is HdrHistogram's own: the highest value equivalent to the
bucket holding the value of rank max(1, round(q * n)), with no interpolation between
values. So it lies within the histogram's relative error (`RELATIVE_ERROR`, plus the
rounding to whole microseconds) above the exact value of that rank; the exact
percentiles (`harness.analysis.stats`) interpolate linearly between neighbouring values
instead, so where values are sparse (a p99.9 of a few hundred requests) the two may
differ by the gap between neighbours.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from hdrh.histogram import HdrHistogram

from harness.load.hdr import (
    HIGHEST_US,
    LOWEST_US,
    RELATIVE_ERROR,
    SIGNIFICANT_DIGITS,
    new_histogram,
)
from harness.store.model import HdrPrecision, PhaseRecord, PhaseSummary

PRECISION = HdrPrecision(
    significant_digits=SIGNIFICANT_DIGITS,
    relative_error=RELATIVE_ERROR,
    lowest_us=LOWEST_US,
    highest_us=HIGHEST_US,
)
WINDOW_PERCENTILES = {
    "hdr_p50_ms": ("latency", 0.50),
    "hdr_p90_ms": ("latency", 0.90),
    "hdr_p99_ms": ("latency", 0.99),
    "hdr_p999_ms": ("latency", 0.999),
    "hdr_corrected_p99_ms": ("corrected", 0.99),
}
PHASE_PERCENTILES = {
    **WINDOW_PERCENTILES,
    "hdr_corrected_p50_ms": ("corrected", 0.50),
    "hdr_corrected_p999_ms": ("corrected", 0.999),
}
HDR_WINDOW_COLUMNS = tuple(WINDOW_PERCENTILES)
Payloads = dict[str, dict[int, list[str]]]
"""tag -> intended second -> the encoded histograms of that second (every worker, line)."""


class HistogramLogError(ValueError):
    """A line of a histogram log that is not a tagged interval histogram."""


def read_histogram_logs(paths: Iterable[Path]) -> Payloads:
    """The encoded histograms of every worker's `.hlog` file, by tag and second."""
    found: Payloads = defaultdict(lambda: defaultdict(list))
    for path in paths:
        with path.open(encoding="ascii") as handle:
            for line in handle:
                if not line.startswith("Tag=") or not line.endswith("\n"):
                    continue  # comments, the legend, a torn last line
                tag, second, payload = parse_log_line(line)
                found[tag][second].append(payload)
    return found


def parse_log_line(line: str) -> tuple[str, int, str]:
    """`Tag=T,<start>,<length>,<max>,<payload>` -> (tag, start second, payload)."""
    parts = line.strip().split(",")
    if len(parts) != 5 or not parts[0].startswith("Tag="):
        raise HistogramLogError(f"not a tagged interval histogram: {line[:60]!r}")
    return parts[0][4:], int(float(parts[1])), parts[4]


def percentile_values_us(histogram: HdrHistogram, qs: Sequence[float]) -> list[float | None]:
    """`histogram.get_value_at_percentile(100 * q)` for each q (0-1), in one numpy pass.

    None for an empty histogram (no data, never 0).
    """
    total = histogram.get_total_count()
    if total == 0:
        return [None] * len(qs)
    counts = np.ctypeslib.as_array(histogram.counts)[: histogram.counts_len]
    cumulative = np.cumsum(counts)
    out: list[float | None] = []
    for q in qs:
        target = max(1, int(min(q * 100.0, 100.0) * total / 100 + 0.5))  # hdrh's rank
        index = int(np.searchsorted(cumulative, target, side="left"))
        value = histogram.get_value_from_index(index)
        out.append(float(histogram.get_highest_equivalent_value(value)))
    return out


def merged(payloads: Sequence[str]) -> HdrHistogram:
    histogram = new_histogram()
    for payload in payloads:
        histogram.decode_and_add(payload)
    return histogram


@dataclass(frozen=True, eq=False)
class HdrPercentiles:
    """The HDR percentiles of every window (`windows`) and of every phase (`phases`)."""

    windows: pd.DataFrame
    """`second` and `HDR_WINDOW_COLUMNS` (ms)."""
    phases: dict[str, dict[str, float | None]]
    """phase -> `PHASE_PERCENTILES` names -> ms (None: no request in the phase)."""


def hdr_percentiles(payloads: Payloads, phases: Sequence[PhaseRecord]) -> HdrPercentiles:
    """Merge across workers per window, and across windows per phase (one pass)."""
    seconds = sorted({s for by_second in payloads.values() for s in by_second})
    tags = sorted({tag for tag, _ in PHASE_PERCENTILES.values()})
    totals = {p.name: {tag: new_histogram() for tag in tags} for p in phases}
    rows = []
    for second in seconds:
        window = {tag: merged(payloads.get(tag, {}).get(second, [])) for tag in tags}
        rows.append({"second": second, **_values(window, WINDOW_PERCENTILES)})
        for phase in phases:
            first, last = phase_seconds(phase.start_s, phase.end_s)
            if first <= second <= last:
                for tag in tags:
                    totals[phase.name][tag].add(window[tag])
    table = pd.DataFrame(rows, columns=["second", *HDR_WINDOW_COLUMNS])
    table = table.astype({"second": "int64", **{c: "float64" for c in HDR_WINDOW_COLUMNS}})
    by_phase = {name: _values(hists, PHASE_PERCENTILES) for name, hists in totals.items()}
    return HdrPercentiles(windows=table, phases=by_phase)


def _values(
    histograms: Mapping[str, HdrHistogram], wanted: Mapping[str, tuple[str, float]]
) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for tag in {t for t, _ in wanted.values()}:
        names = [name for name, (t, _) in wanted.items() if t == tag]
        qs = [wanted[name][1] for name in names]
        for name, us in zip(names, percentile_values_us(histograms[tag], qs), strict=True):
            out[name] = us / 1000.0 if us is not None else None
    return {name: out[name] for name in wanted}


def with_hdr(windows: pd.DataFrame, hdr: pd.DataFrame) -> pd.DataFrame:
    """The windows with the HDR columns (NaN in a second without histograms)."""
    base = windows.drop(columns=[c for c in HDR_WINDOW_COLUMNS if c in windows.columns])
    return base.merge(hdr, on="second", how="left").astype(
        {c: "float64" for c in HDR_WINDOW_COLUMNS}
    )


def phase_seconds(start_s: float, end_s: float) -> tuple[int, int]:
    """The first and last whole second whose middle lies in [start_s, end_s)."""
    return math.ceil(start_s - 0.5), math.ceil(end_s - 0.5) - 1


def hdr_note(start_s: float, end_s: float) -> str:
    """Which requests a phase's `hdr_*` values cover (whole seconds, unlike the exact ones)."""
    first, last = phase_seconds(start_s, end_s)
    note = (
        f"HDR histograms ({SIGNIFICANT_DIGITS} significant digits) of the whole seconds "
        f"{first}-{last}, whose middle lies in the phase"
    )
    if not (float(start_s).is_integer() and float(end_s).is_integer()):
        note += f"; the exact percentiles cover {start_s:.2f}-{end_s:.2f} s to the request"
    return note


def with_hdr_values(
    summaries: Mapping[str, PhaseSummary], values: Mapping[str, Mapping[str, float | None]]
) -> dict[str, PhaseSummary]:
    """Each phase summary's values with its `hdr_*` percentiles beside the exact ones, and
    `notes["hdr"]` saying which whole seconds they cover."""
    out = {}
    for name, summary in summaries.items():
        extra = values.get(name)
        if extra is None:
            out[name] = summary
            continue
        notes = {**summary.notes, "hdr": hdr_note(summary.start_s, summary.end_s)}
        for metric, value in extra.items():
            if value is None:
                notes[metric] = "no request was recorded in the whole seconds of this phase"
        update = {"values": {**summary.values, **extra}, "notes": notes}
        out[name] = summary.model_copy(update=update)
    return out
