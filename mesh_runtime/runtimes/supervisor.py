"""Starting, watching and stopping the local processes of a deployment.

Each process runs in its own session (and so its own process group), writes stdout and
stderr to `<logs>/<name>.log`, and is waited on by polling its HTTP ready URL. Before a
pid is signalled, its psutil create_time is compared with the recorded one: a pid from a
stale state file may belong to some other process by now.
"""

from __future__ import annotations

import contextlib
import os
import signal as signals
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import psutil
import requests

from mesh_runtime.errors import DeployError, ReadinessTimeout
from mesh_runtime.runtimes.deployment import ProcessRecord
from mesh_runtime.runtimes.hot_restart import answered_by
from mesh_runtime.runtimes.plan import ProcessSpec
from mesh_runtime.runtimes.readiness import Deadline, wait_until

LOG_TAIL_LINES = 20
DEPLOYMENT_ENV = "MESHPROOF_DEPLOYMENT"
"""Set in every process the supervisor starts, so strays can be found without a record."""
_CREATE_TIME_TOLERANCE_S = 0.05


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file ('' if there is none)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def is_running(record: ProcessRecord) -> bool:
    """True if `record.pid` is alive and is still the process that was started."""
    try:
        proc = psutil.Process(record.pid)
        same = abs(proc.create_time() - record.create_time) < _CREATE_TIME_TOLERANCE_S
        return same and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def http_ok(url: str, timeout: float = 0.5) -> bool:
    """True if GET `url` answers 200."""
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


