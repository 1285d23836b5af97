"""Who the inbound listener says called it: the verified identity, else the peer header
only when it names a service of the mesh (no sidecar process; a real app on loopback)."""

from __future__ import annotations

import asyncio

from mesh_runtime.sidecar.endpoint_pool import EndpointPool
from mesh_runtime.sidecar.http1 import Request, Response
from mesh_runtime.sidecar.http_server import HttpServerProtocol
from mesh_runtime.sidecar.inbound import InboundProxy
from mesh_runtime.sidecar.limits import HttpLimits
from mesh_runtime.sidecar.observe import Identity, Observer
from mesh_runtime.sidecar.server_connections import ConnectionRegistry
from mesh_runtime.sidecar.telemetry import MeshMetrics
from mesh_runtime.sidecar.telemetry.metrics import REQUEST_LABELS

SOURCE = REQUEST_LABELS.index("source_workload")


async def ok(_: Request) -> Response:
    return Response(200, [], b"ok")


def sources_seen(peers: list[bytes | None]) -> dict[str, int]:
    """source_workload -> requests, after one request per entry of `peers` (None: no
    peer header) through an inbound whose mesh has the services frontend and catalog."""

    async def main() -> dict[str, int]:
        loop = asyncio.get_running_loop()
        registry = ConnectionRegistry()
        app = await loop.create_server(
            lambda: HttpServerProtocol(ok, registry, HttpLimits()), "127.0.0.1", 0
        )
        metrics = MeshMetrics()
        pool = EndpointPool("127.0.0.1", app.sockets[0].getsockname()[1])
        inbound = InboundProxy(
            pool,
            Observer(Identity("catalog", "catalog-0", "v1"), metrics),
            known={"frontend", "catalog"}.__contains__,
        )
        for peer in peers:
            extra = [(b"x-meshproof-peer", peer)] if peer is not None else []
            response = await inbound.handle(Request(b"GET", b"/", [(b"host", b"catalog"), *extra]))
            assert response.status == 200
        pool.close_all()
        app.close()
        counts: dict[str, int] = {}
        for key, number in metrics.requests.items():
            counts[key[SOURCE]] = counts.get(key[SOURCE], 0) + number
        return counts

    return asyncio.run(main())


def test_a_peer_header_naming_a_mesh_service_names_the_source() -> None:
    assert sources_seen([b"frontend", b"frontend"]) == {"frontend": 2}


def test_names_outside_the_mesh_mint_no_series() -> None:
    """A plain-text caller sending a new name each time stays one series: unknown."""
    peers: list[bytes | None] = [b"made-up-%d" % n for n in range(50)] + [b"", None]
    assert sources_seen([*peers, b"frontend"]) == {"unknown": 52, "frontend": 1}
