"""HDR histograms from real Locust workers against the known-distribution target."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from loadtest_support import Targets, run_load

from harness.analysis.hdr import PRECISION, hdr_percentiles, read_histogram_logs
from harness.load.hdr import to_us
from harness.spec.load import LoadSpec
from harness.store.model import PhaseRecord

pytestmark = pytest.mark.integration
QS = {"hdr_p50_ms": 0.5, "hdr_p90_ms": 0.9, "hdr_p99_ms": 0.99, "hdr_p999_ms": 0.999}


def rank_value(values: list[float], q: float) -> float:
    """The value of HdrHistogram's rank, max(1, round(q * n)), among the raw values."""
    ordered = sorted(values)
    return ordered[max(1, int(q * 100 * len(ordered) / 100 + 0.5)) - 1]


def agrees(hdr_ms: float, exact_ms: float) -> bool:
    """Within the stated precision: the bucket's top, at most the relative error above."""
    return exact_ms - 0.0005 <= hdr_ms <= exact_ms * (1 + PRECISION.relative_error) + 0.0005


def test_hdr_percentiles_agree_with_exact_ones_within_the_stated_precision(
    targets: Targets, tmp_path: Path
) -> None:
    """Two workers, 300 RPS for 6 s on the lognormal target: per window and for the run,
    every HDR percentile of the merged histograms is the exact value of its rank within
    10^-3; the run's p50/p90/p99 are within 1 % of the interpolated exact ones."""
    url = targets.start(seed=5, median_ms=10, sigma=0.5)
    spec = LoadSpec(rps=300, duration="6s", warmup="0s", connections=16, workers=2)
    driver, rows = run_load(spec, url, tmp_path / "run")
    files = driver.histogram_files()
    assert [f.name for f in files] == ["latency-w0.hlog", "latency-w1.hlog"]
    answered = [r for r in rows if r["status"] != 0]
    assert len(answered) >= 1700
    whole = PhaseRecord(name="whole", start_s=0.0, end_s=float(spec.total_duration))
    result = hdr_percentiles(read_histogram_logs(files), [whole])
    by_second: dict[int, list[float]] = {}
    for r in rows:  # the JSON lines keep microseconds: the values the workers recorded
        by_second.setdefault(math.floor(r["intended_s"]), []).append(to_us(r["latency_ms"]) / 1000)
    assert sorted(by_second) == result.windows["second"].tolist()
    for second, window in result.windows.set_index("second").iterrows():
        for column, q in QS.items():
            exact = rank_value(by_second[int(second)], q)
            assert agrees(window[column], exact), (
                f"second {second} {column}: {window[column]} vs {exact}"
            )
    every = [v for values in by_second.values() for v in values]
    run = result.phases["whole"]
    for column, q in QS.items():
        assert agrees(run[column], rank_value(every, q)), column
    for column in ("hdr_p50_ms", "hdr_p90_ms", "hdr_p99_ms"):
        assert run[column] == pytest.approx(float(np.quantile(every, QS[column])), rel=0.01)
