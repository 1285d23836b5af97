"""Helpers of the load driver's integration tests (imported by the test modules)."""

from __future__ import annotations

import json
import math
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from harness.load import LoadDriver, iter_worker_records
from harness.spec.load import LoadSpec
from tests.conftest import stop_group

TARGET_SCRIPT = Path(__file__).with_name("load_target.py")
READY_TIMEOUT_S = 20.0


class Targets:
    """Starts `load_target.py` servers; `close()` kills their process groups."""

    def __init__(self, work_dir: Path) -> None:
        self._work_dir = work_dir
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self, **options: Any) -> str:
        port_file = self._work_dir / f"target-{len(self._procs)}.port"
        args = [f"--port-file={port_file}"]
        args += [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
        proc = subprocess.Popen([sys.executable, str(TARGET_SCRIPT), *args], start_new_session=True)
        self._procs.append(proc)
        return _wait_ready(port_file, proc, str(options.get("host", "127.0.0.1")))

    def established(self, url: str) -> int:
        """Connections the target at `url` holds open now (its process's sockets)."""
        port = int(url.rsplit(":", 1)[1])
        for proc in self._procs:
            sockets = psutil.Process(proc.pid).net_connections(kind="tcp")
            if any(s.laddr and s.laddr.port == port and not s.raddr for s in sockets):
                return sum(
                    1
                    for s in sockets
                    if s.laddr and s.laddr.port == port and s.status == psutil.CONN_ESTABLISHED
                )
        raise ValueError(f"no target of this test listens at {url}")

    def close(self) -> None:
        for proc in self._procs:
            stop_group(proc, signal.SIGKILL, 30)


def _wait_ready(port_file: Path, proc: subprocess.Popen[bytes], host: str) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"target server exited with {proc.returncode}")
        if port_file.exists():
            url = f"http://{host}:{port_file.read_text().strip()}"
            try:
                with urllib.request.urlopen(f"{url}/_health", timeout=1) as response:
                    if response.status == 200:
                        return url
            except OSError:
                pass
        time.sleep(0.05)
    raise RuntimeError("target server not ready in time")


def run_load(
    spec: LoadSpec,
    url: str,
    work_dir: Path,
    during: Callable[[LoadDriver], None] | None = None,
) -> tuple[LoadDriver, list[dict[str, Any]]]:
    """Run the driver (t0 picked when its workers are ready) to the end; all its records."""
    driver = LoadDriver(spec, url, work_dir)
    try:
        driver.start()
        if during is not None:
            during(driver)
        assert driver.wait(spec.total_duration + spec.timeout + 10), "schedule not done"
    finally:
        driver.stop()
    rows = [row for path in driver.records_files() for row in iter_worker_records(path)]
    return driver, rows


def target_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_stats", timeout=5) as response:
        data: dict[str, Any] = json.load(response)
    return data


def nearest_rank(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def true_latencies_ms(seed: int, median_ms: float, sigma: float, n: int) -> list[float]:
    """The latencies `load_target.py` drew for its first `n` requests (its seeded lognormal)."""
    rng = random.Random(seed)
    mu = math.log(median_ms)
    return [rng.lognormvariate(mu, sigma) for _ in range(n)]


def stall_at(url: str, t_s: float, ms: int) -> Callable[[LoadDriver], None]:
    """A `during` callback: at `t0 + t_s` the target stops answering for `ms` milliseconds."""

    def during(driver: LoadDriver) -> None:
        time.sleep(max(0.0, driver.t0 + t_s - time.time()))  # a point in the schedule
        request = urllib.request.Request(f"{url}/_stall?ms={ms}", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    return during