class Supervisor:
    """Runs ProcessSpecs as process groups, logging to `logs_dir`."""

    def __init__(
        self,
        logs_dir: Path,
        *,
        marker: str | None = None,
        on_started: Callable[[ProcessRecord], None] = lambda record: None,
        ready_check: Callable[[str], bool] = http_ok,
    ) -> None:
        self.logs_dir = logs_dir
        self.marker = marker or str(logs_dir.parent)
        self._on_started = on_started
        self._ready_check = ready_check
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def start(self, spec: ProcessSpec) -> ProcessRecord:
        """Start `spec` in a new session; it is recorded (on_started) before it is waited on."""
        log = self.log_file(spec.name)
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("ab") as out:
                child = subprocess.Popen(
                    spec.command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **spec.env, DEPLOYMENT_ENV: self.marker},
                    start_new_session=True,
                )
        except OSError as exc:
            raise DeployError(f"{spec.name}: cannot start {spec.command[0]}: {exc}") from exc
        self._children[child.pid] = child
        record = ProcessRecord(
            role=spec.role,
            name=spec.name,
            pid=child.pid,
            ports=dict(spec.ports),
            create_time=_create_time(child.pid),
            command=list(spec.command),
        )
        self._on_started(record)
        return record

    def wait_ready(
        self,
        started: Sequence[tuple[ProcessSpec, ProcessRecord]],
        timeout: float,
        on_ready: Callable[[ProcessSpec], None] = lambda spec: None,
    ) -> None:
        """Wait until every started process answers its ready URL, all within `timeout`.

        A process that exits meanwhile fails at once with its log tail; one still not
        ready at the deadline raises ReadinessTimeout with its log tail.
        """
        deadline = Deadline.after(timeout)
        for spec, record in started:
            self._wait_one(spec, record, deadline, timeout)
            on_ready(spec)

    def _wait_one(
        self, spec: ProcessSpec, record: ProcessRecord, deadline: Deadline, timeout: float
    ) -> None:
        outcome = wait_until(
            lambda: self._ready_check(spec.ready_url),
            deadline,
            failed=lambda: not self.alive(record),
        )
        if outcome == "failed":
            raise DeployError(self._exit_message(spec, record))
        if outcome == "timeout":
            raise ReadinessTimeout(
                f"{spec.name} not ready at {spec.ready_url} after {timeout:.0f}s"
                + self._tail_text(spec.name)
            )

    def start_and_wait(
        self,
        specs: Iterable[ProcessSpec],
        timeout: float,
        on_ready: Callable[[ProcessSpec], None] = lambda spec: None,
    ) -> list[ProcessRecord]:
        """Start every spec in order, then wait until all of them are ready."""
        started = [(spec, self.start(spec)) for spec in specs]
        self.wait_ready(started, timeout, on_ready)
        return [record for _, record in started]

    def alive(self, record: ProcessRecord) -> bool:
        child = self._children.get(record.pid)
        if child is not None and child.poll() is not None:
            return False
        return is_running(record)

    def signal(self, record: ProcessRecord, sig: int) -> None:
        """Send `sig` to the process group of `record`, if it is still that process."""
        if not self.alive(record):
            raise DeployError(f"{record.name} (pid {record.pid}) is not running")
        try:
            os.killpg(record.pid, sig)
        except ProcessLookupError:
            raise DeployError(f"{record.name} (pid {record.pid}) is not running") from None
        except PermissionError as exc:
            raise DeployError(f"{record.name}: cannot signal pid {record.pid}: {exc}") from exc

    def stop(self, record: ProcessRecord, grace: float = 5.0) -> None:
        self.stop_all([record], grace)

    def stop_all(self, records: Sequence[ProcessRecord], grace: float = 5.0) -> None:
        """SIGTERM every live process group, SIGKILL what is left after `grace` seconds."""
        live = [r for r in records if self.alive(r)]
        for record in live:
            _killpg(record.pid, signals.SIGTERM)
            _killpg(record.pid, signals.SIGCONT)  # a paused (SIGSTOP) process must see it
        deadline = Deadline.after(grace)
        wait_until(lambda: not any(self.alive(r) for r in live), deadline, interval=0.05)
        for record in live:
            if self.alive(record):
                _killpg(record.pid, signals.SIGKILL)
        wait_until(lambda: not any(self.alive(r) for r in live), Deadline.after(5.0))
        for record in live:
            # The group may hold children of the leader; they go with it.
            _killpg(record.pid, signals.SIGKILL)
            child = self._children.pop(record.pid, None)
            if child is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=1.0)

    def strays(self) -> list[psutil.Process]:
        """Live processes started by a supervisor with this marker, recorded or not.

        An `up` killed between starting a process and recording it leaves one behind;
        the marker in its environment is how `down` still finds it.
        """
        found = []
        for proc in psutil.process_iter(["environ"]):
            environ = proc.info.get("environ") or {}
            if environ.get(DEPLOYMENT_ENV) == self.marker and proc.pid != os.getpid():
                found.append(proc)
        return found

    def stop_strays(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL, every stray of this deployment."""
        strays = self.strays()
        for proc in strays:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        _gone, alive = psutil.wait_procs(strays, timeout=grace)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=5.0)
        for proc in strays:
            child = self._children.pop(proc.pid, None)
            if child is not None:
                child.poll()

    def restart(
        self, record: ProcessRecord, *, grace: float = 5.0, timeout: float = 30.0
    ) -> ProcessRecord:
        """Stop a process, start it again with the same command and ports, wait until ready."""
        spec = ProcessSpec.from_record(record)
        self.stop(record, grace)
        return self.start_and_wait([spec], timeout)[0]

    def hot_restart(
        self, record: ProcessRecord, *, grace: float = 5.0, timeout: float = 30.0
    ) -> ProcessRecord | None:
        """Start a second copy beside `record`, then retire the old one once the copy is ready.

        The copy runs the same command on the same ports (its listeners share them through
        SO_REUSEPORT). Once its own pid answers the ready URL, the old process gets SIGTERM
        (it drains) and is waited for (SIGKILL after `grace`). None, with the old process
        untouched, if the copy exits before it is ready (a program that cannot share its
        ports); ReadinessTimeout, with the copy stopped, if it is not ready in `timeout`.
        """
        spec = ProcessSpec.from_record(record)
        new = self.start(spec)
        outcome = wait_until(
            lambda: answered_by(new.pid, spec.ready_url),
            Deadline.after(timeout),
            failed=lambda: not self.alive(new),
        )
        if outcome == "failed":
            self.stop(new, grace)
            return None
        if outcome == "timeout":
            self.stop(new, grace)
            raise ReadinessTimeout(
                f"{spec.name}: the new process (pid {new.pid}) did not answer ready at "
                f"{spec.ready_url} after {timeout:.0f}s" + self._tail_text(spec.name)
            )
        self.stop(record, grace)
        return new

    def _exit_message(self, spec: ProcessSpec, record: ProcessRecord) -> str:
        child = self._children.get(record.pid)
        code = child.poll() if child is not None else None
        how = f"exited with code {code}" if code is not None else "exited"
        return f"{spec.name} {how} before it was ready" + self._tail_text(spec.name)

    def _tail_text(self, name: str) -> str:
        tail = log_tail(self.log_file(name))
        where = self.log_file(name)
        return f"; last lines of {where}:\n{tail}" if tail else f" (log {where} is empty)"


def _create_time(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error as exc:
        raise DeployError(f"pid {pid} exited at once") from exc


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
