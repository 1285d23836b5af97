"""Wiring: the sidecar process's listeners, config source, signals and drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider

from mesh_runtime.config import MeshConfig
from mesh_runtime.errors import DeployError
from mesh_runtime.sidecar.admin import AdminApi, Lifecycle
from mesh_runtime.sidecar.config_watch import ConfigWatcher, load_config_file
from mesh_runtime.sidecar.http_server import ConnectionRegistry, Handler, HttpServerProtocol
from mesh_runtime.sidecar.inbound import InboundProxy
from mesh_runtime.sidecar.observe import Identity, Observer, OtelTracer
from mesh_runtime.sidecar.outbound import OutboundProxy
from mesh_runtime.sidecar.state import StateHolder
from mesh_runtime.sidecar.telemetry import (
    AccessLog,
    MeshMetrics,
    SpanRecorder,
    make_tracer_provider,
)
from mesh_runtime.sidecar.upstream import EndpointPool

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


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
    host: str = HOST
    """Where the inbound and admin listeners bind (0.0.0.0 in a container); the outbound
    listener stays on loopback, where only the app beside it reaches it."""


class Sidecar:
    """One sidecar process: `await Sidecar(options).run()` serves until SIGTERM, then drains."""

    def __init__(self, options: SidecarOptions, observer: Observer | None = None) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.identity = Identity(options.service, options.instance, options.version)
        self.holder = StateHolder(options.service, self.rng)
        self._provider: TracerProvider | None = None
        self._access_log = AccessLog(options.access_log)
        self.observer = observer or self._make_observer()
        self.lifecycle = Lifecycle()
        self.mesh_connections = ConnectionRegistry()
        self._admin_connections = ConnectionRegistry()
        self._servers: list[asyncio.Server] = []
        self._app_pool = EndpointPool(HOST, options.app_port)
        self._stop = asyncio.Event()

    def _make_observer(self) -> Observer:
        tracer = None
        if self.options.tracing:
            o = self.options
            self._provider = make_tracer_provider(o.service, o.instance, o.version, o.otlp_endpoint)
            tracer = OtelTracer(SpanRecorder(self._provider), o.service)
        return Observer(self.identity, MeshMetrics(), tracer, self._access_log)

    def apply(self, config: MeshConfig) -> None:
        self.holder.apply(config)
        self.observer.metrics.set_config_version(config.version)
        log.info("applied mesh config version %d", config.version)

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        admin = AdminApi(self.holder, self.observer, self.lifecycle)
        admin_server = await self._listen(
            self.options.admin_port, admin.handle, self._admin_connections, self.options.host
        )
        watcher = self._start_config()
        ticker = loop.create_task(self._tick_access_log())
        try:
            if not await self._wait_for_config():
                return 0
            inbound = InboundProxy(self._app_pool, self.observer)
            outbound = OutboundProxy(self.holder, self.observer, self.rng)
            self._servers = [
                await self._listen(
                    self.options.inbound_port,
                    inbound.handle,
                    self.mesh_connections,
                    self.options.host,
                ),
                await self._listen(
                    self.options.outbound_port, outbound.handle, self.mesh_connections
                ),
            ]
            self.lifecycle.listening = True
            log.info("sidecar %s ready", self.options.instance)
            await self._stop.wait()
            await self._drain()
            return 0
        finally:
            for task in (watcher, ticker):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            admin_server.close()
            self._admin_connections.close_all()
            self._close_pools()
            self._access_log.close()
            if self._provider is not None:
                await asyncio.to_thread(self._provider.shutdown)

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
            self.options.control_plane, self.options.instance, self.apply, self.rng
        )
        return asyncio.get_running_loop().create_task(watcher.run())

    async def _wait_for_config(self) -> bool:
        """Wait for the first config; False if told to stop before it came."""
        while self.holder.current is None:
            if self._stop.is_set():
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.05)
        return True

    async def _listen(
        self, port: int, handler: Handler, registry: ConnectionRegistry, host: str = HOST
    ) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        max_body = self.options.max_body
        try:
            # SO_REUSEPORT: a new sidecar can listen beside this one (hot restart) and
            # take over the ports before this one drains, as Envoy's hot restart does.
            return await loop.create_server(
                lambda: HttpServerProtocol(handler, registry, max_body),
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
