"""The supervisor against real processes: start, readiness, failure, stop, restart, signals."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from mesh_runtime.errors import DeployError, ReadinessTimeout
from mesh_runtime.runtimes.plan import ProcessSpec
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.runtimes.supervisor import Supervisor, http_ok, is_running

pytestmark = pytest.mark.integration

TOY = str(Path(__file__).with_name("toy_server.py"))


def toy(name: str, *flags: str) -> ProcessSpec:
    port = fresh_port()
    command = (sys.executable, TOY, str(port), *flags)
    return ProcessSpec(name, "service", command, {"port": port})


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    started = []
    sup = Supervisor(tmp_path / "logs", on_started=started.append)
    yield sup
    sup.stop_all(started, grace=1.0)


def test_start_waits_until_ready_and_logs(supervisor: Supervisor, tmp_path: Path) -> None:
    """A started process answers its ready URL once start_and_wait returns; output is logged."""
    spec = toy("toy")
    (record,) = supervisor.start_and_wait([spec], timeout=10)
    assert http_ok(spec.ready_url)
    assert is_running(record)
    assert psutil.Process(record.pid).create_time() == pytest.approx(record.create_time)
    assert "toy server starting" in (tmp_path / "logs" / "toy.log").read_text()


def test_process_that_exits_fails_fast_with_its_log(supervisor: Supervisor) -> None:
    """A process dying before ready raises DeployError at once, quoting its log tail."""
    began = time.monotonic()
    with pytest.raises(DeployError, match="exited with code 3") as caught:
        supervisor.start_and_wait([toy("broken", "--fail")], timeout=30)
    assert "cannot start, giving up" in str(caught.value)
    assert time.monotonic() - began < 10


def test_never_ready_is_a_readiness_timeout(supervisor: Supervisor) -> None:
    """A process that never listens raises ReadinessTimeout at the deadline."""
    with pytest.raises(ReadinessTimeout, match="slow not ready"):
        supervisor.start_and_wait([toy("slow", "--slow")], timeout=1.5)


def test_stop_ends_the_whole_process_group(supervisor: Supervisor) -> None:
    """Stopping a process also ends the children in its group."""
    (record,) = supervisor.start_and_wait([toy("parent", "--child")], timeout=10)
    children = psutil.Process(record.pid).children()
    assert children
    supervisor.stop(record, grace=2)
    assert not is_running(record)
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive


def test_reused_pid_is_not_signalled(supervisor: Supervisor) -> None:
    """A record whose create_time does not match the live pid counts as not running."""
    (record,) = supervisor.start_and_wait([toy("real")], timeout=10)
    stale = record.model_copy(update={"create_time": record.create_time - 1000})
    assert not is_running(stale)
    with pytest.raises(DeployError, match="not running"):
        supervisor.signal(stale, signal.SIGTERM)
    supervisor.stop_all([stale], grace=1)
    assert is_running(record)


def test_restart_keeps_the_command_and_ports(supervisor: Supervisor) -> None:
    """A restart gives a new pid serving on the same port."""
    spec = toy("again")
    (record,) = supervisor.start_and_wait([spec], timeout=10)
    new = supervisor.restart(record, grace=2, timeout=10)
    assert new.pid != record.pid
    assert not is_running(record)
    assert new.ports == record.ports and new.command == record.command
    assert http_ok(spec.ready_url)
    supervisor.stop(new, grace=2)


def test_sigstop_pauses_and_sigcont_resumes(supervisor: Supervisor) -> None:
    """SIGSTOP makes the process stop answering; SIGCONT brings it back; stop still works."""
    spec = toy("paused")
    (record,) = supervisor.start_and_wait([spec], timeout=10)
    supervisor.signal(record, signal.SIGSTOP)
    assert not http_ok(spec.ready_url, timeout=0.3)
    supervisor.signal(record, signal.SIGCONT)
    assert http_ok(spec.ready_url, timeout=2)
    supervisor.signal(record, signal.SIGSTOP)
    supervisor.stop(record, grace=2)
    assert not is_running(record)
