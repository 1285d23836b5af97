"""The disturbance probe as a real process: it sees a CPU hog, and it never outlives a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psutil
import pytest

from harness.analysis.host import host_seconds
from harness.observe.host_probe import HostProbe, read_probe_table

pytestmark = pytest.mark.integration
STRETCH_S = 5
SPIN = "while True: pass"


class Hog:
    """Processes spinning on the CPU, started and killed by the test."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, n: int) -> list[int]:
        for _ in range(n):
            self.procs.append(subprocess.Popen([sys.executable, "-c", SPIN]))
        return [p.pid for p in self.procs]

    def cpu_s(self) -> float:
        total = 0.0
        for proc in self.procs:
            times = psutil.Process(proc.pid).cpu_times()
            total += times.user + times.system
        return total

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
        self.procs.clear()


@pytest.fixture
def hog() -> Iterator[Hog]:
    spinning = Hog()
    yield spinning
    spinning.stop()


def wait_for_rows(probe: HostProbe, after_second: int) -> pd.DataFrame:
    """The probe table once it holds the row of `after_second` (bounded wait)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        table = probe.frame()
        if not table.empty and table["second"].max() >= after_second:
            return table
        time.sleep(0.1)
    raise AssertionError(f"the probe wrote no row for second {after_second}")


def test_a_cpu_hog_raises_scheduling_lag_and_foreign_cpu(hog: Hog, tmp_path: Path) -> None:
    """Four processes spinning on the two cores: the probe's wake-ups are later than in
    the quiet stretch before, and the hog's CPU shows as foreign CPU; listed as the
    harness's own, the same processes no longer count as foreign."""
    t0 = time.time()
    probe = HostProbe(tmp_path, t0)
    probe.start()
    try:
        quiet_end = int(time.time() - t0) + STRETCH_S
        wait_for_rows(probe, quiet_end)
        hog_pids = hog.start(4)
        hog_start, cpu_before = int(time.time() - t0) + 1, hog.cpu_s()
        table = wait_for_rows(probe, hog_start + STRETCH_S)
        hog_cores = (hog.cpu_s() - cpu_before) / (time.time() - t0 - hog_start + 1)
        probe.harness_pids(hog_pids)
        own_start = int(time.time() - t0) + 2
        table = wait_for_rows(probe, own_start + 2)
    finally:
        probe.stop()
    foreign = host_seconds(table, None)[["second", "foreign_cpu_cores"]]  # no deployment here
    table = table.merge(foreign, on="second")
    quiet = table[(table["second"] >= 1) & (table["second"] < quiet_end)]
    busy = table[(table["second"] > hog_start) & (table["second"] <= hog_start + STRETCH_S)]
    owned = table[table["second"] >= own_start]
    lag_quiet, lag_busy = quiet["sched_lag_p99_ms"].median(), busy["sched_lag_p99_ms"].median()
    assert lag_busy > lag_quiet, f"p99 wake-up lag {lag_quiet:.2f} ms quiet, {lag_busy:.2f} ms hog"
    assert busy["sched_lag_max_ms"].max() > quiet["sched_lag_max_ms"].median()
    foreign_quiet, foreign_busy = (
        quiet["foreign_cpu_cores"].mean(),
        busy["foreign_cpu_cores"].mean(),
    )
    assert foreign_busy >= hog_cores - 0.25, (
        f"hog {hog_cores:.2f} cores, foreign {foreign_busy:.2f}"
    )
    if quiet["busy_cores"].mean() < 1.5:  # else the others on this host already filled it
        assert foreign_busy > foreign_quiet + 0.4
    assert owned["foreign_cpu_cores"].mean() < foreign_busy - 0.5 * hog_cores
    assert owned["harness_cores"].mean() > 0.5 * hog_cores
    assert table["probe_cpu_cores"].iloc[1:].mean() < 0.03


def test_the_probe_stops_on_sigint_and_writes_the_second_it_was_in(tmp_path: Path) -> None:
    """SIGINT (a Ctrl-C reaching it) ends the probe at once, exit 0, its last row written."""
    probe = HostProbe(tmp_path, time.time())
    probe.start()
    pid = probe.pid
    assert pid is not None
    wait_for_rows(probe, 1)
    os.kill(pid, signal.SIGINT)
    assert psutil.Process(pid).wait(timeout=3) == 0
    rows = read_probe_table(probe.path)
    assert rows["second"].is_monotonic_increasing and rows["wakeups"].iloc[-1] > 0
    probe.stop()
    assert not (tmp_path / "host-probe.pids.json").exists()


def test_an_armed_probe_counts_from_the_t0_it_is_given(tmp_path: Path) -> None:
    """Started before t0 (as the engine does, before the load picks it), the probe is
    ready at once and writes nothing until it gets t0; its first row is then second 0."""
    probe = HostProbe(tmp_path)
    probe.start()
    try:
        assert probe.armed and probe.path.exists()
        pid = probe.pid
        assert pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        assert read_probe_table(probe.path).empty
        probe.begin(time.time())
        assert not probe.armed
        table = wait_for_rows(probe, 2)
    finally:
        probe.stop()
    assert table["second"].iloc[0] == 0
    assert (table["wakeups"].iloc[:3] > 0).all()
    assert table["sched_lag_p99_ms"].iloc[:3].notna().all()


@pytest.mark.parametrize("t0", ["time.time()", "None"], ids=["running", "armed"])
def test_the_probe_ends_when_its_orchestrator_dies(tmp_path: Path, t0: str) -> None:
    """An orchestrator killed with SIGKILL (no clean-up) leaves no probe behind, whether
    the probe was running or still waiting for t0."""
    script = (
        "import sys, time; from pathlib import Path; "
        "from harness.observe.host_probe import HostProbe; "
        f"p = HostProbe(Path(sys.argv[1]), {t0}); p.start(); "
        "print(p.pid, flush=True); time.sleep(60)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        probe_pid = int(parent.stdout.readline())
        assert psutil.pid_exists(probe_pid)
        parent.kill()
        parent.wait()
        gone, _ = psutil.wait_procs([psutil.Process(probe_pid)], timeout=5)
        assert [p.pid for p in gone] == [probe_pid]
    finally:
        if parent.poll() is None:
            parent.kill()
