"""The mesh the sidecar's integration tests build, and the traffic they send through it.

Mesh configs as JSON data; `build_mesh` starts catalog replicas (an upstream app and a
server sidecar each) and a frontend client sidecar (`sidecar_procs.Processes`); requests
(one, many over keep-alive connections, raw bytes) and the checks run on what comes back
(a metric's sum, a rate within binomial deviations).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

from sidecar_procs import Processes, Sidecar, http_get

from mesh_runtime.runtimes.ports import fresh_port


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
        replica.ports = (fresh_port(), fresh_port(), fresh_port())
    endpoints = [endpoint(r.instance, r.inbound, r.version) for r in replicas]
    catalog: dict[str, Any] = {"endpoints": endpoints + (extra_endpoints or [])}
    if policy is not None:
        catalog["policy"] = policy
    # frontend: the calling workload, named in the config as every workload of a mesh is
    # (an inbound takes a plain-text caller's name only when it names a service).
    config = mesh_config({"catalog": catalog, "frontend": {}})
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
    client = procs.sidecar("frontend", "frontend-0", fresh_port(), config, extra=client_extra)
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
