"""Real processes for the sidecar's integration tests: upstream apps and sidecars.

Every process runs in its own session on 127.0.0.1 ephemeral ports; readiness is polled
with a deadline; finalizers kill each process group, so nothing outlives a test.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import poll, stop_group

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        port = port or free_port()
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
        inbound, outbound, admin = ports or (free_port(), free_port(), free_port())
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


def endpoint(instance: str, port: int, version: str = "v1") -> dict[str, Any]:
    return {"instance": instance, "version": version, "address": f"127.0.0.1:{port}"}


def mesh_config(services: dict[str, dict[str, Any]], version: int = 1) -> dict[str, Any]:
    """A MeshConfig as JSON data: {name: {"endpoints": [...], "policy": {...}}}."""
    return {
        "version": version,
        "services": {name: {"name": name, **entry} for name, entry in services.items()},
    }


def request(
    port: int,
    method: str,
    path: str,
    host: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: status, lower-case headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the peer closes (or resets, or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(ConnectionError):  # refused mid-send: read the answer
            sock.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


@dataclass
class Replica:
    instance: str
    version: str = "v1"
    error_rate: float = 0.0
    app_port: int = 0
    ports: tuple[int, int, int] = (0, 0, 0)
    """The server sidecar's inbound, outbound and admin ports."""

    @property
    def inbound(self) -> int:
        return self.ports[0]


@dataclass
class Mesh:
    client: Sidecar
    servers: list[Sidecar]
    replicas: list[Replica]
    config: dict[str, Any]

    def count(self, replica: int) -> int:
        """Requests the replica's app has served."""
        port = self.replicas[replica].app_port
        return int(json.loads(http_get(port, "/_count")[1])["requests"])

    def behave(self, replica: int, **changes: float) -> None:
        query = "&".join(f"{k}={v}" for k, v in changes.items())
        conn = http.client.HTTPConnection("127.0.0.1", self.replicas[replica].app_port, timeout=5)
        try:
            conn.request("PUT", f"/_behaviour?{query}")
            assert conn.getresponse().status == 200
        finally:
            conn.close()


def build_mesh(
    procs: Processes,
    replicas: list[Replica],
    policy: dict[str, Any] | None = None,
    client_extra: list[str] | None = None,
    extra_endpoints: list[dict[str, Any]] | None = None,
) -> Mesh:
    """catalog replicas (app + server sidecar each) and a frontend client sidecar."""
    for replica in replicas:
        replica.ports = (free_port(), free_port(), free_port())
    endpoints = [endpoint(r.instance, r.inbound, r.version) for r in replicas]
    catalog: dict[str, Any] = {"endpoints": endpoints + (extra_endpoints or [])}
    if policy is not None:
        catalog["policy"] = policy
    config = mesh_config({"catalog": catalog})
    servers = []
    for replica in replicas:
        replica.app_port = procs.upstream(
            replica.instance, replica.version, error_rate=replica.error_rate
        )
        servers.append(
            procs.sidecar(
                "catalog",
                replica.instance,
                replica.app_port,
                config,
                version=replica.version,
                ports=replica.ports,
            )
        )
    client = procs.sidecar("frontend", "frontend-0", free_port(), config, extra=client_extra)
    return Mesh(client, servers, replicas, config)


@dataclass
class Outcome:
    status: int
    headers: dict[str, str]
    error: str = ""


def send_many(
    port: int,
    host: str,
    path: str,
    count: int,
    concurrency: int = 4,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> list[Outcome]:
    """`count` GETs over `concurrency` keep-alive connections; errors are status 0."""
    from concurrent.futures import ThreadPoolExecutor

    def worker(share: int) -> list[Outcome]:
        out: list[Outcome] = []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        for _ in range(share):
            try:
                conn.request("GET", path, headers={"Host": host, **(headers or {})})
                response = conn.getresponse()
                response.read()
                out.append(
                    Outcome(response.status, {k.lower(): v for k, v in response.getheaders()})
                )
            except (OSError, http.client.HTTPException) as exc:
                out.append(Outcome(0, {}, repr(exc)))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.close()
        return out

    shares = [
        count // concurrency + (1 if i < count % concurrency else 0) for i in range(concurrency)
    ]
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(worker, shares))
    return [o for part in results for o in part]


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of every sample of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        series, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total


def within_binomial(hits: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    """Whether `hits` out of `n` agrees with probability `p` within `sigmas` deviations."""
    mean = n * p
    sd = (n * p * (1 - p)) ** 0.5
    return abs(hits - mean) <= sigmas * sd + 1


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """The test's processes, every one stopped after it (the sidecar and security tests'
    conftests take this fixture from here)."""
    processes = Processes(tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()
