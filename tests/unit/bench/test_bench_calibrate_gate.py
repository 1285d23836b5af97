"""`python -m harness.bench.calibrate_gate`'s tally: gates counted with and without intervals."""

from __future__ import annotations

from harness.bench.calibrate_gate import tally, without_intervals
from harness.store import ExperimentRef, RunRecord, Summary
from harness.store.model import PhaseSummary


def record(day: int, p99: float, interval: tuple[float, float]) -> RunRecord:
    whole = PhaseSummary(
        phase="whole",
        start_s=0.0,
        end_s=20.0,
        values={"p99_ms": p99},
        intervals={"p99_ms": interval},
    )
    return RunRecord(
        id=f"202601{day:02d}T000000Z-steady",
        experiment=ExperimentRef(name="steady"),
        status="passed",
        started_at=f"2026-01-{day:02d}T00:00:00Z",
        summary=Summary(requests=400, p50_ms=10.0, p99_ms=p99, error_rate=0.0),
        phase_summaries=[whole],
    )


QUIET = [
    record(1, 16.0, (15.0, 20.0)),
    record(2, 16.1, (15.1, 21.0)),
    record(3, 16.05, (15.0, 19.0)),
]
# its p99 is far outside the quiet runs' spread, but its 400 requests put it anywhere from 15.2 ms
BURST = record(4, 19.0, (15.2, 31.0))


def test_each_run_is_gated_against_every_subset_of_the_others() -> None:
    """3 quiet runs, 2 of history: each against the one pair of the other two; none fails."""
    counted = tally(QUIET, QUIET, 2)
    assert (counted.gates, counted.failed) == (3, 0)
    assert counted.line("quiet").startswith("quiet: 0 of 3 gates failed (0.0%); regressed: none")


def test_a_burst_run_fails_only_without_its_interval() -> None:
    """Against each of the three pairs: no failure as recorded, three without intervals."""
    assert tally([BURST], QUIET, 2).failed == 0
    counted = tally([BURST], QUIET, 2, without_intervals)
    assert (counted.gates, counted.failed, counted.regressions["p99_ms"]) == (3, 3, 3)
    assert "p99_ms 3" in counted.line("burst")
