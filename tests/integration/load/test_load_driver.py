"""The load driver against a real target: accuracy, coordinated omission, rate, workers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
from loadtest_support import (
    Targets,
    nearest_rank,
    run_load,
    stall_at,
    target_stats,
    true_latencies_ms,
)

from harness.bench.procs import fortio_server
from harness.load import LoadDriver, iter_worker_records
from harness.load.plan import GRACE_S
from harness.load.schema import RECORD_COLUMNS
from harness.spec.load import LoadSpec, RouteSpec

pytestmark = pytest.mark.integration


def test_measured_latency_matches_the_targets_known_distribution(
    targets: Targets, tmp_path: Path
) -> None:
    """p50 / p99 of latency_ms at 200 RPS for 10 s are within 5 % + 2 ms of the truth.

    The truth is how long the target held each request: its seeded lognormal draw plus its
    event loop's timer slop, which it measures itself (the slop grows on a busy machine and
    is the target's, not the driver's). The measurement is never below the drawn latencies.
    """
    url = targets.start(seed=11, median_ms=10, sigma=0.5)
    spec = LoadSpec(rps=200, duration="10s", warmup="0s", connections=16)
    _, rows = run_load(spec, url, tmp_path / "run")
    stats = target_stats(url)
    drawn = true_latencies_ms(11, 10.0, 0.5, stats["served"])
    measured = [r["latency_ms"] for r in rows if r["status"] == 200]
    assert len(measured) == stats["served"] >= 1990
    for q in (50, 99):
        true, got = nearest_rank(stats["holds_ms"], q), nearest_rank(measured, q)
        assert true <= got <= true * 1.05 + 2.0, f"p{q}: measured {got:.2f} ms, held {true:.2f} ms"
        assert got >= nearest_rank(drawn, q)


def test_a_stall_shows_in_corrected_latency_though_service_time_hides_it(
    targets: Targets, tmp_path: Path
) -> None:
    """A 500 ms stall with the pool closed at 8 connections (max_connections = connections):
    corrected_ms reaches ~500 ms for many requests, latency_ms for few."""
    url = targets.start(seed=3, median_ms=5, sigma=0.2)
    spec = LoadSpec(rps=200, duration="4s", warmup="0s", connections=8, max_connections=8)
    _, rows = run_load(spec, url, tmp_path / "run", during=stall_at(url, 1.5, 500))
    assert all(r["status"] == 200 for r in rows)
    corrected = [r["corrected_ms"] for r in rows]
    latency = [r["latency_ms"] for r in rows]
    slow_corrected = sum(1 for v in corrected if v >= 100)
    slow_latency = sum(1 for v in latency if v >= 100)
    assert max(corrected) >= 450
    assert slow_corrected >= 50  # ~100 requests were due during the stall
    assert slow_latency <= spec.connections  # only those on the wire when it began
    assert nearest_rank(latency, 95) < 50 < nearest_rank(corrected, 95)


def test_achieved_rate_is_the_target_rate_and_sends_are_on_time(
    targets: Targets, tmp_path: Path
) -> None:
    """At 300 RPS for 5 s the driver sends 1500 requests, on schedule."""
    url = targets.start(median_ms=2, sigma=0)
    spec = LoadSpec(rps=300, duration="5s", warmup="0s", connections=32)
    driver, rows = run_load(spec, url, tmp_path / "run")
    assert len(rows) == pytest.approx(1500, rel=0.02)
    first, last = min(r["sent_s"] for r in rows), max(r["sent_s"] for r in rows)
    assert (len(rows) - 1) / (last - first) == pytest.approx(300, rel=0.03)
    lag_ms = [(r["sent_s"] - r["intended_s"]) * 1000 for r in rows]
    assert nearest_rank(lag_ms, 50) < 5  # sent on schedule, not when the previous answered
    assert driver.live().workers_done == 1


def test_connections_grow_so_a_slow_target_gets_its_requests_on_time(
    targets: Targets, tmp_path: Path
) -> None:
    """A 200 ms target at 100 RPS needs ~20 requests in flight; starting with 4 connections
    the load opens more, requests leave on time and corrected latency is the service time."""
    url = targets.start(median_ms=200, sigma=0)
    spec = LoadSpec(rps=100, duration="4s", warmup="0s", connections=4)
    driver, rows = run_load(spec, url, tmp_path / "run")
    assert len(rows) == pytest.approx(400, rel=0.02)
    lag_ms = [(r["sent_s"] - r["intended_s"]) * 1000 for r in rows]
    late = sum(1 for lag in lag_ms if lag > 10)
    assert late <= len(rows) * 0.02, f"{late} late, max lag {max(lag_ms):.0f} ms"
    corrected = nearest_rank([r["corrected_ms"] for r in rows], 99)
    latency = nearest_rank([r["latency_ms"] for r in rows], 99)
    assert corrected <= latency + 20
    live = driver.live()
    assert 20 <= live.peak_connections <= 40
    assert live.late == late and live.unsent == 0


def test_a_capped_pool_falls_behind_and_the_lag_is_counted(
    targets: Targets, tmp_path: Path
) -> None:
    """The same slow target with the pool capped at 4 connections: 4 / 0.2 s = 20 RPS of the
    100 wanted, so nearly every request leaves late, by seconds, and the live figures say so."""
    url = targets.start(median_ms=200, sigma=0)
    spec = LoadSpec(rps=100, duration="3s", warmup="0s", connections=4, max_connections=4)
    driver, rows = run_load(spec, url, tmp_path / "run")
    lag_ms = [(r["sent_s"] - r["intended_s"]) * 1000 for r in rows]
    assert max(lag_ms) > 1000
    live = driver.live()
    assert live.peak_connections == 4
    assert live.late == sum(1 for lag in lag_ms if lag > 10) >= len(rows) * 0.8
    assert live.unsent > 0  # the schedule ended with requests still waiting


def test_a_worker_starved_of_cpu_opens_no_connections_for_answers_it_has_not_read(
    tmp_path: Path,
) -> None:
    """A worker the host gives almost no CPU (pinned to one CPU beside a busy loop, at nice
    19) falls behind with its answers back but unread, so every connection looks busy. It
    does not open connections for that (it used to open up to its ceiling, which only
    added work): a doubling or two at the start at most, while its first answers are not
    back yet. Its requests leave late, the wait in their corrected latency."""
    spec = LoadSpec(
        rps=1000, duration="1s", warmup="0s", connections=4, max_connections=400, timeout="2s"
    )
    cpu = min(os.sched_getaffinity(0))
    with fortio_server() as url:
        driver = LoadDriver(spec, url, tmp_path / "run")
        hog: subprocess.Popen[bytes] | None = None
        try:
            driver.start()  # t0 is half a second after the worker was ready
            worker = driver.pids()[1]
            os.sched_setaffinity(worker, {cpu})
            os.setpriority(os.PRIO_PROCESS, worker, 19)
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            os.sched_setaffinity(hog.pid, {cpu})
            assert driver.wait(spec.total_duration + spec.timeout + 10)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
            driver.stop()
    rows = [row for path in driver.records_files() for row in iter_worker_records(path)]
    live = driver.live()
    assert live.unsent + live.late > 500  # starved indeed: half the schedule or more late
    assert live.peak_connections <= 8 * spec.connections
    assert all(r["corrected_ms"] >= r["latency_ms"] for r in rows)
    assert max((r["sent_s"] - r["intended_s"]) * 1000 for r in rows) > 100


class _Counted(BaseHTTPRequestHandler):
    """Answers 200; each connection's accept time is kept (in `accepted`)."""

    protocol_version = "HTTP/1.1"
    accepted: list[float] = []

    def setup(self) -> None:
        _Counted.accepted.append(time.time())
        super().setup()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: object) -> None:
        pass


