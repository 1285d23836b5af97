"""Requests in send order (harness.analysis.order) and the paths that rely on it: the
windows a block of seconds at a time and a phase as one slice give what the whole frame
and a mask give."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from harness.analysis import order, windows
from harness.analysis.order import in_send_order, interval_rows, second_blocks
from harness.analysis.phases import phase_intervals
from harness.analysis.records import normalize_requests
from harness.analysis.summary import RunFrames, summarize_phase
from harness.store.model import FaultEvent

NAN = float("nan")


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([], True),
        ([1.0], True),
        ([0.5, 0.5, 1.0, NAN, NAN], True),
        ([NAN], True),
        ([1.0, 0.5], False),
        ([0.5, NAN, 1.0], False),
    ],
)
def test_in_send_order_is_what_a_stable_sort_would_leave_alone(
    times: list[float], expected: bool
) -> None:
    assert in_send_order(np.array(times, dtype="float64")) is expected


def test_interval_rows_is_the_half_open_interval_or_none_when_unsorted() -> None:
    times = np.array([0.0, 1.0, 1.0, 2.0, 2.5, 3.0, NAN])
    assert interval_rows(times, 1.0, 3.0) == slice(1, 5)
    assert interval_rows(times, 5.0, 9.0) == slice(6, 6)
    assert interval_rows(np.array([2.0, 1.0]), 0.0, 3.0) is None


def test_second_blocks_never_split_a_second_nor_the_missing_tail() -> None:
    times = np.array([0.1, 0.2, 0.9, 1.0, 1.5, 1.7, 2.2, 5.0, NAN, NAN, NAN])
    blocks = second_blocks(times, rows=2)
    assert blocks[0].start == 0 and blocks[-1].stop == times.size
    assert all(a.stop == b.start for a, b in pairwise(blocks))
    seconds = np.floor(times)
    for a, b in pairwise(blocks):
        assert seconds[a.stop - 1] != seconds[b.start]
    assert all(np.isnan(times[blocks[-1]][-3:]))
    assert second_blocks(np.array([2.0, 1.0, 0.0]), rows=1) == [slice(0, 3)]


def shop_requests(count: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    intended = np.sort(rng.uniform(0.0, 12.0, count))
    latency = rng.lognormal(1.0, 0.8, count)
    latency[rng.random(count) < 0.01] = NAN
    return normalize_requests(
        pd.DataFrame(
            {
                "intended_s": intended,
                "sent_s": intended + rng.exponential(0.002, count),
                "latency_ms": latency,
                "corrected_ms": latency + 0.5,
                "status": rng.choice([200, 200, 200, 503, 0], count),
            }
        )
    )


PHASES = phase_intervals(
    2.0, 12.0, [FaultEvent(name="x", kind="toxic", target="a->b", start_s=4.0, end_s=7.5)]
)


def test_windows_in_blocks_equal_the_windows_of_the_whole_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = shop_requests(5000)
    whole = windows.compute_windows(frame, PHASES)
    monkeypatch.setattr(windows, "second_blocks", lambda t: order.second_blocks(t, rows=333))
    assert len(order.second_blocks(frame["intended_s"].to_numpy(), rows=333)) > 5
    pd.testing.assert_frame_equal(windows.compute_windows(frame, PHASES), whole, check_exact=True)


def test_a_phase_sliced_in_send_order_summarizes_as_the_shuffled_frame() -> None:
    """The slice path (sorted) and the mask path (shuffled) give the same values."""
    frame = shop_requests(4000)
    shuffled = frame.sample(frac=1.0, random_state=1)
    assert not in_send_order(shuffled["intended_s"].to_numpy())
    sorted_frames = RunFrames(frame, windows.compute_windows(frame, PHASES))
    shuffled_frames = RunFrames(shuffled, windows.compute_windows(shuffled, PHASES))
    for phase in PHASES:
        a = summarize_phase(sorted_frames, phase, {})
        b = summarize_phase(shuffled_frames, phase, {})
        for name in ("rps", "error_rate", "p50_ms", "p99_ms", "corrected_p99_ms", "late_share"):
            assert a.values[name] == pytest.approx(b.values[name], rel=1e-12), (phase, name)
