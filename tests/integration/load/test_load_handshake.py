"""The master / worker handshake: a worker always takes its share, back-to-back drivers."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from loadtest_support import Targets

from harness.errors import RunError
from harness.load import LoadDriver, iter_worker_records
from harness.spec.load import LoadSpec
from tests.conftest import poll

pytestmark = pytest.mark.integration

HELD_WORKER = Path(__file__).with_name("held_worker")
SPEC = LoadSpec(rps=50, duration="1s", warmup="0.5s", connections=8, timeout="2s")


def pid_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def drive(url: str, work_dir: Path, spec: LoadSpec = SPEC) -> tuple[LoadDriver, int]:
    """Start a driver with t0 left to the master (as the comparison blocks do); run it out."""
    driver = LoadDriver(spec, url, work_dir, None)
    try:
        driver.start()
        assert driver.wait(spec.total_duration + spec.timeout + 10), "schedule not done"
    finally:
        driver.stop()
    return driver, sum(1 for path in driver.records_files() for _ in iter_worker_records(path))


def test_a_worker_that_finds_the_spawn_queued_behind_the_ack_keeps_its_share(
    targets: Targets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker not run between the master's ack and its spawn message still takes its share
    of the schedule (before the fix it spawned users with no schedule and exited 0 at the
    master's hard deadline: "exited with code 0 while waiting for every worker ...")."""
    url = targets.start(median_ms=1, sigma=0)
    monkeypatch.setenv("PYTHONPATH", str(HELD_WORKER))
    monkeypatch.setenv("MESHPROOF_TEST_HOLD_WORKER", "1")
    driver, records = drive(url, tmp_path / "held")
    assert (driver.work_dir / "worker-held").exists(), "the hook did not hold the worker"
    live = driver.live()
    assert live.workers_done == 1 and live.unsent == 0
    # Requests due while the worker was held are skipped (never sent late, as a burst);
    # every request from the moment it took its share on is sent and recorded.
    assert 0 < records == live.sent == live.completed <= 75


def test_back_to_back_drivers_each_keep_the_whole_schedule(
    targets: Targets, tmp_path: Path
) -> None:
    """Six drivers in a row against one target, as a bench runs its rounds: each starts,
    keeps its 75 requests and stops, whatever the one before left behind."""
    url = targets.start(median_ms=1, sigma=0)
    counts = [drive(url, tmp_path / f"r{i // 2}-{'ab'[i % 2]}")[1] for i in range(6)]
    assert all(count >= 70 for count in counts), counts  # 75 due; a busy start may skip a few


def test_a_locust_process_that_ends_early_says_why_in_the_drivers_error(
    targets: Targets, tmp_path: Path
) -> None:
    """Locust processes whose orchestrator seems gone stop at once; start() fails with one
    line naming the process, its exit code and its last log line (the reason), not a bare
    "exit 0, empty log"."""
    url = targets.start(median_ms=1, sigma=0)
    driver = LoadDriver(SPEC, url, tmp_path / "orphan", None)
    driver.plan = driver.plan.model_copy(update={"parent_pid": 1})  # not their parent
    with pytest.raises(RunError) as caught:
        driver.start()
    message = str(caught.value)
    assert re.search(r"locust-(master|worker-0) exited with code -?\d+ while waiting", message)
    assert "stopping: orchestrator gone" in message
    assert "\n" not in message
    assert all(pid_gone(pid) for pid in driver.pids())


def test_a_worker_still_connecting_ends_at_once_on_sigterm(tmp_path: Path) -> None:
    """A worker whose master never answers (Locust retries for 5 minutes) handles SIGTERM:
    it says so and exits 1 at once, instead of dying of the signal's default action (which
    a pod's PID 1 does not have, so its pod waited out the grace period)."""
    with socket.socket() as held:  # a port of ours where nothing listens
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        log = tmp_path / "worker.log"
        with log.open("wb") as err:
            worker = subprocess.Popen(
                [sys.executable, "-m", "harness.load.locust_main", "worker",
                 "--master", f"127.0.0.1:{port}"],
                stderr=err,
            )  # fmt: skip
        try:
            poll(lambda: "connecting to the Locust master" in log.read_text(), timeout=30,
                 interval=0.05, what="the worker connecting")  # fmt: skip
            sent = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=10)
            took = time.monotonic() - sent
        finally:
            worker.kill()
            worker.wait()
    assert code == 1, log.read_text()
    assert "stopping: SIGTERM while connecting" in log.read_text()
    print(f"worker still connecting: ended {took * 1000:.0f} ms after SIGTERM")