def test_connections_are_open_before_their_first_request_is_due(tmp_path: Path) -> None:
    """The users connect when they are spawned, not with their first request (which then
    left late behind the connect, and made the worker open more): at 2 RPS the first
    requests of 3 connections are due 0.5 s apart, and the 3 connects come together."""
    _Counted.accepted = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counted)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = LoadSpec(rps=2, duration="2s", warmup="0s", connections=3)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        _, rows = run_load(spec, url, tmp_path / "run")
    finally:
        server.shutdown()
        server.server_close()
    assert len(rows) == 4 and all(r["status"] == 200 for r in rows)
    assert len(_Counted.accepted) == 3
    assert max(_Counted.accepted) - min(_Counted.accepted) < 0.5  # one at each due time: 1 s


def test_two_workers_share_the_rate_and_every_trace_id_is_unique(
    targets: Targets, tmp_path: Path
) -> None:
    """Two Locust workers send 400 RPS between them, each half, with unique trace ids."""
    url = targets.start(median_ms=2, sigma=0)
    routes = [
        RouteSpec(name="a", weight=3),
        RouteSpec(name="b", path="/b", method="POST", body="x"),
    ]
    spec = LoadSpec(rps=400, duration="4s", warmup="0s", connections=32, workers=2, routes=routes)
    driver, rows = run_load(spec, url, tmp_path / "run")
    files = driver.records_files()
    assert [f.name for f in files] == ["requests-w0.jsonl", "requests-w1.jsonl"]
    assert len(rows) == pytest.approx(1600, rel=0.02)
    per_worker = [sum(1 for _ in f.open()) for f in files]
    assert abs(per_worker[0] - per_worker[1]) <= len(rows) * 0.02
    trace_ids = [r["trace_id"] for r in rows]
    assert len(set(trace_ids)) == len(rows)
    assert set(target_stats(url)["trace_ids"]) == set(trace_ids)  # the header carried them
    assert tuple(rows[0]) == RECORD_COLUMNS
    share_b = sum(1 for r in rows if r["route"] == "b") / len(rows)
    assert share_b == pytest.approx(0.25, abs=0.04)


