"""The soak's verdict: the largest growth of one sidecar's RSS, first sample to last."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.bench.soak import (
    Sample,
    failure_causes,
    growth_mb,
    main,
    passed,
    renewals_between,
    sample_rows,
    sample_while_loaded,
    sidecar_lines,
    soak_lines,
    upstream_connections,
)


def sample(at_s: float, rss: dict[str, float], harness: float = 300.0) -> Sample:
    return Sample(at_s, rss, {name: 20 for name in rss}, harness, sent=int(at_s * 200))


def test_growth_is_per_sidecar_from_the_first_sample_to_the_last() -> None:
    samples = [
        sample(0, {"a": 50.0, "b": 60.0}),
        sample(600, {"a": 58.0, "b": 60.5}),  # a spike in the middle is not growth
        sample(3600, {"a": 51.0, "b": 62.5, "c": 40.0}),  # c came later: not compared
    ]
    assert growth_mb(samples) == {"a": 1.0, "b": 2.5}
    assert growth_mb(samples[:1]) == {}
    rows = sample_rows(samples)
    assert [r["largest_growth_mb"] for r in rows] == [0.0, 8.0, 2.5]
    assert rows[-1]["open_fds"] == 60


def test_the_verdict_names_the_sidecar_that_grew_most_against_2_mb() -> None:
    grew = soak_lines(
        [sample(0, {"a": 50.0, "b": 60.0}), sample(3600, {"a": 51.9, "b": 62.5})], 200
    )
    assert grew[-2] == (
        "largest sidecar RSS growth (b) over 60.0 min: 2.5 MB (target <= 2 MB): missed"
    )
    assert grew[-1] == "sidecar open fds +0, harness RSS +0.0 MB over the same span"
    flat = soak_lines([sample(0, {"a": 50.0}), sample(180, {"a": 50.4}, 310.0)], 200)
    assert flat[-2] == "largest sidecar RSS growth (a) over 3.0 min: 0.4 MB (target <= 2 MB): met"
    assert flat[-1].endswith("harness RSS +10.0 MB over the same span")
    assert (
        soak_lines([sample(0, {"a": 50.0})], 200)[-1] == "soak: fewer than two samples, no verdict"
    )


def test_the_table_follows_the_sidecar_that_grew_most_and_the_growth_after_warm_up() -> None:
    """Each row has the busiest sidecar's RSS and fds; a line says what grew after the
    first interval (the pools' first connections), apart from the whole span."""
    samples = [
        sample(0, {"a": 50.0, "b": 60.0}),
        Sample(60, {"a": 62.0, "b": 60.2}, {"a": 400, "b": 20}, 300.0),
        sample(180, {"a": 62.5, "b": 60.3}),
    ]
    rows = sample_rows(samples, "a")
    assert [(r["busiest_rss_mb"], r["busiest_fds"]) for r in rows] == [
        (50.0, 20),
        (62.0, 400),
        (62.5, 20),
    ]
    lines = soak_lines(samples, 200)
    assert "a RSS MB" in lines[1] and "a fds" in lines[1]
    assert (
        lines[-3] == "largest sidecar RSS growth (a) over 3.0 min: 12.5 MB (target <= 2 MB): missed"
    )
    assert lines[-2] == "after the first sample (1.0 min in): largest growth +0.5 MB (a)"


def test_a_sidecar_gone_before_the_last_sample_fails_the_verdict() -> None:
    """A sidecar that exited (say, killed for its memory) cannot pass by being left out."""
    samples = [sample(0, {"a": 50.0, "b": 60.0}), sample(180, {"a": 50.5})]
    assert not passed(samples)
    assert "gone before the last sample, not judged: b: missed" in soak_lines(samples, 200)
    assert passed([sample(0, {"a": 50.0}), sample(180, {"a": 50.5})])


def test_a_shop_that_did_not_hold_the_rate_is_said_so() -> None:
    swamped = Sample(180, {"a": 90.0}, {"a": 900}, 300.0, sent=36000, failed=900)
    lines = soak_lines([sample(0, {"a": 50.0}), swamped], 200)
    assert lines[-1] == (
        "the shop did not hold 200 RPS (2.5% of requests failed):"
        " the growth is its backlog as much as any leak"
    )


def test_bad_arguments_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--duration", "soon"]) == 2
    assert main(["--every", "0s"]) == 2
    assert main(["--cert-lifetime", "0s"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("soak: ") for line in err)


def test_failure_causes_count_5xx_by_status_and_no_answer_by_error() -> None:
    records: list[dict[str, Any]] = [
        {"status": 200, "error": None},
        {"status": 503, "error": None},
        {"status": 503, "error": None},
        {"status": 0, "error": "ConnectionResetError"},
        {"status": 404, "error": None},
    ]
    assert failure_causes(records) == [("status 503", 2), ("no answer: ConnectionResetError", 1)]


class _DriverClock:
    """The load driver's waiting as `LoadDriver.wait` does it, on the wall clock: until
    its schedule's end plus `after_s`, or at once when `ended` (its processes are gone)."""

    def __init__(self, t0: float, duration_s: float, after_s: float, ended: bool = False):
        self.t0 = t0
        self.deadline = t0 + duration_s + after_s
        self.ended = ended
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        if self.ended:
            return False
        limit = self.deadline if timeout is None else min(self.deadline, time.time() + timeout)
        while time.time() < limit:
            time.sleep(0.005)
        return False


def taken(at_s: float) -> Sample:
    return sample(at_s, {"a": 50.0})


def test_sampling_ends_when_the_drivers_deadline_passed_whatever_this_process_counted() -> None:
    # The driver's wall clock is past its deadline (this host was suspended, say): it
    # waits no more; the sampling must not take samples without a pause until a clock of
    # its own catches up (18 050 samples in 30 s before).
    driver = _DriverClock(time.time() - 3600, 3600, 0.5)
    samples = sample_while_loaded(driver, 3600, 600, taken)
    assert len(samples) == 2 and driver.waits == 2
    assert samples[-1].at_s >= 3600


def test_sampling_ends_when_the_driver_stops_waiting_early() -> None:
    driver = _DriverClock(time.time(), 3600, 5, ended=True)
    samples = sample_while_loaded(driver, 3600, 600, taken)
    assert [s.at_s for s in samples][:1] == [0.0] and len(samples) == 2


def test_samples_come_every_interval_on_the_drivers_clock_then_once_at_the_end() -> None:
    driver = _DriverClock(time.time(), 0.5, 0.05)
    samples = sample_while_loaded(driver, 0.5, 0.15, taken)
    times = [s.at_s for s in samples]
    assert times[0] == 0.0 and times[-1] >= 0.5
    middle = times[1:-1]
    assert 1 <= len(middle) <= 3
    assert all(later - earlier >= 0.15 for earlier, later in zip(times[:-1], middle, strict=False))


def test_the_renewals_column_counts_each_interval_s_renewals() -> None:
    """A row shows the renewals of every sidecar since the sample before (a sidecar not
    read in both is left out), so the rows after a renewal are marked."""
    fds = {"a": 20, "b": 20}
    samples = [
        Sample(0, {"a": 50.0, "b": 60.0}, fds, 300.0, renewals={"a": 0, "b": 0}),
        Sample(60, {"a": 50.0, "b": 60.0}, fds, 300.0, renewals={"a": 0, "b": 0}),
        Sample(120, {"a": 52.0, "b": 60.0}, fds, 300.0, renewals={"a": 1, "b": 1}),
        Sample(180, {"a": 51.0, "b": 60.0}, fds, 300.0, renewals={"a": 2}),
    ]
    assert [r["renewals"] for r in sample_rows(samples)] == [0, 0, 2, 1]
    assert renewals_between(samples[2], samples[3]) == 1
    header = soak_lines(samples, 200)[1]
    assert "renewals" in header


def test_a_line_per_sidecar_gives_its_growth_fds_and_renewals() -> None:
    """After the verdict: each sidecar's RSS growth, fds first -> last, renewals."""
    samples = [
        Sample(0, {"a": 50.0, "b": 60.0}, {"a": 20, "b": 30}, 300.0, renewals={"a": 0}),
        Sample(600, {"a": 51.5, "b": 59.75}, {"a": 25, "b": 31}, 300.0, renewals={"a": 3}),
    ]
    assert sidecar_lines(samples) == [
        "  a: +1.50 MB, fds 20 -> 25, 3 renewals",
        "  b: -0.25 MB, fds 30 -> 31, renewals not read",
    ]
    assert sidecar_lines(samples[:1]) == []


def test_the_upstream_column_sums_the_sidecars_pooled_connections_and_the_lines_give_each() -> None:
    """When the fds jump, the column tells the sidecars' own pools growing from
    connections made to them; each sidecar's line gives its first and last count."""
    fds = {"a": 20, "b": 20}
    samples = [
        Sample(0, {"a": 50.0, "b": 60.0}, fds, 300.0, upstream_conns={"a": 4, "b": 2}),
        Sample(
            600, {"a": 51.0, "b": 60.0}, {"a": 90, "b": 20}, 300.0, upstream_conns={"a": 70, "b": 2}
        ),
        Sample(1200, {"a": 51.0, "b": 60.0}, fds, 300.0, upstream_conns={"a": 5}),
    ]
    assert [r["upstream_conns"] for r in sample_rows(samples)] == [6, 72, 5]
    assert "upstream conns" in soak_lines(samples, 200)[1]
    lines = sidecar_lines(samples)
    assert lines[0].endswith(", upstream conns 4 -> 5")
    assert "upstream conns" not in lines[1]  # b was not read in the last sample


def test_upstream_connections_sum_every_endpoint_of_every_service_in_stats() -> None:
    """The shape of a sidecar's admin /stats `upstreams` (service -> endpoints)."""
    stats = {
        "upstreams": {
            "cart": {
                "in_flight": 1,
                "ejected": [],
                "endpoints": {
                    "cart-0": {"address": "127.0.0.1:1", "open_connections": 3},
                    "cart-1": {"address": "127.0.0.1:2", "open_connections": 2},
                },
            },
            "catalog": {"in_flight": 0, "ejected": [], "endpoints": {}},
        }
    }
    assert upstream_connections(stats) == 5
    assert upstream_connections({"draining": False}) is None
