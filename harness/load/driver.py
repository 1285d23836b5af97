"""`LoadDriver`: runs Locust (a master and `spec.workers` workers) as child processes.

The orchestrator never imports Locust or gevent: this module only writes the plan, starts
`python -m harness.load.locust_main` processes, each in its own process group, and reads
the small files they write. `stop()` ends every process group it started, politely first
(SIGTERM: Locust's quit, files flushed) and then for certain (SIGKILL).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, TypeVar
from urllib.parse import urlsplit

from harness.errors import RunError
from harness.load.files import read_status
from harness.load.livestats import LiveStats, merge_snapshots
from harness.load.plan import GRACE_S, LoadPlan
from harness.load.schedule import Schedule
from harness.spec.load import LoadSpec
from mesh_runtime.target import IngressAccess

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0
_POLL_S = 0.05
_REPO_ROOT = Path(__file__).resolve().parents[2]
_MASTER = "locust-master"
T = TypeVar("T")


class LoadDriver:
    """Open-loop load on `target_url` from `t0` (wall clock) for `spec.total_duration`.

    Starting Locust takes a second or more (a few on a busy machine). Requests due before
    the workers are ready are skipped, so with `t0=None` the driver picks t0 itself, just
    after every worker is ready, and `start()` returns it (also `driver.t0`).
    """

    def __init__(
        self,
        spec: LoadSpec,
        target_url: str,
        work_dir: Path,
        t0: float | None = None,
        *,
        ingress: IngressAccess | None = None,
    ) -> None:
        """`ingress`: the Host header, extra headers and TLS every request goes with (an
        external target's ingress); None: plain requests to `target_url`."""
        url = urlsplit(target_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise RunError(f"load target {target_url!r} is not an http:// or https:// URL")
        self.plan = LoadPlan(
            spec=spec,
            target_url=target_url.rstrip("/"),
            work_dir=Path(work_dir).resolve(),
            t0=t0,
            parent_pid=os.getpid(),
            ingress=ingress,
        )
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._logs: list[IO[bytes]] = []
        self._t0 = t0

    @property
    def t0(self) -> float:
        """When the schedule starts (wall clock); known once `start()` returned."""
        if self._t0 is None:
            raise RunError("the load driver's t0 is known only after start()")
        return self._t0

    @property
    def deadline(self) -> float:
        """The hard bound: every request is sent and answered or timed out by then."""
        return self.plan.deadline(self.t0)

    @property
    def work_dir(self) -> Path:
        return self.plan.work_dir

    def start(self) -> float:
        """Start the Locust master and workers; return t0 once every user is spawned."""
        if self._procs:
            raise RunError("the load driver was already started")
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            for stale in self._own_files():
                stale.unlink(missing_ok=True)
            plan_path = self.work_dir / "load-plan.json"
            self.plan.write(plan_path)
        except OSError as exc:
            raise RunError(f"cannot write the load plan in {self.work_dir}: {exc}") from exc
        state_path = self.work_dir / "locust-master.json"
        try:
            self._spawn(_MASTER, ["master", "--plan", str(plan_path), "--state", str(state_path)])
            port = self._await(lambda: _master_port(state_path), "the Locust master to listen")
            for i in range(self.plan.spec.workers):
                args = ["worker", "--plan", str(plan_path), "--master-port", str(port)]
                self._spawn(f"locust-worker-{i}", args)
            self._t0 = self._await(lambda: _master_t0(state_path), "the Locust workers to start")
            self._await(self._all_workers_began, "every worker to take its share of the schedule")
        except BaseException:
            self.stop()
            raise
        return self._t0

    def live(self) -> LiveStats:
        """Rate, error rate, p99 and counts of the last few seconds, from the status files."""
        snapshots = [s for s in map(read_status, self._status_files()) if s is not None]
        stats = merge_snapshots(snapshots)
        if self._t0 is None:
            return stats
        target = Schedule.of(self.plan.spec).rate_at(time.time() - self._t0)
        return dataclasses.replace(stats, target_rps=target)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every worker has finished its schedule; False if `timeout` ran out first.

        Never waits past the hard deadline (`t0 + total_duration + spec.timeout`, plus a
        moment for the files), nor once every Locust process has exited.
        """
        limit = self.deadline + GRACE_S
        if timeout is not None:
            limit = min(limit, time.time() + timeout)
        while True:
            if self.finished():
                return True
            if self._procs and all(p.poll() is not None for _, p in self._procs):
                return self.finished()
            if time.time() >= limit:
                return False
            time.sleep(0.1)

    def finished(self) -> bool:
        """Every worker has sent its whole schedule and every request has completed."""
        return self.live().workers_done == self.plan.spec.workers

    def stop(self) -> None:
        """End every Locust process (SIGTERM, then SIGKILL after a few seconds). Idempotent."""
        for _, proc in self._procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for _, proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
        for _, proc in self._procs:
            if proc.poll() is None:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def records_files(self) -> list[Path]:
        """The per-worker request record files (JSON lines, one request a line)."""
        return sorted(self.work_dir.glob("requests-w*.jsonl"))

    def histogram_files(self) -> list[Path]:
        """The per-worker HDR histogram logs (`harness.load.hdr`)."""
        return sorted(self.work_dir.glob("latency-w*.hlog"))

    def pids(self) -> list[int]:
        return [proc.pid for _, proc in self._procs]

    def __enter__(self) -> LoadDriver:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _all_workers_began(self) -> bool | None:
        return all(path.exists() for path in self._status_files()) or None

    def _own_files(self) -> list[Path]:
        """Files an earlier driver may have left in the same directory."""
        patterns = (
            "requests-w*.jsonl",
            "latency-w*.hlog",
            "load-status-w*.json",
            "locust-master.json",
        )
        return [path for pattern in patterns for path in self.work_dir.glob(pattern)]

    def _status_files(self) -> list[Path]:
        return [self.plan.status_file(i) for i in range(self.plan.spec.workers)]

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.work_dir / f"{name}.log").open("ab")
        self._logs.append(log)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "harness.load.locust_main", *args]
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise RunError(f"cannot start {name}: {exc}") from exc
        self._procs.append((name, proc))

    def _await(self, probe: Callable[[], T | None], what: str) -> T:
        """Poll `probe` until it gives a value; fail fast if a Locust process died."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while (value := probe()) is None:
            for name, proc in self._procs:
                if proc.poll() is not None:
                    raise RunError(
                        f"{name} exited with code {proc.returncode} while waiting for {what}:"
                        f" {self._last_words(name)}"
                    )
            if time.monotonic() > deadline:
                raise RunError(f"timed out after {START_TIMEOUT_S:g}s waiting for {what}")
            time.sleep(_POLL_S)
        return value

    def _last_words(self, name: str) -> str:
        """The last lines of `name`'s log, and of the master's when a worker ended (a worker
        stops when its master quits)."""
        words = _tail(self.work_dir / f"{name}.log")
        if name != _MASTER:
            words += f"; {_MASTER}: {_tail(self.work_dir / f'{_MASTER}.log')}"
        return words


def _master_port(state_path: Path) -> int | None:
    state = read_status(state_path)
    return int(state["port"]) if state and "port" in state else None


def _master_t0(state_path: Path) -> float | None:
    state = read_status(state_path)
    return float(state["t0"]) if state and state.get("state") == "running" else None


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
