"""Run a gRPC sample service until SIGINT / SIGTERM: the grpcio server and the behaviour
API each on a loopback port of their own, both reached through one `Demux` port."""

from __future__ import annotations

import asyncio
import signal
import sys

import grpc
import uvloop

from mesh_runtime.services.demux import Demux
from mesh_runtime.services.http_serve import listen, sweep
from mesh_runtime.services.rpc_call import CHANNEL_OPTIONS
from mesh_runtime.services.rpc_server import GrpcShopService
from mesh_runtime.sidecar.server_connections import ConnectionRegistry

LOOPBACK = "127.0.0.1"


def serve_grpc(service: GrpcShopService, host: str, port: int, *, grace_s: float = 2.0) -> int:
    """0 once stopped; 2 with one line on stderr when it cannot listen."""
    try:
        uvloop.run(_run(service, host, port, grace_s))
    except OSError as exc:
        print(f"services: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


async def _run(service: GrpcShopService, host: str, port: int, grace_s: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    registry = ConnectionRegistry()
    api = await listen(service.control.handle, LOOPBACK, 0, registry)
    sweeper = loop.create_task(sweep(registry))
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0), *CHANNEL_OPTIONS])
    server.add_generic_rpc_handlers((service,))
    try:
        http_port = api.sockets[0].getsockname()[1]
        grpc_port = server.add_insecure_port(f"{LOOPBACK}:0")
        await service.downstream.start()
        service.tracer.start()
        await server.start()
        front = await Demux((LOOPBACK, grpc_port), (LOOPBACK, http_port)).start(host, port)
        await stop.wait()
        front.close()
        await server.stop(grace_s)
    finally:
        sweeper.cancel()
        api.close()
        registry.close_all()
        await service.downstream.close()
        await service.tracer.shutdown()
