"""The admin API on loopback: /ready, /config_dump, /stats, /metrics, POST /spans/flush.

`/config_dump`, `/stats` and `/spans/flush` need the admin token (`Authorization: Bearer`,
when the sidecar was given one) and a loopback peer (when the listener itself is on loopback); `/ready` and `/metrics` stay open for probes and
Prometheus. Nothing secret is ever shown: no key, no token.

`/ready` answers JSON naming the process (`{"ready": true, "pid": N}`; 503 with a
`reason` otherwise): during a hot restart two sidecars share the admin port
(SO_REUSEPORT), and the runtime polls until the *new* pid says it is ready.

`POST /spans/flush` sends every span ended so far to the OTLP endpoint at once and answers
`{"flushed": bool, "tracing": <the tracing counts> | null}` once the endpoint took them
(`flushed` false: not within `FLUSH_TIMEOUT_S`); without tracing there is nothing to send.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mesh_runtime.sidecar.config_reader import dump_config
from mesh_runtime.sidecar.http1 import Request, Response, simple_response
from mesh_runtime.sidecar.observe import Observer
from mesh_runtime.sidecar.state import MeshState, StateHolder
from mesh_runtime.sidecar.telemetry.metrics import CONTENT_TYPE

FLUSH_TIMEOUT_S = 5.0
SPANS_FLUSH = "/spans/flush"


class Lifecycle:
    """Where the process is: waiting for config, serving, or draining."""

    def __init__(self) -> None:
        self.listening = False
        self.draining = False

    def ready(self, holder: StateHolder) -> bool:
        return holder.current is not None and self.listening and not self.draining


class AdminApi:
    """The handler of the admin listener."""

    def __init__(
        self,
        holder: StateHolder,
        observer: Observer,
        lifecycle: Lifecycle,
        clock: Callable[[], float] = time.monotonic,
        pid: int | None = None,
        token: str | None = None,
        security: Callable[[], dict[str, Any]] | None = None,
        loopback_only: bool = True,
        tracing: Callable[[], dict[str, Any]] | None = None,
        flush: Callable[[float], Awaitable[bool]] | None = None,
    ) -> None:
        self._holder = holder
        self._obs = observer
        self._lifecycle = lifecycle
        self._clock = clock
        self._pid = os.getpid() if pid is None else pid
        self._token = token.encode() if token else None
        self._security = security
        self._tracing = tracing
        self._flush = flush
        self._loopback_only = loopback_only
        """False when the admin listener is on a non-loopback address (a container):
        callers come through a published port, and only the token can tell them apart."""
        self._dumped: tuple[MeshState | None, bytes] = (None, b"")
        """The config dump's body of the state it was made from: a state never changes
        (a new config is a new state), so each is serialized once, not once per read."""

    async def handle(self, request: Request) -> Response:
        path = request.path
        if path == SPANS_FLUSH and request.method == b"POST":
            refused = self._refuse(request)
            return refused if refused is not None else await self._flush_spans()
        if request.method not in (b"GET", b"HEAD"):
            return simple_response(405)
        if path == "/ready":
            return self._ready()
        if path in ("/config_dump", "/stats"):
            refused = self._refuse(request)
            if refused is not None:
                return refused
            return self._config_dump() if path == "/config_dump" else _json(self._stats())
        if path == "/metrics":
            return self._metrics()
        return simple_response(
            404, "admin endpoints: /ready /config_dump /stats /metrics, POST /spans/flush"
        )

    async def _flush_spans(self) -> Response:
        flushed = True if self._flush is None else await self._flush(FLUSH_TIMEOUT_S)
        tracing = self._tracing() if self._tracing is not None else None
        return _json({"flushed": flushed, "tracing": tracing})

    def _ready(self) -> Response:
        if self._lifecycle.ready(self._holder):
            return _json({"ready": True, "pid": self._pid})
        if self._lifecycle.draining:
            reason = "draining"
        elif self._holder.current is None:
            reason = "waiting for the mesh config"
        else:
            reason = "listeners not open yet"
        return _json({"ready": False, "pid": self._pid, "reason": reason}, 503)

    def _refuse(self, request: Request) -> Response | None:
        """401/403 unless the caller is on loopback and shows the token (when there is one)."""
        if self._loopback_only and not _loopback(request.downstream.remote):
            return simple_response(403, "admin endpoints answer loopback only")
        if self._token is None:
            return None
        scheme, _, given = (request.header(b"authorization") or b"").partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self._token):
            return simple_response(401, "this admin endpoint needs 'Authorization: Bearer <token>'")
        return None

    def _config_dump(self) -> Response:
        state = self._holder.current
        if state is None:
            return simple_response(503, "no mesh config yet")
        if self._dumped[0] is not state:
            self._dumped = (state, _json_body(dump_config(state.config)))
        return Response(200, [(b"content-type", b"application/json")], self._dumped[1])

    def _stats(self) -> dict[str, Any]:
        stats = self._obs.metrics.snapshot()
        state = self._holder.current
        stats["identity"] = {
            "service": self._obs.identity.service,
            "instance": self._obs.identity.instance,
            "version": self._obs.identity.version,
        }
        stats["draining"] = self._lifecycle.draining
        if state is not None:
            stats["upstreams"] = _upstreams(state, self._clock())
        if self._security is not None:
            stats["security"] = self._security()
        if self._tracing is not None:
            stats["tracing"] = self._tracing()
        return stats

    def _metrics(self) -> Response:
        state = self._holder.current
        metrics = self._obs.metrics
        if state is not None:
            for name, svc in state.services.items():
                metrics.set_active_requests(name, svc.in_flight)
        return Response(200, [(b"content-type", CONTENT_TYPE.encode())], metrics.render())


def _upstreams(state: MeshState, now: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, svc in state.services.items():
        ejected = svc.outlier.ejected(now) if svc.outlier is not None else []
        out[name] = {
            "in_flight": svc.in_flight,
            "ejected": ejected,
            "endpoints": {
                instance: {
                    "address": f"{pool.host}:{pool.port}",
                    "open_connections": pool.open,
                    "idle_connections": len(pool.idle),
                    "pending": pool.pending,
                    "active": svc.active.get(instance, 0),
                }
                for instance, pool in svc.pools.items()
            },
        }
    return out


def _loopback(remote: str) -> bool:
    """Whether a 'host:port' peer is on loopback ('' is a request made in-process)."""
    if not remote:
        return True
    host = remote.rpartition(":")[0].strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _json(data: Any, status: int = 200) -> Response:
    return Response(status, [(b"content-type", b"application/json")], _json_body(data))


def _json_body(data: Any) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True).encode() + b"\n"
