"""HDR percentiles merged across workers per window and across windows per phase."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from harness.analysis.hdr import (
    HDR_WINDOW_COLUMNS,
    PRECISION,
    hdr_percentiles,
    parse_log_line,
    percentile_values_us,
    phase_seconds,
    with_hdr,
    with_hdr_values,
)
from harness.load.hdr import SecondHistograms, new_histogram, to_us
from harness.store.model import PhaseRecord, PhaseSummary


def rank_value(values: list[float], q: float) -> float:
    """The value of HdrHistogram's rank, max(1, round(q * n)), from the raw values."""
    ordered = sorted(values)
    return ordered[max(1, int(q * 100 * len(ordered) / 100 + 0.5)) - 1]


def within_precision(hdr_ms: float, exact_ms: float) -> bool:
    """HDR reports its bucket's top: at most the relative error (+ 0.5 us rounding) above."""
    return exact_ms - 0.0005 <= hdr_ms <= exact_ms * (1 + PRECISION.relative_error) + 0.0005


def test_the_numpy_percentiles_are_hdrhistograms_own() -> None:
    """percentile_values_us equals get_value_at_percentile for sparse and dense histograms."""
    rng = random.Random(4)
    for n in (1, 3, 50, 4000):
        histogram = new_histogram()
        for _ in range(n):
            histogram.record_value(to_us(rng.lognormvariate(2.0, 1.2)))
        qs = [0.5, 0.9, 0.99, 0.999, 1.0]
        expected = [float(histogram.get_value_at_percentile(q * 100)) for q in qs]
        assert percentile_values_us(histogram, qs) == expected
    assert percentile_values_us(new_histogram(), [0.5]) == [None]


def test_windows_and_phases_agree_with_exact_values_within_the_precision() -> None:
    """Three workers' histograms, summed per second and per phase, match the raw values."""
    rng = random.Random(7)
    workers = [SecondHistograms() for _ in range(3)]
    raw: list[tuple[float, float]] = []
    for i in range(6000):
        intended = rng.uniform(0.0, 4.0)
        latency = rng.lognormvariate(math.log(10.0), 0.5)
        workers[i % 3].record(intended, latency, latency + 1.0)
        raw.append((intended, latency))
    payloads: dict[str, dict[int, list[str]]] = {}
    for worker in workers:
        lines: list[str] = []
        worker.flush(lines.append)
        for tag, second, payload in map(parse_log_line, lines):
            payloads.setdefault(tag, {}).setdefault(second, []).append(payload)
    phases = [
        PhaseRecord(name="before", start_s=0.0, end_s=2.0),
        PhaseRecord(name="whole", start_s=0.0, end_s=4.0),
    ]
    result = hdr_percentiles(payloads, phases)
    assert result.windows["second"].tolist() == [0, 1, 2, 3]
    for second, row in result.windows.set_index("second").iterrows():
        values = [to_us(v) / 1000 for t, v in raw if math.floor(t) == second]
        for column, q in (("hdr_p50_ms", 0.5), ("hdr_p99_ms", 0.99), ("hdr_p999_ms", 0.999)):
            assert within_precision(row[column], rank_value(values, q)), (second, column)
    before = [to_us(v) / 1000 for t, v in raw if t < 2.0]
    assert within_precision(result.phases["before"]["hdr_p99_ms"], rank_value(before, 0.99))
    every = [to_us(v) / 1000 for _, v in raw]
    whole = result.phases["whole"]
    assert within_precision(whole["hdr_p50_ms"], rank_value(every, 0.5))
    corrected = [to_us(v + 1.0) / 1000 for _, v in raw]
    assert within_precision(whole["hdr_corrected_p99_ms"], rank_value(corrected, 0.99))
    # beside numpy's interpolated exact value: 2000 values are dense enough to agree too
    assert whole["hdr_p50_ms"] == pytest.approx(float(np.quantile(every, 0.5)), rel=2e-3)


def test_a_phase_without_requests_has_no_hdr_values() -> None:
    """No histogram in a phase's seconds: its hdr_* values are None, never 0."""
    result = hdr_percentiles({}, [PhaseRecord(name="after", start_s=5.0, end_s=9.0)])
    assert result.windows.empty
    assert set(result.phases["after"].values()) == {None}


def test_windows_get_the_hdr_columns_by_second() -> None:
    """with_hdr adds every HDR column; a window without a histogram has NaN there."""
    hdr = pd.DataFrame({"second": [0], **{c: [1.0] for c in HDR_WINDOW_COLUMNS}})
    merged = with_hdr(pd.DataFrame({"second": [0, 1], "p99_ms": [1.0, 2.0]}), hdr)
    assert list(merged.columns) == ["second", "p99_ms", *HDR_WINDOW_COLUMNS]
    assert merged["hdr_p99_ms"].iloc[0] == 1.0 and math.isnan(merged["hdr_p99_ms"].iloc[1])


def test_a_phase_takes_the_whole_seconds_whose_middle_lies_in_it() -> None:
    """[1.54, 20.0): seconds 2-19 (second 1's middle, 1.5, is before the phase starts)."""
    assert phase_seconds(1.54, 20.0) == (2, 19)
    assert phase_seconds(0.0, 10.0) == (0, 9)
    assert phase_seconds(12.3, 22.6) == (12, 22)


def test_phase_values_say_which_seconds_they_cover() -> None:
    """notes['hdr'] names the seconds, and says so when the phase starts mid-second."""
    summaries = {
        "before": PhaseSummary(phase="before", start_s=1.54, end_s=20.0, values={"p99_ms": 9.0}),
        "whole": PhaseSummary(phase="whole", start_s=0.0, end_s=20.0),
    }
    values = {"before": {"hdr_p99_ms": 8.0}, "whole": {"hdr_p99_ms": None}}
    out = with_hdr_values(summaries, values)
    assert out["before"].values == {"p99_ms": 9.0, "hdr_p99_ms": 8.0}
    assert "whole seconds 2-19" in out["before"].notes["hdr"]
    assert "the exact percentiles cover 1.54-20.00 s" in out["before"].notes["hdr"]
    assert "exact" not in out["whole"].notes["hdr"]
    assert "no request" in out["whole"].notes["hdr_p99_ms"]
