"""Real processes for the sidecar's integration tests: upstream apps and sidecars.

Every process runs in its own session on 127.0.0.1 ephemeral ports; readiness is polled
with a deadline; finalizers kill each process group, so nothing outlives a test. The mesh
the tests build of them, and the traffic they send through it: `sidecar_mesh.py`.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mesh_runtime.runtimes.ports import fresh_port
from tests.conftest import poll, stop_group

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PYTHON = sys.executable


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` until it is true (an OSError counts as not yet); fail the test after
    `timeout` seconds."""

    def holds() -> bool:
        try:
            return check()
        except OSError:
            return False

    poll(holds, timeout, 0.02, f"{what} ready")


def ready_200(port: int, path: str) -> Callable[[], bool]:
    return lambda: http_get(port, path, timeout=0.5)[0] == 200


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> int | None:
        return stop_group(self.popen, sig, timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Sidecar:
    proc: Proc
    service: str
    instance: str
    inbound: int
    outbound: int
    admin: int
    app: int
    config_file: Path
    args: list[str] = field(default_factory=list)

    def metrics(self) -> str:
        return http_get(self.admin, "/metrics")[1].decode()

    def stats(self) -> dict[str, Any]:
        return json.loads(http_get(self.admin, "/stats")[1])


class Processes:
    """Starts processes and remembers them, so the fixture can stop them all."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[Proc] = []

    def spawn(self, name: str, argv: list[str]) -> Proc:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def upstream(
        self,
        instance: str,
        version: str = "v1",
        port: int | None = None,
        error_rate: float = 0.0,
        error_status: int = 503,
    ) -> int:
        """An upstream app; returns its port once /_health answers."""
        port = port or fresh_port()
        argv = [
            PYTHON,
            str(HERE / "upstream_app.py"),
            "--port",
            str(port),
            "--instance",
            instance,
            "--version",
            version,
            "--error-rate",
            str(error_rate),
            "--error-status",
            str(error_status),
        ]
        self.spawn(f"app-{instance}", argv)
        wait_until(ready_200(port, "/_health"), 15, f"upstream {instance}")
        return port

    def sidecar(
        self,
        service: str,
        instance: str,
        app_port: int,
        config: dict[str, Any],
        version: str = "v1",
        extra: list[str] | None = None,
        ports: tuple[int, int, int] | None = None,
        tracing: bool = False,
    ) -> Sidecar:
        """A sidecar with a static config file; returns once its admin /ready is 200."""
        config_file = self.tmp / f"mesh-{instance}.json"
        config_file.write_text(json.dumps(config))
        source = ["--config", str(config_file)]
        return self._sidecar(service, instance, app_port, source, version, extra, ports, tracing)

    def sidecar_cp(
        self,
        service: str,
        instance: str,
        app_port: int,
        control_plane: str,
        ports: tuple[int, int, int] | None = None,
    ) -> Sidecar:
        """A sidecar configured by a control plane at `control_plane`."""
        source = ["--control-plane", control_plane]
        return self._sidecar(service, instance, app_port, source, "v1", None, ports, False)

    def _sidecar(
        self,
        service: str,
        instance: str,
        app_port: int,
        source: list[str],
        version: str,
        extra: list[str] | None,
        ports: tuple[int, int, int] | None,
        tracing: bool,
    ) -> Sidecar:
        inbound, outbound, admin = ports or (fresh_port(), fresh_port(), fresh_port())
        args = [
            "--service",
            service,
            "--instance",
            instance,
            "--version",
            version,
            "--inbound-port",
            str(inbound),
            "--outbound-port",
            str(outbound),
            "--app-port",
            str(app_port),
            "--admin-port",
            str(admin),
            *source,
            *([] if tracing else ["--no-tracing"]),
            *(extra or []),
        ]
        proc = self.spawn(f"sidecar-{instance}", [PYTHON, "-m", "mesh_runtime.sidecar", *args])
        wait_until(ready_200(admin, "/ready"), 20, f"sidecar {instance}")
        return Sidecar(
            proc,
            service,
            instance,
            inbound,
            outbound,
            admin,
            app_port,
            self.tmp / f"mesh-{instance}.json",
            args,
        )

    def restart(self, car: Sidecar) -> Sidecar:
        """Start the same sidecar again on the same ports (after it exited)."""
        argv = [PYTHON, "-m", "mesh_runtime.sidecar", *car.args]
        proc = self.spawn(f"sidecar-{car.instance}-again", argv)
        wait_until(ready_200(car.admin, "/ready"), 20, f"sidecar {car.instance} again")
        return Sidecar(
            proc,
            car.service,
            car.instance,
            car.inbound,
            car.outbound,
            car.admin,
            car.app,
            car.config_file,
            car.args,
        )

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """The test's processes, every one stopped after it (the sidecar and security tests'
    conftests take this fixture from here)."""
    processes = Processes(tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()
