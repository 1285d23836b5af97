"""A sidecar pair's CPU per request in one process: outbound -> inbound -> app, over loopback.

    python -m harness.bench.pair_cpu [--requests 4000] [--connections 8] [--rounds 6]
                                     [--baseline REV] [--mtls]

One uvloop process holds a client, the outbound listener (OutboundProxy, with routing,
tracing and metrics as a sidecar has them), the inbound listener (InboundProxy) and an
echo app, all connected by real sockets on 127.0.0.1 (ephemeral ports): the mesh bench's
request (a 1 KiB POST, answered with 1 KiB) through both sidecars' code paths, plain text
between them (`--mtls`: mutual TLS, as the mesh bench's mTLS pair has it, with certificates
from a fresh mesh CA), spans encoded and dropped. Reported: process CPU microseconds per request
(both sidecars, the app, the client and the kernel's loopback work together).

Each measurement runs in a fresh process that loads the compiled build of its tree first
(`native.activate`, as the sidecar does; `MESHPROOF_SIDECAR_NATIVE=0` keeps the Python).
With `--baseline REV`, REV's `mesh_runtime` is measured in alternation with this tree's,
in the order A B, B A, ... so a drifting host favours neither: on a loaded host this sees
a few per cent that the socket bench's CPU per request (which moves with how much each
sidecar batches) cannot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BODY = b"x" * 1024
REQUEST = (
    b"POST /echo HTTP/1.1\r\nHost: echo\r\nUser-Agent: fortio.org/fortio-1.69.0\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n\r\n" + BODY
)
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\n\r\n"
    + BODY
)
WARM_REQUESTS = 200
"""Per connection, before the clock starts (pools, caches)."""


class EchoApp(asyncio.Protocol):
    """Answers each request once its 1 KiB body has come (the inbound sends it whole)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport: Any = transport
        self._got = 0

    def data_received(self, data: bytes) -> None:
        self._got += len(data)
        if data.endswith(BODY[-16:]) and self._got >= len(BODY):
            self._got = 0
            self._transport.write(ANSWER)


