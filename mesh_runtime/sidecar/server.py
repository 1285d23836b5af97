"""Wiring: the sidecar process's listeners, config source, signals and drain."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import random
import signal
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

from mesh_runtime.errors import DeployError
from mesh_runtime.sidecar.admin import AdminApi, Lifecycle
from mesh_runtime.sidecar.config_reader import load_config_file
from mesh_runtime.sidecar.config_watch import ConfigWatcher
from mesh_runtime.sidecar.endpoint_pool import EndpointPool
from mesh_runtime.sidecar.heap import HeapTrimmer, malloc_trim
from mesh_runtime.sidecar.http_server import Handler, HttpServerProtocol
from mesh_runtime.sidecar.identity import CertificateClient, IdentityKeeper, read_token_file
from mesh_runtime.sidecar.inbound import InboundProxy
from mesh_runtime.sidecar.limits import HttpLimits
from mesh_runtime.sidecar.meshconfig import MeshConfig
from mesh_runtime.sidecar.observe import Identity, Observer, ProxyTracer
from mesh_runtime.sidecar.outbound import OutboundProxy
from mesh_runtime.sidecar.security import MeshSecurity
from mesh_runtime.sidecar.server_connections import ConnectionRegistry, ListenerLoad
from mesh_runtime.sidecar.state import StateHolder
from mesh_runtime.sidecar.tcp_proxy import TcpListeners
from mesh_runtime.sidecar.telemetry import (
    AccessLog,
    MeshMetrics,
    SpanEncoder,
    SpanExporter,
    SpanRecorder,
)
from mesh_runtime.sidecar.telemetry.dialects import MetricsDialect
from mesh_runtime.sidecar.telemetry.tracing import TRACER_NAME
from mesh_runtime.sidecar.tls import SniffingListener, listen_socket

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
SPAN_FLUSH_TIMEOUT_S = 5.0
"""How long a stopping sidecar keeps sending its last spans."""


class Listener(Protocol):
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SidecarOptions:
    service: str
    instance: str
    version: str
    inbound_port: int
    outbound_port: int
    app_port: int
    admin_port: int
    control_plane: str | None = None
    config_file: Path | None = None
    otlp_endpoint: str | None = None
    access_log: Path | None = None
    tracing: bool = True
    drain_timeout: float = 10.0
    max_body: int = 16 * 1024 * 1024
    seed: int | None = None
    metrics_dialect: MetricsDialect = "istio"
    """The names and labels of /metrics (`telemetry/dialects.py`)."""
    host: str = HOST
    """Where the inbound and admin listeners bind (0.0.0.0 in a container); the outbound
    listener stays on loopback, where only the app beside it reaches it."""
    bootstrap_token_file: Path | None = None
    """With it, the sidecar gets a certificate from the control plane's CA (mTLS)."""
    admin_token_file: Path | None = None
    """With it, the admin /config_dump and /stats need this bearer token."""
    limits: HttpLimits = field(default_factory=HttpLimits)
    """Request limits and timeouts of every listener (`max_body` above wins)."""
    tcp_outbound: tuple[tuple[str, int], ...] = ()
    """(tcp destination service, loopback port): the app's L4 listeners (`tcp_proxy`)."""
    gateway_port: int | None = None
    """A second outbound listener, bound on `host`: where load that names its destination
    enters the mesh from outside the pod (the ingress's gRPC routes), as through Istio's
    ingress gateway; the outbound port itself stays pod-local."""

    @property
    def http_limits(self) -> HttpLimits:
        return dataclasses.replace(self.limits, max_body=self.max_body)


