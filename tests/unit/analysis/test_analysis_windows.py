"""Per-second windows (harness.analysis.windows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis.phases import phase_intervals
from harness.analysis.records import normalize_requests
from harness.analysis.windows import WINDOW_COLUMNS, compute_windows
from harness.store.model import FaultEvent


def requests(times: list[float], statuses: list[int], latencies: list[float]) -> pd.DataFrame:
    return normalize_requests(
        pd.DataFrame(
            {
                "intended_s": times,
                "sent_s": times,
                "latency_ms": latencies,
                "corrected_ms": [x + 1 for x in latencies],
                "status": statuses,
            }
        )
    )


PHASES = phase_intervals(
    1.0, 4.0, [FaultEvent(name="x", kind="toxic", target="a->b", start_s=2.0, end_s=3.0)]
)


def test_rps_counts_answered_and_error_rate_counts_5xx_and_no_answer() -> None:
    """rps is answered requests; error_rate is (5xx + status 0) over sent."""
    frame = requests([0.1, 0.2, 0.3, 0.4], [200, 503, 0, 404], [1, 2, 3, 4])
    row = compute_windows(frame, PHASES).iloc[0]
    assert row["requests"] == 4
    assert row["rps"] == 3
    assert row["error_rate"] == pytest.approx(0.5)


def test_percentiles_are_exact_per_second() -> None:
    """p50/p99 of a window are numpy's exact percentiles of that second's latencies."""
    latencies = list(np.arange(1.0, 101.0))
    frame = requests([1.0 + i / 200 for i in range(100)], [200] * 100, latencies)
    row = compute_windows(frame, PHASES).set_index("second").loc[1]
    assert row["p50_ms"] == pytest.approx(np.quantile(latencies, 0.5))
    assert row["p99_ms"] == pytest.approx(np.quantile(latencies, 0.99))
    assert row["corrected_p99_ms"] == pytest.approx(np.quantile(latencies, 0.99) + 1)


def test_seconds_without_requests_are_kept_with_zero_rps() -> None:
    """A gap in the load is a row with rps 0 and no error rate, not a missing row."""
    frame = requests([0.5, 3.5], [200, 200], [1, 1])
    windows = compute_windows(frame, PHASES)
    assert windows["second"].tolist() == [0, 1, 2, 3]
    gap = windows.set_index("second").loc[2]
    assert gap["rps"] == 0 and gap["requests"] == 0
    assert np.isnan(gap["error_rate"])


def test_windows_carry_the_phase_of_their_second() -> None:
    """Each window is labelled with its second's primary phase."""
    frame = requests([0.5, 1.5, 2.5, 3.5], [200] * 4, [1] * 4)
    windows = compute_windows(frame, PHASES)
    assert list(windows.columns) == list(WINDOW_COLUMNS)
    assert windows["phase"].tolist() == ["warmup", "before", "during:x", "after"]


def test_no_requests_give_empty_windows() -> None:
    """Empty input, empty windows with every column."""
    windows = compute_windows(requests([], [], []), PHASES)
    assert windows.empty and list(windows.columns) == list(WINDOW_COLUMNS)
