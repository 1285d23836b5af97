"""`python -m harness.bench.calibrate_gate`'s tally: gates counted with and without intervals."""

from __future__ import annotations

from harness.bench.calibrate_gate import tally, without_intervals
from tests.fixtures.records import p99_record

QUIET = [
    p99_record(1, 16.0, (15.0, 20.0)),
    p99_record(2, 16.1, (15.1, 21.0)),
    p99_record(3, 16.05, (15.0, 19.0)),
]
# its p99 is far outside the quiet runs' spread, but its 400 requests put it anywhere from 15.2 ms
BURST = p99_record(4, 19.0, (15.2, 31.0))


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
