"""`LoadDriver`: runs Locust (a master and `spec.workers` workers) as child processes.

The orchestrator never imports Locust or gevent: this module only writes the plan, starts
`python -m harness.load.locust_main` processes, each in its own process group, and reads
the small files the master writes. Workers may also run on other machines
(`meshproof load-worker --master HOST:PORT`): the master then listens on `master_bind`
and the driver starts only `local_workers` of the `spec.workers` itself; every worker's
records reach the load directory through the master (`harness.load.transport`). `stop()` ends every process group it started, politely first
(SIGTERM: Locust's quit, files flushed; the workers before the master, so what each
recorded since its last batch reaches the master as it quits) and then for certain
(SIGKILL).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit

from harness.errors import RunError
from harness.load.files import master_port, read_status
from harness.load.livestats import LiveStats, merge_snapshots
from harness.load.plan import GRACE_S, LoadPlan
from harness.load.schedule import Schedule
from harness.load.transport import status_file
from harness.load.workers import WorkerReport, worker_reports
from harness.spec.load import LoadSpec
from mesh_runtime.target import IngressAccess

START_TIMEOUT_S = 60.0
"""How long `start()` waits, in all, for the master and every worker to be ready."""
STOP_TIMEOUT_S = 5.0
_POLL_S = 0.05
_REPO_ROOT = Path(__file__).resolve().parents[2]
_MASTER = "locust-master"
LOOPBACK = "127.0.0.1"
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
        master_bind: str = LOOPBACK,
        master_port: int = 0,
        local_workers: int | None = None,
        ready_timeout: float = START_TIMEOUT_S,
        tcp_targets: Mapping[str, str] | None = None,
        grpc_targets: Mapping[str, str] | None = None,
        on_listening: Callable[[str], None] | None = None,
        source: Path | None = None,
    ) -> None:
        """`ingress`: the Host header, extra headers and TLS every request goes with (an
        external target's ingress); None: plain requests to `target_url`.
        `master_bind` / `master_port`: where the Locust master listens (port 0: one the OS
        picks); `local_workers`: how many workers the driver starts on this machine (None:
        all of them when the master listens on loopback, else none), the rest connect
        from elsewhere. `ready_timeout`: how long `start()` waits for them all to be ready
        before it gives up with one line (`RunError`). `tcp_targets`: tcp service ->
        host:port its TCP routes connect to (`Deployment.tcp_ingress`); `grpc_targets`:
        grpc service -> host:port its gRPC routes call (`Deployment.grpc_ingress`);
        `on_listening`: called with the master's `HOST:PORT` once it listens (the kubernetes
        runtime starts its worker pods there); `source`: the tree the Locust processes
        import `harness` from (None: this one; a benchmark's baseline revision)."""
        if local_workers is None:
            local_workers = spec.workers if master_bind == LOOPBACK else 0
        if not 0 <= local_workers <= spec.workers:
            raise RunError(f"local workers: {local_workers} is not within 0..{spec.workers}")
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
            tcp_targets=dict(tcp_targets or {}),
            grpc_targets=dict(grpc_targets or {}),
        )
        _check_reachable(spec, self.plan)
        self.master_bind = master_bind
        self.master_port = master_port
        self._on_listening = on_listening
        self._source = source
        self.local_workers = local_workers
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._logs: list[IO[bytes]] = []
        self._t0 = t0
        self.ready_timeout = ready_timeout
        self._ready_by = 0.0
        self._later: list[LoadDriver] = []
        """The blocks after this one of a series (`series`), run by this driver's processes."""
        self._leader: LoadDriver | None = None
        """The series' first block, whose processes run this one (None: its own)."""
        self._started = False

    @classmethod
    def series(
        cls, spec: LoadSpec, blocks: Sequence[tuple[str, Path]], **options: Any
    ) -> list[LoadDriver]:
        """One driver per block of `spec` against `(target_url, work_dir)`, one block after
        another, all run by one Locust master and its workers (started by the first
        driver's `start()`; its `stop()` ends them). Between blocks the master stops the
        users and spawns the next block's with Locust's own `runner.stop()` /
        `runner.start()`, as soon as every worker is done. Each block keeps its own t0,
        plan, records, status and state files in its own `work_dir`, as a driver of its own
        would; `start()` of a later block waits for that block to begin."""
        if not blocks:
            raise RunError("a load series needs at least one block")
        drivers = [cls(spec, url, work_dir, None, **options) for url, work_dir in blocks]
        first = drivers[0]
        first._later = drivers[1:]
        for later in first._later:
            later._leader = first
            later._procs = first._procs
        return drivers

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
        """Start the Locust master and workers; return t0 once every user is spawned. A
        later block of a series starts nothing: it waits for its block to begin."""
        if self._started:
            raise RunError("the load driver was already started")
        self._started = True
        self._ready_by = time.monotonic() + self.ready_timeout
        if self._leader is not None:
            self._t0 = self._await(lambda: _master_t0(self._state_path), "the block to start")
            self._await(self._all_workers_began, "every worker to take its share of the schedule")
            return self._t0
        master = ["master"]
        for block in (self, *self._later):
            master += ["--plan", str(block._write_plan()), "--state", str(block._state_path)]
        state_path = self._state_path
        master += ["--bind", self.master_bind, "--port", str(self.master_port)]
        try:
            self._spawn(_MASTER, master)
            # The workers start beside the master (their imports overlap its own) and read
            # its port from its state file once they are ready to connect.
            for i in range(self.local_workers):
                args = ["worker", "--master-host", _reachable(self.master_bind)]
                args += ["--master-state", str(state_path), "--parent-pid", str(os.getpid())]
                self._spawn(f"locust-worker-{i}", args)
            port = self._await(lambda: master_port(state_path), "the Locust master to listen")
            if self._on_listening is not None:
                self._on_listening(f"{_reachable(self.master_bind)}:{port}")
            self._t0 = self._await(lambda: _master_t0(state_path), "the Locust workers to start")
            self._await(self._all_workers_began, "every worker to take its share of the schedule")
        except BaseException:
            self.stop()
            raise
        return self._t0

    def _write_plan(self) -> Path:
        """The plan in the work directory (files an earlier driver left there removed)."""
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            for stale in self._own_files():
                stale.unlink(missing_ok=True)
            plan_path = self.work_dir / "load-plan.json"
            self.plan.write(plan_path)
        except OSError as exc:
            raise RunError(f"cannot write the load plan in {self.work_dir}: {exc}") from exc
        return plan_path

    @property
    def master_address(self) -> str | None:
        """`HOST:PORT` the master listens on (for `meshproof load-worker --master`), once
        it does."""
        port = master_port(self._state_path)
        return f"{_reachable(self.master_bind)}:{port}" if port is not None else None

    def live(self) -> LiveStats:
        """Rate, error rate, p99 and counts of the last few seconds, from the status files;
        a lost worker's share that never reached the master counts as unsent."""
        lost = [w for w in self.workers() if w.lost]
        gone = {w.index for w in lost}
        snapshots = [
            {**s, "unsent": 0} if s.get("worker") in gone else s  # counted in its share
            for s in map(read_status, self._status_files())
            if s is not None
        ]
        stats = merge_snapshots(snapshots)
        if lost:
            unsent = stats.unsent + sum(w.unsent for w in lost)
            stats = dataclasses.replace(stats, unsent=unsent, workers_lost=len(lost))
        if self._t0 is None:
            return stats
        target = Schedule.of(self.plan.spec).rate_at(time.time() - self._t0)
        return dataclasses.replace(stats, target_rps=target)

    def workers(self) -> list[WorkerReport]:
        """Every worker the master handed a share to: its records, done, or lost."""
        state = read_status(self._state_path) or {}
        return worker_reports(self.plan.spec, state.get("workers") or [])

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
        """Every worker has sent its whole schedule and every request has completed, or
        was lost (its share unsent)."""
        live = self.live()
        return live.workers_done + live.workers_lost >= self.plan.spec.workers

    def stop(self) -> None:
        """End every Locust process (SIGTERM, then SIGKILL after a few seconds). Idempotent.
        A later block of a series leaves them to the first block's driver."""
        if self._leader is not None:
            return
        # Workers first: each ships what it recorded since its last batch as it quits, and
        # the master, still up, writes it (stopped together, the master could miss it).
        workers = [proc for name, proc in self._procs if name != _MASTER]
        masters = [proc for name, proc in self._procs if name == _MASTER]
        for group in (workers, masters):
            deadline = time.monotonic() + STOP_TIMEOUT_S
            for proc in group:
                _signal_group(proc, signal.SIGTERM)
            for proc in group:
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

    @property
    def _state_path(self) -> Path:
        return self.work_dir / "locust-master.json"

    def _status_files(self) -> list[Path]:
        return [status_file(self.work_dir, i) for i in range(self.plan.spec.workers)]

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.work_dir / f"{name}.log").open("ab")
        self._logs.append(log)
        env = dict(os.environ)
        path = [str(self._source or _REPO_ROOT), env.get("PYTHONPATH")]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, path))
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "harness.load.locust_main", *args]
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self._source,  # `python -m` puts the directory it runs in first
                start_new_session=True,
            )
        except OSError as exc:
            raise RunError(f"cannot start {name}: {exc}") from exc
        self._procs.append((name, proc))

    def _await(self, probe: Callable[[], T | None], what: str) -> T:
        """Poll `probe` until it gives a value, within `start()`'s `ready_timeout`; fail
        fast if a Locust process died."""
        while (value := probe()) is None:
            for name, proc in self._procs:
                if proc.poll() is not None:
                    raise RunError(
                        f"{name} exited with code {proc.returncode} while waiting for {what}:"
                        f" {self._last_words(name)}"
                    )
            if time.monotonic() > self._ready_by:
                raise RunError(not_ready(self.ready_timeout, what, _load_average()))
            time.sleep(_POLL_S)
        return value

    def _last_words(self, name: str) -> str:
        """The last lines of `name`'s log, and of the master's when a worker ended (a worker
        stops when its master quits)."""
        logs = (self._leader or self).work_dir
        words = _tail(logs / f"{name}.log")
        if name != _MASTER:
            words += f"; {_MASTER}: {_tail(logs / f'{_MASTER}.log')}"
        return words