class Sidecar:
    """One sidecar process: `await Sidecar(options).run()` serves until SIGTERM, then drains."""

    def __init__(self, options: SidecarOptions, observer: Observer | None = None) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.identity = Identity(options.service, options.instance, options.version)
        self.holder = StateHolder(options.service, self.rng)
        self._exporter: SpanExporter | None = None
        self._access_log = AccessLog(options.access_log)
        self.observer = observer or self._make_observer()
        self.lifecycle = Lifecycle()
        self.mesh_connections = ConnectionRegistry()
        self._admin_connections = ConnectionRegistry()
        self._servers: list[Listener] = []
        self._app_pool = EndpointPool(HOST, options.app_port)
        self._trimmer = HeapTrimmer()
        self._trim = malloc_trim()
        self._stop = asyncio.Event()
        self.security = MeshSecurity(options.service, self.holder, self._make_keeper())

    def _make_keeper(self) -> IdentityKeeper | None:
        o = self.options
        if o.bootstrap_token_file is None or o.control_plane is None:
            return None
        token = read_token_file(str(o.bootstrap_token_file))
        client = CertificateClient(o.control_plane, token, o.service, o.instance)
        return IdentityKeeper(client, self.rng)

    def _make_observer(self) -> Observer:
        tracer = None
        o = self.options
        if o.tracing:
            if o.otlp_endpoint:
                self._exporter = SpanExporter(o.otlp_endpoint, _span_encoder(o))
            on_end = self._exporter.add if self._exporter is not None else None
            tracer = ProxyTracer(SpanRecorder(on_end), o.service)
        metrics = MeshMetrics(dialect=o.metrics_dialect, workload=o.service)
        return Observer(self.identity, metrics, tracer, self._access_log)

    def apply(self, config: MeshConfig) -> None:
        state = self.holder.apply(config)
        self.security.configure_upstreams(state)
        self.observer.metrics.set_config_version(config.version)
        log.info("applied mesh config version %d", config.version)

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        admin_server = await self._listen(
            self.options.admin_port,
            self._admin_api().handle,
            self._admin_connections,
            self.options.host,
        )
        keeper = self.security.keeper
        background = [
            self._start_config(),
            loop.create_task(self._tick_access_log()),
            loop.create_task(self._sweep()),
            loop.create_task(keeper.run()) if keeper is not None else None,
        ]
        exporter = loop.create_task(self._exporter.run()) if self._exporter else None
        try:
            return await self._serve()
        finally:
            for task in background:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            admin_server.close()
            self._admin_connections.close_all()
            self._close_pools()
            self._access_log.close()
            if self._exporter is not None:
                await self._exporter.shutdown(SPAN_FLUSH_TIMEOUT_S, exporter)

    def _admin_api(self) -> AdminApi:
        return AdminApi(
            self.holder,
            self.observer,
            self.lifecycle,
            token=_read_admin_token(self.options.admin_token_file),
            security=self.security.summary,
            loopback_only=self.options.host in (HOST, "::1", "localhost"),
            tracing=self._exporter.summary if self._exporter is not None else None,
            flush=self._exporter.flush if self._exporter is not None else None,
        )

    async def _serve(self) -> int:
        """Wait for the config, open the mesh listeners, serve until told to stop, drain."""
        if not await self._wait_for_config():
            return 0
        inbound = InboundProxy(
            self._app_pool,
            self.observer,
            # The holder's own (compiled) method: `security.policies` is interpreted.
            policies=partial(self.holder.authorization, self.options.service),
            app_h2=lambda: self.holder.speaks_h2(self.options.service),
            known=self.holder.knows,
        )
        outbound = OutboundProxy(self.holder, self.observer, self.rng)
        tcp = TcpListeners(self.options, self.holder, self.security, self.observer.metrics)
        self._servers = [
            tcp.inbound() or self._listen_inbound(inbound.handle),
            await self._listen(self.options.outbound_port, outbound.handle, self.mesh_connections),
            *await tcp.outbound(),
            *await self._listen_gateway(outbound.handle),
        ]
        self.lifecycle.listening = True
        # Everything made so far (config models, modules, TLS contexts) lives as long as
        # the process: keep it out of the collector's full passes, which would otherwise
        # walk it all (about 10 ms) and stall the loop.
        gc.freeze()
        log.info("sidecar %s ready", self.options.instance)
        await self._stop.wait()
        await self._drain()
        return 0

    async def _tick_access_log(self) -> None:
        if not self._access_log.enabled:
            return
        while True:
            await asyncio.sleep(1.0)
            self._access_log.tick()

    def _start_config(self) -> asyncio.Task[None] | None:
        if self.options.config_file is not None:
            self.apply(load_config_file(self.options.config_file))
            return None
        assert self.options.control_plane is not None
        watcher = ConfigWatcher(
            self.options.control_plane,
            self.options.instance,
            self.apply,
            self.rng,
            service=self.options.service,
        )
        return asyncio.get_running_loop().create_task(watcher.run())

    async def _sweep(self) -> None:
        """Header-read, request-read and idle timeouts of every connection; the heap
        given back after a burst of connections has closed (`heap`)."""
        interval = min(1.0, self.options.limits.header_timeout / 4)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            self.mesh_connections.sweep(now)
            self._admin_connections.sweep(now)
            if self._trim is not None and self._trimmer.should_trim(self.open_connections(), now):
                self._trim()

    def open_connections(self) -> int:
        """The mesh listeners' connections and the pools' (to the app and upstreams)."""
        count = len(self.mesh_connections.connections) + self._app_pool.open
        state = self.holder.current
        if state is not None:
            count += sum(svc.open_connections() for svc in state.services.values())
        return count

    def _has_what_it_needs(self) -> bool:
        """A config, and a certificate when the sidecar has a bootstrap token."""
        if self.holder.current is None:
            return False
        return self.security.keeper is None or self.security.credentials() is not None

    async def _wait_for_config(self) -> bool:
        """Wait for the first config (and certificate); False if told to stop first."""
        while not self._has_what_it_needs():
            if self._stop.is_set():
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.05)
        return True

    def _listen_inbound(self, handler: Handler) -> Listener:
        """The mesh-facing listener: plain, PERMISSIVE or STRICT mTLS, per connection."""
        limits = self.options.http_limits
        load = ListenerLoad(limits.max_connections)
        host, port = self.options.host, self.options.inbound_port
        try:
            sock = listen_socket(host, port)
        except OSError as exc:
            raise DeployError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        listener = SniffingListener(
            sock,
            lambda: HttpServerProtocol(handler, self.mesh_connections, limits, load),
            self.security.inbound_mode,
            self.security.credentials,
            handshake_timeout=limits.header_timeout,
            full=lambda: load.full,
        )
        self.security.listener = listener.stats
        return listener

    async def _listen_gateway(self, handler: Handler) -> list[asyncio.Server]:
        port = self.options.gateway_port
        if port is None:
            return []
        return [await self._listen(port, handler, self.mesh_connections, self.options.host)]

    async def _listen(
        self, port: int, handler: Handler, registry: ConnectionRegistry, host: str = HOST
    ) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        limits = self.options.http_limits
        load = ListenerLoad(limits.max_connections)
        try:
            # SO_REUSEPORT: a new sidecar can listen beside this one (hot restart) and
            # take over the ports before this one drains, as Envoy's hot restart does.
            return await loop.create_server(
                lambda: HttpServerProtocol(handler, registry, limits, load),
                host,
                port,
                backlog=1024,
                reuse_port=True,
            )
        except OSError as exc:
            raise DeployError(f"cannot listen on {host}:{port}: {exc.strerror}") from None

    async def _drain(self) -> None:
        """Stop accepting, finish in-flight requests, close keep-alives (bounded)."""
        self.lifecycle.draining = True
        log.info("draining (at most %.1fs)", self.options.drain_timeout)
        for server in self._servers:
            server.close()
        self.mesh_connections.start_drain()
        if not await self.mesh_connections.wait_empty(self.options.drain_timeout):
            log.warning(
                "drain timeout: closing %d connections", len(self.mesh_connections.connections)
            )
            self.mesh_connections.close_all()

    def _close_pools(self) -> None:
        self._app_pool.close_all()
        state = self.holder.current
        if state is not None:
            for svc in state.services.values():
                for pool in svc.pools.values():
                    pool.close_all()


def _span_encoder(o: SidecarOptions) -> SpanEncoder:
    """The resource every span of this sidecar carries, as the SDK's Resource.create has it."""
    resource = {
        "service.name": o.service,
        "service.instance.id": o.instance,
        "service.version": o.version,
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "meshproof",
    }
    return SpanEncoder(resource, TRACER_NAME)


def _read_admin_token(path: Path | None) -> str | None:
    if path is None:
        return None
    return read_token_file(str(path), "admin token")