class Client(asyncio.Protocol):
    """One keep-alive connection to the outbound listener, one request at a time."""

    def __init__(self) -> None:
        self._buffer = b""
        self._answered: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self._answered is None:
            return
        if not self._buffer.startswith(b"HTTP/1.1 200 "):
            # At its head: a sidecar's own error answer (a 503 when a connect timed out)
            # has a short body, and waiting for 1 KiB of it hung the bench.
            self._answered.set_exception(RuntimeError(self._buffer[:200].decode("latin-1")))
        elif len(self._buffer) - end - 4 < len(BODY):
            return
        else:
            self._answered.set_result(None)
        self._buffer, self._answered = b"", None

    async def requests(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(count):
            self._answered = loop.create_future()
            self._transport.write(REQUEST)
            await self._answered


def _mtls_contexts() -> tuple[Any, Any, str]:
    """The inbound's server context, the outbound's client context and the inbound's SPIFFE
    ID, from a fresh mesh CA (as the control plane issues them)."""
    from mesh_runtime.control.ca import CertificateAuthority
    from mesh_runtime.sidecar.keygen import key_and_csr
    from mesh_runtime.sidecar.tls import Credentials

    ca = CertificateAuthority.create()
    made = []
    for service in ("echo", "client"):
        key_pem, csr = key_and_csr(service)
        issued = ca.sign(csr, f"spiffe://cluster.local/ns/default/sa/{service}")
        now = time.time()
        made.append(
            Credentials.build(
                issued.certificate,
                key_pem,
                ca.root_pem,
                principal=issued.spiffe_id,
                serial=issued.serial,
                not_after=now + 3600,
                issued_at=now,
            )
        )
    return made[0].server, made[1].client, made[0].principal


async def _pair_cpu_us(
    requests: int, connections: int, mtls: bool = False, warm: int = WARM_REQUESTS
) -> float:
    # Imported here, after `native.activate()` (see `main`): a hot module imported
    # earlier would keep the whole process on the Python.
    from mesh_runtime.sidecar.config_reader import read_config
    from mesh_runtime.sidecar.endpoint_pool import EndpointPool, UpstreamTLS
    from mesh_runtime.sidecar.http_server import ConnectionRegistry, HttpServerProtocol
    from mesh_runtime.sidecar.inbound import InboundProxy
    from mesh_runtime.sidecar.limits import HttpLimits
    from mesh_runtime.sidecar.observe import Identity, Observer, ProxyTracer
    from mesh_runtime.sidecar.outbound import OutboundProxy
    from mesh_runtime.sidecar.state import StateHolder
    from mesh_runtime.sidecar.telemetry import MeshMetrics, SpanEncoder, SpanRecorder
    from mesh_runtime.sidecar.telemetry.tracing import ProxySpan

    loop = asyncio.get_running_loop()
    limits = HttpLimits()

    server_ctx, client_ctx, principal = _mtls_contexts() if mtls else (None, None, "")

    async def listen(factory: Any, context: Any = None) -> int:
        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=context)
        return int(server.sockets[0].getsockname()[1])

    def observer(service: str) -> Observer:
        encoder = SpanEncoder({"service.name": service}, "meshproof.sidecar")

        def encode(span: ProxySpan) -> None:
            encoder.span(span)  # as the exporter's add does; then dropped

        tracer = ProxyTracer(SpanRecorder(encode), service)
        identity = Identity(service, f"{service}-0", "v1")
        return Observer(identity, MeshMetrics(workload=service), tracer)

    app_port = await listen(EchoApp)
    inbound = InboundProxy(EndpointPool("127.0.0.1", app_port), observer("echo"))
    registry = ConnectionRegistry()
    in_port = await listen(lambda: HttpServerProtocol(inbound.handle, registry, limits), server_ctx)
    endpoint = {"instance": "echo-0", "version": "v1", "address": f"127.0.0.1:{in_port}"}
    config = {"version": 1, "services": {"echo": {"name": "echo", "endpoints": [endpoint]}}}
    holder = StateHolder("client", random.Random(1))
    holder.apply(read_config(config, "pair_cpu"))
    if mtls:
        assert holder.current is not None
        tls = UpstreamTLS(lambda: client_ctx, principal)
        for runtime in holder.current.services.values():
            for pool in runtime.pools.values():
                pool.set_tls(tls)
    outbound = OutboundProxy(holder, observer("client"), random.Random(2))
    out_port = await listen(lambda: HttpServerProtocol(outbound.handle, registry, limits))
    clients = [Client() for _ in range(connections)]
    for client in clients:
        await loop.create_connection(lambda c=client: c, "127.0.0.1", out_port)  # type: ignore[misc]
    await asyncio.gather(*(c.requests(warm) for c in clients))
    each = max(1, requests // connections)
    start = time.process_time()
    await asyncio.gather(*(c.requests(each) for c in clients))
    return (time.process_time() - start) / (each * connections) * 1e6


def measure_here(requests: int, connections: int, mtls: bool = False) -> dict[str, Any]:
    """This process: compiled if a build of its `mesh_runtime` exists; CPU us a request."""
    import uvloop

    from mesh_runtime.sidecar import native

    compiled = native.activate()
    return {"compiled": compiled, "us": uvloop.run(_pair_cpu_us(requests, connections, mtls))}


def measure_tree(
    tree: Path | None, requests: int, connections: int, mtls: bool = False
) -> dict[str, Any]:
    """One measurement in a fresh process, of `tree`'s mesh_runtime (None: this one's)."""
    repo = Path(__file__).resolve().parents[2]
    path = [str(tree)] if tree is not None else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(repo)])}
    command = [sys.executable, "-m", "harness.bench.pair_cpu", "--one"]
    command += ["--requests", str(requests), "--connections", str(connections)]
    command += ["--mtls"] if mtls else []
    cwd = str(tree) if tree is not None else str(repo)  # `-m` puts the cwd first on sys.path
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode(errors="replace")[-800:])
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.pair_cpu", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--baseline", metavar="REV", help="alternate with REV's mesh_runtime")
    parser.add_argument("--mtls", action="store_true", help="mTLS between the two sidecars")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure_here(args.requests, args.connections, args.mtls)))
        return 0
    from harness.bench.pairs import revision_tree, round_order

    with tempfile.TemporaryDirectory(prefix="meshproof-pair-cpu-") as tmp:
        trees: dict[str, Path | None] = {"this": None}
        if args.baseline:
            trees = {"base": revision_tree(args.baseline, Path(tmp)), "this": None}
        figures: dict[str, list[float]] = {name: [] for name in trees}
        for number in range(1, args.rounds + 1):
            for name in round_order(list(trees), number):
                result = measure_tree(trees[name], args.requests, args.connections, args.mtls)
                figures[name].append(result["us"])
                kind = "compiled" if result["compiled"] else "Python"
                print(
                    f"  round {number} {name:5} {result['us']:7.1f} us ({kind})"
                    f"  load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    for name, values in figures.items():
        spread = " ".join(f"{v:.1f}" for v in values)
        print(f"{name}: median {statistics.median(values):.1f} us CPU a request ({spread})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