def not_ready(timeout: float, what: str, load1: float | None) -> str:
    """The one line a load driver that was not ready in time fails with."""
    busy = f" (load average {load1:.1f} on {os.cpu_count() or 1} cores)" if load1 else ""
    return (
        f"the load driver was not ready within {timeout:g}s, still waiting for {what}{busy};"
        " the run did not start"
    )


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _master_t0(state_path: Path) -> float | None:
    state = read_status(state_path)
    return float(state["t0"]) if state and state.get("state") == "running" else None


def _reachable(bind: str) -> str:
    """The master's address as its own machine's workers dial it (a wildcard bind ->
    loopback)."""
    if bind in ("0.0.0.0", "*"):
        return LOOPBACK
    if bind == "::":
        return "[::1]"
    return f"[{bind}]" if ":" in bind else bind


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


def _check_reachable(spec: LoadSpec, plan: LoadPlan) -> None:
    """RunError naming the tcp / grpc services whose routes have no address."""
    tcp = {r.tcp.service for r in spec.routes if r.tcp is not None} - set(plan.tcp_targets)
    if tcp:
        raise RunError(
            f"load: no address for the tcp service(s) {', '.join(sorted(tcp))}"
            " (TCP routes need a deployment with a tcp listener at its ingress)"
        )
    grpc = {r.grpc.service for r in spec.routes if r.grpc is not None} - set(plan.grpc_targets)
    if grpc:
        raise RunError(
            f"load: no address for the grpc service(s) {', '.join(sorted(grpc))}"
            " (gRPC routes need a deployment of the reference mesh)"
        )