def test_unanswered_requests_time_out_and_the_driver_ends_by_its_deadline(
    targets: Targets, tmp_path: Path
) -> None:
    """A target that stops answering: requests end as status 0 'timeout' within spec.timeout,
    nothing is sent after the schedule's end, and the schedule is done by the hard deadline.
    The pool is closed at 4 connections, so a backlog builds behind the hung ones."""
    url = targets.start(median_ms=1, sigma=0)
    spec = LoadSpec(
        rps=50, duration="2s", warmup="0s", connections=4, max_connections=4, timeout="1s"
    )
    driver = LoadDriver(spec, url, tmp_path / "run")
    try:
        driver.start()
        stall_at(url, 0.5, 60_000)(driver)
        assert driver.wait(30)
        waited_until = time.time()
    finally:
        driver.stop()
    rows = [row for path in driver.records_files() for row in iter_worker_records(path)]
    assert waited_until <= driver.deadline + GRACE_S
    timeouts = [r for r in rows if r["status"] == 0]
    assert timeouts and all(r["error"] == "timeout" for r in timeouts)
    assert all(r["latency_ms"] < 1000 * spec.timeout + 200 for r in timeouts)
    assert max(r["sent_s"] for r in rows) < spec.total_duration
    assert driver.live().unsent > 0  # the backlog behind the hung connections


def test_connection_refused_is_recorded_not_raised(tmp_path: Path) -> None:
    """Against a closed port every request is a status-0 record with the error's text."""
    spec = LoadSpec(rps=50, duration="1s", warmup="0s", connections=2)
    _, rows = run_load(spec, "http://127.0.0.1:9", tmp_path / "run")
    assert len(rows) == pytest.approx(50, abs=2)
    assert all(r["status"] == 0 and r["error"] for r in rows)


def test_stop_leaves_no_locust_process_behind(targets: Targets, tmp_path: Path) -> None:
    """stop() in the middle of a run ends the master and every worker, records flushed."""
    url = targets.start(median_ms=1, sigma=0)
    spec = LoadSpec(rps=100, duration="30s", warmup="0s", connections=4, workers=2)
    driver = LoadDriver(spec, url, tmp_path / "run", t0=time.time() + 1)
    try:
        driver.start()
        pids = driver.pids()
        assert len(pids) == 3 and all(psutil.pid_exists(p) for p in pids)
        deadline = time.monotonic() + 20
        while driver.live().completed < 50 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        driver.stop()
    assert not [p for p in pids if psutil.pid_exists(p)]
    rows = [row for path in driver.records_files() for row in iter_worker_records(path)]
    assert len(rows) >= 50
