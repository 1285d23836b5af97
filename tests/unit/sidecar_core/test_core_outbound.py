"""Outbound decisions that need no upstream: no route, injected aborts, final flags."""

from __future__ import annotations

import asyncio
import random

from mesh_runtime.config import MeshConfig
from mesh_runtime.sidecar.http1 import Request, Response
from mesh_runtime.sidecar.observe import Identity, Observer
from mesh_runtime.sidecar.outbound import OutboundProxy, _final
from mesh_runtime.sidecar.state import StateHolder
from mesh_runtime.sidecar.telemetry import MeshMetrics
from mesh_runtime.sidecar.upstream import ConnectFailure, UpstreamReset, UpstreamTimeout


def proxy(policy: dict[str, object]) -> tuple[OutboundProxy, MeshMetrics]:
    holder = StateHolder("frontend", random.Random(3))
    holder.apply(
        MeshConfig.model_validate(
            {
                "version": 4,
                "services": {
                    "catalog": {
                        "name": "catalog",
                        "endpoints": [
                            {"instance": "catalog-0", "version": "v1", "address": "127.0.0.1:9"}
                        ],
                        "policy": policy,
                    }
                },
            }
        )
    )
    metrics = MeshMetrics()
    observer = Observer(Identity("frontend", "frontend-0", "v1"), metrics)
    return OutboundProxy(holder, observer, random.Random(3)), metrics


def get(host: bytes, path: bytes = b"/", **headers: bytes) -> Request:
    extra = [(k.replace("_", "-").encode(), v) for k, v in headers.items()]
    return Request(b"GET", path, [(b"host", host), *extra])


def test_unknown_service_is_404_nr() -> None:
    """A Host naming no service is answered 404 with flag NR and counted."""
    outbound, metrics = proxy({})
    response = asyncio.run(outbound.handle(get(b"nowhere")))
    assert (response.status, response.flags) == (404, "NR")
    assert metrics.snapshot()["requests"]["by_response_flags"] == {"NR": 1}


def test_no_matching_route_is_404_nr() -> None:
    """When no route's match fits, the answer is 404 NR."""
    outbound, _ = proxy({"http": [{"match": [{"uri": {"prefix": "/api"}}]}]})
    response = asyncio.run(outbound.handle(get(b"catalog", b"/other")))
    assert (response.status, response.flags) == (404, "NR")


def test_injected_abort_answers_without_an_upstream() -> None:
    """A 100 % abort answers its status with flag FI; the endpoint is never dialled."""
    fault = {"abort": {"httpStatus": 429, "percentage": 100}}
    outbound, _ = proxy({"http": [{"fault": fault}]})
    response = asyncio.run(outbound.handle(get(b"catalog:80")))
    assert (response.status, response.flags) == (429, "FI")


def test_final_answers_carry_envoys_flags() -> None:
    """Connect failure -> 503 UF, timeout -> 504 UT, reset -> 503 UC, exhausted 5xx -> URX."""
    assert _final(ConnectFailure("x"), False).flags == "UF"
    assert (
        _final(UpstreamTimeout("x"), True).status,
        _final(UpstreamTimeout("x"), True).flags,
    ) == (504, "UT")
    assert _final(UpstreamReset("x", True), False).flags == "UC"
    assert _final(Response(503), True).flags == "URX"
    assert _final(Response(503), False).flags == "-"
    assert _final(Response(200), True).flags == "-"
